//! SMTP over TCP: yubin-core's driver runs the [`Session`]; this only configures it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yubin_core::driver::{self, ListenerConfig};
use yubin_core::server::ServerConfig;
use yubin_core::{Lines, ServerHandle};
use yubin_store::Store;

use crate::session::{self, Session, SmtpConfig};

/// Everything an SMTP listener needs.
#[derive(Debug, Clone)]
pub struct SmtpServerConfig {
    /// Protocol settings (size limit, recipients, host name).
    pub smtp: SmtpConfig,
    /// Socket, TLS, transcript and login-guard settings.
    pub listener: ListenerConfig,
    /// Longest line framed. Commands are held to 512 octets by the parser (RFC 5321
    /// §4.5.3.1.4); message lines should stay under 1000 but real mail breaks that, so
    /// DATA lines may be this long.
    pub max_line: usize,
}

impl Default for SmtpServerConfig {
    fn default() -> Self {
        let mut server = ServerConfig::new("smtp", session::BUSY_LINE);
        // RFC 5321 §4.5.3.2.7: a server waits at least 5 minutes for the next command,
        // and most SMTP clients never log in, so the wait is the same before AUTH.
        server.idle_timeout = Duration::from_secs(5 * 60);
        server.login_timeout = server.idle_timeout;
        SmtpServerConfig {
            smtp: SmtpConfig::default(),
            listener: ListenerConfig::new(server),
            max_line: 64 * 1024,
        }
    }
}

/// Binds `addr` (port 0: any free port) and serves SMTP until `shutdown` is cancelled.
pub async fn serve(
    addr: SocketAddr,
    store: Store,
    config: SmtpServerConfig,
    shutdown: CancellationToken,
) -> std::io::Result<ServerHandle> {
    // The name we greet as is one of our domains (RFC 5321 §2.3.5): mail to
    // `user@<hostname>` is delivered here. The localhost forms always are.
    store.add_local_domain(&config.smtp.hostname);
    let smtp = Arc::new(config.smtp);
    let max_line = config.max_line;
    driver::serve(
        addr,
        config.listener,
        &session::GOODBYES,
        shutdown,
        move |ctx, tls| {
            // Accounts this client makes on the fly count against its address's rate.
            let store = store.for_peer(ctx.peer.ip());
            let (session, greeting) = Session::new(store, smtp.clone(), ctx.peer, tls);
            (session, Lines::new(max_line), greeting)
        },
    )
    .await
}
