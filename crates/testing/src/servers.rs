//! SMTP, POP3 and IMAP on one store, in one process: what `yubin serve` runs and what
//! [`crate::MailServer`] starts inside a test.
//!
//! With TLS configured, each protocol also gets its implicit-TLS port (SMTPS, POP3S,
//! IMAPS) and offers the in-place upgrade (STARTTLS, STLS) on its plaintext port.
//!
//! With HTTP configured, the web inbox and its Mailpit-compatible API (`yubin-web`) serve
//! the same store, with the SMTP server's chaos settings and the sessions' transcripts.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mini_smtp::Chaos;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yubin_core::driver::ListenerConfig;
use yubin_core::guard::{GuardConfig, LoginGuard};
use yubin_core::session_log::SessionLog;
use yubin_core::tls::TlsServer;
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
    /// SMTP over implicit TLS (default 2465).
    pub smtps: u16,
    /// POP3 over implicit TLS (default 2995).
    pub pop3s: u16,
    /// IMAP over implicit TLS (default 2993).
    pub imaps: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            smtp: 2025,
            pop: 2110,
            imap: 2143,
            smtps: 2465,
            pop3s: 2995,
            imaps: 2993,
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
            smtps: 0,
            pop3s: 0,
            imaps: 0,
        }
    }
}

/// How to run the servers.
#[derive(Debug, Clone)]
pub struct ServersConfig {
    /// The address every listener binds.
    pub bind: IpAddr,
    /// The ports.
    pub ports: Ports,
    /// What POP3's QUIT does to retrieved mail.
    pub pop_retention: mini_pop::Retention,
    /// The `--trace` transcript, shared by all.
    pub transcript: Transcript,
    /// The certificate; `None`: plaintext ports only, no upgrade offered.
    pub tls: Option<TlsServer>,
    /// Refuse passwords (and SMTP mail) on connections that are not encrypted.
    pub require_tls: bool,
    /// Connections each listener serves at once; `None`: the protocol crate's default.
    pub max_connections: Option<usize>,
    /// Connections each listener serves from one peer address; `None`: the default.
    pub max_per_peer: Option<usize>,
    /// How long a connection may stay silent before it logs in; `None`: each protocol's
    /// default.
    pub login_timeout: Option<std::time::Duration>,
    /// How long a logged-in session may stay silent; `None`: each protocol's default.
    pub idle_timeout: Option<std::time::Duration>,
    /// How failed logins are answered (shared by every listener).
    pub guard: GuardConfig,
    /// The web inbox and HTTP API; `None`: no HTTP.
    pub http: Option<HttpConfig>,
    /// Keeps the recent sessions' transcripts (masked as `--trace` masks them) for the
    /// web inbox; `None`: kept nowhere.
    pub sessions: Option<SessionLog>,
    /// SMTP fault injection, shared by SMTP and the HTTP API ([`Chaos::allowed`] lets the
    /// API turn it on).
    pub chaos: Chaos,
}

/// Where and how the web inbox and HTTP API run.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The port (default 2080); 0 picks a free one. The address is [`ServersConfig::bind`].
    pub port: u16,
    /// The web server's settings. Its `chaos` and `sessions` are replaced by the
    /// servers' own ([`ServersConfig::chaos`], [`ServersConfig::sessions`]), so SMTP and
    /// HTTP always share them.
    pub web: yubin_web::WebConfig,
}

/// The web inbox's port when none is given.
pub const DEFAULT_HTTP_PORT: u16 = 2080;

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            port: DEFAULT_HTTP_PORT,
            web: yubin_web::WebConfig::default(),
        }
    }
}

impl Default for ServersConfig {
    fn default() -> Self {
        ServersConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            ports: Ports::default(),
            pop_retention: mini_pop::Retention::DeleteOnRetrieve,
            transcript: Transcript::disabled(),
            tls: None,
            require_tls: false,
            max_connections: None,
            max_per_peer: None,
            login_timeout: None,
            idle_timeout: None,
            guard: GuardConfig::default(),
            http: None,
            sessions: None,
            chaos: Chaos::disabled(),
        }
    }
}

/// A listener that could not be opened, said so that the reader knows which one and what
/// to do: the protocol, the address, and the flag that picks another port.
fn cannot_listen(
    protocol: &str,
    addr: SocketAddr,
    flag: &str,
    e: std::io::Error,
) -> std::io::Error {
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "; another program (or another yubin) uses port {}: choose another with {flag} \
             (0: any free port){}",
            addr.port(),
            match protocol {
                "HTTP" => ", or run without it with --no-http",
                p if p.ends_with('S') => ", or run without TLS listeners with --no-tls",
                _ => "",
            }
        ),
        std::io::ErrorKind::PermissionDenied => {
            format!("; ports below 1024 need privileges: choose another with {flag}")
        }
        _ => String::new(),
    };
    std::io::Error::new(
        e.kind(),
        format!("cannot listen for {protocol} on {addr}: {e}{hint}"),
    )
}

/// The running servers and their shared store.
#[derive(Debug)]
pub struct Servers {
    /// The one store every protocol reads and writes.
    pub store: Store,
    smtp: ServerHandle,
    pop: ServerHandle,
    imap: ServerHandle,
    /// SMTPS, POP3S, IMAPS when TLS is configured.
    implicit: Option<[ServerHandle; 3]>,
    /// The web server's address and task, when HTTP is configured.
    http: Option<(SocketAddr, JoinHandle<std::io::Result<()>>)>,
    shutdown: CancellationToken,
}

impl Servers {
    /// Starts every listener on `store`.
    pub async fn start(store: Store, config: ServersConfig) -> std::io::Result<Servers> {
        Self::start_with_smtp(store, config, mini_smtp::SmtpConfig::default()).await
    }

    /// [`Servers::start`] with SMTP's protocol settings given (the harness's
    /// `require_auth`); their `chaos` is [`ServersConfig::chaos`].
    pub(crate) async fn start_with_smtp(
        store: Store,
        config: ServersConfig,
        mut smtp: mini_smtp::SmtpConfig,
    ) -> std::io::Result<Servers> {
        let shutdown = CancellationToken::new();
        let addr = |port| SocketAddr::new(config.bind, port);
        let tls = config.tls.clone();
        smtp.chaos = config.chaos.clone();
        // The HTTP API's `info` reads what the SMTP sessions count.
        let smtp_stats = smtp.stats.clone();
        // Every line `--trace` would print also goes to the session log, masked the same.
        let transcript = match &config.sessions {
            Some(log) => config.transcript.tee(&log.transcript()),
            None => config.transcript.clone(),
        };

        // One memory of failed logins for every listener: guessing over POP3 slows
        // IMAP and SMTP AUTH from the same address too.
        let guard = LoginGuard::new(config.guard);
        let share = |listener: &mut ListenerConfig| {
            listener.transcript = transcript.clone();
            listener.server.sessions = config.sessions.clone();
            listener.starttls = tls.clone();
            listener.require_tls = config.require_tls;
            listener.guard = guard.clone();
            if let Some(n) = config.max_connections {
                listener.server.max_connections = n;
            }
            if let Some(n) = config.max_per_peer {
                listener.server.max_per_peer = n;
            }
            if let Some(t) = config.login_timeout {
                listener.server.login_timeout = t;
            }
            if let Some(t) = config.idle_timeout {
                listener.server.idle_timeout = t;
            }
        };
        let mut smtp_config = mini_smtp::SmtpServerConfig {
            smtp,
            ..Default::default()
        };
        share(&mut smtp_config.listener);
        let mut pop_config = mini_pop::PopServerConfig::default();
        pop_config.pop.retention = config.pop_retention;
        share(&mut pop_config.listener);
        let mut imap_config = mini_imap::ImapServerConfig::default();
        share(&mut imap_config.listener);

        let token = || shutdown.child_token();
        let (a, flag) = (addr(config.ports.smtp), "--smtp-port");
        let smtp = mini_smtp::serve(a, store.clone(), smtp_config.clone(), token())
            .await
            .map_err(|e| cannot_listen("SMTP", a, flag, e))?;
        let (a, flag) = (addr(config.ports.pop), "--pop-port");
        let pop = mini_pop::serve(a, store.clone(), pop_config.clone(), token())
            .await
            .map_err(|e| cannot_listen("POP3", a, flag, e))?;
        let (a, flag) = (addr(config.ports.imap), "--imap-port");
        let imap = mini_imap::serve(a, store.clone(), imap_config.clone(), token())
            .await
            .map_err(|e| cannot_listen("IMAP", a, flag, e))?;

        let implicit = match tls {
            None => None,
            Some(tls) => {
                smtp_config.listener.server.tls = Some(tls.clone());
                pop_config.listener.server.tls = Some(tls.clone());
                imap_config.listener.server.tls = Some(tls);
                let (a, flag) = (addr(config.ports.smtps), "--smtps-port");
                let smtps = mini_smtp::serve(a, store.clone(), smtp_config, token())
                    .await
                    .map_err(|e| cannot_listen("SMTPS", a, flag, e))?;
                let (a, flag) = (addr(config.ports.pop3s), "--pop3s-port");
                let pop3s = mini_pop::serve(a, store.clone(), pop_config, token())
                    .await
                    .map_err(|e| cannot_listen("POP3S", a, flag, e))?;
                let (a, flag) = (addr(config.ports.imaps), "--imaps-port");
                let imaps = mini_imap::serve(a, store.clone(), imap_config, token())
                    .await
                    .map_err(|e| cannot_listen("IMAPS", a, flag, e))?;
                Some([smtps, pop3s, imaps])
            }
        };

        let http = match config.http {
            None => None,
            Some(http) => {
                let a = addr(http.port);
                let listener = tokio::net::TcpListener::bind(a)
                    .await
                    .map_err(|e| cannot_listen("HTTP", a, "--http-port", e))?;
                let local = listener.local_addr()?;
                let web = yubin_web::WebConfig {
                    chaos: config.chaos.clone(),
                    sessions: config.sessions.clone(),
                    smtp_stats: Some(smtp_stats.clone()),
                    ..http.web
                };
                let task = tokio::spawn(yubin_web::serve(listener, store.clone(), web, token()));
                Some((local, task))
            }
        };
        Ok(Servers {
            store,
            smtp,
            pop,
            imap,
            implicit,
            http,
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

    /// SMTPS, POP3S and IMAPS addresses, when TLS is configured.
    pub fn tls_addrs(&self) -> Option<[SocketAddr; 3]> {
        self.implicit
            .as_ref()
            .map(|h| [h[0].local_addr(), h[1].local_addr(), h[2].local_addr()])
    }

    /// The web inbox's address, when HTTP is configured.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(addr, _)| *addr)
    }

    /// Stops every listener: sessions are told goodbye, then this waits for them.
    pub async fn stop(self) {
        self.shutdown.cancel();
        if let Some((_, task)) = self.http {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("the web server ended with an error: {e}"),
                Err(e) => tracing::warn!("the web server ended with an error: {e}"),
            }
        }
        self.smtp.wait().await;
        self.pop.wait().await;
        self.imap.wait().await;
        for handle in self.implicit.into_iter().flatten() {
            handle.wait().await;
        }
        // File names catch up with the last flag changes before the process ends.
        let store = self.store.clone();
        match tokio::task::spawn_blocking(move || store.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("could not bring file names up to date: {e}"),
            Err(e) => tracing::warn!("could not bring file names up to date: {e}"),
        }
    }
}
