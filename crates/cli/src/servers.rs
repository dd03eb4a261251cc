//! SMTP, POP3 and IMAP on one store, in one process: what `yubin serve` runs and what
//! [`crate::testing::MailServer`] starts inside a test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio_util::sync::CancellationToken;
use yubin_core::{ServerHandle, Transcript};
use yubin_store::Store;

/// Where each protocol listens. Port 0 picks a free port.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// SMTP (default 2025).
    pub smtp: u16,
    /// POP3 (default 2110).
    pub pop: u16,
    /// IMAP (default 2143).
    pub imap: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            smtp: 2025,
            pop: 2110,
            imap: 2143,
        }
    }
}

impl Ports {
    /// Every protocol on a free port: what tests want.
    pub fn any() -> Self {
        Ports {
            smtp: 0,
            pop: 0,
            imap: 0,
        }
    }
}

/// How to run the three servers.
#[derive(Debug, Clone)]
pub struct ServersConfig {
    /// The address every listener binds.
    pub bind: IpAddr,
    /// The ports.
    pub ports: Ports,
    /// What POP3's QUIT does to retrieved mail.
    pub pop_retention: mini_pop::Retention,
    /// The `--trace` transcript, shared by all three.
    pub transcript: Transcript,
}

impl Default for ServersConfig {
    fn default() -> Self {
        ServersConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            pop_retention: mini_pop::Retention::DeleteOnRetrieve,
            transcript: Transcript::disabled(),
        }
    }
}

/// The three running servers and their shared store.
#[derive(Debug)]
pub struct Servers {
    /// The one store every protocol reads and writes.
    pub store: Store,
    smtp: ServerHandle,
    pop: ServerHandle,
    imap: ServerHandle,
    shutdown: CancellationToken,
}

impl Servers {
    /// Starts SMTP, POP3 and IMAP on `store`.
    pub async fn start(store: Store, config: ServersConfig) -> std::io::Result<Servers> {
        let shutdown = CancellationToken::new();
        let addr = |port| SocketAddr::new(config.bind, port);

        let mut smtp_config = mini_smtp::SmtpServerConfig::default();
        smtp_config.transcript = config.transcript.clone();
        let smtp = mini_smtp::serve(
            addr(config.ports.smtp),
            store.clone(),
            smtp_config,
            shutdown.child_token(),
        )
        .await?;

        let mut pop_config = mini_pop::PopServerConfig::default();
        pop_config.pop.retention = config.pop_retention;
        pop_config.transcript = config.transcript.clone();
        let pop = mini_pop::serve(
            addr(config.ports.pop),
            store.clone(),
            pop_config,
            shutdown.child_token(),
        )
        .await?;

        let mut imap_config = mini_imap::ImapServerConfig::default();
        imap_config.transcript = config.transcript.clone();
        let imap = mini_imap::serve(
            addr(config.ports.imap),
            store.clone(),
            imap_config,
            shutdown.child_token(),
        )
        .await?;

        Ok(Servers {
            store,
            smtp,
            pop,
            imap,
            shutdown,
        })
    }

    /// SMTP's address (with the real port).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.smtp.local_addr()
    }

    /// POP3's address.
    pub fn pop_addr(&self) -> SocketAddr {
        self.pop.local_addr()
    }

    /// IMAP's address.
    pub fn imap_addr(&self) -> SocketAddr {
        self.imap.local_addr()
    }

    /// Stops all three: sessions are told goodbye, then this waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.smtp.wait().await;
        self.pop.wait().await;
        self.imap.wait().await;
    }
}
