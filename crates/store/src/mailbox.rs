//! One mailbox: UIDs, modseqs, flags, the \Recent boundary, group commit and change
//! notifications, written once for every backend.
//!
//! All handles to one mailbox (from every session of every protocol) share one
//! [`MailboxShared`], which holds:
//!
//! * the live [`View`]: an immutable snapshot behind an `RwLock` that is held only to
//!   clone or swap an `Arc`, so a reader never waits for the disk;
//! * the writer: the backend behind a `std::sync::Mutex`. Only changes take it (and the
//!   cheap freshness check, with `try_lock`), so an fsync delays other writers, which
//!   then share the next group commit, never readers. MOVE and RENAME hold several
//!   mailboxes' writers at once (a move is whole only if neither mailbox changes
//!   meanwhile); they take them in one order, by address, so none waits in a cycle;
//! * the group-commit queue: changes (appends, flag changes, expunges) that arrive while
//!   a group is being written wait and are written together by one of them, in one
//!   durable backend write;
//! * a `tokio::sync::watch` channel bumped on every change, which IDLE waits on.
//!
//! Persistence order, which is what makes a crash harmless: a message's bytes are durable
//! before the record that names it; a record is durable before the view shows it to any
//! session or the caller gets its answer. The view changes last, so no session ever sees
//! a state that a crash could take back.
//!
//! Freshness: every read entry point ([`Mailbox::view`], [`Mailbox::status`],
//! [`Mailbox::messages`]) first asks the backend whether anything changed behind the
//! store's back (Maildir: three `stat` calls when nothing did), and the backend's watcher
//! (inotify) makes a background thread do the same as soon as another program touches the
//! mailbox, which is how an IDLE session hears of it within a second.

use std::any::Any;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, mpsc};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use tokio::sync::watch;

use crate::backend::{
    Body, BodyReader, Header, MailboxBackend, Receiver, Receiving, Record, Synced, Taken,
};
use crate::incoming::IncomingAppend;
use crate::view::{Interner, View};
use crate::{FlagOp, Flags, Result, StoreError};

/// What the store knows of one message (IMAP `UID`, `FLAGS`, `INTERNALDATE`,
/// `RFC822.SIZE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageMeta {
    /// Unique within the mailbox while its UIDVALIDITY stays the same.
    pub uid: u32,
    /// The message's flags.
    pub flags: Flags,
    /// When the message arrived (or the date given to APPEND), whole seconds, UTC.
    pub internal_date: DateTime<FixedOffset>,
    /// Size in bytes as sent on the wire (CRLF line endings) == read(uid).len().
    pub size: u64,
    /// RFC 7162 MODSEQ: the modification sequence of the message's latest change (its
    /// arrival or a flag change).
    pub modseq: u64,
}

/// The numbers IMAP `STATUS` and `SELECT` report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    /// RFC 3501 §2.3.1.1.
    pub uid_validity: u32,
    /// The UID the next message will get (at least).
    pub uid_next: u32,
    /// How many messages.
    pub messages: u32,
    /// How many without `\Seen`.
    pub unseen: u32,
    /// How many are `\Recent` (not yet claimed by a session).
    pub recent: u32,
    /// RFC 7162 HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// The sum of the messages' sizes in octets (RFC 8438 `SIZE`).
    pub size: u64,
}

/// One message for [`Mailbox::append_batch`].
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    /// The message as received (bare LF line ends are stored as CRLF).
    pub raw: &'a [u8],
    /// Its initial flags.
    pub flags: &'a Flags,
    /// Its internal date; `None` means now.
    pub internal_date: Option<DateTime<FixedOffset>>,
}

/// The state every handle to one mailbox shares.
pub(crate) struct MailboxShared {
    /// The backend and what only writers touch.
    writer: Mutex<Writer>,
    /// Reads message bytes without the writer lock.
    bodies: Arc<dyn BodyReader>,
    /// Starts messages received as they arrive, without the writer lock.
    receiver: Arc<dyn Receiver>,
    /// Header blocks read for searches, shared by every session (see [`Mailbox::header`]).
    headers: Mutex<HeaderCache>,
    /// What protocols derived from the messages and share among sessions, one value per
    /// type (see [`Mailbox::memo`]); emptied when the mailbox is deleted.
    memos: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
    /// The latest snapshot; the lock is held only to clone or replace the `Arc`.
    view: RwLock<Arc<View>>,
    /// Bumped on every change; sessions wait on it and then look at the view.
    version: watch::Sender<u64>,
    /// Changes waiting for the next group commit (see [`Mailbox::append`]).
    queue: Mutex<CommitQueue>,
    /// A background tidy (Maildir: file names follow flags) is scheduled.
    tidying: AtomicBool,
    /// A background poll (after the watcher woke us) is running / asked for again.
    polling: AtomicBool,
    poll_again: AtomicBool,
    /// The backend's watcher; dropping it stops watching.
    watcher: Mutex<Option<Box<dyn Send + Sync>>>,
}

struct Writer {
    backend: Box<dyn MailboxBackend>,
    /// Shares flag sets among the view's messages.
    interner: Interner,
}

/// Changes that arrive while another group is being written wait here and are then
/// written together: one fsync of `new/` and one log write for the whole group instead of
/// one each. Each waiter still returns only once its own change is durable.
#[derive(Default)]
struct CommitQueue {
    /// A caller is writing a group now; newcomers wait for the next one.
    leading: bool,
    waiting: Vec<Queued>,
}

/// One change waiting in the queue.
struct Queued {
    op: Op,
    /// Where its caller waits: told `Lead` (write the next group) and then `Done`.
    reply: mpsc::SyncSender<Turn>,
}

/// A change to make.
enum Op {
    Append(Vec<Owned>),
    Flags {
        uids: Vec<u32>,
        op: FlagOp,
        flags: Flags,
        /// RFC 7162 UNCHANGEDSINCE: skip messages whose modseq is above this.
        unchanged_since: Option<u64>,
    },
    Expunge(Vec<u32>),
}

/// A message to append, owned so it can wait in the queue.
struct Owned {
    content: Content,
    flags: Flags,
    date: DateTime<FixedOffset>,
}

/// Where an appended message's bytes come from.
enum Content {
    /// New bytes, in wire form.
    Wire(Vec<u8>),
    /// Bytes the backend already holds durably: another message's (COPY) or a message
    /// received as it arrived ([`Mailbox::incoming`], [`crate::Store::incoming`]).
    /// Linked by the backend if it can, else read.
    Copy { body: Body, size: u64 },
}

impl Content {
    fn size(&self) -> u64 {
        match self {
            Content::Wire(w) => w.len() as u64,
            Content::Copy { size, .. } => *size,
        }
    }
}

/// What a change did.
#[derive(Debug)]
enum Done {
    Appended(Vec<u32>),
    Flags(FlagsChanged),
    Expunged(Vec<u32>),
}

/// What a waiting change is told.
enum Turn {
    /// Write the next group (it includes your own change).
    Lead,
    /// Your change's outcome.
    Done(Result<Done>),
}

/// How many bytes of header blocks one mailbox keeps for searches: a 100,000-message
/// mailbox's headers fit, and past it the cache starts over rather than grow.
pub const HEADER_CACHE_BYTES: usize = 64 << 20;

/// Header blocks by UID. A message never changes, so an entry never goes stale; an
/// expunged message's entry just waits for the next start-over.
#[derive(Default)]
struct HeaderCache {
    blocks: HashMap<u32, Bytes>,
    bytes: usize,
}

/// Groups at most this many changes, so one slow group does not grow without bound.
const MAX_GROUP: usize = 256;

/// How long a background tidy waits before it runs, so that a burst of flag changes is
/// renamed in one pass; well under the second within which other programs see flags.
const TIDY_DELAY: Duration = Duration::from_millis(50);

/// How long the watcher's poll waits for a burst of file events to end.
const POLL_DELAY: Duration = Duration::from_millis(10);

/// What [`Mailbox::set_flags_unchanged_since`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsChanged {
    /// Each UID that exists (and passed the UNCHANGEDSINCE test), with its flags now, in
    /// the order given.
    pub flags: Vec<(u32, Flags)>,
    /// UIDs whose modseq was above UNCHANGEDSINCE and which were left alone
    /// (RFC 7162 §3.1.3 MODIFIED).
    pub modified: Vec<u32>,
    /// The modseq the changed messages got (0 if nothing changed): a session that reports
    /// the new flags itself knows not to report this change again.
    pub modseq: u64,
}

impl MailboxShared {
    /// Opens a mailbox over its backend and starts watching it.
    pub(crate) fn open(name: String, mut backend: Box<dyn MailboxBackend>) -> Result<Arc<Self>> {
        let loaded = backend.load()?;
        let mut interner = Interner::default();
        let view = View::new(&name, loaded, &mut interner);
        let (version, _) = watch::channel(0);
        let bodies = backend.reader();
        let receiver = backend.receiver();
        let shared = Arc::new(MailboxShared {
            writer: Mutex::new(Writer { backend, interner }),
            bodies,
            receiver,
            view: RwLock::new(Arc::new(view)),
            version,
            queue: Mutex::new(CommitQueue::default()),
            tidying: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            poll_again: AtomicBool::new(false),
            watcher: Mutex::new(None),
            headers: Mutex::new(HeaderCache::default()),
            memos: Mutex::new(Vec::new()),
        });
        shared.rewatch(&shared.writer());
        Ok(shared)
    }

    /// Starts watching the backend's storage, replacing the watch there was: at open, and
    /// after a rename moved the storage (the old watch follows the old directories).
    fn rewatch(self: &Arc<Self>, w: &Writer) {
        let weak = Arc::downgrade(self);
        let wake: crate::backend::Wake = Arc::new(move || {
            if let Some(shared) = weak.upgrade() {
                shared.woken();
            }
        });
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        // The old watch goes first: it may be on the very paths the new one watches.
        *watcher = None;
        *watcher = w.backend.watch(wake);
    }

    /// Starts a change on the backend (its cross-process lock) and shows what others
    /// changed meanwhile. Writer lock held; the caller calls `end` whatever happens.
    fn begin(&self, w: &mut Writer) -> Result<()> {
        let synced = w.backend.begin()?;
        self.publish_synced(w, synced);
        Ok(())
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // A panic while the lock was held leaves the backend as it was before the step
        // that panicked (the view changes last), so carrying on is sound.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Arc<View> {
        self.view.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Applies durable records to the view and tells watchers. Writer lock held.
    fn publish(&self, w: &mut Writer, header: Header, records: &[Record]) {
        let mut view = (*self.current()).clone();
        view.apply(header, records, &mut w.interner);
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
        if !records.is_empty() {
            self.bump();
        }
    }

    fn publish_synced(&self, w: &mut Writer, synced: Option<Synced>) {
        if let Some(s) = synced {
            self.publish(w, s.header, &s.records);
        }
    }

    /// Brings the view up to date with changes made behind the store's back. With
    /// `wait` false it does not wait for a group commit in progress (whose writer brought
    /// in what had changed when it began), only for a background poll, which is working on
    /// a change the watcher saw and which the caller must not miss.
    fn poll(&self, wait: bool) -> Result<()> {
        let mut w = if wait {
            self.writer()
        } else {
            match self.writer.try_lock() {
                Ok(w) => w,
                Err(std::sync::TryLockError::WouldBlock) => {
                    if !self.polling.load(Ordering::SeqCst) {
                        return Ok(());
                    }
                    self.writer()
                }
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            }
        };
        self.alive()?;
        let synced = w.backend.poll()?;
        self.publish_synced(&mut w, synced);
        Ok(())
    }

    fn alive(&self) -> Result<()> {
        let view = self.current();
        if view.gone {
            Err(StoreError::NoSuchMailbox(view.name.to_string()))
        } else {
            Ok(())
        }
    }

    /// The watcher saw something: poll soon, on a background thread, once per burst.
    fn woken(self: Arc<Self>) {
        self.poll_again.store(true, Ordering::SeqCst);
        if self.polling.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name("yubin-store-poll".into())
            .spawn(move || {
                let this = shared;
                loop {
                    std::thread::sleep(POLL_DELAY);
                    this.poll_again.store(false, Ordering::SeqCst);
                    if let Err(e) = this.poll(true) {
                        tracing::debug!("mailbox {}: {e}", this.current().name);
                    }
                    if this.poll_again.load(Ordering::SeqCst) {
                        continue;
                    }
                    this.polling.store(false, Ordering::SeqCst);
                    // A wake-up between the check and the store above found `polling`
                    // still set and left the work to us: take it back if so.
                    if !this.poll_again.load(Ordering::SeqCst)
                        || this.polling.swap(true, Ordering::SeqCst)
                    {
                        break;
                    }
                }
            });
        if spawned.is_err() {
            self.polling.store(false, Ordering::SeqCst);
        }
    }

    /// Runs the backend's deferred work soon, on a background thread, once per burst.
    fn schedule_tidy(self: &Arc<Self>) {
        if self.tidying.swap(true, Ordering::SeqCst) {
            return;
        }
        let shared = self.clone();
        let spawned = std::thread::Builder::new()
            .name("yubin-store-tidy".into())
            .spawn(move || {
                std::thread::sleep(TIDY_DELAY);
                shared.tidying.store(false, Ordering::SeqCst);
                // A step at a time, letting go of the writer lock in between, so that a
                // client's change never waits for more than one step.
                loop {
                    let mut w = shared.writer();
                    if shared.current().gone {
                        return;
                    }
                    if let Err(e) = w.backend.tidy() {
                        crate::backend::warn(format_args!(
                            "mailbox {}: deferred work failed (tried again later): {e}",
                            shared.current().name
                        ));
                        return;
                    }
                    if !w.backend.needs_tidy() {
                        return;
                    }
                    drop(w);
                    std::thread::yield_now();
                }
            });
        if spawned.is_err() {
            self.tidying.store(false, Ordering::SeqCst);
        }
    }

    /// Writes a group of changes in one backend transaction: all of them or none.
    fn execute(self: &Arc<Self>, ops: &[&Op]) -> Result<Vec<Done>> {
        let mut w = self.writer();
        self.alive()?;
        let synced = w.backend.begin();
        let result = synced.and_then(|synced| {
            self.publish_synced(&mut w, synced);
            self.apply_ops(&mut w, ops)
        });
        w.backend.end();
        let (header, records, done) = result?;
        if !records.is_empty() {
            self.publish(&mut w, header, &records);
        }
        if w.backend.needs_tidy() {
            self.schedule_tidy();
        }
        Ok(done)
    }

    /// The records a group makes, made durable. Writer lock and backend lock held.
    fn apply_ops(&self, w: &mut Writer, ops: &[&Op]) -> Result<(Header, Vec<Record>, Vec<Done>)> {
        let view = self.current();
        let mut header = view.header;
        let mut records = Vec::new();
        let mut done = Vec::with_capacity(ops.len());
        let mut staged: Vec<u32> = Vec::new();
        // What earlier changes of this group did, which later ones must see.
        let mut flags_now: HashMap<u32, Flags> = HashMap::new();
        let mut removed: BTreeSet<u32> = BTreeSet::new();
        let exists = |uid: u32, flags_now: &HashMap<u32, Flags>, removed: &BTreeSet<u32>| {
            !removed.contains(&uid) && (flags_now.contains_key(&uid) || view.contains(uid))
        };
        let result = (|| {
            for op in ops {
                match op {
                    Op::Append(messages) => {
                        let first = header.uid_next;
                        if u64::from(first) + messages.len() as u64 >= u64::from(u32::MAX) {
                            return Err(StoreError::Corrupt(format!(
                                "mailbox {}: UIDs exhausted",
                                view.name
                            )));
                        }
                        let modseq = header.highest_modseq + 1;
                        let mut uids = Vec::with_capacity(messages.len());
                        for (uid, m) in (first..).zip(messages) {
                            let meta = MessageMeta {
                                uid,
                                flags: m.flags.clone(),
                                internal_date: m.date,
                                size: m.content.size(),
                                modseq,
                            };
                            match &m.content {
                                Content::Wire(wire) => w.backend.stage(&meta, wire)?,
                                Content::Copy { body, .. } => {
                                    if !w.backend.stage_copy(&meta, body)? {
                                        let bytes = body.clone().read().map_err(|e| {
                                            StoreError::io(format!("copying UID {uid}"), e)
                                        })?;
                                        w.backend.stage(&meta, &bytes)?;
                                    }
                                }
                            }
                            staged.push(uid);
                            flags_now.insert(uid, m.flags.clone());
                            records.push(Record::Added(meta));
                            uids.push(uid);
                        }
                        header.uid_next = first + messages.len() as u32;
                        if !uids.is_empty() {
                            header.highest_modseq = modseq;
                        }
                        done.push(Done::Appended(uids));
                    }
                    Op::Flags {
                        uids,
                        op,
                        flags,
                        unchanged_since,
                    } => {
                        let modseq = header.highest_modseq + 1;
                        let mut out = FlagsChanged::default();
                        let mut changed: HashMap<u32, ()> = HashMap::new();
                        for &uid in uids {
                            if !exists(uid, &flags_now, &removed) {
                                continue;
                            }
                            if let Some(since) = unchanged_since
                                && !changed.contains_key(&uid)
                                && view.modseq(uid).unwrap_or(0) > *since
                            {
                                out.modified.push(uid);
                                continue;
                            }
                            let current = match flags_now.get(&uid) {
                                Some(f) => f.clone(),
                                None => view.flags(uid).cloned().unwrap_or_default(),
                            };
                            let new = op.apply(&current, flags);
                            if new != current {
                                records.push(Record::Flags {
                                    uid,
                                    modseq,
                                    flags: new.clone(),
                                });
                                changed.insert(uid, ());
                                flags_now.insert(uid, new.clone());
                            }
                            out.flags.push((uid, new));
                        }
                        if !changed.is_empty() {
                            header.highest_modseq = modseq;
                            out.modseq = modseq;
                        }
                        done.push(Done::Flags(out));
                    }
                    Op::Expunge(uids) => {
                        let modseq = header.highest_modseq + 1;
                        let mut wanted = uids.clone();
                        wanted.sort_unstable();
                        wanted.dedup();
                        let mut gone = Vec::new();
                        for uid in wanted {
                            if !exists(uid, &flags_now, &removed) {
                                continue;
                            }
                            // Bytes first, then the record: a crash in between leaves a
                            // record without bytes, which the next look drops as an
                            // expunge. The other order could bring the message back.
                            w.backend.remove(uid)?;
                            removed.insert(uid);
                            records.push(Record::Expunged { uid, modseq });
                            gone.push(uid);
                        }
                        if !gone.is_empty() {
                            header.highest_modseq = modseq;
                        }
                        done.push(Done::Expunged(gone));
                    }
                }
            }
            if !records.is_empty() {
                // A message appended and changed in the same group needs only its final
                // state; records stay in modseq order either way.
                w.backend.commit(&header, &records)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            for uid in staged {
                w.backend.discard(uid);
            }
            return Err(e);
        }
        Ok((header, records, done))
    }

    /// Renames open mailboxes (RENAME of a mailbox and its inferiors): runs `on_disk`
    /// (the backend's [`AccountBackend::rename_all`](crate::backend::AccountBackend::rename_all))
    /// with every one's writer locked, so no change is half-way through an old location,
    /// then points each at its new name. Nothing changes if `on_disk` fails.
    pub(crate) fn rename_all(
        open: &[(Arc<MailboxShared>, String)],
        on_disk: impl FnOnce() -> Result<()>,
    ) -> Result<()> {
        let mut order: Vec<&(Arc<MailboxShared>, String)> = open.iter().collect();
        order.sort_by_key(|(shared, _)| Arc::as_ptr(shared) as usize);
        // In address order, like every other holder of more than one writer lock.
        let mut locked: Vec<(&Arc<MailboxShared>, &str, MutexGuard<'_, Writer>)> = order
            .iter()
            .map(|(shared, to)| (shared, to.as_str(), shared.writer()))
            .collect();
        on_disk()?;
        for (shared, to, w) in &mut locked {
            w.backend.relocate(to);
            let mut view = (*shared.current()).clone();
            view.name = (*to).into();
            *shared.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
            shared.rewatch(w);
        }
        drop(locked);
        for (shared, _) in open {
            shared.bump();
        }
        Ok(())
    }

    /// RENAME INBOX in one step if the backend can ([`MailboxBackend::hand_over`]): every
    /// message goes to the new mailbox `to` at once, and this mailbox records their
    /// expunge. False if the backend cannot; nothing has changed then.
    pub(crate) fn hand_over(self: &Arc<Self>, to: &str) -> Result<bool> {
        let mut w = self.writer();
        self.alive()?;
        let result = self.begin(&mut w).and_then(|()| {
            if !w.backend.hand_over(to)? {
                return Ok(None);
            }
            let view = self.current();
            if view.is_empty() {
                return Ok(Some(None));
            }
            let mut header = view.header;
            header.highest_modseq += 1;
            let records: Vec<Record> = view
                .uids()
                .map(|uid| Record::Expunged {
                    uid,
                    modseq: header.highest_modseq,
                })
                .collect();
            match w.backend.commit(&header, &records) {
                Ok(()) => Ok(Some(Some((header, records)))),
                Err(e) => {
                    // The messages are in `to` already. Their files are gone from here,
                    // which this mailbox's next look finds and records as expunges.
                    crate::backend::warn(format_args!(
                        "mailbox {}: the expunges of RENAME INBOX are not recorded yet: {e}",
                        view.name
                    ));
                    Ok(Some(None))
                }
            }
        });
        w.backend.end();
        let Some(expunged) = result? else {
            return Ok(false);
        };
        if let Some((header, records)) = expunged {
            self.publish(&mut w, header, &records);
        }
        // The messages' directory went with them; this mailbox has a new one.
        self.rewatch(&w);
        if w.backend.needs_tidy() {
            self.schedule_tidy();
        }
        Ok(true)
    }

    /// MOVE of one batch (see [`Mailbox::move_to`]), whole: both writer locks and both
    /// backends' cross-process locks are held from the first message taken to the last
    /// record written, and views change only after both commits.
    pub(crate) fn move_batch(
        self: &Arc<Self>,
        dest: &Arc<MailboxShared>,
        uids: &[u32],
    ) -> Result<Vec<(u32, u32)>> {
        let (mut ws, mut wd) = lock_pair(self, dest);
        self.alive()?;
        dest.alive()?;
        // The cross-process locks in name order: another process moving the other way
        // takes them in the same order (names cannot change while the writers are held).
        let begun = if self.current().name <= dest.current().name {
            self.begin(&mut ws).and_then(|()| dest.begin(&mut wd))
        } else {
            dest.begin(&mut wd).and_then(|()| self.begin(&mut ws))
        };
        let result = begun.and_then(|()| self.move_locked(&mut ws, dest, &mut wd, uids));
        ws.backend.end();
        wd.backend.end();
        let moved = result?;
        if let Some((header, records)) = &moved.dest {
            dest.publish(&mut wd, *header, records);
        }
        if let Some((header, records)) = &moved.source {
            self.publish(&mut ws, *header, records);
        }
        if ws.backend.needs_tidy() {
            self.schedule_tidy();
        }
        if wd.backend.needs_tidy() {
            dest.schedule_tidy();
        }
        match moved.error {
            Some(e) => Err(e),
            None => Ok(moved.pairs),
        }
    }

    /// MOVE of one batch into this mailbox itself (see [`Mailbox::move_to`]): each message
    /// that exists (`uids` holds no duplicate) is added again under a new UID, with its
    /// flags and internal date (the Maildir backend hard-links the file), and that is
    /// made durable; then the old UIDs are expunged, durably too. The writer lock is held
    /// throughout, so no other change comes between (a session that looks in between
    /// sees both, as after a COPY, and the EXPUNGE next).
    ///
    /// Two durable writes rather than one group, because a group's links and unlinks
    /// become durable together only at its commit: a crash could keep the unlink of a
    /// file and lose the link made before it. This way a crash between the writes leaves
    /// a message twice (the old UID and the new), never lost (RFC 6851 §3.3); a failure
    /// of the second write does the same, and the move answers with the error.
    pub(crate) fn move_within(self: &Arc<Self>, uids: &[u32]) -> Result<Vec<(u32, u32)>> {
        let mut w = self.writer();
        self.alive()?;
        let result = self.begin(&mut w).and_then(|()| {
            let view = self.current();
            let present: Vec<MessageMeta> = uids.iter().filter_map(|&u| view.get(u)).collect();
            if present.is_empty() {
                return Ok(Vec::new());
            }
            let copies = present
                .iter()
                .map(|meta| {
                    let body = self
                        .bodies
                        .body(meta.uid)
                        .ok_or(StoreError::NoSuchMessage(meta.uid))?;
                    Ok(Owned {
                        content: Content::Copy {
                            body,
                            size: meta.size,
                        },
                        flags: meta.flags.clone(),
                        date: meta.internal_date,
                    })
                })
                .collect::<Result<Vec<Owned>>>()?;
            let (header, records, mut done) = self.apply_ops(&mut w, &[&Op::Append(copies)])?;
            self.publish(&mut w, header, &records);
            let new = match done.pop() {
                Some(Done::Appended(new)) => new,
                Some(other) => return Err(unexpected(other)),
                None => return Err(StoreError::Corrupt("internal: no outcome".into())),
            };
            let old: Vec<u32> = present.iter().map(|m| m.uid).collect();
            let (header, records, _) = self.apply_ops(&mut w, &[&Op::Expunge(old.clone())])?;
            self.publish(&mut w, header, &records);
            Ok(old.into_iter().zip(new).collect())
        });
        w.backend.end();
        if w.backend.needs_tidy() {
            self.schedule_tidy();
        }
        result
    }

    /// The body of [`MailboxShared::move_batch`], both mailboxes locked. Order, which is
    /// what keeps every message in exactly one of the two mailboxes:
    ///
    /// 1. each message is taken over by the destination
    ///    ([`MailboxBackend::stage_move`]: Maildir renames the file into its `cur/`);
    /// 2. the destination commits their records: from now on they are its messages;
    /// 3. the source lets go of them ([`MailboxBackend::given`]) and commits their
    ///    expunge.
    ///
    /// A failure before 2 gives every message back ([`MailboxBackend::discard`]). A
    /// failure at 3 leaves them in the destination, and the source's next look records
    /// the expunge (their bytes are gone from it). Where the destination cannot take the
    /// bytes over ([`Taken::Unsupported`]: another file system), they are copied at 1
    /// and removed from the source at 3: a crash between 2 and 3 then leaves a copy in
    /// both mailboxes, never one in neither.
    fn move_locked(
        &self,
        ws: &mut Writer,
        dest: &MailboxShared,
        wd: &mut Writer,
        uids: &[u32],
    ) -> Result<MoveOutcome> {
        let (sview, dview) = (self.current(), dest.current());
        let mut dh = dview.header;
        let d_mod = dh.highest_modseq + 1;
        let mut pairs = Vec::new();
        let mut added = Vec::new();
        // Source UIDs that were copied, not taken over: the source removes their bytes.
        let mut copied = BTreeSet::new();
        let staged = (|| {
            for &uid in uids {
                let Some(meta) = sview.get(uid) else {
                    continue;
                };
                if dh.uid_next == u32::MAX {
                    return Err(StoreError::Corrupt(format!(
                        "mailbox {}: UIDs exhausted",
                        dview.name
                    )));
                }
                let new = MessageMeta {
                    uid: dh.uid_next,
                    modseq: d_mod,
                    ..meta
                };
                let mut taken = Taken::Missing;
                for attempt in 0..2 {
                    // A file another program renamed meanwhile (mutt marking it read) is
                    // looked for once more.
                    if attempt > 0 && ws.backend.find(uid).is_none() {
                        break;
                    }
                    let Some(body) = ws.backend.give(uid)? else {
                        break;
                    };
                    taken = wd.backend.stage_move(&new, &body)?;
                    if taken != Taken::Missing {
                        break;
                    }
                }
                match taken {
                    Taken::Moved => {}
                    // Gone (another program removed it): nothing to move; the source's
                    // next look records the expunge.
                    Taken::Missing => continue,
                    Taken::Unsupported => {
                        if !self.stage_copy_locked(ws, wd, uid, &new)? {
                            continue;
                        }
                        copied.insert(uid);
                    }
                }
                dh.uid_next += 1;
                pairs.push((uid, new.uid));
                added.push(Record::Added(new));
            }
            if !added.is_empty() {
                dh.highest_modseq = d_mod;
                wd.backend.commit(&dh, &added)?;
            }
            Ok(())
        })();
        if let Err(e) = staged {
            for record in &added {
                wd.backend.discard(record.uid());
            }
            return Err(e);
        }
        if added.is_empty() {
            return Ok(MoveOutcome::default());
        }
        // The destination's records are durable: the messages are its own now.
        let mut sh = sview.header;
        sh.highest_modseq += 1;
        let mut gone: Vec<u32> = Vec::with_capacity(pairs.len());
        let mut error = None;
        for &(uid, _) in &pairs {
            let let_go = if copied.contains(&uid) {
                ws.backend.remove(uid)
            } else {
                ws.backend.given(uid)
            };
            if let Err(e) = let_go {
                error = Some(e);
                break;
            }
            gone.push(uid);
        }
        gone.sort_unstable();
        let expunged: Vec<Record> = gone
            .into_iter()
            .map(|uid| Record::Expunged {
                uid,
                modseq: sh.highest_modseq,
            })
            .collect();
        let source = if expunged.is_empty() {
            None
        } else {
            match ws.backend.commit(&sh, &expunged) {
                Ok(()) => Some((sh, expunged)),
                Err(e) => {
                    // The messages are in the destination; the source's next look finds
                    // their bytes gone and records the expunge then.
                    error.get_or_insert(e);
                    None
                }
            }
        };
        Ok(MoveOutcome {
            pairs,
            dest: Some((dh, added)),
            source,
            error,
        })
    }

    /// Stages a copy of source message `uid` as `new` in the destination, for a MOVE
    /// whose destination cannot take the bytes over: linked or copied by the backend if it
    /// can, else read whole. False if the message is gone. Both writer locks held (so the
    /// bytes are read here, not through [`Mailbox::read`], which would take the lock).
    fn stage_copy_locked(
        &self,
        ws: &mut Writer,
        wd: &mut Writer,
        uid: u32,
        new: &MessageMeta,
    ) -> Result<bool> {
        for attempt in 0..2 {
            let body = if attempt == 0 {
                ws.backend.give(uid)?
            } else {
                ws.backend.find(uid)
            };
            let Some(body) = body else {
                return Ok(false);
            };
            if wd.backend.stage_copy(new, &body)? {
                return Ok(true);
            }
            match body.read() {
                Ok(bytes) => {
                    wd.backend.stage(new, &bytes)?;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(format!("copying UID {uid}"), e)),
            }
        }
        Ok(false)
    }

    /// Deletes this mailbox: runs `on_disk` with the writer locked, then fails every later
    /// operation on any handle.
    pub(crate) fn delete(&self, on_disk: impl FnOnce() -> Result<()>) -> Result<()> {
        let w = self.writer();
        on_disk()?;
        let mut view = (*self.current()).clone();
        view.gone = true;
        *self.view.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(view);
        *self.watcher.lock().unwrap_or_else(|p| p.into_inner()) = None;
        // Facts about messages that no longer exist: freed now, not when the last
        // session lets go of its handle.
        self.memos.lock().unwrap_or_else(|p| p.into_inner()).clear();
        drop(w);
        self.bump();
        Ok(())
    }
}

/// What one MOVE batch did, for [`MailboxShared::move_batch`] to show once both
/// mailboxes are unlocked from the backends.
#[derive(Default)]
struct MoveOutcome {
    /// `(source UID, destination UID)`, in the order asked.
    pairs: Vec<(u32, u32)>,
    /// The destination's committed header and records.
    dest: Option<(Header, Vec<Record>)>,
    /// The source's committed header and records (`None` if its commit failed).
    source: Option<(Header, Vec<Record>)>,
    /// What failed after the destination's commit, if anything.
    error: Option<StoreError>,
}

/// Locks two mailboxes' writers in address order, the one order every holder of more
/// than one writer lock uses (MOVE, RENAME), so none waits for another in a cycle.
/// Returns the guards as `(a, b)`.
fn lock_pair<'a>(
    a: &'a MailboxShared,
    b: &'a MailboxShared,
) -> (MutexGuard<'a, Writer>, MutexGuard<'a, Writer>) {
    if std::ptr::from_ref(a) < std::ptr::from_ref(b) {
        let first = a.writer();
        (first, b.writer())
    } else {
        let first = b.writer();
        (a.writer(), first)
    }
}

/// Truncates to whole seconds (IMAP's date-time has no fraction) and expresses the time
/// in UTC, which is what a Maildir file's mtime gives back after a restart; both backends
/// agree.
pub(crate) fn normalize_date(date: DateTime<FixedOffset>) -> DateTime<FixedOffset> {
    let utc = date.with_timezone(&Utc);
    utc.with_nanosecond(0).unwrap_or(utc).fixed_offset()
}

/// A handle to one mailbox of one account. Cheap to clone; every clone (and every handle
/// obtained for the same name from any [`crate::Account`] of the same [`crate::Store`])
/// sees the same state.
#[derive(Clone)]
pub struct Mailbox {
    pub(crate) shared: Arc<MailboxShared>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Mailbox").field(&self.name()).finish()
    }
}

impl Mailbox {
    /// The mailbox's current name (it changes if the mailbox is renamed).
    pub fn name(&self) -> String {
        self.shared.current().name.to_string()
    }

    /// The live view, brought up to date with what other programs changed: a snapshot
    /// that stays as it is while the caller holds it. Cheap (no copy of the messages).
    pub fn view(&self) -> Result<Arc<View>> {
        self.shared.poll(false)?;
        let view = self.shared.current();
        if view.gone {
            return Err(StoreError::NoSuchMailbox(view.name.to_string()));
        }
        Ok(view)
    }

    /// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and the counts (kept as changes happen, not
    /// counted per call).
    pub fn status(&self) -> Result<MailboxStatus> {
        Ok(self.view()?.status())
    }

    /// Every message's metadata, ascending UID. This copies the whole mailbox; sessions
    /// use [`Mailbox::view`] instead.
    pub fn messages(&self) -> Result<Vec<MessageMeta>> {
        Ok(self.view()?.iter().collect())
    }

    /// Adds a message (IMAP APPEND of a message already whole in memory) and returns its
    /// UID. Bare LF line ends are stored as CRLF. The message is durable before this
    /// returns. Without a date, the internal date is now.
    ///
    /// This is [`Mailbox::incoming`] with one write: one path for every single message.
    /// It costs the same as writing the file whole under the mailbox's writer lock, and
    /// less when sessions append at once, since each file is written and fsynced before
    /// the lock, leaving only the link and the group commit under it.
    pub fn append(
        &self,
        raw: &[u8],
        flags: &Flags,
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<u32> {
        let mut incoming = self.incoming(flags, internal_date)?;
        incoming.write(raw)?;
        incoming.finish()
    }

    /// Starts an append whose message arrives a piece at a time (IMAP APPEND, RFC 3501
    /// §6.3.11, whose literal may be tens of megabytes): write it with
    /// [`IncomingAppend::write`], then [`IncomingAppend::finish`] adds it as
    /// [`Mailbox::append`] would and returns its UID. The message is never whole in
    /// memory: the Maildir backend writes it to a file in the mailbox's `tmp/` through a
    /// 64 KiB buffer as it arrives. Dropped unfinished (the client went away), it leaves
    /// nothing behind.
    ///
    /// Without a date, the internal date is the time of `finish`.
    pub fn incoming(
        &self,
        flags: &Flags,
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<IncomingAppend> {
        Ok(IncomingAppend::new(
            self.clone(),
            flags.clone(),
            internal_date,
            self.receiving()?,
        ))
    }

    /// Asks the backend to start receiving a message into this mailbox's storage,
    /// without the writer lock.
    pub(crate) fn receiving(&self) -> Result<Box<dyn Receiving>> {
        self.shared.alive()?;
        self.shared.receiver.receive()
    }

    /// Adds a message received through [`Mailbox::receiving`] and made durable
    /// ([`Receiving::finish`] gave `body`, `size` bytes in wire form): the backend links
    /// it where it can ([`MailboxBackend::stage_copy`]), and records it in one group
    /// commit as any append. Returns its UID once that is durable.
    pub(crate) fn append_received(
        &self,
        body: &Body,
        size: u64,
        flags: &Flags,
        date: DateTime<FixedOffset>,
    ) -> Result<u32> {
        let message = Owned {
            content: Content::Copy {
                body: body.clone(),
                size,
            },
            flags: flags.clone(),
            date,
        };
        match self.submit(Op::Append(vec![message]))? {
            Done::Appended(uids) if uids.len() == 1 => Ok(uids[0]),
            other => Err(unexpected(other)),
        }
    }

    /// [`Mailbox::append_received`] for several messages, in one group commit: all or
    /// none. Returns their UIDs in order.
    pub(crate) fn append_received_all(
        &self,
        received: &[(Body, u64, Flags, DateTime<FixedOffset>)],
    ) -> Result<Vec<u32>> {
        let messages: Vec<Owned> = received
            .iter()
            .map(|(body, size, flags, date)| Owned {
                content: Content::Copy {
                    body: body.clone(),
                    size: *size,
                },
                flags: flags.clone(),
                date: *date,
            })
            .collect();
        match self.submit(Op::Append(messages))? {
            Done::Appended(uids) if uids.len() == received.len() => Ok(uids),
            other => Err(unexpected(other)),
        }
    }

    /// Adds several messages at once (`yubin deliver`, an mbox import, COPY) and returns
    /// their UIDs, in order. All or nothing: on an error none of them is added.
    pub fn append_batch(&self, messages: &[NewMessage<'_>]) -> Result<Vec<u32>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now().fixed_offset();
        let owned = messages
            .iter()
            .map(|m| Owned {
                content: Content::Wire(crate::wire::to_crlf(m.raw).into_owned()),
                flags: m.flags.clone(),
                date: normalize_date(m.internal_date.unwrap_or(now)),
            })
            .collect();
        match self.submit(Op::Append(owned))? {
            Done::Appended(uids) => Ok(uids),
            other => Err(unexpected(other)),
        }
    }

    /// Queues a change for the next group commit and waits until it is durable.
    ///
    /// Group commit: changes from other threads that arrive while one group is being
    /// written are written together next, by one of them (the others block until it is
    /// done). Should the group fail, each of its changes is tried again alone, so one bad
    /// change fails only itself.
    fn submit(&self, op: Op) -> Result<Done> {
        let (reply, turns) = mpsc::sync_channel(2);
        let lead = {
            let mut queue = self.queue();
            queue.waiting.push(Queued { op, reply });
            !std::mem::replace(&mut queue.leading, true)
        };
        if lead {
            self.write_group();
        }
        loop {
            match turns.recv() {
                Ok(Turn::Done(result)) => return result,
                Ok(Turn::Lead) => self.write_group(),
                // The writer of our group panicked; nothing of ours was acknowledged.
                Err(_) => {
                    return Err(StoreError::Io {
                        context: "changing the mailbox (the group commit was interrupted)".into(),
                        source: std::io::Error::other("group commit interrupted"),
                    });
                }
            }
        }
    }

    fn queue(&self) -> MutexGuard<'_, CommitQueue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the waiting changes as one group (the caller holds `leading`), tells each
    /// its outcome, then hands `leading` to the next waiter, if any.
    fn write_group(&self) {
        /// Passes the lead on even if writing panics, so no waiter blocks forever.
        struct PassOn<'a>(&'a Mailbox);
        impl Drop for PassOn<'_> {
            fn drop(&mut self) {
                let mut queue = self.0.queue();
                match queue.waiting.first() {
                    Some(next) => {
                        let _ = next.reply.send(Turn::Lead);
                    }
                    None => queue.leading = false,
                }
            }
        }
        let _pass_on = PassOn(self);
        let group: Vec<Queued> = {
            let mut queue = self.queue();
            let n = queue.waiting.len().min(MAX_GROUP);
            queue.waiting.drain(..n).collect()
        };
        let ops: Vec<&Op> = group.iter().map(|q| &q.op).collect();
        match self.shared.execute(&ops) {
            Ok(done) => {
                for (q, d) in group.iter().zip(done) {
                    let _ = q.reply.send(Turn::Done(Ok(d)));
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group[0].reply.send(Turn::Done(Err(e)));
            }
            Err(_) => {
                for q in &group {
                    let result = self.shared.execute(&[&q.op]).map(|mut d| d.remove(0));
                    let _ = q.reply.send(Turn::Done(result));
                }
            }
        }
    }

    /// The message in wire form (CRLF line ends); `read(uid).len() == size`.
    ///
    /// The bytes are read without holding any mailbox lock, so a large message (or a
    /// concurrent group commit) does not stall other sessions.
    pub fn read(&self, uid: u32) -> Result<Bytes> {
        self.read_as(uid, Body::read)
    }

    /// The message as stored, which may end its lines in bare LF (a file another program
    /// wrote); its wire size is the view's `size`. For callers that convert while they
    /// copy anyway (POP3 RETR's dot-stuffing, an IMAP literal): a 1 MiB bare-LF message is
    /// then copied once, not converted into a buffer of its own first.
    pub fn read_stored(&self, uid: u32) -> Result<Bytes> {
        self.read_as(uid, Body::read_stored)
    }

    fn read_as(&self, uid: u32, read: fn(Body) -> std::io::Result<Bytes>) -> Result<Bytes> {
        if !self.shared.current().contains(uid) {
            self.shared.alive()?;
            return Err(StoreError::NoSuchMessage(uid));
        }
        let body = self
            .shared
            .bodies
            .body(uid)
            .ok_or(StoreError::NoSuchMessage(uid))?;
        match read(body) {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Renamed (a flag change) or removed since we looked: look again, locked.
                let body = {
                    let mut w = self.shared.writer();
                    self.shared.alive()?;
                    if !self.shared.current().contains(uid) {
                        return Err(StoreError::NoSuchMessage(uid));
                    }
                    w.backend.find(uid).ok_or(StoreError::NoSuchMessage(uid))?
                };
                read(body).map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => StoreError::NoSuchMessage(uid),
                    _ => StoreError::io(format!("reading message UID {uid}"), e),
                })
            }
            Err(e) => Err(StoreError::io(format!("reading message UID {uid}"), e)),
        }
    }

    /// The message's header block in wire form: everything up to and including the empty
    /// line that ends it (RFC 5322 §2.1), or the whole message if it has no body.
    ///
    /// For searches on header fields: only the start of the file is read, and the block
    /// is kept in a cache every session of this mailbox shares (bounded by
    /// [`HEADER_CACHE_BYTES`]), so the second SEARCH over a large mailbox reads no file.
    pub fn header(&self, uid: u32) -> Result<Bytes> {
        if let Some(b) = self.header_cache().blocks.get(&uid) {
            return Ok(b.clone());
        }
        if !self.shared.current().contains(uid) {
            self.shared.alive()?;
            return Err(StoreError::NoSuchMessage(uid));
        }
        let block = match self.shared.bodies.body(uid) {
            Some(Body::Bytes(b)) => header_block(&b).map_or(b.clone(), |n| b.slice(..n)),
            Some(Body::File { path, .. }) => match read_header(&path) {
                Ok(block) => block,
                // Renamed meanwhile: the slow path finds it.
                Err(_) => {
                    let whole = self.read(uid)?;
                    header_block(&whole).map_or(whole.clone(), |n| whole.slice(..n))
                }
            },
            None => return Err(StoreError::NoSuchMessage(uid)),
        };
        let mut cache = self.header_cache();
        if cache.bytes + block.len() > HEADER_CACHE_BYTES {
            cache.blocks.clear();
            cache.bytes = 0;
        }
        cache.bytes += block.len();
        cache.blocks.insert(uid, block.clone());
        Ok(block)
    }

    fn header_cache(&self) -> MutexGuard<'_, HeaderCache> {
        self.shared
            .headers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The one value of type `T` kept with this mailbox for every handle (every session
    /// of every protocol), made by `init` the first time any of them asks.
    ///
    /// For what a protocol derives from messages and would otherwise derive again in
    /// each session, such as IMAP's sort keys: a message never changes under its UID
    /// while UIDVALIDITY stays (RFC 3501 §2.3.1.1), so a fact about it stays true until
    /// it is expunged. The memo lives as long as this mailbox's shared state: RENAME
    /// keeps it (the messages and UIDs go along), DELETE drops it, and a mailbox created
    /// again under the same name starts without one. The store neither bounds nor reads
    /// it: `T` keeps itself small (a named limit of its own) and should note the
    /// UIDVALIDITY it was filled under, since a backend that loses its index gives the
    /// mailbox a new one (and new UIDs) in place.
    pub fn memo<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Arc<T> {
        let mut memos = self.shared.memos.lock().unwrap_or_else(|p| p.into_inner());
        // A handful of types at most, so a list beats a map keyed by TypeId.
        if let Some(found) = memos.iter().find_map(|m| m.clone().downcast::<T>().ok()) {
            return found;
        }
        let made = Arc::new(init());
        memos.push(made.clone());
        made
    }

    /// Changes the flags of the given messages (IMAP STORE); returns the new flags of each
    /// UID that exists, in the order given. UIDs that do not exist are skipped. However
    /// many messages change, this is one durable write (shared with concurrent changes).
    pub fn set_flags(&self, uids: &[u32], op: FlagOp, flags: &Flags) -> Result<Vec<(u32, Flags)>> {
        Ok(self.set_flags_unchanged_since(uids, op, flags, None)?.flags)
    }

    /// [`Mailbox::set_flags`] with RFC 7162's UNCHANGEDSINCE: a message whose modseq is
    /// above `unchanged_since` is left alone and reported in
    /// [`FlagsChanged::modified`].
    pub fn set_flags_unchanged_since(
        &self,
        uids: &[u32],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<u64>,
    ) -> Result<FlagsChanged> {
        match self.submit(Op::Flags {
            uids: uids.to_vec(),
            op,
            flags: flags.clone(),
            unchanged_since,
        })? {
            Done::Flags(changed) => Ok(changed),
            other => Err(unexpected(other)),
        }
    }

    /// Copies messages to `dest` with their flags and internal dates (IMAP COPY, UIDPLUS
    /// COPYUID); returns `(source uid, new uid in dest)` for each UID that exists.
    /// Copying a mailbox into itself is allowed and appends copies.
    ///
    /// The copies are added in one durable write per batch, and the Maildir backend hard
    /// links the files instead of writing the bytes again. Never holds both mailboxes'
    /// locks: no lock order to get wrong.
    pub fn copy_to(&self, uids: &[u32], dest: &Mailbox) -> Result<Vec<(u32, u32)>> {
        /// Copies per durable write: large enough to share the fsyncs, small enough that
        /// a failed batch is retried cheaply.
        const BATCH: usize = 1024;
        let view = self.view()?;
        let mut out = Vec::with_capacity(uids.len());
        let present: Vec<MessageMeta> = uids.iter().filter_map(|&u| view.get(u)).collect();
        for batch in present.chunks(BATCH) {
            let copies: Option<Vec<Owned>> = batch
                .iter()
                .map(|meta| {
                    Some(Owned {
                        content: Content::Copy {
                            body: self.shared.bodies.body(meta.uid)?,
                            size: meta.size,
                        },
                        flags: meta.flags.clone(),
                        date: meta.internal_date,
                    })
                })
                .collect();
            let linked = match copies {
                Some(copies) => match dest.submit(Op::Append(copies)) {
                    Ok(Done::Appended(new)) => Some(new),
                    // A source file renamed meanwhile (by another program): read instead.
                    _ => None,
                },
                None => None,
            };
            match linked {
                Some(new) => out.extend(batch.iter().map(|m| m.uid).zip(new)),
                None => self.copy_by_reading(batch, dest, &mut out)?,
            }
        }
        Ok(out)
    }

    /// The slow path of [`Mailbox::copy_to`]: read each message (finding files another
    /// program renamed), then append the batch.
    fn copy_by_reading(
        &self,
        batch: &[MessageMeta],
        dest: &Mailbox,
        out: &mut Vec<(u32, u32)>,
    ) -> Result<()> {
        let mut read = Vec::with_capacity(batch.len());
        for meta in batch {
            match self.read(meta.uid) {
                Ok(bytes) => read.push((meta, bytes)),
                Err(StoreError::NoSuchMessage(_)) => continue, // expunged meanwhile
                Err(e) => return Err(e),
            }
        }
        let new = dest.append_batch(
            &read
                .iter()
                .map(|(meta, bytes)| NewMessage {
                    raw: bytes,
                    flags: &meta.flags,
                    internal_date: Some(meta.internal_date),
                })
                .collect::<Vec<_>>(),
        )?;
        out.extend(read.iter().map(|(m, _)| m.uid).zip(new));
        Ok(())
    }

    /// Moves messages to `dest`, another mailbox of the same account (IMAP MOVE, RFC
    /// 6851 §3), with their flags and internal dates; returns `(source uid, new uid in
    /// dest)` for each UID that exists, in the order given (UIDPLUS COPYUID, RFC 4315
    /// §3). UIDs that do not exist (or were moved already) are skipped, so a retried
    /// MOVE adds nothing.
    ///
    /// Each message is in exactly one of the two mailboxes at every instant, also across
    /// a crash (RFC 6851 §3.3: never lost, never left in both): the destination takes
    /// the bytes over (Maildir: a `rename(2)` of the file into its `cur/`, no copy),
    /// records them, and only then does this mailbox record their expunge. Both
    /// mailboxes' locks are held for it (in one order for every caller), so no session
    /// sees a message half-way. The `maildir` module docs say how a crash at each step
    /// is recovered. Where the destination cannot take the bytes over (a folder on
    /// another file system), it copies them and they are removed here once the copy is
    /// durable: a crash in between can then leave a message in both, never in neither.
    ///
    /// Messages move in batches of 1024, each with one durable write per mailbox; an
    /// error stops the move, leaving the earlier batches moved and the rest here.
    ///
    /// `dest` may be this mailbox (RFC 6851 allows it): each message then gets a new UID
    /// above UIDNEXT, as Dovecot gives it, and its old UID is expunged. The copy is made
    /// durable before the expunge, so a crash in between leaves a message twice, never
    /// lost.
    pub fn move_to(&self, uids: &[u32], dest: &Mailbox) -> Result<Vec<(u32, u32)>> {
        /// Messages per batch: both mailboxes' writers wait for a batch, so it stays short.
        const BATCH: usize = 1024;
        let mut seen = HashSet::with_capacity(uids.len());
        let wanted: Vec<u32> = uids.iter().copied().filter(|&u| seen.insert(u)).collect();
        let within = Arc::ptr_eq(&self.shared, &dest.shared);
        let mut out = Vec::with_capacity(wanted.len());
        for batch in wanted.chunks(BATCH) {
            out.extend(if within {
                self.shared.move_within(batch)?
            } else {
                self.shared.move_batch(&dest.shared, batch)?
            });
        }
        Ok(out)
    }

    /// Removes the given messages (IMAP UID EXPUNGE, POP3 UPDATE); returns the UIDs
    /// actually removed, ascending. Their UIDs are never given out again.
    pub fn expunge(&self, uids: &[u32]) -> Result<Vec<u32>> {
        match self.submit(Op::Expunge(uids.to_vec()))? {
            Done::Expunged(uids) => Ok(uids),
            other => Err(unexpected(other)),
        }
    }

    /// RFC 3501 `\Recent`: returns the first UID that is recent for the caller (every
    /// UID at or above it is), and moves the mailbox's boundary to UIDNEXT so the next
    /// session to call this does not see the same messages as recent.
    pub fn claim_recent(&self) -> u32 {
        let mut w = self.shared.writer();
        let view = self.shared.current();
        let first = view.header.recent_from;
        if first >= view.header.uid_next {
            return first;
        }
        let header = Header {
            recent_from: view.header.uid_next,
            ..view.header
        };
        // Persisting the boundary is a courtesy (a restart would otherwise show the same
        // messages as recent once more), not worth failing a SELECT over, nor an fsync.
        if let Err(e) = w.backend.save_header(&header) {
            crate::backend::warn(format_args!("cannot record \\Recent boundary: {e}"));
        }
        self.shared.publish(&mut w, header, &[]);
        first
    }

    /// The mailbox's version: it grows with every change, whoever made it (another
    /// program's, once the file watcher or a read has seen it). Cheaper than a status
    /// for asking whether anything changed since a version seen before.
    pub fn version(&self) -> u64 {
        *self.shared.version.borrow()
    }

    /// A receiver of change notifications for this mailbox.
    pub fn watch(&self) -> MailboxWatch {
        MailboxWatch(crate::versions::Versions::new(
            self.shared.version.subscribe(),
            self.shared.clone(),
        ))
    }

    /// Does now the deferred work that would otherwise run shortly after a change, in the
    /// background (Maildir: renames files so their names show the latest flags, for other
    /// programs). For tests and for a clean shutdown; flags are durable without it.
    pub fn flush(&self) -> Result<()> {
        let mut w = self.shared.writer();
        self.shared.alive()?;
        while w.backend.needs_tidy() {
            w.backend.tidy()?;
        }
        Ok(())
    }

    /// Picks up changes made by other programs now, waiting for a busy writer. Every
    /// read already does this cheaply, and a watcher does it in the background; this is
    /// for callers that must be sure (tests, a CHECK command).
    pub fn refresh(&self) -> Result<()> {
        self.shared.poll(true)
    }
}

/// Where the header block of a message in wire form ends (after its empty line).
fn header_block(wire: &[u8]) -> Option<usize> {
    if wire.starts_with(b"\r\n") {
        return Some(2);
    }
    memchr::memmem::find(wire, b"\r\n\r\n").map(|i| i + 4)
}

/// Reads a message file's header block only, in wire form: a first read of a few
/// kilobytes holds it for almost every message; the rest is read only if it does not.
fn read_header(path: &std::path::Path) -> std::io::Result<Bytes> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut raw = Vec::with_capacity(8192);
    loop {
        let got = file.by_ref().take(8192).read_to_end(&mut raw)?;
        // A bare-LF file ends its header with "\n\n" (or "\n\r\n").
        let end = if raw.starts_with(b"\n") || raw.starts_with(b"\r\n") {
            Some(if raw[0] == b'\n' { 1 } else { 2 })
        } else {
            memchr::memmem::find(&raw, b"\n\n")
                .map(|i| i + 2)
                .into_iter()
                .chain(memchr::memmem::find(&raw, b"\n\r\n").map(|i| i + 3))
                .min()
        };
        if let Some(end) = end {
            raw.truncate(end);
            break;
        }
        if got == 0 {
            break;
        }
    }
    Ok(Bytes::from(crate::wire::to_crlf(&raw).into_owned()))
}

fn unexpected(done: Done) -> StoreError {
    StoreError::Corrupt(format!("internal: unexpected outcome {done:?}"))
}

/// Tells a session that a mailbox changed (append, flags, expunge, rename, delete), so it
/// can look at [`Mailbox::view`] and report the difference (IMAP IDLE, NOOP).
///
/// It carries a version number, not the events: the session reads what changed from the
/// view ([`View::changes_since`]), so it can never miss or misorder an event.
///
/// A clone has seen the versions the original has seen: made before a look at the
/// mailbox and cloned later, it still fires for a change after that look.
#[derive(Clone)]
pub struct MailboxWatch(crate::versions::Versions);

impl MailboxWatch {
    /// Resolves when the mailbox changed since the last call (or since this watch was
    /// created). Cancel-safe: dropping the future loses nothing.
    pub async fn changed(&mut self) {
        self.0.changed().await;
    }

    /// The mailbox's current version; it grows with every change.
    pub fn version(&self) -> u64 {
        self.0.version()
    }
}

impl std::fmt::Debug for MailboxWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxWatch")
            .field("version", &self.version())
            .finish()
    }
}
