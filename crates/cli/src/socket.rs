//! `yubin socket ...` (placeholder until the socket-demo work lands).

/// The socket lesson's subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum SocketCommand {}

pub async fn run(
    cmd: SocketCommand,
    _trace: yubin_core::Transcript,
) -> anyhow::Result<std::process::ExitCode> {
    match cmd {}
}
