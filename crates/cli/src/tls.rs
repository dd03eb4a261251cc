//! `yubin tls ...`: the local CA that yubin's certificates come from.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::store_args::StoreArgs;

/// TLS subcommands.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Print the path of the local CA certificate to trust (created on first `serve`).
    CaPath(CaPathArgs),
}

/// Options of `yubin tls ca-path`.
#[derive(Debug, Args)]
pub struct CaPathArgs {
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs a `yubin tls` subcommand.
pub fn run(cmd: TlsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TlsCommand::CaPath(args) => {
            let dir = args.store.tls_dir()?;
            println!("{}", yubin_core::tls::ca_path(&dir).display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
