//! The life of a single-protocol listener (`yubin pop serve`, `yubin imap serve`).

use std::process::ExitCode;

use yubin_core::ServerHandle;
use yubin_store::Store;

use crate::store_args::StoreArgs;

/// Prints where `protocol` listens and what it serves, then runs until Ctrl-C or SIGTERM
/// and shuts down gracefully (sessions are told goodbye).
pub async fn until_signal(
    protocol: &str,
    handle: ServerHandle,
    store_args: &StoreArgs,
    store: &Store,
) -> anyhow::Result<ExitCode> {
    println!("{protocol} listening on {}", handle.local_addr());
    store_args.describe(store);
    yubin_core::server::shutdown_signal().await;
    println!("shutting down");
    handle.stop().await;
    Ok(ExitCode::SUCCESS)
}
