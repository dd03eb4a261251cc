//! Raw bytes over a real socket: bad input of every kind gets a tagged BAD/NO, changes
//! nothing, and the session goes on; only unframeable input ends it with `* BYE`.

use std::time::Duration;

use mini_imap::codec::CodecLimits;
use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

async fn start(config: ImapServerConfig) -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(
            b"From: a@b.c\r\nSubject: one\r\n\r\nbody\r\n",
            &Flags::new(),
            None,
        )
        .unwrap();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        config,
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store)
}

fn small_limits() -> ImapServerConfig {
    let limits = CodecLimits {
        max_line: 1024,
        max_literal: 100,
        max_command: 4096,
        stream_above: usize::MAX,
    };
    ImapServerConfig {
        limits,
        login_limits: limits,
        ..ImapServerConfig::default()
    }
}

struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Conn {
    async fn open(handle: &ServerHandle) -> (Conn, String) {
        let tcp = tokio::time::timeout(STEP, TcpStream::connect(handle.local_addr()))
            .await
            .unwrap()
            .unwrap();
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        let greeting = c.line().await;
        (c, greeting)
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

    /// Sends, then reads until the line tagged `tag`; returns everything read.
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

#[tokio::test]
async fn bad_input_gets_tagged_errors_and_the_session_goes_on() {
    let (handle, store) = start(small_limits()).await;
    let (mut c, greeting) = Conn::open(&handle).await;
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1 "),
        "{greeting}"
    );

    // Wrong state before login, then a synchronizing literal that gets its `+`.
    let r = c.ask(b"p1 SELECT INBOX\r\n", "p1").await;
    assert!(r.starts_with("p1 BAD"), "{r}");
    c.send(b"p2 LOGIN {5}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    let r = c.ask(b"alice {6+}\r\nsecret\r\n", "p2").await;
    assert!(r.starts_with("p2 OK"), "{r}");
    let r = c.ask(b"p3 SELECT INBOX\r\n", "p3").await;
    assert!(r.contains("p3 OK [READ-WRITE]"), "{r}");

    let long_line = {
        let mut l = b"t9 NOOP ".to_vec();
        l.extend(std::iter::repeat_n(b'x', 2000));
        l.extend_from_slice(b"\r\n");
        l
    };
    let table: Vec<(&str, Vec<u8>, &str)> = vec![
        ("t1", b"t1 FROB\r\n".to_vec(), "t1 BAD Unknown command FROB"),
        ("t2", b"t2 LOGIN alice secret\r\n".to_vec(), "t2 BAD"),
        ("t3", b"t3 FETCH 1:x FLAGS\r\n".to_vec(), "t3 BAD"),
        ("t4", b"t4 FETCH 99 BODY[]\r\n".to_vec(), "t4 BAD"),
        ("t5", b"t5 STATUS nosuch (MESSAGES)\r\n".to_vec(), "t5 NO [NONEXISTENT]"),
        ("t6", b"t6 LOGIN {500}\r\n".to_vec(), "t6 BAD [TOOBIG]"),
        ("t7", b"t7 APPEND INBOX {500}\r\n".to_vec(), "t7 NO [TOOBIG]"),
        ("t8", b"t8 NOOP \x00\r\n".to_vec(), "t8 BAD"),
        ("t9", long_line, "t9 BAD Line too long"),
        (
            "t10",
            b"t10 SEARCH CHARSET KOI8-R ALL\r\n".to_vec(),
            "t10 NO [BADCHARSET",
        ),
        ("t11", b"t11 FETCH 1 (FLAGS BODY[\r\n".to_vec(), "t11 BAD"),
        ("t12", b"t12 STORE 1 +FLAGS (\\Bogus)\r\n".to_vec(), "t12 BAD [CLIENTBUG]"),
        ("t13", b"t13 ENABLE CONDSTORE\r\n".to_vec(), "t13 BAD"),
        ("t14", b"t14 UID FROB 1\r\n".to_vec(), "t14 BAD"),
        ("t15", b"t15 SEARCH ((((((((((((((((((((((((((((((((((((((ALL)))))))))))))))))))))))))))))))))))))\r\n".to_vec(), "t15 BAD"),
        ("t16", b"t16 AUTHENTICATE PLAIN\r\n".to_vec(), "t16 BAD"),
        ("t17", b"t17 LIST\r\n".to_vec(), "t17 BAD"),
    ];
    for (tag, input, expected) in table {
        let r = c.ask(&input, tag).await;
        let last = r.lines().last().unwrap();
        assert!(last.starts_with(expected), "{tag}: {r}");
    }
    // A non-synchronizing literal over the limit: refused, its octets skipped.
    let mut big = b"u1 LOGIN {200+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'z', 200));
    big.extend_from_slice(b" pw\r\n");
    let r = c.ask(&big, "u1").await;
    assert!(r.starts_with("u1 BAD [TOOBIG]"), "{r}");

    // The session goes on, and nothing changed.
    let r = c.ask(b"z1 FETCH 1 FULL\r\n", "z1").await;
    assert!(r.contains(" BODY (\"TEXT\" \"PLAIN\""), "{r}");
    assert!(r.contains("z1 OK"));
    let r = c.ask(b"z2 NOOP\r\n", "z2").await;
    assert!(r.starts_with("z2 OK"), "{r}");
    let st = store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .status()
        .unwrap();
    assert_eq!((st.messages, st.unseen), (1, 1));
    let r = c.ask(b"z3 LOGOUT\r\n", "z3").await;
    assert!(r.starts_with("* BYE"), "{r}");
    handle.stop().await;
}

#[tokio::test]
async fn unframeable_command_ends_the_session_with_bye() {
    let (handle, _store) = start(small_limits()).await;
    let (mut c, _) = Conn::open(&handle).await;
    let mut input = b"a LOGIN".to_vec();
    for _ in 0..60 {
        input.extend_from_slice(b" {90+}\r\n");
        input.extend(std::iter::repeat_n(b'q', 90));
    }
    input.extend_from_slice(b"\r\n");
    c.send(&input).await;
    let line = c.line().await;
    assert!(line.starts_with("* BYE"), "{line}");
    assert_eq!(c.line().await, "", "closed");
    handle.stop().await;
}

#[tokio::test]
async fn shutdown_says_bye_and_over_limit_connections_are_refused() {
    let mut config = ImapServerConfig::default();
    config.listener.server.max_connections = 1;
    let (handle, _store) = start(config).await;
    // A connection that has not logged in gives way to a newcomer when the listener is
    // full, so silent connections cannot lock everyone out.
    let (mut silent, _) = Conn::open(&handle).await;
    let (mut first, _) = Conn::open(&handle).await;
    assert_eq!(
        silent.line().await,
        "* BYE [UNAVAILABLE] too many connections\r\n"
    );
    assert_eq!(silent.line().await, "");
    let r = first.ask(b"l LOGIN alice secret\r\n", "l").await;
    assert!(r.starts_with("l OK"), "{r}");
    // Once every slot belongs to a logged-in session, the newcomer is refused.
    let (mut second, greeting) = Conn::open(&handle).await;
    assert_eq!(greeting, "* BYE [UNAVAILABLE] too many connections\r\n");
    assert_eq!(second.line().await, "");
    let r = first.ask(b"a NOOP\r\n", "a").await;
    assert!(r.starts_with("a OK"));
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
    assert!(first.line().await.starts_with("* BYE [UNAVAILABLE]"));
}

#[tokio::test]
async fn lsub_status_subscribe_namespace_id_enable_close() {
    let (handle, _store) = start(ImapServerConfig::default()).await;
    let (mut c, _) = Conn::open(&handle).await;
    let r = c.ask(b"a0 ID (\"name\" \"test\")\r\n", "a0").await;
    assert!(r.starts_with("* ID (\"name\" \"yubin\""), "{r}");
    // SASL-IR: "\0alice\0secret".
    let r = c
        .ask(b"a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==\r\n", "a1")
        .await;
    assert!(r.starts_with("a1 OK"), "{r}");
    let r = c.ask(b"a2 NAMESPACE\r\n", "a2").await;
    assert!(r.starts_with("* NAMESPACE ((\"\" \"/\")) NIL NIL"), "{r}");
    // RFC 5161 §3.1: an extension the server does not know is ignored (RFC 9051
    // §6.3.1's fictitious X-GOOD-IDEA).
    let r = c.ask(b"a3 ENABLE X-GOOD-IDEA\r\n", "a3").await;
    assert!(r.starts_with("* ENABLED\r\na3 OK"), "{r}");
    let r = c
        .ask(
            b"a4 STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)\r\n",
            "a4",
        )
        .await;
    assert!(
        r.starts_with("* STATUS \"INBOX\" (MESSAGES 1 RECENT 1 UIDNEXT 2 UIDVALIDITY "),
        "{r}"
    );
    let r = c.ask(b"a5 SUBSCRIBE Trash\r\n", "a5").await;
    assert!(r.starts_with("a5 OK"), "{r}");
    let r = c.ask(b"a6 UNSUBSCRIBE Junk\r\n", "a6").await;
    assert!(r.starts_with("a6 OK"), "{r}");
    let r = c.ask(b"a7 LSUB \"\" \"*\"\r\n", "a7").await;
    assert!(r.contains("\"Trash\"") && !r.contains("\"Junk\""), "{r}");
    let r = c.ask(b"a71 CREATE Archive/2024\r\n", "a71").await;
    assert!(r.starts_with("a71 OK"), "{r}");
    c.ask(b"a72 UNSUBSCRIBE Archive\r\n", "a72").await;
    c.ask(b"a73 SUBSCRIBE Archive/2024\r\n", "a73").await;
    let r = c.ask(b"a74 LSUB \"\" %\r\n", "a74").await;
    assert!(
        r.contains("* LSUB (\\Noselect \\HasChildren) \"/\" \"Archive\""),
        "{r}"
    );
    assert!(!r.contains("Archive/2024"), "{r}");
    let r = c.ask(b"a75 LSUB \"\" *\r\n", "a75").await;
    assert!(
        r.contains("\"Archive/2024\"") && !r.contains("\"Archive\"\r"),
        "{r}"
    );
    let r = c.ask(b"a8 LIST \"\" \"\"\r\n", "a8").await;
    assert!(r.starts_with("* LIST (\\Noselect) \"/\" \"\""), "{r}");
    let r = c.ask(b"a9 SELECT INBOX\r\n", "a9").await;
    assert!(r.contains("* 1 EXISTS") && r.contains("[UIDNEXT 2]"), "{r}");
    let r = c.ask(b"b1 CHECK\r\n", "b1").await;
    assert!(r.starts_with("b1 OK"), "{r}");
    let r = c.ask(b"b2 CLOSE\r\n", "b2").await;
    assert!(r.starts_with("b2 OK"), "{r}");
    let r = c.ask(b"b3 FETCH 1 FLAGS\r\n", "b3").await;
    assert!(r.starts_with("b3 BAD"), "no mailbox after CLOSE: {r}");
    c.ask(b"b4 LOGOUT\r\n", "b4").await;
    handle.stop().await;
}
