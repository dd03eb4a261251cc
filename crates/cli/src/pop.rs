//! `yubin pop ...`: the POP3 server alone, and a POP3 client for any server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use mini_pop::client::PopClient;
use mini_pop::{PopServerConfig, Retention};
use yubin_core::Transcript;

use crate::client_tls::{ClientArgs, Security};
use crate::listen::ListenArgs;
use crate::show;
use crate::store_args::StoreArgs;

/// POP3 subcommands.
#[derive(Debug, Subcommand)]
pub enum PopCommand {
    /// Run the POP3 server on its own (port 2110 by default).
    Serve(ServeArgs),
    /// Show how many messages are waiting and their total size.
    Stat(ClientArgs),
    /// List every message with its size.
    List(ClientArgs),
    /// List every message with its unique id.
    Uidl(ClientArgs),
    /// Print a message's header and its first LINES body lines (marks nothing).
    Top {
        #[command(flatten)]
        client: ClientArgs,
        /// Message number.
        msg: u32,
        /// Body lines to show.
        lines: u32,
    },
    /// Print a message (the server may then remove it at QUIT).
    ///
    /// On a terminal the message is shown decoded: From, To, Cc, Date and Subject, the
    /// text, and the attachments by name, type and size. When standard output is not a
    /// terminal (a pipe, a file, a script) its exact bytes are printed instead; `--raw`
    /// and `--decoded` choose either one explicitly, and `--json` prints both the decoded
    /// fields and the raw message.
    Retr {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        view: show::ViewArgs,
        /// Message number.
        msg: u32,
    },
    /// Mark a message deleted; it is removed when the session QUITs.
    Dele {
        #[command(flatten)]
        client: ClientArgs,
        /// Message number.
        msg: u32,
    },
    /// Download every message as .eml files, then report what stayed on the server.
    Fetch {
        #[command(flatten)]
        client: ClientArgs,
        /// Leave the messages on the server (RSET before QUIT undoes the retrieval marks).
        #[arg(long)]
        keep: bool,
        /// Directory for the .eml files.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

/// Options of `yubin pop serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Port to listen on (0: any free port, printed at start). STLS upgrades it to TLS.
    #[arg(long, default_value_t = 2110)]
    port: u16,
    /// What QUIT does to retrieved mail: `delete-on-retrieve` (the lesson's POP) or `keep`
    /// (classic RFC 1939: only DELE removes).
    #[arg(long, default_value = "delete-on-retrieve")]
    pop_retention: Retention,
    #[command(flatten)]
    listen: ListenArgs,
}

/// Connects (securing the connection as asked) and logs in with USER/PASS.
async fn login(c: &ClientArgs, trace: &Transcript) -> anyhow::Result<PopClient> {
    let addr = c.addr(2110, 2995);
    let connect = async {
        match c.security.security()? {
            Security::Plain => Ok(PopClient::connect(&addr, trace.clone()).await?),
            Security::Tls(tls) => {
                Ok(PopClient::connect_tls(&addr, &c.host, &tls, trace.clone()).await?)
            }
            Security::StartTls(tls) => {
                let plain = PopClient::connect(&addr, trace.clone()).await?;
                Ok(plain.stls(&c.host, &tls).await?)
            }
        }
    };
    let mut client: PopClient = connect
        .await
        .map_err(|e: anyhow::Error| e)
        .with_context(|| format!("cannot connect to {addr}"))?;
    client
        .login(&c.user, &c.secret())
        .await
        .with_context(|| format!("login as {} failed", c.user))?;
    Ok(client)
}

/// Runs a `yubin pop` subcommand.
pub async fn run(cmd: PopCommand, trace: Transcript) -> anyhow::Result<ExitCode> {
    match cmd {
        PopCommand::Serve(args) => serve(args, trace).await,
        PopCommand::Stat(c) => {
            let mut client = login(&c, &trace).await?;
            let (n, octets) = client.stat().await?;
            client.quit().await?;
            if c.json {
                println!("{{\"messages\":{n},\"octets\":{octets}}}");
            } else {
                println!(
                    "{} ({})",
                    crate::words::count(n as u64, "message"),
                    crate::words::count(octets, "octet")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::List(c) => {
            let mut client = login(&c, &trace).await?;
            let list = client.list().await?;
            client.quit().await?;
            if c.json {
                let items: Vec<String> = list
                    .iter()
                    .map(|(n, s)| format!("{{\"msg\":{n},\"octets\":{s}}}"))
                    .collect();
                println!("[{}]", items.join(","));
            } else {
                for (n, s) in list {
                    println!("{n} {s}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::Uidl(c) => {
            let mut client = login(&c, &trace).await?;
            let list = client.uidl().await?;
            client.quit().await?;
            if c.json {
                let items: Vec<String> = list
                    .iter()
                    .map(|(n, u)| format!("{{\"msg\":{n},\"uid\":{}}}", json_string(u)))
                    .collect();
                println!("[{}]", items.join(","));
            } else {
                for (n, u) in list {
                    println!("{n} {u}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::Top {
            client: c,
            msg,
            lines,
        } => {
            let mut client = login(&c, &trace).await?;
            let text = client.top(msg, lines).await?;
            client.quit().await?;
            write_stdout(&text)?;
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::Retr {
            client: c,
            view,
            msg,
        } => {
            let view = view.view(c.json);
            let mut client = login(&c, &trace).await?;
            let text = client.retr(msg).await?;
            client.quit().await?;
            if view == show::View::Json {
                let mut item = serde_json::Map::new();
                item.insert("msg".into(), msg.into());
                item.insert("size".into(), text.len().into());
                item.extend(show::json_fields(&text));
                println!("{}", serde_json::Value::Object(item));
            } else {
                let mut out = Vec::new();
                show::write_message(&mut out, view, &text)?;
                write_stdout(&out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::Dele { client: c, msg } => {
            let mut client = login(&c, &trace).await?;
            client.dele(msg).await?;
            client.quit().await?;
            println!("message {msg} deleted");
            Ok(ExitCode::SUCCESS)
        }
        PopCommand::Fetch {
            client: c,
            keep,
            out,
        } => fetch(c, keep, out, trace).await,
    }
}

async fn serve(args: ServeArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let tls = args.listen.tls.load(&args.store)?;
    let mut config = PopServerConfig::default();
    config.pop.retention = args.pop_retention;
    args.listen.apply(&mut config.listener, tls, trace);
    args.listen.warn_if_exposed();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let addr = SocketAddr::new(args.listen.bind, args.port);
    let handle = mini_pop::serve(addr, store.clone(), config, shutdown.clone())
        .await
        .with_context(|| {
            format!("cannot listen for POP3 on {addr}; choose another port with --port")
        })?;
    crate::serving::until_signal("POP3", handle, &args.store, &store).await
}

async fn fetch(
    c: ClientArgs,
    keep: bool,
    out: PathBuf,
    trace: Transcript,
) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut client = login(&c, &trace).await?;
    let uidl = client.uidl().await?;
    let bar = if uidl.len() > 10 {
        indicatif::ProgressBar::new(uidl.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut bytes = 0usize;
    for (n, uid) in &uidl {
        let msg = client.retr(*n).await?;
        let name = safe_file_name(uid);
        let path = out.join(format!("{name}.eml"));
        std::fs::write(&path, &msg).with_context(|| format!("cannot write {}", path.display()))?;
        bytes += msg.len();
        bar.inc(1);
    }
    bar.finish_and_clear();
    if keep {
        client.rset().await?;
    }
    client.quit().await?;
    println!(
        "fetched {} ({}) into {}",
        crate::words::count(uidl.len() as u64, "message"),
        crate::words::count(bytes as u64, "byte"),
        out.display()
    );
    let mut again = login(&c, &trace).await?;
    let (left, octets) = again.stat().await?;
    again.quit().await?;
    println!(
        "{} ({}) stayed on the server",
        crate::words::count(left as u64, "message"),
        crate::words::count(octets, "octet")
    );
    Ok(ExitCode::SUCCESS)
}

/// A UIDL may hold any printable character (RFC 1939 §7); keep file names tame.
fn safe_file_name(uid: &str) -> String {
    let name: String = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.starts_with('.') {
        format!("_{name}")
    } else {
        name
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}
