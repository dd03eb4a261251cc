//! `yubin imap ...`: the IMAP server alone, and an IMAP client for any server.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use mini_imap::ImapServerConfig;
use mini_imap::client::ImapClient;
use mini_imap::value::Value;

pub(crate) use crate::client_tls::ClientArgs;
use crate::client_tls::Security;
use yubin_core::Transcript;

use crate::store_args::StoreArgs;

use crate::listen::ListenArgs;
use crate::show;
mod write;

/// IMAP subcommands.
#[derive(Debug, Subcommand)]
pub enum ImapCommand {
    /// Run the IMAP server on its own (port 2143 by default).
    Serve(ServeArgs),
    /// Show what the server supports.
    Capability(ClientArgs),
    /// List mailboxes matching a pattern (`*` everything, `%` one level).
    List {
        #[command(flatten)]
        client: ClientArgs,
        /// Mailbox pattern.
        #[arg(default_value = "*")]
        pattern: String,
        /// Reference name the pattern is relative to.
        #[arg(long, default_value = "")]
        reference: String,
    },
    /// Show a mailbox's counts: MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN.
    Status {
        #[command(flatten)]
        client: ClientArgs,
        /// Mailbox name.
        mailbox: String,
    },
    /// Print messages with their UID, flags and size; the mail stays on the server.
    ///
    /// On a terminal each message is shown decoded: From, To, Cc, Date and Subject, the
    /// text, and the attachments by name, type and size. When standard output is not a
    /// terminal (a pipe, a file, a script) the exact bytes are printed instead, after a
    /// `--- message` line each; `--raw` and `--decoded` choose either one explicitly, and
    /// `--json` prints both the decoded fields and the raw message.
    Fetch {
        #[command(flatten)]
        client: ClientArgs,
        #[command(flatten)]
        view: show::ViewArgs,
        /// Mailbox name.
        #[arg(default_value = "INBOX")]
        mailbox: String,
        /// Which messages, as an IMAP sequence set.
        #[arg(long, default_value = "1:*")]
        set: String,
        /// Use BODY.PEEK[], which leaves \Seen alone (BODY[] sets it).
        #[arg(long)]
        peek: bool,
    },
    /// Search a mailbox, e.g. `search INBOX SUBJECT 郵便` or `search INBOX UNSEEN`.
    Search {
        #[command(flatten)]
        client: ClientArgs,
        /// Mailbox name.
        mailbox: String,
        /// Search keys (RFC 3501 §6.4.4); words that are not atoms are quoted for you.
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        /// Print UIDs instead of sequence numbers.
        #[arg(long)]
        uid: bool,
    },
    /// Change flags, e.g. `store INBOX 1:3 +FLAGS '\Seen'` (`-FLAGS` removes, `FLAGS` sets).
    Store(write::StoreCmd),
    /// Copy messages to another mailbox; prints their new UIDs (COPYUID).
    Copy(write::CopyCmd),
    /// Move messages to another mailbox (RFC 6851); prints their new UIDs.
    Move(write::CopyCmd),
    /// Remove the messages marked \Deleted (or only some UIDs, with --uid).
    Expunge(write::ExpungeCmd),
    /// Add a message from a file to a mailbox; prints its UID (APPENDUID).
    Append(write::AppendCmd),
    /// Create a mailbox (and missing parents).
    Create(write::MailboxCmd),
    /// Delete a mailbox (not INBOX, not one with children).
    Delete(write::MailboxCmd),
    /// Rename a mailbox and its children.
    Rename(write::RenameCmd),
    /// Print changes to a mailbox as they happen (IDLE), until Ctrl-C.
    Idle(write::IdleCmd),
}

/// Options of `yubin imap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Port to listen on (0: any free port, printed at start). STARTTLS upgrades it to TLS.
    #[arg(long, default_value_t = 2143)]
    port: u16,
    #[command(flatten)]
    listen: ListenArgs,
}

/// Connects, securing the connection as asked (IMAPS or STARTTLS).
async fn connect(c: &ClientArgs, trace: &Transcript) -> anyhow::Result<ImapClient> {
    let addr = c.addr(2143, 2993);
    let connect = async {
        let client = match c.security.security()? {
            Security::Plain => ImapClient::connect(&addr, trace.clone()).await?,
            Security::Tls(tls) => {
                ImapClient::connect_tls(&addr, &c.host, &tls, trace.clone()).await?
            }
            Security::StartTls(tls) => {
                ImapClient::connect(&addr, trace.clone())
                    .await?
                    .starttls(&c.host, &tls)
                    .await?
            }
        };
        anyhow::Ok(client)
    };
    connect
        .await
        .with_context(|| format!("cannot connect to {addr}"))
}

/// Connects and logs in.
pub(crate) async fn login(c: &ClientArgs, trace: &Transcript) -> anyhow::Result<ImapClient> {
    let mut client = connect(c, trace).await?;
    client
        .login(&c.user, &c.secret())
        .await
        .with_context(|| format!("login as {} failed", c.user))?;
    Ok(client)
}

/// Runs a `yubin imap` subcommand.
pub async fn run(cmd: ImapCommand, trace: Transcript) -> anyhow::Result<ExitCode> {
    match cmd {
        ImapCommand::Serve(args) => serve(args, trace).await,
        ImapCommand::Capability(c) => {
            let mut client = connect(&c, &trace).await?;
            let caps = client.capability().await?;
            client.logout().await?;
            if c.json {
                println!("{}", serde_json::to_string(&caps)?);
            } else {
                println!("{}", caps.join(" "));
            }
            Ok(ExitCode::SUCCESS)
        }
        ImapCommand::List {
            client: c,
            pattern,
            reference,
        } => {
            let mut client = login(&c, &trace).await?;
            let list = client.list(&reference, &pattern).await?;
            client.logout().await?;
            if c.json {
                let items: Vec<serde_json::Value> = list
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "name": e.name,
                            "delimiter": e.delimiter,
                            "attributes": e.attributes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(items));
            } else {
                for e in list {
                    println!("{} ({})", e.name, e.attributes.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ImapCommand::Status { client: c, mailbox } => {
            let mut client = login(&c, &trace).await?;
            let status = client.status(&mailbox).await?;
            client.logout().await?;
            if c.json {
                let map: serde_json::Map<String, serde_json::Value> = status
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), serde_json::json!(v)))
                    .collect();
                println!("{}", serde_json::Value::Object(map));
            } else {
                let parts: Vec<String> = status.iter().map(|(k, v)| format!("{k} {v}")).collect();
                println!("{mailbox}: {}", parts.join(", "));
            }
            Ok(ExitCode::SUCCESS)
        }
        ImapCommand::Fetch {
            client: c,
            view,
            mailbox,
            set,
            peek,
        } => {
            let view = view.view(c.json);
            fetch(c, view, &mailbox, &set, peek, trace).await
        }
        ImapCommand::Search {
            client: c,
            mailbox,
            query,
            uid,
        } => {
            let mut client = login(&c, &trace).await?;
            client.select(&mailbox, true).await?;
            let hits = client.search(&search_query(&query), uid).await?;
            client.logout().await?;
            if c.json {
                println!("{}", serde_json::to_string(&hits)?);
            } else {
                let words: Vec<String> = hits.iter().map(|h| h.to_string()).collect();
                if words.is_empty() {
                    // Said on stderr: stdout stays a list of numbers for scripts.
                    eprintln!("no messages match");
                } else {
                    println!("{}", words.join(" "));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ImapCommand::Store(cmd) => write::store(cmd, trace).await,
        ImapCommand::Copy(cmd) => write::copy(cmd, false, trace).await,
        ImapCommand::Move(cmd) => write::copy(cmd, true, trace).await,
        ImapCommand::Expunge(cmd) => write::expunge(cmd, trace).await,
        ImapCommand::Append(cmd) => write::append(cmd, trace).await,
        ImapCommand::Create(cmd) => write::create_or_delete(cmd, true, trace).await,
        ImapCommand::Delete(cmd) => write::create_or_delete(cmd, false, trace).await,
        ImapCommand::Rename(cmd) => write::rename(cmd, trace).await,
        ImapCommand::Idle(cmd) => write::idle(cmd, trace).await,
    }
}

/// Builds a SEARCH query from shell words: atoms, numbers, sets and parentheses pass as
/// they are, other words are quoted; non-ASCII text gets `CHARSET UTF-8` in front.
fn search_query(words: &[String]) -> Vec<u8> {
    let atom = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| mini_imap::parse::is_atom_char(b) || b"()*".contains(&b))
    };
    let mut out = Vec::new();
    let has_charset = words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("CHARSET"));
    if !has_charset && words.iter().any(|w| !w.is_ascii()) {
        out.extend_from_slice(b"CHARSET UTF-8 ");
    }
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if atom(w) || w.starts_with('"') {
            out.extend_from_slice(w.as_bytes());
        } else {
            mini_imap::value::write_string(&mut out, w.as_bytes());
        }
    }
    out
}

async fn serve(args: ServeArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let store = args.store.open()?;
    let tls = args.listen.tls.load(&args.store)?;
    let mut config = ImapServerConfig::default();
    args.listen.apply(&mut config.listener, tls, trace);
    args.listen.warn_if_exposed();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let addr = SocketAddr::new(args.listen.bind, args.port);
    let handle = mini_imap::serve(addr, store.clone(), config, shutdown.clone())
        .await
        .with_context(|| {
            format!("cannot listen for IMAP on {addr}; choose another port with --port")
        })?;
    crate::serving::until_signal("IMAP", handle, &args.store, &store).await
}

async fn fetch(
    c: ClientArgs,
    view: show::View,
    mailbox: &str,
    set: &str,
    peek: bool,
    trace: Transcript,
) -> anyhow::Result<ExitCode> {
    let mut client = login(&c, &trace).await?;
    client.select(mailbox, false).await?;
    let body = if peek { "BODY.PEEK[]" } else { "BODY[]" };
    let fetched = client
        .fetch(set, &format!("(UID FLAGS RFC822.SIZE {body})"))
        .await?;
    client.logout().await?;
    let flags_of = |f: &mini_imap::client::Fetched| -> Vec<String> {
        match f.get("FLAGS") {
            Some(Value::List(l)) => l.iter().filter_map(Value::text).collect(),
            _ => Vec::new(),
        }
    };
    let text_of = |f: &mini_imap::client::Fetched, name: &str| f.get(name).and_then(Value::text);
    let body_of = |f: &mini_imap::client::Fetched| -> Vec<u8> {
        match f.get("BODY[]") {
            Some(Value::String(s)) => s.clone(),
            _ => Vec::new(),
        }
    };
    if view == show::View::Json {
        let items: Vec<serde_json::Value> = fetched
            .iter()
            .map(|f| {
                let mut item = serde_json::Map::new();
                item.insert("seq".into(), f.seq.into());
                let number = |name| text_of(f, name).and_then(|u| u.parse::<u64>().ok());
                item.insert("uid".into(), number("UID").into());
                item.insert("flags".into(), flags_of(f).into());
                item.insert("size".into(), number("RFC822.SIZE").into());
                item.extend(show::json_fields(&body_of(f)));
                serde_json::Value::Object(item)
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
        return Ok(ExitCode::SUCCESS);
    }
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for f in &fetched {
        writeln!(
            out,
            "--- message {} (UID {}, flags ({}), {} octets)",
            f.seq,
            text_of(f, "UID").unwrap_or_default(),
            flags_of(f).join(" "),
            text_of(f, "RFC822.SIZE").unwrap_or_default()
        )?;
        show::write_message(&mut out, view, &body_of(f))?;
    }
    writeln!(
        out,
        "--- {} fetched; they stay on the server",
        crate::words::count(fetched.len() as u64, "message")
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_words_are_quoted_and_charset_added() {
        let q = |w: &[&str]| {
            String::from_utf8(search_query(
                &w.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ))
            .unwrap()
        };
        assert_eq!(q(&["UNSEEN"]), "UNSEEN");
        assert_eq!(q(&["SUBJECT", "hello world"]), "SUBJECT \"hello world\"");
        assert!(q(&["SUBJECT", "郵便"]).starts_with("CHARSET UTF-8 SUBJECT {6}"));
        assert_eq!(q(&["OR", "FROM", "a", "(SEEN)"]), "OR FROM a (SEEN)");
    }
}
