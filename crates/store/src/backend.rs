//! The seam between the store's logic and its persistence.
//!
//! UIDs, flags, notifications, names and locks are implemented once, in
//! [`crate::mailbox`] and [`crate::account`]. A backend only keeps bytes and names
//! somewhere: [`crate::memory`] in `Bytes`, [`crate::maildir`] in files. The traits are
//! private so they can change with the store.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use crate::error::IoContext;
use crate::{Flags, MessageMeta, Result};

/// The per-mailbox numbers that outlive a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// RFC 3501 §2.3.1.1: changes only if UIDs could not be kept.
    pub uid_validity: u32,
    /// The UID the next message gets; never decreases.
    pub uid_next: u32,
    /// Messages with a UID at or above this are `\Recent` for the next session to claim.
    pub recent_from: u32,
}

/// A mailbox's state as read from its backend.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub header: Header,
    /// Ascending UID.
    pub messages: Vec<MessageMeta>,
}

/// Where a message's bytes are, so they can be read without holding the mailbox lock.
pub(crate) enum Body {
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
    pub(crate) fn read(self) -> std::io::Result<Bytes> {
        match self {
            Body::Bytes(b) => Ok(b),
            Body::File { path, wire_size } => {
                let raw = std::fs::read(&path)?;
                if raw.len() as u64 == wire_size {
                    Ok(Bytes::from(raw))
                } else {
                    Ok(Bytes::from(crate::wire::to_crlf(&raw).into_owned()))
                }
            }
        }
    }
}

/// Persistence of one mailbox. Every method is called with the mailbox's mutex held, so
/// implementations need no locking of their own against this process.
pub(crate) trait MailboxBackend: Send {
    /// Reads the persisted state at open (Maildir: reconciles files with the UID list).
    fn load(&mut self) -> Result<Loaded>;

    /// Picks up changes made by other programs (Maildir: rescans `new/` and `cur/`).
    /// `None` when the backend cannot change behind the store's back.
    fn rescan(&mut self) -> Result<Option<Loaded>>;

    /// Starts a change: takes the cross-process lock, and returns the fresh state if another
    /// process changed it since this one last read or wrote it.
    fn begin(&mut self) -> Result<Option<Loaded>>;

    /// Ends a change started by [`MailboxBackend::begin`].
    fn end(&mut self);

    /// Stores a message whole (Maildir: tmp → fsync → rename) under `uid`; it becomes
    /// part of the mailbox at the next [`MailboxBackend::commit`].
    fn write(
        &mut self,
        uid: u32,
        wire: &[u8],
        flags: &Flags,
        date: DateTime<FixedOffset>,
    ) -> Result<()>;

    /// Undoes a [`MailboxBackend::write`] whose commit failed.
    fn discard(&mut self, uid: u32);

    /// Makes the header and the set of messages durable.
    fn commit(&mut self, header: &Header) -> Result<()>;

    /// Where the bytes of `uid` are.
    fn body(&self, uid: u32) -> Option<Body>;

    /// Finds `uid` again after its body vanished from where [`MailboxBackend::body`] said
    /// (another program renamed it to change flags).
    fn find(&mut self, uid: u32) -> Option<Body>;

    /// Makes `flags` the message's flags, durably.
    fn set_flags(&mut self, uid: u32, flags: &Flags) -> Result<()>;

    /// Removes a message's bytes, durably (its UID leaves the list at the next commit).
    fn remove(&mut self, uid: u32) -> Result<()>;

    /// The mailbox was renamed: its storage is now where `name` lives.
    fn relocate(&mut self, name: &str);
}

/// Persistence of one account: its mailbox names and subscriptions.
pub(crate) trait AccountBackend: Send + Sync {
    /// Existing mailboxes other than INBOX, canonical names.
    fn mailbox_names(&self) -> Result<Vec<String>>;
    /// Makes an empty mailbox.
    fn create(&self, name: &str) -> Result<()>;
    /// Removes a mailbox and its messages, at once.
    fn delete(&self, name: &str) -> Result<()>;
    /// Renames one mailbox (not its children: the caller renames each).
    fn rename(&self, from: &str, to: &str) -> Result<()>;
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

/// A UIDVALIDITY for a mailbox created now: the time in seconds, but strictly above every
/// value this process handed out before, so a mailbox deleted and created again within
/// one second still gets a new one (RFC 3501 §2.3.1.1).
pub(crate) fn new_uid_validity() -> u32 {
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
        let mut f = std::fs::OpenOptions::new()
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
