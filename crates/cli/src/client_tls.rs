//! Connection options shared by every client subcommand (`yubin pop|imap ...`, `yubin
//! send`): where to connect, as whom, and how to secure it.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use yubin_core::tls::{TlsConnector, Verify, client_connector};
use yubin_store::{Secret, Store};

/// Where a POP3 or IMAP client connects and as whom.
#[derive(Debug, Args, Clone)]
pub struct ClientArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port [default: POP3 2110 (2995 with --tls), IMAP 2143 (2993 with --tls)].
    #[arg(long)]
    pub port: Option<u16>,
    /// User name.
    #[arg(long, default_value = "alice")]
    pub user: String,
    /// Password (or set YUBIN_PASSWORD).
    #[arg(
        long,
        env = "YUBIN_PASSWORD",
        default_value = "secret",
        hide_env_values = true
    )]
    pub password: String,
    /// Print data as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub security: ClientTlsArgs,
}

impl ClientArgs {
    /// `host:port`, the port defaulting to the protocol's plaintext or TLS one.
    pub fn addr(&self, plain: u16, tls: u16) -> String {
        let port = self
            .port
            .unwrap_or(if self.security.tls { tls } else { plain });
        format!("{}:{port}", self.host)
    }

    /// The password, wrapped so that nothing prints it.
    pub fn secret(&self) -> Secret {
        Secret::from(self.password.as_str())
    }
}

/// How a client secures its connection.
#[derive(Debug, Args, Clone)]
pub struct ClientTlsArgs {
    /// Implicit TLS (POP3S, IMAPS, SMTPS ports).
    #[arg(long, conflicts_with = "starttls")]
    pub tls: bool,
    /// Connect in plaintext, then upgrade with STARTTLS / STLS before logging in.
    #[arg(long)]
    pub starttls: bool,
    /// CA certificate to verify the server with (default: yubin's local CA, if present).
    #[arg(long, conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate (anyone in the middle can read everything).
    #[arg(long)]
    pub insecure: bool,
}

/// Which kind of connection to make.
pub enum Security {
    /// Plaintext.
    Plain,
    /// Implicit TLS.
    Tls(TlsConnector),
    /// Plaintext, then upgrade.
    StartTls(TlsConnector),
}

impl ClientTlsArgs {
    /// The CA files to verify with: `--ca`, else yubin's local CAs that exist — the data
    /// directory's and the one `yubin serve --ephemeral` uses — so a client trusts whichever
    /// of them the running server's certificate comes from.
    pub fn ca_files(&self) -> anyhow::Result<Vec<PathBuf>> {
        if let Some(ca) = &self.ca {
            return Ok(vec![ca.clone()]);
        }
        let found: Vec<PathBuf> = Store::default_data_dir()
            .map(|d| crate::store_args::tls_dir_of(&d))
            .into_iter()
            .chain([crate::store_args::ephemeral_tls_dir()])
            .map(|dir| yubin_core::tls::ca_path(&dir))
            .filter(|p| p.exists())
            .collect();
        if found.is_empty() {
            anyhow::bail!(
                "no CA to verify the server with: pass --ca FILE (see `yubin tls ca-path`) or --insecure"
            );
        }
        Ok(found)
    }

    /// The connection kind, with a connector that verifies as asked.
    pub fn security(&self) -> anyhow::Result<Security> {
        if !self.tls && !self.starttls {
            return Ok(Security::Plain);
        }
        let verify = if self.insecure {
            Verify::Nothing
        } else {
            Verify::Ca(self.ca_files()?)
        };
        let connector = client_connector(&verify).context("cannot set up TLS")?;
        Ok(if self.tls {
            Security::Tls(connector)
        } else {
            Security::StartTls(connector)
        })
    }
}
