//! The store's one error type.
//!
//! Every variant is something a protocol session can turn into a reply (`-ERR`, `NO`,
//! `451`) without looking inside. No variant ever carries a password: [`StoreError::AuthFailed`]
//! has no payload at all, and I/O contexts name paths, never credentials.

use std::io;

/// What went wrong in a store operation.
///
/// Non-exhaustive: new backends bring new ways to fail, and a protocol session should
/// answer anything it does not recognize with its generic server-error reply.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Wrong user name or password. Deliberately says neither which nor why.
    #[error("authentication failed")]
    AuthFailed,
    /// The account does not exist (and accept-any-login is off).
    #[error("no such account: {0}")]
    NoSuchAccount(String),
    /// The mailbox does not exist (or was deleted while a handle to it was held).
    #[error("no such mailbox: {0}")]
    NoSuchMailbox(String),
    /// CREATE or RENAME onto a name that is already taken.
    #[error("mailbox already exists: {0}")]
    MailboxExists(String),
    /// A mailbox or account name that is refused before any file system access.
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The refused name, as given.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A valid mailbox name that this backend cannot store: Maildir++ keeps a whole
    /// hierarchy in one directory name, escaped, and the file system takes at most 255
    /// bytes. An implementation limit rather than a bad name (IMAP `NO [LIMIT]`, RFC 5530
    /// §3). CREATE and RENAME check every name they would store before changing anything,
    /// so this refusal changes nothing.
    #[error("name too long for this store {name:?}: {reason}")]
    NameTooLong {
        /// The refused name (the new name of the mailbox or of one of its inferiors).
        name: String,
        /// Which limit it exceeds.
        reason: &'static str,
    },
    /// DELETE of a mailbox that has inferior mailboxes (RFC 3501 §6.3.4).
    #[error("mailbox has children: {0}")]
    HasChildren(String),
    /// DELETE of INBOX, which RFC 3501 §6.3.4 forbids.
    #[error("INBOX cannot be deleted")]
    CannotDeleteInbox,
    /// No message with this UID in the mailbox.
    #[error("no such message: UID {0}")]
    NoSuchMessage(u32),
    /// The POP3 maildrop of this account is held by another session (RFC 2449 `[IN-USE]`).
    #[error("maildrop of {0} is locked by another session")]
    Locked(String),
    /// The file system refused (permission denied, disk full, ...).
    #[error("{context}: {source}")]
    Io {
        /// What the store was doing, usually with the path.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A configured limit would be passed (RFC 5530 `LIMIT`).
    #[error("limit reached: at most {limit} {what}")]
    Limit {
        /// What is limited.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// A configuration file given to the store (the users file) cannot be used; the text
    /// says which file and where, never its content (it may hold passwords).
    #[error("{0}")]
    Config(String),
    /// A state file is unreadable or inconsistent.
    #[error("corrupt store state: {0}")]
    Corrupt(String),
    /// A backend that is not plain files failed (a database refused a query, lost its
    /// connection, hit a constraint, ...). [`StoreError::Io`] stays for file-system errors;
    /// this variant keeps the backend's own error as the source instead of forcing it into
    /// an `io::Error`.
    #[error("{backend} backend: {message}")]
    Backend {
        /// Which backend failed, e.g. `"sqlite"`; for logs, never shown to clients.
        backend: &'static str,
        /// What the store was doing and what went wrong; like [`StoreError::Io`]'s
        /// context, it never contains a credential.
        message: String,
        /// The backend's own error, when there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// Why the file system refused a write, as a client should be told (RFC 5530 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No space left on the device, or a disk quota reached (ENOSPC, EDQUOT): IMAP
    /// `OVERQUOTA`, SMTP 452 4.3.1, POP3 `SYS/TEMP`.
    DiskFull,
    /// A read-only file system or a permission denied (EROFS, EACCES, EPERM): IMAP
    /// `NOPERM`.
    ReadOnly,
}

impl StoreError {
    /// Whether the store failed because the disk is full or read-only: conditions a
    /// person can act on, told apart from internal errors (`SERVERBUG`).
    pub fn refused(&self) -> Option<Refused> {
        let StoreError::Io { source, .. } = self else {
            return None;
        };
        match source.kind() {
            io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(Refused::DiskFull),
            io::ErrorKind::ReadOnlyFilesystem | io::ErrorKind::PermissionDenied => {
                Some(Refused::ReadOnly)
            }
            _ => None,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        StoreError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to `std::io::Result`s inside the crate.
pub(crate) trait IoContext<T> {
    /// Turns an `io::Error` into [`StoreError::Io`] with a context built lazily.
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::io(context(), e))
    }
}
