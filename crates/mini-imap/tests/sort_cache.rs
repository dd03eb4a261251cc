//! SORT and THREAD over the shared cache of sort keys ([`FactsCache`]), over real
//! sockets: what one session read serves another, and the answers are the ones the
//! messages give however the cache was filled, bounded or emptied — after appends and
//! expunges by another session, after a mailbox was deleted and created again under the
//! same name, with a cache too small to hold anything, and with sessions sorting at once.

use chrono::DateTime;
use mini_imap::ImapServerConfig;
use mini_imap::sort::cache::{FactsCache, SORT_CACHE_BYTES};
use yubin_core::ServerHandle;
use yubin_store::{Flags, Mailbox, Secret, Store};

mod raw;
use raw::{Raw, untagged};

/// A message with this subject, sent date (day of January 2026) and ids.
fn mail(subject: &str, day: u32, id: &str, parent: Option<&str>) -> Vec<u8> {
    let mut m = format!(
        "From: {subject} <{subject}@example.com>\r\nSubject: {subject}\r\n\
         Date: {day} Jan 2026 10:00:00 +0000\r\nMessage-ID: <{id}@x>\r\n"
    );
    if let Some(p) = parent {
        m.push_str(&format!("In-Reply-To: <{p}@x>\r\n"));
    }
    m.push_str("\r\nbody\r\n");
    m.into_bytes()
}

fn append(mailbox: &Mailbox, raw: &[u8]) -> u32 {
    let date = DateTime::parse_from_rfc3339("2026-02-01T00:00:00Z").unwrap();
    mailbox.append(raw, &Flags::new(), Some(date)).unwrap()
}

async fn start() -> (ServerHandle, Store) {
    start_with(SORT_CACHE_BYTES).await
}

/// A server whose sessions bound each mailbox's sort cache to `limit` bytes
/// (`ImapConfig::sort_cache`, shared by every mailbox, applied at SELECT).
async fn start_with(limit: usize) -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let mut config = ImapServerConfig::default();
    config.imap.sort_cache = mini_imap::sort::cache::SortBudget::new(limit);
    let handle = raw::serve_with(&store, config).await;
    (handle, store)
}

async fn open(handle: &ServerHandle, mailbox: &str) -> Raw {
    let mut c = Raw::login(handle).await;
    let r = c.cmd(&format!("SELECT {mailbox}")).await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    c
}

/// The untagged answer to `command`, which must complete with OK; ESEARCH's tag
/// (RFC 4731 §3) is left out, so that answers to different commands compare.
async fn answer(c: &mut Raw, command: &str) -> Vec<String> {
    let tag = format!("(TAG \"{}\") ", c.next_tag());
    let r = c.cmd(command).await;
    assert!(raw::tagged(&r).contains(" OK "), "{command}: {r}");
    untagged(&r)
        .into_iter()
        .map(|line| line.replace(&tag, ""))
        .collect()
}

/// Five messages whose subject, date and sequence orders all differ:
/// subjects D B E A C, days 3 5 1 4 2; 2 and 4 reply to 1.
fn five(inbox: &Mailbox) {
    for (subject, day, id, parent) in [
        ("d", 3, "m1", None),
        ("b", 5, "m2", Some("m1")),
        ("e", 1, "m3", None),
        ("a", 4, "m4", Some("m1")),
        ("c", 2, "m5", None),
    ] {
        append(inbox, &mail(subject, day, id, parent));
    }
}

#[tokio::test]
async fn what_one_session_read_serves_another_through_appends_and_expunges() {
    let (handle, store) = start().await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    five(&inbox);
    let mut a = open(&handle, "INBOX").await;
    // Only sent dates are read for this one: the cache knows no subject yet.
    assert_eq!(
        answer(&mut a, "SORT (DATE) UTF-8 ALL").await,
        ["* SORT 3 5 1 4 2"]
    );
    assert_eq!(FactsCache::of(&inbox).len(), 5);
    let mut b = open(&handle, "INBOX").await;
    // A subject the first SORT did not read is read now, not taken as empty.
    assert_eq!(
        answer(&mut b, "SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 4 2 5 1 3"]
    );
    assert_eq!(
        answer(&mut b, "THREAD REFERENCES UTF-8 ALL").await,
        ["* THREAD (3)(5)(1 (4)(2))"]
    );
    // Another session appends (UID 6, subject "aa", the earliest) and expunges UID 3.
    let new = "From: x@y\r\nSubject: aa\r\nDate: 1 Dec 2025 10:00:00 +0000\r\n\r\nhello\r\n";
    let r = a
        .cmd(&format!("APPEND INBOX {{{}+}}\r\n{new}", new.len()))
        .await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    let r = a.cmd("UID STORE 3 +FLAGS (\\Deleted)").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    let r = a.cmd("EXPUNGE").await;
    assert!(r.contains("* 3 EXPUNGE"), "{r}");
    // The other session learns of both first, then sorts its new numbering.
    let r = b.cmd("NOOP").await;
    assert!(r.contains("* 3 EXPUNGE") && r.contains(" EXISTS"), "{r}");
    assert_eq!(
        answer(&mut b, "SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 3 5 2 4 1"]
    );
    assert_eq!(
        answer(&mut b, "UID SORT (DATE) UTF-8 ALL").await,
        ["* SORT 6 5 1 4 2"]
    );
    assert_eq!(
        answer(&mut a, "THREAD ORDEREDSUBJECT UTF-8 ALL").await,
        ["* THREAD (5)(4)(1)(3)(2)"]
    );
    // A third session, selecting after the others sorted, gets the same.
    let mut c = open(&handle, "INBOX").await;
    assert_eq!(
        answer(&mut c, "SORT (REVERSE DATE) UTF-8 ALL").await,
        ["* SORT 2 3 1 4 5"]
    );
    for s in [a, b, c] {
        s.logout().await;
    }
    handle.stop().await;
}

#[tokio::test]
async fn a_mailbox_deleted_and_created_again_sorts_its_own_messages() {
    let (handle, store) = start().await;
    let account = store.account("alice").unwrap();
    account.create("Box").unwrap();
    let first = account.mailbox("Box").unwrap();
    for (subject, day) in [("c", 1), ("b", 2), ("a", 3)] {
        append(&first, &mail(subject, day, subject, None));
    }
    let mut c = open(&handle, "Box").await;
    assert_eq!(
        answer(&mut c, "UID SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 3 2 1"]
    );
    assert_eq!(answer(&mut c, "CLOSE").await, Vec::<String>::new());
    for command in ["DELETE Box", "CREATE Box"] {
        let r = c.cmd(command).await;
        assert!(raw::tagged(&r).contains(" OK "), "{command}: {r}");
    }
    // The same name, the same UIDs, other messages.
    let second = account.mailbox("Box").unwrap();
    for (subject, day) in [("x", 3), ("y", 2), ("z", 1)] {
        assert!(append(&second, &mail(subject, day, subject, None)) <= 3);
    }
    let r = c.cmd("SELECT Box").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    assert_eq!(
        answer(&mut c, "UID SORT (SUBJECT) UTF-8 ALL").await,
        ["* SORT 1 2 3"]
    );
    assert_eq!(
        answer(&mut c, "SORT (DATE) UTF-8 ALL").await,
        ["* SORT 3 2 1"]
    );
    // Renamed, its messages keep their keys under the new name; a new Box is empty.
    assert_eq!(answer(&mut c, "CLOSE").await, Vec::<String>::new());
    let r = c.cmd("RENAME Box Moved").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    let r = c.cmd("CREATE Box").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    let r = c.cmd("SELECT Moved").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    assert_eq!(
        answer(&mut c, "SORT (REVERSE SUBJECT) UTF-8 ALL").await,
        ["* SORT 3 2 1"]
    );
    let r = c.cmd("SELECT Box").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    assert_eq!(answer(&mut c, "SORT (SUBJECT) UTF-8 ALL").await, ["* SORT"]);
    c.logout().await;
    handle.stop().await;
}

/// A mailbox of `n` messages with subjects, dates, senders and reply links that give
/// every criterion its own order.
fn many(inbox: &Mailbox, n: u32) {
    for i in 1..=n {
        let subject = format!(
            "{}topic {}",
            ["", "Re: ", "Fwd: "][(i % 3) as usize],
            i * 7 % 11
        );
        let parent = (i % 4 == 0).then(|| format!("m{}", i / 2));
        let mut raw = mail("x", 1 + i * 13 % 28, &format!("m{i}"), parent.as_deref());
        // A subject with spaces and a sender of its own, in place of mail()'s.
        let text = String::from_utf8(raw).unwrap().replacen(
            "Subject: x\r\n",
            &format!("Subject: {subject}\r\n"),
            1,
        );
        raw = text
            .replacen(
                "From: x <x@example.com>",
                &format!("From: S{} <s{}@example.com>", i * 5 % 9, i * 5 % 9),
                1,
            )
            .into_bytes();
        append(inbox, &raw);
    }
}

const COMMANDS: [&str; 7] = [
    "SORT (DATE) UTF-8 ALL",
    "SORT (SUBJECT REVERSE DATE) UTF-8 ALL",
    "UID SORT (FROM SUBJECT) UTF-8 ALL",
    "SORT (DISPLAYFROM REVERSE ARRIVAL) UTF-8 1:30",
    "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
];

async fn answers(c: &mut Raw) -> Vec<Vec<String>> {
    let mut all = Vec::new();
    for command in COMMANDS {
        all.push(answer(c, command).await);
    }
    all
}

#[tokio::test]
async fn a_cache_of_any_size_gives_the_same_answers() {
    // Nothing kept (the server's configured limit): every command reads every header,
    // as without a cache.
    let (handle, store) = start_with(0).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    many(&inbox, 60);
    let cache = FactsCache::of(&inbox);
    let mut c = open(&handle, "INBOX").await;
    let want = answers(&mut c).await;
    assert!(cache.is_empty());
    // One answer checked by hand, so the others are not merely the same as each other:
    // day 1 + i*13 mod 28 is 1 for i = 28 and 56, 2 for 13 and 41, 3 for 26 and 54
    // (equal dates in sequence order).
    assert!(
        want[0][0].starts_with("* SORT 28 56 13 41 26 54 "),
        "{:?}",
        want[0]
    );
    // Room for a few messages only (the cache starts over again and again), then
    // plenty (every command after the first finds everything).
    for limit in [1000, 8 * 1024, SORT_CACHE_BYTES] {
        cache.set_limit(limit);
        for round in 0..2 {
            assert_eq!(answers(&mut c).await, want, "limit {limit}, round {round}");
        }
    }
    assert_eq!(cache.len(), 60);
    c.logout().await;
    handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_sorting_at_once_get_the_same_answers() {
    let (handle, store) = start_with(0).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    many(&inbox, 200);
    let cache = FactsCache::of(&inbox);
    let mut c = open(&handle, "INBOX").await;
    let want = answers(&mut c).await;
    c.logout().await;
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(open(&handle, "INBOX").await);
    }
    // A cache that starts over every few dozen messages (set after the SELECTs, which
    // apply the server's limit), so sessions fill and empty it under one another.
    cache.set_limit(16 * 1024);
    let mut tasks = Vec::new();
    for mut c in sessions {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for _ in 0..3 {
                got.push(answers(&mut c).await);
            }
            c.logout().await;
            got
        }));
    }
    for t in tasks {
        for got in t.await.unwrap() {
            assert_eq!(got, want);
        }
    }
    handle.stop().await;
}

#[tokio::test]
async fn mailboxes_sorted_in_turn_hold_no_more_than_the_servers_budget() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let account = store.account("alice").unwrap();
    let mut config = ImapServerConfig::default();
    // Room for the keys of about one mailbox of 60 messages, not five.
    let budget = mini_imap::sort::cache::SortBudget::new(40 * 1024);
    config.imap.sort_cache = budget.clone();
    let handle = raw::serve_with(&store, config).await;
    let mut want = Vec::new();
    for i in 0..5 {
        let name = format!("List{i}");
        account.create(&name).unwrap();
        many(&account.mailbox(&name).unwrap(), 60);
    }
    let mut c = Raw::login(&handle).await;
    for round in 0..2 {
        for i in 0..5 {
            let r = c.cmd(&format!("SELECT List{i}")).await;
            assert!(raw::tagged(&r).contains(" OK "), "{r}");
            let got = answers(&mut c).await;
            if round == 0 {
                want.push(got);
            } else {
                assert_eq!(got, want[i], "List{i}");
            }
            assert!(budget.held() <= budget.limit(), "{} held", budget.held());
        }
    }
    assert!(budget.held() > 0, "something is kept");
    // Deleting a mailbox gives its bytes back.
    let r = c.cmd("UNSELECT").await;
    assert!(raw::tagged(&r).contains(" OK "), "{r}");
    let before = budget.held();
    for i in 0..5 {
        account.delete(&format!("List{i}")).unwrap();
    }
    assert!(budget.held() < before || before == 0);
    assert_eq!(budget.held(), 0);
    c.logout().await;
    handle.stop().await;
}
