//! Real IMAP clients against `yubin imap serve`: curl, Python's imaplib, and yubin's own
//! `yubin imap` client subcommands.

mod common;

use common::{ServerProcess, client_script, deliver_corpus, port_of, run_with_timeout, yubin};
use std::process::Command;

fn serve(data: &std::path::Path) -> (ServerProcess, u16) {
    let data = data.to_str().unwrap();
    let (server, line) = ServerProcess::start(
        &["imap", "serve", "--port", "0", "--data", data],
        "IMAP listening on",
    );
    let port = port_of(&line);
    (server, port)
}

fn curl(args: &[&str]) -> String {
    let (ok, out, err) = run_with_timeout(
        Command::new("curl")
            .args(["-s", "-S", "--max-time", "15", "-u", "alice:secret"])
            .args(args),
        20,
    );
    assert!(ok, "curl {args:?}: {err}");
    out
}

#[test]
fn curl_lists_fetches_by_uid_and_runs_a_custom_examine() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path());
    let base = format!("imap://127.0.0.1:{port}/");

    let list = curl(&[&base]);
    assert!(
        list.contains("* LIST (\\HasNoChildren) \"/\" \"INBOX\""),
        "{list}"
    );
    assert!(list.contains("\\Sent) \"/\" \"Sent\""), "{list}");

    // SELECT via the URL, then UID FETCH BODY[]: the message arrives byte-exact (CRLF).
    let msg = curl(&[&format!("{base}INBOX;UID=1")]);
    let expected = String::from_utf8_lossy(&corpus[0])
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    assert_eq!(msg, expected);

    let examine = curl(&[&base, "-X", "EXAMINE INBOX"]);
    assert!(
        examine.contains(&format!("* {} EXISTS", corpus.len())),
        "{examine}"
    );
    assert!(examine.contains("[UIDVALIDITY "), "{examine}");

    // The fetched message is still there (IMAP keeps it), now \Seen.
    let status = curl(&[&base, "-X", "STATUS INBOX (MESSAGES UNSEEN)"]);
    assert!(
        status.contains(&format!(
            "MESSAGES {} UNSEEN {}",
            corpus.len(),
            corpus.len() - 1
        )),
        "{status}"
    );
}

#[test]
fn python_imaplib_drives_every_command() {
    let dir = tempfile::tempdir().unwrap();
    deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path());
    let (ok, out, err) = run_with_timeout(
        Command::new("python3")
            .arg(client_script("imap_imaplib.py"))
            .args(["127.0.0.1", &port.to_string(), "alice", "secret"]),
        90,
    );
    assert!(ok, "imaplib script failed:\n{out}\n{err}");
    assert!(out.contains("imaplib: all checks passed"), "{out}");
}

#[test]
fn yubin_imap_client_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let (_server, port) = serve(dir.path());
    let port = port.to_string();
    let run = |args: &[&str]| {
        let (ok, out, err) =
            run_with_timeout(yubin().arg("imap").args(args).args(["--port", &port]), 30);
        assert!(ok, "yubin imap {args:?}: {err}");
        out
    };
    assert!(run(&["capability"]).contains("IMAP4rev1 IMAP4rev2 LITERAL+"));
    let list = run(&["list", "--json"]);
    assert!(list.contains("\"name\":\"INBOX\""), "{list}");
    let status = run(&["status", "INBOX", "--json"]);
    assert!(
        status.contains(&format!("\"messages\":{}", corpus.len())),
        "{status}"
    );
    let hits = run(&["search", "INBOX", "SUBJECT", "件名"]);
    assert_eq!(hits.trim(), "3");
    let fetched = run(&["fetch", "--set", "1", "--peek"]);
    assert!(fetched.starts_with("--- message 1 (UID 1"), "{fetched}");
    assert!(fetched.contains("Subject: Plain hello"));
    let unseen = run(&["status", "INBOX", "--json"]);
    assert!(
        unseen.contains(&format!("\"unseen\":{}", corpus.len())),
        "PEEK: {unseen}"
    );
    let json = run(&["fetch", "--set", "1", "--json"]);
    assert!(json.contains("\\\\Seen"), "{json}");
    let trace = {
        let (ok, _out, err) = run_with_timeout(
            yubin().args(["--trace", "imap", "status", "INBOX", "--port", &port]),
            30,
        );
        assert!(ok);
        err
    };
    assert!(trace.contains("C: y1 LOGIN alice ****"), "{trace}");
    assert!(
        !trace.contains("secret"),
        "the password never reaches the transcript"
    );
}
