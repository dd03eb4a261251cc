//! SMTP over TCP: the I/O glue between `yubin-core`'s runtime and the [`Session`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yubin_core::line_session::{self, DriveOptions};
use yubin_core::server::{self, ServerConfig};
use yubin_core::tls::{TlsServer, TlsState};
use yubin_core::{ServerHandle, Transcript};
use yubin_store::Store;

use crate::session::{self, Session, SmtpConfig};

/// Everything an SMTP listener needs.
#[derive(Debug, Clone)]
pub struct SmtpServerConfig {
    /// Protocol settings (size limit, recipients, host name).
    pub smtp: SmtpConfig,
    /// Socket settings; RFC 5321 §4.5.3.2.7 asks servers to wait at least 5 minutes.
    pub server: ServerConfig,
    /// Longest line framed. Commands are held to 512 octets by the parser (RFC 5321
    /// §4.5.3.1.4); message lines should stay under 1000 but real mail breaks that, so
    /// DATA lines may be this long.
    pub max_line: usize,
    /// The `--trace` transcript.
    pub transcript: Transcript,
    /// The certificate for STARTTLS (RFC 3207); `None`: STARTTLS is not offered.
    pub starttls: Option<TlsServer>,
    /// `--require-tls`: no MAIL and no AUTH until the connection is encrypted.
    pub require_tls: bool,
}

impl Default for SmtpServerConfig {
    fn default() -> Self {
        SmtpServerConfig {
            smtp: SmtpConfig::default(),
            server: ServerConfig::new("smtp", session::BUSY_LINE),
            max_line: 64 * 1024,
            transcript: Transcript::disabled(),
            starttls: None,
            require_tls: false,
        }
    }
}

/// Sent before closing a connection whose session failed (it panicked): RFC 5321 §3.8's
/// 421 with the same `4.3.0` a store error gets mid-session.
const FAILURE_LINE: &[u8] = b"421 4.3.0 internal server error; closing\r\n";

/// Binds `addr` (port 0: any free port) and serves SMTP until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: SmtpServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    let listener = server::bind(addr).await?;
    // The name we greet as is one of our domains (RFC 5321 §2.3.5): mail to
    // `user@<hostname>` is delivered here. The localhost forms always are.
    store.add_local_domain(&config.smtp.hostname);
    let smtp = Arc::new(config.smtp.clone());
    let config = Arc::new(config);
    let runtime = config.server.clone();
    server::spawn(listener, runtime, shutdown, move |stream, ctx| {
        let (store, smtp, config) = (store.clone(), smtp.clone(), config.clone());
        async move {
            let tls = TlsState {
                active: stream.is_tls(),
                upgradable: config.starttls.is_some(),
                required: config.require_tls,
            };
            let (session, greeting) =
                Session::new(store, smtp, ctx.peer, tls, config.transcript.clone());
            let options = DriveOptions {
                max_line: config.max_line,
                transcript: config.transcript.clone(),
                starttls: config.starttls.clone(),
                failure_line: FAILURE_LINE,
            };
            let result = line_session::drive(stream, &ctx, session, &greeting, &options).await;
            if let Err(e) = result {
                tracing::debug!(error = %e, "session ended with an i/o error");
            }
        }
    })
}
