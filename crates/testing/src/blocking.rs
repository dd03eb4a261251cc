//! The same server for plain `#[test]` functions: no async, its own runtime.
//!
//! ```
//! use std::time::Duration;
//! use yubin_testing::blocking::MailServer;
//!
//! let server = MailServer::start().unwrap();
//! server.deliver("alice", b"Subject: hi\r\n\r\nhello\r\n").unwrap();
//! let inbox = server.wait_for_messages("alice", 1, Duration::from_secs(5)).unwrap();
//! assert_eq!(inbox[0].subject(), Some("hi"));
//! server.stop();
//! ```
//!
//! Do not call it from inside an async runtime: waiting blocks the thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use yubin_store::Store;

use crate::{Received, Retention, Timeout, TranscriptLine};

/// [`crate::MailServer`] with blocking methods.
#[derive(Debug)]
pub struct MailServer {
    inner: crate::MailServer,
}

/// How to start a blocking [`MailServer`]: from [`MailServer::builder`]. The settings
/// are [`crate::Builder`]'s.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    inner: crate::Builder,
}

impl Builder {
    /// See [`crate::Builder::user`].
    pub fn user(self, name: &str, password: &str) -> Self {
        Builder {
            inner: self.inner.user(name, password),
        }
    }

    /// See [`crate::Builder::accept_any_login`].
    pub fn accept_any_login(self, on: bool) -> Self {
        Builder {
            inner: self.inner.accept_any_login(on),
        }
    }

    /// See [`crate::Builder::tls`].
    pub fn tls(self, on: bool) -> Self {
        Builder {
            inner: self.inner.tls(on),
        }
    }

    /// See [`crate::Builder::require_auth`].
    pub fn require_auth(self, on: bool) -> Self {
        Builder {
            inner: self.inner.require_auth(on),
        }
    }

    /// See [`crate::Builder::pop_retention`].
    pub fn pop_retention(self, retention: Retention) -> Self {
        Builder {
            inner: self.inner.pop_retention(retention),
        }
    }

    /// See [`crate::Builder::http`].
    pub fn http(self, on: bool) -> Self {
        Builder {
            inner: self.inner.http(on),
        }
    }

    /// See [`crate::Builder::chaos`].
    pub fn chaos(self, on: bool) -> Self {
        Builder {
            inner: self.inner.chaos(on),
        }
    }

    /// See [`crate::Builder::data_dir`].
    pub fn data_dir(self, path: impl Into<PathBuf>) -> Self {
        Builder {
            inner: self.inner.data_dir(path),
        }
    }

    /// Starts the servers.
    pub fn start(self) -> std::io::Result<MailServer> {
        Ok(MailServer {
            inner: self.inner.start_blocking()?,
        })
    }
}

impl MailServer {
    /// Starts with the account `alice` / `secret`.
    pub fn start() -> std::io::Result<MailServer> {
        Builder::default().start()
    }

    /// A server to configure, then [`Builder::start`].
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// See [`crate::MailServer::smtp_addr`].
    pub fn smtp_addr(&self) -> SocketAddr {
        self.inner.smtp_addr()
    }

    /// See [`crate::MailServer::pop_addr`].
    pub fn pop_addr(&self) -> SocketAddr {
        self.inner.pop_addr()
    }

    /// See [`crate::MailServer::imap_addr`].
    pub fn imap_addr(&self) -> SocketAddr {
        self.inner.imap_addr()
    }

    /// See [`crate::MailServer::smtps_addr`].
    pub fn smtps_addr(&self) -> SocketAddr {
        self.inner.smtps_addr()
    }

    /// See [`crate::MailServer::pop3s_addr`].
    pub fn pop3s_addr(&self) -> SocketAddr {
        self.inner.pop3s_addr()
    }

    /// See [`crate::MailServer::imaps_addr`].
    pub fn imaps_addr(&self) -> SocketAddr {
        self.inner.imaps_addr()
    }

    /// See [`crate::MailServer::http_addr`].
    pub fn http_addr(&self) -> SocketAddr {
        self.inner.http_addr()
    }

    /// See [`crate::MailServer::http_url`].
    pub fn http_url(&self) -> String {
        self.inner.http_url()
    }

    /// See [`crate::MailServer::chaos`].
    pub fn chaos(&self) -> &crate::Chaos {
        self.inner.chaos()
    }

    /// See [`crate::MailServer::ca_pem`].
    pub fn ca_pem(&self) -> &str {
        self.inner.ca_pem()
    }

    /// See [`crate::MailServer::has_tls`].
    pub fn has_tls(&self) -> bool {
        self.inner.has_tls()
    }

    /// See [`crate::MailServer::store`].
    pub fn store(&self) -> &Store {
        self.inner.store()
    }

    /// See [`crate::MailServer::wait_for_messages`]; blocks the calling thread.
    pub fn wait_for_messages(
        &self,
        account: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Received>, Timeout> {
        self.inner
            .runtime()
            .block_on(self.inner.wait_for_messages(account, n, timeout))
    }

    /// See [`crate::MailServer::received`].
    pub fn received(&self) -> Vec<Received> {
        self.inner.received()
    }

    /// See [`crate::MailServer::messages`].
    pub fn messages(&self, account: &str) -> Vec<Received> {
        self.inner.messages(account)
    }

    /// See [`crate::MailServer::add_user`].
    pub fn add_user(&self, name: &str, password: &str) -> std::io::Result<()> {
        self.inner.add_user(name, password)
    }

    /// See [`crate::MailServer::deliver`].
    pub fn deliver(&self, account: &str, raw: &[u8]) -> std::io::Result<u32> {
        self.inner.deliver(account, raw)
    }

    /// See [`crate::MailServer::purge`].
    pub fn purge(&self) {
        self.inner.purge()
    }

    /// See [`crate::MailServer::transcript`].
    pub fn transcript(&self) -> Vec<TranscriptLine> {
        self.inner.transcript()
    }

    /// Stops the servers and waits for every session to end.
    pub fn stop(self) {
        self.inner.stop_blocking();
    }
}
