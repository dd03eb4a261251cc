//! Helpers for the live-view acceptance tests (`tests/live_view.rs`): a `yubin serve`
//! process that can be stopped gracefully, a raw IMAP client over a plain TCP socket with
//! a deadline on every read, a raw SMTP sender, and the Maildir paths other programs
//! (Python's `mailbox`, an MDA, mutt) write to.
//!
//! Every wait here has a deadline and panics with what it saw when the deadline passes,
//! so a missing notification fails the test with a transcript rather than hanging it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::{port_of, yubin};

/// The deadline for one ordinary protocol step (connect, a command and its reply).
/// Generous because the machine may be busy compiling; the tests that are about
/// latency set their own, tight deadline.
pub const STEP: Duration = Duration::from_secs(15);

/// The account every test uses: `yubin serve`'s default when no `--user` is given.
pub const USER: &str = "alice";
pub const PASSWORD: &str = "secret";

/// `<data>/<user>/Maildir`: INBOX of one account (see crates/store/src/maildir/mod.rs).
pub fn maildir(data: &Path, user: &str) -> PathBuf {
    data.join(user).join("Maildir")
}

/// Whether python3 can be run. In CI (`CI` set) a missing python3 fails the test: the CI
/// script promises it, and a silently skipped acceptance test proves nothing. Elsewhere the
/// test prints why and skips.
pub fn python3_available(test: &str) -> bool {
    let found = std::process::Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{test}: python3 is required in CI (CI is set) but could not be run"
        );
        eprintln!("{test}: python3 is not installed; skipping (CI requires it)");
    }
    found
}

/// `yubin serve` on free ports (SMTP, POP3, IMAP; no TLS), killed when dropped.
pub struct Serve {
    child: Child,
    pub smtp: u16,
    pub pop: u16,
    pub imap: u16,
}

impl Serve {
    /// Starts `yubin serve --data DATA` on port 0 everywhere and reads the ports it prints.
    pub fn start(data: &Path) -> Serve {
        Serve::start_with(data, &[])
    }

    /// [`Serve::start`] with more `yubin serve` arguments.
    pub fn start_with(data: &Path, extra: &[&str]) -> Serve {
        let mut child = yubin()
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"])
            .arg("--no-tls")
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yubin serve starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut smtp, mut pop, mut imap) = (None, None, None);
        let mut seen = Vec::new();
        while smtp.is_none() || pop.is_none() || imap.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("yubin serve did not print its three ports within 30 s ({e}): {seen:?}")
                }
            };
            if line.starts_with("SMTP listening on") {
                smtp = Some(port_of(&line));
            } else if line.starts_with("POP3 listening on") {
                pop = Some(port_of(&line));
            } else if line.starts_with("IMAP listening on") {
                imap = Some(port_of(&line));
            }
            seen.push(line);
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Serve {
            child,
            smtp: smtp.unwrap(),
            pop: pop.unwrap(),
            imap: imap.unwrap(),
        }
    }

    /// Stops the server as Ctrl-C/SIGTERM would and waits (with a deadline) for it to exit.
    pub fn stop(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for yubin serve") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "yubin serve (pid {pid}) did not exit within {STEP:?} of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tagged command's reply: the untagged responses before it (literals inlined, raw
/// bytes) and the tagged status line.
#[derive(Debug)]
pub struct Reply {
    pub untagged: Vec<Vec<u8>>,
    pub tagged: String,
}

impl Reply {
    /// The untagged responses as text (lossy; for matching and for failure messages).
    pub fn lines(&self) -> Vec<String> {
        self.untagged
            .iter()
            .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
            .collect()
    }

    /// Whether the tagged status is OK.
    pub fn is_ok(&self) -> bool {
        self.tagged
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.eq_ignore_ascii_case("OK"))
    }

    /// The last `* N EXISTS`, if any.
    pub fn exists(&self) -> Option<u32> {
        self.lines().iter().filter_map(|l| exists_of(l)).next_back()
    }

    /// Every `* N EXPUNGE`, in order.
    pub fn expunged(&self) -> Vec<u32> {
        self.lines().iter().filter_map(|l| expunge_of(l)).collect()
    }

    /// `(sequence number, flags)` of every untagged FETCH that carries FLAGS.
    pub fn fetch_flags(&self) -> Vec<(u32, Vec<String>)> {
        self.lines()
            .iter()
            .filter_map(|l| fetch_flags_of(l))
            .collect()
    }

    /// `(sequence number, UID)` of every untagged FETCH that carries UID.
    pub fn fetch_uids(&self) -> Vec<(u32, u32)> {
        self.lines()
            .iter()
            .filter_map(|l| {
                let (seq, items) = fetch_items(l)?;
                Some((seq, number_after(items, "UID ")?))
            })
            .collect()
    }

    /// The tagged line's `[CODE args]`, e.g. `APPENDUID 1 5`.
    pub fn code(&self) -> Option<&str> {
        let start = self.tagged.find('[')? + 1;
        let end = start + self.tagged[start..].find(']')?;
        Some(&self.tagged[start..end])
    }
}

/// `* N EXISTS` → N.
pub fn exists_of(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("* ")?;
    let (n, word) = rest.split_once(' ')?;
    word.trim()
        .eq_ignore_ascii_case("EXISTS")
        .then(|| n.parse().ok())?
}

/// `* N EXPUNGE` → N.
pub fn expunge_of(line: &str) -> Option<u32> {
    let rest = line.strip_prefix("* ")?;
    let (n, word) = rest.split_once(' ')?;
    word.trim()
        .eq_ignore_ascii_case("EXPUNGE")
        .then(|| n.parse().ok())?
}

/// `* N FETCH (ITEMS)` → (N, "ITEMS)").
fn fetch_items(line: &str) -> Option<(u32, &str)> {
    let rest = line.strip_prefix("* ")?;
    let (n, rest) = rest.split_once(' ')?;
    let seq = n.parse().ok()?;
    let items = rest
        .get(..7)
        .filter(|w| w.eq_ignore_ascii_case("FETCH ("))
        .map(|_| &rest[7..])?;
    Some((seq, items))
}

/// `* N FETCH (... FLAGS (\A \B) ...)` → (N, ["\A", "\B"]).
pub fn fetch_flags_of(line: &str) -> Option<(u32, Vec<String>)> {
    let (seq, items) = fetch_items(line)?;
    let upper = items.to_ascii_uppercase();
    let at = upper.find("FLAGS (")? + "FLAGS (".len();
    let end = at + items[at..].find(')')?;
    let flags = items[at..end]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    Some((seq, flags))
}

/// The number after `key` in `text` (case-insensitive key).
pub fn number_after(text: &str, key: &str) -> Option<u32> {
    let upper = text.to_ascii_uppercase();
    let at = upper.find(&key.to_ascii_uppercase())? + key.len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Whether `flags` is exactly `want`, ignoring order, case, and a `\Recent` the session may
/// also hold (RFC 3501 §2.3.2: \Recent is per session, not a property other programs set).
pub fn flags_are(flags: &[String], want: &[&str]) -> bool {
    let mut got: Vec<String> = flags
        .iter()
        .map(|f| f.to_ascii_lowercase())
        .filter(|f| f != "\\recent")
        .collect();
    let mut want: Vec<String> = want.iter().map(|f| f.to_ascii_lowercase()).collect();
    got.sort();
    want.sort();
    got == want
}

/// A raw IMAP4rev1 client on a plain TCP socket: every read has a deadline.
pub struct Imap {
    name: String,
    stream: TcpStream,
    buf: Vec<u8>,
    next_tag: u32,
}

impl Imap {
    /// Connects and reads the greeting.
    pub fn connect(name: &str, port: u16) -> Imap {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), STEP)
            .unwrap_or_else(|e| panic!("{name}: connecting to IMAP port {port}: {e}"));
        stream.set_nodelay(true).unwrap();
        let mut imap = Imap {
            name: name.to_owned(),
            stream,
            buf: Vec::new(),
            next_tag: 0,
        };
        let greeting = imap.read_response(Instant::now() + STEP);
        assert!(
            greeting.starts_with(b"* OK"),
            "{name}: greeting: {}",
            String::from_utf8_lossy(&greeting)
        );
        imap
    }

    /// Connects, reads the greeting and logs in as the default account.
    pub fn login(name: &str, port: u16) -> Imap {
        let mut imap = Imap::connect(name, port);
        imap.ok(&format!("LOGIN {USER} {PASSWORD}"));
        imap
    }

    /// Sends raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream
            .set_write_timeout(Some(STEP))
            .expect("setting a write timeout");
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: sending: {e}", self.name));
    }

    /// Sends `TAG command` and returns the tag.
    pub fn send_command(&mut self, command: &str) -> String {
        self.next_tag += 1;
        let tag = format!("t{}", self.next_tag);
        self.send(format!("{tag} {command}\r\n").as_bytes());
        tag
    }

    /// Runs one command and returns its reply, within [`STEP`].
    pub fn command(&mut self, command: &str) -> Reply {
        let tag = self.send_command(command);
        self.read_reply(&tag, Instant::now() + STEP, command)
    }

    /// Runs one command and asserts that it completes with OK.
    pub fn ok(&mut self, command: &str) -> Reply {
        let reply = self.command(command);
        assert!(
            reply.is_ok(),
            "{}: {command} did not succeed: {:?} then {}",
            self.name,
            reply.lines(),
            reply.tagged
        );
        reply
    }

    /// SELECT `mailbox`, asserting OK; returns the reply.
    pub fn select(&mut self, mailbox: &str) -> Reply {
        self.ok(&format!("SELECT {mailbox}"))
    }

    /// The untagged responses up to the line tagged `tag`, which must arrive by `deadline`.
    pub fn read_reply(&mut self, tag: &str, deadline: Instant, what: &str) -> Reply {
        let prefix = format!("{tag} ");
        let mut untagged = Vec::new();
        loop {
            let response = self.read_response_for(deadline, what, &untagged);
            if response.starts_with(prefix.as_bytes()) {
                let tagged = String::from_utf8_lossy(&response).trim_end().to_owned();
                return Reply { untagged, tagged };
            }
            untagged.push(response);
        }
    }

    /// Reads responses until one satisfies `want`; it must arrive by `deadline`. Returns
    /// everything read (the match last) and the instant the match was read.
    pub fn wait_for(
        &mut self,
        deadline: Instant,
        what: &str,
        want: impl Fn(&str) -> bool,
    ) -> (Vec<String>, Instant) {
        let mut seen = Vec::new();
        loop {
            let response = self.read_response_for(deadline, what, &seen);
            let line = String::from_utf8_lossy(&response).trim_end().to_owned();
            let hit = want(&line);
            seen.push(response);
            if hit {
                let at = Instant::now();
                let lines = seen
                    .iter()
                    .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
                    .collect();
                return (lines, at);
            }
        }
    }

    /// One whole response (a line, with any literals `{n}` it announces inlined).
    pub fn read_response(&mut self, deadline: Instant) -> Vec<u8> {
        self.read_response_for(deadline, "a response", &[])
    }

    fn read_response_for(&mut self, deadline: Instant, what: &str, seen: &[Vec<u8>]) -> Vec<u8> {
        let mut response = Vec::new();
        loop {
            let line = self.read_line(deadline, what, seen, &response);
            response.extend_from_slice(&line);
            match literal_length(&line) {
                Some(n) => {
                    let bytes = self.read_exact(n, deadline, what, seen, &response);
                    response.extend_from_slice(&bytes);
                }
                None => return response,
            }
        }
    }

    fn read_line(
        &mut self,
        deadline: Instant,
        what: &str,
        seen: &[Vec<u8>],
        partial: &[u8],
    ) -> Vec<u8> {
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                return self.buf.drain(..=at).collect();
            }
            self.fill(deadline, what, seen, partial);
        }
    }

    fn read_exact(
        &mut self,
        n: usize,
        deadline: Instant,
        what: &str,
        seen: &[Vec<u8>],
        partial: &[u8],
    ) -> Vec<u8> {
        while self.buf.len() < n {
            self.fill(deadline, what, seen, partial);
        }
        self.buf.drain(..n).collect()
    }

    /// Reads more from the socket, or panics (with what was read so far) at the deadline.
    fn fill(&mut self, deadline: Instant, what: &str, seen: &[Vec<u8>], partial: &[u8]) {
        let fail = |why: String, buf: &[u8]| -> ! {
            let seen: Vec<_> = seen
                .iter()
                .map(|l| String::from_utf8_lossy(l).trim_end().to_owned())
                .collect();
            panic!(
                "{}: waiting for {what}: {why}; read so far: {seen:?}, then {:?}",
                self.name,
                String::from_utf8_lossy(&[partial, buf].concat())
            )
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            fail("deadline passed".into(), &self.buf);
        }
        self.stream
            .set_read_timeout(Some(left))
            .expect("setting a read timeout");
        let mut chunk = [0u8; 8192];
        match self.stream.read(&mut chunk) {
            Ok(0) => fail("the server closed the connection".into(), &self.buf),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                fail(format!("nothing more within the deadline ({e})"), &self.buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => fail(format!("read error: {e}"), &self.buf),
        }
    }

    /// LOGOUT, tolerating a server that closes first.
    pub fn logout(mut self) {
        let tag = self.send_command("LOGOUT");
        let _ = self.read_reply(&tag, Instant::now() + STEP, "LOGOUT");
    }
}

/// `... {123}\r\n` (or `{123+}`) → 123.
fn literal_length(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let open = line.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&line[open + 1..]).ok()?.parse().ok()
}

/// Sends one message over SMTP (a raw socket, every reply within [`STEP`]) to `rcpt`.
pub fn smtp_send(port: u16, rcpt: &str, message: &[u8]) {
    let mut stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), STEP)
        .unwrap_or_else(|e| panic!("connecting to SMTP port {port}: {e}"));
    stream.set_read_timeout(Some(STEP)).unwrap();
    stream.set_write_timeout(Some(STEP)).unwrap();
    let mut buf = Vec::new();
    // One reply (possibly multiline: `250-...` lines then `250 ...`); returns its code.
    let mut reply = |stream: &mut TcpStream, step: &str| -> String {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(at) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=at).collect();
                let line = String::from_utf8_lossy(&line).into_owned();
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line;
                }
                continue;
            }
            assert!(Instant::now() < deadline, "SMTP {step}: no reply in time");
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk) {
                Ok(0) => panic!("SMTP {step}: connection closed"),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("SMTP {step}: {e}"),
            }
        }
    };
    let expect = |line: String, code: &str, step: &str| {
        assert!(line.starts_with(code), "SMTP {step}: {line}");
    };
    expect(reply(&mut stream, "greeting"), "220", "greeting");
    for (cmd, code) in [
        ("EHLO live-view.test".to_owned(), "250"),
        ("MAIL FROM:<sender@example.com>".to_owned(), "250"),
        (format!("RCPT TO:<{rcpt}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        stream.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        expect(reply(&mut stream, &cmd), code, &cmd);
    }
    // Dot-stuffing is not needed: the test messages have no line starting with '.'.
    assert!(!message.starts_with(b".") && !message.windows(3).any(|w| w == b"\n.\r"));
    stream.write_all(message).unwrap();
    if !message.ends_with(b"\r\n") {
        stream.write_all(b"\r\n").unwrap();
    }
    stream.write_all(b".\r\n").unwrap();
    expect(reply(&mut stream, "end of DATA"), "250", "end of DATA");
    stream.write_all(b"QUIT\r\n").unwrap();
    let _ = reply(&mut stream, "QUIT");
}

/// Every message file of the mailbox at `dir` (in `new/` and `cur/`), as paths.
pub fn message_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The base of a Maildir file name: everything before the `:2,` info.
pub fn maildir_base(file_name: &str) -> &str {
    file_name
        .split_once(':')
        .map_or(file_name, |(base, _)| base)
}

/// `text` with every line end (bare LF or CRLF) made CRLF: the wire form (RFC 5322 §2.3).
pub fn crlf(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 20);
    for (i, &b) in text.iter().enumerate() {
        if b == b'\n' && (i == 0 || text[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    out
}
