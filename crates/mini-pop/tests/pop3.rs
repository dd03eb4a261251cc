//! POP3 over real sockets on port 0: retention, locking, stuffing, byte-exact retrieval.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use mini_pop::client::{ClientError, PopClient};
use mini_pop::{PopServerConfig, Retention};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use yubin_core::guard::{GuardConfig, LoginGuard};
use yubin_core::{Secret, ServerHandle, Transcript};
use yubin_store::{Flags, Store};

const STEP: Duration = Duration::from_secs(10);

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

struct Server {
    store: Store,
    handle: ServerHandle,
}

impl Server {
    async fn start(retention: Retention, messages: &[&[u8]]) -> Server {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        for m in messages {
            inbox.append(m, &Flags::new(), None).unwrap();
        }
        let mut config = PopServerConfig::default();
        config.pop.retention = retention;
        config.listener.guard = LoginGuard::new(GuardConfig {
            base_delay: Duration::from_millis(40),
            max_delay: Duration::from_millis(80),
            ..GuardConfig::default()
        });
        let handle = mini_pop::serve(
            "127.0.0.1:0".parse().unwrap(),
            store.clone(),
            config,
            CancellationToken::new(),
        )
        .await
        .unwrap();
        Server { store, handle }
    }

    fn addr(&self) -> SocketAddr {
        self.handle.local_addr()
    }

    async fn login(&self) -> PopClient {
        let mut c = tokio::time::timeout(
            STEP,
            PopClient::connect(&self.addr().to_string(), Transcript::disabled()),
        )
        .await
        .unwrap()
        .unwrap();
        c.login("alice", &Secret::from("secret")).await.unwrap();
        c
    }

    fn inbox_count(&self) -> usize {
        self.store
            .account("alice")
            .unwrap()
            .mailbox("INBOX")
            .unwrap()
            .messages()
            .unwrap()
            .len()
    }

    async fn stop(self) {
        tokio::time::timeout(STEP, self.handle.stop())
            .await
            .expect("server stops");
    }
}

const M1: &[u8] = b"Subject: one\r\n\r\nfirst\r\n";
const M2: &[u8] = b"Subject: two\r\n\r\nsecond\r\n";

#[tokio::test]
async fn retr_then_quit_removes_message() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1, M2]).await;
    let mut c = s.login().await;
    assert_eq!(c.retr(1).await.unwrap(), M1);
    c.quit().await.unwrap();
    assert_eq!(s.inbox_count(), 1);
    let mut c = s.login().await;
    assert_eq!(c.stat().await.unwrap().0, 1);
    assert_eq!(c.retr(1).await.unwrap(), M2);
    c.quit().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn retr_then_dropped_connection_keeps_message() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1]).await;
    let mut c = s.login().await;
    c.retr(1).await.unwrap();
    drop(c);
    // The lock is released when the server notices the close; then the mail is all there.
    let mut ok = false;
    for _ in 0..100 {
        let mut c = PopClient::connect(&s.addr().to_string(), Transcript::disabled())
            .await
            .unwrap();
        match c.login("alice", &Secret::from("secret")).await {
            Ok(_) => {
                assert_eq!(c.stat().await.unwrap(), (1, M1.len() as u64));
                ok = true;
                break;
            }
            Err(ClientError::Server(e)) if e.starts_with("[IN-USE]") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(ok);
    s.stop().await;
}

#[tokio::test]
async fn rset_clears_marks_and_top_marks_nothing() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1, M2]).await;
    let mut c = s.login().await;
    c.retr(1).await.unwrap();
    c.dele(2).await.unwrap();
    c.rset().await.unwrap();
    assert_eq!(c.top(1, 0).await.unwrap(), b"Subject: one\r\n\r\n");
    assert_eq!(c.top(2, 5).await.unwrap(), M2);
    c.quit().await.unwrap();
    assert_eq!(s.inbox_count(), 2);
    s.stop().await;
}

#[tokio::test]
async fn keep_retention_keeps_retrieved_and_removes_deleted() {
    let s = Server::start(Retention::Keep, &[M1, M2]).await;
    let mut c = s.login().await;
    assert!(c.capa().await.unwrap().contains(&"EXPIRE NEVER".to_owned()));
    c.retr(1).await.unwrap();
    c.retr(2).await.unwrap();
    c.dele(2).await.unwrap();
    c.quit().await.unwrap();
    assert_eq!(s.inbox_count(), 1);
    let mut c = s.login().await;
    assert_eq!(c.retr(1).await.unwrap(), M1);
    c.quit().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn second_session_is_refused_with_in_use() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1]).await;
    let first = s.login().await;
    let mut second = PopClient::connect(&s.addr().to_string(), Transcript::disabled())
        .await
        .unwrap();
    match second.login("alice", &Secret::from("secret")).await {
        Err(ClientError::Server(e)) => assert!(e.starts_with("[IN-USE]"), "{e}"),
        other => panic!("expected IN-USE, got {:?}", other.map(|_| ())),
    }
    first.quit().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn every_corpus_message_is_retrieved_byte_exact() {
    let corpus = corpus();
    assert!(corpus.len() >= 10, "corpus fixtures present");
    let refs: Vec<&[u8]> = corpus.iter().map(|(_, m)| m.as_slice()).collect();
    let s = Server::start(Retention::Keep, &refs).await;
    let mut c = s.login().await;
    let list = c.list().await.unwrap();
    for (i, (name, want)) in corpus.iter().enumerate() {
        let n = i as u32 + 1;
        assert_eq!(
            list[i],
            (n, want.len() as u64),
            "{name}: LIST size is the wire size"
        );
        let got = c.retr(n).await.unwrap();
        assert!(got == *want, "{name}: RETR differs");
    }
    c.quit().await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn dot_lines_are_stuffed_on_the_wire_and_survive() {
    let (_, dots) = corpus()
        .into_iter()
        .find(|(n, _)| n.contains("dot-lines"))
        .unwrap();
    let s = Server::start(Retention::Keep, &[&dots]).await;
    let mut raw = raw_login(s.addr()).await;
    raw.1.write_all(b"RETR 1\r\n").await.unwrap();
    let wire = read_until_dot(&mut raw.0).await;
    // On the wire every line starting with "." carries one more.
    for line in wire.split("\r\n").skip(1) {
        if line == "." {
            break;
        }
        assert!(
            !line.starts_with('.') || line.starts_with(".."),
            "unstuffed: {line:?}"
        );
    }
    let mut c = s.login_after_quit(raw).await;
    assert_eq!(c.retr(1).await.unwrap(), dots);
    c.quit().await.unwrap();
    s.stop().await;
}

impl Server {
    async fn login_after_quit(&self, mut raw: Raw) -> PopClient {
        raw.1.write_all(b"QUIT\r\n").await.unwrap();
        let mut rest = String::new();
        let _ = tokio::time::timeout(STEP, raw.0.read_to_string(&mut rest)).await;
        self.login().await
    }
}

type Raw = (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
);

async fn raw_login(addr: SocketAddr) -> Raw {
    let (r, w) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut raw = (BufReader::new(r), w);
    read_line(&mut raw.0).await;
    raw.1
        .write_all(b"USER alice\r\nPASS secret\r\n")
        .await
        .unwrap();
    assert!(read_line(&mut raw.0).await.starts_with("+OK"));
    assert!(read_line(&mut raw.0).await.starts_with("+OK"));
    raw
}

async fn read_line(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut s = String::new();
    tokio::time::timeout(STEP, r.read_line(&mut s))
        .await
        .unwrap()
        .unwrap();
    s
}

async fn read_until_dot(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut all = String::new();
    loop {
        let l = read_line(r).await;
        assert!(!l.is_empty(), "connection closed early");
        all.push_str(&l);
        if l == ".\r\n" {
            return all;
        }
    }
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let s = Server::start(Retention::Keep, &[M1, M2]).await;
    let (r, mut w) = TcpStream::connect(s.addr()).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    read_line(&mut r).await;
    w.write_all(b"USER alice\r\nPASS secret\r\nSTAT\r\nLIST 2\r\nUIDL 1\r\nNOOP\r\nQUIT\r\n")
        .await
        .unwrap();
    let mut all = String::new();
    tokio::time::timeout(STEP, r.read_to_string(&mut all))
        .await
        .unwrap()
        .unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 7, "{all}");
    assert!(lines[1].starts_with("+OK alice's maildrop has 2 messages"));
    assert_eq!(lines[2], format!("+OK 2 {}", M1.len() + M2.len()));
    assert_eq!(lines[3], format!("+OK 2 {}", M2.len()));
    assert!(lines[4].starts_with("+OK 1 "));
    assert_eq!(lines[5], "+OK");
    assert!(lines[6].starts_with("+OK yubin POP3 server signing off"));
    s.stop().await;
}

#[tokio::test]
async fn uidl_is_stable_across_sessions_and_never_reused() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1, M2]).await;
    let mut c = s.login().await;
    let before = c.uidl().await.unwrap();
    c.retr(1).await.unwrap();
    c.quit().await.unwrap();
    s.store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .append(M1, &Flags::new(), None)
        .unwrap();
    let mut c = s.login().await;
    let after = c.uidl().await.unwrap();
    c.quit().await.unwrap();
    assert_eq!(after[0].1, before[1].1, "message 2 keeps its unique id");
    assert!(
        !before.iter().any(|(_, u)| *u == after[1].1),
        "a new message gets a new id"
    );
    s.stop().await;
}

#[tokio::test]
async fn bad_input_gets_err_and_the_session_goes_on() {
    let s = Server::start(Retention::Keep, &[M1]).await;
    let mut raw = raw_login(s.addr()).await;
    for bad in [
        &b"XYZZY\r\n"[..],
        b"RETR\r\n",
        b"RETR x\r\n",
        b"RETR 9\r\n",
        b"DELE 1 2\r\n",
        b"LIST \x00\r\n",
        b"USER \xff\r\n",
        b"\r\n",
    ] {
        raw.1.write_all(bad).await.unwrap();
        let reply = read_line(&mut raw.0).await;
        assert!(
            reply.starts_with("-ERR "),
            "{:?} -> {reply}",
            String::from_utf8_lossy(bad)
        );
    }
    raw.1.write_all(b"STAT\r\n").await.unwrap();
    assert_eq!(
        read_line(&mut raw.0).await,
        format!("+OK 1 {}\r\n", M1.len())
    );
    // A line past the framing limit is dropped and answered; the session goes on, and
    // the line after it (sent in the same write) is answered too.
    let mut long = vec![b'A'; 100_000];
    long.extend_from_slice(b"\r\nSTAT\r\n");
    raw.1.write_all(&long).await.unwrap();
    assert_eq!(read_line(&mut raw.0).await, "-ERR line too long\r\n");
    assert_eq!(
        read_line(&mut raw.0).await,
        format!("+OK 1 {}\r\n", M1.len())
    );
    raw.1.write_all(b"QUIT\r\n").await.unwrap();
    assert!(read_line(&mut raw.0).await.starts_with("+OK"));
    assert_eq!(s.inbox_count(), 1);
    s.stop().await;
}

#[tokio::test]
async fn three_failed_logins_disconnect() {
    let s = Server::start(Retention::Keep, &[]).await;
    let (r, mut w) = TcpStream::connect(s.addr()).await.unwrap().into_split();
    let mut r = BufReader::new(r);
    read_line(&mut r).await;
    for i in 0..3 {
        // The failure reply itself is held back by the login guard (40 ms, doubling);
        // pipelined, the USER reply before it may be held with it.
        let asked = std::time::Instant::now();
        w.write_all(b"USER alice\r\nPASS nope\r\n").await.unwrap();
        read_line(&mut r).await;
        let reply = read_line(&mut r).await;
        assert!(reply.starts_with("-ERR [AUTH]"), "attempt {i}: {reply}");
        assert!(
            asked.elapsed() >= Duration::from_millis(40),
            "attempt {i}: answered after {:?}",
            asked.elapsed()
        );
    }
    assert_eq!(
        read_line(&mut r).await,
        "",
        "closed after the third failure"
    );
    s.stop().await;
}

#[tokio::test]
async fn shutdown_tells_an_open_session_and_commits_nothing() {
    let s = Server::start(Retention::DeleteOnRetrieve, &[M1]).await;
    let mut raw = raw_login(s.addr()).await;
    raw.1.write_all(b"RETR 1\r\n").await.unwrap();
    read_until_dot(&mut raw.0).await;
    s.handle.shutdown();
    assert!(
        read_line(&mut raw.0)
            .await
            .starts_with("-ERR [SYS/TEMP] server shutting down")
    );
    assert_eq!(s.inbox_count(), 1);
    s.stop().await;
}
