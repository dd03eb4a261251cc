//! IMAP part 2 across the whole server: a real SMTP delivery and a real POP3 commit reach
//! an idling IMAP session, and `yubin imap store|copy|move|expunge|append|create|delete|
//! rename|idle` drive a running `yubin imap serve`.

mod common;

use std::time::Duration;

use common::{ServerProcess, deliver_corpus, port_of, run_with_timeout, yubin};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use yubin::testing::MailServer;

const STEP: Duration = Duration::from_secs(10);

async fn step<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("step timed out")
}

fn mail(subject: &str) -> Message {
    Message::builder()
        .from("bob@example.com".parse().unwrap())
        .to("alice@localhost".parse().unwrap())
        .subject(subject)
        .body("Hello.\r\n".to_owned())
        .unwrap()
}

#[tokio::test]
async fn smtp_delivery_and_pop3_commit_reach_an_idling_imap_session() {
    let server = MailServer::start().await.unwrap();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build();
    step(smtp.send(mail("first"))).await.unwrap();

    let tcp = step(TcpStream::connect(server.imap_addr())).await.unwrap();
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let mut line = String::new();
    let mut next_line = async |r: &mut BufReader<_>| {
        line.clear();
        step(r.read_line(&mut line)).await.unwrap();
        line.clone()
    };
    assert!(next_line(&mut r).await.starts_with("* OK"));
    step(w.write_all(b"a LOGIN alice secret\r\nb SELECT INBOX\r\nc IDLE\r\n"))
        .await
        .unwrap();
    while !next_line(&mut r).await.starts_with("+ ") {}

    // SMTP: the idling session hears of the new message within 1 s of its acceptance.
    step(smtp.send(mail("second"))).await.unwrap();
    let accepted = tokio::time::Instant::now();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), next_line(&mut r))
            .await
            .expect("EXISTS within 1 s of the delivery"),
        "* 2 EXISTS\r\n"
    );
    assert!(accepted.elapsed() <= Duration::from_secs(1));
    assert_eq!(next_line(&mut r).await, "* 2 RECENT\r\n");

    // POP3: RETR then QUIT commits (delete-on-retrieve): IMAP sees EXPUNGE.
    let mut pop =
        mini_pop::client::PopClient::connect(&server.pop_addr().to_string(), Default::default())
            .await
            .unwrap();
    step(pop.login("alice", &"secret".into())).await.unwrap();
    step(pop.retr(1)).await.unwrap();
    step(pop.quit()).await.unwrap();
    assert_eq!(next_line(&mut r).await, "* 1 EXPUNGE\r\n");

    step(w.write_all(b"DONE\r\nd LOGOUT\r\n")).await.unwrap();
    assert_eq!(next_line(&mut r).await, "c OK IDLE terminated\r\n");
    assert_eq!(server.messages("alice").len(), 1);
    step(server.stop()).await;
}

#[test]
fn yubin_imap_write_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = deliver_corpus(dir.path());
    let data = dir.path().to_str().unwrap();
    let (_server, line) = ServerProcess::start(
        &["imap", "serve", "--port", "0", "--data", data],
        "IMAP listening on",
    );
    let port = port_of(&line).to_string();
    let run = |args: &[&str]| {
        let (ok, out, err) =
            run_with_timeout(yubin().arg("imap").args(args).args(["--port", &port]), 30);
        assert!(ok, "yubin imap {args:?}: {err}");
        out
    };
    assert!(run(&["capability"]).contains("IDLE NAMESPACE UNSELECT UIDPLUS MOVE"));
    assert_eq!(run(&["create", "Work/Q4"]).trim(), "created Work/Q4");
    assert_eq!(
        run(&["rename", "Work", "Jobs"]).trim(),
        "renamed Work to Jobs"
    );
    let (ok, _, err) = run_with_timeout(
        yubin().args(["imap", "delete", "Jobs", "--port", &port]),
        30,
    );
    assert!(!ok && err.contains("HASCHILDREN"), "{err}");
    run(&["delete", "Jobs/Q4"]);
    run(&["delete", "Jobs"]);

    let out = run(&["store", "INBOX", "1:2", "+FLAGS", "\\Flagged", "$Todo"]);
    assert!(
        out.starts_with("message 1: flags (\\Flagged $Todo"),
        "{out}"
    );
    let out = run(&["copy", "INBOX", "1", "Trash", "--json"]);
    assert!(out.contains("\"source\":\"1\""), "{out}");
    let out = run(&["move", "--uid", "INBOX", "2", "Trash"]);
    assert!(out.starts_with("moved UIDs 2 to Trash as UIDs 2 "), "{out}");
    run(&["store", "INBOX", "1", "+FLAGS", "\\Deleted"]);
    assert_eq!(run(&["expunge", "INBOX", "--json"]).trim(), "[1]");
    let status = run(&["status", "INBOX", "--json"]);
    assert!(
        status.contains(&format!("\"messages\":{}", corpus.len() - 2)),
        "{status}"
    );

    let eml = dir.path().join("draft.eml");
    std::fs::write(&eml, b"Subject: draft\r\n\r\nnot done\r\n").unwrap();
    let out = run(&[
        "append",
        "Drafts",
        eml.to_str().unwrap(),
        "--flag",
        "\\Draft",
    ]);
    assert!(out.starts_with("appended to Drafts as UID 1 "), "{out}");

    // idle with a time limit: starts, prints, stops by itself.
    let out = run(&["idle", "INBOX", "--seconds", "1"]);
    assert!(out.starts_with("watching INBOX"), "{out}");
}
