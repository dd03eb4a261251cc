//! `yubin serve`: SMTP, POP3 and IMAP on one store, ready for a mail client, and the web
//! inbox with its HTTP API.

use std::process::ExitCode;

use clap::Args;
use mini_pop::Retention;
use yubin::servers::{Ports, Servers, ServersConfig};
use yubin_core::Transcript;
use yubin_core::session_log::{DEFAULT_MAX_LINES, DEFAULT_MAX_SESSIONS, SessionLimits, SessionLog};

use crate::http_args::HttpArgs;
use crate::listen::ListenArgs;
use crate::store_args::StoreArgs;

/// Options of `yubin serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// SMTP port (0: any free port).
    #[arg(long, default_value_t = 2025)]
    smtp_port: u16,
    /// POP3 port (0: any free port).
    #[arg(long, default_value_t = 2110)]
    pop_port: u16,
    /// IMAP port (0: any free port).
    #[arg(long, default_value_t = 2143)]
    imap_port: u16,
    /// What POP3's QUIT does to retrieved mail: `delete-on-retrieve` or `keep`.
    #[arg(long, default_value = "delete-on-retrieve")]
    pop_retention: Retention,
    /// SMTPS port: SMTP over implicit TLS [default: 2465, or 0 (any free port) when --smtp-port is 0].
    #[arg(long)]
    smtps_port: Option<u16>,
    /// POP3S port: POP3 over implicit TLS [default: 2995, or 0 (any free port) when --pop-port is 0].
    #[arg(long)]
    pop3s_port: Option<u16>,
    /// IMAPS port: IMAP over implicit TLS [default: 2993, or 0 (any free port) when --imap-port is 0].
    #[arg(long)]
    imaps_port: Option<u16>,
    /// Web inbox and HTTP API port (Mailpit's /api/v1) [default: 2080, or 0 (any free
    /// port) when --smtp-port is 0].
    #[arg(long, value_name = "PORT")]
    http_port: Option<u16>,
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    http: HttpArgs,
    /// No web inbox and HTTP API.
    // Not in conflict with --http-auth: YUBIN_HTTP_AUTH may be set for other runs.
    #[arg(
        long,
        conflicts_with_all = [
            "http_port", "http_insecure", "relay", "enable_chaos", "sessions_kept",
            "session_lines",
        ]
    )]
    no_http: bool,
    /// Let the HTTP API (`PUT /api/v1/chaos`, as Mailpit's) make SMTP refuse MAIL, RCPT
    /// or AUTH on purpose, to test how senders cope. No faults until it is used.
    #[arg(long)]
    enable_chaos: bool,
    /// Recent sessions whose transcripts the web inbox shows (the oldest is forgotten;
    /// 0: none, and no time spent on them).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_SESSIONS)]
    sessions_kept: usize,
    /// Lines kept per session for the web inbox (the oldest are dropped).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_LINES)]
    session_lines: usize,
}

/// Runs the three servers (and HTTP) until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let listen = &args.listen;
    // Refused before anything opens: HTTP beyond loopback needs a password or consent.
    let http = match args.no_http {
        true => None,
        false => Some(args.http.config(
            listen.bind,
            tls_port(
                args.http_port,
                args.smtp_port,
                yubin::servers::DEFAULT_HTTP_PORT,
            ),
        )?),
    };
    // Kept only for the web inbox; none kept (0) costs nothing per line.
    let sessions =
        (http.is_some() && args.sessions_kept > 0 && args.session_lines > 0).then(|| {
            SessionLog::new(SessionLimits {
                max_sessions: args.sessions_kept,
                max_lines: args.session_lines,
            })
        });
    let chaos = if args.enable_chaos {
        mini_smtp::Chaos::allowed()
    } else {
        mini_smtp::Chaos::disabled()
    };
    let store = args.store.open()?;
    let tls = args.listen.tls.load(&args.store)?;
    let config = ServersConfig {
        bind: listen.bind,
        ports: Ports {
            smtp: args.smtp_port,
            pop: args.pop_port,
            imap: args.imap_port,
            smtps: tls_port(args.smtps_port, args.smtp_port, 2465),
            pop3s: tls_port(args.pop3s_port, args.pop_port, 2995),
            imaps: tls_port(args.imaps_port, args.imap_port, 2993),
        },
        pop_retention: args.pop_retention,
        transcript: trace,
        tls: tls.clone(),
        require_tls: listen.tls.require_tls,
        max_connections: listen.max_connections,
        max_per_peer: listen.max_per_peer,
        login_timeout: listen.login_timeout.map(std::time::Duration::from_secs),
        idle_timeout: listen.idle_timeout.map(std::time::Duration::from_secs),
        guard: Default::default(),
        http,
        sessions,
        chaos,
    };
    // The error names the protocol, the address and the flag that chooses another port.
    let servers = Servers::start(store.clone(), config).await?;
    args.listen.warn_if_exposed();
    let host = args.listen.bind;
    println!("yubin: SMTP, POP3 and IMAP on one store");
    println!("SMTP listening on {}", servers.smtp_addr());
    println!("POP3 listening on {}", servers.pop_addr());
    println!("IMAP listening on {}", servers.imap_addr());
    if let Some([smtps, pop3s, imaps]) = servers.tls_addrs() {
        println!("SMTPS listening on {smtps}");
        println!("POP3S listening on {pop3s}");
        println!("IMAPS listening on {imaps}");
    }
    if let Some(addr) = servers.http_addr() {
        crate::http_args::banner(addr);
    }
    if args.enable_chaos {
        println!("chaos: SMTP faults can be switched on with PUT /api/v1/chaos");
    }
    args.store.describe(&store);
    if let Some(ca) = tls.as_ref().and_then(|t| t.ca_path()) {
        println!(
            "TLS: trust this CA once in your mail client or system: {}",
            ca.display()
        );
    }
    let user = store
        .account_names()
        .into_iter()
        .next()
        .unwrap_or_else(|| "any".into());
    let security = if args.listen.tls.require_tls {
        "STARTTLS"
    } else {
        "none, or STARTTLS"
    };
    let password = match args.store.default_account() {
        Some((_, password)) => format!("  password {password}"),
        None => String::new(),
    };
    println!("mail client settings (security: {security}; password: normal/plain):");
    println!(
        "  incoming IMAP  host {host}  port {}  user {user}{password}",
        servers.imap_addr().port()
    );
    println!(
        "  incoming POP3  host {host}  port {}  user {user}{password}",
        servers.pop_addr().port()
    );
    println!(
        "  outgoing SMTP  host {host}  port {}  no authentication needed",
        servers.smtp_addr().port()
    );
    if let Some([smtps, pop3s, imaps]) = servers.tls_addrs() {
        println!(
            "  with SSL/TLS   IMAP port {}, POP3 port {}, SMTP port {} (trust the CA above)",
            imaps.port(),
            pop3s.port(),
            smtps.port()
        );
    }
    if args.pop_retention == Retention::DeleteOnRetrieve {
        println!(
            "note: POP3 removes the messages a client retrieves when it quits \
             (--pop-retention keep to keep them); IMAP keeps them"
        );
    }
    println!("press Ctrl-C to stop");
    yubin_core::server::shutdown_signal().await;
    println!("shutting down");
    servers.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// An implicit-TLS (or HTTP) port: as given, else any free port when its plaintext
/// sibling asked for one (tests and parallel runs), else the standard one.
fn tls_port(given: Option<u16>, plaintext: u16, standard: u16) -> u16 {
    given.unwrap_or(if plaintext == 0 { 0 } else { standard })
}
