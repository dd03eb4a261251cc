//! The server runtime over real sockets on port 0: limits, idle timeout, shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use futures::SinkExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use yubin_core::server::{self, Next, ServerConfig, SessionContext};
use yubin_core::stream::Stream;
use yubin_core::{LineCodec, ServerHandle};

const STEP: Duration = Duration::from_secs(5);

/// A toy line protocol: greets, echoes, answers QUIT, and says goodbye on timeout/shutdown.
async fn echo_session(stream: Stream, ctx: SessionContext) {
    // No login in this toy: every connection keeps its slot (never evicted), so a full
    // listener refuses the next one.
    ctx.slot.authenticated();
    let (r, w) = tokio::io::split(stream);
    let mut lines = FramedRead::new(r, LineCodec::new(64));
    let mut out = FramedWrite::new(w, LineCodec::new(64));
    let _ = out.send(&b"+HELLO"[..]).await;
    loop {
        let reply: &[u8] = match ctx.next(&mut lines).await {
            Next::Frame(line) if &line[..] == b"QUIT" => b"+BYE",
            Next::Frame(line) => {
                let _ = out.send(&line[..]).await;
                continue;
            }
            Next::Error(_) => b"-ERR line too long",
            Next::IdleTimeout => b"-ERR idle timeout",
            Next::Shutdown => b"-ERR server shutting down",
            Next::Evicted => b"-ERR busy",
            Next::Closed => return,
        };
        let _ = out.send(reply).await;
        return;
    }
}

async fn start(config: ServerConfig) -> ServerHandle {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    server::spawn(listener, config, CancellationToken::new(), |s, c| {
        echo_session(s, c)
    })
    .unwrap()
}

async fn connect(
    addr: SocketAddr,
) -> (
    BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
) {
    let s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .unwrap()
        .unwrap();
    let (r, w) = s.into_split();
    (BufReader::new(r), w)
}

async fn line(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
    let mut s = String::new();
    tokio::time::timeout(STEP, r.read_line(&mut s))
        .await
        .expect("line in time")
        .unwrap();
    s
}

#[tokio::test]
async fn port_zero_binds_a_real_port() {
    let handle = start(ServerConfig::new("test", b"-ERR busy\r\n")).await;
    let addr = handle.local_addr();
    assert_ne!(addr.port(), 0);
    let (mut r, mut w) = connect(addr).await;
    assert_eq!(line(&mut r).await, "+HELLO\r\n");
    w.write_all(b"ping\r\nQUIT\r\n").await.unwrap();
    assert_eq!(line(&mut r).await, "ping\r\n");
    assert_eq!(line(&mut r).await, "+BYE\r\n");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn connection_over_the_limit_gets_refusal_and_close() {
    let mut config = ServerConfig::new("test", b"-ERR [SYS/TEMP] too many connections\r\n");
    config.max_connections = 2;
    let handle = start(config).await;
    let addr = handle.local_addr();
    let (mut r1, _w1) = connect(addr).await;
    let (mut r2, _w2) = connect(addr).await;
    assert_eq!(line(&mut r1).await, "+HELLO\r\n");
    assert_eq!(line(&mut r2).await, "+HELLO\r\n");
    let (mut r3, _w3) = connect(addr).await;
    assert_eq!(
        line(&mut r3).await,
        "-ERR [SYS/TEMP] too many connections\r\n"
    );
    assert_eq!(line(&mut r3).await, "", "refused connection is closed");
    // A slot frees up once a session ends.
    drop((r1, _w1));
    let mut served = false;
    for _ in 0..50 {
        let (mut r4, _w4) = connect(addr).await;
        if line(&mut r4).await == "+HELLO\r\n" {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(served, "a freed slot is reused");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn idle_session_is_told_and_closed() {
    let mut config = ServerConfig::new("test", b"-ERR busy\r\n");
    config.idle_timeout = Duration::from_millis(200);
    let handle = start(config).await;
    let (mut r, _w) = connect(handle.local_addr()).await;
    assert_eq!(line(&mut r).await, "+HELLO\r\n");
    assert_eq!(line(&mut r).await, "-ERR idle timeout\r\n");
    assert_eq!(line(&mut r).await, "");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn overlong_line_is_an_error_not_a_buffer() {
    let handle = start(ServerConfig::new("test", b"-ERR busy\r\n")).await;
    let (mut r, mut w) = connect(handle.local_addr()).await;
    assert_eq!(line(&mut r).await, "+HELLO\r\n");
    w.write_all(&[b'x'; 10_000]).await.unwrap();
    assert_eq!(line(&mut r).await, "-ERR line too long\r\n");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn shutdown_says_goodbye_to_open_sessions_and_stops_listening() {
    let handle = start(ServerConfig::new("test", b"-ERR busy\r\n")).await;
    let addr = handle.local_addr();
    let (mut r1, _w1) = connect(addr).await;
    let (mut r2, _w2) = connect(addr).await;
    assert_eq!(line(&mut r1).await, "+HELLO\r\n");
    assert_eq!(line(&mut r2).await, "+HELLO\r\n");
    handle.shutdown();
    assert_eq!(line(&mut r1).await, "-ERR server shutting down\r\n");
    assert_eq!(line(&mut r2).await, "-ERR server shutting down\r\n");
    tokio::time::timeout(STEP, handle.wait())
        .await
        .expect("every session finished");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener is closed after shutdown"
    );
}
