//! Two or three sessions on one mailbox: what one does (or a delivery, or a POP3 commit)
//! reaches the others as EXISTS/RECENT, FETCH FLAGS and EXPUNGE, at the moments RFC 3501
//! §7.4.1 allows and with sequence numbers that stay consistent. Clients are async-imap
//! (a real third-party client) and raw sockets where exact bytes matter.

mod raw;

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use futures::TryStreamExt;
use mini_imap::{ImapServerConfig, serve};
use raw::{Raw, message, start, step, tagged, untagged};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Mailbox, Secret, Store};

type Session = async_imap::Session<TcpStream>;

async fn login(handle: &ServerHandle) -> Session {
    let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
    let mut client = async_imap::Client::new(tcp);
    assert!(step(client.read_response()).await.unwrap().is_some());
    step(client.login("alice", "secret"))
        .await
        .map_err(|(e, _)| e)
        .unwrap()
}

fn mailbox(store: &Store, name: &str) -> Mailbox {
    store.account("alice").unwrap().mailbox(name).unwrap()
}

fn uids(store: &Store, name: &str) -> Vec<u32> {
    mailbox(store, name)
        .messages()
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

/// Waits (bounded) for the next update an idling async-imap session receives.
async fn next_idle_update(idle: &mut async_imap::extensions::idle::Handle<TcpStream>) -> String {
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(60));
    match step(wait).await.unwrap() {
        IdleResponse::NewData(data) => format!("{:?}", data.parsed()),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[tokio::test]
async fn idling_session_sees_a_delivery_within_one_second() {
    let (handle, store) = start(&["a"]).await;
    let mut a = login(&handle).await;
    step(a.select("INBOX")).await.unwrap();
    let mut idle = a.idle();
    step(idle.init()).await.unwrap();

    // A delivery (what SMTP does) while the client waits; the task reports when the
    // store accepted it.
    let inbox = mailbox(&store, "INBOX");
    let delivery = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        inbox.append(&message("new"), &Flags::new(), None).unwrap();
        Instant::now()
    });
    let update = next_idle_update(&mut idle).await;
    let seen = Instant::now();
    let accepted = step(delivery).await.unwrap();
    assert!(update.contains("Exists(2)"), "{update}");
    assert!(
        seen.saturating_duration_since(accepted) <= Duration::from_secs(1),
        "the update came {:?} after the delivery",
        seen - accepted
    );

    // DONE ends IDLE; the session goes on and sees the new message.
    let mut a = step(idle.done()).await.unwrap();
    let fetched: Vec<_> = step(async {
        a.fetch("2", "(UID)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(fetched[0].uid, Some(2));
    step(a.logout()).await.unwrap();
    handle.stop().await;
}

#[tokio::test]
async fn flag_change_and_expunge_reach_the_other_session_with_right_numbers() {
    let (handle, store) = start(&["a", "b", "c", "d"]).await;
    let mut a = Raw::login(&handle).await;
    a.cmd("SELECT INBOX").await;
    let mut b = login(&handle).await;
    step(b.select("INBOX")).await.unwrap();

    step(async {
        b.uid_store("2", "+FLAGS (\\Flagged)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    let r = a.cmd("NOOP").await;
    assert_eq!(untagged(&r), ["* 2 FETCH (FLAGS (\\Flagged \\Recent))"]);

    step(async {
        b.store("2:3", "+FLAGS.SILENT (\\Deleted)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    let expunged: Vec<u32> = step(async {
        b.expunge()
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(expunged, [3, 2]);
    assert_eq!(uids(&store, "INBOX"), [1, 4]);

    let r = a.cmd("NOOP").await;
    assert_eq!(untagged(&r), ["* 3 EXPUNGE", "* 2 EXPUNGE"]);
    let r = a.cmd("FETCH 1:* (UID)").await;
    assert_eq!(untagged(&r), ["* 1 FETCH (UID 1)", "* 2 FETCH (UID 4)"]);
    step(b.logout()).await.unwrap();
    a.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn expunge_is_withheld_during_fetch_store_search_and_sent_after() {
    let (handle, store) = start(&["a", "b", "c"]).await;
    let mut a = Raw::login(&handle).await;
    a.cmd("SELECT INBOX").await;
    let mut b = login(&handle).await;
    step(b.select("INBOX")).await.unwrap();
    step(async {
        b.store("1", "+FLAGS.SILENT (\\Deleted)")
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    step(async {
        b.expunge()
            .await
            .unwrap()
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
    .await;
    mailbox(&store, "INBOX")
        .append(&message("d"), &Flags::new(), None)
        .unwrap();

    // FETCH: the numbers the client knows still hold; the new message may be announced.
    for cmd in ["FETCH 1:* (UID)", "UID FETCH 1:* (UID)"] {
        let r = a.cmd(cmd).await;
        assert!(!r.contains("EXPUNGE"), "{cmd}: {r}");
        assert!(r.contains("* 3 FETCH (UID 3)"), "{cmd}: {r}");
        assert!(tagged(&r).contains(" OK "), "{r}");
    }
    let r = a.cmd("STORE 2 +FLAGS (\\Seen)").await;
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Seen \\Recent))"), "{r}");
    for cmd in [
        "SEARCH ALL",
        "UID SEARCH SEEN",
        "UID STORE 3 +FLAGS (\\Flagged)",
    ] {
        let r = a.cmd(cmd).await;
        assert!(!r.contains("EXPUNGE"), "{cmd}: {r}");
    }
    // The first command that may carry it does, and the numbers shift as announced.
    let r = a.cmd("NOOP").await;
    assert_eq!(untagged(&r), ["* 1 EXPUNGE"]);
    let r = a.cmd("FETCH 1:* (UID)").await;
    assert_eq!(
        untagged(&r),
        [
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)"
        ]
    );
    step(b.logout()).await.unwrap();
    a.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn a_pop3_commit_is_seen_as_expunge_by_an_idling_imap_session() {
    let (handle, store) = start(&["a", "b", "c"]).await;
    let mut a = Raw::login(&handle).await;
    a.cmd("SELECT INBOX").await;
    a.send(b"i1 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");

    // What a POP3 session's UPDATE state does (RFC 1939 §6): under the maildrop lock,
    // remove the messages it retrieved or deleted.
    let account = store.account("alice").unwrap();
    let lock = account.lock_maildrop().unwrap();
    mailbox(&store, "INBOX").expunge(&[1, 3]).unwrap();
    drop(lock);

    assert_eq!(a.line().await, "* 3 EXPUNGE\r\n");
    assert_eq!(a.line().await, "* 1 EXPUNGE\r\n");
    a.send(b"DONE\r\n").await;
    assert_eq!(a.line().await, "i1 OK IDLE terminated\r\n");
    let r = a.cmd("FETCH 1:* (UID)").await;
    assert_eq!(untagged(&r), ["* 1 FETCH (UID 2)"]);
    a.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn move_reaches_idlers_on_both_mailboxes() {
    let (handle, store) = start(&["a", "b"]).await;
    let mut a = login(&handle).await;
    step(a.select("INBOX")).await.unwrap();
    let mut idle_a = a.idle();
    step(idle_a.init()).await.unwrap();
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT Trash").await;
    c.send(b"i1 IDLE\r\n").await;
    assert_eq!(c.line().await, "+ idling\r\n");

    let mut b = login(&handle).await;
    step(b.select("INBOX")).await.unwrap();
    step(b.uid_mv("1", "Trash")).await.unwrap();

    let update = next_idle_update(&mut idle_a).await;
    assert!(update.contains("Expunge(1)"), "{update}");
    assert_eq!(c.line().await, "* 1 EXISTS\r\n");
    assert_eq!(c.line().await, "* 1 RECENT\r\n");
    c.send(b"DONE\r\n").await;
    assert_eq!(c.line().await, "i1 OK IDLE terminated\r\n");
    assert_eq!(uids(&store, "INBOX"), [2]);
    assert_eq!(uids(&store, "Trash"), [1]);

    let mut a = step(idle_a.done()).await.unwrap();
    step(a.logout()).await.unwrap();
    step(b.logout()).await.unwrap();
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn idle_without_a_mailbox_anything_but_done_and_the_idle_timeout() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let mut config = ImapServerConfig::default();
    // RFC 2177 §3: clients re-issue IDLE every 29 minutes, so the default waits longer.
    assert!(config.listener.server.idle_timeout >= Duration::from_secs(29 * 60));
    config.listener.server.idle_timeout = Duration::from_millis(300);
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store,
        config,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut a = Raw::login(&handle).await;
    // Authenticated state: IDLE works, there is just nothing to report.
    a.send(b"i1 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");
    a.send(b"DONE\r\n").await;
    assert_eq!(a.line().await, "i1 OK IDLE terminated\r\n");
    // Anything but DONE ends IDLE with BAD (RFC 2177), and the session goes on.
    a.send(b"i2 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");
    a.send(b"i3 NOOP\r\n").await;
    assert_eq!(a.line().await, "i2 BAD Expected DONE\r\n");
    let r = a.cmd("NOOP").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    // Past the IDLE timeout without DONE, the server logs the client out.
    a.send(b"i4 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");
    assert!(a.line().await.starts_with("* BYE"));
    handle.stop().await;
}

#[tokio::test]
async fn shutdown_ends_an_idle_with_bye() {
    let (handle, _store) = start(&["a"]).await;
    let mut a = Raw::login(&handle).await;
    a.cmd("SELECT INBOX").await;
    a.send(b"i1 IDLE\r\n").await;
    assert_eq!(a.line().await, "+ idling\r\n");
    let stopping = tokio::spawn(handle.stop());
    assert!(a.line().await.starts_with("* BYE [UNAVAILABLE]"));
    step(stopping).await.unwrap();
}
