//! What a client may make the server hold, over real sockets: before login a literal is
//! limited to a few KiB and a larger one is refused without `+`; after login a large
//! APPEND is streamed to the store (it arrives byte for byte, synchronizing or LITERAL+),
//! and one the server refuses is refused before the client sends it (or skipped, for
//! LITERAL+), the session going on.

use std::time::Duration;

use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Secret, Store};

const STEP: Duration = Duration::from_secs(10);

async fn start() -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
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
    async fn open(handle: &ServerHandle) -> Conn {
        let tcp = TcpStream::connect(handle.local_addr()).await.unwrap();
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        assert!(c.line().await.starts_with("* OK"));
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

    async fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).await.unwrap();
    }

    async fn ask(&mut self, bytes: &[u8], tag: &str) -> String {
        self.send(bytes).await;
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
}

/// A message of `size` octets with CRLF lines.
fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: a@example.com\r\nSubject: big\r\n\r\n".to_vec();
    let line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n";
    while m.len() + line.len() <= size {
        m.extend_from_slice(line);
    }
    while m.len() < size - 2 {
        m.push(b'x');
    }
    m.extend_from_slice(b"\r\n");
    m
}

fn inbox(store: &Store) -> Vec<Vec<u8>> {
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .messages()
        .unwrap()
        .iter()
        .map(|m| inbox.read(m.uid).unwrap().to_vec())
        .collect()
}

#[tokio::test]
async fn before_login_a_large_literal_is_refused_without_a_continuation() {
    let (handle, _store) = start().await;
    let mut c = Conn::open(&handle).await;
    // 32 MiB announced before login: refused at once, never `+`, nothing buffered.
    c.send(b"a LOGIN {33554432}\r\n").await;
    let reply = c.line().await;
    assert!(reply.starts_with("a BAD [TOOBIG]"), "{reply}");
    // A literal of the size credentials need still works.
    c.send(b"b LOGIN {5}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send(b"alice {6}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    let r = c.ask(b"secret\r\n", "b").await;
    assert!(r.starts_with("b OK"), "{r}");
    // Once logged in, the full limits apply.
    c.send(b"c APPEND INBOX {20000}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    let r = c
        .ask(&[message(20000), b"\r\n".to_vec()].concat(), "c")
        .await;
    assert!(r.starts_with("c OK [APPENDUID"), "{r}");
    handle.stop().await;
}

#[tokio::test]
async fn a_large_append_is_streamed_whole_and_byte_for_byte() {
    let (handle, store) = start().await;
    let mut c = Conn::open(&handle).await;
    assert!(
        c.ask(b"a LOGIN alice secret\r\n", "a")
            .await
            .contains("a OK")
    );
    let big = message(3 * 1024 * 1024 + 17);

    // Synchronizing: `+`, then the message in uneven pieces.
    let head = format!("b APPEND INBOX (\\Seen) {{{}}}\r\n", big.len());
    c.send(head.as_bytes()).await;
    assert!(c.line().await.starts_with("+ "));
    for piece in big.chunks(70_001) {
        c.send(piece).await;
    }
    let r = c.ask(b"\r\n", "b").await;
    assert!(r.starts_with("b OK [APPENDUID "), "{r}");

    // LITERAL+: everything in one write.
    let mut all = format!("c APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    all.extend_from_slice(&big);
    all.extend_from_slice(b"\r\n");
    let r = c.ask(&all, "c").await;
    assert!(r.starts_with("c OK [APPENDUID "), "{r}");

    let stored = inbox(&store);
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| *m == big), "stored byte for byte");
    assert!(c.ask(b"s SELECT INBOX\r\n", "s").await.contains("s OK"));
    let r = c.ask(b"d FETCH 1 (FLAGS RFC822.SIZE)\r\n", "d").await;
    assert!(r.contains("\\Seen"), "{r}");
    assert!(r.contains(&format!("RFC822.SIZE {}", big.len())), "{r}");
    handle.stop().await;
}

#[tokio::test]
async fn a_refused_large_append_is_refused_first_and_the_session_goes_on() {
    let (handle, store) = start().await;
    let mut c = Conn::open(&handle).await;
    assert!(
        c.ask(b"a LOGIN alice secret\r\n", "a")
            .await
            .contains("a OK")
    );
    let big = message(200_000);

    // No such mailbox: NO [TRYCREATE] instead of `+`, so the client never sends it.
    let head = format!("b APPEND Nowhere {{{}}}\r\n", big.len());
    let r = c.ask(head.as_bytes(), "b").await;
    assert!(r.starts_with("b NO [TRYCREATE]"), "{r}");

    // LITERAL+ cannot be stopped: the answer comes, the octets are skipped.
    let mut all = format!("c APPEND Nowhere {{{}+}}\r\n", big.len()).into_bytes();
    all.extend_from_slice(&big);
    all.extend_from_slice(b"\r\n");
    let r = c.ask(&all, "c").await;
    assert!(r.starts_with("c NO [TRYCREATE]"), "{r}");

    // A bad flag is refused before the message too.
    let head = format!("d APPEND INBOX (\\Bogus) {{{}}}\r\n", big.len());
    let r = c.ask(head.as_bytes(), "d").await;
    assert!(r.starts_with("d BAD"), "{r}");

    // Anything but the CRLF or another message (MULTIAPPEND, RFC 3502) after the
    // message: BAD, and the message is not added.
    let head = format!("e APPEND INBOX {{{}}}\r\n", big.len());
    c.send(head.as_bytes()).await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&big).await;
    let r = c.ask(b" junk\r\n", "e").await;
    assert!(r.starts_with("e BAD"), "{r}");

    let r = c.ask(b"f NOOP\r\n", "f").await;
    assert!(r.starts_with("f OK"), "{r}");
    assert!(inbox(&store).is_empty(), "nothing was added");
    handle.stop().await;
}
