//! `yubin smtp serve`: the SMTP server alone, as `pop serve` and `imap serve` are for
//! theirs (sending is `yubin send`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use mini_smtp::SmtpServerConfig;
use yubin_core::Transcript;

use crate::listen::ListenArgs;
use crate::store_args::StoreArgs;

/// SMTP subcommands.
#[derive(Debug, Subcommand)]
pub enum SmtpCommand {
    /// Run the SMTP server on its own (port 2025 by default); send with `yubin send`.
    Serve(ServeArgs),
}

/// Options of `yubin smtp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Port to listen on (0: any free port, printed at start). STARTTLS upgrades it to TLS.
    #[arg(long, default_value_t = 2025)]
    port: u16,
    #[command(flatten)]
    listen: ListenArgs,
}

/// Runs a `yubin smtp` subcommand.
pub async fn run(cmd: SmtpCommand, trace: Transcript) -> anyhow::Result<ExitCode> {
    match cmd {
        SmtpCommand::Serve(args) => serve(args, trace).await,
    }
}

async fn serve(args: ServeArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let tls = args.listen.tls.load(&args.store)?;
    let mut config = SmtpServerConfig::default();
    args.listen.apply(&mut config.listener, tls, trace);
    args.listen.warn_if_exposed();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let addr = SocketAddr::new(args.listen.bind, args.port);
    let handle = mini_smtp::serve(addr, store.clone(), config, shutdown.clone())
        .await
        .with_context(|| {
            format!("cannot listen for SMTP on {addr}; choose another port with --port")
        })?;
    crate::serving::until_signal("SMTP", handle, &args.store, &store).await
}
