//! A headless Chromium driven over WebDriver (chromedriver + fantoccini), one per test.
//!
//! The test starts its own chromedriver on a free loopback port and kills it when the
//! [`Browser`] goes. Where Chromium or chromedriver is missing, [`Browser::start`] returns
//! `None` after printing why (the test then skips), except in CI (`CI` set), where a
//! missing tool is a failure.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// How long chromedriver may take to listen, and Chromium to open a session, on a busy
/// machine.
const STARTUP: Duration = Duration::from_secs(20);
/// How often a wait re-checks its condition.
const POLL: Duration = Duration::from_millis(40);

/// A browser session and the chromedriver process serving it.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// chromedriver's address and the session's id, to end the session from `Drop` when
    /// a test panicked before [`Browser::close`]: killing chromedriver alone leaves its
    /// Chromium running.
    addr: SocketAddr,
    session: Option<String>,
}

/// The first of `names` found as an executable file on `PATH`, or named by the env
/// variable `var`.
fn find_tool(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A loopback port nothing listens on right now (chromedriver needs a number).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (1280×800, light theme).
    ///
    /// `None`: a tool is missing outside CI, and the reason was printed.
    pub async fn start() -> Option<Browser> {
        Browser::start_with(&[]).await
    }

    /// [`Browser::start`] with more Chromium flags (a window size, `--force-dark-mode`).
    pub async fn start_with(extra: &[&str]) -> Option<Browser> {
        let chromium = find_tool(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome", "chrome"],
        );
        let driver = find_tool("CHROMEDRIVER", &["chromedriver"]);
        let (chromium, driver) = match (chromium, driver) {
            (Some(c), Some(d)) => (c, d),
            (c, d) => {
                let missing: Vec<&str> = [("chromium", c.is_none()), ("chromedriver", d.is_none())]
                    .into_iter()
                    .filter_map(|(name, gone)| gone.then_some(name))
                    .collect();
                let reason = format!(
                    "browser tests need {} (Debian: apt-get install chromium chromium-driver)",
                    missing.join(" and ")
                );
                // In CI a missing tool is a failure, never a silent skip.
                if std::env::var_os("CI").is_some() {
                    panic!("{reason}");
                }
                eprintln!("skipped: {reason}");
                return None;
            }
        };

        let port = free_port();
        let mut child = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver.display()));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + STARTUP;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("chromedriver exited at start: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on {addr}"
            );
            std::thread::sleep(POLL);
        }

        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--force-color-profile=srgb",
            "--hide-scrollbars",
            "--lang=en-US",
        ];
        if !extra.iter().any(|a| a.starts_with("--window-size=")) {
            args.push("--window-size=1280,800");
        }
        args.extend_from_slice(extra);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            STARTUP,
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://{addr}")),
        )
        .await;
        let client = match client {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                let _ = child.kill();
                panic!("chromium session: {e}");
            }
            Err(_) => {
                let _ = child.kill();
                panic!("chromium session did not start within {STARTUP:?}");
            }
        };
        let session = client.session_id().await.ok().flatten();
        Some(Browser {
            client: Some(client),
            driver: child,
            addr,
            session,
        })
    }

    /// The WebDriver session.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("session open until close")
    }

    /// Evaluates `body` (a function body: `return ...;`) in the current frame.
    pub async fn js(&self, body: &str) -> Value {
        self.client()
            .execute(body, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{body}"))
    }

    /// Polls `body` until it returns something truthy, and returns that; fails the test
    /// after `timeout`, saying `what` was awaited and what the last value was.
    pub async fn wait_js(&self, what: &str, timeout: Duration, body: &str) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.js(body).await;
            if truthy(&v) {
                return v;
            }
            if Instant::now() >= deadline {
                panic!("timed out after {timeout:?} waiting for {what}; last value: {v}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Ends the session (Chromium exits) and stops chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), client.close()).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.client.is_some()
            && let Some(session) = &self.session
        {
            // A test failed before `close`: end the session the plain way (WebDriver
            // "Delete Session", W3C WebDriver §8.2), which quits Chromium.
            let _ = delete_session(self.addr, session);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// `DELETE /session/{id}` to chromedriver, waiting (boundedly) for its answer.
fn delete_session(addr: SocketAddr, session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        conn,
        "DELETE /session/{session} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is enough: chromedriver answers once Chromium has quit.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    Ok(())
}

/// JavaScript truthiness of a WebDriver result.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
