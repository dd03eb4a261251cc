//! `yubin bench`: the store loads run against a server and measure without errors, and
//! `bench fill` writes a Maildir that a server picks up.

mod common;

use common::{ServerProcess, port_of, run_with_timeout, yubin};
use serde_json::Value;
use yubin::testing::MailServer;

/// Runs `yubin bench ARGS --json` (off the async runtime) and returns its JSON line.
async fn bench(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let (ok, out, err) = run_with_timeout(yubin().arg("bench").args(&args).arg("--json"), 60);
        assert!(ok, "bench {args:?} failed: {out}{err}");
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
    })
    .await
    .unwrap()
}

fn args(proto: &str, port: u16, more: &[&str]) -> Vec<String> {
    let mut a = vec![proto.to_owned(), "--port".to_owned(), port.to_string()];
    a.extend(more.iter().map(|s| (*s).to_owned()));
    a
}

fn assert_clean(what: &str, j: &Value) {
    assert_eq!(j["errors"], 0, "{what}: {j}");
    assert!(j["p50_ms"].as_f64().is_some(), "{what}: {j}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_store_load_runs_against_an_in_process_server() {
    let server = MailServer::start().await.unwrap();
    let (smtp, imap, pop) = (
        server.smtp_addr().port(),
        server.imap_addr().port(),
        server.pop_addr().port(),
    );
    // Some mail first, through the SMTP load.
    let j = bench(args(
        "smtp",
        smtp,
        &["--clients", "2", "--sessions", "30", "--size", "600"],
    ))
    .await;
    assert_eq!(j["messages"], 30, "{j}");
    assert_eq!(server.messages("alice").len(), 30);

    let one = ["--clients", "1", "--sessions", "3"];
    for mode in [
        "noop",
        "select",
        "status",
        "search",
        "sort",
        "thread",
        "resync",
        "mark-all-read",
        "copy",
        "append",
    ] {
        let mut a = args("imap", imap, &one);
        a.extend(["--mode".to_owned(), mode.to_owned()]);
        let j = bench(a).await;
        assert_clean(mode, &j);
        assert_eq!(j["commands"], 3, "{mode}: {j}");
    }
    // Each mark-all-read round is timed twice (+FLAGS and -FLAGS), and leaves nothing seen.
    let mut a = args("imap", imap, &["--clients", "1", "--sessions", "2"]);
    a.extend(["--mode".to_owned(), "mark-all-read".to_owned()]);
    let j = bench(a).await;
    assert_eq!(j["timings"]["+seen"]["count"], 2, "{j}");
    assert_eq!(j["timings"]["-seen"]["count"], 2, "{j}");
    // Three appends above: 33 messages; an expunge round removes 10% of them.
    assert_eq!(server.messages("alice").len(), 33);
    let mut a = args("imap", imap, &["--clients", "1", "--sessions", "1"]);
    a.extend(["--mode".to_owned(), "expunge".to_owned()]);
    let j = bench(a).await;
    assert_clean("expunge", &j);
    assert_eq!(server.messages("alice").len(), 30);

    // Concurrent clients on one mailbox, for a moment.
    let mixed = args(
        "imap",
        imap,
        &["--mode", "mixed", "--clients", "4", "--duration", "0.5"],
    );
    let j = bench(mixed).await;
    assert_clean("mixed", &j);
    assert!(j["commands"].as_u64().unwrap() > 10, "{j}");

    let j = bench(args(
        "pop",
        pop,
        &[
            "--mode",
            "login-stat-uidl",
            "--clients",
            "1",
            "--sessions",
            "3",
        ],
    ))
    .await;
    assert_clean("login-stat-uidl", &j);
    assert_eq!(j["sessions"], 3, "{j}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filled_maildir_is_served_with_its_messages() {
    let data = tempfile::tempdir().unwrap();
    let maildir = data.path().join("alice").join("Maildir");
    let (ok, out, err) = run_with_timeout(
        yubin()
            .args(["bench", "fill", "--count", "260", "--maildir"])
            .arg(&maildir),
        60,
    );
    assert!(ok, "{out}{err}");
    let new: Vec<_> = std::fs::read_dir(maildir.join("new")).unwrap().collect();
    assert_eq!(new.len(), 260);
    assert_eq!(std::fs::read_dir(maildir.join("tmp")).unwrap().count(), 0);
    let one = std::fs::read(new[0].as_ref().unwrap().path()).unwrap();
    assert!(!one.contains(&b'\r'), "bare LF, as an MDA stores it");

    let data_arg = data.path().to_str().unwrap().to_owned();
    let (_server, line) = ServerProcess::start(
        &[
            "serve",
            "--data",
            &data_arg,
            "--no-tls",
            "--smtp-port",
            "0",
            "--pop-port",
            "0",
            "--imap-port",
            "0",
        ],
        "IMAP listening on",
    );
    let imap = port_of(&line);
    let j = bench(args(
        "imap",
        imap,
        &["--mode", "search", "--clients", "1", "--sessions", "1"],
    ))
    .await;
    assert_clean("search", &j);
    // "zebra" is in the subject of every 100th message from the 50th: 50, 150 and 250.
    assert_eq!(j["matches"], 3, "{j}");
    let j = bench(args(
        "imap",
        imap,
        &[
            "--mode",
            "idle-conns",
            "--selected",
            "--clients",
            "3",
            "--duration",
            "0.2",
        ],
    ))
    .await;
    assert_eq!(j["sessions"], 3, "{j}");
}
