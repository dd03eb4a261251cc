//! `yubin deliver` as a real process: it imports the corpus fixtures and an mbox file
//! into a data directory, and the store then gives back every message byte for byte.

use std::path::PathBuf;
use std::process::Command;

use yubin_store::{Secret, Store};

fn yubin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("yubin"))
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/corpus")
}

/// The wire form the store keeps: every bare LF made CRLF.
fn crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}

const MBOX: &str = "From alice@example.com Mon Jan  1 00:00:00 2024\n\
Subject: mbox one\n\
\n\
first\n\
>From the quoted line\n\
\n\
From bob@example.com Mon Jan  1 00:01:00 2024\n\
Subject: mbox two\n\
\n\
second\n\
>>From doubly quoted\n\
\n\
From carol@example.com Mon Jan  1 00:02:00 2024\n\
Subject: mbox three\n\
\n\
third\n";

#[test]
fn deliver_imports_the_corpus_and_an_mbox_byte_for_byte() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let mbox = inputs.path().join("archive.mbox");
    std::fs::write(&mbox, MBOX).unwrap();

    let out = yubin()
        .args(["deliver", "--to", "alice", "--data"])
        .arg(data.path())
        .arg(corpus_dir())
        .arg(&mbox)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut expected: Vec<Vec<u8>> = Vec::new();
    let mut corpus: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    corpus.sort();
    assert!(corpus.len() >= 10);
    for path in &corpus {
        expected.push(crlf(&std::fs::read(path).unwrap()));
    }
    expected.push(crlf(b"Subject: mbox one\n\nfirst\nFrom the quoted line\n"));
    expected.push(crlf(b"Subject: mbox two\n\nsecond\n>From doubly quoted\n"));
    expected.push(crlf(b"Subject: mbox three\n\nthird\n"));
    let bytes: usize = expected.iter().map(Vec::len).sum();
    let summary = format!(
        "delivered {} messages ({bytes} bytes) to alice/INBOX in ",
        expected.len()
    );
    assert!(
        stdout.starts_with(&summary),
        "{stdout:?} should start with {summary:?}"
    );

    let store = Store::maildir(data.path()).unwrap();
    store.add_account("alice", Secret::from("pw")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let metas = inbox.messages().unwrap();
    assert_eq!(metas.len(), expected.len());
    // Delivered in order: files sorted, then the mbox's messages in file order.
    for (meta, want) in metas.iter().zip(&expected) {
        let got = inbox.read(meta.uid).unwrap();
        assert!(got[..] == want[..], "UID {} differs", meta.uid);
        assert_eq!(meta.size, want.len() as u64);
    }
}

#[test]
fn deliver_creates_the_mailbox_and_shows_a_progress_summary_for_many() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    for n in 0..30 {
        std::fs::write(
            inputs.path().join(format!("{n:02}.eml")),
            format!("Subject: {n}\r\n\r\nbody {n}\r\n"),
        )
        .unwrap();
    }
    let out = yubin()
        .args([
            "deliver",
            "--to",
            "bob",
            "--mailbox",
            "Archive/2024",
            "--data",
        ])
        .arg(data.path())
        .arg(inputs.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("delivered 30 messages"), "{stdout}");
    assert!(stdout.contains("to bob/Archive/2024 in"), "{stdout}");

    let store = Store::maildir(data.path()).unwrap();
    store.set_accept_any_login(true);
    let archive = store
        .account("bob")
        .unwrap()
        .mailbox("Archive/2024")
        .unwrap();
    assert_eq!(archive.status().unwrap().messages, 30);
}

#[test]
fn deliver_refuses_a_bad_mailbox_name_and_a_missing_file() {
    let data = tempfile::tempdir().unwrap();
    let out = yubin()
        .args([
            "deliver",
            "--to",
            "alice",
            "--mailbox",
            "../escape",
            "--data",
        ])
        .arg(data.path())
        .arg(corpus_dir())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid name"));
    assert!(!data.path().join("escape").exists());

    let out = yubin()
        .args(["deliver", "--to", "alice", "--data"])
        .arg(data.path())
        .arg(data.path().join("no-such-file.eml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file.eml"));
}
