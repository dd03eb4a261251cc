//! `POST /api/v1/message/{ID}/release`: a stored message relayed to a second yubin SMTP
//! server on loopback, without its Bcc; clear JSON errors without a relay, for bad
//! addresses, and when the relay refuses.

mod http_client;

use std::net::SocketAddr;

use http_client::{STEP, get, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use yubin_store::{Secret, Store};
use yubin_testing::MailServer;
use yubin_web::WebConfig;
use yubin_web::release::Relay;

const STORED: &str = "Return-Path: <bounce@shop.example>\r\n\
From: Shop <orders@shop.example>\r\n\
To: alice@localhost\r\n\
Bcc: auditor@hidden.example,\r\n\
\tsecond@hidden.example\r\n\
Subject: Your order\r\n\
Message-ID: <order-1@shop.example>\r\n\
\r\n\
Thank you.\r\n";

/// The web API over a store holding one message for alice, releasing through `relay`.
struct Source {
    http: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Source {
    async fn start(relay: Option<Relay>) -> Source {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        store.deliver(&["alice"], STORED.as_bytes()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let config = WebConfig {
            relay,
            ..WebConfig::default()
        };
        let task = tokio::spawn(yubin_web::serve(listener, store, config, shutdown.clone()));
        Source {
            http,
            shutdown,
            task,
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(STEP, self.task)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}

fn relay_to(target: &MailServer) -> Relay {
    format!("smtp://{}", target.smtp_addr()).parse().unwrap()
}

#[tokio::test]
async fn a_released_message_reaches_the_relay_without_its_bcc() {
    let target = MailServer::builder()
        .user("carol", "pw")
        .start()
        .await
        .unwrap();
    let source = Source::start(Some(relay_to(&target))).await;

    let webui = get(source.http, "/api/v1/webui").await.json();
    assert_eq!(webui["MessageRelay"]["Enabled"], true);
    assert_eq!(
        webui["MessageRelay"]["SMTPServer"],
        format!("smtp://{}", target.smtp_addr())
    );

    let answer = json(
        source.http,
        "POST",
        "/api/v1/message/latest/release",
        r#"{"To": ["Carol <carol@localhost>"]}"#,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body, "ok");

    let got = target.wait_for_messages("carol", 1, STEP).await.unwrap();
    let raw = String::from_utf8_lossy(got[0].raw()).into_owned();
    assert_eq!(got[0].subject(), Some("Your order"));
    assert_eq!(got[0].header("Message-ID"), Some("<order-1@shop.example>"));
    assert!(!raw.contains("hidden.example"), "Bcc travelled: {raw}");
    // The envelope sender is the From address; the relay writes its own Return-Path.
    assert_eq!(raw.matches("Return-Path:").count(), 1, "{raw}");
    assert!(raw.contains("Return-Path: <orders@shop.example>"), "{raw}");
    assert!(!raw.contains("bounce@shop.example"), "{raw}");
    source.stop().await;
    target.stop().await;
}

#[tokio::test]
async fn without_a_relay_release_is_a_clear_json_error() {
    let source = Source::start(None).await;
    assert_eq!(
        get(source.http, "/api/v1/webui").await.json()["MessageRelay"]["Enabled"],
        false
    );
    let answer = json(
        source.http,
        "POST",
        "/api/v1/message/latest/release",
        r#"{"To": ["carol@localhost"]}"#,
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    let error = answer.json()["Error"].as_str().unwrap().to_owned();
    assert!(error.contains("--relay"), "{error}");
    source.stop().await;
}

#[tokio::test]
async fn bad_recipients_and_unknown_messages_send_nothing() {
    let target = MailServer::builder()
        .user("carol", "pw")
        .start()
        .await
        .unwrap();
    let source = Source::start(Some(relay_to(&target))).await;
    for (body, status, says) in [
        (
            r#"{"To": ["not an address"]}"#,
            400,
            "invalid email address",
        ),
        (r#"{"To": []}"#, 400, "no recipients"),
        (r#"{}"#, 400, "no recipients"),
        (r#"{"To": "carol@localhost"}"#, 400, "JSON"),
    ] {
        let answer = json(source.http, "POST", "/api/v1/message/latest/release", body).await;
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(answer.body.contains(says), "{body}: {}", answer.body);
    }
    let missing = yubin_web::MessageId {
        account: "alice".into(),
        mailbox: "INBOX".into(),
        uid_validity: 1,
        uid: 99,
    };
    let unknown = json(
        source.http,
        "POST",
        &format!("/api/v1/message/{}/release", missing.encode()),
        r#"{"To": ["carol@localhost"]}"#,
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(target.received().is_empty());
    source.stop().await;
    target.stop().await;
}

#[tokio::test]
async fn a_refusal_by_the_relay_is_a_502_that_says_so() {
    let target = MailServer::start().await.unwrap();
    let source = Source::start(Some(relay_to(&target))).await;
    // The target delivers only to its own domains: it refuses to relay (550 5.7.1).
    let answer = json(
        source.http,
        "POST",
        "/api/v1/message/latest/release",
        r#"{"To": ["someone@elsewhere.example"]}"#,
    )
    .await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    let error = answer.json()["Error"].as_str().unwrap().to_owned();
    assert!(error.contains("550"), "{error}");
    assert!(target.received().is_empty());
    source.stop().await;
    target.stop().await;
}
