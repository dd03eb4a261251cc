//! `yubin socket ...`: the classic socket lesson, over TCP and over UDP.
//!
//! Every line the lesson narrates goes to stdout, flushed as it is said, so a reader (or a
//! test) sees each step as it happens. `--trace` adds the bytes on the wire to stderr.
//!
//! Errors are told in the lesson's language too: one `error: ...` line on stderr, or
//! `エラー: ...` with `--lang ja`.
//!
//! Exit status: 0 when the exchange completed; 1 on an error, including a client the
//! server turned away as busy; 3 when `udp-client` got no acknowledgement in time.

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::process::ExitCode;
use std::task::Poll;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use socket_demo::{ClientOptions, DEFAULT_PORT, Lang, Narrator, tcp, udp};
use yubin_core::Transcript;

/// Exit status of `udp-client` when no acknowledgement came back in time.
const EXIT_NO_ACK: u8 = 3;

/// The socket lesson's subcommands.
#[derive(Debug, Subcommand)]
pub enum SocketCommand {
    /// The lesson's TCP server on port 2000: answers each greeting with an acknowledgement.
    ///
    /// Serves many clients at once (the lesson's homework), or exactly one with --once (the
    /// lesson's server). Serving many, it numbers them as they connect and labels each line
    /// with its client ("[client 3] Connection closed"). Ctrl-C or SIGTERM closes it
    /// gracefully.
    Server(ServerArgs),
    /// The lesson's TCP client: connects, sends its greeting, prints the acknowledgement.
    ///
    /// Exit status: 0 when the acknowledgement came back, 1 on an error (no server, or a
    /// server busy with --max-connections clients that turned this one away).
    Client(ClientArgs),
    /// The same server over UDP: no listen, no accept, no connection.
    UdpServer(UdpServerArgs),
    /// The same client over UDP: one datagram out, and a timeout for the answer.
    ///
    /// Exit status: 0 when the acknowledgement came back, 3 when none came within
    /// --timeout-ms (UDP cannot say whether anyone is listening), 1 on other errors.
    UdpClient(UdpClientArgs),
}

/// The lesson's language.
#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum LangArg {
    /// English.
    #[default]
    En,
    /// Japanese, the lesson's own words.
    Ja,
}

impl From<LangArg> for Lang {
    fn from(lang: LangArg) -> Lang {
        match lang {
            LangArg::En => Lang::En,
            LangArg::Ja => Lang::Ja,
        }
    }
}

/// Options of `yubin socket server`.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to bind (0: any free port; the real one is printed).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Serve exactly one client, then close the server socket (the lesson's server).
    #[arg(long)]
    once: bool,
    /// Seconds a client may stay silent before it is dropped.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Clients served at once; one more is told the server is busy and closed (the server
    /// says so, and the client exits with status 1).
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Language of the narration and of the acknowledgement.
    #[arg(long, value_enum, default_value_t)]
    lang: LangArg,
}

/// Options of `yubin socket client`.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// What to say (one line). Default: the lesson's greeting in --lang.
    #[arg(long)]
    message: Option<String>,
    /// Milliseconds to wait for the connection and for the acknowledgement.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Language of the narration and of the default message.
    #[arg(long, value_enum, default_value_t)]
    lang: LangArg,
}

/// Options of `yubin socket udp-server`.
#[derive(Debug, Args)]
pub struct UdpServerArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Port to bind (0: any free port; the real one is printed).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Answer one datagram, then close the socket.
    #[arg(long)]
    once: bool,
    /// Language of the narration and of the acknowledgement.
    #[arg(long, value_enum, default_value_t)]
    lang: LangArg,
}

/// Options of `yubin socket udp-client`.
#[derive(Debug, Args)]
pub struct UdpClientArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// What to say. Default: the lesson's greeting in --lang.
    #[arg(long)]
    message: Option<String>,
    /// Milliseconds to wait for the acknowledgement before giving up (exit status 3).
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Language of the narration and of the default message.
    #[arg(long, value_enum, default_value_t)]
    lang: LangArg,
}

/// Runs one `yubin socket` subcommand. Its errors are printed here, in its `--lang`.
pub async fn run(cmd: SocketCommand, trace: Transcript) -> anyhow::Result<ExitCode> {
    let lang = Lang::from(match &cmd {
        SocketCommand::Server(args) => args.lang,
        SocketCommand::Client(args) => args.lang,
        SocketCommand::UdpServer(args) => args.lang,
        SocketCommand::UdpClient(args) => args.lang,
    });
    match lesson(cmd, trace).await {
        Ok(code) => Ok(code),
        Err(error) => {
            eprintln!("{}{}", lang.error_prefix(), error.render(lang));
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn lesson(cmd: SocketCommand, trace: Transcript) -> Result<ExitCode, socket_demo::Error> {
    match cmd {
        SocketCommand::Server(args) => {
            let narrator = stdout_narrator(args.lang.into());
            let shutdown = armed_shutdown_signal().await;
            let listener = tcp::bind(SocketAddr::new(args.bind, args.port), &narrator).await?;
            let options = tcp::ServerOptions {
                idle_timeout: Duration::from_secs(args.idle_timeout),
                max_connections: args.max_connections as usize,
            };
            if args.once {
                tcp::serve_once(listener, &options, &narrator, &trace, shutdown).await?;
            } else {
                tcp::serve(listener, &options, &narrator, &trace, shutdown).await?;
            }
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::Client(args) => {
            let lang = Lang::from(args.lang);
            let options = client_options(args.host, args.port, args.message, lang, args.timeout_ms);
            tcp::client(&options, &stdout_narrator(lang), &trace).await?;
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::UdpServer(args) => {
            let narrator = stdout_narrator(args.lang.into());
            let shutdown = armed_shutdown_signal().await;
            let socket = udp::bind(SocketAddr::new(args.bind, args.port), &narrator).await?;
            udp::serve(socket, args.once, &narrator, &trace, shutdown).await?;
            Ok(ExitCode::SUCCESS)
        }
        SocketCommand::UdpClient(args) => {
            let lang = Lang::from(args.lang);
            let options = client_options(args.host, args.port, args.message, lang, args.timeout_ms);
            match udp::client(&options, &stdout_narrator(lang), &trace).await? {
                udp::Outcome::Acknowledged(_) => Ok(ExitCode::SUCCESS),
                udp::Outcome::NoAck => Ok(ExitCode::from(EXIT_NO_ACK)),
            }
        }
    }
}

fn client_options(
    host: String,
    port: u16,
    message: Option<String>,
    lang: Lang,
    timeout_ms: u64,
) -> ClientOptions {
    ClientOptions {
        host,
        port,
        message: message.unwrap_or_else(|| lang.greeting().to_owned()),
        timeout: Duration::from_millis(timeout_ms),
    }
}

/// Narration to stdout, one whole line per write, flushed at once: a reader watching the
/// output (a person, or a test reading a pipe) sees every step the moment it happens.
/// A closed stdout is not worth failing the server for, so write errors are ignored.
fn stdout_narrator(lang: Lang) -> Narrator {
    Narrator::new(lang, |line| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    })
}

/// The Ctrl-C/SIGTERM future, with its handlers already installed.
///
/// `shutdown_signal` installs them when first polled; until then a SIGTERM would kill the
/// process outright. Polling it once here, before the server says it is listening, means
/// a signal sent the moment "listening" is read still shuts the server down gracefully.
async fn armed_shutdown_signal() -> Pin<Box<dyn Future<Output = ()> + Send>> {
    let mut signal = Box::pin(yubin_core::server::shutdown_signal());
    let fired = std::future::poll_fn(|cx| Poll::Ready(signal.as_mut().poll(cx).is_ready())).await;
    if fired {
        // Already complete; a finished future must not be polled again.
        Box::pin(std::future::ready(()))
    } else {
        signal
    }
}
