//! IMAP over TCP: yubin-core's driver runs the [`Session`]; this only configures it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_core::budget::Budget;
use yubin_core::driver::{self, ListenerConfig};
use yubin_core::server::ServerConfig;
use yubin_store::Store;

use crate::codec::{CodecLimits, ImapCodec};
use crate::session::{self, ImapConfig, Session};

/// Everything an IMAP listener needs.
#[derive(Debug, Clone)]
pub struct ImapServerConfig {
    /// Protocol settings.
    pub imap: ImapConfig,
    /// Socket, TLS, transcript and login-guard settings.
    pub listener: ListenerConfig,
    /// Framing limits once logged in: line, literal, command.
    pub limits: CodecLimits,
    /// Framing limits before login (small: see [`CodecLimits::before_login`]).
    pub login_limits: CodecLimits,
    /// Bytes of literals all connections together may hold in memory (a streamed
    /// APPEND holds none); clones of this config share it.
    pub memory: Budget,
}

/// The default [`ImapServerConfig::memory`]: 64 commands of 1 MiB held at once.
pub const MEMORY_BUDGET: usize = 64 * 1024 * 1024;

impl Default for ImapServerConfig {
    fn default() -> Self {
        let mut server = ServerConfig::new("imap", session::BUSY_LINE);
        // RFC 3501 §5.4: an autologout timer must be at least 30 minutes; RFC 2177 §3
        // has clients re-issue IDLE every 29 minutes, so IDLE waits as long. Before
        // login the shorter `login_timeout` applies (RFC 9051 §5.4 allows it).
        server.idle_timeout = Duration::from_secs(30 * 60);
        ImapServerConfig {
            imap: ImapConfig::default(),
            listener: ListenerConfig::new(server),
            limits: CodecLimits::default(),
            login_limits: CodecLimits::before_login(),
            memory: Budget::new(MEMORY_BUDGET),
        }
    }
}

/// Binds `addr` (port 0: any free port) and serves IMAP until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: ImapServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    let imap = Arc::new(config.imap);
    let (before, after) = (config.login_limits, config.limits);
    let memory = config.memory;
    driver::serve(
        addr,
        config.listener,
        &session::GOODBYES,
        shutdown,
        move |ctx, tls| {
            // Accounts this client makes on the fly count against its address's rate.
            let store = store.for_peer(ctx.peer.ip());
            let (session, greeting) = Session::new(store, imap.clone(), tls);
            let codec = ImapCodec::with_login_limits(before, after).with_budget(memory.clone());
            (session, codec, greeting)
        },
    )
    .await
}
