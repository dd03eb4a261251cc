//! yubin-core: the plumbing every yubin protocol shares.
//!
//! - [`codec::LineCodec`] frames CRLF-terminated lines of raw bytes (mail is 8-bit).
//! - [`driver`] runs every protocol's session state machine over a connection: framing,
//!   timeouts by state, pipelining, STARTTLS, IDLE, the transcript and the login guard.
//! - [`guard::LoginGuard`] holds back failed-login replies, per peer address.
//! - [`budget::Budget`] bounds the bytes all connections together hold in memory.
//! - [`slots`]: connection slots, a per-address share, and eviction of the oldest
//!   connection that has not logged in when a listener is full.
//! - [`offload::Offloaded`] runs a session's store calls on tokio's blocking pool, never
//!   on an async worker.
//! - [`server`] binds, accepts, limits, times out and shuts down connections.
//! - [`transcript::Transcript`] prints a `C:`/`S:` conversation with credentials masked.
//! - [`session_log::SessionLog`] keeps the recent sessions' transcripts in bounded
//!   memory, for a live view.
//! - [`tls`] and [`stream::Stream`]: TLS with rustls, implicit and STARTTLS.
//! - [`deflate`]: the DEFLATE stream layer of IMAP COMPRESS (RFC 4978).
//! - [`sasl`]: SASL PLAIN, shared by POP3, SMTP and IMAP.
//! - [`Secret`] (re-exported from `yubin-secret`) carries passwords without ever printing them.
//!
//! This crate knows nothing of mail: the protocol crates give it their own
//! refusal and goodbye lines.
#![forbid(unsafe_code)]

pub mod budget;
pub mod codec;
pub mod deflate;
pub mod driver;
pub mod guard;
pub mod offload;
pub mod sasl;
pub mod server;
pub mod session_log;
pub mod slots;
pub mod stream;
pub mod tls;
pub mod transcript;

pub use codec::{FrameError, Input, Line, LineCodec, LineError, Lines};
pub use server::{Next, ServerConfig, ServerHandle, SessionContext};
pub use transcript::Transcript;
pub use yubin_secret::Secret;
