//! POP3 over TCP: yubin-core's driver runs the [`Session`]; this only configures it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use yubin_core::driver::{self, ListenerConfig};
use yubin_core::server::ServerConfig;
use yubin_core::{Lines, ServerHandle};
use yubin_store::Store;

use crate::session::{self, PopConfig, Session};

/// Everything a POP3 listener needs.
#[derive(Debug, Clone)]
pub struct PopServerConfig {
    /// Protocol settings (retention, APOP host name).
    pub pop: PopConfig,
    /// Socket, TLS, transcript and login-guard settings (RFC 1939 §3: an autologout
    /// timer of at least 10 minutes once logged in).
    pub listener: ListenerConfig,
    /// Longest line framed at all. Commands are held to 255 octets by the parser
    /// (RFC 2449 §4); this larger bound only admits long SASL responses.
    pub max_line: usize,
}

impl Default for PopServerConfig {
    fn default() -> Self {
        PopServerConfig {
            pop: PopConfig::default(),
            listener: ListenerConfig::new(ServerConfig::new("pop3", session::BUSY_LINE)),
            max_line: 8192,
        }
    }
}

/// Binds `addr` (port 0: any free port) and serves POP3 until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: PopServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    let pop = Arc::new(config.pop);
    let max_line = config.max_line;
    driver::serve(
        addr,
        config.listener,
        &session::GOODBYES,
        shutdown,
        move |ctx, tls| {
            // Accounts this client makes on the fly count against its address's rate.
            let store = store.for_peer(ctx.peer.ip());
            let (session, greeting) = Session::new(store, pop.clone(), tls);
            (session, Lines::new(max_line), greeting)
        },
    )
    .await
}
