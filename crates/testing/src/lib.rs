//! A mail server for your tests, like GreenMail's JUnit extension: SMTP, POP3 and IMAP
//! in-process on free local ports, over one store.
//!
//! ```
//! use std::time::Duration;
//!
//! use lettre::message::{Attachment, MultiPart, SinglePart, header::ContentType};
//! use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
//! use yubin_testing::MailServer;
//!
//! # #[tokio::main] async fn main() {
//! // The account `alice` / `secret` exists; every protocol is on a free port.
//! let server = MailServer::start().await.unwrap();
//!
//! // The code under test sends mail through server.smtp_addr() ...
//! let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
//!     .port(server.smtp_addr().port())
//!     .build();
//! let message = Message::builder()
//!     .from("shop@example.com".parse().unwrap())
//!     .to("alice@localhost".parse().unwrap())
//!     .subject("Your invoice")
//!     .multipart(
//!         MultiPart::mixed()
//!             .singlepart(SinglePart::plain("Thank you for your order.".to_owned()))
//!             .singlepart(
//!                 Attachment::new("invoice.pdf".to_owned())
//!                     .body(b"%PDF-1.4 ...".to_vec(), ContentType::parse("application/pdf").unwrap()),
//!             ),
//!     )
//!     .unwrap();
//! smtp.send(message).await.unwrap();
//!
//! // ... and the test waits for it (woken by the store, no polling) and looks at it.
//! let inbox = server.wait_for_messages("alice", 1, Duration::from_secs(5)).await.unwrap();
//! let mail = &inbox[0];
//! assert_eq!(mail.subject(), Some("Your invoice"));
//! assert_eq!(mail.from()[0], "shop@example.com");
//! assert_eq!(mail.text().map(str::trim_end), Some("Thank you for your order."));
//! let attachment = &mail.attachments()[0];
//! assert_eq!(attachment.name(), Some("invoice.pdf"));
//! assert_eq!(attachment.content_type(), "application/pdf");
//! assert_eq!(attachment.bytes(), b"%PDF-1.4 ...");
//!
//! server.purge(); // empty every mailbox before the next case
//! server.stop().await;
//! # }
//! ```
//!
//! Everything lives in memory (or in a Maildir with [`Builder::data_dir`]) and every
//! listener is on a free port, so tests run in parallel, each with its own server. The
//! servers run on a runtime of their own: the handle works from any tokio runtime
//! (`#[tokio::test]`'s single thread too), and [`blocking::MailServer`] from a plain
//! `#[test]`. Dropping a server closes its ports before `drop` returns.
//!
//! More: [`MailServer::builder`] adds accounts, accept-any-login, TLS (implicit-TLS
//! ports and STARTTLS, with [`MailServer::ca_pem`] to trust), SMTP AUTH required, POP3
//! retention and SMTP fault injection ([`Builder::chaos`]); [`MailServer::transcript`]
//! shows what every client sent.
//!
//! The web inbox and its Mailpit-compatible HTTP API run too, on a free loopback port
//! ([`MailServer::http_url`]): open it in a browser while a test is paused, or point a
//! Mailpit API client at it. [`Builder::http`] turns it off.

#![forbid(unsafe_code)]

pub mod blocking;
mod received;
pub mod servers;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use yubin_core::Transcript;
use yubin_core::tls::TlsServer;
use yubin_store::{Secret, Store};

pub use mini_pop::Retention;
pub use received::{Address, Attachment, Received};
pub use yubin_core::transcript::Direction;

pub use mini_smtp::Chaos;
pub use mini_smtp::chaos::{Trigger, Triggers};

use servers::{HttpConfig, Ports, Servers, ServersConfig};
use yubin_core::session_log::SessionLog;

/// The account [`MailServer::start`] (and every builder) creates.
pub const DEFAULT_USER: (&str, &str) = ("alice", "secret");

/// SMTP, POP3 and IMAP (and their implicit-TLS ports with [`Builder::tls`]) on free
/// local ports, over one store. See the [crate docs](crate) for an example.
pub struct MailServer {
    store: Store,
    addrs: Addrs,
    ca_pem: Option<String>,
    transcript: Arc<Mutex<Vec<TranscriptLine>>>,
    chaos: Chaos,
    engine: Engine,
    /// The local CA's directory, removed when the server goes.
    _tls_dir: Option<tempfile::TempDir>,
}

#[derive(Debug, Clone, Copy)]
struct Addrs {
    smtp: SocketAddr,
    pop: SocketAddr,
    imap: SocketAddr,
    tls: Option<[SocketAddr; 3]>,
    http: Option<SocketAddr>,
}

/// The thread that owns the servers' runtime.
struct Engine {
    handle: tokio::runtime::Handle,
    /// `true`: stop gracefully (sessions end); `false`: drop everything now.
    stop: Option<oneshot::Sender<bool>>,
    done: Option<oneshot::Receiver<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Engine {
    /// Sends the stop signal and waits for the thread (and with it every listener) to end.
    fn shut(&mut self, graceful: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(graceful);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One line of a session's dialogue, as `--trace` shows it (passwords masked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptLine {
    /// `smtp`, `pop3` or `imap` (their implicit-TLS ports too).
    pub protocol: String,
    /// The session's number within its listener, from 1.
    pub session: u64,
    /// Who sent it.
    pub direction: Direction,
    /// The line, without its line end.
    pub text: String,
}

/// How to start a [`MailServer`]: from [`MailServer::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    users: Vec<(String, String)>,
    accept_any_login: bool,
    tls: bool,
    require_auth: bool,
    pop_retention: Retention,
    data_dir: Option<PathBuf>,
    http: bool,
    chaos: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            users: vec![(DEFAULT_USER.0.to_owned(), DEFAULT_USER.1.to_owned())],
            accept_any_login: false,
            tls: false,
            require_auth: false,
            pop_retention: Retention::DeleteOnRetrieve,
            data_dir: None,
            http: true,
            chaos: false,
        }
    }
}

impl Builder {
    /// Adds an account (besides `alice` / `secret`, which always exists).
    pub fn user(mut self, name: &str, password: &str) -> Self {
        self.users.push((name.to_owned(), password.to_owned()));
        self
    }

    /// Every login works and every recipient address is delivered, creating the account
    /// on first use: mail to `Bob@example.com` (any domain) lands in the account `bob`.
    pub fn accept_any_login(mut self, on: bool) -> Self {
        self.accept_any_login = on;
        self
    }

    /// Implicit-TLS listeners (SMTPS, POP3S, IMAPS) and STARTTLS/STLS on the plaintext
    /// ports, with a certificate for `localhost` and `127.0.0.1` from a fresh local CA:
    /// trust [`MailServer::ca_pem`].
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// SMTP refuses MAIL until the client logged in with AUTH (530 5.7.0).
    pub fn require_auth(mut self, on: bool) -> Self {
        self.require_auth = on;
        self
    }

    /// What POP3's QUIT does to retrieved mail (default: deletes it).
    pub fn pop_retention(mut self, retention: Retention) -> Self {
        self.pop_retention = retention;
        self
    }

    /// The web inbox and HTTP API on a free loopback port (default: on).
    pub fn http(mut self, on: bool) -> Self {
        self.http = on;
        self
    }

    /// Allows SMTP fault injection: [`MailServer::chaos`] (or `PUT /api/v1/chaos`) then
    /// makes MAIL, RCPT or AUTH fail with a chosen code, to test how the code under test
    /// copes with a refusal. No faults until set (default: not allowed).
    pub fn chaos(mut self, on: bool) -> Self {
        self.chaos = on;
        self
    }

    /// Keeps the mail in a Maildir tree in `path` instead of memory.
    pub fn data_dir(mut self, path: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(path.into());
        self
    }

    /// Starts the servers.
    pub async fn start(self) -> std::io::Result<MailServer> {
        let (launch, ready) = self.launch()?;
        let ready = ready
            .await
            .map_err(|_| std::io::Error::other("the server thread ended before starting"))?;
        launch.finish(ready)
    }

    /// The blocking start: for [`blocking::MailServer`].
    pub(crate) fn start_blocking(self) -> std::io::Result<MailServer> {
        let (launch, ready) = self.launch()?;
        let ready = ready
            .blocking_recv()
            .map_err(|_| std::io::Error::other("the server thread ended before starting"))?;
        launch.finish(ready)
    }

    fn launch(self) -> std::io::Result<(Launch, oneshot::Receiver<Ready>)> {
        let store = match &self.data_dir {
            Some(dir) => Store::maildir(dir).map_err(std::io::Error::other)?,
            None => Store::memory(),
        };
        for (name, password) in &self.users {
            add_account(&store, name, password)?;
        }
        if self.accept_any_login {
            store.set_accept_any_login(true);
            store.set_catch_all_domains(true);
        }
        let (tls, tls_dir, ca_pem) = if self.tls {
            let dir = tempfile::Builder::new()
                .prefix("yubin-testing-ca")
                .tempdir()?;
            let tls = TlsServer::local_ca(dir.path()).map_err(std::io::Error::other)?;
            let pem = match tls.ca_path() {
                Some(path) => Some(std::fs::read_to_string(path)?),
                None => None,
            };
            (Some(tls), Some(dir), pem)
        } else {
            (None, None, None)
        };
        let lines: Arc<Mutex<Vec<TranscriptLine>>> = Arc::default();
        let sink = lines.clone();
        let transcript = Transcript::to_labelled_sink(move |label, direction, text| {
            let (protocol, session) = match label.and_then(|l| l.split_once('#')) {
                Some((p, n)) => (p.to_owned(), n.parse().unwrap_or(0)),
                None => (label.unwrap_or_default().to_owned(), 0),
            };
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(TranscriptLine {
                    protocol,
                    session,
                    direction,
                    text: text.to_owned(),
                });
        });
        let chaos = if self.chaos {
            Chaos::allowed()
        } else {
            Chaos::disabled()
        };
        let config = ServersConfig {
            ports: Ports::any(),
            pop_retention: self.pop_retention,
            transcript,
            tls,
            http: self.http.then(|| HttpConfig {
                port: 0,
                ..HttpConfig::default()
            }),
            sessions: self.http.then(SessionLog::default),
            chaos: chaos.clone(),
            ..ServersConfig::default()
        };
        let smtp = mini_smtp::SmtpConfig {
            require_auth: self.require_auth,
            ..mini_smtp::SmtpConfig::default()
        };

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("yubin-testing")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (ready_tx, ready_rx) = oneshot::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<bool>();
        let (done_tx, done_rx) = oneshot::channel();
        let served = store.clone();
        let thread = std::thread::Builder::new()
            .name("yubin-testing".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let servers = match Servers::start_with_smtp(served, config, smtp).await {
                        Ok(servers) => servers,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return;
                        }
                    };
                    let addrs = Addrs {
                        smtp: servers.smtp_addr(),
                        pop: servers.pop_addr(),
                        imap: servers.imap_addr(),
                        tls: servers.tls_addrs(),
                        http: servers.http_addr(),
                    };
                    if ready_tx.send(Ok(addrs)).is_err() {
                        return;
                    }
                    if stop_rx.await.unwrap_or(false) {
                        servers.stop().await;
                    }
                });
                // Whatever still runs (listeners, sessions) is dropped here: its sockets
                // close before the thread ends.
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })?;
        let launch = Launch {
            store,
            ca_pem,
            transcript: lines,
            chaos,
            engine: Engine {
                handle,
                stop: Some(stop_tx),
                done: Some(done_rx),
                thread: Some(thread),
            },
            tls_dir,
        };
        Ok((launch, ready_rx))
    }
}

type Ready = std::io::Result<Addrs>;

/// A server whose thread is starting.
struct Launch {
    store: Store,
    ca_pem: Option<String>,
    transcript: Arc<Mutex<Vec<TranscriptLine>>>,
    chaos: Chaos,
    engine: Engine,
    tls_dir: Option<tempfile::TempDir>,
}

impl Launch {
    fn finish(mut self, ready: Ready) -> std::io::Result<MailServer> {
        match ready {
            Ok(addrs) => Ok(MailServer {
                store: self.store,
                addrs,
                ca_pem: self.ca_pem,
                transcript: self.transcript,
                chaos: self.chaos,
                engine: self.engine,
                _tls_dir: self.tls_dir,
            }),
            Err(e) => {
                self.engine.shut(false);
                Err(e)
            }
        }
    }
}

fn add_account(store: &Store, name: &str, password: &str) -> std::io::Result<()> {
    // An existing account (a data directory from an earlier run) gets the password.
    store
        .add_account(name, Secret::from(password))
        .map_err(std::io::Error::other)
}

/// [`MailServer::wait_for_messages`] gave up: what was asked and what did arrive.
#[derive(Debug, Clone)]
pub struct Timeout {
    account: String,
    wanted: usize,
    after: Duration,
    arrived: Vec<Received>,
    elsewhere: Vec<Received>,
    no_account: bool,
}

impl Timeout {
    /// What `account`'s INBOX held when the wait gave up.
    pub fn arrived(&self) -> &[Received] {
        &self.arrived
    }
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Timeout {
            account,
            wanted,
            after,
            arrived,
            elsewhere,
            no_account,
        } = self;
        let plural = if *wanted == 1 { "" } else { "s" };
        if *no_account {
            write!(
                f,
                "waiting for {wanted} message{plural} for {account:?}: there is no such account \
                 (add it with add_user or builder().user, or use accept_any_login)"
            )?;
        } else {
            write!(
                f,
                "timed out after {after:?} waiting for {wanted} message{plural} in {account}'s \
                 INBOX; "
            )?;
            if arrived.is_empty() {
                write!(f, "none arrived")?;
            } else {
                write!(f, "{} arrived:", arrived.len())?;
                for m in arrived {
                    write!(f, " [{}]", received::summary(m))?;
                }
            }
        }
        if !elsewhere.is_empty() {
            write!(f, "; elsewhere:")?;
            for m in elsewhere {
                write!(
                    f,
                    " [{}/{} {}]",
                    m.account(),
                    m.mailbox(),
                    received::summary(m)
                )?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Timeout {}

impl MailServer {
    /// Starts with the account `alice` / `secret`.
    pub async fn start() -> std::io::Result<MailServer> {
        Builder::default().start().await
    }

    /// A server to configure, then [`Builder::start`]. It has `alice` / `secret` too.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Where to send mail (SMTP; STARTTLS with [`Builder::tls`]).
    pub fn smtp_addr(&self) -> SocketAddr {
        self.addrs.smtp
    }

    /// Where to read mail with POP3.
    pub fn pop_addr(&self) -> SocketAddr {
        self.addrs.pop
    }

    /// Where to read mail with IMAP.
    pub fn imap_addr(&self) -> SocketAddr {
        self.addrs.imap
    }

    /// SMTP over implicit TLS (SMTPS).
    ///
    /// # Panics
    /// If the server was built without [`Builder::tls`]: a test asking for a TLS port
    /// of a server without one has a bug worth stopping at.
    pub fn smtps_addr(&self) -> SocketAddr {
        self.tls_addrs("smtps_addr")[0]
    }

    /// POP3 over implicit TLS (POP3S). Panics without [`Builder::tls`], as
    /// [`MailServer::smtps_addr`].
    pub fn pop3s_addr(&self) -> SocketAddr {
        self.tls_addrs("pop3s_addr")[1]
    }

    /// IMAP over implicit TLS (IMAPS). Panics without [`Builder::tls`], as
    /// [`MailServer::smtps_addr`].
    pub fn imaps_addr(&self) -> SocketAddr {
        self.tls_addrs("imaps_addr")[2]
    }

    /// The web inbox and HTTP API (Mailpit's `/api/v1`), on loopback.
    ///
    /// # Panics
    /// If the server was built with `.http(false)`.
    pub fn http_addr(&self) -> SocketAddr {
        self.addrs.http.unwrap_or_else(|| {
            panic!("http_addr(): this MailServer has no HTTP; it was built with .http(false)")
        })
    }

    /// The web inbox's URL, `http://127.0.0.1:PORT` (no trailing slash): the page, and
    /// the API under `/api/v1/`. Panics as [`MailServer::http_addr`].
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    /// The SMTP server's fault injection. With [`Builder::chaos`] its
    /// [`Chaos::set`] makes MAIL, RCPT or AUTH answer an error; without, it refuses.
    pub fn chaos(&self) -> &Chaos {
        &self.chaos
    }

    /// Whether the server has TLS ([`Builder::tls`]).
    pub fn has_tls(&self) -> bool {
        self.addrs.tls.is_some()
    }

    fn tls_addrs(&self, asked: &str) -> [SocketAddr; 3] {
        self.addrs.tls.unwrap_or_else(|| {
            panic!("{asked}(): this MailServer has no TLS; build it with .tls(true)")
        })
    }

    /// The PEM certificate of the CA that signed the server's certificate (for
    /// `localhost`, `127.0.0.1` and `::1`), with [`Builder::tls`]: a client that trusts it
    /// verifies the server. Each server has a CA of its own.
    ///
    /// # Panics
    /// If the server was built without [`Builder::tls`].
    pub fn ca_pem(&self) -> &str {
        self.ca_pem.as_deref().unwrap_or_else(|| {
            panic!("ca_pem(): this MailServer has no TLS; build it with .tls(true)")
        })
    }

    /// The store every protocol serves, for what this API does not cover.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until `account`'s INBOX holds at least `n` messages and returns them (oldest
    /// first), woken by the store when a message arrives; or gives up after `timeout`
    /// with an error that says what did arrive (there, and in other mailboxes).
    ///
    /// With accept-any-login an account that does not exist yet is created to be
    /// watched; otherwise an unknown account is an error at once.
    pub async fn wait_for_messages(
        &self,
        account: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Received>, Timeout> {
        let task =
            self.engine
                .handle
                .spawn(wait_for(self.store.clone(), account.to_owned(), n, timeout));
        match task.await {
            Ok(result) => result,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    /// Every message of every account and mailbox, oldest first. Creates nothing.
    pub fn received(&self) -> Vec<Received> {
        all_messages(&self.store)
    }

    /// The messages in `account`'s INBOX, oldest first; an unknown account has none (and
    /// is not created, even with accept-any-login).
    pub fn messages(&self, account: &str) -> Vec<Received> {
        match existing_inbox(&self.store, account) {
            Some((name, inbox)) => read_mailbox(&name, &inbox)
                .into_iter()
                .map(|(_, m)| m)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Adds an account while the server runs.
    pub fn add_user(&self, name: &str, password: &str) -> std::io::Result<()> {
        self.store
            .add_account(name, Secret::from(password))
            .map_err(std::io::Error::other)
    }

    /// Puts `raw` into `account`'s INBOX as if it had been delivered (no SMTP, no trace
    /// headers added); returns its UID. IMAP sessions watching the INBOX see it arrive.
    pub fn deliver(&self, account: &str, raw: &[u8]) -> std::io::Result<u32> {
        let delivered = self
            .store
            .deliver(&[account], raw)
            .map_err(std::io::Error::other)?;
        let name = self.store.account(account).map_err(std::io::Error::other)?;
        delivered
            .uid(name.name())
            .ok_or_else(|| std::io::Error::other("the message was not delivered"))
    }

    /// Empties every mailbox of every account, through the store: IMAP sessions that have
    /// one selected are told (`* n EXPUNGE`) as if another client had expunged.
    pub fn purge(&self) {
        for name in self.store.account_names() {
            let Ok(account) = self.store.account(&name) else {
                continue;
            };
            for info in account.list().unwrap_or_default() {
                if !info.selectable {
                    continue;
                }
                let Ok(mailbox) = account.mailbox(&info.name) else {
                    continue;
                };
                let uids: Vec<u32> = mailbox
                    .messages()
                    .unwrap_or_default()
                    .iter()
                    .map(|m| m.uid)
                    .collect();
                if !uids.is_empty()
                    && let Err(e) = mailbox.expunge(&uids)
                {
                    tracing::warn!("purge: cannot empty {name}/{}: {e}", info.name);
                }
            }
        }
    }

    /// Every line of every session so far, in order (passwords masked).
    pub fn transcript(&self) -> Vec<TranscriptLine> {
        self.transcript
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops the servers: sessions are told goodbye, and this waits for them to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.engine.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(done) = self.engine.done.take() {
            let _ = done.await;
        }
        self.engine.shut(true);
    }

    /// [`MailServer::stop`] for [`blocking::MailServer`]: the servers' thread stops
    /// them; this one waits for it.
    pub(crate) fn stop_blocking(mut self) {
        self.engine.shut(true);
    }

    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.engine.handle
    }
}

impl Drop for MailServer {
    /// Stops at once: the listeners are closed (and open sessions cut) before this
    /// returns.
    fn drop(&mut self) {
        self.engine.shut(false);
    }
}

impl fmt::Debug for MailServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailServer")
            .field("smtp", &self.addrs.smtp)
            .field("pop", &self.addrs.pop)
            .field("imap", &self.addrs.imap)
            .field("tls", &self.addrs.tls)
            .field("http", &self.addrs.http)
            .finish()
    }
}

/// The account's INBOX if the account exists (looked up without creating it).
fn existing_inbox(store: &Store, account: &str) -> Option<(String, yubin_store::Mailbox)> {
    let wanted = store.login_name(account);
    let name = store
        .account_names()
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(wanted))?;
    let inbox = store.account(&name).ok()?.mailbox("INBOX").ok()?;
    Some((name, inbox))
}

/// The messages of one mailbox with their arrival times, oldest first.
fn read_mailbox(account: &str, mailbox: &yubin_store::Mailbox) -> Vec<((i64, u32), Received)> {
    let name = mailbox.name();
    mailbox
        .messages()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            let raw = mailbox.read(m.uid).ok()?;
            Some((
                (m.internal_date.timestamp(), m.uid),
                Received::decode(account, &name, m.uid, raw),
            ))
        })
        .collect()
}

fn all_messages(store: &Store) -> Vec<Received> {
    let mut all = Vec::new();
    for name in store.account_names() {
        let Ok(account) = store.account(&name) else {
            continue;
        };
        for info in account.list().unwrap_or_default() {
            if !info.selectable {
                continue;
            }
            if let Ok(mailbox) = account.mailbox(&info.name) {
                all.extend(read_mailbox(&name, &mailbox));
            }
        }
    }
    all.sort_by(|(a, ma), (b, mb)| {
        (a.0, ma.account(), ma.mailbox(), a.1).cmp(&(b.0, mb.account(), mb.mailbox(), b.1))
    });
    all.into_iter().map(|(_, m)| m).collect()
}

async fn wait_for(
    store: Store,
    account: String,
    n: usize,
    timeout: Duration,
) -> Result<Vec<Received>, Timeout> {
    let deadline = tokio::time::Instant::now() + timeout;
    let give_up = |arrived: Vec<Received>, no_account: bool| {
        let elsewhere = all_messages(&store)
            .into_iter()
            .filter(|m| {
                !(m.mailbox() == "INBOX"
                    && m.account().eq_ignore_ascii_case(store.login_name(&account)))
            })
            .collect();
        Timeout {
            account: account.clone(),
            wanted: n,
            after: timeout,
            arrived,
            elsewhere,
            no_account,
        }
    };
    let inbox = match existing_inbox(&store, &account) {
        Some((name, inbox)) => Some((name, inbox)),
        None if store.accept_any_login() => store
            .account(&account)
            .and_then(|a| a.mailbox("INBOX"))
            .ok()
            .map(|inbox| (store.login_name(&account).to_ascii_lowercase(), inbox)),
        None => None,
    };
    let Some((name, inbox)) = inbox else {
        return Err(give_up(Vec::new(), true));
    };
    // Subscribed before reading: a message that arrives in between still wakes us.
    let mut watch = inbox.watch();
    loop {
        let now: Vec<Received> = read_mailbox(&name, &inbox)
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        if now.len() >= n {
            return Ok(now);
        }
        if tokio::time::timeout_at(deadline, watch.changed())
            .await
            .is_err()
        {
            let now = read_mailbox(&name, &inbox)
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>();
            if now.len() >= n {
                return Ok(now);
            }
            return Err(give_up(now, false));
        }
    }
}
