//! The SIGKILL harness shared by `tests/crash.rs` and `tests/crash_moves.rs`: a child
//! process (the test binary itself, re-run with `--exact child_process` and environment
//! variables saying what to do) works on a Maildir and prints a line after each
//! operation has returned; the parent kills it with SIGKILL at a random moment and keeps
//! the complete lines, so it knows exactly which operations were acknowledged.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What the child does (unset in a normal test run: the child test does nothing).
pub const MODE: &str = "YUBIN_CRASH_CHILD";
/// The data directory the child works on.
pub const DIR: &str = "YUBIN_CRASH_DIR";
/// The seed of the child's random choices.
pub const SEED: &str = "YUBIN_CRASH_SEED";

/// A small deterministic generator (xorshift64*), so no extra dependency is needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

pub fn time_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// The message with this id: its size varies up to 64 KiB so kills land mid-write too.
pub fn message(id: u64) -> Vec<u8> {
    let mut m = format!("X-Crash-Id: {id}\r\nSubject: crash test {id}\r\n\r\n").into_bytes();
    let size = 64 + (id.wrapping_mul(7919) % 65_000) as usize;
    let mut n = id;
    while m.len() < size {
        n = n
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        m.extend_from_slice(format!("{n:016x} line of the body of {id}\r\n").as_bytes());
    }
    m
}

/// The id of a message [`message`] made.
pub fn id_of(bytes: &[u8]) -> Option<u64> {
    let first = bytes.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(first.strip_prefix(b"X-Crash-Id: ")?)
        .ok()?
        .parse()
        .ok()
}

/// The flags of flag change number `k`: system flags and keywords, all of which a
/// Maildir file name can show.
pub fn flags_for(k: u64) -> yubin_store::Flags {
    use yubin_store::Flag;
    let mut f = yubin_store::Flags::new();
    if k & 1 != 0 {
        f.insert(Flag::Seen);
    }
    if k & 2 != 0 {
        f.insert(Flag::Flagged);
    }
    if k & 4 != 0 {
        f.insert(Flag::Deleted);
    }
    f.insert(Flag::Keyword(format!("k{}", k % 3)));
    f
}

/// Tells the parent one line.
pub fn say(line: &str) {
    // One write per line, straight to the pipe (not through the test harness's capture):
    // a line either arrives whole or not at all.
    let mut out = std::io::stdout().lock();
    out.write_all(format!("{line}\n").as_bytes()).unwrap();
    out.flush().unwrap();
}

/// How a child is run.
pub struct Run<'a> {
    /// The child's mode ([`MODE`]).
    pub mode: &'a str,
    /// The data directory.
    pub dir: &'a Path,
    /// The child's seed.
    pub seed: u64,
    /// Wait for the child's `READY` before the random delay (else the kill may land
    /// while it opens the store, during the reconcile an open does).
    pub wait_ready: bool,
    /// The longest random delay before the kill.
    pub max_delay: Duration,
    /// More environment for the child.
    pub env: Vec<(&'static str, String)>,
}

/// Runs one child until a random moment, kills it with SIGKILL, returns the complete
/// lines it printed.
pub fn run_child(run: Run<'_>, rng: &mut Rng) -> Vec<String> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(MODE, run.mode)
        .env(DIR, run.dir)
        .env(SEED, run.seed.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in &run.env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("re-run the test binary");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            match r.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                // A line cut short by the kill is not a success.
                Ok(_) if line.ends_with(b"\n") => {
                    let _ = tx.send(String::from_utf8_lossy(&line).trim_end().to_owned());
                }
                Ok(_) => break,
            }
        }
    });
    let mut lines = Vec::new();
    if run.wait_ready {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("child never became ready");
            let ready = line == "READY";
            lines.push(line);
            if ready {
                break;
            }
        }
    }
    let max = run.max_delay.as_micros() as u64;
    std::thread::sleep(Duration::from_micros(rng.below(max)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    lines
}
