//! The flags every server command shares (`serve`, `pop serve`, `imap serve`, `smtp
//! serve`): where to listen, the timeouts and limits, and TLS. One place, so the four
//! commands cannot drift apart.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use yubin_core::Transcript;
use yubin_core::driver::ListenerConfig;
use yubin_core::tls::TlsServer;

use crate::store_args::StoreArgs;

/// How a listener behaves.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Address to listen on. Anything but loopback exposes plaintext passwords.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Seconds a logged-in session may stay silent before it is closed [default: IMAP
    /// 1800 (RFC 3501 §5.4), POP3 600 (RFC 1939 §3), SMTP 300 (RFC 5321 §4.5.3.2.7)].
    #[arg(long, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Seconds a connection may stay silent before it has logged in [default: 60; SMTP 300].
    #[arg(long, value_name = "SECS")]
    pub login_timeout: Option<u64>,
    /// Connections a listener serves at once [default: 512]. When all are taken, the
    /// oldest connection that has not logged in gives way; when all have logged in, the
    /// next is refused.
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Connections a listener serves at once from one client address [default: 128].
    #[arg(long, value_name = "N")]
    pub max_per_peer: Option<usize>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl ListenArgs {
    /// Sets `listener` as the flags say, with `tls` offered for STARTTLS/STLS.
    pub fn apply(&self, listener: &mut ListenerConfig, tls: Option<TlsServer>, trace: Transcript) {
        let server = &mut listener.server;
        if let Some(secs) = self.idle_timeout {
            server.idle_timeout = Duration::from_secs(secs);
        }
        if let Some(secs) = self.login_timeout {
            server.login_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = self.max_connections {
            server.max_connections = n;
        }
        if let Some(n) = self.max_per_peer {
            server.max_per_peer = n;
        }
        listener.starttls = tls;
        listener.require_tls = self.tls.require_tls;
        listener.transcript = trace;
    }

    /// Warns when passwords would cross a network in plain text.
    pub fn warn_if_exposed(&self) {
        if !self.bind.is_loopback() && !self.tls.require_tls {
            eprintln!(
                "warning: listening on {} without --require-tls: passwords can cross the \
                 network in plain text",
                self.bind
            );
        }
    }
}

/// Where the certificate comes from.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Server certificate chain (PEM) [default: a local CA made on first start].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// No TLS at all: plaintext ports only, no STARTTLS.
    #[arg(long, conflicts_with_all = ["tls_cert", "require_tls"])]
    pub no_tls: bool,
    /// Refuse passwords, and SMTP mail, until the connection is encrypted.
    #[arg(long)]
    pub require_tls: bool,
}

impl TlsArgs {
    /// The certificate to serve, or `None` with --no-tls.
    pub fn load(&self, store: &StoreArgs) -> anyhow::Result<Option<TlsServer>> {
        if self.no_tls {
            return Ok(None);
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => TlsServer::from_pem_files(cert, key)?,
            _ => {
                let dir = store.tls_dir()?;
                TlsServer::local_ca(&dir).with_context(|| {
                    format!(
                        "cannot make the local CA in {} (the data directory must be \
                         writable; --no-tls runs without TLS, --tls-cert/--tls-key bring a \
                         certificate)",
                        dir.display()
                    )
                })?
            }
        };
        Ok(Some(tls))
    }
}
