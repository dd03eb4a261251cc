//! The classic socket lesson, runnable: a TCP server on port 2000 that a client greets and
//! that answers "got it", then the homework (serve many clients at once), then the same
//! exchange over UDP to show what a datagram does not give you.
//!
//! # The lesson in five system calls
//!
//! A server socket goes through three steps before anyone can talk to it:
//! 1. **bind**: claim an address and port (here `127.0.0.1:2000`), so clients know where
//!    to find the server. Port 0 asks the kernel for any free port.
//! 2. **listen**: tell the kernel to queue incoming connections (the *backlog*) instead of
//!    refusing them.
//! 3. **accept**: take the next queued connection. This returns a *new* socket, one per
//!    client, plus the client's address; the listening socket stays open for the next one.
//!
//! Then both sides talk on the connected socket with **send** and **recv**, and finally
//! **close** it. TCP is a byte stream, not a sequence of messages: one `send` may arrive
//! as two `recv`s, or two `send`s as one. So both sides here frame their messages as lines
//! with [`yubin_core::LineCodec`]: a message is the bytes up to CRLF.
//!
//! # The homework: concurrency
//!
//! The lesson's server handled one client, then the next: while it waited for a slow
//! client's data, every other client waited too. [`tcp::serve`] gives each connection its
//! own task (through yubin-core's server runtime), so a silent client costs one idle task
//! and nobody else notices it; the idle timeout eventually drops it.
//!
//! # The contrast: UDP
//!
//! [`udp`] sends the same greeting as a datagram: no listen, no accept, no connection. A
//! datagram keeps its boundaries (no framing needed), but nothing tells the sender whether
//! it arrived: the client can only wait for an answer and give up after a timeout.
//!
//! The text of every line, in English and in the lesson's Japanese, is in [`lines`].
#![forbid(unsafe_code)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

pub mod lines;
pub mod tcp;
pub mod udp;

pub use lines::{Lang, Line, Narrator};

/// The lesson's port, for both TCP and UDP.
pub const DEFAULT_PORT: u16 = 2000;

/// What a client needs to know: where the server is, what to say, how long to wait.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Host name or IP address of the server.
    pub host: String,
    /// The server's port.
    pub port: u16,
    /// The message to send (for TCP: one line, without CR or LF).
    pub message: String,
    /// Bounds each wait: connecting (TCP) and the acknowledgement (both). A client that
    /// waits forever on a server that never answers is a hung client.
    pub timeout: Duration,
}

/// Why the demo could not do its part. Each message is one line, fit for `error: ...`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server socket could not be bound (port in use, no permission, ...).
    #[error("cannot bind {addr}: {}", plain(.error))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        error: io::Error,
    },
    /// The server's host name did not resolve to an address.
    #[error("cannot resolve {host}: {}", plain(.error))]
    Resolve {
        /// `host:port` as given.
        host: String,
        /// What the resolver said.
        error: io::Error,
    },
    /// The TCP client could not connect (nobody listening, unreachable, timed out).
    #[error("cannot connect to {addr}: {}", plain(.error))]
    Connect {
        /// `host:port` as given.
        addr: String,
        /// What the OS said.
        error: io::Error,
    },
    /// Sending or receiving failed after the socket was set up.
    #[error("{doing}: {}", plain(.error))]
    Io {
        /// What was being attempted, e.g. "cannot send to the server".
        doing: &'static str,
        /// What the OS said.
        error: io::Error,
    },
    /// A TCP message must be one line: the line is the message's frame.
    #[error("the message must be one line (no CR or LF)")]
    NotOneLine,
    /// The message is over the size the other side accepts.
    #[error("the message is {len} bytes, over the limit of {limit}")]
    MessageTooLong {
        /// The message's size in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The TCP server closed the connection without answering.
    #[error("the server closed the connection without an acknowledgement")]
    ClosedWithoutAck,
    /// The TCP server did not answer in time.
    #[error("no acknowledgement from the server within {} ms", .waited.as_millis())]
    AckTimeout {
        /// How long the client waited.
        waited: Duration,
    },
    /// The TCP server's answer was longer than a line may be.
    #[error("the server's answer is longer than {limit} bytes")]
    AnswerTooLong {
        /// The limit in bytes.
        limit: usize,
    },
}

/// An OS error as people read it: "Connection refused", not
/// "Connection refused (os error 111)".
fn plain(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    }
}

/// `host:port`, with brackets around an IPv6 literal (`[::1]:2000`).
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_as_one_plain_line() {
        let refused = io::Error::from_raw_os_error(111);
        let error = Error::Connect {
            addr: host_port("127.0.0.1", 2000),
            error: refused,
        };
        let text = error.to_string();
        assert!(
            text.starts_with("cannot connect to 127.0.0.1:2000: "),
            "{text}"
        );
        assert!(!text.contains("os error"), "{text}");
        assert_eq!(host_port("::1", 2000), "[::1]:2000");
    }
}
