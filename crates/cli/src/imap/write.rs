//! `yubin imap store|copy|move|expunge|append|create|delete|rename|idle`: the client
//! side of IMAP part 2, one subcommand per command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mini_imap::client::{Fetched, response_code};
use mini_imap::value::Value;
use yubin_core::Transcript;

use super::{ClientArgs, login};

/// `yubin imap store`.
#[derive(Debug, Args)]
pub struct StoreCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Mailbox name.
    mailbox: String,
    /// Which messages, as an IMAP sequence set (UIDs with --uid).
    set: String,
    /// `+FLAGS` adds, `-FLAGS` removes, `FLAGS` replaces (`.SILENT` suppresses the answer).
    #[arg(allow_hyphen_values = true)]
    action: String,
    /// The flags, e.g. '\Seen' '\Flagged' '$Label'.
    #[arg(required = true, num_args = 1..)]
    flags: Vec<String>,
    /// The set holds UIDs (UID STORE).
    #[arg(long)]
    uid: bool,
}

/// `yubin imap copy` and `yubin imap move`.
#[derive(Debug, Args)]
pub struct CopyCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Source mailbox.
    mailbox: String,
    /// Which messages, as an IMAP sequence set (UIDs with --uid).
    set: String,
    /// Destination mailbox.
    dest: String,
    /// The set holds UIDs (UID COPY / UID MOVE).
    #[arg(long)]
    uid: bool,
}

/// `yubin imap expunge`.
#[derive(Debug, Args)]
pub struct ExpungeCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Mailbox name.
    #[arg(default_value = "INBOX")]
    mailbox: String,
    /// Only these UIDs (UID EXPUNGE, RFC 4315); without it every \Deleted message goes.
    #[arg(long)]
    uid: Option<String>,
}

/// `yubin imap append`.
#[derive(Debug, Args)]
pub struct AppendCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Destination mailbox.
    mailbox: String,
    /// The message (.eml, RFC 5322).
    file: PathBuf,
    /// A flag to set on it; repeat for more (`--flag '\Seen' --flag '\Draft'`).
    #[arg(long = "flag")]
    flags: Vec<String>,
}

/// `yubin imap create` and `yubin imap delete`.
#[derive(Debug, Args)]
pub struct MailboxCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Mailbox name (`/` separates levels).
    mailbox: String,
}

/// `yubin imap rename`.
#[derive(Debug, Args)]
pub struct RenameCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Current name.
    from: String,
    /// New name; children move along. Renaming INBOX moves its messages.
    to: String,
}

/// `yubin imap idle`.
#[derive(Debug, Args)]
pub struct IdleCmd {
    #[command(flatten)]
    client: ClientArgs,
    /// Mailbox to watch.
    #[arg(default_value = "INBOX")]
    mailbox: String,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    seconds: Option<u64>,
}

fn flags_of(f: &Fetched) -> Vec<String> {
    match f.get("FLAGS") {
        Some(Value::List(l)) => l.iter().filter_map(Value::text).collect(),
        _ => Vec::new(),
    }
}

/// STORE: prints each message's flags afterwards.
pub async fn store(cmd: StoreCmd, trace: Transcript) -> anyhow::Result<ExitCode> {
    let c = &cmd.client;
    let mut client = login(c, &trace).await?;
    client.select(&cmd.mailbox, false).await?;
    let action = format!("{} ({})", cmd.action, cmd.flags.join(" "));
    let fetched = client.store(&cmd.set, &action, cmd.uid).await?;
    client.logout().await?;
    if c.json {
        let items: Vec<serde_json::Value> = fetched
            .iter()
            .map(|f| {
                serde_json::json!({
                    "seq": f.seq,
                    "uid": f.get("UID").and_then(Value::text).and_then(|u| u.parse::<u64>().ok()),
                    "flags": flags_of(f),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        for f in &fetched {
            println!("message {}: flags ({})", f.seq, flags_of(f).join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// COPY or MOVE: prints the UIDs the messages got in the destination (COPYUID).
pub async fn copy(cmd: CopyCmd, is_move: bool, trace: Transcript) -> anyhow::Result<ExitCode> {
    let c = &cmd.client;
    let mut client = login(c, &trace).await?;
    client.select(&cmd.mailbox, false).await?;
    let r = client.copy(&cmd.set, &cmd.dest, cmd.uid, is_move).await?;
    client.logout().await?;
    // COPY: `[COPYUID v src dst]` in the completion; MOVE: in an untagged OK before it.
    let untagged_ok = r
        .untagged
        .iter()
        .filter_map(|u| std::str::from_utf8(u).ok()?.strip_prefix("OK "))
        .find_map(|t| response_code(t).map(str::to_owned));
    let code = response_code(&r.text).map(str::to_owned).or(untagged_ok);
    let mapping = code
        .as_deref()
        .and_then(|c| c.strip_prefix("COPYUID "))
        .and_then(|c| {
            let mut w = c.split(' ');
            Some((w.next()?, w.next()?, w.next()?))
        });
    let verb = if is_move { "moved" } else { "copied" };
    match (mapping, c.json) {
        (Some((validity, src, dst)), true) => println!(
            "{}",
            serde_json::json!({"uidvalidity": validity, "source": src, "dest": dst})
        ),
        (Some((validity, src, dst)), false) => println!(
            "{verb} UIDs {src} to {} as UIDs {dst} (UIDVALIDITY {validity})",
            cmd.dest
        ),
        (None, true) => println!("null"),
        (None, false) => println!("nothing {verb}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// EXPUNGE or UID EXPUNGE: prints the sequence numbers removed, as the server said them.
pub async fn expunge(cmd: ExpungeCmd, trace: Transcript) -> anyhow::Result<ExitCode> {
    let c = &cmd.client;
    let mut client = login(c, &trace).await?;
    client.select(&cmd.mailbox, false).await?;
    let gone = client.expunge(cmd.uid.as_deref()).await?;
    client.logout().await?;
    if c.json {
        println!("{}", serde_json::to_string(&gone)?);
    } else {
        println!(
            "{} expunged",
            crate::words::count(gone.len() as u64, "message")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// APPEND: prints the new message's UID (APPENDUID).
pub async fn append(cmd: AppendCmd, trace: Transcript) -> anyhow::Result<ExitCode> {
    let message =
        std::fs::read(&cmd.file).with_context(|| format!("cannot read {}", cmd.file.display()))?;
    let c = &cmd.client;
    let mut client = login(c, &trace).await?;
    let text = client
        .append(&cmd.mailbox, &cmd.flags, None, &message)
        .await?;
    client.logout().await?;
    let appended = response_code(&text)
        .and_then(|c| c.strip_prefix("APPENDUID "))
        .and_then(|c| c.split_once(' '));
    match (appended, c.json) {
        (Some((validity, uid)), true) => {
            println!(
                "{}",
                serde_json::json!({"uidvalidity": validity, "uid": uid})
            )
        }
        (Some((validity, uid)), false) => println!(
            "appended to {} as UID {uid} (UIDVALIDITY {validity})",
            cmd.mailbox
        ),
        (None, true) => println!("null"),
        (None, false) => println!("appended to {}", cmd.mailbox),
    }
    Ok(ExitCode::SUCCESS)
}

/// CREATE (`create` true) or DELETE.
pub async fn create_or_delete(
    cmd: MailboxCmd,
    create: bool,
    trace: Transcript,
) -> anyhow::Result<ExitCode> {
    let mut client = login(&cmd.client, &trace).await?;
    if create {
        client.create(&cmd.mailbox).await?;
    } else {
        client.delete(&cmd.mailbox).await?;
    }
    client.logout().await?;
    let verb = if create { "created" } else { "deleted" };
    println!("{verb} {}", cmd.mailbox);
    Ok(ExitCode::SUCCESS)
}

/// RENAME.
pub async fn rename(cmd: RenameCmd, trace: Transcript) -> anyhow::Result<ExitCode> {
    let mut client = login(&cmd.client, &trace).await?;
    client.rename(&cmd.from, &cmd.to).await?;
    client.logout().await?;
    println!("renamed {} to {}", cmd.from, cmd.to);
    Ok(ExitCode::SUCCESS)
}

/// How long one IDLE lasts before it is re-issued: RFC 2177 asks clients to end IDLE at
/// least every 29 minutes, so servers with a 30-minute timeout do not log them out.
const IDLE_ROUND: Duration = Duration::from_secs(28 * 60);

/// IDLE: prints each update as it comes (`* 3 EXISTS`), until Ctrl-C or `--seconds`.
pub async fn idle(cmd: IdleCmd, trace: Transcript) -> anyhow::Result<ExitCode> {
    let c = &cmd.client;
    let mut client = login(c, &trace).await?;
    client.select(&cmd.mailbox, true).await?;
    let deadline = cmd
        .seconds
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    if !c.json {
        println!("watching {}; Ctrl-C to stop", cmd.mailbox);
    }
    let json = c.json;
    let print = |u: &[u8]| {
        let line = String::from_utf8_lossy(u);
        if json {
            println!("{}", serde_json::json!({ "update": line }));
        } else {
            println!("* {line}");
        }
    };
    loop {
        let round_end = tokio::time::Instant::now() + IDLE_ROUND;
        let until = deadline.map_or(round_end, |d| d.min(round_end));
        let finished = client
            .idle(print, async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => true,
                    _ = tokio::time::sleep_until(until) => deadline.is_some_and(|d| until >= d),
                }
            })
            .await?;
        if finished {
            break;
        }
    }
    client.logout().await?;
    Ok(ExitCode::SUCCESS)
}
