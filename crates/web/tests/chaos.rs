//! `GET/PUT /api/v1/chaos` over HTTP, on a server whose SMTP shares the settings: a real
//! SMTP client (lettre) gets the configured refusal, and nothing is delivered; without
//! chaos allowed, the API refuses and mail flows.

mod http_client;

use http_client::{STEP, get, json};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yubin_testing::MailServer;

async fn send(server: &MailServer, subject: &str) -> Result<(), lettre::transport::smtp::Error> {
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .timeout(Some(STEP))
        .build();
    let message = Message::builder()
        .from("shop@example.com".parse().unwrap())
        .to("alice@localhost".parse().unwrap())
        .subject(subject)
        .body("hello".to_owned())
        .unwrap();
    smtp.send(message).await.map(|_| ())
}

#[tokio::test]
async fn a_fault_set_over_http_is_the_code_a_real_smtp_client_gets() {
    let server = MailServer::builder().chaos(true).start().await.unwrap();
    let http = server.http_addr();

    let webui = get(http, "/api/v1/webui").await.json();
    assert_eq!(webui["ChaosEnabled"], true);
    // Allowed, but no faults until set.
    let now = get(http, "/api/v1/chaos").await;
    assert_eq!(now.status, 200, "{}", now.body);
    assert_eq!(now.json()["Recipient"]["Probability"], 0);
    assert_eq!(now.json()["Recipient"]["ErrorCode"], 451);

    let set = json(
        http,
        "PUT",
        "/api/v1/chaos",
        r#"{"Recipient": {"ErrorCode": 550, "Probability": 100}}"#,
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.json()["Recipient"]["ErrorCode"], 550);
    // Left out: back to the default, off (Mailpit's rule).
    assert_eq!(set.json()["Sender"]["Probability"], 0);
    assert_eq!(set.json()["Authentication"]["ErrorCode"], 535);

    let refused = send(&server, "refused").await.unwrap_err();
    assert!(refused.is_permanent(), "{refused}");
    assert!(refused.to_string().contains("550"), "{refused}");
    assert!(server.messages("alice").is_empty());

    // A client that writes the names in camelCase (Go reads them either way).
    let sender = json(
        http,
        "PUT",
        "/api/v1/chaos",
        r#"{"sender": {"errorCode": 421, "probability": 100}}"#,
    )
    .await;
    assert_eq!(sender.status, 200, "{}", sender.body);
    let transient = send(&server, "later").await.unwrap_err();
    assert!(transient.is_transient(), "{transient}");
    assert!(transient.to_string().contains("421"), "{transient}");

    // `{}` turns every fault off: mail flows again.
    let off = json(http, "PUT", "/api/v1/chaos", "{}").await;
    assert_eq!(off.status, 200, "{}", off.body);
    send(&server, "delivered").await.unwrap();
    let inbox = server
        .wait_for_messages("alice", 1, STEP)
        .await
        .expect("delivered once chaos is off");
    assert_eq!(inbox[0].subject(), Some("delivered"));
    server.stop().await;
}

#[tokio::test]
async fn without_enable_chaos_the_api_refuses_and_mail_flows() {
    let server = MailServer::start().await.unwrap();
    let http = server.http_addr();
    assert_eq!(
        get(http, "/api/v1/webui").await.json()["ChaosEnabled"],
        false
    );

    let read = get(http, "/api/v1/chaos").await;
    assert_eq!(read.status, 400);
    assert!(
        read.json()["Error"]
            .as_str()
            .unwrap()
            .contains("--enable-chaos"),
        "{}",
        read.body
    );
    let set = json(
        http,
        "PUT",
        "/api/v1/chaos",
        r#"{"Sender": {"ErrorCode": 451, "Probability": 100}}"#,
    )
    .await;
    assert_eq!(set.status, 400, "{}", set.body);

    send(&server, "still delivered").await.unwrap();
    server.wait_for_messages("alice", 1, STEP).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn out_of_range_settings_are_refused_and_change_nothing() {
    let server = MailServer::builder().chaos(true).start().await.unwrap();
    let http = server.http_addr();
    let good = r#"{"Authentication": {"ErrorCode": 454, "Probability": 30}}"#;
    assert_eq!(json(http, "PUT", "/api/v1/chaos", good).await.status, 200);

    for (bad, field) in [
        (
            r#"{"Sender": {"ErrorCode": 250, "Probability": 100}}"#,
            "Sender.ErrorCode",
        ),
        (
            r#"{"Recipient": {"ErrorCode": 450, "Probability": 101}}"#,
            "Recipient.Probability",
        ),
        (
            r#"{"Recipient": {"ErrorCode": 450, "Probability": -1}}"#,
            "Recipient.Probability",
        ),
        (r#"{"Sender": "#, "JSON"),
    ] {
        let answer = json(http, "PUT", "/api/v1/chaos", bad).await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert!(answer.body.contains(field), "{bad}: {}", answer.body);
    }
    let kept = get(http, "/api/v1/chaos").await.json();
    assert_eq!(kept["Authentication"]["ErrorCode"], 454);
    assert_eq!(kept["Authentication"]["Probability"], 30);
    assert_eq!(kept["Sender"]["Probability"], 0);
    server.stop().await;
}
