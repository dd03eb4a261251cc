//! SMTP over real sockets on port 0: delivery, dot-unstuffing, limits, atomicity.

use std::time::Duration;

use mini_smtp::SmtpServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use yubin_core::guard::{GuardConfig, LoginGuard};
use yubin_core::{Secret, ServerHandle};
use yubin_store::Store;

async fn start(config: SmtpServerConfig) -> (Store, ServerHandle) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    store.add_account("bob", Secret::from("hunter2")).unwrap();
    let handle = mini_smtp::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        config,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (store, handle)
}

mod conn;
use conn::{Conn, STEP};

fn inbox(store: &Store, user: &str) -> Vec<Vec<u8>> {
    let mb = store.account(user).unwrap().mailbox("INBOX").unwrap();
    mb.messages()
        .unwrap()
        .iter()
        .map(|m| mb.read(m.uid).unwrap().to_vec())
        .collect()
}

/// The message as stored, minus the trace headers this server added in front.
fn without_trace(stored: &[u8]) -> &[u8] {
    let text = stored;
    let mut at = 0;
    loop {
        let line_end = text[at..].windows(2).position(|w| w == b"\r\n").unwrap() + at + 2;
        let line = &text[at..line_end];
        let is_trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Received:")
            || line.starts_with(b"\t");
        if !is_trace {
            return &text[at..];
        }
        at = line_end;
    }
}

#[tokio::test]
async fn ehlo_advertises_the_extensions() {
    let (_store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    let ehlo = c.cmd("EHLO client.example").await;
    for ext in [
        "PIPELINING",
        "8BITMIME",
        "SIZE 26214400",
        "ENHANCEDSTATUSCODES",
        "SMTPUTF8",
        "AUTH PLAIN LOGIN",
    ] {
        assert!(
            ehlo.contains(&format!("250-{ext}\r\n")) || ehlo.contains(&format!("250 {ext}\r\n")),
            "{ext}: {ehlo}"
        );
    }
    assert!(c.cmd("QUIT").await.starts_with("221 2.0.0"));
    handle.stop().await;
}

#[tokio::test]
async fn a_message_is_delivered_with_trace_headers_and_unstuffed() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    assert!(
        c.cmd("MAIL FROM:<sender@example.com>")
            .await
            .starts_with("250 2.1.0")
    );
    assert!(
        c.cmd("RCPT TO:<alice@localhost>")
            .await
            .starts_with("250 2.1.5")
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.w.write_all(b"Subject: dots\r\n\r\n..leading\r\n...two\r\nend\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250 2.0.0"));
    let got = inbox(&store, "alice");
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with(b"Return-Path: <sender@example.com>\r\nReceived: from me ([127.0.0.1])")
    );
    assert_eq!(
        without_trace(&got[0]),
        b"Subject: dots\r\n\r\n.leading\r\n..two\r\nend\r\n"
    );
    handle.stop().await;
}

#[tokio::test]
async fn pipelined_transaction_is_answered_in_order() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    c.w.write_all(b"MAIL FROM:<a@b>\r\nRCPT TO:<alice@localhost>\r\nRCPT TO:<nobody@localhost>\r\nRCPT TO:<bob@localhost>\r\nDATA\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250 2.1.0"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("550 5.1.1"));
    assert!(c.reply().await.starts_with("250 2.1.5"));
    assert!(c.reply().await.starts_with("354"));
    c.w.write_all(b"Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.contains("delivered to 2 mailboxes"));
    assert!(c.reply().await.starts_with("221"));
    assert_eq!(inbox(&store, "alice").len(), 1);
    assert_eq!(inbox(&store, "bob").len(), 1);
    handle.stop().await;
}

/// RFC 5321 §2.4: the domain is case-insensitive, and the local part is matched
/// ignoring case when exactly one account fits; the whole address never names an account.
#[tokio::test]
async fn recipients_resolve_ignoring_case_at_local_domains() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    c.cmd("MAIL FROM:<a@b>").await;
    for to in [
        "ALICE@LOCALHOST",
        "Alice@[127.0.0.1]",
        "alice@[IPv6:::1]",
        "\"alice\"@localhost.localdomain",
    ] {
        let reply = c.cmd(&format!("RCPT TO:<{to}>")).await;
        assert!(reply.starts_with("250 2.1.5"), "{to}: {reply}");
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.w.write_all(b"Subject: case\r\n\r\nbody\r\n.\r\n")
        .await
        .unwrap();
    // Four addresses, one account: one copy.
    let done = c.reply().await;
    assert!(done.contains("delivered to 1 mailbox"), "{done}");
    assert_eq!(inbox(&store, "alice").len(), 1);
    let mut names = store.account_names();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    handle.stop().await;
}

/// RFC 5321 §3.6: this server relays nothing, so a recipient at another domain is
/// refused at RCPT with 550, and a transaction with no other recipient has none.
#[tokio::test]
async fn a_recipient_at_another_domain_is_refused_with_550() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    c.cmd("MAIL FROM:<a@b>").await;
    for to in [
        "alice@example.com",
        "alice@localhost.example.com",
        "alice@[192.0.2.1]",
        "@relay.example:alice@example.com",
    ] {
        let reply = c.cmd(&format!("RCPT TO:<{to}>")).await;
        assert!(reply.starts_with("550 5.7.1"), "{to}: {reply}");
    }
    assert!(
        c.cmd("RCPT TO:<nobody@localhost>")
            .await
            .starts_with("550 5.1.1")
    );
    assert!(
        c.cmd("RCPT TO:<a/b@localhost>")
            .await
            .starts_with("553 5.1.3")
    );
    assert!(c.cmd("DATA").await.starts_with("554"));
    // A domain configured on the store is local.
    store.add_local_domain("example.com");
    assert!(
        c.cmd("RCPT TO:<Alice@Example.COM>")
            .await
            .starts_with("250")
    );
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.w.write_all(b"Subject: x\r\n\r\nx\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250"));
    assert_eq!(inbox(&store, "alice").len(), 1);
    let mut names = store.account_names();
    names.sort();
    assert_eq!(names, ["alice", "bob"]);
    handle.stop().await;
}

/// RFC 5321 §4.5.1: `Postmaster` must be accepted; here the first account given a
/// password reads it. Also: the host name we greet with is a local domain.
#[tokio::test]
async fn postmaster_and_the_server_host_name() {
    let mut config = SmtpServerConfig::default();
    config.smtp.hostname = "mail.test".into();
    let (store, handle) = start(config).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    c.cmd("MAIL FROM:<a@b>").await;
    assert!(c.cmd("RCPT TO:<Postmaster>").await.starts_with("250"));
    assert!(c.cmd("RCPT TO:<bob@MAIL.TEST>").await.starts_with("250"));
    assert!(c.cmd("DATA").await.starts_with("354"));
    c.w.write_all(b"Subject: pm\r\n\r\nx\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.contains("delivered to 2 mailboxes"));
    assert_eq!(inbox(&store, "alice").len(), 1);
    assert_eq!(inbox(&store, "bob").len(), 1);
    handle.stop().await;
}

/// SMTP resolves with `Store::resolve`: what RCPT accepts and refuses is exactly what
/// the store resolves, and the message lands in the account the store names.
#[tokio::test]
async fn rcpt_agrees_with_store_resolve() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    store.add_account("Carol", Secret::from("pw")).unwrap();
    let addresses = [
        "alice@localhost",
        "BOB@localhost",
        "carol@localhost",
        "Carol@localhost",
        "CAROL@localhost",
        "postmaster@localhost",
        "nobody@localhost",
        "alice@example.com",
        "\"x..y\"@localhost",
        "\"a@b\"@localhost",
    ];
    for to in addresses {
        let expected = store.resolve(to).map(|a| a.name().to_owned());
        let before = expected
            .as_ref()
            .map(|name| inbox(&store, name).len())
            .unwrap_or(0);
        let mut c = Conn::open(&handle).await;
        c.cmd("EHLO me").await;
        c.cmd("MAIL FROM:<a@b>").await;
        let reply = c.cmd(&format!("RCPT TO:<{to}>")).await;
        match &expected {
            Ok(name) => {
                assert!(reply.starts_with("250"), "{to}: {reply}");
                c.cmd("DATA").await;
                c.w.write_all(b"Subject: x\r\n\r\nx\r\n.\r\n")
                    .await
                    .unwrap();
                assert!(c.reply().await.starts_with("250"));
                assert_eq!(inbox(&store, name).len(), before + 1, "{to} → {name}");
            }
            Err(e) => assert!(
                reply.starts_with("550") || reply.starts_with("553"),
                "{to}: store says {e}, SMTP says {reply}"
            ),
        }
    }
    handle.stop().await;
}

#[tokio::test]
async fn over_the_size_limit_is_552_and_not_delivered() {
    let mut config = SmtpServerConfig::default();
    config.smtp.max_message_size = 1000;
    let (store, handle) = start(config).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    assert!(
        c.cmd("MAIL FROM:<a@b> SIZE=5000")
            .await
            .starts_with("552 5.3.4")
    );
    c.cmd("MAIL FROM:<a@b>").await;
    c.cmd("RCPT TO:<alice@localhost>").await;
    c.cmd("DATA").await;
    for _ in 0..100 {
        c.w.write_all(b"0123456789012345678901234567890123456789\r\n")
            .await
            .unwrap();
    }
    c.w.write_all(b".\r\n").await.unwrap();
    assert!(c.reply().await.starts_with("552 5.3.4"));
    assert!(inbox(&store, "alice").is_empty());
    // The session goes on.
    assert!(c.cmd("NOOP").await.starts_with("250"));
    handle.stop().await;
}

#[tokio::test]
async fn disconnect_mid_data_delivers_nothing() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    c.cmd("MAIL FROM:<a@b>").await;
    c.cmd("RCPT TO:<alice@localhost>").await;
    c.cmd("DATA").await;
    c.w.write_all(b"Subject: half\r\n\r\nsome of it\r\n")
        .await
        .unwrap();
    // The client goes away mid-message: the server reads the end of its input, answers
    // nothing and closes its side.
    c.w.shutdown().await.unwrap();
    let mut rest = String::new();
    tokio::time::timeout(STEP, c.r.read_to_string(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, "");
    // Once the server has stopped, every session has ended and been dropped: whatever
    // it would have delivered is in the store by now.
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
    assert!(inbox(&store, "alice").is_empty());
}

#[tokio::test]
async fn commands_out_of_order_and_bad_input_get_errors() {
    let (store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    assert!(
        c.cmd("MAIL FROM:<a@b>").await.starts_with("503 5.5.1"),
        "MAIL before EHLO"
    );
    c.cmd("HELO me").await;
    assert!(
        c.cmd("RCPT TO:<alice@x>").await.starts_with("503"),
        "RCPT before MAIL"
    );
    assert!(c.cmd("DATA").await.starts_with("503"), "DATA before MAIL");
    assert!(c.cmd("FOO").await.starts_with("500 5.5.2"));
    assert!(c.cmd("MAIL FROM:nobrackets").await.starts_with("501 5.5.4"));
    assert!(c.cmd("EXPN staff").await.starts_with("502"));
    assert!(c.cmd("VRFY alice").await.starts_with("252"));
    assert!(c.cmd("MAIL FROM:<a\u{1}@b>").await.starts_with("500"));
    c.cmd("MAIL FROM:<a@b>").await;
    assert!(
        c.cmd("MAIL FROM:<a@b>").await.starts_with("503"),
        "nested MAIL"
    );
    assert!(
        c.cmd("DATA").await.starts_with("554"),
        "DATA without recipients"
    );
    assert!(c.cmd("RSET").await.starts_with("250"));
    assert!(inbox(&store, "alice").is_empty());
    handle.stop().await;
}

/// A listener whose login guard answers failures at once: these tests are about the
/// replies, not the delay (the guard's own tests cover that, with paused time).
fn undelayed() -> SmtpServerConfig {
    let mut config = SmtpServerConfig::default();
    config.listener.guard = LoginGuard::new(GuardConfig {
        base_delay: Duration::ZERO,
        ..GuardConfig::default()
    });
    config
}

#[tokio::test]
async fn auth_plain_and_login() {
    let (_store, handle) = start(undelayed()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    assert!(
        c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n")
            .await
            .starts_with("535 5.7.8")
    );
    assert!(
        c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
            .await
            .starts_with("235 2.7.0")
    );
    assert!(
        c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
            .await
            .starts_with("503")
    );
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    assert_eq!(c.cmd("AUTH LOGIN").await, "334 VXNlcm5hbWU6\r\n");
    assert_eq!(c.cmd("Ym9i").await, "334 UGFzc3dvcmQ6\r\n");
    assert!(c.cmd("aHVudGVyMg==").await.starts_with("235"));
    handle.stop().await;
}

/// RFC 4954 §4: each wrong password gets 535; after the guard's allowance for one
/// connection (three), the server says 421 and closes (RFC 5321 §3.8).
#[tokio::test]
async fn too_many_failed_auths_close_the_connection_with_421() {
    let (_store, handle) = start(undelayed()).await;
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO me").await;
    // alice / wrong, three times: each is answered 535, the third then closed.
    for _ in 0..3 {
        assert!(
            c.cmd("AUTH PLAIN AGFsaWNlAHdyb25n")
                .await
                .starts_with("535 5.7.8 ")
        );
    }
    assert!(c.reply().await.starts_with("421 4.7.0 "));
    let mut rest = String::new();
    tokio::time::timeout(STEP, c.r.read_to_string(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, "");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

/// A line over `max_line` is answered and the session goes on. Outside DATA: 500, and
/// the command sent behind it in the same write is answered too. Inside DATA the
/// message is damaged: 554 at its final ".", nothing stored, and the next message goes
/// through.
#[tokio::test]
async fn an_overlong_line_is_answered_and_the_session_goes_on() {
    let config = SmtpServerConfig {
        max_line: 1024,
        ..SmtpServerConfig::default()
    };
    let (store, handle) = start(config).await;
    let mut c = Conn::open(&handle).await;
    let long = "X".repeat(4096);
    c.w.write_all(format!("{long}\r\nEHLO me\r\n").as_bytes())
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("500 5.5.6 "));
    assert!(c.reply().await.starts_with("250-"));

    assert!(c.cmd("MAIL FROM:<a@b>").await.starts_with("250 2.1.0 "));
    assert!(
        c.cmd("RCPT TO:<alice@localhost>")
            .await
            .starts_with("250 2.1.5 ")
    );
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.w.write_all(format!("Subject: long\r\n\r\n{long}\r\nafter\r\n.\r\n").as_bytes())
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("554 5.6.0 "));
    assert!(inbox(&store, "alice").is_empty());

    assert!(c.cmd("MAIL FROM:<a@b>").await.starts_with("250 2.1.0 "));
    assert!(
        c.cmd("RCPT TO:<alice@localhost>")
            .await
            .starts_with("250 2.1.5 ")
    );
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.w.write_all(b"Subject: ok\r\n\r\nfine\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250 2.0.0 "));
    let got = inbox(&store, "alice");
    assert_eq!(got.len(), 1);
    assert_eq!(without_trace(&got[0]), b"Subject: ok\r\n\r\nfine\r\n");
    assert!(c.cmd("QUIT").await.starts_with("221 2.0.0 "));
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn shutdown_says_421() {
    let (_store, handle) = start(SmtpServerConfig::default()).await;
    let mut c = Conn::open(&handle).await;
    handle.shutdown();
    assert!(c.reply().await.starts_with("421 4.3.2"));
    let mut rest = String::new();
    let _ = tokio::time::timeout(STEP, c.r.read_to_string(&mut rest)).await;
    tokio::time::timeout(STEP, handle.wait()).await.unwrap();
}
