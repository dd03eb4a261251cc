//! The store loads: one long-lived IMAP connection per client, logged in (and INBOX
//! selected) once, then the load's command(s) again and again, each timed alone; and
//! `mixed`, concurrent clients reading and writing one shared mailbox.
//!
//! Every client first sets up its connection, then all start together, so that setup
//! (a first SELECT of a large mailbox can take a while) is neither timed nor counted in
//! the rate. A client runs at least one round however long it takes, so a slow command
//! on a large mailbox is still measured once with a short --duration.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncWriteExt;
use tokio::sync::Barrier;

use super::{BenchArgs, Conn, Mode, Report, Target, imap_login, literal_size, take};

/// How a tagged reply ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    No,
    Bad,
}

/// A tagged reply: its status and text.
#[derive(Debug)]
struct Reply {
    status: Status,
    text: String,
}

impl Reply {
    /// The reply, or an error unless it is OK.
    fn ok(self, what: &str) -> anyhow::Result<Reply> {
        if self.status == Status::Ok {
            Ok(self)
        } else {
            bail!("{what}: {}", self.text)
        }
    }
}

/// A logged-in IMAP connection that keeps track of the selected mailbox's size from the
/// untagged EXISTS and EXPUNGE responses it sees.
struct Session {
    c: Conn,
    /// Messages in the selected mailbox, as this session knows it.
    exists: u32,
    /// How many numbers the last `* SEARCH` response held.
    found: Option<u64>,
    /// The last `[HIGHESTMODSEQ n]` seen (RFC 7162), for CHANGEDSINCE.
    highest_modseq: u64,
    next_tag: u64,
}

impl Session {
    async fn open(target: &Target, args: &BenchArgs, select: bool) -> anyhow::Result<Session> {
        let c = imap_login(target, args).await?;
        let mut s = Session {
            c,
            exists: 0,
            found: None,
            highest_modseq: 0,
            next_tag: 0,
        };
        if select {
            s.command("SELECT INBOX").await?.ok("SELECT")?;
        }
        Ok(s)
    }

    fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Sends one command and reads its responses up to the tagged reply.
    async fn command(&mut self, command: &str) -> anyhow::Result<Reply> {
        let tag = self.tag();
        self.c.send(&format!("{tag} {command}\r\n")).await?;
        self.reply(&tag).await
    }

    /// Sends a command that ends in a synchronizing literal: the line, then (after the
    /// server's `+`) the literal.
    async fn command_with_literal(
        &mut self,
        command: &str,
        literal: &[u8],
    ) -> anyhow::Result<Reply> {
        let tag = self.tag();
        self.c
            .send(&format!("{tag} {command} {{{}}}\r\n", literal.len()))
            .await?;
        let line = self.c.line().await?.to_vec();
        if !line.starts_with(b"+") {
            // Refused before the literal: this is the tagged reply.
            return parse_tagged(&line, &tag)
                .with_context(|| format!("{command}: {}", String::from_utf8_lossy(&line)));
        }
        let mut data = Vec::with_capacity(literal.len() + 2);
        data.extend_from_slice(literal);
        data.extend_from_slice(b"\r\n");
        self.c.s.write_all(&data).await?;
        self.c.s.flush().await?;
        self.reply(&tag).await
    }

    async fn reply(&mut self, tag: &str) -> anyhow::Result<Reply> {
        loop {
            let line = self.c.line().await?;
            if let Some(n) = literal_size(line) {
                self.c.skip(n).await?;
                continue; // the rest of the response follows the literal
            }
            if let Some(untagged) = line.strip_prefix(b"* ") {
                let text = String::from_utf8_lossy(untagged);
                if let Some(rest) = text.split("[HIGHESTMODSEQ ").nth(1)
                    && let Some(Ok(m)) = rest.split(']').next().map(str::parse::<u64>)
                {
                    self.highest_modseq = m;
                }
                let mut words = text.split_ascii_whitespace();
                match (words.next(), words.next()) {
                    (Some("SEARCH"), _) => {
                        let n = text.split_ascii_whitespace().skip(1).count();
                        self.found = Some(n as u64);
                    }
                    (Some(n), Some(kind)) => match (n.parse::<u32>(), kind) {
                        (Ok(n), k) if k.eq_ignore_ascii_case("EXISTS") => self.exists = n,
                        (Ok(_), k) if k.eq_ignore_ascii_case("EXPUNGE") => {
                            self.exists = self.exists.saturating_sub(1);
                        }
                        _ => {}
                    },
                    _ => {}
                }
                continue;
            }
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                let line = line.to_vec();
                return parse_tagged(&line, tag);
            }
        }
    }

    async fn logout(mut self) {
        let _ = self.command("LOGOUT").await;
    }
}

fn parse_tagged(line: &[u8], tag: &str) -> anyhow::Result<Reply> {
    let text = String::from_utf8_lossy(line).trim_end().to_owned();
    let rest = text
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(' '))
        .with_context(|| format!("expected a reply tagged {tag}: {text}"))?;
    let word = rest.split(' ').next().unwrap_or_default();
    let status = if word.eq_ignore_ascii_case("OK") {
        Status::Ok
    } else if word.eq_ignore_ascii_case("NO") {
        Status::No
    } else if word.eq_ignore_ascii_case("BAD") {
        Status::Bad
    } else {
        bail!("not a tagged reply: {text}")
    };
    Ok(Reply { status, text })
}

/// A small, fast, reproducible random sequence (xorshift64*), one per client.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Runs a store load on --clients connections and merges what they measured.
pub(super) async fn command_loop(mode: Mode, target: &Target, args: &BenchArgs) -> Report {
    let budget = Arc::new(AtomicU64::new(args.sessions.unwrap_or(u64::MAX)));
    let start_line = Arc::new(Barrier::new(args.clients));
    let mut tasks = Vec::new();
    for i in 0..args.clients {
        let mut args = args.clone();
        args.user = args.user_for(i);
        let target = target.clone();
        let budget = budget.clone();
        let start_line = start_line.clone();
        tasks.push(tokio::spawn(async move {
            client(mode, i, &target, &args, &budget, &start_line).await
        }));
    }
    let mut total = Report::default();
    for t in tasks {
        match t.await {
            Ok((r, elapsed)) => {
                total.elapsed = total.elapsed.max(elapsed);
                total.merge(r);
            }
            Err(e) => total.error(&anyhow::anyhow!("client task failed: {e}")),
        }
    }
    total
}

/// One client: set up, wait for the others, then rounds until the deadline or the budget.
async fn client(
    mode: Mode,
    i: usize,
    target: &Target,
    args: &BenchArgs,
    budget: &AtomicU64,
    start_line: &Barrier,
) -> (Report, Duration) {
    let mut r = Report::default();
    // STATUS is asked with nothing selected; everything else works in the selected INBOX.
    let select = mode != Mode::Status;
    let mut session = match Session::open(target, args, select).await {
        Ok(s) => Some(s),
        Err(e) => {
            r.error(&e.context("setup"));
            None
        }
    };
    start_line.wait().await;
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.duration);
    let mut rng = Rng::new(i as u64 + 1);
    let mut rounds = 0u64;
    while (rounds == 0 || Instant::now() < deadline) && take(budget) {
        rounds += 1;
        let s = match session.as_mut() {
            Some(s) => s,
            None => match Session::open(target, args, select).await {
                Ok(s) => session.insert(s),
                Err(e) => {
                    r.error(&e.context("reconnect"));
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let result = round(mode, s, args, &mut rng, &mut r, (i, rounds)).await;
        if let Some(n) = s.found {
            r.matches = Some(n);
        }
        if let Err(e) = result {
            r.error(&e);
            // The connection may be in any state: start again on a new one.
            session = None;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let elapsed = start.elapsed();
    if let Some(s) = session {
        s.logout().await;
    }
    (r, elapsed)
}

/// Records one timed command; `main` ones are the load's latencies and count.
fn sample(r: &mut Report, name: &'static str, took: Duration, main: bool) {
    r.timings.entry(name).or_default().push(took);
    if main {
        r.latencies.push(took);
        r.sessions += 1;
    }
}

/// Runs one timed command that must succeed.
async fn timed(
    s: &mut Session,
    r: &mut Report,
    name: &'static str,
    main: bool,
    command: &str,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let reply = s.command(command).await?;
    let took = t.elapsed();
    reply.ok(name)?;
    sample(r, name, took, main);
    Ok(())
}

/// One round of the load: its command(s), timed.
async fn round(
    mode: Mode,
    s: &mut Session,
    args: &BenchArgs,
    rng: &mut Rng,
    r: &mut Report,
    (client, n): (usize, u64),
) -> anyhow::Result<()> {
    match mode {
        Mode::Noop => timed(s, r, "noop", true, "NOOP").await,
        Mode::Select => timed(s, r, "select", true, "SELECT INBOX").await,
        Mode::Status => {
            let command = "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)";
            timed(s, r, "status", true, command).await
        }
        Mode::Search => {
            let command = format!("SEARCH SUBJECT {}", super::imap_quote(&args.word));
            timed(s, r, "search", true, &command).await
        }
        Mode::Sort => timed(s, r, "sort", true, "SORT (REVERSE DATE) UTF-8 ALL").await,
        Mode::Thread => timed(s, r, "thread", true, "THREAD REFERENCES UTF-8 ALL").await,
        Mode::Resync => {
            if s.highest_modseq == 0 {
                // A CONDSTORE client selects with CONDSTORE, which every server answers
                // with HIGHESTMODSEQ (RFC 7162 §3.1.8); untimed, once.
                s.command("SELECT INBOX (CONDSTORE)").await?.ok("SELECT")?;
            }
            let command = format!(
                "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {})",
                s.highest_modseq.max(1)
            );
            timed(s, r, "resync", true, &command).await
        }
        Mode::MarkAllRead => {
            timed(s, r, "+seen", true, "STORE 1:* +FLAGS.SILENT (\\Seen)").await?;
            timed(s, r, "-seen", false, "STORE 1:* -FLAGS.SILENT (\\Seen)").await
        }
        Mode::Expunge => {
            if s.exists == 0 {
                bail!("expunge: the mailbox is empty");
            }
            let k = (s.exists / 10).max(1);
            let mark = format!("STORE 1:{k} +FLAGS.SILENT (\\Deleted)");
            timed(s, r, "mark", false, &mark).await?;
            timed(s, r, "expunge", true, "EXPUNGE").await
        }
        Mode::Copy => {
            if s.exists == 0 {
                bail!("copy: the mailbox is empty");
            }
            let folder = format!("bench-copy-{}-{client}-{n}", std::process::id());
            s.command(&format!("CREATE {folder}")).await?.ok("CREATE")?;
            let last = s.exists.min(1000);
            timed(s, r, "copy", true, &format!("COPY 1:{last} {folder}")).await?;
            s.command(&format!("DELETE {folder}")).await?.ok("DELETE")?;
            Ok(())
        }
        Mode::Append => {
            let message = small_message(client, n);
            let t = Instant::now();
            let reply = s.command_with_literal("APPEND INBOX", &message).await?;
            let took = t.elapsed();
            reply.ok("APPEND")?;
            sample(r, "append", took, true);
            Ok(())
        }
        Mode::Mixed => mixed_round(s, rng, r, (client, n)).await,
        _ => bail!("{} is not a store load", mode.name()),
    }
}

/// One command of `mixed` (two for an expunge), drawn at random.
async fn mixed_round(
    s: &mut Session,
    rng: &mut Rng,
    r: &mut Report,
    (client, n): (usize, u64),
) -> anyhow::Result<()> {
    let mut roll = rng.below(100);
    if s.exists == 0 {
        roll = 75; // nothing to read or change: append
    }
    let pick = |rng: &mut Rng, exists: u32| rng.below(u64::from(exists)) as u32 + 1;
    match roll {
        0..40 => {
            let first = pick(rng, s.exists);
            let last = (first + 49).min(s.exists);
            mixed_command(s, r, "fetch", &format!("FETCH {first}:{last} (FLAGS)")).await
        }
        40..70 => {
            let sign = if rng.below(2) == 0 { '+' } else { '-' };
            let seq = pick(rng, s.exists);
            let command = format!("STORE {seq} {sign}FLAGS.SILENT (\\Flagged)");
            mixed_command(s, r, "store", &command).await
        }
        70..80 => {
            let message = small_message(client, n);
            let t = Instant::now();
            let reply = s.command_with_literal("APPEND INBOX", &message).await?;
            mixed_outcome(r, "append", t.elapsed(), reply.status)
        }
        80..90 => {
            let seq = pick(rng, s.exists);
            let command = format!("STORE {seq} +FLAGS.SILENT (\\Deleted)");
            mixed_command(s, r, "store", &command).await?;
            mixed_command(s, r, "expunge", "EXPUNGE").await
        }
        _ => mixed_command(s, r, "noop", "NOOP").await,
    }
}

/// A `mixed` command, timed whatever its reply.
async fn mixed_command(
    s: &mut Session,
    r: &mut Report,
    name: &'static str,
    command: &str,
) -> anyhow::Result<()> {
    let t = Instant::now();
    let reply = s.command(command).await?;
    mixed_outcome(r, name, t.elapsed(), reply.status)
}

/// Records a `mixed` command: a NO is counted, not an error (another client may have
/// expunged the message meanwhile); a BAD is an error.
fn mixed_outcome(
    r: &mut Report,
    name: &'static str,
    took: Duration,
    status: Status,
) -> anyhow::Result<()> {
    sample(r, name, took, true);
    match status {
        Status::Ok => Ok(()),
        Status::No => {
            r.no_replies += 1;
            Ok(())
        }
        Status::Bad => bail!("{name}: BAD"),
    }
}

/// A small message (about 400 bytes, CRLF) for APPEND, unique per client and round.
fn small_message(client: usize, n: u64) -> Vec<u8> {
    format!(
        "From: Bench <bench@example.com>\r\n\
         To: Alice <alice@localhost>\r\n\
         Subject: Appended {client}-{n}\r\n\
         Date: Mon, 1 Jan 2024 12:00:00 +0000\r\n\
         Message-ID: <append.{}.{client}.{n}@bench.example>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         A small message appended by yubin bench, to see what one APPEND costs\r\n\
         in a mailbox that is already large. Nothing else to see here.\r\n",
        std::process::id()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tagged_replies_are_parsed_by_status() {
        let ok = parse_tagged(b"t1 OK [READ-WRITE] SELECT completed\r\n", "t1").unwrap();
        assert_eq!(ok.status, Status::Ok);
        assert_eq!(
            parse_tagged(b"t2 no gone\r\n", "t2").unwrap().status,
            Status::No
        );
        assert_eq!(
            parse_tagged(b"t3 BAD what\r\n", "t3").unwrap().status,
            Status::Bad
        );
        assert!(parse_tagged(b"t4 OK\r\n", "t3").is_err());
    }

    #[test]
    fn the_random_numbers_stay_in_range_and_differ_per_client() {
        let (mut a, mut b) = (Rng::new(1), Rng::new(2));
        let xs: Vec<u64> = (0..100).map(|_| a.below(10)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.below(10)).collect();
        assert!(xs.iter().all(|&x| x < 10));
        assert_ne!(xs, ys);
    }
}
