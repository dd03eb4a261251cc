//! The seam between the store's logic and its persistence.
//!
//! UIDs, flags, notifications, names and locks are implemented once, in
//! [`Mailbox`](crate::Mailbox) and [`Account`](crate::Account). A backend only keeps bytes
//! and names somewhere: [`MemoryBackend`](crate::MemoryBackend) in `Bytes`,
//! [`MaildirBackend`](crate::MaildirBackend) in files. The traits are
//! public so that another backend (a database) is one module plus one conformance
//! fixture (`yubin_store::testing`, behind the `testing` feature).
//!
//! # Writing a backend
//!
//! A backend stores; it decides nothing. UIDs, modseqs, flags, `\Recent`, names, the
//! group commit, locking within the process and notifications are the store's: a backend
//! keeps what it is given and gives the same back, after a restart too. It implements:
//!
//! - [`StoreBackend`], the choice made once per store with
//!   [`Store::with_backend`](crate::Store::with_backend): what all accounts share (a data
//!   directory, a connection pool). [`StoreBackend::open_account`] opens one account's
//!   persistence.
//! - [`AccountBackend`], per account: which mailboxes exist (created, deleted, renamed
//!   one at a time; the store checks names and walks the hierarchy), the subscriptions,
//!   and a cross-process maildrop lock if other processes share the data (`Ok(None)` if
//!   not).
//! - [`MailboxBackend`], per open mailbox: [`MailboxBackend::load`] gives back the
//!   [`Header`] and every message ([`Loaded`]); for a mailbox it has nothing of yet, a
//!   header with `uid_next` 1 and a nonzero UIDVALIDITY never given before to a mailbox
//!   of that name (RFC 3501 §2.3.1.1). Changes arrive as [`Record`]s with the header
//!   after them.
//! - [`BodyReader`], shared by the mailbox's sessions: finds message bytes without the
//!   writer lock ([`Body::Bytes`] for a backend that reads them into memory).
//! - [`Receiver`], optional, shared by the mailbox's sessions like the [`BodyReader`]:
//!   starts a message ([`Receiving`]) kept as it arrives (SMTP DATA, IMAP APPEND), so a
//!   large one is never whole in memory. By default it is kept in memory.
//!
//! The store calls a [`MailboxBackend`] with that mailbox's writer lock held, so it needs
//! no locking against its own process. If several processes share the data, it holds a
//! cross-process lock from [`MailboxBackend::begin`] to [`MailboxBackend::end`] (a
//! database: an advisory lock per mailbox), and `begin` and [`MailboxBackend::poll`]
//! return what the others changed ([`Synced`]), already numbered.
//!
//! Ordering rules, which make a crash at any point harmless:
//!
//! 1. **Bytes are durable before records.** [`MailboxBackend::stage`] returns only once
//!    the message's bytes would survive a crash; the [`Record::Added`] naming them comes
//!    in a later commit. A crash in between leaves bytes that no record names, which the
//!    backend may drop; never a record naming bytes that are not there.
//! 2. **Records are durable before commit returns.** [`MailboxBackend::commit`] writes
//!    the header and all its records in one atomic write (a database: one transaction)
//!    and returns only once they are durable: the store shows a change to no session and
//!    answers no client before that. [`MailboxBackend::save_header`] is the one write
//!    that need not be durable (the `\Recent` boundary, which a crash may take back).
//! 3. **Bytes are removed before the record of their expunge.**
//!    [`MailboxBackend::remove`] comes before the commit recording the expunge (or in the
//!    same transaction). A crash in between leaves a record naming bytes that are gone,
//!    which the next [`MailboxBackend::load`] or [`MailboxBackend::begin`] reports as an
//!    expunge; the other order could bring an expunged message back.
//!
//! If a commit fails, the store undoes its stages with [`MailboxBackend::discard`] and
//! shows nothing of it.
//!
//! MOVE and RENAME (RFC 6851, RFC 3501 §6.3.5) are whole or not at all, and a backend
//! says how well it can do that. MOVE holds both mailboxes' writer locks and both
//! [`MailboxBackend::begin`]s: the source gives the bytes ([`MailboxBackend::give`]),
//! the destination takes them over ([`MailboxBackend::stage_move`]: Maildir renames the
//! file, so it is never in both nor in neither) and commits, then the source lets go
//! ([`MailboxBackend::given`]) and commits the expunge. A backend that cannot take bytes
//! over (the default) gets a copy staged and the source's bytes removed after the
//! destination's commit: never lost, but a crash in between leaves both. RENAME of a
//! hierarchy is one [`AccountBackend::rename_all`] (Maildir: a journal the next start
//! finishes); RENAME INBOX is one [`MailboxBackend::hand_over`] where the backend can.
//!
//! Then the conformance suite is one line. With `yubin-store = { ..., features =
//! ["testing"] }` among the backend crate's dev-dependencies, in an integration test:
//!
//! ```ignore
//! // `PgFixture: yubin_store::testing::Fixture` makes a fresh database with the account
//! // alice/secret (`store`) and a second `Store` over the same database (`reopen`).
//! yubin_store::conformance_suite!(postgres, PgFixture::new());
//! ```
//!
//! That runs every case of `yubin_store::testing` as its own `#[test]` in `mod postgres`,
//! each on a fresh fixture: the cases [`MemoryBackend`](crate::MemoryBackend) and
//! [`MaildirBackend`](crate::MaildirBackend) pass in this crate's `tests/conformance.rs`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use crate::error::IoContext;
use crate::{Flags, MessageMeta, Result};

/// The per-mailbox numbers that outlive a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    /// RFC 3501 §2.3.1.1: changes only if UIDs could not be kept.
    pub uid_validity: u32,
    /// The UID the next message gets; never decreases.
    pub uid_next: u32,
    /// Messages with a UID at or above this are `\Recent` for the next session to claim.
    pub recent_from: u32,
    /// RFC 7162 HIGHESTMODSEQ: the modification sequence of the latest change (an append,
    /// a flag change or an expunge). Never decreases and is never given out twice.
    pub highest_modseq: u64,
}

/// A mailbox's state as a backend reads it when the mailbox is opened.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The mailbox's numbers.
    pub header: Header,
    /// Every message, ascending UID.
    pub messages: Vec<MessageMeta>,
    /// Expunged UIDs with the modseq of their expunge (RFC 7162 QRESYNC `VANISHED`),
    /// ascending UID. A backend may forget old ones; it never invents any.
    pub vanished: Vec<(u32, u64)>,
}

/// One change to a mailbox, as it is made durable and as every view applies it. Each
/// carries the modification sequence it was given (RFC 7162 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A message was added.
    Added(MessageMeta),
    /// A message's flags became `flags`.
    Flags {
        /// The message.
        uid: u32,
        /// Its modseq from now on.
        modseq: u64,
        /// All its flags now.
        flags: Flags,
    },
    /// A message was removed; its UID is never used again.
    Expunged {
        /// The message.
        uid: u32,
        /// The modseq of the removal.
        modseq: u64,
    },
}

impl Record {
    /// The UID the record is about.
    pub fn uid(&self) -> u32 {
        match self {
            Record::Added(m) => m.uid,
            Record::Flags { uid, .. } | Record::Expunged { uid, .. } => *uid,
        }
    }

    /// The record's modification sequence.
    pub fn modseq(&self) -> u64 {
        match self {
            Record::Added(m) => m.modseq,
            Record::Flags { modseq, .. } | Record::Expunged { modseq, .. } => *modseq,
        }
    }
}

/// Changes a backend found that this process did not make (another process, another
/// program writing the Maildir), already durable and numbered: the header after them and
/// the records, in modseq order.
#[derive(Debug)]
pub struct Synced {
    /// The header after the changes.
    pub header: Header,
    /// The changes, ascending modseq.
    pub records: Vec<Record>,
}

/// Where a message's bytes are, so they can be read without holding any mailbox lock.
#[derive(Debug, Clone)]
pub enum Body {
    /// Already in memory, in wire form.
    Bytes(Bytes),
    /// In a file, which may have bare LF line ends.
    File {
        /// The file.
        path: PathBuf,
        /// Size in wire form (CRLF).
        wire_size: u64,
    },
}

impl Body {
    /// The message in wire form: one read of the file into one buffer, normalized to CRLF
    /// only if the file needs it.
    pub fn read(self) -> std::io::Result<Bytes> {
        let wire_size = match &self {
            Body::Bytes(b) => b.len() as u64,
            Body::File { wire_size, .. } => *wire_size,
        };
        let raw = self.read_stored()?;
        if raw.len() as u64 == wire_size {
            Ok(raw)
        } else {
            Ok(Bytes::from(crate::wire::to_crlf(&raw).into_owned()))
        }
    }

    /// The message as stored: another program's file may end its lines in bare LF.
    pub fn read_stored(self) -> std::io::Result<Bytes> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::File { path, .. } => std::fs::read(&path).map(Bytes::from),
        }
    }
}

/// Persistence of one mailbox: the seam a new backend (a database) implements.
///
/// The store's logic (UIDs, modseqs, flags, group commit, notifications, the live view)
/// lives in [`crate::Mailbox`] and calls these methods with the mailbox's writer lock
/// held, so an implementation needs no locking against its own process; against other
/// processes it locks between [`MailboxBackend::begin`] and [`MailboxBackend::end`].
///
/// Order that makes a crash harmless: message bytes are durable ([`MailboxBackend::stage`])
/// before the record naming them ([`MailboxBackend::commit`]); bytes are removed
/// ([`MailboxBackend::remove`]) before the record of their expunge; and nothing is shown
/// to any session before `commit` returns.
pub trait MailboxBackend: Send {
    /// Reads the persisted state when the mailbox is opened, folding in whatever changed
    /// while no process had it open.
    fn load(&mut self) -> Result<Loaded>;

    /// A cheap check, without taking the cross-process lock unless something changed:
    /// changes other processes or programs made since the last call, `None` if nothing.
    fn poll(&mut self) -> Result<Option<Synced>>;

    /// Starts a change: takes the cross-process lock and returns what others changed
    /// since this process last looked.
    fn begin(&mut self) -> Result<Option<Synced>>;

    /// Ends a change started by [`MailboxBackend::begin`] (releases the lock).
    fn end(&mut self);

    /// Stores a new message's bytes whole (Maildir: tmp → fsync → rename); it becomes part
    /// of the mailbox at the next [`MailboxBackend::commit`] that names it.
    fn stage(&mut self, meta: &MessageMeta, wire: &[u8]) -> Result<()>;

    /// Stages a copy of a message whose bytes are at `from` (COPY, or a message received
    /// through [`MailboxBackend::receiver`]), without reading them if the backend can
    /// (Maildir: a hard link, so the bytes are not written again and need no fsync; where
    /// it cannot link, a copy through a small buffer). Returns false if it cannot; the
    /// store then reads the bytes whole and calls [`MailboxBackend::stage`].
    fn stage_copy(&mut self, meta: &MessageMeta, from: &Body) -> Result<bool> {
        let _ = (meta, from);
        Ok(false)
    }

    /// MOVE (RFC 6851), the source's half, first step: the bytes of `uid` are about to be
    /// taken by another mailbox of the same account ([`MailboxBackend::stage_move`] on
    /// the destination); returns where they are, `None` if this backend does not know
    /// `uid`. The store calls it with both mailboxes' writer locks held and both
    /// [`MailboxBackend::begin`]s done. Maildir notes that its directory is about to
    /// change (so its watcher does not mistake the rename for another program's, its
    /// next open scans should the process die before the expunge is logged, and the
    /// directory is fsynced before that).
    fn give(&mut self, uid: u32) -> Result<Option<Body>> {
        Ok(self.reader().body(uid))
    }

    /// MOVE, the destination's half: stages the message `meta` (a new UID here) by taking
    /// over the bytes at `from`, which [`MailboxBackend::give`] of another mailbox of the
    /// same account returned, so that at every instant the bytes are in exactly one of
    /// the two mailboxes, also across a crash (Maildir: one `rename(2)` of the file into
    /// this mailbox's `cur/`). Like [`MailboxBackend::stage`], the message becomes part
    /// of this mailbox at the next commit; [`MailboxBackend::discard`] gives the bytes
    /// back to the source. Returns [`Taken::Unsupported`] if it cannot take bytes over
    /// (the default): the store then copies them ([`MailboxBackend::stage_copy`]) and
    /// removes them from the source once the copy is durable, which a crash in between
    /// can leave in both mailboxes, never in neither.
    fn stage_move(&mut self, meta: &MessageMeta, from: &Body) -> Result<Taken> {
        let _ = (meta, from);
        Ok(Taken::Unsupported)
    }

    /// MOVE, the source's half, last step: the destination's commit naming the bytes of
    /// `uid` is durable, so this mailbox lets go of them (memory: drops them; Maildir:
    /// nothing, the file left at [`MailboxBackend::stage_move`]). The expunge is recorded
    /// by the next commit. The default is [`MailboxBackend::remove`].
    fn given(&mut self, uid: u32) -> Result<()> {
        self.remove(uid)
    }

    /// RENAME INBOX (RFC 3501 §6.3.5) in one step, if this backend can: every message of
    /// this mailbox becomes a message of a new mailbox `to`, which does not exist yet and
    /// which this call creates, all at once and whole across a crash (Maildir: the `cur/`
    /// directory is renamed into the new folder). This mailbox stays, with its
    /// UIDVALIDITY and UIDNEXT; the store then records the expunge of every message it
    /// had. The new mailbox gets a new UIDVALIDITY and keeps each message's flags and
    /// internal date. Returns false if the backend cannot (the default): the store then
    /// creates `to` and moves the messages with [`MailboxBackend::stage_move`], which a
    /// crash can leave partly done, each message in exactly one of the two. Called with
    /// the writer lock held and [`MailboxBackend::begin`] done.
    fn hand_over(&mut self, to: &str) -> Result<bool> {
        let _ = to;
        Ok(false)
    }

    /// Undoes a [`MailboxBackend::stage`], [`MailboxBackend::stage_copy`] or
    /// [`MailboxBackend::stage_move`] whose commit failed (a moved message goes back to
    /// its source).
    fn discard(&mut self, uid: u32);

    /// Removes a message's bytes; durable at the next commit, which records its expunge.
    fn remove(&mut self, uid: u32) -> Result<()>;

    /// Makes `records` and `header` durable together, in one write: after a crash either
    /// all of them are there or none.
    fn commit(&mut self, header: &Header, records: &[Record]) -> Result<()>;

    /// Records `header` without waiting for it to be durable (the `\Recent` boundary,
    /// which a crash may take back harmlessly).
    fn save_header(&mut self, header: &Header) -> Result<()>;

    /// Whether [`MailboxBackend::tidy`] has work (Maildir: file names behind the flags).
    fn needs_tidy(&self) -> bool {
        false
    }

    /// Deferred work done after the reply: Maildir renames files so their names show the
    /// flags (for other programs), and compacts its change log. It may do only a part
    /// (the writer lock is held meanwhile); the store calls it again while
    /// [`MailboxBackend::needs_tidy`] says there is more.
    fn tidy(&mut self) -> Result<()> {
        Ok(())
    }

    /// The reader sessions use to find message bytes without the writer lock.
    fn reader(&self) -> std::sync::Arc<dyn BodyReader>;

    /// What sessions use to receive messages into this mailbox's storage as they arrive
    /// (SMTP DATA, an IMAP APPEND literal), without the writer lock: a message starting
    /// to arrive never waits for another session's group commit. The default keeps
    /// messages in memory, which is right for a backend that keeps them there and correct
    /// (if not frugal) for any other.
    fn receiver(&self) -> std::sync::Arc<dyn Receiver> {
        std::sync::Arc::new(InMemory::default())
    }

    /// Finds `uid` again after its body vanished from where [`BodyReader::body`] said
    /// (another program renamed it).
    fn find(&mut self, uid: u32) -> Option<Body>;

    /// The mailbox was renamed: its storage is now where `name` lives.
    fn relocate(&mut self, name: &str);

    /// Starts telling `wake` (from any thread) that something may have changed behind the
    /// store's back; the returned value keeps watching until dropped. `None`: the backend
    /// cannot change behind the store's back, or cannot watch (then the checks at each
    /// command boundary are all there is).
    fn watch(&self, wake: Wake) -> Option<Box<dyn Send + Sync>> {
        let _ = wake;
        None
    }
}

/// Starts messages on their way into one mailbox's storage (see
/// [`MailboxBackend::receiver`]); shared with sessions, so it must not wait for the
/// writer.
pub trait Receiver: Send + Sync {
    /// Starts receiving a message as it arrives, so that no one holds it whole in memory:
    /// Maildir writes it to a file in the mailbox's `tmp/`, as the Maildir convention has
    /// a message being written live. Once [`Receiving::finish`] has made it durable, the
    /// store stages it with [`MailboxBackend::stage_copy`] into this mailbox or, for a
    /// delivery to several accounts, into each recipient's INBOX.
    fn receive(&self) -> Result<Box<dyn Receiving>>;
}

/// A message on its way in, kept by a backend as it arrives (see [`Receiver`]).
///
/// The store calls [`Receiving::write`] with the message in wire form, a piece at a
/// time, then [`Receiving::finish`] once, then stages the [`Body`] it returned into every
/// mailbox the message goes to, and only then drops the `Receiving`. Dropping it removes
/// whatever of it the staged copies do not need (Maildir: the name in `tmp/`; the links
/// in `new/` stay); dropped without `finish`, it leaves nothing at all. A crash may leave
/// a partial message where a backend keeps messages being received (Maildir: `tmp/`,
/// which its 36-hour cleanup empties), never where it keeps messages.
pub trait Receiving: Send {
    /// Appends the next bytes of the message, in wire form (the store has already made
    /// every line end CRLF, across piece boundaries too).
    fn write(&mut self, wire: &[u8]) -> Result<()>;

    /// The memory this message holds while it arrives, in bytes: the capacity of its
    /// buffers. Bounded whatever the message's size for a backend that writes as it goes
    /// (Maildir: 64 KiB), the whole message for one that keeps it in memory.
    fn buffered(&self) -> usize;

    /// All bytes are written: makes them durable (Maildir: fsync), dated `date` where
    /// the backend keeps a date with the bytes (Maildir: the file's mtime, which is how
    /// other programs and a rebuilt index know a message's internal date), and says where
    /// they are, for [`MailboxBackend::stage_copy`].
    fn finish(&mut self, date: DateTime<FixedOffset>) -> Result<Body>;
}

/// The default [`Receiver`] and [`Receiving`]: the message in memory, for backends that
/// keep it there.
#[derive(Debug, Default)]
struct InMemory(Vec<u8>);

impl Receiver for InMemory {
    fn receive(&self) -> Result<Box<dyn Receiving>> {
        Ok(Box::new(InMemory::default()))
    }
}

impl Receiving for InMemory {
    fn write(&mut self, wire: &[u8]) -> Result<()> {
        self.0.extend_from_slice(wire);
        Ok(())
    }

    fn buffered(&self) -> usize {
        self.0.capacity()
    }

    fn finish(&mut self, _date: DateTime<FixedOffset>) -> Result<Body> {
        Ok(Body::Bytes(Bytes::from(std::mem::take(&mut self.0))))
    }
}

/// What [`MailboxBackend::stage_move`] did with the bytes it was asked to take over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// They are the destination's now, staged for its next commit; the source no longer
    /// has them (Maildir: the file was renamed into the destination's `cur/`).
    Moved,
    /// They were not where the source said (another program renamed or removed the file
    /// meanwhile): the store asks the source again ([`MailboxBackend::find`]).
    Missing,
    /// The backend cannot take them over (another file system, bytes it cannot hold):
    /// the store copies them and removes them from the source.
    Unsupported,
}

/// Finds message bytes; shared with readers, so it must not wait for the writer.
pub trait BodyReader: Send + Sync {
    /// Where the bytes of `uid` are, or `None` if the backend does not know it.
    fn body(&self, uid: u32) -> Option<Body>;
}

/// What a backend's watcher calls when the mailbox may have changed.
pub type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Persistence of one account: its mailbox names and subscriptions.
pub trait AccountBackend: Send + Sync {
    /// Existing mailboxes other than INBOX, canonical names.
    fn mailbox_names(&self) -> Result<Vec<String>>;
    /// Refuses a valid mailbox name this backend cannot store (too long once encoded),
    /// before anything is changed.
    fn check_name(&self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }
    /// Makes an empty mailbox.
    fn create(&self, name: &str) -> Result<()>;
    /// Removes a mailbox and its messages, at once.
    fn delete(&self, name: &str) -> Result<()>;
    /// Renames one mailbox (not its children: the caller renames each).
    fn rename(&self, from: &str, to: &str) -> Result<()>;
    /// RENAME (RFC 3501 §6.3.5) as one change: creates the missing parents of the new
    /// name, renames the mailbox and each of its inferiors, and saves the subscriptions
    /// that follow them. All of it or none: a failure undoes what was done, and a backend
    /// that keeps data across processes makes it whole across a crash too (Maildir: a
    /// journal written first and finished by the next start). The store has checked every
    /// name ([`AccountBackend::check_name`]) and that none of the new ones exists.
    ///
    /// The default does it with [`AccountBackend::create`], [`AccountBackend::rename`]
    /// and [`AccountBackend::save_subscriptions`], undoing the done steps if one fails:
    /// whole against errors, not against a crash.
    fn rename_all(&self, plan: &RenamePlan) -> Result<()> {
        let mut created: Vec<&str> = Vec::new();
        let mut renamed: Vec<(&str, &str)> = Vec::new();
        let result = (|| {
            for name in &plan.create {
                self.create(name)?;
                created.push(name);
            }
            for (from, to) in &plan.renames {
                self.rename(from, to)?;
                renamed.push((from, to));
            }
            if let Some(subscriptions) = &plan.subscriptions {
                self.save_subscriptions(subscriptions)?;
            }
            Ok(())
        })();
        if result.is_err() {
            for (from, to) in renamed.into_iter().rev() {
                if let Err(e) = self.rename(to, from) {
                    warn(format_args!("cannot undo renaming {from} to {to}: {e}"));
                }
            }
            for name in created.into_iter().rev() {
                if let Err(e) = self.delete(name) {
                    warn(format_args!("cannot undo creating {name}: {e}"));
                }
            }
        }
        result
    }
    /// Opens a mailbox's storage.
    fn open(&self, name: &str) -> Result<Box<dyn MailboxBackend>>;
    /// The subscribed names.
    fn load_subscriptions(&self) -> Result<Vec<String>>;
    /// Replaces the subscribed names, durably.
    fn save_subscriptions(&self, names: &BTreeSet<String>) -> Result<()>;
    /// Takes the cross-process part of the maildrop lock, if the backend has one. The
    /// returned value holds it until dropped.
    fn lock_maildrop(&self) -> Result<Option<Box<dyn Send + Sync>>>;
}

/// One RENAME as [`AccountBackend::rename_all`] carries it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenamePlan {
    /// Missing parents of the new name, outermost first: created as empty mailboxes, as
    /// CREATE does.
    pub create: Vec<String>,
    /// `(old, new)` for the mailbox and each of its inferiors, in any order: no new name
    /// is an old one, and none exists yet.
    pub renames: Vec<(String, String)>,
    /// The subscriptions afterwards, if they change (they follow the renamed names).
    pub subscriptions: Option<BTreeSet<String>>,
}

/// A UIDVALIDITY for a mailbox created now: the time in seconds, but strictly above every
/// value this process handed out before, so a mailbox deleted and created again within
/// one second still gets a new one (RFC 3501 §2.3.1.1).
pub fn new_uid_validity() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static LAST: AtomicU32 = AtomicU32::new(0);
    let now = chrono::Utc::now().timestamp().clamp(1, i64::from(u32::MAX)) as u32;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(last.saturating_add(1)).max(1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// Writes `contents` to `path` so that a reader sees the old file or the new one, never a
/// mix: write a temporary file in `tmp_dir` (same file system), fsync it, rename it over
/// `path`, fsync the directory so the rename itself is durable.
pub(crate) fn write_atomic(
    path: &std::path::Path,
    tmp_dir: &std::path::Path,
    contents: &[u8],
) -> Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tmp_dir.join(format!(
        "{file_name}.{}.{}.yubin-tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut f = crate::private::options()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        f.write_all(contents)
            .ctx(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
        std::fs::rename(&tmp, path).ctx(|| format!("replacing {}", path.display()))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// fsyncs a directory, so the creation, rename or removal of an entry in it is durable.
pub(crate) fn sync_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .ctx(|| format!("syncing directory {}", dir.display()))
}

/// Reports an unexpected state without failing the operation.
pub(crate) fn warn(what: impl std::fmt::Display) {
    tracing::warn!("{what}");
}

/// Where a store keeps its accounts: the backend choice, made once per store with
/// [`crate::Store::with_backend`] ([`crate::MemoryBackend`], [`crate::MaildirBackend`], or
/// a backend of another crate).
///
/// It holds what every account of the store shares (a data directory, a connection pool)
/// and opens each account's persistence, an [`AccountBackend`].
pub trait StoreBackend: Send + Sync + 'static {
    /// Opens the persistence of the account `name`, creating it if it does not exist yet
    /// (an account added with a password, or one made by accept-any-login or delivery,
    /// has no storage until it is first used).
    ///
    /// `name` is valid ([`crate::name::check_account`]): never empty, never a path. The
    /// store calls this once per account, the first time the account is used, with its
    /// account table locked: other logins wait for it, so it should not block for long.
    fn open_account(&self, name: &str) -> Result<Box<dyn AccountBackend>>;

    /// The data directory, for a backend that keeps its mail under one (Maildir);
    /// `None` for one that does not (memory, a database). [`crate::Store::root`] returns
    /// it.
    fn root(&self) -> Option<&std::path::Path> {
        None
    }
}

/// A backend chosen at run time: `Box<dyn StoreBackend>` is a backend too.
impl<B: StoreBackend + ?Sized> StoreBackend for Box<B> {
    fn open_account(&self, name: &str) -> Result<Box<dyn AccountBackend>> {
        (**self).open_account(name)
    }
    fn root(&self) -> Option<&std::path::Path> {
        (**self).root()
    }
}

/// A backend shared with something other than the store (a connection pool's owner).
impl<B: StoreBackend + ?Sized> StoreBackend for std::sync::Arc<B> {
    fn open_account(&self, name: &str) -> Result<Box<dyn AccountBackend>> {
        (**self).open_account(name)
    }
    fn root(&self) -> Option<&std::path::Path> {
        (**self).root()
    }
}
