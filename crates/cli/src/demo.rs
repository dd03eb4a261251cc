//! `yubin demo`: the lesson, end to end, on a throwaway server.
//!
//! Three messages go in over SMTP. IMAP reads them and logs out; a second IMAP session
//! opens the INBOX read-only (EXAMINE) and finds them still on the server, now `\Seen`.
//! POP3 retrieves them and QUITs: they are gone, for IMAP too. Every step is announced,
//! prints the protocol conversation and checks that the server behaved as narrated; the
//! exit code is 0 only if every step did.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Args, ValueEnum};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use mini_imap::client::ImapClient;
use mini_imap::value::Value;
use mini_pop::client::PopClient;
use yubin::servers::{Ports, Servers, ServersConfig};
use yubin_core::{Secret, Transcript};
use yubin_store::Store;

/// Options of `yubin demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Narration language.
    #[arg(long, value_enum, default_value = "en")]
    lang: Lang,
}

/// The narration's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// English.
    En,
    /// 日本語.
    Ja,
}

/// Every sentence the demo says, in both languages.
struct Text {
    title: &'static str,
    servers: &'static str,
    step_send: &'static str,
    step_imap: &'static str,
    step_check: &'static str,
    step_pop: &'static str,
    step_look: &'static str,
    on_server: &'static str,
    all_seen: &'static str,
    gone: &'static str,
    empty: &'static str,
    table: [&'static str; 3],
    imap_did: &'static str,
    pop_did: &'static str,
    imap_left: &'static str,
    pop_left: &'static str,
    moral: &'static str,
    ok: &'static str,
    failed: &'static str,
}

const EN: Text = Text {
    title: "yubin demo: POP takes your mail away from the server; IMAP reads a copy and leaves it there.",
    servers: "A throwaway mail server (in memory, user alice):",
    step_send: "Step 1. Send three messages to alice over SMTP.",
    step_imap: "Step 2. Read them over IMAP (FETCH BODY[]), then log out.",
    step_check: "Step 3. Log in over IMAP again and look without changing anything: EXAMINE opens the INBOX read-only, FETCH FLAGS asks for the flags.",
    step_pop: "Step 4. Retrieve them over POP3 (RETR), then QUIT.",
    step_look: "Step 5. Look at the INBOX again over IMAP (EXAMINE, SEARCH ALL).",
    on_server: "messages on the server",
    all_seen: "every one now carries the \\Seen flag: IMAP marked them read and left them in place",
    gone: "POP3 removed what it retrieved when the session QUIT",
    empty: "the INBOX is empty: one store, so what POP took is gone for IMAP too",
    table: [
        "protocol",
        "what the client did",
        "the server's copy afterwards",
    ],
    imap_did: "FETCH BODY[], LOGOUT",
    pop_did: "RETR 1..3, QUIT",
    imap_left: "kept (3 messages, \\Seen)",
    pop_left: "removed (0 messages)",
    moral: "POP is picking up your mail at the post office; IMAP is reading it where it is kept.",
    ok: "every step behaved as narrated",
    failed: "a step did not behave as narrated",
};

const JA: Text = Text {
    title: "yubin デモ: POP はメールをサーバーから持ち帰り、IMAP はコピーを読んでサーバーに残します。",
    servers: "使い捨てのメールサーバー（メモリ上、ユーザー alice）:",
    step_send: "ステップ1. SMTP で alice にメールを3通送ります。",
    step_imap: "ステップ2. IMAP で読み（FETCH BODY[]）、ログアウトします。",
    step_check: "ステップ3. もう一度 IMAP でログインし、何も変えずに見ます。EXAMINE で受信箱を読み取り専用で開き、FETCH FLAGS でフラグを尋ねます。",
    step_pop: "ステップ4. POP3 で受信し（RETR）、QUIT します。",
    step_look: "ステップ5. もう一度 IMAP で受信箱を見ます（EXAMINE、SEARCH ALL）。",
    on_server: "サーバー上のメール",
    all_seen: "どれも \\Seen（既読）になりました。IMAP は既読にして、サーバーに残します",
    gone: "POP3 は QUIT の時に、受信したメールをサーバーから削除しました",
    empty: "受信箱は空です。保存場所は一つなので、POP が持ち帰ったメールは IMAP からも消えました",
    table: [
        "プロトコル",
        "クライアントがしたこと",
        "サーバー上のメールはその後",
    ],
    imap_did: "FETCH BODY[], LOGOUT",
    pop_did: "RETR 1..3, QUIT",
    imap_left: "残る（3通、既読）",
    pop_left: "削除（0通）",
    moral: "POP は郵便局に郵便物を取りに行くこと、IMAP は郵便局に置いたまま読むことです。",
    ok: "すべてのステップが説明どおりに動きました",
    failed: "説明どおりに動かなかったステップがあります",
};

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let t = match args.lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    };
    // The server's own transcript shows every protocol line, whoever the client is.
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    let sink = lines.clone();
    let transcript = Transcript::to_sink(move |dir, line| {
        sink.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Transcript::format(dir, line));
    });
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret"))?;
    let servers = Servers::start(
        store.clone(),
        ServersConfig {
            ports: Ports::any(),
            transcript,
            ..ServersConfig::default()
        },
    )
    .await
    .context("cannot start the demo servers")?;
    println!("{}\n", t.title);
    println!("{}", t.servers);
    println!(
        "  SMTP {}  POP3 {}  IMAP {}\n",
        servers.smtp_addr(),
        servers.pop_addr(),
        servers.imap_addr()
    );

    let mut ok = true;
    let inbox = store.account("alice")?.mailbox("INBOX")?;
    let count = || inbox.messages().map(|m| m.len()).unwrap_or(usize::MAX);

    println!("{}", t.step_send);
    send_three(&servers).await?;
    show(&lines);
    ok &= verdict(count() == 3, &format!("{}: {}", t.on_server, count()));

    println!("\n{}", t.step_imap);
    imap_read_all(&servers).await?;
    show(&lines);
    ok &= verdict(count() == 3, &format!("{}: {}", t.on_server, count()));

    println!("\n{}", t.step_check);
    let seen = imap_count_seen(&servers).await?;
    show(&lines);
    ok &= verdict(seen == 3, t.all_seen);

    println!("\n{}", t.step_pop);
    pop_take_all(&servers).await?;
    show(&lines);
    ok &= verdict(
        count() == 0,
        &format!("{}: {} — {}", t.on_server, count(), t.gone),
    );

    println!("\n{}", t.step_look);
    let left = imap_count(&servers).await?;
    show(&lines);
    ok &= verdict(left == 0, t.empty);

    println!();
    let rows = [
        [t.table[0], t.table[1], t.table[2]],
        ["IMAP", t.imap_did, t.imap_left],
        ["POP3", t.pop_did, t.pop_left],
    ];
    print_table(&rows);
    println!("\n{}", t.moral);
    servers.stop().await;
    if ok {
        println!("{}", t.ok);
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{}", t.failed);
        Ok(ExitCode::FAILURE)
    }
}

async fn send_three(servers: &Servers) -> anyhow::Result<()> {
    let addr = servers.smtp_addr();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .build();
    for (i, subject) in ["Hello", "Meeting at noon", "郵便のテスト"]
        .iter()
        .enumerate()
    {
        let message = Message::builder()
            .from("teacher@example.com".parse()?)
            .to("alice@localhost".parse()?)
            .subject(*subject)
            .body(format!("Message {} of 3.\n", i + 1))?;
        smtp.send(message).await.context("SMTP send failed")?;
    }
    Ok(())
}

/// Reads every message over IMAP (which sets `\Seen`) and logs out.
async fn imap_read_all(servers: &Servers) -> anyhow::Result<()> {
    let mut c = imap_login(servers).await?;
    c.select("INBOX", false).await?;
    c.fetch("1:*", "(BODY[])").await?;
    c.logout().await?;
    Ok(())
}

/// How many messages a new IMAP session sees as `\Seen`, looking read-only (EXAMINE), so
/// that looking changes nothing.
async fn imap_count_seen(servers: &Servers) -> anyhow::Result<usize> {
    let mut c = imap_login(servers).await?;
    c.select("INBOX", true).await?;
    let fetched = c.fetch("1:*", "(FLAGS)").await?;
    c.logout().await?;
    Ok(fetched
        .iter()
        .filter(|f| match f.get("FLAGS") {
            Some(Value::List(flags)) => flags.iter().any(|x| x.text().as_deref() == Some("\\Seen")),
            _ => false,
        })
        .count())
}

async fn imap_count(servers: &Servers) -> anyhow::Result<usize> {
    let mut c = imap_login(servers).await?;
    c.select("INBOX", true).await?;
    let all = c.search(b"ALL", false).await?;
    c.logout().await?;
    Ok(all.len())
}

async fn imap_login(servers: &Servers) -> anyhow::Result<ImapClient> {
    let mut c =
        ImapClient::connect(&servers.imap_addr().to_string(), Transcript::disabled()).await?;
    c.login("alice", &Secret::from("secret")).await?;
    Ok(c)
}

async fn pop_take_all(servers: &Servers) -> anyhow::Result<()> {
    let mut c = PopClient::connect(&servers.pop_addr().to_string(), Transcript::disabled()).await?;
    c.login("alice", &Secret::from("secret")).await?;
    let (n, _) = c.stat().await?;
    for i in 1..=n {
        c.retr(i).await?;
    }
    c.quit().await?;
    Ok(())
}

/// Prints the server transcript gathered since the last call, indented.
fn show(lines: &Mutex<Vec<String>>) {
    let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
    for l in lines.drain(..) {
        println!("    {l}");
    }
}

fn verdict(ok: bool, what: &str) -> bool {
    println!("  {} {what}", if ok { "✔" } else { "✘" });
    ok
}

/// A plain-text table, columns padded by display width (CJK characters are two wide).
fn print_table(rows: &[[&str; 3]]) {
    let width = |s: &str| {
        s.chars()
            .map(|c| if (c as u32) >= 0x1100 { 2 } else { 1 })
            .sum::<usize>()
    };
    let widths: Vec<usize> = (0..3)
        .map(|i| rows.iter().map(|r| width(r[i])).max().unwrap_or(0))
        .collect();
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - width(cell))))
            .collect();
        println!("| {} |", cells.join(" | "));
        if n == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            println!("|-{}-|", rule.join("-|-"));
        }
    }
}
