//! `yubin::testing::MailServer` (yubin-testing, re-exported): the in-process server a
//! user's own tests start.

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yubin::testing::MailServer;

#[tokio::test]
async fn a_test_sends_with_its_own_code_and_sees_what_arrived() {
    let server = MailServer::start().await.unwrap();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build();
    let message = Message::builder()
        .from("app@example.com".parse().unwrap())
        .to("alice@localhost".parse().unwrap())
        .subject("Your order")
        .body("Thank you.\r\n".to_owned())
        .unwrap();
    smtp.send(message).await.unwrap();
    let inbox = server
        .wait_for_messages("alice", 1, std::time::Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].subject(), Some("Your order"));
    let text = String::from_utf8_lossy(inbox[0].raw());
    assert!(text.contains("Subject: Your order\r\n"), "{text}");
    assert!(
        text.starts_with("Return-Path: <app@example.com>\r\n"),
        "{text}"
    );
    // The other protocols serve the same store.
    let mut pop =
        mini_pop::client::PopClient::connect(&server.pop_addr().to_string(), Default::default())
            .await
            .unwrap();
    pop.login("alice", &"secret".into()).await.unwrap();
    assert_eq!(pop.stat().await.unwrap().0, 1);
    pop.quit().await.unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server.stop())
        .await
        .unwrap();
}

#[tokio::test]
async fn accept_any_address_creates_the_account_on_delivery() {
    let server = MailServer::builder()
        .accept_any_login(true)
        .start()
        .await
        .unwrap();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build();
    let message = Message::builder()
        .from("app@example.com".parse().unwrap())
        .to("Bob@Example.com".parse().unwrap())
        .subject("hi")
        .body("hello\r\n".to_owned())
        .unwrap();
    smtp.send(message).await.unwrap();
    // Any domain is caught; the account is the local part, lower-cased.
    assert_eq!(server.messages("bob").len(), 1);
    assert_eq!(server.messages("bob")[0].account(), "bob");
    server.stop().await;
}
