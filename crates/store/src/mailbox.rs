//! One mailbox: UIDs, flags, the \Recent boundary and change notifications, written once
//! for every backend.
//!
//! All handles to one mailbox share one [`MailboxShared`]: one mutex around its state and
//! one `tokio::sync::watch` channel. The mutex is a `std::sync::Mutex` because every
//! method here is synchronous: it is never held across an `.await` (there are none), so
//! the async sessions that call in cannot deadlock on it, and a short blocking section
//! (an fsync) only delays the one thread that runs it.
//!
//! Persistence order, which is what makes a crash harmless (the Maildir backend relies on
//! it): a message's bytes are durable before its UID is written to the UID list, and the
//! UID list is durable before the UID is returned or shown to any session. Memory changes
//! come last, so no session ever sees a state that a crash could take back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, mpsc};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use tokio::sync::watch;

use crate::backend::{Header, Loaded, MailboxBackend};
use crate::{Flag, FlagOp, Flags, Result, StoreError};

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
    inner: Mutex<Inner>,
    /// Bumped on every change; sessions wait on it and then re-read `messages()`.
    version: watch::Sender<u64>,
    /// Appends waiting for the next group commit (see [`Mailbox::append`]).
    queue: Mutex<AppendQueue>,
}

/// Single appends that arrive while another is being written wait here and are then
/// written together, as one [`Mailbox::append_batch`]: one fsync of `new/` and one UID
/// list for the whole group instead of one each. Each waiter still returns only once its
/// message is durable.
#[derive(Default)]
struct AppendQueue {
    /// An append is writing a group now; newcomers wait for the next one.
    leading: bool,
    waiting: Vec<Queued>,
}

/// One append waiting in the queue.
struct Queued {
    raw: Vec<u8>,
    flags: Flags,
    internal_date: Option<DateTime<FixedOffset>>,
    /// Where its caller waits: told `Lead` (write the next group) and then `Done`.
    reply: mpsc::SyncSender<Turn>,
}

/// What a waiting append is told.
enum Turn {
    /// Write the next group (it includes your own message).
    Lead,
    /// Your message's outcome.
    Done(Result<u32>),
}

/// Groups at most this many appends, so one slow group does not grow without bound.
const MAX_GROUP: usize = 256;

struct Inner {
    /// Current name (a rename changes it under the handles' feet, on purpose).
    name: String,
    /// Set when the mailbox is deleted: every later operation fails.
    gone: bool,
    header: Header,
    messages: BTreeMap<u32, MessageMeta>,
    backend: Box<dyn MailboxBackend>,
}

impl Inner {
    fn alive(&self) -> Result<()> {
        if self.gone {
            Err(StoreError::NoSuchMailbox(self.name.clone()))
        } else {
            Ok(())
        }
    }

    /// Adopts a state read from the backend; true if it differs from what we had.
    fn adopt(&mut self, loaded: Loaded) -> bool {
        let mut header = loaded.header;
        if header.uid_validity == self.header.uid_validity {
            // UIDNEXT never goes down, whatever a file says.
            header.uid_next = header.uid_next.max(self.header.uid_next);
        }
        let messages: BTreeMap<u32, MessageMeta> =
            loaded.messages.into_iter().map(|m| (m.uid, m)).collect();
        let changed = header != self.header || messages != self.messages;
        self.header = header;
        self.messages = messages;
        changed
    }
}

impl MailboxShared {
    /// Opens a mailbox over its backend.
    pub(crate) fn open(name: String, mut backend: Box<dyn MailboxBackend>) -> Result<Arc<Self>> {
        let loaded = backend.load()?;
        let (version, _) = watch::channel(0);
        Ok(Arc::new(MailboxShared {
            inner: Mutex::new(Inner {
                name,
                gone: false,
                header: loaded.header,
                messages: loaded.messages.into_iter().map(|m| (m.uid, m)).collect(),
                backend,
            }),
            version,
            queue: Mutex::new(AppendQueue::default()),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while the lock was held leaves state that was valid before the step that
        // panicked (memory changes come last), so carrying on is sound.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Runs a change inside the backend's cross-process lock. `f` returns its value and
    /// whether it changed anything; watchers are told about changes (and, to be safe,
    /// about failures, which may have changed part of the state).
    fn change<R>(&self, f: impl FnOnce(&mut Inner) -> Result<(R, bool)>) -> Result<R> {
        let mut inner = self.lock();
        inner.alive()?;
        let mut changed = match inner.backend.begin()? {
            Some(loaded) => inner.adopt(loaded),
            None => false,
        };
        let result = f(&mut inner);
        inner.backend.end();
        drop(inner);
        let value = match result {
            Ok((value, c)) => {
                changed |= c;
                Ok(value)
            }
            Err(e) => {
                changed = true;
                Err(e)
            }
        };
        if changed {
            self.bump();
        }
        value
    }

    /// Renames this mailbox: runs `on_disk` (the backend's rename) with the mailbox locked,
    /// so no change is half-way through the old location, then points it at the new one.
    pub(crate) fn rename(&self, to: &str, on_disk: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut inner = self.lock();
        on_disk()?;
        inner.name = to.to_owned();
        inner.backend.relocate(to);
        drop(inner);
        self.bump();
        Ok(())
    }

    /// Deletes this mailbox: runs `on_disk` with the mailbox locked, then fails every later
    /// operation on any handle.
    pub(crate) fn delete(&self, on_disk: impl FnOnce() -> Result<()>) -> Result<()> {
        let mut inner = self.lock();
        on_disk()?;
        inner.gone = true;
        inner.messages.clear();
        drop(inner);
        self.bump();
        Ok(())
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
        self.shared.lock().name.clone()
    }

    /// UIDVALIDITY, UIDNEXT and the counts.
    pub fn status(&self) -> Result<MailboxStatus> {
        let inner = self.shared.lock();
        inner.alive()?;
        let count = |pred: &dyn Fn(&MessageMeta) -> bool| {
            inner.messages.values().filter(|m| pred(m)).count() as u32
        };
        Ok(MailboxStatus {
            uid_validity: inner.header.uid_validity,
            uid_next: inner.header.uid_next,
            messages: inner.messages.len() as u32,
            unseen: count(&|m| !m.flags.contains(&Flag::Seen)),
            recent: count(&|m| m.uid >= inner.header.recent_from),
        })
    }

    /// Every message's metadata, ascending UID.
    pub fn messages(&self) -> Result<Vec<MessageMeta>> {
        let inner = self.shared.lock();
        inner.alive()?;
        Ok(inner.messages.values().cloned().collect())
    }

    /// Adds a message (SMTP delivery, IMAP APPEND) and returns its UID.
    /// Bare LF line ends are stored as CRLF. The message is durable before this returns.
    /// Without a date, the internal date is now.
    ///
    /// Group commit: appends from other threads that arrive while one is being written
    /// are written together next, as one [`Mailbox::append_batch`], by one of them (the
    /// others block until it is done). Should the group fail, each of its messages is
    /// tried again alone, so one bad message fails only its own append.
    pub fn append(
        &self,
        raw: &[u8],
        flags: &Flags,
        internal_date: Option<DateTime<FixedOffset>>,
    ) -> Result<u32> {
        let (reply, turns) = mpsc::sync_channel(2);
        let lead = {
            let mut queue = self.queue();
            queue.waiting.push(Queued {
                raw: raw.to_vec(),
                flags: flags.clone(),
                internal_date,
                reply,
            });
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
                        context: "appending (the group commit was interrupted)".into(),
                        source: std::io::Error::other("group commit interrupted"),
                    });
                }
            }
        }
    }

    fn queue(&self) -> MutexGuard<'_, AppendQueue> {
        self.shared.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the waiting appends as one group (the caller holds `leading`), tells each
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
        let batch: Vec<NewMessage<'_>> = group
            .iter()
            .map(|q| NewMessage {
                raw: &q.raw,
                flags: &q.flags,
                internal_date: q.internal_date,
            })
            .collect();
        match self.append_batch(&batch) {
            Ok(uids) => {
                for (q, uid) in group.iter().zip(uids) {
                    let _ = q.reply.send(Turn::Done(Ok(uid)));
                }
            }
            Err(e) if group.len() == 1 => {
                let _ = group[0].reply.send(Turn::Done(Err(e)));
            }
            Err(_) => {
                for (q, m) in group.iter().zip(&batch) {
                    let result = self.append_batch(std::slice::from_ref(m)).map(|u| u[0]);
                    let _ = q.reply.send(Turn::Done(result));
                }
            }
        }
    }

    /// Adds several messages at once (`yubin deliver`, an mbox import) and returns their
    /// UIDs, in order. All or nothing: on an error none of them is added. The UID state is
    /// written once for the whole batch, which makes a large import much cheaper than
    /// one [`Mailbox::append`] per message.
    pub fn append_batch(&self, messages: &[NewMessage<'_>]) -> Result<Vec<u32>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let now = Utc::now().fixed_offset();
        let prepared: Vec<_> = messages
            .iter()
            .map(|m| {
                (
                    crate::wire::to_crlf(m.raw),
                    m.flags,
                    normalize_date(m.internal_date.unwrap_or(now)),
                )
            })
            .collect();
        self.shared.change(|inner| {
            let first = inner.header.uid_next;
            if u64::from(first) + prepared.len() as u64 >= u64::from(u32::MAX) {
                return Err(StoreError::Corrupt(format!(
                    "mailbox {}: UIDs exhausted",
                    inner.name
                )));
            }
            let mut written = Vec::with_capacity(prepared.len());
            for (uid, (wire, flags, date)) in (first..).zip(&prepared) {
                if let Err(e) = inner.backend.write(uid, wire, flags, *date) {
                    for &uid in &written {
                        inner.backend.discard(uid);
                    }
                    return Err(e);
                }
                written.push(uid);
            }
            let header = Header {
                uid_next: first + prepared.len() as u32,
                ..inner.header
            };
            if let Err(e) = inner.backend.commit(&header) {
                for &uid in &written {
                    inner.backend.discard(uid);
                }
                return Err(e);
            }
            inner.header = header;
            for (&uid, (wire, flags, date)) in written.iter().zip(&prepared) {
                inner.messages.insert(
                    uid,
                    MessageMeta {
                        uid,
                        flags: (*flags).clone(),
                        internal_date: *date,
                        size: wire.len() as u64,
                    },
                );
            }
            let changed = !written.is_empty();
            Ok((written, changed))
        })
    }

    /// The message in wire form (CRLF line ends); `read(uid).len() == size`.
    ///
    /// The bytes are read without holding the mailbox lock, so a large message does not
    /// stall other sessions, and they are read once into one buffer.
    pub fn read(&self, uid: u32) -> Result<Bytes> {
        let body = {
            let inner = self.shared.lock();
            inner.alive()?;
            if !inner.messages.contains_key(&uid) {
                return Err(StoreError::NoSuchMessage(uid));
            }
            inner
                .backend
                .body(uid)
                .ok_or(StoreError::NoSuchMessage(uid))?
        };
        match body.read() {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Renamed (a flag change) or removed since we looked: look again, locked.
                let body = {
                    let mut inner = self.shared.lock();
                    inner.alive()?;
                    if !inner.messages.contains_key(&uid) {
                        return Err(StoreError::NoSuchMessage(uid));
                    }
                    inner
                        .backend
                        .find(uid)
                        .ok_or(StoreError::NoSuchMessage(uid))?
                };
                body.read().map_err(|e| match e.kind() {
                    std::io::ErrorKind::NotFound => StoreError::NoSuchMessage(uid),
                    _ => StoreError::io(format!("reading message UID {uid}"), e),
                })
            }
            Err(e) => Err(StoreError::io(format!("reading message UID {uid}"), e)),
        }
    }

    /// Changes the flags of the given messages (IMAP STORE); returns the new flags of each
    /// UID that exists, in the order given. UIDs that do not exist are skipped.
    pub fn set_flags(&self, uids: &[u32], op: FlagOp, flags: &Flags) -> Result<Vec<(u32, Flags)>> {
        self.shared.change(|inner| {
            let mut out = Vec::with_capacity(uids.len());
            let mut changed = false;
            for &uid in uids {
                let Some(current) = inner.messages.get(&uid).map(|m| m.flags.clone()) else {
                    continue;
                };
                let new = op.apply(&current, flags);
                if new != current {
                    inner.backend.set_flags(uid, &new)?;
                    if let Some(m) = inner.messages.get_mut(&uid) {
                        m.flags = new.clone();
                    }
                    changed = true;
                }
                out.push((uid, new));
            }
            Ok((out, changed))
        })
    }

    /// Copies messages to `dest` with their flags and internal dates (IMAP COPY, UIDPLUS
    /// COPYUID); returns `(source uid, new uid in dest)` for each UID that exists.
    /// Copying a mailbox into itself is allowed and appends copies.
    pub fn copy_to(&self, uids: &[u32], dest: &Mailbox) -> Result<Vec<(u32, u32)>> {
        let mut out = Vec::with_capacity(uids.len());
        // One message at a time, never holding both mailbox locks: no lock order to get
        // wrong, and no need to hold many messages in memory.
        for &uid in uids {
            let meta = {
                let inner = self.shared.lock();
                inner.alive()?;
                inner.messages.get(&uid).cloned()
            };
            let Some(meta) = meta else { continue };
            let bytes = match self.read(uid) {
                Ok(b) => b,
                Err(StoreError::NoSuchMessage(_)) => continue, // expunged meanwhile
                Err(e) => return Err(e),
            };
            let new_uid = dest.append(&bytes, &meta.flags, Some(meta.internal_date))?;
            out.push((uid, new_uid));
        }
        Ok(out)
    }

    /// Moves messages to `dest` (IMAP MOVE, RFC 6851): copies, then expunges the copied
    /// ones here. Returns `(source uid, new uid in dest)`.
    pub fn move_to(&self, uids: &[u32], dest: &Mailbox) -> Result<Vec<(u32, u32)>> {
        if Arc::ptr_eq(&self.shared, &dest.shared) {
            // Moving into itself changes nothing (RFC 6851 leaves it to the server).
            let inner = self.shared.lock();
            inner.alive()?;
            return Ok(uids
                .iter()
                .filter(|u| inner.messages.contains_key(u))
                .map(|&u| (u, u))
                .collect());
        }
        let pairs = self.copy_to(uids, dest)?;
        let copied: Vec<u32> = pairs.iter().map(|&(src, _)| src).collect();
        self.expunge(&copied)?;
        Ok(pairs)
    }

    /// Removes the given messages (IMAP UID EXPUNGE, POP3 UPDATE); returns the UIDs
    /// actually removed, ascending. Their UIDs are never given out again.
    pub fn expunge(&self, uids: &[u32]) -> Result<Vec<u32>> {
        let mut wanted: Vec<u32> = uids.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        self.shared.change(|inner| {
            let mut removed = Vec::new();
            let mut failure = None;
            for uid in wanted {
                if !inner.messages.contains_key(&uid) {
                    continue;
                }
                // Bytes first, then the UID list: a crash in between leaves a list entry
                // without a file, which the next open drops. The other order could bring
                // an expunged message back under a new UID.
                if let Err(e) = inner.backend.remove(uid) {
                    failure = Some(e);
                    break;
                }
                inner.messages.remove(&uid);
                removed.push(uid);
            }
            if !removed.is_empty() {
                let header = inner.header;
                inner.backend.commit(&header)?;
            }
            match failure {
                Some(e) => Err(e),
                None => {
                    let changed = !removed.is_empty();
                    Ok((removed, changed))
                }
            }
        })
    }

    /// RFC 3501 `\Recent`: returns the first UID that is recent for the caller (every
    /// UID at or above it is), and moves the mailbox's boundary to UIDNEXT so the next
    /// session to call this does not see the same messages as recent.
    pub fn claim_recent(&self) -> u32 {
        let result = self.shared.change(|inner| {
            let first = inner.header.recent_from;
            if first == inner.header.uid_next {
                return Ok((first, false));
            }
            let header = Header {
                recent_from: inner.header.uid_next,
                ..inner.header
            };
            // Persisting the boundary is a courtesy (a restart would otherwise show the
            // same messages as recent once more), not worth failing a SELECT over.
            if let Err(e) = inner.backend.commit(&header) {
                crate::backend::warn(format_args!("cannot record \\Recent boundary: {e}"));
            }
            inner.header = header;
            Ok((first, false))
        });
        match result {
            Ok(first) => first,
            Err(_) => {
                let mut inner = self.shared.lock();
                let first = inner.header.recent_from;
                inner.header.recent_from = inner.header.uid_next;
                first
            }
        }
    }

    /// A receiver of change notifications for this mailbox.
    pub fn watch(&self) -> MailboxWatch {
        MailboxWatch {
            rx: self.shared.version.subscribe(),
            _shared: self.shared.clone(),
        }
    }

    /// Picks up changes made by other programs (Maildir: files another MDA or mail client
    /// put in `new/` or `cur/`, or removed). Memory: nothing to do.
    pub fn refresh(&self) -> Result<()> {
        let mut inner = self.shared.lock();
        inner.alive()?;
        let began = inner.backend.begin()?;
        let rescanned = inner.backend.rescan();
        inner.backend.end();
        let mut changed = match began {
            Some(loaded) => inner.adopt(loaded),
            None => false,
        };
        if let Some(loaded) = rescanned? {
            changed |= inner.adopt(loaded);
        }
        drop(inner);
        if changed {
            self.shared.bump();
        }
        Ok(())
    }
}

/// Tells a session that a mailbox changed (append, flags, expunge, rename, delete), so it
/// can re-read [`Mailbox::messages`] and report the difference (IMAP IDLE, NOOP).
///
/// It carries a version number, not the events: a session that diffs snapshots can never
/// miss or misorder an event, which a bounded event channel could make it do by lagging.
pub struct MailboxWatch {
    rx: watch::Receiver<u64>,
    /// Keeps the sender alive, so `changed` never sees a closed channel.
    _shared: Arc<MailboxShared>,
}

impl MailboxWatch {
    /// Resolves when the mailbox changed since the last call (or since this watch was
    /// created). Cancel-safe: dropping the future loses nothing.
    pub async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // Unreachable while `_shared` holds the sender; never resolve rather than spin.
            std::future::pending::<()>().await;
        }
    }

    /// The mailbox's current version; it grows with every change.
    pub fn version(&self) -> u64 {
        *self.rx.borrow()
    }
}

impl std::fmt::Debug for MailboxWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxWatch")
            .field("version", &self.version())
            .finish()
    }
}
