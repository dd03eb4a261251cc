//! mini-smtp: an SMTP ingest server (RFC 5321) that delivers into the yubin store.
//!
//! It is the front door of `yubin serve`: a mail client or a test sends mail here, and it
//! lands in the recipients' INBOX, where POP3 and IMAP read it. Extensions: PIPELINING
//! (RFC 2920), 8BITMIME (RFC 6152), SIZE (RFC 1870), ENHANCEDSTATUSCODES (RFC 2034),
//! SMTPUTF8 (RFC 6531), AUTH PLAIN and LOGIN (RFC 4954). It relays nothing.
//!
//! [`chaos`] makes it refuse MAIL, RCPT or AUTH on demand (Mailpit's fault injection, set
//! through the web API), to test how senders cope; it is off unless the server allows it.
#![forbid(unsafe_code)]

pub mod chaos;
pub mod command;
pub mod parse;
pub mod response;
pub mod server;
pub mod session;
pub mod stats;

pub use chaos::Chaos;
pub use server::{SmtpServerConfig, serve};
pub use session::SmtpConfig;
pub use stats::{SmtpCounts, SmtpStats};
