//! The lesson, tested end to end: `yubin serve` as a real process, independent clients
//! (Python's smtplib/poplib/imaplib, lettre through `yubin send`, curl).

mod common;

use common::{ServerProcess, client_script, fixtures, port_of, run_with_timeout, yubin};
use std::process::Command;

struct Served {
    _server: ServerProcess,
    smtp: u16,
    pop: u16,
    imap: u16,
}

fn serve(extra: &[&str]) -> Served {
    let mut args = vec![
        "serve",
        "--ephemeral",
        "--smtp-port",
        "0",
        "--pop-port",
        "0",
        "--imap-port",
        "0",
    ];
    args.extend_from_slice(extra);
    let (mut server, smtp_line) = ServerProcess::start(&args, "SMTP listening on");
    let pop = port_of(&server.wait_for("POP3 listening on"));
    let imap = port_of(&server.wait_for("IMAP listening on"));
    Served {
        smtp: port_of(&smtp_line),
        pop,
        imap,
        _server: server,
    }
}

fn scenario(name: &str, extra: &[&str]) {
    let s = serve(extra);
    let (ok, out, err) = run_with_timeout(
        Command::new("python3")
            .arg(client_script("pop_vs_imap.py"))
            .args([
                name,
                "127.0.0.1",
                &s.smtp.to_string(),
                &s.pop.to_string(),
                &s.imap.to_string(),
                fixtures().join("corpus").to_str().unwrap(),
            ]),
        120,
    );
    assert!(
        ok && out.contains(&format!("PASS {name}")),
        "{name} failed:\n{out}\n{err}"
    );
}

#[test]
fn imap_fetch_keeps_messages_across_logins_and_marks_them_seen() {
    scenario("imap_keeps", &[]);
}

#[test]
fn pop_retr_and_quit_removes_messages_for_pop_and_imap() {
    scenario("pop_removes", &[]);
}

#[test]
fn pop_retr_and_dropped_connection_removes_nothing() {
    scenario("pop_drop_keeps", &[]);
}

#[test]
fn pop_retention_keep_keeps_retrieved_and_dele_removes() {
    scenario("pop_keep_retention", &["--pop-retention", "keep"]);
}

#[test]
fn imap_and_pop_in_turns_agree_and_imap_sees_pop_commit_as_expunge() {
    scenario("turns", &[]);
}

#[test]
fn corpus_sent_with_lettre_arrives_byte_exact() {
    let s = serve(&[]);
    let mut files: Vec<_> = std::fs::read_dir(fixtures().join("corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    for f in &files {
        let (ok, out, err) = run_with_timeout(
            yubin()
                .args([
                    "send",
                    "--port",
                    &s.smtp.to_string(),
                    "--to",
                    "alice@localhost",
                    "--eml",
                ])
                .arg(f),
            30,
        );
        assert!(ok, "send {}: {out}{err}", f.display());
    }
    let (ok, out, err) = run_with_timeout(
        Command::new("python3")
            .arg(client_script("pop_vs_imap.py"))
            .args([
                "corpus_check",
                "127.0.0.1",
                &s.smtp.to_string(),
                &s.pop.to_string(),
                &s.imap.to_string(),
                fixtures().join("corpus").to_str().unwrap(),
            ]),
        60,
    );
    assert!(ok && out.contains("PASS corpus_check"), "{out}\n{err}");
}

#[test]
fn curl_and_smtplib_send_and_a_big_message_is_refused() {
    let s = serve(&[]);
    let mail = fixtures().join("corpus/01-plain.eml");
    let url = format!("smtp://127.0.0.1:{}", s.smtp);
    let (ok, _, err) = run_with_timeout(
        Command::new("curl")
            .args([
                "-s",
                "-S",
                &url,
                "--mail-from",
                "a@example.com",
                "--mail-rcpt",
                "alice@localhost",
                "-T",
            ])
            .arg(&mail),
        20,
    );
    assert!(ok, "curl smtp: {err}");
    let py = format!(
        "import smtplib\ns = smtplib.SMTP('127.0.0.1', {port}, timeout=10)\n\
         s.sendmail('a@example.com', ['alice@localhost'], b'Subject: py\\r\\n\\r\\nhi\\r\\n')\n\
         try:\n    s.sendmail('a@example.com', ['alice@localhost'], b'Subject: big\\r\\n\\r\\n' + b'x' * 30_000_000)\n    print('accepted')\n\
         except smtplib.SMTPException as e:\n    print('refused', e)\n",
        port = s.smtp
    );
    let (ok, out, err) = run_with_timeout(Command::new("python3").args(["-c", &py]), 60);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("refused") && out.contains("552"), "{out}");
    let (ok, list, err) = run_with_timeout(
        Command::new("curl").args([
            "-s",
            "-S",
            "-u",
            "alice:secret",
            &format!("pop3://127.0.0.1:{}/", s.pop),
        ]),
        20,
    );
    assert!(ok, "{err}");
    assert_eq!(
        list.lines().count(),
        2,
        "curl's and smtplib's messages arrived, the big one did not: {list}"
    );
}

#[test]
fn demo_runs_the_lesson_in_both_languages() {
    for lang in ["en", "ja"] {
        let (ok, out, err) = run_with_timeout(yubin().args(["demo", "--lang", lang]), 120);
        assert!(ok, "demo --lang {lang} failed:\n{out}\n{err}");
        assert!(
            out.contains("| IMAP") && out.contains("| POP3"),
            "closing table missing:\n{out}"
        );
    }
}

#[test]
fn yubin_send_composes_a_body_and_attachments_that_arrive_intact() {
    let s = serve(&[]);
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body.txt");
    std::fs::write(&body, "こんにちは、本文です。\n").unwrap();
    let attachment = dir.path().join("data.bin");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
    std::fs::write(&attachment, &bytes).unwrap();
    let (ok, out, err) = run_with_timeout(
        yubin()
            .args([
                "send",
                "--port",
                &s.smtp.to_string(),
                "--to",
                "alice@localhost",
                "--subject",
                "添付のテスト",
                "--body-file",
            ])
            .arg(&body)
            .arg("--attach")
            .arg(&attachment),
        30,
    );
    assert!(ok, "{out}{err}");
    // An independent reader: Python's poplib and email packages (text arrives with CRLF,
    // the wire form, so line ends are compared as LF).
    let py = format!(
        "import poplib, email, email.policy, sys\n\
         p = poplib.POP3('127.0.0.1', {port}); p.user('alice'); p.pass_('secret')\n\
         msg = email.message_from_bytes(b'\\r\\n'.join(p.retr(1)[1]), policy=email.policy.default)\n\
         p.quit()\n\
         assert msg['subject'] == '添付のテスト', msg['subject']\n\
         text = msg.get_body(('plain',)).get_content().replace('\\r\\n', '\\n')\n\
         assert text == 'こんにちは、本文です。\\n', repr(text)\n\
         att = [a for a in msg.iter_attachments()]\n\
         assert len(att) == 1 and att[0].get_filename() == 'data.bin'\n\
         assert att[0].get_content() == bytes(i % 256 for i in range(5000))\n\
         print('attachment intact')\n",
        port = s.pop
    );
    let (ok, out, err) = run_with_timeout(Command::new("python3").args(["-c", &py]), 30);
    assert!(ok && out.contains("attachment intact"), "{out}{err}");
}
