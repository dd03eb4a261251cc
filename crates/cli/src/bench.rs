//! `yubin bench`: a load generator for POP3, IMAP and SMTP servers (ours or anyone's).
//!
//! Bounded in time and in count, aimed only at the address given (127.0.0.1 by default).
//! Its clients are deliberately minimal raw-protocol loops so that the client side costs
//! little next to the server being measured. `yubin bench loopback` carries the same bytes
//! through a plain TCP copy, so a server's throughput can be read as a fraction of what the
//! machine's loopback carries.
//!
//! The store loads (`noop`, `select`, `status`, `mark-all-read`, `expunge`, `copy`,
//! `append`, `search`, `mixed`) are in [`ops`]: one long-lived connection per client
//! timing single commands. `yubin bench fill` ([`fill`]) writes a Maildir the way an MDA
//! does, so that yubin and another server can be given identical mailboxes.

mod fill;
mod ops;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use yubin_core::tls::TlsConnector;

use crate::client_tls::{ClientTlsArgs, Security};

/// What to load.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// POP3: `session` = USER/PASS, STAT, RETR every message, QUIT; `retr` = the same,
    /// timing the RETRs alone; `login-stat-uidl` = USER/PASS, STAT, UIDL, QUIT.
    Pop(BenchArgs),
    /// IMAP: `session` = LOGIN, SELECT INBOX, FETCH 1:* (FLAGS ENVELOPE), FETCH 1:*
    /// BODY.PEEK[], LOGOUT; `idle-conns` = hold N logged-in connections; the store loads
    /// (`noop`, `select`, `status`, `mark-all-read`, `expunge`, `copy`, `append`, `search`)
    /// time single commands on one connection per client; `mixed` = concurrent clients on
    /// one mailbox. See --mode.
    Imap(BenchArgs),
    /// SMTP: `send` = one connection per client sending messages back to back.
    Smtp(BenchArgs),
    /// Fill a Maildir with N small messages (bare LF line ends, written to tmp/ and renamed
    /// into new/, as an MDA does), for yubin or any Maildir server to pick up.
    Fill(fill::FillArgs),
    /// The baseline: a built-in TCP server writes --size bytes to each connection and
    /// closes; each session reads them all. No protocol, no disk.
    Loopback(BenchArgs),
}

/// The load's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Whole sessions, back to back, per client.
    Session,
    /// IMAP only: open and log in N connections and hold them.
    IdleConns,
    /// SMTP only: messages back to back on each client's connection.
    Send,
    /// IMAP only: one connection SELECTs INBOX again and again (the mailbox is open);
    /// the latency is each SELECT's.
    Select,
    /// IMAP only: LOGIN, SELECT INBOX, LOGOUT per session; the latency is the SELECT's.
    SelectSession,
    /// IMAP only: LOGIN, SELECT INBOX, LOGOUT per session; the latency is from connect to
    /// the end of the SELECT (run it once, right after starting the server, to time the
    /// first SELECT after a restart).
    SelectRestart,
    /// IMAP only: STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN) on one
    /// connection with nothing selected, again and again.
    Status,
    /// IMAP only: NOOP in the selected INBOX, again and again.
    Noop,
    /// IMAP only: STORE 1:* +FLAGS.SILENT (\Seen), then -FLAGS.SILENT to reset it, each
    /// timed; the latency is the +FLAGS's.
    MarkAllRead,
    /// IMAP only: STORE +FLAGS.SILENT (\Deleted) on the first 10% of the messages, then
    /// EXPUNGE; the latency is the EXPUNGE's. Each round shrinks the mailbox by 10%.
    Expunge,
    /// IMAP only: CREATE a folder, COPY 1:1000 (or all, if fewer) into it, DELETE it; the
    /// latency is the COPY's.
    Copy,
    /// IMAP only: APPEND a small message to the selected INBOX, per message.
    Append,
    /// IMAP only: SEARCH SUBJECT "--word" in the selected INBOX, again and again.
    Search,
    /// IMAP only: SORT (REVERSE DATE) UTF-8 ALL, a webmail's message list (RFC 5256).
    Sort,
    /// IMAP only: THREAD REFERENCES UTF-8 ALL, a threaded message list (RFC 5256).
    Thread,
    /// IMAP only: UID FETCH 1:* (FLAGS) (CHANGEDSINCE m) with m the HIGHESTMODSEQ SELECT
    /// gave: a CONDSTORE client's resynchronization when nothing changed (RFC 7162).
    Resync,
    /// IMAP only: --clients connections on one shared INBOX, each issuing a random mix of
    /// FETCH n:n+49 (FLAGS) 40%, STORE ±FLAGS.SILENT (\Flagged) 30%, NOOP 10%, APPEND 10%,
    /// STORE +FLAGS.SILENT (\Deleted) then EXPUNGE 10%; the latency is every command's.
    Mixed,
    /// IMAP only: LOGIN, SELECT INBOX, FETCH 1:* (FLAGS), LOGOUT; the latency is the
    /// FETCH's alone.
    FetchFlags,
    /// IMAP only: LOGIN, SELECT INBOX, FETCH 1:* BODY.PEEK[], LOGOUT (bulk download);
    /// the latency is the FETCH's alone.
    FetchBody,
    /// POP3 only: a `session` whose latency is the RETRs' alone.
    Retr,
    /// POP3 only: USER/PASS, STAT, UIDL, QUIT; the latency is the whole session's.
    LoginStatUidl,
}

impl Mode {
    /// The mode's name on the command line.
    fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }

    /// A store load: one long-lived connection per client timing single commands.
    fn is_command_loop(self) -> bool {
        matches!(
            self,
            Mode::Select
                | Mode::Status
                | Mode::Noop
                | Mode::MarkAllRead
                | Mode::Expunge
                | Mode::Copy
                | Mode::Append
                | Mode::Search
                | Mode::Sort
                | Mode::Thread
                | Mode::Resync
                | Mode::Mixed
        )
    }
}

/// Options common to every load.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port (default: the protocol's yubin port; with --tls its implicit-TLS port).
    #[arg(long)]
    port: Option<u16>,
    /// User name.
    #[arg(long, default_value = "alice")]
    user: String,
    /// Password.
    #[arg(long, default_value = "secret")]
    password: String,
    /// Spread clients over this many accounts, USER1..USERn (client i logs in as
    /// USER{i mod n + 1}). POP3 locks a maildrop per session (RFC 1939 §8), so concurrent
    /// POP3 clients need accounts of their own.
    #[arg(long, default_value_t = 1)]
    users: usize,
    /// Concurrent clients (connections).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Run for this many seconds (idle-conns: hold the connections this long). The store
    /// loads always run at least one command per client, however long it takes.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Stop after this many sessions in total (instead of, or before, --duration); for the
    /// store loads, this many rounds of the load's command(s).
    #[arg(long)]
    sessions: Option<u64>,
    /// The load's shape (default: `session`, or `send` for SMTP).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// SMTP: recipient address.
    #[arg(long, default_value = "alice@localhost")]
    to: String,
    /// SMTP: message size in bytes; loopback: bytes per connection.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// The server's process id, to report its memory: RSS and PSS summed over the process
    /// and its children (a process-per-connection server is many processes).
    #[arg(long)]
    pid: Option<u32>,
    /// Print the result as one line of JSON.
    #[arg(long)]
    json: bool,
    /// IMAP search: the word SEARCH SUBJECT looks for (`bench fill` puts "zebra" in the
    /// subject of every 100th message).
    #[arg(long, default_value = "zebra")]
    word: String,
    /// IMAP idle-conns: SELECT INBOX on each connection before holding it.
    #[arg(long)]
    selected: bool,
    #[command(flatten)]
    tls: ClientTlsArgs,
}

impl BenchArgs {
    /// The account client number `i` logs in as.
    fn user_for(&self, i: usize) -> String {
        if self.users > 1 {
            format!("{}{}", self.user, i % self.users + 1)
        } else {
            self.user.clone()
        }
    }
}

/// What one run measured.
#[derive(Debug, Default)]
struct Report {
    sessions: u64,
    errors: u64,
    bytes: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    first_error: Option<String>,
    memory: Option<Memory>,
    /// Idle-conns: the server's memory before the first connection.
    memory_before: Option<Memory>,
    /// Store loads: every timed command, by name (the latencies above are the load's
    /// main command's).
    timings: BTreeMap<&'static str, Vec<Duration>>,
    /// Store loads: tagged NO replies (in `mixed`, a command on a message another client
    /// just expunged may be refused; counted here, not as an error).
    no_replies: u64,
    /// Search: how many messages the last SEARCH found.
    matches: Option<u64>,
}

impl Report {
    /// Adds another client's report.
    fn merge(&mut self, r: Report) {
        self.sessions += r.sessions;
        self.errors += r.errors;
        self.bytes += r.bytes;
        self.no_replies += r.no_replies;
        self.latencies.extend(r.latencies);
        for (name, samples) in r.timings {
            self.timings.entry(name).or_default().extend(samples);
        }
        if self.first_error.is_none() {
            self.first_error = r.first_error;
        }
        if r.matches.is_some() {
            self.matches = r.matches;
        }
    }

    fn error(&mut self, e: &anyhow::Error) {
        self.errors += 1;
        self.first_error.get_or_insert_with(|| format!("{e:#}"));
    }
}

/// How a client connects: where, and with or without TLS.
#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    tls: Option<(TlsConnector, String)>,
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let (proto, args) = match cmd {
        BenchCommand::Pop(a) => (Proto::Pop, a),
        BenchCommand::Imap(a) => (Proto::Imap, a),
        BenchCommand::Smtp(a) => (Proto::Smtp, a),
        BenchCommand::Loopback(a) => (Proto::Loopback, a),
        BenchCommand::Fill(a) => return fill::run(&a),
    };
    let (plain_port, tls_port, default_mode) = match proto {
        Proto::Pop => (2110, 2995, Mode::Session),
        Proto::Imap => (2143, 2993, Mode::Session),
        Proto::Smtp => (2025, 2465, Mode::Send),
        Proto::Loopback => (0, 0, Mode::Session),
    };
    let mode = args.mode.unwrap_or(default_mode);
    match (proto, mode) {
        (Proto::Pop, Mode::Session | Mode::Retr | Mode::LoginStatUidl)
        | (Proto::Loopback, Mode::Session)
        | (
            Proto::Imap,
            Mode::Session
            | Mode::IdleConns
            | Mode::SelectSession
            | Mode::SelectRestart
            | Mode::FetchFlags
            | Mode::FetchBody,
        )
        | (Proto::Smtp, Mode::Send) => {}
        (Proto::Imap, m) if m.is_command_loop() => {}
        _ => bail!("mode {} does not apply to {proto:?}", mode.name()),
    }
    if args.clients == 0 || args.users == 0 || args.duration <= 0.0 {
        bail!("--clients, --users and --duration must be positive");
    }
    let security = args.tls.security()?;
    let tls = match security {
        Security::Plain => None,
        Security::Tls(connector) => Some((connector, args.host.clone())),
        Security::StartTls(_) => bail!("bench speaks implicit TLS only (--tls), not STARTTLS"),
    };
    let port = if tls.is_some() { tls_port } else { plain_port };
    let mut loopback = None;
    let addr: SocketAddr = if proto == Proto::Loopback {
        let (addr, task) = copy_server(&args.host, args.size).await?;
        loopback = Some(task);
        addr
    } else {
        tokio::net::lookup_host((args.host.as_str(), args.port.unwrap_or(port)))
            .await?
            .next()
            .context("no address for host")?
    };
    let target = Target { addr, tls };
    let report = if mode == Mode::IdleConns {
        idle_conns(&target, &args).await?
    } else if mode.is_command_loop() {
        ops::command_loop(mode, &target, &args).await
    } else {
        load(proto, mode, &target, &args).await
    };
    if let Some(task) = loopback {
        task.abort();
    }
    print_report(proto, mode, &args, &report);
    Ok(if report.sessions > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Pop,
    Imap,
    Smtp,
    Loopback,
}

/// The loopback baseline's server: writes `size` bytes to every connection and closes it.
async fn copy_server(
    host: &str,
    size: usize,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind((host, 0)).await?;
    let addr = listener.local_addr()?;
    let data: Arc<[u8]> = vec![b'x'; size].into();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let data = data.clone();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let _ = s.write_all(&data).await;
                let _ = s.shutdown().await;
            });
        }
    });
    Ok((addr, task))
}

async fn load(proto: Proto, mode: Mode, target: &Target, args: &BenchArgs) -> Report {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let budget = Arc::new(AtomicU64::new(args.sessions.unwrap_or(u64::MAX)));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let mut args = args.clone();
        args.user = args.user_for(i);
        let budget = budget.clone();
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = Report::default();
            let mut smtp: Option<Conn> = None;
            while Instant::now() < deadline && take(&budget) {
                let t = Instant::now();
                let result = match proto {
                    Proto::Pop => pop_session(&target, &args, mode).await,
                    Proto::Imap => imap_session(&target, &args, mode).await,
                    Proto::Smtp => smtp_send(&target, &args, &mut smtp)
                        .await
                        .map(|b| (b, None)),
                    Proto::Loopback => copy_session(&target).await.map(|b| (b, None)),
                };
                match result {
                    Ok((bytes, step)) => {
                        r.sessions += 1;
                        r.bytes += bytes;
                        r.latencies.push(step.unwrap_or_else(|| t.elapsed()));
                    }
                    Err(e) => {
                        r.errors += 1;
                        smtp = None;
                        r.first_error.get_or_insert_with(|| format!("{e:#}"));
                        // Do not spin on a refusing server.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            if let Some(mut c) = smtp {
                let _ = c.cmd("QUIT").await;
            }
            r
        }));
    }
    let mut total = Report::default();
    for t in tasks {
        if let Ok(r) = t.await {
            total.merge(r);
        }
    }
    total.elapsed = start.elapsed();
    total
}

fn take(budget: &AtomicU64) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// A byte stream, plaintext or TLS.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A buffered connection that counts the bytes it reads.
struct Conn {
    /// Reads are buffered; writes pass straight through to the stream.
    s: BufReader<Box<dyn Stream>>,
    read: u64,
    line: Vec<u8>,
}

impl Conn {
    async fn open(target: &Target) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(target.addr).await.context("connect")?;
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Stream> = match &target.tls {
            None => Box::new(tcp),
            Some((connector, host)) => {
                let name = yubin_core::tls::server_name(host)?;
                Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .context("TLS handshake")?,
                )
            }
        };
        Ok(Conn {
            s: BufReader::with_capacity(64 * 1024, stream),
            read: 0,
            line: Vec::with_capacity(256),
        })
    }

    async fn line(&mut self) -> anyhow::Result<&[u8]> {
        self.line.clear();
        let n = self.s.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        self.read += n as u64;
        Ok(&self.line)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.s.write_all(text.as_bytes()).await?;
        self.s.flush().await?;
        Ok(())
    }

    /// Sends a line and reads a one-line reply.
    async fn cmd(&mut self, line: &str) -> anyhow::Result<Vec<u8>> {
        self.send(&format!("{line}\r\n")).await?;
        Ok(self.line().await?.to_vec())
    }

    /// Reads and discards a POP3 multi-line body up to and including the `.` line that
    /// ends it, scanning whole buffers (not line by line) so the client costs little.
    async fn skip_dot_terminated(&mut self) -> anyhow::Result<()> {
        const END: &[u8] = b"\r\n.\r\n";
        let finder = memchr::memmem::Finder::new(END);
        // The body starts at a line start: as if a CRLF came just before it.
        let mut carry: Vec<u8> = b"\r\n".to_vec();
        loop {
            let buf = self.s.fill_buf().await?;
            if buf.is_empty() {
                bail!("server closed the connection in a multi-line response");
            }
            // A terminator that spans the previous buffer and this one.
            let mut seam = carry.clone();
            seam.extend_from_slice(&buf[..buf.len().min(END.len() - 1)]);
            let end = match finder.find(&seam) {
                Some(i) => Some(i + END.len() - carry.len()),
                None => finder.find(buf).map(|i| i + END.len()),
            };
            if let Some(end) = end {
                self.s.consume(end);
                self.read += end as u64;
                return Ok(());
            }
            carry.extend_from_slice(&buf[buf.len().saturating_sub(END.len() - 1)..]);
            carry.drain(..carry.len().saturating_sub(END.len() - 1));
            let n = buf.len();
            self.s.consume(n);
            self.read += n as u64;
        }
    }

    /// Reads and discards exactly `n` bytes.
    async fn skip(&mut self, n: u64) -> anyhow::Result<()> {
        let mut left = n;
        while left > 0 {
            let buf = self.s.fill_buf().await?;
            if buf.is_empty() {
                bail!("server closed the connection in a literal");
            }
            let got = buf.len().min(left.try_into().unwrap_or(usize::MAX));
            self.s.consume(got);
            left -= got as u64;
            self.read += got as u64;
        }
        Ok(())
    }
}

fn expect(line: &[u8], prefix: &[u8], what: &str) -> anyhow::Result<()> {
    if line.starts_with(prefix) {
        Ok(())
    } else {
        bail!("{what}: {}", String::from_utf8_lossy(line).trim_end())
    }
}

/// One loopback session: connect, read until the server closes.
async fn copy_session(target: &Target) -> anyhow::Result<u64> {
    let mut c = Conn::open(target).await?;
    loop {
        let n = c.s.fill_buf().await?.len();
        if n == 0 {
            return Ok(c.read);
        }
        c.s.consume(n);
        c.read += n as u64;
    }
}

/// One POP3 session; returns the bytes read and, for `retr`, the time the RETRs took.
async fn pop_session(
    target: &Target,
    a: &BenchArgs,
    mode: Mode,
) -> anyhow::Result<(u64, Option<Duration>)> {
    let mut c = Conn::open(target).await?;
    expect(c.line().await?, b"+OK", "greeting")?;
    // Pipelined login (RFC 2449 PIPELINING), then STAT.
    c.send(&format!(
        "USER {}\r\nPASS {}\r\nSTAT\r\n",
        a.user, a.password
    ))
    .await?;
    expect(c.line().await?, b"+OK", "USER")?;
    expect(c.line().await?, b"+OK", "PASS")?;
    let stat = c.line().await?.to_vec();
    expect(&stat, b"+OK", "STAT")?;
    let count: u32 = String::from_utf8_lossy(&stat)
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .context("bad STAT reply")?;
    if mode == Mode::LoginStatUidl {
        expect(&c.cmd("UIDL").await?, b"+OK", "UIDL")?;
        c.skip_dot_terminated().await?;
        expect(&c.cmd("QUIT").await?, b"+OK", "QUIT")?;
        return Ok((c.read, None));
    }
    let t = Instant::now();
    for n in 1..=count {
        expect(&c.cmd(&format!("RETR {n}")).await?, b"+OK", "RETR")?;
        c.skip_dot_terminated().await?;
    }
    let retr = (mode == Mode::Retr).then(|| t.elapsed());
    expect(&c.cmd("QUIT").await?, b"+OK", "QUIT")?;
    Ok((c.read, retr))
}

/// Reads IMAP responses up to the tagged one, skipping literals by their announced size.
async fn imap_until(c: &mut Conn, tag: &str) -> anyhow::Result<()> {
    loop {
        let line = c.line().await?;
        if let Some(n) = literal_size(line) {
            c.skip(n).await?;
            continue; // the rest of the response follows the literal
        }
        if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
            let status = &line[tag.len() + 1..];
            return expect(status, b"OK", tag);
        }
    }
}

fn literal_size(line: &[u8]) -> Option<u64> {
    mini_imap::value::literal_suffix(line)?.size
}

async fn imap_login(target: &Target, a: &BenchArgs) -> anyhow::Result<Conn> {
    let mut c = Conn::open(target).await?;
    expect(c.line().await?, b"* OK", "greeting")?;
    c.send(&format!(
        "a LOGIN {} {}\r\n",
        imap_quote(&a.user),
        imap_quote(&a.password)
    ))
    .await?;
    imap_until(&mut c, "a").await?;
    Ok(c)
}

fn imap_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// One IMAP session; returns the bytes read and, for `select`/`fetch-flags`, the time
/// of the one command being measured.
async fn imap_session(
    target: &Target,
    a: &BenchArgs,
    mode: Mode,
) -> anyhow::Result<(u64, Option<Duration>)> {
    let connected = Instant::now();
    let mut c = imap_login(target, a).await?;
    let (script, timed): (&[(&str, &str)], Option<&str>) = match mode {
        Mode::SelectSession | Mode::SelectRestart => {
            (&[("b", "SELECT INBOX"), ("e", "LOGOUT")], Some("b"))
        }
        Mode::FetchFlags => (
            &[
                ("b", "SELECT INBOX"),
                ("c", "FETCH 1:* (FLAGS)"),
                ("e", "LOGOUT"),
            ],
            Some("c"),
        ),
        Mode::FetchBody => (
            &[
                ("b", "SELECT INBOX"),
                ("d", "FETCH 1:* BODY.PEEK[]"),
                ("e", "LOGOUT"),
            ],
            Some("d"),
        ),
        _ => (
            &[
                ("b", "SELECT INBOX"),
                ("c", "FETCH 1:* (FLAGS ENVELOPE)"),
                ("d", "FETCH 1:* BODY.PEEK[]"),
                ("e", "LOGOUT"),
            ],
            None,
        ),
    };
    let mut step = None;
    for (tag, cmd) in script {
        let t = Instant::now();
        c.send(&format!("{tag} {cmd}\r\n")).await?;
        imap_until(&mut c, tag).await?;
        if Some(*tag) == timed {
            // select-restart: login and SELECT together, from the connect on.
            let from = if mode == Mode::SelectRestart {
                connected
            } else {
                t
            };
            step = Some(from.elapsed());
        }
    }
    Ok((c.read, step))
}

async fn smtp_send(target: &Target, a: &BenchArgs, conn: &mut Option<Conn>) -> anyhow::Result<u64> {
    if conn.is_none() {
        let mut c = Conn::open(target).await?;
        expect(c.line().await?, b"220", "greeting")?;
        c.send("EHLO bench\r\n").await?;
        loop {
            let l = c.line().await?;
            expect(l, b"250", "EHLO")?;
            if l.get(3) == Some(&b' ') {
                break;
            }
        }
        *conn = Some(c);
    }
    let Some(c) = conn.as_mut() else {
        bail!("no connection")
    };
    let before = c.read;
    c.send(&format!(
        "MAIL FROM:<bench@localhost>\r\nRCPT TO:<{}>\r\nDATA\r\n",
        a.to
    ))
    .await?;
    expect(c.line().await?, b"250", "MAIL")?;
    expect(c.line().await?, b"250", "RCPT")?;
    expect(c.line().await?, b"354", "DATA")?;
    c.send(&bench_message(a.size)).await?;
    expect(c.line().await?, b"250", "end of data")?;
    Ok(c.read - before + a.size as u64)
}

/// A message of about `size` bytes: a header and lines of text.
fn bench_message(size: usize) -> String {
    let mut m = String::from(
        "From: bench@localhost\r\nTo: alice@localhost\r\nSubject: yubin bench\r\n\r\n",
    );
    let line = "The quick brown fox jumps over the lazy dog. 0123456789 abcdefghij\r\n";
    while m.len() + line.len() < size {
        m.push_str(line);
    }
    m.push_str(".\r\n");
    m
}

/// How many logins idle-conns keeps in flight while opening its connections.
const OPENING_AT_ONCE: usize = 64;

async fn idle_conns(target: &Target, args: &BenchArgs) -> anyhow::Result<Report> {
    let start = Instant::now();
    let before = args.pid.and_then(memory);
    let mut conns = Vec::with_capacity(args.clients);
    let mut r = Report::default();
    let mut opening = tokio::task::JoinSet::new();
    let mut next = 0;
    while next < args.clients || !opening.is_empty() {
        while next < args.clients && opening.len() < OPENING_AT_ONCE {
            let mut client = args.clone();
            client.user = args.user_for(next);
            let target = target.clone();
            opening.spawn(async move {
                let t = Instant::now();
                let mut c = imap_login(&target, &client).await?;
                if client.selected {
                    c.send("s SELECT INBOX\r\n").await?;
                    imap_until(&mut c, "s").await?;
                }
                Ok::<_, anyhow::Error>((c, t.elapsed()))
            });
            next += 1;
        }
        match opening.join_next().await {
            Some(Ok(Ok((c, took)))) => {
                r.latencies.push(took);
                r.sessions += 1;
                conns.push(c);
            }
            Some(Ok(Err(e))) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Some(Err(e)) => bail!("login task failed: {e}"),
            None => {}
        }
    }
    let opened = start.elapsed();
    r.memory_before = before;
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    if let Some(pid) = args.pid {
        r.memory = memory(pid);
        if let (Some(b), Some(a)) = (before, r.memory) {
            eprintln!(
                "server memory: RSS {} KiB / PSS {} KiB before, RSS {} KiB / PSS {} KiB \
                 holding {} connections ({} processes)",
                b.rss_kib,
                b.pss_kib,
                a.rss_kib,
                a.pss_kib,
                conns.len(),
                a.processes
            );
        }
    }
    for mut c in conns {
        let _ = c.send("z LOGOUT\r\n").await;
    }
    r.elapsed = opened;
    Ok(r)
}

/// Memory of a process and its descendants, from /proc (Linux).
#[derive(Debug, Clone, Copy)]
struct Memory {
    /// Resident set, summed (pages shared between the processes count once per process).
    rss_kib: u64,
    /// Proportional set, summed (shared pages split between their sharers).
    pss_kib: u64,
    processes: usize,
}

fn memory(pid: u32) -> Option<Memory> {
    let mut tree = vec![pid];
    let mut i = 0;
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| {
            let p: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // The command name is in parentheses and may hold spaces: skip past it.
            let rest = &stat[stat.rfind(')')? + 2..];
            let ppid = rest.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(p, _)| *p),
        );
        i += 1;
    }
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let mut m = Memory {
        rss_kib: 0,
        pss_kib: 0,
        processes: 0,
    };
    for p in tree {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")) {
            m.rss_kib += field(&s, "Rss:");
            m.pss_kib += field(&s, "Pss:");
            m.processes += 1;
        } else if let Ok(s) = std::fs::read_to_string(format!("/proc/{p}/status")) {
            let rss = field(&s, "VmRSS:");
            m.rss_kib += rss;
            m.pss_kib += rss;
            m.processes += 1;
        }
    }
    (m.processes > 0).then_some(m)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn print_report(proto: Proto, mode: Mode, args: &BenchArgs, r: &Report) {
    let mut lat = r.latencies.clone();
    lat.sort();
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    let rate = r.sessions as f64 / secs;
    let mbps = r.bytes as f64 / secs / 1e6;
    let (p50, p90, p99) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
    );
    let name = format!("{proto:?}").to_lowercase();
    let mode_name = mode.name();
    let unit = if mode == Mode::Send {
        "messages"
    } else if mode.is_command_loop() {
        "commands"
    } else {
        "sessions"
    };
    let total_ms = lat.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
    if args.json {
        let mut j = serde_json::json!({
            "protocol": name,
            "mode": mode_name,
            "tls": args.tls.tls,
            "clients": args.clients,
            unit: r.sessions,
            "errors": r.errors,
            "bytes": r.bytes,
            "seconds": round(secs, 3),
            "per_second": round(rate, 1),
            "mb_per_second": round(mbps, 2),
            "p50_ms": round(p50, 3),
            "p90_ms": round(p90, 3),
            "p99_ms": round(p99, 3),
            "total_ms": round(total_ms, 3),
        });
        if !r.timings.is_empty() {
            let timings: serde_json::Map<String, serde_json::Value> = r
                .timings
                .iter()
                .map(|(name, samples)| ((*name).to_owned(), timing_json(samples)))
                .collect();
            j["timings"] = timings.into();
            j["no_replies"] = r.no_replies.into();
        }
        if let Some(n) = r.matches {
            j["matches"] = n.into();
        }
        if let Some(m) = r.memory {
            j["server_rss_kib"] = m.rss_kib.into();
            j["server_pss_kib"] = m.pss_kib.into();
            j["server_processes"] = m.processes.into();
        }
        if let Some(m) = r.memory_before {
            j["server_rss_before_kib"] = m.rss_kib.into();
            j["server_pss_before_kib"] = m.pss_kib.into();
        }
        if let Some(e) = &r.first_error {
            j["first_error"] = e.as_str().into();
        }
        println!("{j}");
    } else {
        let tls = if args.tls.tls { " over TLS" } else { "" };
        println!(
            "{name} {mode_name} x{} clients{tls}, {secs:.1} s",
            args.clients
        );
        println!("  {unit:<10} {:>10}   errors {}", r.sessions, r.errors);
        println!("  per second {rate:>10.1}   MB/s {mbps:.2}");
        println!("  latency ms p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}  total {total_ms:.1}");
        for (name, samples) in &r.timings {
            let mut s = samples.clone();
            s.sort();
            let total = s.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
            println!(
                "  {name:<10} {:>10}   p50 {:.2}  p99 {:.2}  total {total:.1} ms",
                s.len(),
                percentile(&s, 0.5),
                percentile(&s, 0.99)
            );
        }
        if r.no_replies > 0 {
            println!("  NO replies {:>10}", r.no_replies);
        }
        if let Some(n) = r.matches {
            println!("  matches    {n:>10}");
        }
        if args.users > 1 {
            println!("  accounts   {}{{1..{}}}", args.user, args.users);
        }
        if let Some(m) = r.memory {
            println!(
                "  server     RSS {} KiB, PSS {} KiB ({} processes)",
                m.rss_kib, m.pss_kib, m.processes
            );
        }
    }
    if let Some(e) = &r.first_error {
        eprintln!("first error: {e}");
    }
}

/// One command's count, median, p99 and total time, as JSON.
fn timing_json(samples: &[Duration]) -> serde_json::Value {
    let mut s = samples.to_vec();
    s.sort();
    let total = s.iter().map(Duration::as_secs_f64).sum::<f64>() * 1000.0;
    serde_json::json!({
        "count": s.len(),
        "p50_ms": round(percentile(&s, 0.5), 3),
        "p99_ms": round(percentile(&s, 0.99), 3),
        "total_ms": round(total, 3),
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connection over an in-memory pipe that already holds `bytes`, read through a
    /// buffer of `capacity` bytes (small ones put the terminator across buffers).
    async fn conn_with(bytes: &[u8], capacity: usize) -> Conn {
        let (mut server, client) = tokio::io::duplex(1 << 16);
        server.write_all(bytes).await.unwrap();
        drop(server);
        Conn {
            s: BufReader::with_capacity(capacity, Box::new(client)),
            read: 0,
            line: Vec::new(),
        }
    }

    #[tokio::test]
    async fn skip_dot_terminated_stops_right_after_the_end_line_at_any_buffer_size() {
        let body = b"Subject: x\r\n\r\n..stuffed\r\nline\r\n.\r\n";
        for capacity in 1..=body.len() + 8 {
            let mut input = body.to_vec();
            input.extend_from_slice(b"+OK next\r\n");
            let mut c = conn_with(&input, capacity).await;
            c.skip_dot_terminated().await.unwrap();
            assert_eq!(c.read, body.len() as u64, "capacity {capacity}");
            assert_eq!(c.line().await.unwrap(), b"+OK next\r\n");
        }
        // An empty body is just the end line.
        let mut c = conn_with(b".\r\n+OK\r\n", 2).await;
        c.skip_dot_terminated().await.unwrap();
        assert_eq!(c.read, 3);
    }

    #[test]
    fn literal_size_reads_the_announced_octets() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {1024}\r\n"), Some(1024));
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {7+}\r\n"), Some(7));
        assert_eq!(literal_size(b"* 1 FETCH (FLAGS (\\Seen))\r\n"), None);
    }
}
