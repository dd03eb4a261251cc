//! A mail server for your own tests, like GreenMail's JUnit extension.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let server = yubin::testing::MailServer::start().await?;
//! // Point your code at server.smtp_addr() (and POP3/IMAP at pop_addr()/imap_addr()),
//! // send mail with it, then look at what arrived:
//! let inbox = server.messages("alice");
//! assert!(inbox.is_empty());
//! server.stop().await;
//! # Ok(()) }
//! ```
//!
//! Everything lives in memory and every protocol is on a free port, so tests run in
//! parallel. The account `alice` / `secret` exists; add more with [`MailServer::with_users`]
//! or accept any address with [`MailServer::accepting_any_address`].

use std::net::SocketAddr;

use bytes::Bytes;
use yubin_store::{Secret, Store};

use crate::servers::{Ports, Servers, ServersConfig};

/// SMTP, POP3 and IMAP on free local ports, over an in-memory store.
#[derive(Debug)]
pub struct MailServer {
    servers: Servers,
}

impl MailServer {
    /// Starts with the account `alice` / `secret`.
    pub async fn start() -> std::io::Result<MailServer> {
        Self::with_users(&[("alice", "secret")]).await
    }

    /// Starts with the given accounts (name, password).
    pub async fn with_users(users: &[(&str, &str)]) -> std::io::Result<MailServer> {
        let store = Store::memory();
        for (name, password) in users {
            store
                .add_account(name, Secret::from(*password))
                .map_err(std::io::Error::other)?;
        }
        Self::on(store).await
    }

    /// Starts with accept-any-login: every recipient address and every login works,
    /// creating the account on first use: mail to `Bob@example.com` (any domain) lands
    /// in the account `bob`.
    pub async fn accepting_any_address() -> std::io::Result<MailServer> {
        let store = Store::memory();
        store.set_accept_any_login(true);
        store.set_catch_all_domains(true);
        Self::on(store).await
    }

    async fn on(store: Store) -> std::io::Result<MailServer> {
        let config = ServersConfig {
            ports: Ports::any(),
            ..ServersConfig::default()
        };
        Ok(MailServer {
            servers: Servers::start(store, config).await?,
        })
    }

    /// Where to send mail (SMTP).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.servers.smtp_addr()
    }

    /// Where to read mail with POP3.
    pub fn pop_addr(&self) -> SocketAddr {
        self.servers.pop_addr()
    }

    /// Where to read mail with IMAP.
    pub fn imap_addr(&self) -> SocketAddr {
        self.servers.imap_addr()
    }

    /// The store, for direct inspection or to put mail in without SMTP.
    pub fn store(&self) -> &Store {
        &self.servers.store
    }

    /// The messages in `user`'s INBOX, oldest first, as stored (with the trace headers
    /// SMTP added). An unknown user has none.
    pub fn messages(&self, user: &str) -> Vec<Bytes> {
        let Ok(inbox) = self.store().account(user).and_then(|a| a.mailbox("INBOX")) else {
            return Vec::new();
        };
        inbox
            .messages()
            .unwrap_or_default()
            .iter()
            .filter_map(|m| inbox.read(m.uid).ok())
            .collect()
    }

    /// Stops the servers and waits for every session to end.
    pub async fn stop(self) {
        self.servers.stop().await;
    }
}
