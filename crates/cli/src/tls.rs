//! `yubin tls ...`: the local CA that yubin's certificates come from.

use std::process::ExitCode;

use clap::{Args, Subcommand};

/// TLS subcommands.
#[derive(Debug, Subcommand)]
pub enum TlsCommand {
    /// Print the path of the local CA certificate to trust (created on first `serve`).
    CaPath(CaPathArgs),
}

/// Options of `yubin tls ca-path`: only which data directory (accounts do not matter).
#[derive(Debug, Args)]
pub struct CaPathArgs {
    /// Data directory [default: the platform's data directory, e.g. ~/.local/share/yubin].
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data: Option<std::path::PathBuf>,
    /// The CA of `yubin serve --ephemeral`.
    #[arg(long)]
    ephemeral: bool,
}

/// Runs a `yubin tls` subcommand.
pub fn run(cmd: TlsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TlsCommand::CaPath(args) => {
            let dir = if args.ephemeral {
                crate::store_args::ephemeral_tls_dir()
            } else {
                let data = match args.data {
                    Some(dir) => dir,
                    None => yubin_store::Store::default_data_dir().ok_or_else(|| {
                        anyhow::anyhow!("no platform data directory; pass --data DIR")
                    })?,
                };
                crate::store_args::tls_dir_of(&data)
            };
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
