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
            let ca = yubin_core::tls::ca_path(&dir);
            if !ca.is_file() {
                // A path that does not exist would only fail later, in the client.
                anyhow::bail!(
                    "no local CA at {} yet: `yubin serve` makes it on its first start with TLS \
                     (with the same --data)",
                    ca.display()
                );
            }
            println!("{}", ca.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
