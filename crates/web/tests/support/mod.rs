//! What the browser tests share: yubin with its web inbox on free ports, a headless
//! browser, a "remote" HTTP host, and raw SMTP/IMAP/POP3 clients speaking to yubin over
//! its sockets as any mail client would.

#![allow(dead_code)] // each test binary uses its own subset

pub mod beacon;
pub mod browser;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use yubin_testing::MailServer;

/// A bound on every protocol exchange, so a broken server fails the test instead of
/// hanging it.
pub const STEP: Duration = Duration::from_secs(10);

/// SMTP, POP3, IMAP and the web inbox on one in-memory store (yubin-testing's
/// `MailServer`, account alice / secret), as `yubin serve` runs them.
pub struct Yubin {
    /// The servers.
    pub mail: MailServer,
}

impl Yubin {
    /// Starts everything on free loopback ports, in memory.
    pub async fn start() -> Yubin {
        let mail = MailServer::start().await.expect("servers");
        Yubin { mail }
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("{}/", self.mail.http_url())
    }

    /// Puts a message into alice's INBOX through the store's delivery path.
    pub fn deliver(&self, raw: &[u8]) {
        self.mail.deliver("alice", raw).expect("deliver");
    }

    /// Stops every server; the web server's open event streams must end for this to
    /// return.
    pub async fn stop(self) {
        tokio::time::timeout(STEP, self.mail.stop())
            .await
            .expect("the servers stop");
    }
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A line-oriented client for the three text protocols.
pub struct Lines {
    reader: BufReader<TcpStream>,
    /// Every line read, for failure messages.
    pub seen: Vec<String>,
}

impl Lines {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> Lines {
        let stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .expect("connect in time")
            .expect("connect");
        Lines {
            reader: BufReader::new(stream),
            seen: Vec::new(),
        }
    }

    /// Reads one line (without CRLF).
    pub async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(STEP, self.reader.read_until(b'\n', &mut buf))
            .await
            .unwrap_or_else(|_| panic!("no line within {STEP:?}; so far: {:?}", self.seen))
            .expect("read");
        assert!(n > 0, "connection closed; so far: {:?}", self.seen);
        let line = String::from_utf8_lossy(&buf).trim_end().to_string();
        self.seen.push(line.clone());
        line
    }

    /// Reads lines until one satisfies `done`, returning it.
    pub async fn until(&mut self, done: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self.line().await;
            if done(&line) {
                return line;
            }
        }
    }

    /// Sends `bytes` as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        tokio::time::timeout(STEP, self.reader.get_mut().write_all(bytes))
            .await
            .expect("write in time")
            .expect("write");
    }

    /// Sends one command line (CRLF added).
    pub async fn cmd(&mut self, line: &str) {
        self.send(format!("{line}\r\n").as_bytes()).await;
    }
}

/// Sends `raw` to alice@localhost over SMTP (RFC 5321 §3.3) and returns once the server
/// has taken responsibility for it (the 250 after the final dot).
pub async fn smtp_send(addr: SocketAddr, raw: &[u8]) {
    let mut s = Lines::connect(addr).await;
    let expect = |line: &str, code: &str| {
        assert!(line.starts_with(code), "expected {code}, got {line}");
    };
    let l = s.line().await;
    expect(&l, "220");
    s.cmd("EHLO browser-test").await;
    let l = s
        .until(|l| l.starts_with("250 ") || !l.starts_with("250"))
        .await;
    expect(&l, "250 ");
    for (cmd, code) in [
        ("MAIL FROM:<sender@example.com>", "250"),
        ("RCPT TO:<alice@localhost>", "250"),
        ("DATA", "354"),
    ] {
        s.cmd(cmd).await;
        let l = s.line().await;
        expect(&l, code);
    }
    // RFC 5321 §4.5.2: a line starting with a dot gets one more.
    let mut data = Vec::new();
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    s.send(&data).await;
    let l = s.line().await;
    expect(&l, "250");
    s.cmd("QUIT").await;
    let l = s.line().await;
    expect(&l, "221");
}
