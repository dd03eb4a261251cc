//! `yubin imap fetch` and `yubin pop retr` through the binary: decoded with `--decoded`
//! (the default on a terminal), the exact bytes when piped or with `--raw`, both with
//! `--json`; and fetch still keeps the mail while RETR still takes it away.

mod common;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{ServerProcess, deliver_corpus, port_of, run_with_timeout, yubin};

/// `yubin serve` on port 0 for SMTP, POP3 and IMAP, without TLS.
struct Served {
    _server: ServerProcess,
    smtp: String,
    pop: String,
    imap: String,
}

fn serve(extra: &[&str]) -> Served {
    let mut args = vec![
        "serve",
        "--no-tls",
        "--smtp-port",
        "0",
        "--pop-port",
        "0",
        "--imap-port",
        "0",
    ];
    args.extend_from_slice(extra);
    let (mut server, smtp) = ServerProcess::start(&args, "SMTP listening on");
    let pop = port_of(&server.wait_for("POP3 listening on"));
    let imap = port_of(&server.wait_for("IMAP listening on"));
    Served {
        smtp: port_of(&smtp).to_string(),
        pop: pop.to_string(),
        imap: imap.to_string(),
        _server: server,
    }
}

/// Runs `yubin ARGS` (stdout a pipe, not a terminal) within 30 s: (ok, stdout bytes, stderr).
fn run_bytes(args: &[&str]) -> (bool, Vec<u8>, String) {
    let child = yubin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yubin starts");
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Ok(out)) => (
            out.status.success(),
            out.stdout,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Ok(Err(e)) => panic!("yubin failed to run: {e}"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(id.to_string()).status();
            panic!("yubin {args:?} timed out");
        }
    }
}

/// Runs `yubin ARGS`, which must succeed, and returns its stdout bytes.
fn ok_bytes(args: &[&str]) -> Vec<u8> {
    let (ok, out, err) = run_bytes(args);
    assert!(ok, "yubin {args:?}: {err}");
    out
}

/// Runs `yubin ARGS`, which must succeed, and returns its stdout as text.
fn ok_text(args: &[&str]) -> String {
    String::from_utf8(ok_bytes(args)).expect("UTF-8 output")
}

/// `yubin imap fetch --peek ARGS` on INBOX: its stdout bytes.
fn fetch(port: &str, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["imap", "fetch", "--port", port, "--peek"];
    all.extend_from_slice(args);
    ok_bytes(&all)
}

#[test]
fn the_readme_message_reads_decoded_and_imap_keeps_it_while_pop_takes_it() {
    let s = serve(&["--ephemeral"]);
    let dir = tempfile::tempdir().unwrap();
    // Binary, so it travels base64 and its decoded size is exactly what was written.
    let picture = dir.path().join("picture.png");
    std::fs::write(&picture, (0..300u32).map(|i| i as u8).collect::<Vec<_>>()).unwrap();
    let (ok, _, err) = run_with_timeout(
        yubin().args([
            "send",
            "--port",
            &s.smtp,
            "--to",
            "alice@localhost",
            "--subject",
            "日本語の件名",
            "--body",
            "こんにちは",
            "--attach",
            picture.to_str().unwrap(),
        ]),
        30,
    );
    assert!(ok, "send: {err}");

    // Piped, the default is the raw message: the subject is still an encoded-word.
    let raw = ok_text(&["imap", "fetch", "--port", &s.imap, "--peek"]);
    assert!(raw.starts_with("--- message 1 (UID 1"), "{raw}");
    assert!(raw.contains("\nSubject: =?"), "{raw}");
    assert!(!raw.contains("日本語の件名"), "{raw}");

    let decoded = ok_text(&["imap", "fetch", "--port", &s.imap, "--peek", "--decoded"]);
    assert!(decoded.starts_with("--- message 1 (UID 1"), "{decoded}");
    assert!(
        decoded.contains("\nFrom:    yubin@localhost\n"),
        "{decoded}"
    );
    assert!(
        decoded.contains("\nTo:      alice@localhost\n"),
        "{decoded}"
    );
    assert!(decoded.contains("\nSubject: 日本語の件名\n"), "{decoded}");
    assert!(decoded.contains("\n\nこんにちは\n"), "{decoded}");
    assert!(
        decoded.contains("\n1 attachment:\n  - picture.png (image/png, 300 bytes)\n"),
        "{decoded}"
    );
    assert!(
        decoded.ends_with("--- 1 message fetched; they stay on the server\n"),
        "{decoded}"
    );
    let status = ok_text(&["imap", "status", "--port", &s.imap, "INBOX", "--json"]);
    assert!(
        status.contains("\"messages\":1"),
        "fetch keeps it: {status}"
    );

    let retr = ok_text(&["pop", "retr", "1", "--port", &s.pop, "--decoded"]);
    assert!(retr.contains("Subject: 日本語の件名\n"), "{retr}");
    assert!(retr.contains("\n\nこんにちは\n"), "{retr}");
    assert!(
        retr.contains("  - picture.png (image/png, 300 bytes)\n"),
        "{retr}"
    );
    let stat = ok_text(&["pop", "stat", "--port", &s.pop]);
    assert!(
        stat.starts_with("0 messages"),
        "RETR then QUIT removed it (delete-on-retrieve): {stat}"
    );
}

#[test]
fn corpus_messages_raw_decoded_and_json_over_imap_and_pop() {
    let data = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(data.path());
    let s = serve(&[
        "--data",
        data.path().to_str().unwrap(),
        "--pop-retention",
        "keep",
    ]);
    // ISO-2022-JP, decoded.
    let jis = String::from_utf8(fetch(&s.imap, &["--set", "3", "--decoded"])).unwrap();
    assert!(
        jis.contains("\nFrom:    鈴木 <suzuki@example.jp>\n"),
        "{jis}"
    );
    assert!(
        jis.contains("\nSubject: ISO-2022-JPの件名テスト\n"),
        "{jis}"
    );
    assert!(jis.contains("\n\n昔ながらの日本語メールです。\n"), "{jis}");
    assert!(!jis.contains("=?ISO-2022-JP?"), "{jis}");

    // Piped without a flag, and with --raw: the exact bytes (Latin-1, not UTF-8), framed
    // by the separator lines.
    for flags in [&["--set", "9"][..], &["--set", "9", "--raw"]] {
        let out = fetch(&s.imap, flags);
        let start = out.iter().position(|&b| b == b'\n').unwrap() + 1;
        let end = start + corpus[8].len();
        assert!(out.starts_with(b"--- message 9 (UID 9"), "{flags:?}");
        assert_eq!(&out[start..end], &corpus[8][..], "{flags:?}");
        assert_eq!(
            &out[end..],
            b"--- 1 message fetched; they stay on the server\n",
            "{flags:?}"
        );
    }

    // JSON: decoded fields and the raw message (a string when UTF-8, else base64).
    let json: serde_json::Value =
        serde_json::from_slice(&fetch(&s.imap, &["--set", "5,9", "--json"])).unwrap();
    assert_eq!(json[0]["uid"], 5);
    assert_eq!(json[0]["subject"], "Picture attached");
    assert_eq!(json[0]["text"], "See the attached image and notes.");
    assert_eq!(json[0]["attachments"].as_array().unwrap().len(), 2);
    assert_eq!(json[0]["attachments"][0]["content_type"], "image/png");
    assert_eq!(
        json[0]["message"].as_str().unwrap().as_bytes(),
        &corpus[4][..]
    );
    assert_eq!(json[1]["subject"], "Café crème");
    assert!(json[1]["message_base64"].is_string(), "{json}");
    assert!(json[1].get("message").is_none(), "{json}");

    // POP: multipart/alternative shows the text/plain part.
    let alt = ok_text(&["pop", "retr", "4", "--port", &s.pop, "--decoded"]);
    assert!(
        alt.contains("\nCc:      Dave <dave@example.com>\n"),
        "{alt}"
    );
    assert!(alt.contains("\n\nPlain version of the message.\n"), "{alt}");
    assert!(!alt.contains("<html>"), "{alt}");
    // Piped: exactly the message.
    let raw = ok_bytes(&["pop", "retr", "9", "--port", &s.pop]);
    assert_eq!(raw, corpus[8], "piped RETR prints the raw message");
    let json: serde_json::Value =
        serde_json::from_slice(&ok_bytes(&["pop", "retr", "2", "--port", &s.pop, "--json"]))
            .unwrap();
    assert_eq!(json["msg"], 2);
    assert_eq!(json["size"], corpus[1].len());
    assert_eq!(json["from"][0]["name"], "山田 花子");
    assert_eq!(
        json["subject"],
        "こんにちはサーバーさん。私はクライアントです"
    );
    assert_eq!(json["message"].as_str().unwrap().as_bytes(), &corpus[1][..]);

    let stat = ok_text(&["pop", "stat", "--port", &s.pop]);
    assert!(
        stat.starts_with(&format!("{} messages", corpus.len())),
        "keep: RETR removed nothing: {stat}"
    );
}

#[test]
fn raw_decoded_and_json_exclude_one_another_and_help_says_pipes_get_raw() {
    for args in [
        &["pop", "retr", "1", "--raw", "--decoded"][..],
        &["pop", "retr", "1", "--raw", "--json"],
        &["imap", "fetch", "--decoded", "--json"],
    ] {
        let (ok, _, err) = run_bytes(args);
        assert!(!ok, "{args:?}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
    for cmd in [&["pop", "retr", "--help"][..], &["imap", "fetch", "--help"]] {
        let help = ok_text(cmd);
        assert!(
            help.contains("not a terminal, so pipes and scripts keep getting the raw message"),
            "{help}"
        );
        assert!(help.contains("--decoded"), "{help}");
    }
}
