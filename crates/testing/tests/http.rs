//! The harness's web inbox and HTTP API (on by default, on a free loopback port) and its
//! SMTP fault injection.

// The web crate's test client: one HTTP client for every crate's tests.
#[path = "../../web/tests/http_client/mod.rs"]
mod http_client;

use http_client::{STEP, get};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yubin_testing::{MailServer, Trigger, Triggers};

async fn send(server: &MailServer, subject: &str) -> Result<(), lettre::transport::smtp::Error> {
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .timeout(Some(STEP))
        .build();
    let message = Message::builder()
        .from("app@example.com".parse().unwrap())
        .to("alice@localhost".parse().unwrap())
        .subject(subject)
        .body("hello".to_owned())
        .unwrap();
    smtp.send(message).await.map(|_| ())
}

#[tokio::test]
async fn the_web_api_shows_the_mail_a_test_sent() {
    let server = MailServer::start().await.unwrap();
    let url = server.http_url();
    assert_eq!(url, format!("http://{}", server.http_addr()));
    assert!(server.http_addr().ip().is_loopback(), "{url}");

    send(&server, "Welcome aboard").await.unwrap();
    server.wait_for_messages("alice", 1, STEP).await.unwrap();
    let addr = server.http_addr();
    let http_client::Answer { status, body, .. } = get(addr, "/api/v1/messages").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":1"), "{body}");
    assert!(body.contains("Welcome aboard"), "{body}");
    // The page is there too.
    let http_client::Answer {
        status, body: page, ..
    } = get(addr, "/").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<html") || page.contains("<!doctype"),
        "{page}"
    );
    server.stop().await;
}

/// Mailpit's `info` counts what SMTP took and refused (`RuntimeStats`), so a test that
/// reads `SMTPAccepted` from Mailpit reads it here too.
#[tokio::test]
async fn info_counts_what_smtp_accepted_and_refused() {
    let server = MailServer::start().await.unwrap();
    send(&server, "one").await.unwrap();
    send(&server, "two").await.unwrap();
    // A recipient of a domain that is not ours: refused at RCPT.
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .timeout(Some(STEP))
        .build();
    let elsewhere = Message::builder()
        .from("app@example.com".parse().unwrap())
        .to("someone@example.org".parse().unwrap())
        .subject("relay")
        .body("no".to_owned())
        .unwrap();
    assert!(smtp.send(elsewhere).await.is_err());
    server.wait_for_messages("alice", 2, STEP).await.unwrap();
    let addr = server.http_addr();
    let http_client::Answer { status, body, .. } = get(addr, "/api/v1/info").await;
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stats = &info["RuntimeStats"];
    assert_eq!(stats["SMTPAccepted"], 2, "{body}");
    assert!(
        stats["SMTPAcceptedSize"].as_u64().unwrap() > 2 * 5,
        "{body}"
    );
    assert_eq!(stats["SMTPRejected"], 1, "{body}");
    assert_eq!(stats["SMTPIgnored"], 0, "{body}");
    assert!(stats["Memory"].as_u64().unwrap() > 1024 * 1024, "{body}");
    assert_eq!(info["LatestVersion"], "disabled", "{body}");
    server.stop().await;
}

#[tokio::test]
#[should_panic(expected = "it was built with .http(false)")]
async fn without_http_the_address_is_a_panic_that_says_why() {
    let server = MailServer::builder().http(false).start().await.unwrap();
    // The mail servers work as ever.
    send(&server, "still here").await.unwrap();
    server.wait_for_messages("alice", 1, STEP).await.unwrap();
    server.http_addr();
}

#[tokio::test]
async fn chaos_makes_smtp_refuse_with_the_chosen_code() {
    let server = MailServer::builder().chaos(true).start().await.unwrap();
    server
        .chaos()
        .set(Triggers {
            sender: Trigger {
                error_code: 451,
                probability: 100,
            },
            ..Triggers::default()
        })
        .unwrap();
    let refused = send(&server, "refused").await.unwrap_err();
    assert!(refused.is_transient(), "{refused}");
    assert!(refused.to_string().contains("451"), "{refused}");
    assert!(server.messages("alice").is_empty());

    server.chaos().set(Triggers::default()).unwrap();
    send(&server, "accepted").await.unwrap();
    server.wait_for_messages("alice", 1, STEP).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn chaos_is_refused_unless_the_builder_allowed_it() {
    let server = MailServer::start().await.unwrap();
    let always = Trigger {
        error_code: 451,
        probability: 100,
    };
    let asked = server.chaos().set(Triggers {
        sender: always,
        ..Triggers::default()
    });
    assert!(asked.is_err());
    send(&server, "delivered").await.unwrap();
    server.wait_for_messages("alice", 1, STEP).await.unwrap();
    server.stop().await;
}

#[test]
fn the_blocking_server_has_the_web_api_too() {
    let server = yubin_testing::blocking::MailServer::start().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http_client::Answer { status, body, .. } =
        runtime.block_on(get(server.http_addr(), "/api/v1/messages"));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"total\":0"), "{body}");
    assert!(server.http_url().starts_with("http://127.0.0.1:"));
    server.stop();
}
