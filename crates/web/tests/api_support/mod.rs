//! Shared by the API tests: a store with two accounts, the router over it, a real IMAP
//! server on the same store, and small HTTP and IMAP clients.
#![allow(dead_code)]

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use yubin_core::ServerHandle;
use yubin_store::{Flags, Secret, Store};
use yubin_web::{WebConfig, WebState};

/// The bound on every step of a test.
pub const STEP: Duration = Duration::from_secs(10);

/// A store, the API over it, and (once asked) an IMAP server on it.
pub struct Web {
    pub store: Store,
    pub state: WebState,
    pub router: Router,
    pub shutdown: CancellationToken,
    imap: Option<ServerHandle>,
}

/// An HTTP answer.
pub struct Answer {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Web {
    /// alice and bob, mail for example.com local.
    pub fn new() -> Web {
        let store = Store::memory();
        Web::over(store)
    }

    pub fn over(store: Store) -> Web {
        Web::with(store, WebConfig::default())
    }

    /// A memory store with these settings.
    pub fn with_config(config: WebConfig) -> Web {
        Web::with(Store::memory(), config)
    }

    pub fn with(store: Store, config: WebConfig) -> Web {
        for name in ["alice", "bob"] {
            if !store.account_names().iter().any(|n| n == name) {
                store.add_account(name, Secret::from("pw")).unwrap();
            }
        }
        store.set_local_domains(["example.com"]);
        let state = WebState::new(store.clone(), config);
        let router = yubin_web::router(state.clone());
        Web {
            store,
            state,
            router,
            shutdown: CancellationToken::new(),
            imap: None,
        }
    }

    /// Puts a message in an account's INBOX as SMTP would; returns its UID.
    pub fn deliver(&self, account: &str, raw: &str) -> u32 {
        let d = self
            .store
            .deliver(&[&format!("{account}@example.com")], raw.as_bytes())
            .unwrap();
        d.uid(account).unwrap()
    }

    /// Appends to a mailbox with an internal date (to order messages).
    pub fn append_at(&self, account: &str, mailbox: &str, raw: &str, secs: i64) -> u32 {
        let date = chrono::DateTime::from_timestamp(secs, 0)
            .unwrap()
            .fixed_offset();
        self.store
            .account(account)
            .unwrap()
            .mailbox(mailbox)
            .unwrap()
            .append(raw.as_bytes(), &Flags::new(), Some(date))
            .unwrap()
    }

    pub async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> Answer {
        let body = match body {
            Some(v) => Body::from(v.to_string()),
            None => Body::empty(),
        };
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .body(body)
            .unwrap();
        let response = tokio::time::timeout(STEP, self.router.clone().oneshot(request))
            .await
            .expect("answer in time")
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = tokio::time::timeout(STEP, response.into_body().collect())
            .await
            .expect("body in time")
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// An event stream, its body to read from and a buffer. The answer comes once the
    /// server watches every mailbox: mail arriving after it is news.
    pub async fn get_stream(&self, uri: &str) -> (Body, String) {
        let request = Request::get(uri).body(Body::empty()).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        (response.into_body(), String::new())
    }

    pub async fn get(&self, uri: &str) -> Answer {
        self.call(Method::GET, uri, None).await
    }

    pub async fn get_json(&self, uri: &str) -> Value {
        let a = self.get(uri).await;
        assert_eq!(a.status, StatusCode::OK, "GET {uri}: {}", a.text());
        a.json()
    }

    /// A request that must answer Mailpit's `ok`.
    pub async fn ok(&self, method: Method, uri: &str, body: Value) {
        let a = self.call(method.clone(), uri, Some(body)).await;
        assert_eq!(a.status, StatusCode::OK, "{method} {uri}: {}", a.text());
        assert_eq!(a.text(), "ok");
    }

    /// An IMAP session on the same store, logged in.
    pub async fn imap(&mut self, user: &str) -> Imap {
        if self.imap.is_none() {
            let handle = mini_imap::serve(
                "127.0.0.1:0".parse().unwrap(),
                self.store.clone(),
                mini_imap::ImapServerConfig::default(),
                self.shutdown.clone(),
            )
            .await
            .unwrap();
            self.imap = Some(handle);
        }
        let addr = self.imap.as_ref().unwrap().local_addr();
        let tcp = tokio::time::timeout(STEP, TcpStream::connect(addr))
            .await
            .unwrap()
            .unwrap();
        let (r, w) = tcp.into_split();
        let mut imap = Imap {
            r: BufReader::new(r),
            w,
            n: 0,
        };
        imap.line().await;
        imap.ok(&format!("LOGIN {user} pw")).await;
        imap
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A raw IMAP client.
pub struct Imap {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    n: u32,
}

impl Imap {
    /// One line, or a line with its literals, as bytes.
    pub async fn line(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(STEP, self.r.read_until(b'\n', &mut line))
                .await
                .expect("IMAP line in time")
                .unwrap();
            assert!(n > 0, "IMAP server closed the connection");
            out.extend_from_slice(&line);
            // A literal: `{n}\r\n` then n bytes, then the line goes on.
            let text = String::from_utf8_lossy(&line);
            let Some(count) = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            else {
                return out;
            };
            let mut literal = vec![0; count];
            tokio::time::timeout(STEP, self.r.read_exact(&mut literal))
                .await
                .unwrap()
                .unwrap();
            out.extend_from_slice(&literal);
        }
    }

    pub async fn send(&mut self, raw: &str) {
        self.w.write_all(raw.as_bytes()).await.unwrap();
    }

    /// Runs a command; returns the untagged lines (with literals), asserting OK.
    pub async fn ok(&mut self, command: &str) -> Vec<Vec<u8>> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(&format!("{tag} {command}\r\n")).await;
        let mut lines = Vec::new();
        loop {
            let line = self.line().await;
            if line.starts_with(format!("{tag} ").as_bytes()) {
                let text = String::from_utf8_lossy(&line).into_owned();
                assert!(text.starts_with(&format!("{tag} OK")), "{command}: {text}");
                return lines;
            }
            lines.push(line);
        }
    }

    /// Reads lines until one contains `needle`; returns it.
    pub async fn until(&mut self, needle: &str) -> String {
        loop {
            let line = String::from_utf8_lossy(&self.line().await).into_owned();
            if line.contains(needle) {
                return line;
            }
        }
    }
}

/// The text of untagged lines, joined.
pub fn text(lines: &[Vec<u8>]) -> String {
    lines
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

/// A plain message.
pub fn plain(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@example.com>\r\n\r\n{body}\r\n"
    )
}
