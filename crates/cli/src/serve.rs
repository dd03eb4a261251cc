//! `yubin serve`: SMTP, POP3 and IMAP on one store, ready for a mail client.

use std::net::IpAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use mini_pop::Retention;
use yubin::servers::{Ports, Servers, ServersConfig};
use yubin_core::Transcript;

use crate::store_args::StoreArgs;

/// Options of `yubin serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address every listener binds. Anything but loopback exposes plaintext passwords.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
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
}

/// Runs the three servers until Ctrl-C or SIGTERM.
pub async fn run(args: ServeArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let config = ServersConfig {
        bind: args.bind,
        ports: Ports {
            smtp: args.smtp_port,
            pop: args.pop_port,
            imap: args.imap_port,
        },
        pop_retention: args.pop_retention,
        transcript: trace,
    };
    let servers = Servers::start(store.clone(), config)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: listening on {} without TLS: passwords cross the network in plain text",
            args.bind
        );
    }
    let host = args.bind;
    println!("yubin: SMTP, POP3 and IMAP on one store");
    println!("SMTP listening on {}", servers.smtp_addr());
    println!("POP3 listening on {}", servers.pop_addr());
    println!("IMAP listening on {}", servers.imap_addr());
    args.store.describe(&store);
    let user = store
        .account_names()
        .into_iter()
        .next()
        .unwrap_or_else(|| "any".into());
    println!("mail client settings (security: none, password: normal/plain):");
    println!(
        "  incoming IMAP  host {host}  port {}  user {user}",
        servers.imap_addr().port()
    );
    println!(
        "  incoming POP3  host {host}  port {}  user {user}",
        servers.pop_addr().port()
    );
    println!(
        "  outgoing SMTP  host {host}  port {}  no authentication needed",
        servers.smtp_addr().port()
    );
    println!("press Ctrl-C to stop");
    yubin_core::server::shutdown_signal().await;
    println!("shutting down");
    servers.stop().await;
    Ok(ExitCode::SUCCESS)
}
