//! `yubin-store`: accounts, mailboxes and messages, on disk (Maildir) or in memory.
//!
//! ```
//! use yubin_store::{Flag, Flags, Secret, Store};
//!
//! let store = Store::memory();
//! store.add_account("alice", Secret::from("secret"))?;
//! let alice = store.authenticate("alice", &Secret::from("secret"))?;
//! let inbox = alice.mailbox("INBOX")?;
//! let uid = inbox.append(b"Subject: hi\n\nhello\n", &Flags::new(), None)?;
//! assert_eq!(&inbox.read(uid)?[..], b"Subject: hi\r\n\r\nhello\r\n");
//! inbox.set_flags(&[uid], yubin_store::FlagOp::Add, &Flags::from([Flag::Seen]))?;
//! # Ok::<(), yubin_store::StoreError>(())
//! ```
//!
//! - [`Store`]: the accounts, and which backend keeps them ([`Store::maildir`] or
//!   [`Store::memory`]). Passwords travel as [`Secret`] and never appear in errors.
//! - [`Account`]: the mailbox hierarchy (delimiter `/`), subscriptions, special-use
//!   mailboxes (RFC 6154), the POP3 maildrop lock.
//! - [`Mailbox`]: messages by UID (RFC 3501 §2.3.1.1: strictly ascending, never reused
//!   while UIDVALIDITY stays), flags, `\Recent`, change notifications ([`MailboxWatch`]).
//! - [`Incoming`] and [`IncomingAppend`]: a message received a piece at a time (SMTP
//!   DATA through [`Store::incoming`], IMAP APPEND through [`Mailbox::incoming`]), kept
//!   by the backend as it arrives so that no one holds a large message whole in memory
//!   (Maildir: a file in `tmp/` behind a 64 KiB buffer). [`Store::deliver`] and
//!   [`Mailbox::append`] take a whole message the same way.
//!
//! Every operation is synchronous and may touch the disk (and fsync), so protocol
//! drivers call sessions on tokio's blocking pool (`yubin_core::offload`), never on an
//! async worker. Handles are cheap clones of shared state behind `std` locks that are
//! never held across an `.await` (there is no async code here).
//!
//! Every open mailbox has one live [`View`] shared by all its sessions: immutable
//! snapshots with structural sharing, kept fresh by the backend (Maildir: inotify plus a
//! cheap mtime check at each read), with a modification sequence (RFC 7162 MODSEQ) on
//! every change. Changes go through one group commit per mailbox: one durable write for
//! all the appends, flag changes and expunges that meet there.
//!
//! The logic (UIDs, modseqs, flags, names, notifications) is written once; a public
//! backend trait ([`backend::MailboxBackend`]) keeps the bytes and the index, in memory or
//! in Maildir files (see the `maildir` module docs for the on-disk layout and why a crash
//! is harmless). A new backend is one module plus one line in the conformance suite
//! (`yubin_store::testing`, behind the `testing` feature).
#![forbid(unsafe_code)]

mod account;
pub mod backend;
mod deliver;
mod error;
mod flags;
mod incoming;
mod mailbox;
mod maildir;
mod memory;
pub mod name;
mod name_events;
mod private;
mod store;
#[cfg(feature = "testing")]
pub mod testing;
mod users;
mod versions;
mod view;
pub mod wire;

pub use account::{Account, MailboxInfo, MaildropLock, SpecialUse};
pub use backend::StoreBackend;
pub use deliver::{Delivered, DeliveredCopy, Refusal};
pub use error::{Refused, StoreError};
pub use flags::{Flag, FlagOp, Flags};
pub use incoming::{Incoming, IncomingAppend};
pub use mailbox::{
    FlagsChanged, HEADER_CACHE_BYTES, Mailbox, MailboxStatus, MailboxWatch, MessageMeta, NewMessage,
};
pub use maildir::MaildirBackend;
pub use maildir::filename::host as maildir_host;
pub use memory::MemoryBackend;
pub use name_events::{AccountWatch, NAME_EVENTS_KEPT, NameEvent, NameEvents};
pub use store::{
    DEFAULT_CREATION_BURST, DEFAULT_CREATIONS_PER_SECOND, DEFAULT_MAX_ACCOUNTS, Store,
};
pub use view::{Change, ChangeKind, Uids, View};
pub use yubin_secret::Secret;

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    /// Handles cross threads and tasks: a session may run on any worker thread.
    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync + Clone>() {}
        check::<crate::Store>();
        check::<crate::Account>();
        check::<crate::Mailbox>();
        fn send<T: Send + Sync>() {}
        send::<crate::MaildropLock>();
        send::<crate::MailboxWatch>();
        send::<crate::AccountWatch>();
        send::<crate::StoreError>();
    }
}
