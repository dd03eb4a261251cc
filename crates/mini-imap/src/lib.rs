//! mini-imap: an IMAP4rev1 server (RFC 3501) whose retrieval keeps the mail, and a small
//! IMAP client.
//!
//! IMAP is the lesson's "fetch a copy": a client logs in, browses mailboxes and reads
//! messages, and the messages stay on the server; reading one only sets its `\Seen`
//! flag. Extensions: LITERAL+ (RFC 7888), SASL-IR (RFC 4959) with AUTH=PLAIN (RFC 4616),
//! ID (RFC 2971), ENABLE (RFC 5161), IDLE (RFC 2177), NAMESPACE (RFC 2342), UNSELECT
//! (RFC 3691), UIDPLUS (RFC 4315), MOVE (RFC 6851), SPECIAL-USE (RFC 6154), CHILDREN
//! (RFC 3348), SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957), ESORT (RFC 5267),
//! response codes of RFC 5530; and for clients that ENABLE them, UTF8=ACCEPT (RFC 6855)
//! and IMAP4rev2 (RFC 9051, advertised beside IMAP4rev1).
//!
//! - [`codec`] frames commands, literals included, under explicit limits;
//! - [`parse`] turns a frame into a [`command::Command`] (nom, ABNF in the doc comments);
//! - [`session`] is the state machine and its gate, no sockets; [`op`] holds the
//!   handlers, one file per command group, working on [`selected::Selected`] for the
//!   selected state;
//! - [`response`] is what a handler answers, typed ([`response::Data`],
//!   [`response::Completion`]), and its one encoder; [`value`] the values inside
//!   (strings, literals, lists), both ways; [`request`] commands as a client writes them;
//! - [`capability`] is what the server offers, per connection;
//! - [`sort`] holds SORT's and THREAD's algorithms, apart from the protocol;
//! - [`mailbox_name`] converts mailbox names between the stored modified UTF-7 and the
//!   UTF-8 of clients that enabled it;
//! - [`mime`] derives ENVELOPE, BODYSTRUCTURE and sections with `mail-parser`;
//! - [`server`] moves bytes between sockets and sessions;
//! - [`client`] is the small client behind `yubin imap`.
#![forbid(unsafe_code)]

pub mod capability;
pub mod client;
pub mod codec;
pub mod command;
pub mod mailbox_name;
pub mod mime;
pub mod op;
pub mod parse;
pub mod request;
pub mod response;
pub mod selected;
pub mod server;
pub mod session;
pub mod sort;
pub mod value;

pub use server::{ImapServerConfig, serve};
pub use session::ImapConfig;
