//! A raw IMAP connection for tests that check exact bytes (sequence numbers, response
//! codes, the order of untagged responses). Every read is bounded by [`STEP`].
#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Secret, Store};

/// The bound on every step; a hung server fails the test instead of hanging it.
pub const STEP: Duration = Duration::from_secs(10);

/// Bounds a step by [`STEP`].
pub async fn step<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP, f).await.expect("step timed out")
}

/// A message with this subject, as a plain RFC 5322 text.
pub fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: {subject}\r\n\
         Date: Tue, 24 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}@example.com>\r\n\r\n\
         Hello from {subject}.\r\n"
    )
    .into_bytes()
}

/// A memory store where alice's INBOX holds `subjects` (UIDs 1, 2, ...), and a server.
pub async fn start(subjects: &[&str]) -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for s in subjects {
        inbox.append(&message(s), &Flags::new(), None).unwrap();
    }
    let handle = serve_with(&store, ImapServerConfig::default()).await;
    (handle, store)
}

/// An IMAP server on a free loopback port over `store`, with `config`.
pub async fn serve_with(store: &Store, config: ImapServerConfig) -> ServerHandle {
    serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        config,
        CancellationToken::new(),
    )
    .await
    .unwrap()
}

/// One logged-in raw connection.
pub struct Raw {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    next: u32,
}

impl Raw {
    /// Connects and reads the greeting, not logged in.
    pub async fn greeted(handle: &ServerHandle) -> Raw {
        let tcp = step(TcpStream::connect(handle.local_addr())).await.unwrap();
        let (r, w) = tcp.into_split();
        let mut raw = Raw {
            r: BufReader::new(r),
            w,
            next: 1,
        };
        let greeting = raw.line().await;
        assert!(greeting.starts_with("* OK"), "{greeting}");
        raw
    }

    /// Connects and logs in as alice.
    pub async fn login(handle: &ServerHandle) -> Raw {
        let mut raw = Raw::greeted(handle).await;
        let r = raw.cmd("LOGIN alice secret").await;
        assert!(r.contains(" OK "), "{r}");
        raw
    }

    /// One response line, CRLF included; panics at end of input.
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = step(self.r.read_until(b'\n', &mut buf)).await.unwrap();
        assert!(n > 0, "connection closed");
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sends bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        step(self.w.write_all(bytes)).await.unwrap();
    }

    /// Reads until the line tagged `tag`; returns everything read, that line included.
    pub async fn until_tagged(&mut self, tag: &str) -> String {
        let mut all = String::new();
        loop {
            let line = self.line().await;
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }

    /// Sends `command` as it is (tag and CRLF included) and reads until the line tagged
    /// `tag`; returns everything read, that line included.
    pub async fn ask(&mut self, command: &str, tag: &str) -> String {
        self.send(command.as_bytes()).await;
        self.until_tagged(tag).await
    }

    /// Sends `text` under a fresh tag `tN` and returns the responses, tagged line last.
    pub async fn cmd(&mut self, text: &str) -> String {
        let tag = format!("t{}", self.next);
        self.next += 1;
        self.send(format!("{tag} {text}\r\n").as_bytes()).await;
        self.until_tagged(&tag).await
    }

    /// The tag [`Raw::cmd`] will use next.
    pub fn next_tag(&self) -> String {
        format!("t{}", self.next)
    }

    /// Logs out; the server must answer and close.
    pub async fn logout(mut self) {
        let r = self.cmd("LOGOUT").await;
        assert!(r.contains("* BYE"), "{r}");
    }
}

/// The tagged (last) line of a response.
pub fn tagged(response: &str) -> &str {
    response
        .trim_end_matches("\r\n")
        .rsplit("\r\n")
        .next()
        .unwrap_or("")
}

/// The untagged lines of a response, without the tagged line.
pub fn untagged(response: &str) -> Vec<&str> {
    response
        .split("\r\n")
        .filter(|l| l.starts_with("* "))
        .collect()
}
