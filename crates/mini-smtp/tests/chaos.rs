//! Chaos (fault injection) over a real socket: the configured code at MAIL, RCPT and
//! AUTH, nothing delivered, and nothing injected unless chaos was allowed.

use mini_smtp::chaos::{Trigger, Triggers};
use mini_smtp::{Chaos, SmtpConfig, SmtpServerConfig};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use yubin_core::{Secret, ServerHandle};
use yubin_store::Store;

async fn start(chaos: Chaos) -> (Store, ServerHandle, CancellationToken) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let shutdown = CancellationToken::new();
    let config = SmtpServerConfig {
        smtp: SmtpConfig {
            chaos,
            ..SmtpConfig::default()
        },
        ..SmtpServerConfig::default()
    };
    let handle = mini_smtp::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        config,
        shutdown.clone(),
    )
    .await
    .unwrap();
    (store, handle, shutdown)
}

mod conn;
use conn::{Conn, STEP};

fn always(code: u16) -> Trigger {
    Trigger {
        error_code: code,
        probability: 100,
    }
}

fn inbox_len(store: &Store) -> usize {
    store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .messages()
        .unwrap()
        .len()
}

#[tokio::test]
async fn chaos_answers_the_configured_codes_at_mail_rcpt_and_auth() {
    let chaos = Chaos::allowed();
    let (store, handle, shutdown) = start(chaos.clone()).await;

    chaos
        .set(Triggers {
            sender: always(421),
            ..Triggers::default()
        })
        .unwrap();
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO client.test").await;
    let mail = c.cmd("MAIL FROM:<bob@example.com>").await;
    assert!(mail.starts_with("421 4.0.0 sender refused"), "{mail}");
    // The refused MAIL opened no transaction.
    assert!(c.cmd("RCPT TO:<alice@localhost>").await.starts_with("503 "));

    chaos
        .set(Triggers {
            recipient: always(550),
            authentication: always(454),
            ..Triggers::default()
        })
        .unwrap();
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250 ")
    );
    let rcpt = c.cmd("RCPT TO:<alice@localhost>").await;
    assert!(rcpt.starts_with("550 5.0.0 recipient refused"), "{rcpt}");
    assert!(
        c.cmd("DATA").await.starts_with("554 "),
        "no recipient was taken"
    );
    c.cmd("RSET").await;
    let auth = c.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldA==").await;
    assert!(
        auth.starts_with("454 4.0.0 authentication refused"),
        "{auth}"
    );

    // Faults off again ({} in the API): mail flows.
    chaos.set(Triggers::default()).unwrap();
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250 ")
    );
    assert!(c.cmd("RCPT TO:<alice@localhost>").await.starts_with("250 "));
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.w.write_all(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250 "));
    assert_eq!(inbox_len(&store), 1);
    c.cmd("QUIT").await;

    shutdown.cancel();
    tokio::time::timeout(STEP, handle.wait()).await.unwrap();
}

#[tokio::test]
async fn chaos_not_allowed_cannot_be_turned_on_and_mail_flows() {
    let chaos = Chaos::disabled();
    let (store, handle, shutdown) = start(chaos.clone()).await;
    assert!(
        chaos
            .set(Triggers {
                sender: always(451),
                ..Triggers::default()
            })
            .is_err()
    );
    let mut c = Conn::open(&handle).await;
    c.cmd("EHLO client.test").await;
    assert!(
        c.cmd("MAIL FROM:<bob@example.com>")
            .await
            .starts_with("250 ")
    );
    assert!(c.cmd("RCPT TO:<alice@localhost>").await.starts_with("250 "));
    assert!(c.cmd("DATA").await.starts_with("354 "));
    c.w.write_all(b"Subject: hi\r\n\r\nhello\r\n.\r\n")
        .await
        .unwrap();
    assert!(c.reply().await.starts_with("250 "));
    assert_eq!(inbox_len(&store), 1);
    c.cmd("QUIT").await;
    shutdown.cancel();
    tokio::time::timeout(STEP, handle.wait()).await.unwrap();
}
