//! A raw SMTP connection for tests that check exact replies; every read and the connect
//! are bounded by [`STEP`].
#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use yubin_core::ServerHandle;

/// The bound on every step; a hung server fails the test instead of hanging it.
pub const STEP: Duration = Duration::from_secs(10);

/// One connection, greeted.
pub struct Conn {
    /// The reading half, buffered.
    pub r: BufReader<OwnedReadHalf>,
    /// The writing half, for bytes sent as they are.
    pub w: OwnedWriteHalf,
}

impl Conn {
    /// Connects and reads the 220 greeting.
    pub async fn open(handle: &ServerHandle) -> Conn {
        let (r, w) = tokio::time::timeout(STEP, TcpStream::connect(handle.local_addr()))
            .await
            .unwrap()
            .unwrap()
            .into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        assert!(c.reply().await.starts_with("220 "));
        c
    }

    /// Reads one whole (possibly multi-line) reply.
    pub async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            tokio::time::timeout(STEP, self.r.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            if line.is_empty() {
                return all;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    /// Sends one command line and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }
}
