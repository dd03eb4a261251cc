//! POP3 over TCP: the I/O glue between `yubin-core`'s runtime and the [`Session`].

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yubin_core::line_session::{self, DriveOptions};
use yubin_core::server::{self, ServerConfig, SessionContext};
use yubin_core::stream::Stream;
use yubin_core::tls::{TlsServer, TlsState};
use yubin_core::{ServerHandle, Transcript};
use yubin_store::Store;

use crate::session::{self, PopConfig, Session};

/// Everything a POP3 listener needs.
#[derive(Debug, Clone)]
pub struct PopServerConfig {
    /// Protocol settings (retention, failed logins).
    pub pop: PopConfig,
    /// Socket settings: connection limit, idle timeout (RFC 1939 §3: at least 10 minutes).
    pub server: ServerConfig,
    /// Longest line framed at all. Commands are held to 255 octets by the parser
    /// (RFC 2449 §4); this larger bound only admits long SASL responses.
    pub max_line: usize,
    /// The `--trace` transcript.
    pub transcript: Transcript,
    /// The certificate for STLS (RFC 2595); `None`: STLS is not offered.
    pub starttls: Option<TlsServer>,
    /// `--require-tls`: refuse USER/PASS/APOP/AUTH until the connection is encrypted.
    pub require_tls: bool,
}

impl Default for PopServerConfig {
    fn default() -> Self {
        PopServerConfig {
            pop: PopConfig::default(),
            server: ServerConfig::new("pop3", session::BUSY_LINE),
            max_line: 8192,
            transcript: Transcript::disabled(),
            starttls: None,
            require_tls: false,
        }
    }
}

/// Sent before closing a connection whose session failed (it panicked): the `[SYS/TEMP]`
/// error a store failure gets mid-session (RFC 3206), then the connection closes.
const FAILURE_LINE: &[u8] = b"-ERR [SYS/TEMP] internal server error; closing\r\n";

/// Binds `addr` (port 0: any free port) and serves POP3 until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: PopServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    let listener = server::bind(addr).await?;
    let shared = Arc::new((store, Arc::new(config.pop.clone()), config.clone()));
    server::spawn(listener, config.server, shutdown, move |stream, ctx| {
        let shared = shared.clone();
        async move {
            let (store, pop, config) = &*shared;
            if let Err(e) = run_session(stream, ctx, store.clone(), pop.clone(), config).await {
                tracing::debug!(error = %e, "session ended with an i/o error");
            }
        }
    })
}

async fn run_session(
    stream: Stream,
    ctx: SessionContext,
    store: Store,
    pop: Arc<PopConfig>,
    config: &PopServerConfig,
) -> std::io::Result<()> {
    let tls = TlsState {
        active: stream.is_tls(),
        upgradable: config.starttls.is_some(),
        required: config.require_tls,
    };
    let (session, greeting) = Session::new(store, pop, tls, config.transcript.clone());
    let options = DriveOptions {
        max_line: config.max_line,
        transcript: config.transcript.clone(),
        starttls: config.starttls.clone(),
        failure_line: FAILURE_LINE,
    };
    line_session::drive(stream, &ctx, session, &greeting, &options).await
}
