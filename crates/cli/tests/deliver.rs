//! `yubin deliver` as a real process: it imports the corpus fixtures and an mbox file
//! into a data directory, and the store then gives back every message byte for byte.

use std::path::{Path, PathBuf};
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

/// Runs `yubin deliver --to <to> --data <data> <file>`: (success, stdout, stderr).
fn deliver_one(data: &Path, to: &str, file: &Path) -> (bool, String, String) {
    let out = yubin()
        .args(["deliver", "--to", to, "--data"])
        .arg(data)
        .arg(file)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The account directories in a data directory, sorted.
fn account_dirs(data: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| data.join(n).join("Maildir").is_dir())
        .collect();
    names.sort();
    names
}

#[test]
fn deliver_to_an_address_lands_in_the_account_of_its_local_part() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let eml = inputs.path().join("one.eml");
    std::fs::write(&eml, "Subject: to an address\r\n\r\nhello\r\n").unwrap();

    for to in [
        "alice@localhost",
        "ALICE@LOCALHOST",
        "alice",
        "Alice@[127.0.0.1]",
        "\"alice\"@localhost.localdomain",
    ] {
        let (ok, stdout, stderr) = deliver_one(data.path(), to, &eml);
        assert!(ok, "{to}: {stdout}{stderr}");
        assert!(stdout.contains(" to alice/INBOX in "), "{to}: {stdout}");
    }
    // Never an account named by the whole address.
    assert_eq!(account_dirs(data.path()), ["alice"]);

    for (to, why) in [
        ("alice@example.com", "not a local domain"),
        ("a/b@localhost", "invalid name"),
        ("\"bob@localhost\"@localhost", "invalid name"),
    ] {
        let (ok, stdout, stderr) = deliver_one(data.path(), to, &eml);
        assert!(!ok, "{to} should be refused: {stdout}");
        assert!(stderr.contains(why), "{to}: {stderr}");
        assert!(
            stderr.contains(&format!("cannot deliver to {to}")),
            "{stderr}"
        );
    }
    assert_eq!(account_dirs(data.path()), ["alice"]);

    let store = Store::maildir(data.path()).unwrap();
    store.add_account("alice", Secret::from("pw")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    assert_eq!(inbox.status().unwrap().messages, 5);
}

/// SMTP over a socket: one transaction to `to`; the reply to RCPT and to the DATA end.
async fn smtp_send(addr: std::net::SocketAddr, to: &str, subject: &str) -> (String, String) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    async fn reply(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            all.push_str(&line);
            if line.is_empty() || line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }
    assert!(reply(&mut r).await.starts_with("220"));
    for cmd in ["EHLO test", "MAIL FROM:<test@localhost>"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).await.unwrap();
        assert!(reply(&mut r).await.starts_with("250"), "{cmd}");
    }
    w.write_all(format!("RCPT TO:<{to}>\r\n").as_bytes())
        .await
        .unwrap();
    let rcpt = reply(&mut r).await;
    let mut end = String::new();
    if rcpt.starts_with("250") {
        w.write_all(b"DATA\r\n").await.unwrap();
        assert!(reply(&mut r).await.starts_with("354"));
        w.write_all(format!("Subject: {subject}\r\n\r\nbody\r\n.\r\n").as_bytes())
            .await
            .unwrap();
        end = reply(&mut r).await;
    }
    w.write_all(b"QUIT\r\n").await.unwrap();
    (rcpt, end)
}

/// `yubin deliver --to X` and SMTP `RCPT TO:<X>` resolve X with the same function, so they
/// accept and refuse the same addresses and deliver to the same account.
#[tokio::test]
async fn yubin_deliver_and_smtp_agree_on_every_address() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let cases = [
        ("alice@localhost", Some("alice")),
        ("ALICE@LOCALHOST", Some("alice")),
        ("Bob@LocalHost", Some("bob")),
        ("carol@[IPv6:::1]", Some("carol")),
        ("Postmaster", Some("postmaster")),
        ("alice@example.com", None),
        ("dave@[192.0.2.1]", None),
    ];

    // The CLI first: each address gets a message whose subject names it.
    for (n, (to, want)) in cases.iter().enumerate() {
        let eml = inputs.path().join(format!("{n}.eml"));
        std::fs::write(&eml, format!("Subject: cli {to}\r\n\r\nbody\r\n")).unwrap();
        let data = data.path().to_owned();
        let to = to.to_string();
        let (ok, stdout, stderr) =
            tokio::task::spawn_blocking(move || deliver_one(&data, &to, &eml))
                .await
                .unwrap();
        match want {
            Some(account) => {
                assert!(ok, "{stdout}{stderr}");
                assert!(
                    stdout.contains(&format!(" to {account}/INBOX in ")),
                    "{stdout}"
                );
            }
            None => assert!(!ok && stderr.contains("not a local domain"), "{stderr}"),
        }
    }

    // Then SMTP on the same data directory with accept-any-login but no catch-all for
    // other domains (as `yubin deliver` resolves: it makes unknown accounts too).
    let store = Store::maildir(data.path()).unwrap();
    store.set_accept_any_login(true);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let handle = mini_smtp::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        mini_smtp::SmtpServerConfig::default(),
        shutdown.clone(),
    )
    .await
    .unwrap();
    for (to, want) in &cases {
        let (rcpt, end) = smtp_send(handle.local_addr(), to, &format!("smtp {to}")).await;
        match want {
            Some(_) => {
                assert!(rcpt.starts_with("250 "), "{to}: {rcpt}");
                assert!(end.starts_with("250 "), "{to}: {end}");
            }
            None => assert!(rcpt.starts_with("550 5.7.1"), "{to}: {rcpt}"),
        }
    }
    handle.stop().await;

    // Both copies of each accepted address are in one account, the expected one.
    for (to, want) in &cases {
        let Some(account) = want else { continue };
        let inbox = store.account(account).unwrap().mailbox("INBOX").unwrap();
        let subjects: Vec<String> = inbox
            .messages()
            .unwrap()
            .iter()
            .map(|m| String::from_utf8_lossy(&inbox.read(m.uid).unwrap()).into_owned())
            .collect();
        for via in ["cli", "smtp"] {
            let subject = format!("Subject: {via} {to}\r\n");
            assert!(
                subjects.iter().any(|m| m.contains(&subject)),
                "{to} via {via} should be in {account}"
            );
        }
    }
    let mut names = store.account_names();
    names.sort();
    assert_eq!(names, ["alice", "bob", "carol", "postmaster"]);
    assert_eq!(
        account_dirs(data.path()),
        ["alice", "bob", "carol", "postmaster"]
    );
}

/// Input that is not a mail message (a text file, an empty file, binary bytes) is refused
/// file by file with a reason and a non-zero exit; the messages beside it are delivered.
#[test]
fn what_is_not_a_message_is_refused_and_the_rest_delivered() {
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let dir = inputs.path();
    std::fs::write(dir.join("a-good.eml"), b"Subject: fine\r\n\r\nbody\r\n").unwrap();
    std::fs::write(
        dir.join("b-notes.txt"),
        b"just some notes\nno headers here\n",
    )
    .unwrap();
    std::fs::write(dir.join("c-empty.eml"), b"").unwrap();
    let random: Vec<u8> = (0..2000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("d-random.bin"), &random).unwrap();
    let out = yubin()
        .args(["deliver", "--to", "alice", "--data"])
        .arg(data.path())
        .arg(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "refusals make the exit non-zero");
    for name in ["b-notes.txt", "c-empty.eml", "d-random.bin"] {
        assert!(
            stderr
                .lines()
                .any(|l| l.contains(name) && l.contains("not a mail message")),
            "{name}: {stderr}"
        );
    }
    assert!(!stderr.contains("a-good.eml"), "{stderr}");
    let store = Store::maildir(data.path()).unwrap();
    store.set_accept_any_login(true);
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    assert_eq!(
        inbox.messages().unwrap().len(),
        1,
        "the good one is delivered"
    );
}
