//! ESEARCH (RFC 4731) over a real socket: the RFC's examples replayed against a
//! mailbox built to give the same answers.

use std::time::Duration;

use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flag, Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

/// Eleven messages, numbered 1..=11 with UIDs 4..=14 (the first three were expunged):
/// 2, 5, 10 and 11 are `\Flagged`, 5 is from Smith, and message `n` has `n` lines of body.
async fn start() -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for uid in 1..=14u32 {
        let seq = uid.saturating_sub(3);
        let from = if seq == 5 {
            "Smith <s@x.y>"
        } else {
            "Jones <j@x.y>"
        };
        let flags: Flags = if [2, 5, 10, 11].contains(&seq) {
            [Flag::Flagged].into_iter().collect()
        } else {
            Flags::new()
        };
        let body = "line\r\n".repeat(seq as usize);
        let raw = format!("From: {from}\r\nSubject: m{seq}\r\n\r\n{body}");
        inbox.append(raw.as_bytes(), &flags, None).unwrap();
    }
    inbox.expunge(&[1, 2, 3]).unwrap();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store)
}

struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Conn {
    /// Connects, logs in and selects INBOX.
    async fn open(handle: &ServerHandle) -> Conn {
        let tcp = tokio::time::timeout(STEP, TcpStream::connect(handle.local_addr()))
            .await
            .unwrap()
            .unwrap();
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        c.line().await;
        let r = c.ask("l LOGIN alice secret\r\n", "l").await;
        assert!(r.starts_with("l OK"), "{r}");
        let r = c.ask("s SELECT INBOX\r\n", "s").await;
        assert!(r.contains("* 11 EXISTS"), "{r}");
        c
    }

    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(STEP, self.r.read_until(b'\n', &mut buf))
            .await
            .expect("server answers in time")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sends, then reads until the line tagged `tag`; returns everything read.
    async fn ask(&mut self, command: &str, tag: &str) -> String {
        self.w.write_all(command.as_bytes()).await.unwrap();
        let mut all = String::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed; so far: {all}");
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
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
async fn esearch_answers_rfc_4731_examples() {
    let (handle, _store) = start().await;
    let mut c = Conn::open(&handle).await;
    let r = c.ask("c CAPABILITY\r\n", "c").await;
    assert!(r.contains(" ESEARCH "), "{r}");

    // RFC 4731 §3.1's first examples.
    c.expect(
        "A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A282",
        &["* ESEARCH (TAG \"A282\") MIN 2 COUNT 3"],
    )
    .await;
    c.expect(
        "A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
        "A283",
        &["* ESEARCH (TAG \"A283\") ALL 2,10:11"],
    )
    .await;
    // UID SEARCH answers UIDs, marked UID.
    c.expect(
        "A285 UID SEARCH RETURN (MIN MAX) 1:5000\r\n",
        "A285",
        &["* ESEARCH (TAG \"A285\") UID MIN 4 MAX 14"],
    )
    .await;
    c.expect(
        "A286 SEARCH RETURN (COUNT) FLAGGED\r\n",
        "A286",
        &["* ESEARCH (TAG \"A286\") COUNT 4"],
    )
    .await;
    // Every option at once, in any case, with CHARSET after RETURN.
    c.expect(
        "A287 UID SEARCH return (all count max min) CHARSET UTF-8 FLAGGED\r\n",
        "A287",
        &["* ESEARCH (TAG \"A287\") UID MIN 5 MAX 14 COUNT 4 ALL 5,8,13:14"],
    )
    .await;
    // Nothing found: MIN, MAX and ALL are left out; COUNT is 0; the response is sent.
    c.expect(
        "A288 SEARCH RETURN (MIN MAX ALL COUNT) SUBJECT nosuch\r\n",
        "A288",
        &["* ESEARCH (TAG \"A288\") COUNT 0"],
    )
    .await;
    c.expect(
        "A289 SEARCH RETURN (MIN) SUBJECT nosuch\r\n",
        "A289",
        &["* ESEARCH (TAG \"A289\")"],
    )
    .await;
    // Without RETURN, the RFC 3501 answer.
    c.expect("A290 SEARCH FLAGGED\r\n", "A290", &["* SEARCH 2 5 10 11"])
        .await;
    // An unknown option is a syntax error.
    let r = c.ask("A291 SEARCH RETURN (FOO) ALL\r\n", "A291").await;
    assert!(r.starts_with("A291 BAD"), "{r}");
}
