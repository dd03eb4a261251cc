//! WITHIN (RFC 5032) over a real socket: OLDER and YOUNGER against internal dates set
//! relative to now, alone and with ESEARCH (RFC 4731) and SEARCHRES (RFC 5182).

use chrono::{TimeDelta, Utc};
use mini_imap::{ImapServerConfig, serve};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;

mod raw;
use raw::Raw as Conn;
use yubin_store::{Flag, Flags, Secret, Store};

const HOUR: i64 = 3600;

/// Five messages (UIDs 1..=5) received `ages` hours ago; 2 and 4 are `\Seen`.
async fn start() -> ServerHandle {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let ages = [24 * 400, 24 * 5, 24 * 2, 1, 0];
    for (i, age) in ages.into_iter().enumerate() {
        let flags: Flags = if [1, 3].contains(&i) {
            [Flag::Seen].into_iter().collect()
        } else {
            Flags::new()
        };
        let date = (Utc::now() - TimeDelta::seconds(age * HOUR)).fixed_offset();
        let raw = format!("Subject: m{}\r\n\r\nbody\r\n", i + 1);
        inbox.append(raw.as_bytes(), &flags, Some(date)).unwrap();
    }
    serve(
        "127.0.0.1:0".parse().unwrap(),
        store,
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

impl Conn {
    /// Connects, logs in and selects INBOX.
    async fn open(handle: &ServerHandle) -> Conn {
        let mut c = Conn::greeted(handle).await;
        let r = c.ask("l LOGIN alice secret\r\n", "l").await;
        assert!(r.starts_with("l OK"), "{r}");
        let r = c.ask("s SELECT INBOX\r\n", "s").await;
        assert!(r.contains("* 5 EXISTS"), "{r}");
        c
    }

    /// Sends `command` and checks the untagged lines are exactly `want`, then `tag OK`.
    async fn expect(&mut self, command: &str, tag: &str, want: &[&str]) {
        let r = self.ask(command, tag).await;
        let lines: Vec<&str> = r.split_inclusive("\r\n").collect();
        let (last, untagged) = lines.split_last().unwrap();
        let want: Vec<String> = want.iter().map(|w| format!("{w}\r\n")).collect();
        assert_eq!(untagged, want, "{command}");
        assert!(last.starts_with(&format!("{tag} OK")), "{command}: {r}");
    }
}

#[tokio::test]
async fn older_and_younger_answer_rfc_5032_examples() {
    let handle = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" WITHIN "), "{r}");

    // RFC 5032 §3's example: unseen messages of the last three days.
    c.expect(
        "a1 SEARCH UNSEEN YOUNGER 259200\r\n",
        "a1",
        &["* SEARCH 3 5"],
    )
    .await;
    // The two keys split the mailbox: each message is in exactly one.
    c.expect("a2 SEARCH YOUNGER 259200\r\n", "a2", &["* SEARCH 3 4 5"])
        .await;
    c.expect("a3 SEARCH OLDER 259200\r\n", "a3", &["* SEARCH 1 2"])
        .await;
    // "Within the last hour" and "older than a day, younger than a week".
    c.expect("a4 UID SEARCH YOUNGER 1800\r\n", "a4", &["* SEARCH 5"])
        .await;
    c.expect(
        "a5 SEARCH OLDER 86400 YOUNGER 604800\r\n",
        "a5",
        &["* SEARCH 2 3"],
    )
    .await;
    c.expect(
        "a6 SEARCH NOT OLDER 604800 OR SEEN OLDER 86400\r\n",
        "a6",
        &["* SEARCH 2 3 4"],
    )
    .await;
    // The interval is an nz-number: 0 and a missing one are syntax errors.
    let r = c.ask("a7 SEARCH OLDER 0\r\n", "a7").await;
    assert!(r.starts_with("a7 BAD"), "{r}");
    let r = c.ask("a8 SEARCH YOUNGER\r\n", "a8").await;
    assert!(r.starts_with("a8 BAD"), "{r}");
}

#[tokio::test]
async fn within_works_with_esearch_and_searchres() {
    let handle = start().await;
    let mut c = Conn::open(&handle).await;
    c.expect(
        "b1 SEARCH RETURN (MIN MAX COUNT) YOUNGER 259200\r\n",
        "b1",
        &["* ESEARCH (TAG \"b1\") MIN 3 MAX 5 COUNT 3"],
    )
    .await;
    c.expect(
        "b2 UID SEARCH RETURN (ALL) OLDER 3600\r\n",
        "b2",
        &["* ESEARCH (TAG \"b2\") UID ALL 1:4"],
    )
    .await;
    // Saved with SAVE, then narrowed with `$` (RFC 5182 §2.1).
    c.expect("b3 SEARCH RETURN (SAVE) OLDER 86400\r\n", "b3", &[])
        .await;
    c.expect("b4 UID SEARCH $ UNSEEN\r\n", "b4", &["* SEARCH 1 3"])
        .await;
    c.expect("b5 SEARCH $ YOUNGER 259200\r\n", "b5", &["* SEARCH 3"])
        .await;
}
