//! A small HTTP/1.1 client over a real socket, for the tests of chaos, release, sessions
//! and the guard: every header (Host, Origin, Content-Type) is exactly what the test
//! writes, as a browser or curl would send it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The bound on every step of a test.
pub const STEP: Duration = Duration::from_secs(10);

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Header lines, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunked if it was.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A request: method, path, extra header lines and an optional body. `Host` is
/// `127.0.0.1:port` unless `headers` gives one.
pub async fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Answer {
    let mut request = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request.push_str(&format!("Host: {addr}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = body {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    if let Some(body) = body {
        request.push_str(body);
    }
    let mut stream = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(STEP, stream.read_to_end(&mut raw))
        .await
        .expect("the answer timed out")
        .unwrap();
    parse(&raw)
}

/// A JSON request the way a same-origin page sends it.
pub async fn json(addr: SocketAddr, method: &str, path: &str, body: &str) -> Answer {
    call(
        addr,
        method,
        path,
        &[("Content-Type", "application/json")],
        Some(body),
    )
    .await
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    call(addr, "GET", path, &[], None).await
}

fn parse(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").unwrap_or(&rest[size..]);
    }
}

/// An open Server-Sent Events stream.
pub struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// Opens `path` (an event stream) and reads past the answer's headers.
    pub async fn open(addr: SocketAddr, path: &str) -> Events {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        tokio::time::timeout(STEP, reader.read_line(&mut status))
            .await
            .unwrap()
            .unwrap();
        assert!(status.contains(" 200 "), "{status}");
        loop {
            let mut line = String::new();
            tokio::time::timeout(STEP, reader.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        Events { reader }
    }

    /// Waits for an event named `name` whose data contains `needle`; returns its data.
    pub async fn until(&mut self, name: &str, needle: &str) -> String {
        self.collect_until(name, needle)
            .await
            .pop()
            .unwrap_or_default()
    }

    /// The data of every `name` event up to the first whose data contains `needle`
    /// (included).
    pub async fn collect_until(&mut self, name: &str, needle: &str) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + STEP;
        let mut seen = Vec::new();
        loop {
            let (event, data) = self.next_before(deadline).await;
            if event == name {
                let done = data.contains(needle);
                seen.push(data);
                if done {
                    return seen;
                }
            }
        }
    }

    /// The next event's name and data (a comment or a chunk-size line is skipped).
    pub async fn next_before(&mut self, deadline: tokio::time::Instant) -> (String, String) {
        let mut name = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout_at(deadline, self.reader.read_line(&mut line))
                .await
                .expect("no event in time")
                .unwrap();
            assert!(n > 0, "the event stream ended");
            let line = line.trim_end();
            if let Some(event) = line.strip_prefix("event:") {
                name = event.trim().to_owned();
            } else if let Some(data) = line.strip_prefix("data:") {
                return (name, data.trim().to_owned());
            }
        }
    }
}
