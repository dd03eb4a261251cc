//! `yubin_testing::blocking::MailServer` from plain `#[test]` functions.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use yubin_testing::Retention;
use yubin_testing::blocking::MailServer;

#[test]
fn a_plain_test_sends_over_smtp_and_waits() {
    let server = MailServer::start().unwrap();
    let mut smtp = BufReader::new(TcpStream::connect(server.smtp_addr()).unwrap());
    let mut say = |line: &str| {
        if !line.is_empty() {
            smtp.get_mut()
                .write_all(format!("{line}\r\n").as_bytes())
                .unwrap();
        }
        let mut reply = String::new();
        loop {
            reply.clear();
            smtp.read_line(&mut reply).unwrap();
            if reply.as_bytes().get(3) != Some(&b'-') {
                return reply.clone();
            }
        }
    };
    assert!(say("").starts_with("220"));
    assert!(say("EHLO test").starts_with("250"));
    assert!(say("MAIL FROM:<app@example.com>").starts_with("250"));
    assert!(say("RCPT TO:<alice@localhost>").starts_with("250"));
    assert!(say("DATA").starts_with("354"));
    assert!(say("Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nbody\r\n.").starts_with("250"));
    assert!(say("QUIT").starts_with("221"));
    let got = server
        .wait_for_messages("alice", 1, Duration::from_secs(10))
        .unwrap();
    assert_eq!(got[0].subject(), Some("café"));
    let err = server
        .wait_for_messages("alice", 2, Duration::from_millis(100))
        .unwrap_err();
    assert!(err.to_string().contains("1 arrived"), "{err}");
    assert!(
        server
            .transcript()
            .iter()
            .any(|l| l.protocol == "smtp" && l.text == "RCPT TO:<alice@localhost>")
    );
    server.stop();
}

#[test]
fn the_blocking_builder_has_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    let server = MailServer::builder()
        .user("bob", "pw")
        .accept_any_login(true)
        .tls(true)
        .require_auth(true)
        .pop_retention(Retention::Keep)
        .data_dir(dir.path())
        .start()
        .unwrap();
    assert!(server.has_tls() && server.ca_pem().contains("BEGIN CERTIFICATE"));
    for addr in [
        server.smtps_addr(),
        server.pop3s_addr(),
        server.imaps_addr(),
    ] {
        TcpStream::connect(addr).unwrap();
    }
    TcpStream::connect(server.pop_addr()).unwrap();
    TcpStream::connect(server.imap_addr()).unwrap();
    server.add_user("carol", "pw").unwrap();
    server
        .deliver("carol", b"Subject: one\r\n\r\n1\r\n")
        .unwrap();
    server.deliver("bob", b"Subject: two\r\n\r\n2\r\n").unwrap();
    assert_eq!(server.messages("carol").len(), 1);
    assert_eq!(server.received().len(), 2);
    assert_eq!(server.store().account_names().len(), 3);
    server.purge();
    assert!(server.received().is_empty());
    let smtp = server.smtp_addr();
    drop(server);
    assert!(TcpStream::connect(smtp).is_err());
}
