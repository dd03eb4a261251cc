//! The small client's part-2 commands (what `yubin imap store|copy|move|expunge|append|
//! create|delete|rename|idle` run) against the server.

mod raw;

use std::time::Duration;

use mini_imap::client::{ClientError, ImapClient, response_code};
use mini_imap::value::Value;
use raw::{message, start, step};
use yubin_core::{Secret, Transcript};
use yubin_store::Flags;

#[tokio::test]
async fn client_writes_and_idles() {
    let (handle, store) = start(&["a", "b", "c"]).await;
    let account = store.account("alice").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    let addr = handle.local_addr().to_string();
    let mut c = step(ImapClient::connect(&addr, Transcript::disabled()))
        .await
        .unwrap();
    step(c.login("alice", &Secret::from("secret")))
        .await
        .unwrap();

    step(c.create("Work/Q4")).await.unwrap();
    step(c.rename("Work", "Jobs")).await.unwrap();
    let err = step(c.delete("Jobs")).await.unwrap_err();
    assert!(
        matches!(err, ClientError::Refused { ref text, .. } if text.starts_with("[HASCHILDREN]"))
    );
    step(c.delete("Jobs/Q4")).await.unwrap();

    let text = step(c.append("Drafts", &["\\Draft".into()], None, &message("d")))
        .await
        .unwrap();
    assert!(
        response_code(&text).unwrap().starts_with("APPENDUID "),
        "{text}"
    );

    step(c.select("INBOX", false)).await.unwrap();
    let stored = step(c.store("1:2", "+FLAGS (\\Flagged)", false))
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        matches!(stored[0].get("FLAGS"), Some(Value::List(l)) if l.contains(&Value::Atom("\\Flagged".into())))
    );
    let r = step(c.copy("1", "Trash", true, false)).await.unwrap();
    assert!(
        response_code(&r.text).unwrap().starts_with("COPYUID "),
        "{}",
        r.text
    );
    let r = step(c.copy("2", "Trash", false, true)).await.unwrap();
    assert!(r.untagged.iter().any(|u| u.starts_with(b"OK [COPYUID ")));
    assert!(r.untagged.contains(&b"2 EXPUNGE".to_vec()));
    step(c.store("1", "+FLAGS.SILENT (\\Deleted)", false))
        .await
        .unwrap();
    assert_eq!(step(c.expunge(None)).await.unwrap(), [1]);
    assert_eq!(
        step(c.expunge(Some("1:*"))).await.unwrap(),
        Vec::<u32>::new()
    );

    // IDLE: a delivery arrives as an update; then the stop future ends it.
    let inbox2 = inbox.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        inbox2.append(&message("e"), &Flags::new(), None).unwrap();
    });
    let mut updates = Vec::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut tx = Some(tx);
    step(c.idle(
        |u| {
            updates.push(String::from_utf8_lossy(u).into_owned());
            if let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        },
        rx,
    ))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(updates[0], "2 EXISTS");
    assert_eq!(inbox.messages().unwrap().len(), 2);
    step(c.logout()).await.unwrap();
    handle.stop().await;
}
