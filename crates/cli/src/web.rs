//! `yubin web`: the web inbox and its HTTP API alone on a store, as `pop serve` and
//! `imap serve` are for theirs (`yubin serve` runs it beside the mail servers).

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::http_args::HttpArgs;
use crate::store_args::StoreArgs;

/// Options of `yubin web`.
#[derive(Debug, Args)]
pub struct WebArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Address to listen on. Anything but loopback needs --http-auth (or --http-insecure).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, value_name = "PORT", default_value_t = yubin::servers::DEFAULT_HTTP_PORT)]
    http_port: u16,
    #[command(flatten)]
    http: HttpArgs,
}

/// Serves the web inbox until Ctrl-C or SIGTERM.
pub async fn run(args: WebArgs) -> anyhow::Result<ExitCode> {
    let http = args.http.config(args.bind, args.http_port)?;
    let store = args.store.open()?;
    let addr = SocketAddr::new(args.bind, http.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen for HTTP on {addr}; choose another port with --http-port")
    })?;
    crate::http_args::banner(listener.local_addr()?);
    args.store.describe(&store);
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(yubin_web::serve(
        listener,
        store.clone(),
        http.web,
        shutdown.clone(),
    ));
    yubin_core::server::shutdown_signal().await;
    println!("shutting down");
    shutdown.cancel();
    server.await.context("the web server failed")??;
    Ok(ExitCode::SUCCESS)
}
