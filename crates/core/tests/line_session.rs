//! `line_session::drive` over real loopback sockets: a session's handler runs on tokio's
//! blocking pool, never on the async worker, even on the current-thread runtime; pipelined
//! lines are answered in order; a panicking session costs only its own connection.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_core::line_session::{self, After, DriveOptions, LineSession, Reply};
use yubin_core::server::{self, ServerConfig};
use yubin_core::transcript::Transcript;

const STEP: Duration = Duration::from_secs(5);
/// The name the runtime gives its blocking-pool threads in these tests.
const POOL: &str = "test-blocking-pool";

/// Answers every line with the name of the thread that handled it; `QUIT` closes and
/// `PANIC` panics, as a session with a bug would.
struct WhereAmI;

impl LineSession for WhereAmI {
    fn handle_line(&mut self, line: &[u8]) -> Reply {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let after = match line {
            b"QUIT" => After::Close,
            b"PANIC" => panic!("a session bug"),
            _ => After::Continue,
        };
        let text = format!("+{} {name}\r\n", String::from_utf8_lossy(line));
        Reply {
            bytes: BytesMut::from(text.as_bytes()),
            after,
        }
    }
    fn tls_started(&mut self) {}
    fn too_long_line(&self) -> &'static [u8] {
        b"-ERR too long\r\n"
    }
    fn idle_line(&self) -> &'static [u8] {
        b"-ERR idle\r\n"
    }
    fn shutdown_line(&self) -> &'static [u8] {
        b"-ERR shutdown\r\n"
    }
}

/// A current-thread runtime, as the tests (and a small deployment) use: the only async
/// worker is the thread that calls `block_on`.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name(POOL)
        .build()
        .unwrap()
}

async fn start() -> ServerHandle {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let config = ServerConfig::new("test", b"-ERR busy\r\n");
    server::spawn(
        listener,
        config,
        CancellationToken::new(),
        |stream, ctx| async move {
            let options = DriveOptions {
                max_line: 64,
                transcript: Transcript::disabled(),
                starttls: None,
                failure_line: b"-ERR internal error\r\n",
            };
            let _ = line_session::drive(stream, &ctx, WhereAmI, b"+HELLO\r\n", &options).await;
        },
    )
    .unwrap()
}

async fn connect(addr: SocketAddr) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let (r, w) = s.into_split();
    (BufReader::new(r), w)
}

async fn line(r: &mut BufReader<OwnedReadHalf>) -> String {
    let mut s = String::new();
    tokio::time::timeout(STEP, r.read_line(&mut s))
        .await
        .expect("line in time")
        .unwrap();
    s
}

#[test]
fn handlers_run_on_the_blocking_pool_not_the_async_worker() {
    let worker = std::thread::current().name().map(str::to_owned);
    assert_ne!(worker.as_deref(), Some(POOL));
    runtime().block_on(async {
        let handle = start().await;
        let (mut r, mut w) = connect(handle.local_addr()).await;
        assert_eq!(line(&mut r).await, "+HELLO\r\n");
        // One at a time, then pipelined (answered in one trip to the pool, in order).
        w.write_all(b"one\r\n").await.unwrap();
        assert_eq!(line(&mut r).await, format!("+one {POOL}\r\n"));
        w.write_all(b"two\r\nthree\r\nQUIT\r\nnever\r\n")
            .await
            .unwrap();
        assert_eq!(line(&mut r).await, format!("+two {POOL}\r\n"));
        assert_eq!(line(&mut r).await, format!("+three {POOL}\r\n"));
        assert_eq!(line(&mut r).await, format!("+QUIT {POOL}\r\n"));
        assert_eq!(
            line(&mut r).await,
            "",
            "closed after QUIT; `never` is not answered"
        );
        tokio::time::timeout(STEP, handle.stop()).await.unwrap();
    });
}

#[test]
fn pipelined_lines_before_an_overlong_one_are_answered_first() {
    runtime().block_on(async {
        let handle = start().await;
        let (mut r, mut w) = connect(handle.local_addr()).await;
        assert_eq!(line(&mut r).await, "+HELLO\r\n");
        let mut input = b"a\r\nb\r\n".to_vec();
        input.extend_from_slice(&[b'x'; 200]);
        input.extend_from_slice(b"\r\nc\r\n");
        w.write_all(&input).await.unwrap();
        assert_eq!(line(&mut r).await, format!("+a {POOL}\r\n"));
        assert_eq!(line(&mut r).await, format!("+b {POOL}\r\n"));
        assert_eq!(line(&mut r).await, "-ERR too long\r\n");
        assert_eq!(line(&mut r).await, "");
        tokio::time::timeout(STEP, handle.stop()).await.unwrap();
    });
}

#[test]
fn a_panicking_session_ends_its_connection_not_the_server() {
    runtime().block_on(async {
        let handle = start().await;
        let (mut r, mut w) = connect(handle.local_addr()).await;
        assert_eq!(line(&mut r).await, "+HELLO\r\n");
        // The reply to `before` was not flushed yet when the session panicked: it still
        // goes out, ahead of the failure line.
        w.write_all(b"before\r\nPANIC\r\nafter\r\n").await.unwrap();
        assert_eq!(line(&mut r).await, format!("+before {POOL}\r\n"));
        assert_eq!(line(&mut r).await, "-ERR internal error\r\n");
        assert_eq!(line(&mut r).await, "");
        // Everyone else is still served.
        let (mut r2, mut w2) = connect(handle.local_addr()).await;
        assert_eq!(line(&mut r2).await, "+HELLO\r\n");
        w2.write_all(b"QUIT\r\n").await.unwrap();
        assert_eq!(line(&mut r2).await, format!("+QUIT {POOL}\r\n"));
        tokio::time::timeout(STEP, handle.stop()).await.unwrap();
    });
}
