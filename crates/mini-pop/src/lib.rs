//! mini-pop: a POP3 server whose retrieval removes mail, and a small POP3 client.
//!
//! POP3 (RFC 1939) is the post office counter: the client logs in, takes its mail, and
//! (by default here, `delete-on-retrieve`) what it took is gone from the server when it
//! says QUIT. A session that ends any other way changes nothing. Extensions: CAPA and
//! response codes (RFC 2449), SASL PLAIN (RFC 5034, RFC 4616), APOP (RFC 1939 §7).
//!
//! - [`parse`] turns a line into a [`command::Command`] (nom);
//! - [`session`] is the state machine, no sockets;
//! - [`response`] encodes replies, byte-stuffing multi-line data;
//! - [`server`] moves bytes between sockets and sessions;
//! - [`client`] is the small client behind `yubin pop`.
#![forbid(unsafe_code)]

pub mod client;
pub mod command;
pub mod parse;
pub mod response;
pub mod server;
pub mod session;

pub use server::{PopServerConfig, serve};
pub use session::{PopConfig, Retention};
