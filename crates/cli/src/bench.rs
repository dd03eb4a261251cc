//! `yubin bench`: a load generator for POP3, IMAP and SMTP servers (ours or anyone's).
//!
//! Bounded in time and in count, aimed only at the address given (127.0.0.1 by default).
//! Its clients are deliberately minimal raw-protocol loops so that the client side costs
//! little next to the server being measured.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// What to load.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// POP3: `session` = USER/PASS, STAT, RETR every message, QUIT.
    Pop(BenchArgs),
    /// IMAP: `session` = LOGIN, SELECT INBOX, FETCH 1:* (FLAGS ENVELOPE), FETCH 1:*
    /// BODY.PEEK[], LOGOUT; `idle-conns` = hold N logged-in connections.
    Imap(BenchArgs),
    /// SMTP: `send` = one connection per client sending messages back to back.
    Smtp(BenchArgs),
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
}

/// Options common to every load.
#[derive(Debug, Args, Clone)]
pub struct BenchArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port (default: the protocol's yubin port).
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
    /// Run for this many seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Stop after this many sessions in total (instead of, or before, --duration).
    #[arg(long)]
    sessions: Option<u64>,
    /// The load's shape (default: `session`, or `send` for SMTP).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// SMTP: recipient address.
    #[arg(long, default_value = "alice@localhost")]
    to: String,
    /// SMTP: message size in bytes.
    #[arg(long, default_value_t = 4096)]
    size: usize,
    /// IMAP idle-conns: the server's process id, to report its memory (RSS).
    #[arg(long)]
    pid: Option<u32>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
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
    rss_kib: Option<u64>,
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let (proto, args, default_port, default_mode) = match cmd {
        BenchCommand::Pop(a) => (Proto::Pop, a, 2110, Mode::Session),
        BenchCommand::Imap(a) => (Proto::Imap, a, 2143, Mode::Session),
        BenchCommand::Smtp(a) => (Proto::Smtp, a, 2025, Mode::Send),
    };
    let mode = args.mode.unwrap_or(default_mode);
    match (proto, mode) {
        (Proto::Pop, Mode::Session)
        | (Proto::Imap, Mode::Session | Mode::IdleConns)
        | (Proto::Smtp, Mode::Send) => {}
        _ => bail!("mode {mode:?} does not apply to {proto:?}"),
    }
    if args.clients == 0 || args.users == 0 || args.duration <= 0.0 {
        bail!("--clients and --duration must be positive");
    }
    let addr: SocketAddr =
        tokio::net::lookup_host((args.host.as_str(), args.port.unwrap_or(default_port)))
            .await?
            .next()
            .context("no address for host")?;
    let report = if mode == Mode::IdleConns {
        idle_conns(addr, &args).await?
    } else {
        load(proto, addr, &args).await
    };
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
}

async fn load(proto: Proto, addr: SocketAddr, args: &BenchArgs) -> Report {
    let deadline = Instant::now() + Duration::from_secs_f64(args.duration);
    let budget = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(
        args.sessions.unwrap_or(u64::MAX),
    ));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let mut args = args.clone();
        args.user = args.user_for(i);
        let budget = budget.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = Report::default();
            let mut smtp: Option<Conn> = None;
            while Instant::now() < deadline && take(&budget) {
                let t = Instant::now();
                let result = match proto {
                    Proto::Pop => pop_session(addr, &args).await,
                    Proto::Imap => imap_session(addr, &args).await,
                    Proto::Smtp => smtp_send(addr, &args, &mut smtp).await,
                };
                match result {
                    Ok(bytes) => {
                        r.sessions += 1;
                        r.bytes += bytes;
                        r.latencies.push(t.elapsed());
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
            total.sessions += r.sessions;
            total.errors += r.errors;
            total.bytes += r.bytes;
            total.latencies.extend(r.latencies);
            if total.first_error.is_none() {
                total.first_error = r.first_error;
            }
        }
    }
    total.elapsed = start.elapsed();
    total
}

fn take(budget: &std::sync::atomic::AtomicU64) -> bool {
    budget
        .fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| n.checked_sub(1),
        )
        .is_ok()
}

/// A buffered connection that counts the bytes it reads.
struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    read: u64,
    line: Vec<u8>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> anyhow::Result<Conn> {
        let s = TcpStream::connect(addr).await.context("connect")?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok(Conn {
            r: BufReader::with_capacity(64 * 1024, r),
            w,
            read: 0,
            line: Vec::with_capacity(256),
        })
    }

    async fn line(&mut self) -> anyhow::Result<&[u8]> {
        self.line.clear();
        let n = self.r.read_until(b'\n', &mut self.line).await?;
        if n == 0 {
            bail!("server closed the connection");
        }
        self.read += n as u64;
        Ok(&self.line)
    }

    async fn send(&mut self, text: &str) -> anyhow::Result<()> {
        self.w.write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// Sends a line and reads a one-line reply.
    async fn cmd(&mut self, line: &str) -> anyhow::Result<Vec<u8>> {
        self.send(&format!("{line}\r\n")).await?;
        Ok(self.line().await?.to_vec())
    }
}

fn expect(line: &[u8], prefix: &[u8], what: &str) -> anyhow::Result<()> {
    if line.starts_with(prefix) {
        Ok(())
    } else {
        bail!("{what}: {}", String::from_utf8_lossy(line).trim_end())
    }
}

async fn pop_session(addr: SocketAddr, a: &BenchArgs) -> anyhow::Result<u64> {
    let mut c = Conn::open(addr).await?;
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
    for n in 1..=count {
        expect(&c.cmd(&format!("RETR {n}")).await?, b"+OK", "RETR")?;
        while c.line().await? != b".\r\n" {}
    }
    expect(&c.cmd("QUIT").await?, b"+OK", "QUIT")?;
    Ok(c.read)
}

/// Reads IMAP responses up to the tagged one, skipping literals by their announced size.
async fn imap_until(c: &mut Conn, tag: &str) -> anyhow::Result<()> {
    loop {
        let line = c.line().await?.to_vec();
        if let Some(n) = literal_size(&line) {
            let mut left = n;
            let mut buf = [0u8; 16 * 1024];
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let got = c.r.read(&mut buf[..want]).await?;
                if got == 0 {
                    bail!("server closed the connection in a literal");
                }
                left -= got as u64;
                c.read += got as u64;
            }
            continue; // the rest of the response follows the literal
        }
        if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
            let status = &line[tag.len() + 1..];
            return expect(status, b"OK", tag);
        }
    }
}

fn literal_size(line: &[u8]) -> Option<u64> {
    let line = line.strip_suffix(b"\r\n").unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&body[open + 1..])
        .ok()?
        .trim_end_matches('+')
        .parse()
        .ok()
}

async fn imap_login(addr: SocketAddr, a: &BenchArgs) -> anyhow::Result<Conn> {
    let mut c = Conn::open(addr).await?;
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

async fn imap_session(addr: SocketAddr, a: &BenchArgs) -> anyhow::Result<u64> {
    let mut c = imap_login(addr, a).await?;
    for (tag, cmd) in [
        ("b", "SELECT INBOX"),
        ("c", "FETCH 1:* (FLAGS ENVELOPE)"),
        ("d", "FETCH 1:* BODY.PEEK[]"),
        ("e", "LOGOUT"),
    ] {
        c.send(&format!("{tag} {cmd}\r\n")).await?;
        imap_until(&mut c, tag).await?;
    }
    Ok(c.read)
}

async fn smtp_send(
    addr: SocketAddr,
    a: &BenchArgs,
    conn: &mut Option<Conn>,
) -> anyhow::Result<u64> {
    if conn.is_none() {
        let mut c = Conn::open(addr).await?;
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

async fn idle_conns(addr: SocketAddr, args: &BenchArgs) -> anyhow::Result<Report> {
    let start = Instant::now();
    let rss_before = args.pid.and_then(rss_kib);
    let mut conns = Vec::with_capacity(args.clients);
    let mut r = Report::default();
    for i in 0..args.clients {
        let t = Instant::now();
        let mut client = args.clone();
        client.user = args.user_for(i);
        match imap_login(addr, &client).await {
            Ok(c) => {
                r.latencies.push(t.elapsed());
                r.sessions += 1;
                conns.push(c);
            }
            Err(e) => {
                r.errors += 1;
                r.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    if let Some(pid) = args.pid {
        r.rss_kib = rss_kib(pid);
        if let (Some(before), Some(after)) = (rss_before, r.rss_kib) {
            eprintln!(
                "server RSS: {before} KiB before, {after} KiB holding {} connections",
                conns.len()
            );
        }
    }
    for mut c in conns {
        let _ = c.send("z LOGOUT\r\n").await;
    }
    r.elapsed = start.elapsed();
    Ok(r)
}

/// Resident memory of a process in KiB, from /proc (Linux).
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
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
    let unit = if mode == Mode::Send {
        "messages"
    } else {
        "sessions"
    };
    if args.json {
        println!(
            "{{\"protocol\":\"{name}\",\"mode\":\"{}\",\"clients\":{},\"{unit}\":{},\"errors\":{},\"seconds\":{secs:.3},\"per_second\":{rate:.1},\"mb_per_second\":{mbps:.2},\"p50_ms\":{p50:.2},\"p90_ms\":{p90:.2},\"p99_ms\":{p99:.2}{}}}",
            format!("{mode:?}").to_lowercase(),
            args.clients,
            r.sessions,
            r.errors,
            r.rss_kib
                .map(|k| format!(",\"server_rss_kib\":{k}"))
                .unwrap_or_default()
        );
    } else {
        println!("{name} {mode:?} x{} clients, {secs:.1} s", args.clients);
        println!("  {unit:<10} {:>10}   errors {}", r.sessions, r.errors);
        println!("  per second {rate:>10.1}   MB/s {mbps:.2}");
        println!("  latency ms p50 {p50:.2}  p90 {p90:.2}  p99 {p99:.2}");
        if args.users > 1 {
            println!("  accounts   {}{{1..{}}}", args.user, args.users);
        }
        if let Some(k) = r.rss_kib {
            println!("  server RSS {k} KiB");
        }
    }
    if let Some(e) = &r.first_error {
        eprintln!("first error: {e}");
    }
}
