//! The attack report's defects, each tested through a real `yubin serve` process and real
//! sockets: the per-address connection cap, eviction of the oldest connection that has not
//! logged in, the delayed failure reply of the login guard, passwords kept out of
//! `--trace`, an overlong line answered with the session going on, the login timeout, and
//! the small literal limit before login.
//!
//! Every read has a deadline, so a server that hangs fails the test instead of blocking
//! CI. Timing checks are lower bounds only (a busy machine is slower, never faster).

mod common;

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::live::{PASSWORD, STEP, Serve, USER, number_after};
use common::{port_of, yubin};

/// The lower bound checked for the first failed login's reply: the guard's base delay is
/// 250 ms; a little slack for clock granularity.
const FIRST_FAILURE: Duration = Duration::from_millis(200);

/// The busy lines (the refusal of a connection over a limit, and the eviction notice).
const IMAP_BUSY: &str = "* BYE [UNAVAILABLE] too many connections";
const POP_BUSY: &str = "-ERR [SYS/TEMP] too many connections, try again later";

// ---------------------------------------------------------------------------------------
// A raw line client with a deadline on every read.
// ---------------------------------------------------------------------------------------

/// What a read within a deadline found.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    /// A line, without its CRLF.
    Line(String),
    /// The server closed the connection (FIN or reset).
    Closed,
    /// Nothing arrived before the deadline.
    Silent,
}

/// One connection to a yubin listener, speaking lines.
struct Conn {
    name: String,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port`.
    fn open(name: &str, port: u16) -> Conn {
        let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), STEP)
            .unwrap_or_else(|e| panic!("{name}: connecting to port {port}: {e}"));
        Conn::wrap(name, stream)
    }

    fn wrap(name: &str, stream: TcpStream) -> Conn {
        stream.set_nodelay(true).unwrap();
        stream.set_write_timeout(Some(STEP)).unwrap();
        Conn {
            name: name.to_owned(),
            stream,
            buf: Vec::new(),
        }
    }

    /// Connects and checks the greeting starts with `greeting`.
    fn greeted(name: &str, port: u16, greeting: &str) -> Conn {
        let mut conn = Conn::open(name, port);
        let line = conn.line();
        assert!(
            line.starts_with(greeting),
            "{name}: expected a greeting starting with {greeting:?}, got {line:?}"
        );
        conn
    }

    /// Sends raw bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.stream
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("{}: sending: {e}", self.name));
    }

    /// Sends `text` and CRLF.
    fn send_line(&mut self, text: &str) {
        self.send(format!("{text}\r\n").as_bytes());
    }

    /// The next line, or what happened instead, within `wait`.
    fn next_within(&mut self, wait: Duration) -> Got {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(at) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                let line = String::from_utf8_lossy(&line);
                return Got::Line(line.trim_end_matches(['\r', '\n']).to_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Got::Silent;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Got::Closed,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => match e.kind() {
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                        return Got::Silent;
                    }
                    std::io::ErrorKind::Interrupted => {}
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                        return Got::Closed;
                    }
                    _ => panic!("{}: read error: {e}", self.name),
                },
            }
        }
    }

    /// The next line, within [`STEP`]; panics if the connection closed or stayed silent.
    fn line(&mut self) -> String {
        match self.next_within(STEP) {
            Got::Line(line) => line,
            other => panic!("{}: expected a line, got {other:?}", self.name),
        }
    }

    /// Asserts the server closes the connection (within [`STEP`]) without another line.
    fn expect_closed(&mut self) {
        let got = self.next_within(STEP);
        assert_eq!(
            got,
            Got::Closed,
            "{}: expected the server to close the connection",
            self.name
        );
    }

    /// Sends `TAG COMMAND` and reads up to the tagged line: (untagged lines, tagged line).
    fn imap(&mut self, tag: &str, command: &str) -> (Vec<String>, String) {
        self.send_line(&format!("{tag} {command}"));
        self.imap_reply(tag)
    }

    /// Reads up to the line tagged `tag`.
    fn imap_reply(&mut self, tag: &str) -> (Vec<String>, String) {
        let prefix = format!("{tag} ");
        let mut untagged = Vec::new();
        loop {
            let line = self.line();
            if line.starts_with(&prefix) {
                return (untagged, line);
            }
            untagged.push(line);
        }
    }

    /// An IMAP command that must complete with OK; returns the untagged lines.
    fn imap_ok(&mut self, tag: &str, command: &str) -> Vec<String> {
        let (untagged, tagged) = self.imap(tag, command);
        assert!(
            tagged.starts_with(&format!("{tag} OK")),
            "{}: {command}: {untagged:?} then {tagged:?}",
            self.name
        );
        untagged
    }

    /// A one-line POP3 command; returns its status line.
    fn pop(&mut self, command: &str) -> String {
        self.send_line(command);
        self.line()
    }

    /// A POP3 command that must succeed.
    fn pop_ok(&mut self, command: &str) -> String {
        let line = self.pop(command);
        assert!(
            line.starts_with("+OK"),
            "{}: {command} -> {line:?}",
            self.name
        );
        line
    }

    /// One SMTP reply (continuation lines `250-` skipped): the last line.
    fn smtp_reply(&mut self) -> String {
        loop {
            let line = self.line();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    /// An SMTP command; returns the last line of its reply.
    fn smtp(&mut self, command: &str) -> String {
        self.send_line(command);
        self.smtp_reply()
    }

    /// A multi-line POP3 response's body up to the terminating `.`.
    fn pop_body(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            if line == "." {
                return lines;
            }
            lines.push(line);
        }
    }
}

/// Connects to 127.0.0.1:`port` from the source address `from` (another loopback address).
#[cfg(target_os = "linux")]
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((from, 0)))
            .unwrap_or_else(|e| panic!("binding {from:?}: {e}"));
        tokio::time::timeout(STEP, socket.connect(([127, 0, 0, 1], port).into()))
            .await
            .expect("connect in time")
            .expect("connect")
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    assert_eq!(base64(b"\0alice\0hunter2"), "AGFsaWNlAGh1bnRlcjI=");
}

// ---------------------------------------------------------------------------------------
// 1. Per-peer cap.
// ---------------------------------------------------------------------------------------

#[test]
fn a_third_connection_from_one_address_is_refused_and_the_first_two_still_work() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start_with(data.path(), &["--max-per-peer", "2"]);

    let mut first = Conn::greeted("first", server.imap, "* OK");
    let mut second = Conn::greeted("second", server.imap, "* OK");
    let mut third = Conn::open("third", server.imap);
    assert_eq!(third.line(), IMAP_BUSY, "third connection from 127.0.0.1");
    third.expect_closed();

    // The two admitted connections are served as before, before and after login.
    first.imap_ok("a1", "NOOP");
    second.imap_ok("b1", "NOOP");
    first.imap_ok("a2", &format!("LOGIN {USER} {PASSWORD}"));
    first.imap_ok("a3", "SELECT INBOX");
    second.imap_ok("b2", "CAPABILITY");

    // The cap is per listener: POP3 from the same address is still served.
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.pop_ok("CAPA");
    pop.pop_body();

    // Another address is not counted against 127.0.0.1's share.
    #[cfg(target_os = "linux")]
    {
        let mut other = Conn::wrap("127.0.0.2", connect_from([127, 0, 0, 2], server.imap));
        let greeting = other.line();
        assert!(greeting.starts_with("* OK"), "127.0.0.2: {greeting:?}");
        other.imap_ok("c1", "NOOP");
    }

    // A freed slot is given again: once the second connection has gone, a new one from
    // 127.0.0.1 is greeted (the server notices the close asynchronously, so retry).
    second.imap_ok("b3", "LOGOUT");
    second.expect_closed();
    let deadline = Instant::now() + STEP;
    loop {
        let mut again = Conn::open("again", server.imap);
        let line = again.line();
        if line.starts_with("* OK") {
            again.imap_ok("d1", "NOOP");
            break;
        }
        assert_eq!(line, IMAP_BUSY, "again: neither greeted nor refused");
        assert!(
            Instant::now() < deadline,
            "a slot freed by LOGOUT was never given again"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    first.imap_ok("a4", "NOOP");
}

// ---------------------------------------------------------------------------------------
// 2. Eviction of the oldest connection that has not logged in.
// ---------------------------------------------------------------------------------------

#[test]
fn a_full_listener_evicts_the_oldest_silent_connection_never_a_logged_in_one() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start_with(
        data.path(),
        &[
            "--max-connections",
            "2",
            "--user",
            "alice:secret",
            "--user",
            "bob:bobsecret",
        ],
    );

    // Two silent connections fill the POP3 listener; a third arrives.
    let mut oldest = Conn::greeted("oldest", server.pop, "+OK");
    let mut younger = Conn::greeted("younger", server.pop, "+OK");
    let mut newcomer = Conn::open("newcomer", server.pop);
    assert_eq!(oldest.line(), POP_BUSY, "the oldest silent connection");
    oldest.expect_closed();
    let greeting = newcomer.line();
    assert!(greeting.starts_with("+OK"), "newcomer: {greeting:?}");
    // The younger one kept its slot and is served.
    younger.pop_ok("CAPA");
    younger.pop_body();
    newcomer.pop_ok("CAPA");
    newcomer.pop_body();

    // `younger` (older than `newcomer`) logs in; the next arrival evicts `newcomer`, the
    // oldest connection that has *not* logged in, not `younger`.
    younger.pop_ok("USER alice");
    younger.pop_ok("PASS secret");
    // A command after login: by its reply the slot is surely marked as logged in.
    younger.pop_ok("STAT");
    let mut third = Conn::open("third", server.pop);
    assert_eq!(newcomer.line(), POP_BUSY, "newcomer, not logged in");
    newcomer.expect_closed();
    let greeting = third.line();
    assert!(greeting.starts_with("+OK"), "third: {greeting:?}");
    younger.pop_ok("STAT");

    // Both slots logged in: a newcomer is refused, and neither logged-in one is touched.
    third.pop_ok("USER bob");
    third.pop_ok("PASS bobsecret");
    third.pop_ok("STAT");
    let mut refused = Conn::open("refused", server.pop);
    assert_eq!(refused.line(), POP_BUSY, "all slots logged in");
    refused.expect_closed();
    younger.pop_ok("STAT");
    third.pop_ok("STAT");
    assert_eq!(
        younger.next_within(Duration::from_millis(100)),
        Got::Silent,
        "nothing unsolicited for a logged-in connection"
    );
    younger.pop_ok("QUIT");
    third.pop_ok("QUIT");
}

// ---------------------------------------------------------------------------------------
// 3. The failure reply is delayed.
// ---------------------------------------------------------------------------------------

/// Sends `line` and returns the reply's last line and how long it took.
fn timed(conn: &mut Conn, line: &str, smtp: bool) -> (String, Duration) {
    let start = Instant::now();
    conn.send_line(line);
    let reply = if smtp { conn.smtp_reply() } else { conn.line() };
    (reply, start.elapsed())
}

#[test]
fn failed_logins_are_answered_late_and_later_on_each_new_connection() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());

    // The 1st failure from 127.0.0.1 (IMAP): at least the base delay.
    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    let (reply, imap_took) = timed(&mut imap, "a LOGIN alice wrong", false);
    assert!(reply.starts_with("a NO"), "IMAP wrong LOGIN: {reply:?}");
    assert!(
        imap_took >= FIRST_FAILURE,
        "IMAP wrong LOGIN answered after {imap_took:?}"
    );

    // The 2nd, on a new connection and another protocol (POP3): doubled.
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.pop_ok("USER alice");
    let (reply, pop_took) = timed(&mut pop, "PASS wrong", false);
    assert!(reply.starts_with("-ERR"), "POP3 wrong PASS: {reply:?}");
    assert!(
        pop_took >= 2 * FIRST_FAILURE,
        "POP3 wrong PASS (2nd failure from this address) answered after {pop_took:?}"
    );

    // The 3rd, on a new SMTP connection: doubled again.
    let mut smtp = Conn::greeted("smtp", server.smtp, "220");
    let ehlo = smtp.smtp("EHLO hardening.test");
    assert!(ehlo.starts_with("250"), "EHLO: {ehlo:?}");
    let wrong = base64(b"\0alice\0wrong");
    let (reply, smtp_took) = timed(&mut smtp, &format!("AUTH PLAIN {wrong}"), true);
    assert!(reply.starts_with("535"), "SMTP wrong AUTH PLAIN: {reply:?}");
    assert!(
        smtp_took >= 4 * FIRST_FAILURE,
        "SMTP wrong AUTH PLAIN (3rd failure from this address) answered after {smtp_took:?}"
    );

    // Every connection goes on after its (first) failure, and a right password works.
    imap.imap_ok("b", &format!("LOGIN {USER} {PASSWORD}"));
    pop.pop_ok("USER alice");
    pop.pop_ok(&format!("PASS {PASSWORD}"));
    let rset = smtp.smtp("RSET");
    assert!(
        rset.starts_with("250"),
        "SMTP RSET after a failure: {rset:?}"
    );
}

#[test]
fn three_failed_logins_on_one_imap_connection_end_it_with_bye() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());
    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    for (n, tag) in ["a", "b", "c"].into_iter().enumerate() {
        let (reply, took) = timed(&mut imap, &format!("{tag} LOGIN alice wrong{n}"), false);
        assert!(
            reply.starts_with(&format!("{tag} NO")),
            "failure {}: {reply:?}",
            n + 1
        );
        let at_least = FIRST_FAILURE * (1 << n);
        assert!(
            took >= at_least,
            "failure {} answered after {took:?}, expected at least {at_least:?}",
            n + 1
        );
    }
    let bye = imap.line();
    assert!(
        bye.starts_with("* BYE"),
        "after the third failure: {bye:?} instead of * BYE"
    );
    imap.expect_closed();
}

#[test]
fn parallel_failures_from_one_address_are_answered_one_after_the_other() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());
    // One connection per protocol, each one line away from a failed login.
    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.pop_ok("USER alice");
    let mut smtp = Conn::greeted("smtp", server.smtp, "220");
    smtp.smtp("EHLO hardening.test");
    let start = Instant::now();
    imap.send_line("a LOGIN alice wrong");
    pop.send_line("PASS wrong");
    smtp.send_line(&format!("AUTH PLAIN {}", base64(b"\0alice\0wrong")));
    // Poll the three in turn so each arrival time is known to within a poll.
    let mut conns = [imap, pop, smtp];
    let mut arrived: [Option<(String, Duration)>; 3] = [None, None, None];
    while arrived.iter().any(Option::is_none) {
        assert!(start.elapsed() < STEP, "replies so far: {arrived:?}");
        for (conn, got) in conns.iter_mut().zip(arrived.iter_mut()) {
            if got.is_none() {
                match conn.next_within(Duration::from_millis(10)) {
                    Got::Line(line) => *got = Some((line, start.elapsed())),
                    Got::Closed => panic!("{}: closed instead of answering", conn.name),
                    Got::Silent => {}
                }
            }
        }
    }
    let mut times: Vec<Duration> = arrived.iter().map(|a| a.as_ref().unwrap().1).collect();
    times.sort();
    // The guard spaces the replies out: 250 ms, then 500 more, then 1000 more.
    for (n, (took, at_least)) in times.iter().zip([1, 3, 7]).enumerate() {
        assert!(
            *took >= FIRST_FAILURE * at_least,
            "failure reply {} of 3 sent in parallel arrived after {took:?}: {arrived:?}",
            n + 1
        );
    }
    let [imap, pop, smtp] = arrived.map(|a| a.unwrap().0);
    assert!(imap.starts_with("a NO"), "{imap:?}");
    assert!(pop.starts_with("-ERR"), "{pop:?}");
    assert!(smtp.starts_with("535"), "{smtp:?}");
}

#[test]
fn a_guesser_that_hangs_up_on_silence_is_not_faster_than_one_that_waits() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());
    let start = Instant::now();
    // Three wrong guesses, each on a new connection, each given up after 100 ms of
    // silence: the silence alone says "wrong", since a right password is answered at once.
    for n in 0..3 {
        let mut guess = Conn::greeted("guess", server.imap, "* OK");
        guess.send_line(&format!("a LOGIN alice wrong{n}"));
        if let Got::Line(line) = guess.next_within(Duration::from_millis(100)) {
            assert!(
                !line.starts_with("a OK"),
                "a wrong password accepted: {line:?}"
            );
        }
    }
    // The fourth guess is right.
    let mut right = Conn::greeted("right", server.imap, "* OK");
    right.imap_ok("b", &format!("LOGIN {USER} {PASSWORD}"));
    // Three failures from this address are worth 250 + 500 + 1000 ms of waiting; a
    // guesser must not learn the right password before they have passed.
    let took = start.elapsed();
    assert!(
        took >= FIRST_FAILURE * 7,
        "three wrong guesses and the right one took only {took:?}"
    );
}

#[test]
fn a_flood_of_parallel_failures_does_not_make_later_failures_fast() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());
    // Seven wrong guesses at once: their replies are queued 250 ms, 750 ms, ... 23.75 s
    // out; the next would wait past 30 s.
    let mut queued: Vec<Conn> = (0..7)
        .map(|n| Conn::greeted(&format!("queued {n}"), server.imap, "* OK"))
        .collect();
    for (n, conn) in queued.iter_mut().enumerate() {
        conn.send_line(&format!("a LOGIN alice wrong{n}"));
    }
    // Let the server record them (they are queued, not answered).
    std::thread::sleep(Duration::from_millis(100));
    // A further wrong guess must not tell its outcome sooner than a first one would:
    // neither a reply nor a close within 200 ms.
    for n in 0..3 {
        let mut guess = Conn::greeted("guess", server.imap, "* OK");
        guess.send_line(&format!("b LOGIN alice guess{n}"));
        let got = guess.next_within(FIRST_FAILURE);
        assert_eq!(
            got,
            Got::Silent,
            "wrong guess {} after a flood: its outcome was known at once",
            n + 1
        );
    }
}

// ---------------------------------------------------------------------------------------
// 4. Passwords never in `--trace` output.
// ---------------------------------------------------------------------------------------

/// `yubin --trace serve` with stderr captured in a file.
struct Traced {
    child: Child,
    smtp: u16,
    pop: u16,
    imap: u16,
}

impl Traced {
    fn start(data: &Path, stderr: File, extra: &[&str]) -> Traced {
        let mut child = yubin()
            .arg("--trace")
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--smtp-port", "0", "--pop-port", "0", "--imap-port", "0"])
            .arg("--no-tls")
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
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
        let (mut smtp, mut pop, mut imap) = (None, None, None);
        let deadline = Instant::now() + Duration::from_secs(30);
        while smtp.is_none() || pop.is_none() || imap.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("yubin --trace serve did not print its ports in time");
            };
            if line.starts_with("SMTP listening on") {
                smtp = Some(port_of(&line));
            } else if line.starts_with("POP3 listening on") {
                pop = Some(port_of(&line));
            } else if line.starts_with("IMAP listening on") {
                imap = Some(port_of(&line));
            }
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        Traced {
            child,
            smtp: smtp.unwrap(),
            pop: pop.unwrap(),
            imap: imap.unwrap(),
        }
    }

    /// SIGTERM, then waits (with a deadline) for the exit.
    fn stop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status();
        let deadline = Instant::now() + STEP;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "yubin serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Traced {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn passwords_never_appear_in_the_trace() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("trace.log");
    let log = File::create(&log_path).unwrap();
    // alice's password is the secret itself, so that both the accepted and the refused
    // paths see it; bob's is not, so `bob` + hunter2 is a failed login.
    let mut server = Traced::start(
        &data.path().join("mail"),
        log,
        &["--user", "alice:hunter2", "--user", "bob:bobsecret"],
    );
    let plain = base64(b"\0alice\0hunter2");
    let plain_bob = base64(b"\0bob\0hunter2");

    // IMAP, before login: malformed LOGINs, a NUL in a quoted string and in a literal,
    // an untagged LOGIN; none of them logs in.
    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    let (_, r) = imap.imap("a", "LOGIN alice hunter2 extra");
    assert!(r.starts_with("a BAD"), "{r:?}");
    imap.send(b"b LOGIN alice \"hun\0ter2\"\r\n");
    let (_, r) = imap.imap_reply("b");
    assert!(r.starts_with("b BAD"), "{r:?}");
    imap.send(b"c LOGIN alice {8}\r\n");
    let cont = imap.line();
    assert!(cont.starts_with('+'), "literal of 8 octets: {cont:?}");
    imap.send(b"hun\0ter2\r\n");
    let (_, r) = imap.imap_reply("c");
    assert!(r.starts_with("c BAD"), "{r:?}");
    imap.send_line("LOGIN alice hunter2");
    let r = imap.line();
    assert!(r.contains("BAD"), "untagged LOGIN: {r:?}");
    // AUTHENTICATE PLAIN, then the response on its own line: logs in.
    imap.send_line("d AUTHENTICATE PLAIN");
    let cont = imap.line();
    assert!(cont.starts_with('+'), "AUTHENTICATE PLAIN: {cont:?}");
    imap.send_line(&plain);
    let (_, r) = imap.imap_reply("d");
    assert!(r.starts_with("d OK"), "AUTHENTICATE PLAIN: {r:?}");
    imap.imap_ok("e", "LOGOUT");

    // IMAP: the password as a literal, SASL-IR, and a failed LOGIN.
    let mut imap = Conn::greeted("imap2", server.imap, "* OK");
    imap.send(b"f LOGIN alice {7}\r\n");
    let cont = imap.line();
    assert!(cont.starts_with('+'), "{cont:?}");
    imap.send(b"hunter2\r\n");
    let (_, r) = imap.imap_reply("f");
    assert!(
        r.starts_with("f OK"),
        "LOGIN with a literal password: {r:?}"
    );
    let mut imap = Conn::greeted("imap3", server.imap, "* OK");
    imap.imap_ok("g", &format!("AUTHENTICATE PLAIN {plain}"));
    let mut imap = Conn::greeted("imap4", server.imap, "* OK");
    let (_, r) = imap.imap("h", "LOGIN bob hunter2");
    assert!(r.starts_with("h NO"), "bob with alice's password: {r:?}");

    // SMTP: AUTH PLAIN with a leading space, AUTH PLAIN then the response line, AUTH
    // LOGIN, and a failed AUTH PLAIN.
    let mut smtp = Conn::greeted("smtp", server.smtp, "220");
    smtp.smtp("EHLO trace.test");
    let r = smtp.smtp(&format!(" AUTH PLAIN {plain}"));
    assert!(!r.is_empty(), "leading-space AUTH answered");
    let mut smtp = Conn::greeted("smtp2", server.smtp, "220");
    smtp.smtp("EHLO trace.test");
    let r = smtp.smtp("AUTH PLAIN");
    assert!(r.starts_with("334"), "AUTH PLAIN: {r:?}");
    let r = smtp.smtp(&plain);
    assert!(r.starts_with("235"), "AUTH PLAIN response: {r:?}");
    let mut smtp = Conn::greeted("smtp3", server.smtp, "220");
    smtp.smtp("EHLO trace.test");
    let r = smtp.smtp("AUTH LOGIN");
    assert!(r.starts_with("334"), "AUTH LOGIN: {r:?}");
    let r = smtp.smtp(&base64(b"alice"));
    assert!(r.starts_with("334"), "AUTH LOGIN user: {r:?}");
    let r = smtp.smtp(&base64(b"hunter2"));
    assert!(r.starts_with("235"), "AUTH LOGIN password: {r:?}");
    let mut smtp = Conn::greeted("smtp4", server.smtp, "220");
    smtp.smtp("EHLO trace.test");
    let r = smtp.smtp(&format!("AUTH PLAIN {plain_bob}"));
    assert!(r.starts_with("535"), "bob with alice's password: {r:?}");

    // POP3: a right PASS, a PASS with a control byte, and AUTH PLAIN's response line.
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.pop_ok("USER alice");
    pop.pop_ok("PASS hunter2");
    pop.pop_ok("QUIT");
    let mut pop = Conn::greeted("pop2", server.pop, "+OK");
    pop.pop_ok("USER alice");
    pop.send(b"PASS hun\x01ter2\r\n");
    let r = pop.line();
    assert!(r.starts_with("-ERR"), "PASS with a control byte: {r:?}");
    let mut pop = Conn::greeted("pop3", server.pop, "+OK");
    let r = pop.pop("AUTH PLAIN");
    assert!(r.starts_with('+'), "POP3 AUTH PLAIN: {r:?}");
    let r = pop.pop(&plain);
    assert!(r.starts_with("+OK"), "POP3 AUTH PLAIN response: {r:?}");
    pop.pop_ok("QUIT");

    server.stop();
    let trace = std::fs::read_to_string(&log_path).unwrap();
    let forbidden = [
        "hunter2".to_owned(),
        "ter2".to_owned(),
        plain.clone(),
        plain_bob.clone(),
        base64(b"hunter2"),
        // The password's base64 at every alignment inside a longer string.
        "aHVudGVyM".to_owned(),
        "h1bnRlcj".to_owned(),
        "odW50ZXIy".to_owned(),
    ];
    for secret in &forbidden {
        let leaks: Vec<&str> = trace.lines().filter(|l| l.contains(secret)).collect();
        assert!(
            leaks.is_empty(),
            "{secret:?} appears in the trace: {leaks:#?}"
        );
    }
    // The trace did record the exchanges, masked.
    for masked in [
        "C: a LOGIN alice ****",
        "C: b LOGIN alice ****",
        "C: c LOGIN alice ****",
        "C: LOGIN alice ****",
        "C: d AUTHENTICATE PLAIN",
        "C: f LOGIN alice ****",
        "C: g AUTHENTICATE PLAIN ****",
        "C: h LOGIN bob ****",
        "C:  AUTH PLAIN ****",
        "C: AUTH PLAIN ****",
        "C: PASS ****",
        "C: ****",
        "C: USER alice",
        "C: EHLO trace.test",
    ] {
        assert!(
            // After the session's label (`imap#3 C: ...`).
            trace
                .lines()
                .any(|l| l.trim_end() == masked || l.trim_end().ends_with(&format!(" {masked}"))),
            "no line {masked:?} in the trace:\n{trace}"
        );
    }
    // Every client line that carried the password is masked: count them.
    let secret_lines = trace.lines().filter(|l| l.ends_with("****")).count();
    assert!(
        secret_lines >= 16,
        "{secret_lines} masked lines, expected one per secret sent:\n{trace}"
    );
}

#[test]
fn passwords_after_an_odd_separator_never_appear_in_the_trace() {
    let data = tempfile::tempdir().unwrap();
    let log_path = data.path().join("trace.log");
    let log = File::create(&log_path).unwrap();
    let mut server = Traced::start(&data.path().join("mail"), log, &["--user", "alice:hunter2"]);
    let plain = base64(b"\0alice\0hunter2");

    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    for (tag, line) in [
        ("a", "a LOGIN alice\u{a0}hunter2"),
        ("b", "b LOGIN\x0calice hunter2"),
        ("c", "c LOGIN alice\x0bhunter2"),
    ] {
        imap.send_line(line);
        let (_, r) = imap.imap_reply(tag);
        assert!(r.starts_with(&format!("{tag} BAD")), "{line:?}: {r:?}");
    }
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.pop_ok("USER alice");
    for line in ["PASS\x0bhunter2", "PASS\u{a0}hunter2"] {
        let r = pop.pop(line);
        assert!(r.starts_with("-ERR"), "{line:?}: {r:?}");
    }
    let mut smtp = Conn::greeted("smtp", server.smtp, "220");
    smtp.smtp("EHLO trace.test");
    let r = smtp.smtp(&format!("AUTH\u{a0}PLAIN {plain}"));
    assert!(r.starts_with('5'), "{r:?}");

    server.stop();
    let trace = std::fs::read_to_string(&log_path).unwrap();
    assert!(trace.contains("C: USER alice"), "no transcript:\n{trace}");
    let leaks: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("ter2") || l.contains(&plain))
        .collect();
    assert!(leaks.is_empty(), "the password in the trace: {leaks:#?}");
}

// ---------------------------------------------------------------------------------------
// 5. An overlong line is answered and the session goes on.
// ---------------------------------------------------------------------------------------

fn overlong(prefix: &str) -> Vec<u8> {
    let mut line = prefix.as_bytes().to_vec();
    line.resize(100 * 1024, b'x');
    line.extend_from_slice(b"\r\n");
    line
}

#[test]
fn an_overlong_line_is_answered_and_the_session_goes_on() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());

    // POP3: -ERR, once, then the next command works.
    let mut pop = Conn::greeted("pop", server.pop, "+OK");
    pop.send(&overlong("USER "));
    let r = pop.line();
    assert!(
        r.starts_with("-ERR") && r.contains("line too long") && !r.contains("closing"),
        "POP3 overlong line: {r:?}"
    );
    pop.send_line("CAPA");
    let r = pop.line();
    assert!(
        r.starts_with("+OK"),
        "POP3 CAPA after an overlong line: {r:?}"
    );
    pop.pop_body();
    pop.pop_ok("USER alice");
    pop.pop_ok(&format!("PASS {PASSWORD}"));
    pop.send(&overlong("LIST "));
    let r = pop.line();
    assert!(
        r.starts_with("-ERR"),
        "POP3 overlong line after login: {r:?}"
    );
    pop.pop_ok("STAT");

    // SMTP: 500, then EHLO works.
    let mut smtp = Conn::greeted("smtp", server.smtp, "220");
    smtp.send(&overlong("EHLO "));
    let r = smtp.smtp_reply();
    assert!(r.starts_with("500"), "SMTP overlong line: {r:?}");
    let r = smtp.smtp("EHLO hardening.test");
    assert!(
        r.starts_with("250"),
        "SMTP EHLO after an overlong line: {r:?}"
    );
    let r = smtp.smtp("NOOP");
    assert!(r.starts_with("250"), "SMTP NOOP: {r:?}");

    // IMAP, before and after login: a tagged BAD, then NOOP works.
    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    imap.send(&overlong("a1 NOOP "));
    let (untagged, r) = imap.imap_reply("a1");
    assert!(
        r.starts_with("a1 BAD"),
        "IMAP overlong line: {untagged:?} {r:?}"
    );
    imap.imap_ok("a2", "NOOP");
    imap.imap_ok("a3", &format!("LOGIN {USER} {PASSWORD}"));
    imap.send(&overlong("a4 SELECT "));
    let (untagged, r) = imap.imap_reply("a4");
    assert!(
        r.starts_with("a4 BAD"),
        "IMAP overlong line after login: {untagged:?} {r:?}"
    );
    imap.imap_ok("a5", "NOOP");
    imap.imap_ok("a6", "SELECT INBOX");
}

// ---------------------------------------------------------------------------------------
// 6. --login-timeout.
// ---------------------------------------------------------------------------------------

#[test]
fn a_silent_connection_is_closed_at_the_login_timeout_a_logged_in_one_stays() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start_with(data.path(), &["--login-timeout", "1"]);

    let mut logged_in = Conn::greeted("logged in", server.imap, "* OK");
    logged_in.imap_ok("a1", &format!("LOGIN {USER} {PASSWORD}"));
    let start = Instant::now();
    let mut silent = Conn::greeted("silent", server.imap, "* OK");
    let mut silent_pop = Conn::greeted("silent pop", server.pop, "+OK");
    let mut silent_smtp = Conn::greeted("silent smtp", server.smtp, "220");
    // A client trickling a command a byte at a time is not "active": one whole command
    // must arrive within the timeout. The trickle is interleaved with watching the silent
    // connection, so the time its goodbye arrived is known to within a poll.
    let mut trickle = Conn::greeted("trickle", server.imap, "* OK");
    let mut bytes = b"t1 CAPABILITY".iter().cycle();
    let (mut silent_bye, mut trickle_bye) = (None, None);
    let poll = Duration::from_millis(50);
    while silent_bye.is_none() || trickle_bye.is_none() {
        assert!(
            start.elapsed() < STEP,
            "no goodbye within {STEP:?}: silent {silent_bye:?}, trickling {trickle_bye:?}"
        );
        if silent_bye.is_none() {
            match silent.next_within(poll) {
                Got::Line(line) => silent_bye = Some((line, start.elapsed())),
                Got::Closed => panic!("silent: closed without a goodbye"),
                Got::Silent => {}
            }
        }
        if trickle_bye.is_none() {
            match trickle.next_within(poll) {
                Got::Line(line) => trickle_bye = Some(line),
                Got::Closed => panic!("trickle: closed without a goodbye"),
                // Still open: one more byte of the command, never its end.
                Got::Silent => {
                    let _ = trickle.stream.write_all(&[*bytes.next().unwrap()]);
                }
            }
        }
    }
    let (bye, waited) = silent_bye.unwrap();
    assert!(
        bye.starts_with("* BYE autologout"),
        "silent IMAP connection: {bye:?}"
    );
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}, before the 1 s login timeout"
    );
    silent.expect_closed();
    let bye = trickle_bye.unwrap();
    assert!(
        bye.starts_with("* BYE autologout"),
        "IMAP connection trickling a command: {bye:?}"
    );
    trickle.expect_closed();

    let r = silent_pop.line();
    assert!(
        r.starts_with("-ERR") && r.contains("idle"),
        "silent POP3: {r:?}"
    );
    silent_pop.expect_closed();
    let r = silent_smtp.line();
    assert!(r.starts_with("421"), "silent SMTP: {r:?}");
    silent_smtp.expect_closed();

    // The logged-in connection, silent for 2 s, is still served.
    let two = Duration::from_secs(2);
    if let Some(left) = two.checked_sub(start.elapsed()) {
        std::thread::sleep(left);
    }
    assert_eq!(
        logged_in.next_within(Duration::from_millis(10)),
        Got::Silent,
        "the logged-in connection was told something"
    );
    logged_in.imap_ok("a2", "NOOP");
    logged_in.imap_ok("a3", "SELECT INBOX");
}

// ---------------------------------------------------------------------------------------
// 7. Literals before login.
// ---------------------------------------------------------------------------------------

/// A message of exactly `size` octets with CRLF line ends.
fn message_of(size: usize) -> Vec<u8> {
    let mut m = b"From: hardening@example.com\r\nTo: alice@example.com\r\n\
        Subject: a large message\r\nMessage-ID: <large@hardening.test>\r\n\r\n"
        .to_vec();
    let line = [b"y".repeat(76), b"\r\n".to_vec()].concat();
    while m.len() + line.len() + 2 <= size {
        m.extend_from_slice(&line);
    }
    while m.len() + 2 < size {
        m.push(b'z');
    }
    m.extend_from_slice(b"\r\n");
    assert_eq!(m.len(), size);
    m
}

#[test]
fn a_large_literal_is_refused_before_login_and_accepted_after() {
    let data = tempfile::tempdir().unwrap();
    let server = Serve::start(data.path());

    let mut imap = Conn::greeted("imap", server.imap, "* OK");
    imap.send(b"a LOGIN {33554432}\r\n");
    let r = imap.line();
    assert!(
        r.starts_with("a BAD [TOOBIG]"),
        "32 MiB literal before login: {r:?} (a `+` would invite the client to send it)"
    );
    // Just over the 8 KiB limit, after a user name: refused too.
    imap.send(b"b LOGIN alice {8193}\r\n");
    let r = imap.line();
    assert!(
        r.starts_with("b BAD [TOOBIG]"),
        "8 KiB + 1 literal before login: {r:?}"
    );
    // The session goes on: nothing is waiting for a literal.
    imap.imap_ok("c", "NOOP");
    imap.imap_ok("d", &format!("LOGIN {USER} {PASSWORD}"));

    // After login a 5 MB APPEND is invited and stored whole.
    const SIZE: usize = 5_000_000;
    let message = message_of(SIZE);
    imap.send(format!("e APPEND INBOX {{{SIZE}}}\r\n").as_bytes());
    let cont = imap.line();
    assert!(
        cont.starts_with('+'),
        "APPEND of 5 MB after login: {cont:?}"
    );
    imap.send(&message);
    imap.send(b"\r\n");
    let (untagged, r) = imap.imap_reply("e");
    assert!(r.starts_with("e OK"), "APPEND: {untagged:?} {r:?}");
    let select = imap.imap_ok("f", "SELECT INBOX");
    assert!(
        select.iter().any(|l| l == "* 1 EXISTS"),
        "SELECT after APPEND: {select:?}"
    );
    let fetched = imap.imap_ok("g", "FETCH 1 RFC822.SIZE");
    let size = fetched
        .iter()
        .find_map(|l| number_after(l, "RFC822.SIZE "))
        .unwrap_or_else(|| panic!("no RFC822.SIZE in {fetched:?}"));
    assert_eq!(size as usize, SIZE, "stored size");
    imap.imap_ok("h", "NOOP");
}
