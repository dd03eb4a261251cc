//! `yubin`: one command to run yubin's servers and to act as a client of each.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};

mod bench;
mod client_tls;
mod deliver;
mod demo;
mod http_args;
mod imap;
mod listen;
mod pop;
mod send;
mod serve;
mod serving;
mod show;
mod smtp;
mod socket;
mod store_args;
mod tls;
mod web;
mod words;

/// yubin (郵便, "post"): a local mail server for learning and for testing mail software.
#[derive(Debug, Parser)]
#[command(
    name = "yubin",
    version,
    about,
    long_about = None,
    after_help = EXIT_STATUS
)]
struct Cli {
    /// Print every protocol line sent and received as `C: ...` / `S: ...` (passwords masked;
    /// long messages shortened to their first and last lines), for the commands that speak
    /// a protocol: serve, socket, pop, imap, send. A server labels each line with its
    /// session (`imap#3`). Give it before the command: `yubin --trace pop stat`.
    #[arg(long)]
    trace: bool,
    /// With --trace: start each line with the time of day (UTC, to the millisecond).
    #[arg(long, requires = "trace")]
    trace_time: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run SMTP, POP3 and IMAP on one store, ready for a mail client (ports
    /// 2025/2110/2143), and the web inbox (http://127.0.0.1:2080).
    Serve(serve::ServeArgs),
    /// Run the web inbox and its Mailpit-compatible HTTP API alone on a store (port 2080).
    Web(web::WebArgs),
    /// The lesson end to end: SMTP delivers, IMAP reads and keeps, POP3 takes away.
    Demo(demo::DemoArgs),
    /// The classic socket lesson: a TCP server on port 2000 that a client greets, and UDP.
    #[command(subcommand)]
    Socket(socket::SocketCommand),
    /// POP3: run the server alone, or act as a client (stat, list, uidl, top, retr, dele,
    /// fetch).
    #[command(subcommand)]
    Pop(pop::PopCommand),
    /// IMAP: run the server alone, or act as a client (capability, list, status, fetch,
    /// search, store, copy, move, expunge, append, create, delete, rename, idle).
    #[command(subcommand)]
    Imap(imap::ImapCommand),
    /// SMTP: run the server alone (send mail with `yubin send`).
    #[command(subcommand)]
    Smtp(smtp::SmtpCommand),
    /// TLS: where the local CA certificate is, to trust it once.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// Compose a message (or take an .eml file) and send it over SMTP.
    Send(send::SendArgs),
    /// Load-test a POP3, IMAP or SMTP server: sessions/s, MB/s and latency percentiles.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Put .eml and mbox files into a user's mailbox in the store.
    Deliver(deliver::DeliverArgs),
}

/// What `yubin --help` says about exit codes.
const EXIT_STATUS: &str = "Exit status: 0 when the command did what was asked; 1 when it \
failed (the line starting with `error:` says why: a port in use, a server not running, a \
refused login, ...) or, for `demo` and `bench`, when a check or a request failed; 2 for a \
command line that is not understood.";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if cli.trace
        && let Some(name) = speaks_no_protocol_itself(&cli.command)
    {
        use clap::CommandFactory;
        Cli::command()
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "--trace shows protocol lines, and `yubin {name}` shows none of its own \
                     (it works with serve, socket, pop, imap and send)"
                ),
            )
            .exit();
    }
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            // One clear line: the error and its causes, never a backtrace.
            eprintln!("error: {}", one_line(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let trace = if cli.trace {
        yubin_core::Transcript::stderr(cli.trace_time)
    } else {
        yubin_core::Transcript::disabled()
    };
    match cli.command {
        Command::Serve(args) => serve::run(args, trace).await,
        Command::Web(args) => web::run(args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Socket(cmd) => socket::run(cmd, trace).await,
        Command::Pop(cmd) => pop::run(cmd, trace).await,
        Command::Imap(cmd) => imap::run(cmd, trace).await,
        Command::Smtp(cmd) => smtp::run(cmd, trace).await,
        Command::Send(args) => send::run(args, trace).await,
        Command::Tls(cmd) => tls::run(cmd),
        Command::Bench(cmd) => bench::run(cmd).await,
        Command::Deliver(args) => deliver::run(args).await,
    }
}

/// The name of a command whose own output has no protocol lines to trace: `demo`
/// narrates its transcript anyway, `bench` runs thousands of sessions, `deliver`, `tls`
/// and `web` speak no mail protocol.
fn speaks_no_protocol_itself(command: &Command) -> Option<&'static str> {
    match command {
        Command::Demo(_) => Some("demo"),
        Command::Bench(_) => Some("bench"),
        Command::Deliver(_) => Some("deliver"),
        Command::Tls(_) => Some("tls"),
        Command::Web(_) => Some("web"),
        Command::Serve(_)
        | Command::Socket(_)
        | Command::Pop(_)
        | Command::Imap(_)
        | Command::Smtp(_)
        | Command::Send(_) => None,
    }
}

/// An error and its causes on one line, each cause once: an error whose text already
/// includes its source's (`Connection refused (os error 111)`) is not followed by that
/// source again. A refused connection gets the likely reason.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    let mut refused = false;
    for cause in e.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    if refused {
        line.push_str(" (is `yubin serve` running? Start it in another terminal)");
    }
    line
}

/// Logs go to stderr; `RUST_LOG` chooses what (default: warnings and errors, but only the
/// errors of the file watcher, which warns whenever a watched Maildir folder goes away —
/// a DELETE or RENAME the store made itself and expects). Colours only on a terminal: a
/// log written to a file or a pipe gets no escape codes.
fn init_logging() {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,notify=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
