//! yubin-core: the plumbing every yubin protocol shares.
//!
//! - [`codec::LineCodec`] frames CRLF-terminated lines of raw bytes (mail is 8-bit).
//! - [`line_session`] drives a line protocol's state machine over a connection.
//! - [`offload::Offloaded`] runs a session's store calls on tokio's blocking pool, never
//!   on an async worker.
//! - [`server`] binds, accepts, limits, times out and shuts down connections.
//! - [`transcript::Transcript`] prints a `C:`/`S:` conversation with credentials masked.
//! - [`tls`] and [`stream::Stream`]: TLS with rustls, implicit and STARTTLS.
//! - [`sasl`]: SASL PLAIN, shared by POP3, SMTP and IMAP.
//! - [`Secret`] (re-exported from `yubin-secret`) carries passwords without ever printing them.
//!
//! This crate knows nothing of mail: the protocol crates give it their own
//! refusal and goodbye lines.
#![forbid(unsafe_code)]

pub mod codec;
pub mod line_session;
pub mod offload;
pub mod sasl;
pub mod server;
pub mod stream;
pub mod tls;
pub mod transcript;

pub use codec::{LineCodec, LineError};
pub use server::{Next, ServerConfig, ServerHandle, SessionContext};
pub use transcript::Transcript;
pub use yubin_secret::Secret;
