//! Whole sessions of POP3, SMTP and IMAP, driven exactly as `yubin_core::driver` drives
//! them, without sockets, over generated input: the proptest twin of the fuzz target
//! `fuzz/fuzz_targets/sessions.rs` (same harness, copied; keep the two in step).
//!
//! The input is framed by the protocol's codec a read at a time (reads of arbitrary
//! sizes), each frame goes to `handle`, `adjust` follows every reply, `After::More` is
//! followed with `resume` until done, `After::Close` and unframeable input end the
//! session, `After::StartTls` drops the buffered plaintext and calls `tls_started`,
//! `After::Idle` (and any reply once the session `pushes`, NOTIFY) asks for the watch
//! and the changes, `After::LoginFailed` goes on. A byte
//! string drives a small generator of mostly valid commands (logins with right and wrong
//! passwords, SASL, APOP, pipelining, literals and LITERAL+, streamed APPENDs, DATA with
//! dot lines, STARTTLS, IDLE) mixed with raw bytes, over a memory store with
//! `alice`/`secret` and `bob`/`secret`, each with messages that carry a marker of their
//! own.
//!
//! Checked for every input:
//! - no panic;
//! - every reply (and every IDLE update) that is not empty ends in CRLF;
//! - no reply carries message content (either marker) before a login, none ever in SMTP,
//!   and a session logged in as one account never shows the other's;
//! - a login succeeds only as `alice` or `bob`; a POP3 session holds exactly its own
//!   maildrop lock while logged in, and no lock survives the session;
//! - memory: every frame fits the codec's limits (a line within `max_line`, an IMAP
//!   command within `max_command` of the limits in force), and once the codec asks for
//!   more input it holds less than one line (`max_line + 2`);
//! - the transcript never shows a password or a PLAIN response sent on a credential
//!   command line (inputs without raw bytes or deliberately broken literals);
//! - the store stays consistent: in every mailbox UIDs ascend strictly and stay below
//!   UIDNEXT, every message reads back at its recorded size, the counts match; and an
//!   account the session never logged into is unchanged (SMTP may only add messages).

use proptest::prelude::*;

/// Cases per protocol: 900 in all, a few seconds in a debug build.
const CASES: u32 = 300;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn pop3_sessions(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        run(Proto::Pop, &data);
    }

    #[test]
    fn smtp_sessions(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        run(Proto::Smtp, &data);
    }

    #[test]
    fn imap_sessions(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        run(Proto::Imap, &data);
    }
}

/// The generator reaches what the properties are about: logins as alice and as bob and a
/// look at their own mail (POP3, IMAP), mail delivered (SMTP, IMAP APPEND). A generator
/// that drifted into inputs the servers only refuse would pass every property and check
/// nothing.
#[test]
fn the_generator_reaches_logins_and_mail() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x.to_le_bytes()[0]
    };
    for proto in [Proto::Pop, Proto::Smtp, Proto::Imap] {
        let mut all = Reached::default();
        for _ in 0..100 {
            let data: Vec<u8> = (0..300).map(|_| next()).collect();
            let reached = run(proto, &data);
            all.logged_in.extend(reached.logged_in);
            all.own_mail |= reached.own_mail;
            all.mail_added |= reached.mail_added;
        }
        if proto == Proto::Smtp {
            assert!(all.mail_added, "no SMTP session delivered: {all:?}");
        } else {
            assert!(
                all.logged_in.contains("alice") && all.logged_in.contains("bob") && all.own_mail,
                "{proto:?}: {all:?}"
            );
        }
        if proto == Proto::Imap {
            assert!(all.mail_added, "no IMAP APPEND went through: {all:?}");
        }
    }
}

/// Found by `pop3_sessions`: a credential command with its user missing (`APOP  <digest>`,
/// a stray space where the user goes) showed its credential in the `--trace` transcript,
/// since `Redaction` kept one word after `APOP` visible and counted a run of spaces as
/// one separator. The last word after a credential command is now never shown.
#[test]
fn apop_without_a_user_does_not_show_the_digest() {
    let store = fixture();
    let (session, greeting) =
        mini_pop::session::Session::new(store.clone(), Arc::default(), TlsState::default());
    let timestamp = apop_timestamp(&greeting);
    let digest = mini_pop::session::apop_digest(&timestamp, &Secret::from(PASSWORD));
    let mut input = Input::new();
    input.secret(&digest);
    input.bytes = format!("APOP  {digest}\r\n").into_bytes();
    let (transcript, shown) = recording();
    let limits = Limits::new(Proto::Pop, false);
    let codec = Lines::new(limits.line);
    let (input, _) = drive(
        session,
        codec,
        &greeting,
        input,
        0,
        &store,
        limits,
        &transcript,
    );
    check_transcript(&shown, &input);
}

// ---- The harness, as in fuzz/fuzz_targets/sessions.rs ----

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::BytesMut;
use mini_imap::codec::{CodecLimits, Frame, ImapCodec};
use tokio_util::codec::Decoder;
use yubin_core::driver::{After, Phase, Reply, Session};
use yubin_core::tls::TlsState;
use yubin_core::transcript::{Direction, Shown, Transcript};
use yubin_core::{FrameError, Input as _, Line, Lines};
use yubin_store::{Flag, Flags, Secret, Store};

/// Which protocol a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Pop,
    Smtp,
    Imap,
}

/// In every one of alice's messages (headers, text, MIME parts), and nowhere else.
const ALICE_MARK: &str = "ALICEONLY7Q";
/// In every one of bob's messages, and nowhere else.
const BOB_MARK: &str = "BOBONLY9Z";
const PASSWORD: &str = "secret";
/// Most commands in one input.
const MAX_OPS: usize = 48;

fn alice_messages() -> Vec<Vec<u8>> {
    let m = ALICE_MARK;
    vec![
        format!(
            "From: Carol <carol@example.com>\r\nTo: alice@localhost\r\nSubject: hello {m}\r\n\
             Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <a1.{m}@example.com>\r\n\r\n\
             Hi alice {m}\r\n.a line with a leading dot {m}\r\n\r\nbye {m}\r\n"
        )
        .into_bytes(),
        format!(
            "From: dave@example.com\r\nTo: alice@localhost\r\nSubject: parts {m}\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
             preamble {m}\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             text part {m}\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n\
             Subject: inner {m}\r\nFrom: eve@example.com\r\n\r\ninner body {m}\r\n\
             --b1\r\nContent-Type: application/octet-stream; name=\"{m}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nQUxJQ0U=\r\n--b1--\r\n"
        )
        .into_bytes(),
        format!("Subject: bare LF {m}\n\nline one {m}\nline two\n").into_bytes(),
    ]
}

fn bob_messages() -> Vec<Vec<u8>> {
    let m = BOB_MARK;
    vec![
        format!(
            "From: Frank <frank@example.com>\r\nTo: bob@localhost\r\nSubject: for bob {m}\r\n\
             Date: Tue, 2 Jan 2024 11:00:00 +0100\r\n\r\nBob's private text {m}\r\n"
        )
        .into_bytes(),
        format!(
            "From: grace@example.com\r\nSubject: bob parts {m}\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/alternative; boundary=zz\r\n\r\n--zz\r\n\
             Content-Type: text/plain\r\n\r\nplain {m}\r\n--zz\r\nContent-Type: text/html\r\n\r\n\
             <p>{m}</p>\r\n--zz--\r\n"
        )
        .into_bytes(),
    ]
}

/// alice (INBOX with three messages, one `\Seen`; Archive with one) and bob (INBOX with
/// two; Private with one), both with the password `secret`.
fn fixture() -> Store {
    let store = Store::memory();
    for (name, messages, other) in [
        ("alice", alice_messages(), "Archive"),
        ("bob", bob_messages(), "Private"),
    ] {
        store
            .add_account(name, Secret::from(PASSWORD))
            .expect("account");
        let account = store.account(name).expect("account");
        let inbox = account.mailbox("INBOX").expect("INBOX");
        for (i, m) in messages.iter().enumerate() {
            let flags = if i == 1 {
                Flags::from([Flag::Seen])
            } else {
                Flags::new()
            };
            inbox.append(m, &flags, None).expect("append");
        }
        account.create(other).expect("create");
        let first = &messages[0];
        account
            .mailbox(other)
            .and_then(|mb| mb.append(first, &Flags::new(), None))
            .expect("append");
    }
    store
}

// ---- The generator: choices are read from the input bytes, zeros once they run out ----

struct Gen<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Gen<'a> {
    fn new(data: &'a [u8]) -> Self {
        Gen { data, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn below(&mut self, n: usize) -> usize {
        match n {
            0 | 1 => 0,
            2..=256 => usize::from(self.byte()) % n,
            _ => ((usize::from(self.byte()) << 8) | usize::from(self.byte())) % n,
        }
    }

    fn chance(&mut self, percent: usize) -> bool {
        usize::from(self.byte()) * 100 < percent * 256
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Up to `max` bytes of the input as they are.
    fn raw(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max + 1);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        self.data[start..end].to_vec()
    }

    /// A short word of safe characters (no `s`: never a password, never a marker).
    fn word(&mut self) -> String {
        const ALPHABET: &[u8] = b"abcdfghijklmnopquvwxyz0123456789-_.";
        let n = 1 + self.below(8);
        (0..n).map(|_| char::from(self.pick(ALPHABET))).collect()
    }

    fn number(&mut self) -> String {
        if self.chance(70) {
            return (self.below(5)).to_string();
        }
        self.pick(&[
            "99",
            "-1",
            "4294967295",
            "4294967296",
            "18446744073709551616",
            "1x",
            "",
            "+1",
            "007",
        ])
        .to_owned()
    }

    fn case(&mut self, word: &str) -> String {
        match self.below(12) {
            0 => word.to_ascii_lowercase(),
            1 => word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect(),
            _ => word.to_owned(),
        }
    }
}

/// The bytes a client sends, and what the transcript check needs to know of them.
struct Input {
    bytes: Vec<u8>,
    /// Raw bytes or deliberately broken framing: any byte may be anywhere, so the
    /// transcript check is off.
    wild: bool,
    /// Credentials sent on credential command lines: never in the transcript.
    secrets: Vec<Vec<u8>>,
    /// Where the client waits for the reply before it goes on: a read ends there.
    waits: Vec<Wait>,
    /// Waits for a `+` whose command has not ended yet.
    open: Vec<usize>,
}

/// A place where the client waits for the server.
#[derive(Debug, Clone, Copy)]
struct Wait {
    /// How many bytes were sent before it.
    at: usize,
    /// A synchronizing literal: without a `+` the client gives the command up, and the
    /// rest of it, up to here, is never sent.
    skip_to: Option<usize>,
}

impl Input {
    fn new() -> Self {
        Input {
            bytes: Vec::new(),
            wild: false,
            secrets: Vec::new(),
            waits: Vec::new(),
            open: Vec::new(),
        }
    }

    /// STARTTLS or STLS: the client waits for the answer (now and then it does not, and
    /// what it pipelined is dropped by the server, maybe half a command).
    fn starttls(&mut self, g: &mut Gen) {
        if g.chance(85) {
            self.waits.push(Wait {
                at: self.bytes.len(),
                skip_to: None,
            });
        } else {
            self.wild = true;
        }
    }

    fn put(&mut self, bytes: impl AsRef<[u8]>) {
        self.bytes.extend_from_slice(bytes.as_ref());
    }

    /// `{n}` and the octets, sent once the server says `+` (RFC 3501 §7.5).
    fn sync_literal(&mut self, octets: &[u8]) {
        self.put(format!("{{{}}}\r\n", octets.len()));
        self.open.push(self.waits.len());
        self.waits.push(Wait {
            at: self.bytes.len(),
            skip_to: Some(usize::MAX),
        });
        self.put(octets);
    }

    /// The input is complete: a command left open ends with it.
    fn finish(mut self) -> Self {
        self.close_waits();
        self
    }

    fn close_waits(&mut self) {
        for i in self.open.drain(..) {
            self.waits[i].skip_to = Some(self.bytes.len());
        }
    }

    /// A line with its terminator (now and then a bare LF).
    fn line(&mut self, text: impl AsRef<[u8]>, g: &mut Gen) {
        self.bytes.extend_from_slice(text.as_ref());
        self.end(g);
    }

    /// The end of a line, and of the command.
    fn end(&mut self, g: &mut Gen) {
        let term: &[u8] = if g.below(16) == 0 { b"\n" } else { b"\r\n" };
        self.bytes.extend_from_slice(term);
        self.close_waits();
    }

    fn secret(&mut self, s: impl AsRef<[u8]>) {
        let s = s.as_ref();
        if s.len() >= 4 && !self.secrets.iter().any(|x| x == s) {
            self.secrets.push(s.to_vec());
        }
    }

    /// Raw bytes of the input, maybe with a terminator.
    fn raw(&mut self, g: &mut Gen) {
        self.wild = true;
        let raw = g.raw(48);
        self.bytes.extend_from_slice(&raw);
        if g.chance(70) {
            self.end(g);
        }
    }

    /// A line just over (or just within) `limit`.
    fn long_line(&mut self, g: &mut Gen, prefix: &str, limit: usize) {
        let len = match g.below(5) {
            0 => limit.saturating_sub(prefix.len()),
            1 => limit + 1 - prefix.len().min(limit + 1),
            2 => limit + 2,
            3 => limit * 2 + 3,
            _ => limit + g.below(100),
        };
        self.bytes.extend_from_slice(prefix.as_bytes());
        self.bytes.extend(std::iter::repeat_n(b'x', len));
        if g.chance(85) {
            self.end(g);
        }
    }
}

const USERS: &[&str] = &[
    "alice",
    "bob",
    "alice",
    "bob",
    "alice",
    "bob",
    "Alice",
    "nobody",
    "postmaster",
    "alice@localhost",
    "",
];
const WRONG: &[&str] = &["hunter2", "Secret", "secret2", "pa55word", ""];

fn password(g: &mut Gen) -> &'static str {
    if g.chance(65) {
        PASSWORD
    } else {
        g.pick(WRONG)
    }
}

fn base64(raw: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A PLAIN response on the command line itself: a secret. Spelt with the user as the
/// authorization identity, so that no [`plain_response`] ever contains it.
fn plain_inline(input: &mut Input, user: &str, pw: &str) -> String {
    let blob = base64(format!("{user}\0{user}\0{pw}").as_bytes());
    input.secret(&blob);
    input.secret(pw);
    blob
}

/// A PLAIN response on a line of its own. It shows in the transcript when the server
/// refused the exchange before it (the client did not wait), so it never contains a
/// [`plain_inline`] blob: no authorization identity, or `carol` (a proxy login).
fn plain_response(g: &mut Gen, user: &str, pw: &str) -> String {
    match g.below(10) {
        0 => "*".to_owned(),
        1 => "=".to_owned(),
        2 => "not base64!".to_owned(),
        3 => base64(b"no nul here"),
        4 => base64(format!("carol\0{user}\0{pw}").as_bytes()),
        _ if user.is_empty() => base64(format!("carol\0\0{pw}").as_bytes()),
        _ => base64(format!("\0{user}\0{pw}").as_bytes()),
    }
}

/// A message to APPEND or send with DATA: headers and lines worth a look (dot lines,
/// MIME parts, 8-bit text, folded headers), never a marker or a password.
fn message(g: &mut Gen) -> Vec<u8> {
    const HEADERS: &[&str] = &[
        "From: x@example.com",
        "To: alice@localhost, bob@localhost",
        "Subject: hi",
        "Subject: =?utf-8?b?w6k=?=",
        "Date: Wed, 3 Jan 2024 12:00:00 -0500",
        "Date: garbage",
        "Message-ID: <m@x>",
        "X-Folded: one",
        "\ttwo",
        "Content-Type: text/plain; charset=iso-8859-1",
        "Content-Transfer-Encoding: quoted-printable",
    ];
    const LINES: &[&str] = &[
        "hello",
        "world",
        "",
        ".",
        "..",
        ".hidden",
        "QUIT",
        "RCPT TO:<bob@localhost>",
        "a1 LOGOUT",
        "caf\u{e9} \u{90f5}\u{4fbf}",
        "=E9t=E9",
        "--b",
    ];
    let mut out = Vec::new();
    let lf = g.below(8) == 0;
    let nl: &[u8] = if lf { b"\n" } else { b"\r\n" };
    let multipart = g.chance(25);
    for _ in 0..g.below(5) {
        out.extend_from_slice(g.pick(HEADERS).as_bytes());
        out.extend_from_slice(nl);
    }
    if multipart {
        out.extend_from_slice(b"MIME-Version: 1.0");
        out.extend_from_slice(nl);
        out.extend_from_slice(b"Content-Type: multipart/mixed; boundary=b");
        out.extend_from_slice(nl);
    }
    if g.chance(90) {
        out.extend_from_slice(nl);
    }
    let parts = if multipart { 1 + g.below(3) } else { 1 };
    for _ in 0..parts {
        if multipart {
            out.extend_from_slice(b"--b");
            out.extend_from_slice(nl);
            if g.chance(50) {
                out.extend_from_slice(b"Content-Type: message/rfc822");
                out.extend_from_slice(nl);
            }
            out.extend_from_slice(nl);
        }
        for _ in 0..g.below(5) {
            out.extend_from_slice(g.pick(LINES).as_bytes());
            out.extend_from_slice(nl);
        }
    }
    if multipart && g.chance(80) {
        out.extend_from_slice(b"--b--");
        out.extend_from_slice(nl);
    }
    out
}

/// Big filler text: lines of 76 `x`.
fn filler(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        if out.len() % 78 == 76 {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b'x');
        }
    }
    out.truncate(size);
    out
}

/// The session's framing limits, as the generator aims at them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    line: usize,
    imap_before: CodecLimits,
    imap_after: CodecLimits,
    max_message: usize,
}

impl Limits {
    fn new(proto: Proto, small: bool) -> Self {
        let (imap_before, imap_after) = if small {
            let after = CodecLimits {
                max_line: 256,
                max_literal: 2048,
                max_command: 4096,
                stream_above: 512,
            };
            let before = CodecLimits {
                max_literal: 128,
                max_command: 1024,
                ..after
            };
            (before, after)
        } else {
            (CodecLimits::before_login(), CodecLimits::default())
        };
        let line = match (proto, small) {
            (_, true) => 200,
            (Proto::Pop, false) => mini_pop::PopServerConfig::default().max_line,
            (_, false) => mini_smtp::SmtpServerConfig::default().max_line,
        };
        Limits {
            line,
            imap_before,
            imap_after,
            max_message: if small {
                600
            } else {
                mini_smtp::SmtpConfig::default().max_message_size
            },
        }
    }
}

/// A line-protocol junk op: raw bytes, an overlong line, an empty line, NUL bytes.
fn junk(g: &mut Gen, input: &mut Input, limit: usize, prefix: &str) {
    match g.below(5) {
        0 | 1 => input.raw(g),
        2 => input.long_line(g, prefix, limit),
        3 => input.line("", g),
        _ => {
            input.wild = true;
            input.line(b"NOOP\0x\x7f\xff", g);
        }
    }
}

/// The APOP timestamp of a POP3 greeting, `<...>`.
fn apop_timestamp(greeting: &[u8]) -> String {
    greeting
        .iter()
        .position(|&b| b == b'<')
        .and_then(|start| {
            let end = greeting.iter().rposition(|&b| b == b'>')?;
            std::str::from_utf8(&greeting[start..=end]).ok()
        })
        .unwrap_or("<none>")
        .to_owned()
}

fn pop_input(g: &mut Gen, greeting: &[u8], limits: &Limits) -> Input {
    let timestamp = apop_timestamp(greeting);
    let mut input = Input::new();
    let mut authed = false;
    for _ in 0..MAX_OPS {
        if g.done() {
            break;
        }
        let n = g.number();
        // A rough model of the session steers the choice to what can succeed now.
        let op = match authed {
            false if g.chance(50) => g.pick(&[0, 0, 0, 6, 7, 8]),
            true if g.chance(70) => g.pick(&[9, 10, 11, 12, 12, 13, 14, 15, 16]),
            _ => g.below(24),
        };
        match op {
            0..=3 => {
                let (user, pw) = (g.pick(USERS), password(g));
                authed |= pw == PASSWORD && matches!(user, "alice" | "bob");
                let user_cmd = g.case("USER");
                input.line(format!("{user_cmd} {user}"), g);
                input.secret(pw);
                let pass = g.case("PASS");
                input.line(format!("{pass} {pw}"), g);
            }
            4 => {
                let user = g.pick(USERS);
                input.line(format!("USER {user}"), g);
            }
            5 => {
                let pw = password(g);
                input.secret(pw);
                input.line(format!("PASS {pw}"), g);
            }
            6 => {
                let (user, pw) = (g.pick(USERS), password(g));
                let digest = if g.chance(80) {
                    mini_pop::session::apop_digest(&timestamp, &Secret::from(pw))
                } else {
                    "0123456789abcdef0123456789abcdef".to_owned()
                };
                input.secret(&digest);
                input.line(format!("APOP {user} {digest}"), g);
            }
            7 => {
                let (user, pw) = (g.pick(USERS), password(g));
                let blob = plain_inline(&mut input, user, pw);
                input.line(format!("AUTH PLAIN {blob}"), g);
            }
            8 => {
                let (user, pw) = (g.pick(USERS), password(g));
                input.line(
                    g.pick(&["AUTH PLAIN", "AUTH plain", "AUTH LOGIN", "AUTH"]),
                    g,
                );
                let response = plain_response(g, user, pw);
                input.line(response, g);
            }
            9 => input.line("STAT", g),
            10 => input.line(format!("LIST {n}"), g),
            11 => input.line("LIST", g),
            12 => input.line(format!("{} {n}", g.case("RETR")), g),
            13 => {
                let lines = g.number();
                input.line(format!("TOP {n} {lines}"), g);
            }
            14 => input.line(format!("DELE {n}"), g),
            15 => input.line(
                if g.chance(50) {
                    "UIDL".to_owned()
                } else {
                    format!("UIDL {n}")
                },
                g,
            ),
            16 => input.line(g.pick(&["NOOP", "RSET", "CAPA", "NOOP extra"]), g),
            17 => {
                input.line("STLS", g);
                input.starttls(g);
            }
            18 if g.chance(30) => input.line("QUIT", g),
            19 => {
                let word = g.word();
                input.line(
                    format!("{} {word}", g.pick(&["XTND", "LAST", "RETR", "TOP 1"])),
                    g,
                );
            }
            _ => junk(g, &mut input, limits.line, "RETR 1 "),
        }
    }
    input.finish()
}

fn smtp_input(g: &mut Gen, limits: &Limits) -> Input {
    let mut greeted = false;
    const ADDRESSES: &[&str] = &[
        "alice@localhost",
        "bob@localhost",
        "bob@localhost",
        "alice",
        "BOB@LOCALHOST",
        "alice@[127.0.0.1]",
        "\"alice\"@localhost",
        "nobody@localhost",
        "x@example.com",
        "postmaster",
        "Postmaster@localhost",
        "a/b@localhost",
        "bob@localhost.localdomain",
        "@relay:bob@localhost",
        "",
    ];
    const PARAMS: &[&str] = &[
        "",
        " SIZE=100",
        " SIZE=99999999999",
        " BODY=8BITMIME",
        " SMTPUTF8",
        " BODY=BINARYMIME",
        " FOO=bar",
    ];
    let mut input = Input::new();
    for _ in 0..MAX_OPS {
        if g.done() {
            break;
        }
        let op = match greeted {
            false if g.chance(60) => 0,
            true if g.chance(50) => g.pick(&[3, 3, 13, 16]),
            _ => g.below(26),
        };
        match op {
            0..=2 => {
                greeted = true;
                let name = g.word();
                let cmd = g.pick(&["EHLO", "HELO", "ehlo", "EHLO"]);
                input.line(format!("{cmd} {name}"), g);
            }
            3..=6 => {
                // A whole transaction, pipelined.
                let from = g.pick(ADDRESSES);
                let params = g.pick(PARAMS);
                input.line(format!("MAIL FROM:<{from}>{params}"), g);
                for _ in 0..=g.below(3) {
                    let to = g.pick(ADDRESSES);
                    input.line(format!("RCPT TO:<{to}>"), g);
                }
                input.line("DATA", g);
                data_body(g, &mut input, limits);
            }
            7 => {
                let (from, params) = (g.pick(ADDRESSES), g.pick(PARAMS));
                let verb = g.pick(&["MAIL FROM:", "MAIL FROM: ", "mail from:", "MAIL TO:"]);
                input.line(format!("{verb}<{from}>{params}"), g);
            }
            8 => {
                let to = g.pick(ADDRESSES);
                let verb = g.pick(&["RCPT TO:", "rcpt to: ", "RCPT FROM:"]);
                input.line(format!("{verb}<{to}>"), g);
            }
            9 => input.line("DATA", g),
            10 => data_body(g, &mut input, limits),
            11 => input.line(
                g.pick(&["RSET", "NOOP", "HELP", "VRFY bob", "EXPN x", "BDAT 10 LAST"]),
                g,
            ),
            12 if g.chance(30) => input.line("QUIT", g),
            13 | 14 => {
                let (user, pw) = (g.pick(USERS), password(g));
                let blob = plain_inline(&mut input, user, pw);
                input.line(format!("AUTH PLAIN {blob}"), g);
            }
            15 => {
                let (user, pw) = (g.pick(USERS), password(g));
                input.line("AUTH PLAIN", g);
                let response = plain_response(g, user, pw);
                input.line(response, g);
            }
            16 | 17 => {
                let (user, pw) = (g.pick(USERS), password(g));
                if g.chance(50) {
                    input.line(format!("AUTH LOGIN {}", base64(user.as_bytes())), g);
                } else {
                    input.line("AUTH LOGIN", g);
                    input.line(base64(user.as_bytes()), g);
                }
                let answer = match g.below(6) {
                    0 => "*".to_owned(),
                    1 => "%%%".to_owned(),
                    _ => base64(pw.as_bytes()),
                };
                input.line(answer, g);
            }
            18 => input.line(g.pick(&["AUTH CRAM-MD5", "AUTH", "AUTH PLAIN ="]), g),
            19 => {
                input.line("STARTTLS", g);
                input.starttls(g);
            }
            _ => junk(g, &mut input, limits.line, "NOOP "),
        }
    }
    input.finish()
}

/// The lines of a message after DATA, dot-stuffed (or not), and usually the final dot.
fn data_body(g: &mut Gen, input: &mut Input, limits: &Limits) {
    let message = message(g);
    for line in message.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') && g.chance(85) {
            input.bytes.push(b'.');
        }
        input.line(line, g);
    }
    match g.below(8) {
        0 => input.long_line(g, "", limits.line),
        1 => {
            // Past the small size limit in a few ordinary lines.
            let lines = (limits.max_message / 150 + 2).min(8);
            for _ in 0..lines {
                input.line([b'y'; 150], g);
            }
        }
        _ => {}
    }
    if g.chance(90) {
        input.line(".", g);
    }
}

fn imap_input(g: &mut Gen, limits: &Limits) -> Input {
    const MAILBOXES: &[&str] = &[
        "INBOX",
        "inbox",
        "Archive",
        "Private",
        "New",
        "New/Sub",
        "bob",
        "bob/INBOX",
        "../bob/INBOX",
        "/bob/INBOX",
        "~bob/INBOX",
        "Other Users/bob/INBOX",
        "#shared/bob",
        "alice/INBOX",
        "*",
        "%",
        "&ZeVnLIqe-",
        "&-",
        "a b",
        "",
        ".",
        "..",
        "/",
        "INBOX/",
        "Trash",
    ];
    const SETS: &[&str] = &[
        "3",
        "2:1",
        "0",
        "4294967295",
        "1:4294967295",
        "*:1",
        "$",
        "1:2,3:*",
        "99",
        "-1",
        "1:",
    ];
    const FETCH: &[&str] = &[
        "FLAGS",
        "UID",
        "RFC822.SIZE",
        "INTERNALDATE",
        "ENVELOPE",
        "BODYSTRUCTURE",
        "BODY",
        "BODY[]",
        "BODY.PEEK[]",
        "BODY.PEEK[HEADER]",
        "BODY[TEXT]",
        "BODY[1]",
        "BODY[2]",
        "BODY[1.MIME]",
        "BODY[2.1]",
        "BODY[2.HEADER]",
        "BODY[3.1.TEXT]",
        "BODY[HEADER.FIELDS (SUBJECT FROM)]",
        "BODY.PEEK[HEADER.FIELDS.NOT (SUBJECT)]",
        "BODY[]<0.10>",
        "BODY[]<5.1>",
        "BODY[TEXT]<4294967295.4294967295>",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "MODSEQ",
        // RFC 3516.
        "BINARY[1]",
        "BINARY.PEEK[2]<0.10>",
        "BINARY.SIZE[1]",
        "BINARY[]",
    ];
    /// Alone, or with mistakes: macros in a list, sections that do not parse.
    const FETCH_ODD: &[&str] = &[
        "ALL",
        "FAST",
        "FULL",
        "(FLAGS FAST)",
        "BODY[0]",
        "BINARY[1]",
        "BODY[1.2.3.4.5.6.7.8.9]",
        "BODY[HEADER.FIELDS ()]",
        "BODY[]<1>",
        "(FLAGS",
    ];
    const SEARCH: &[&str] = &[
        "ALL",
        "SEEN",
        "UNSEEN",
        "DELETED",
        "FLAGGED",
        "NEW",
        "OLD",
        "RECENT",
        "ANSWERED",
        "DRAFT",
        "SUBJECT hello",
        "FROM carol",
        "BODY text",
        "TEXT bob",
        "HEADER Subject parts",
        "LARGER 100",
        "SMALLER 4294967295",
        "UID 1:*",
        "1:2",
        "BEFORE 1-Jan-2030",
        "SINCE 31-Feb-2020",
        "SENTON 2-Jan-2024",
        "KEYWORD kw1",
        "NOT SEEN",
        "OR SEEN DELETED",
        "OR (SEEN FLAGGED) NOT (OR 1 2)",
        "CHARSET UTF-8 SUBJECT caf\u{e9}",
        "CHARSET KOI8-R ALL",
        "(",
        // RFC 7162 §3.1.5.
        "MODSEQ 1",
        "MODSEQ \"/flags/\\\\seen\" all 5",
        "MODSEQ 99999999999999999999",
    ];
    const FLAGS: &[&str] = &[
        "\\Seen",
        "\\Deleted",
        "\\Flagged",
        "\\Answered",
        "\\Draft",
        "\\Recent",
        "$Junk",
        "\\*",
        "kw1",
        "\\Unknown",
    ];
    let mut input = Input::new();
    let mut n = 0;
    let (mut authed, mut selected) = (false, false);
    let mut copies = 0;
    for _ in 0..MAX_OPS {
        if g.done() {
            break;
        }
        n += 1;
        let tag = if g.chance(95) {
            format!("t{n}")
        } else {
            g.pick(&["*", "+", "{1}", "a\"b", "", "t%"]).to_owned()
        };
        let uid = if g.chance(40) { "UID " } else { "" };
        // A rough model of the session steers the choice to what can succeed now.
        let op = match (authed, selected) {
            (false, _) if g.chance(50) => g.pick(&[0, 0, 5, 6, 7, 8]),
            (true, false) if g.chance(50) => g.pick(&[9, 9, 21, 24, 25, 26]),
            (true, true) if g.chance(70) => {
                g.pick(&[12, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 27, 36])
            }
            _ => g.below(40),
        };
        input.put(format!("{tag} "));
        match op {
            0..=4 => {
                let (user, pw) = (g.pick(USERS), password(g));
                authed |= pw == PASSWORD && matches!(user, "alice" | "bob");
                input.secret(pw);
                input.put(g.case("LOGIN"));
                input.put(" ");
                astring(user, g, &mut input);
                input.put(" ");
                astring(pw, g, &mut input);
            }
            5 | 6 => {
                // Straight to a mailbox: the deep states are where the leaks would be.
                let user = g.pick(&["alice", "bob"]);
                input.secret(PASSWORD);
                input.line(format!("LOGIN {user} {PASSWORD}"), g);
                let mailbox = if g.chance(80) {
                    g.pick(&["INBOX", "INBOX", "Archive", "Private", "inbox"])
                } else {
                    g.pick(MAILBOXES)
                };
                (authed, selected) = (true, true);
                input.put(format!("{tag}s {} ", g.pick(&["SELECT", "EXAMINE"])));
                astring(mailbox, g, &mut input);
            }
            7 => {
                let (user, pw) = (g.pick(USERS), password(g));
                authed |= pw == PASSWORD && matches!(user, "alice" | "bob");
                let blob = plain_inline(&mut input, user, pw);
                input.put(format!("AUTHENTICATE PLAIN {blob}"));
            }
            8 => {
                let (user, pw) = (g.pick(USERS), password(g));
                let mechanism = g.pick(&["PLAIN", "plain", "LOGIN", "PLAIN ="]);
                input.line(format!("AUTHENTICATE {mechanism}"), g);
                input.put(plain_response(g, user, pw));
            }
            9..=11 => {
                input.put(g.pick(&["SELECT ", "EXAMINE ", "select "]));
                let mailbox = if g.chance(60) {
                    g.pick(&["INBOX", "Archive", "Private"])
                } else {
                    g.pick(MAILBOXES)
                };
                selected |= authed && mailbox != "*";
                astring(mailbox, g, &mut input);
                if g.chance(20) {
                    // RFC 7162 §3.1.8, §3.2.5: CONDSTORE and QRESYNC parameters.
                    input.put(g.pick(&[
                        " (CONDSTORE)",
                        " (QRESYNC (1 1))",
                        " (QRESYNC (1 1 1:5 (1:2 1:2)))",
                        " (QRESYNC (1 0))",
                        " ()",
                    ]));
                }
            }
            12..=15 => {
                let set = seq_set(g, SETS);
                input.put(format!("{uid}FETCH {set} "));
                let k = 1 + g.below(3);
                let items: Vec<&str> = (0..k).map(|_| g.pick(FETCH)).collect();
                if g.chance(10) {
                    input.put(g.pick(FETCH_ODD));
                } else if k == 1 && g.chance(70) {
                    input.put(items[0]);
                } else {
                    input.put(format!("({})", items.join(" ")));
                }
                if g.chance(15) {
                    // RFC 7162 §3.1.4.1, §3.2.6.
                    input.put(g.pick(&[
                        " (CHANGEDSINCE 1)",
                        " (CHANGEDSINCE 1 VANISHED)",
                        " (VANISHED)",
                        " (CHANGEDSINCE 0)",
                    ]));
                }
            }
            16 => {
                let key = g.pick(SEARCH);
                let second = if g.chance(30) { g.pick(SEARCH) } else { "" };
                // RFC 5256 §3, RFC 5267 §3: SORT and THREAD take the same keys.
                let verb = g.pick(&[
                    "SEARCH",
                    "SEARCH",
                    "SEARCH RETURN (MIN MAX COUNT)",
                    "SORT (REVERSE SUBJECT DATE) UTF-8",
                    "SORT RETURN (ALL) (FROM) US-ASCII",
                    "THREAD REFERENCES UTF-8",
                    "THREAD ORDEREDSUBJECT KOI8-R",
                    // RFC 5267 §4.
                    "SEARCH RETURN (UPDATE COUNT)",
                    "SEARCH RETURN (UPDATE (UID BODY[HEADER.FIELDS (SUBJECT)] FLAGS))",
                    "SEARCH RETURN (PARTIAL 2:1)",
                    "SORT RETURN (UPDATE PARTIAL 1:3) (SUBJECT) UTF-8",
                ]);
                input.put(format!("{uid}{verb} {key} {second}").trim_end());
                if g.chance(20) {
                    input.put(" SUBJECT ");
                    astring("hello world", g, &mut input);
                }
            }
            17 | 18 => {
                let set = seq_set(g, SETS);
                let mode = g.pick(&[
                    "+FLAGS",
                    "-FLAGS",
                    "FLAGS",
                    "+FLAGS.SILENT",
                    "FLAGS.SILENT",
                    "+FLAGS",
                    "X",
                ]);
                let k = g.below(3);
                let flags: Vec<&str> = (0..k).map(|_| g.pick(FLAGS)).collect();
                // RFC 7162 §3.1.3: a conditional STORE now and then.
                let unchanged = g.pick(&["", "", "", " (UNCHANGEDSINCE 1)", " (UNCHANGEDSINCE 0)"]);
                input.put(format!(
                    "{uid}STORE {set}{unchanged} {mode} ({})",
                    flags.join(" ")
                ));
            }
            // COPY 1:* INBOX doubles INBOX: a few are enough, 48 would be 3 * 2^48 messages.
            19 if copies >= 3 => input.put("NOOP"),
            19 => {
                copies += 1;
                let set = seq_set(g, SETS);
                let verb = g.pick(&["COPY", "MOVE"]);
                input.put(format!("{uid}{verb} {set} "));
                astring(g.pick(MAILBOXES), g, &mut input);
            }
            20 => {
                let set = seq_set(g, SETS);
                let text = match g.below(4) {
                    0 => "EXPUNGE".to_owned(),
                    1 => format!("UID EXPUNGE {set}"),
                    2 => "CLOSE".to_owned(),
                    _ => "UNSELECT".to_owned(),
                };
                selected &= !text.ends_with("SELECT") && text != "CLOSE";
                input.put(text);
            }
            21 | 22 => append(g, &mut input, limits, false),
            23 => append(g, &mut input, limits, true),
            24 => {
                let verb = g.pick(&["LIST", "LSUB", "LIST", "list"]);
                let reference = g.pick(&["\"\"", "bob/", "..", "/", "~bob/", "Archive", "\"bob\""]);
                let pattern = g.pick(&[
                    "*",
                    "%",
                    "INBOX",
                    "bob*",
                    "*/*",
                    "../*",
                    "~*",
                    "%/%",
                    "\"\"",
                    "Archive/%",
                    "#*",
                    "*bob*",
                ]);
                input.put(format!("{verb} {reference} {pattern}"));
            }
            25 => {
                input.put("STATUS ");
                astring(g.pick(MAILBOXES), g, &mut input);
                let items = g.pick(&[
                    "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN RECENT)",
                    "(MESSAGES)",
                    "()",
                    "(HIGHESTMODSEQ)",
                    "MESSAGES",
                ]);
                input.put(format!(" {items}"));
            }
            26 => {
                let verb = g.pick(&[
                    "CREATE ",
                    "DELETE ",
                    "RENAME ",
                    "SUBSCRIBE ",
                    "UNSUBSCRIBE ",
                ]);
                input.put(verb);
                if g.chance(50) {
                    let word = g.word();
                    astring(&word, g, &mut input);
                } else {
                    astring(g.pick(MAILBOXES), g, &mut input);
                }
                if verb == "RENAME " {
                    input.put(" ");
                    astring(g.pick(MAILBOXES), g, &mut input);
                }
            }
            27 => {
                input.line("IDLE", g);
                input.put(g.pick(&["DONE", "done", "t0 NOOP", "DONE x", ""]));
            }
            28 => input.put(g.pick(&[
                "CAPABILITY",
                "NOOP",
                "CHECK",
                "NAMESPACE",
                "ID (\"name\" \"fuzz\")",
                "ID NIL",
                "ENABLE CONDSTORE",
                "ENABLE QRESYNC",
                "ENABLE CONDSTORE QRESYNC X-NONE",
                "ENABLE IMAP4rev2",
                "ENABLE UTF8=ACCEPT IMAP4rev2",
                "CANCELUPDATE \"t1\" \"t2\"",
                "ENABLE UTF8=ACCEPT",
                "XLIST \"\" *",
                "NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER] BODY[1]) MessageExpunge \
                 FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
                "NOTIFY SET STATUS (selected-delayed (MessageNew MessageExpunge)) (subtree INBOX \
                 (MessageNew))",
                "NOTIFY SET STATUS (inboxes (FlagChange)) (mailboxes (Trash \"Sent\" nowhere) \
                 (MessageExpunge))",
                "NOTIFY SET (subscribed (MailboxName)) (selected NONE)",
                "NOTIFY SET (personal (AnnotationChange))",
                "NOTIFY NONE",
            ])),
            29 => {
                input.line("STARTTLS", g);
                input.starttls(g);
                continue;
            }
            30 if g.chance(30) => input.put("LOGOUT"),
            31 => {
                // A literal too big for the limits before login: LITERAL+ (skipped by the
                // server), or synchronizing (refused; the client sends nothing more).
                let size = limits.imap_before.max_literal + 1;
                input.put("LOGIN ");
                let filler = vec![b'z'; size];
                if g.chance(50) {
                    input.put(format!("{{{size}+}}\r\n"));
                    input.put(&filler);
                } else {
                    input.sync_literal(&filler);
                }
                input.put(" x");
            }
            32..=35 => {
                match g.below(6) {
                    0 | 1 => input.raw(g),
                    2 => {
                        let limit = limits.imap_after.max_line;
                        input.long_line(g, "NOOP ", limit);
                    }
                    3 => input.line("NOOP\0", g),
                    4 => {
                        // A literal longer than what follows: the rest is eaten by it.
                        input.wild = true;
                        input.line("LOGIN {3+}", g);
                    }
                    _ => input.line("BOGUS", g),
                }
                continue;
            }
            _ => input.put(g.pick(&["NOOP", "CHECK", "EXPUNGE", "FETCH 1:* FLAGS", "SEARCH ALL"])),
        }
        input.end(g);
    }
    input.finish()
}

/// A sequence set, usually one that names messages.
fn seq_set(g: &mut Gen, sets: &[&'static str]) -> &'static str {
    if g.chance(70) {
        g.pick(&["1", "2", "1:*", "*", "1,3", "2:*"])
    } else {
        g.pick(sets)
    }
}

/// An astring: atom, quoted string, literal, or LITERAL+.
fn astring(s: &str, g: &mut Gen, input: &mut Input) {
    let atom = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b));
    match g.below(8) {
        0..=3 if atom => input.put(s),
        4 => input.sync_literal(s.as_bytes()),
        5 => input.put(format!("{{{}+}}\r\n{s}", s.len())),
        _ => {
            let mut quoted = vec![b'"'];
            for b in s.bytes() {
                if b == b'"' || b == b'\\' {
                    quoted.push(b'\\');
                }
                quoted.push(b);
            }
            quoted.push(b'"');
            input.put(quoted);
        }
    }
}

/// `APPEND mailbox [flags] [date] {n}` and its message; `large`: one that is streamed
/// (or refused as too big), around the codec's `stream_above` and `max_literal`.
fn append(g: &mut Gen, input: &mut Input, limits: &Limits, large: bool) {
    input.put("APPEND ");
    let mailbox = g.pick(&["INBOX", "Archive", "New", "bob/INBOX", "Nope", "INBOX"]);
    astring(mailbox, g, input);
    if g.chance(40) {
        input.put(g.pick(&[
            " (\\Seen)",
            " ()",
            " (\\Deleted kw1)",
            " (\\Seen \\Flagged)",
            " (\\Recent)",
            " (\\Bogus",
        ]));
    }
    if g.chance(30) {
        input.put(g.pick(&[
            " \"01-Jan-2024 10:00:00 +0000\"",
            " \" 1-Feb-1999 23:59:59 -1200\"",
            " \"31-Feb-2024 99:00:00 +9999\"",
            " \"x\"",
        ]));
    }
    input.put(" ");
    let message = if large {
        let after = limits.imap_after;
        let size = match g.below(6) {
            0 => after.stream_above - 1,
            1 => after.stream_above,
            2 => after.stream_above + 1,
            3 => after.stream_above * 2 + 7,
            4 => limits.imap_before.max_literal + 1,
            _ => after.max_literal + 1,
        };
        if size > 200_000 {
            // Too big: announced only, as a client waiting for `+` would.
            input.put(format!("{{{size}}}"));
            return;
        }
        let mut m = b"Subject: big\r\n\r\n".to_vec();
        m.extend_from_slice(&filler(size.saturating_sub(m.len())));
        m.truncate(size);
        m
    } else {
        message(g)
    };
    if g.below(16) == 0 {
        // The wrong length: a broken client.
        input.wild = true;
        let announced = message.len().saturating_add(g.below(5)).saturating_sub(2);
        input.put(format!("{{{announced}+}}\r\n"));
        input.put(&message);
    } else if g.chance(50) {
        input.put(format!("{{{}+}}\r\n", message.len()));
        input.put(&message);
    } else {
        input.sync_literal(&message);
    }
    if g.chance(10) {
        // RFC 3502 MULTIAPPEND: a second message on the same command.
        let second = self::message(g);
        input.put(format!(" (\\Seen) {{{}+}}\r\n", second.len()));
        input.put(&second);
    }
    if g.chance(8) {
        // RFC 4469 CATENATE: text and local URLs, some of which name nothing.
        let url = g.pick(&[
            "/INBOX;UIDVALIDITY=1/;UID=1",
            "/INBOX/;UID=1/;SECTION=TEXT",
            "/bob/INBOX;UID=1",
            "imap://alice@localhost/INBOX/;UID=2",
            "/INBOX;UID=0",
        ]);
        input.put(format!(" CATENATE (TEXT {{5+}}\r\nhello URL \"{url}\")"));
    }
    if g.chance(10) {
        input.put(" extra");
    }
}

// ---- The driver, as yubin_core::driver runs a session ----

/// Whose session it is, as far as content goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Nobody,
    Alice,
    Bob,
}

/// What the harness needs of each protocol besides the driver's `Session`.
trait Protocol: Session<Frame: std::fmt::Debug> {
    /// The bytes a frame holds in memory, and the most it may hold under `codec`'s
    /// limits as they were when it was decoded.
    fn frame_size(frame: &Self::Frame, codec: &Self::Codec, limits: &Limits) -> (usize, usize);
    /// The most the buffer may hold once the codec asks for more input.
    fn buffered_limit(codec: &Self::Codec, limits: &Limits) -> usize;
    /// Whose content the session may show.
    fn who(&self, store: &Store) -> Who;
}

fn who_by_name(name: &str) -> Who {
    match name {
        "alice" => Who::Alice,
        "bob" => Who::Bob,
        other => panic!("logged in as {other:?}: only alice and bob have passwords"),
    }
}

impl Protocol for mini_pop::session::Session {
    fn frame_size(frame: &Line, _: &Lines, limits: &Limits) -> (usize, usize) {
        match frame {
            Line::Complete(line) => (line.len(), limits.line),
            Line::TooLong => (0, 0),
        }
    }

    fn buffered_limit(_: &Lines, limits: &Limits) -> usize {
        limits.line + 1
    }

    fn who(&self, store: &Store) -> Who {
        if self.phase() == Phase::Unauthenticated {
            return Who::Nobody;
        }
        // The session's name is private: the maildrop lock it holds tells.
        let locked = |name: &str| {
            store
                .account(name)
                .map(|a| a.lock_maildrop().is_err())
                .unwrap_or(false)
        };
        match (locked("alice"), locked("bob")) {
            (true, false) => Who::Alice,
            (false, true) => Who::Bob,
            other => panic!("POP3 session logged in; maildrops locked (alice, bob): {other:?}"),
        }
    }
}

impl Protocol for mini_smtp::session::Session {
    fn frame_size(frame: &Line, _: &Lines, limits: &Limits) -> (usize, usize) {
        match frame {
            Line::Complete(line) => (line.len(), limits.line),
            Line::TooLong => (0, 0),
        }
    }

    fn buffered_limit(_: &Lines, limits: &Limits) -> usize {
        limits.line + 1
    }

    /// SMTP never shows stored mail, logged in (AUTH) or not.
    fn who(&self, _: &Store) -> Who {
        Who::Nobody
    }
}

impl Protocol for mini_imap::session::Session {
    fn frame_size(frame: &Frame, codec: &ImapCodec, _: &Limits) -> (usize, usize) {
        let max = codec.limits().max_command;
        match frame {
            Frame::Command(bytes) => (bytes.len(), max),
            Frame::AppendHead { head, .. } => (head.len(), max),
            // Passed on to the store as they arrive, never gathered.
            Frame::Piece(_) | Frame::Continue | Frame::Rejected { .. } => (0, 0),
        }
    }

    fn buffered_limit(codec: &ImapCodec, _: &Limits) -> usize {
        codec.limits().max_line + 1
    }

    fn who(&self, _: &Store) -> Who {
        use mini_imap::session::State;
        match self.state() {
            State::Authenticated(a) | State::Selected(a, _) => who_by_name(a.name()),
            State::NotAuthenticated | State::Logout => Who::Nobody,
        }
    }
}

/// `SESSION_TRACE=1`: every frame and reply goes to stderr (to read a failing case).
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("SESSION_TRACE").is_some())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

fn contains_ignore_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(600)]);
    format!("{text:?}{}", if bytes.len() > 600 { "..." } else { "" })
}

/// One run of a session over a whole input.
struct Run<'a, S: Protocol> {
    session: S,
    codec: S::Codec,
    buf: BytesMut,
    store: &'a Store,
    limits: Limits,
    transcript: Transcript,
    /// Neither marker appears in the input, so a marker in a reply came from the store.
    check_markers: bool,
    /// Everyone the session was logged in as.
    logged_in: BTreeSet<&'static str>,
    /// The last reply asked for the rest of the command (`+`).
    continued: bool,
    /// A reply showed the logged-in user's own mail.
    own_mail: bool,
}

/// What the driver does after a frame's reply.
enum Flow {
    Go,
    Stop,
}

impl<S: Protocol> Run<'_, S> {
    fn check_reply(&mut self, bytes: &[u8], what: &str) {
        if tracing() {
            eprintln!("S: {}", String::from_utf8_lossy(bytes).trim_end());
        }
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\r\n"),
            "{what} does not end in CRLF: {}",
            show(bytes)
        );
        if !bytes.is_empty() {
            let body = &bytes[..bytes.len() - 2];
            let last = body
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(body, |i| &body[i + 1..]);
            self.continued = last.starts_with(b"+");
        }
        let who = self.session.who(self.store);
        match who {
            Who::Alice => self.logged_in.insert("alice"),
            Who::Bob => self.logged_in.insert("bob"),
            Who::Nobody => false,
        };
        if !self.check_markers {
            return;
        }
        let alice = contains(bytes, ALICE_MARK.as_bytes());
        let bob = contains(bytes, BOB_MARK.as_bytes());
        self.own_mail |= match who {
            Who::Nobody => false,
            Who::Alice => alice,
            Who::Bob => bob,
        };
        let leak = match who {
            Who::Nobody => alice || bob,
            Who::Alice => bob,
            Who::Bob => alice,
        };
        assert!(
            !leak,
            "{what} shows {} mail to a session of {who:?} (phase {:?}): {}",
            if alice { "alice's" } else { "bob's" },
            self.session.phase(),
            show(bytes)
        );
    }

    /// Answers one frame as `answer_batch` does: transcript, `handle`, `adjust`, then
    /// what the reply says comes next.
    fn answer(&mut self, frame: S::Frame) -> Flow {
        if tracing() {
            let text = format!("{frame:?}");
            eprintln!("C: {}", &text[..text.floor_char_boundary(300)]);
        }
        let (size, max) = S::frame_size(&frame, &self.codec, &self.limits);
        assert!(size <= max, "a frame of {size} bytes; the limit is {max}");
        // A message's body lines (SMTP DATA) are its content, not credentials: the
        // driver shows the first few; the check is about command lines.
        if let Some(text) = frame.shown()
            && !matches!(self.session.shown(), Shown::Body)
        {
            self.transcript.client_input(text, self.session.shown());
        }
        let reply = self.session.handle(frame);
        self.session.adjust(&mut self.codec);
        self.after(reply)
    }

    /// What the driver does when the watch fires: the changes, and the rest of a long
    /// report through `resume`.
    fn push(&mut self, what: &str) {
        let _watch = self.session.watch();
        let mut update = self.session.changes();
        loop {
            self.check_reply(&update.bytes, what);
            self.transcript.server(&update.bytes);
            if update.after != After::More {
                return;
            }
            update = self.session.resume();
        }
    }

    fn after(&mut self, mut reply: Reply) -> Flow {
        loop {
            self.check_reply(&reply.bytes, "a reply");
            self.transcript.server(&reply.bytes);
            match reply.after {
                After::Continue | After::LoginFailed => {
                    // NOTIFY (RFC 5465): the driver waits on the watch between commands
                    // too, and pushes what it reports.
                    if self.session.pushes() {
                        self.push("a NOTIFY update");
                    }
                    return Flow::Go;
                }
                // COMPRESS changes the transport, not the framing: the frames that follow
                // are what the inflater yields.
                After::Compress => return Flow::Go,
                After::Close => return Flow::Stop,
                After::More => reply = self.session.resume(),
                After::StartTls => {
                    // Plaintext pipelined behind STARTTLS is dropped, never answered.
                    self.buf.clear();
                    self.session.tls_started();
                    return Flow::Go;
                }
                After::Idle => {
                    self.push("an IDLE update");
                    return Flow::Go;
                }
            }
        }
    }

    /// Feeds the input a read at a time; false once the session is over.
    fn feed(&mut self, chunk: &[u8]) -> bool {
        self.buf.extend_from_slice(chunk);
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => {
                    if let Flow::Stop = self.answer(frame) {
                        return false;
                    }
                }
                Ok(None) => {
                    let max = S::buffered_limit(&self.codec, &self.limits);
                    assert!(
                        self.buf.len() <= max,
                        "the codec waits for more input holding {} bytes; the limit is {max}",
                        self.buf.len()
                    );
                    return true;
                }
                Err(FrameError::Unframeable(_)) => return false,
                Err(FrameError::Io(e)) => panic!("i/o error from a codec: {e}"),
            }
        }
    }

    /// The peer closed: what is left is framed to its end, as the driver does.
    fn finish(&mut self) {
        while let Ok(Some(frame)) = self.codec.decode_eof(&mut self.buf) {
            if let Flow::Stop = self.answer(frame) {
                return;
            }
        }
    }
}

/// Cuts `bytes` into reads as `pattern` says.
fn reads(input: &[u8], pattern: u8) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = input;
    let mut seed = u32::from(pattern).wrapping_mul(2_654_435_761) | 1;
    let max = match pattern % 8 {
        0..=2 => usize::MAX,
        3 => 1,
        4 => 3,
        5 => 17,
        6 => 300,
        _ => 5000,
    };
    // A byte at a time through a large literal is slow and shows nothing new.
    let max = if input.len() > 20_000 {
        max.max(300)
    } else {
        max
    };
    while !rest.is_empty() {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let n = if max == usize::MAX || pattern.is_multiple_of(2) {
            max
        } else {
            1 + seed as usize % max
        };
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
    }
    out
}

type Snapshot = Vec<(String, Vec<(u32, Flags, u64, u64)>)>;

/// Every mailbox of an account with what it holds.
fn snapshot(store: &Store, name: &str) -> Snapshot {
    let account = store.account(name).expect("account");
    account
        .list()
        .expect("list")
        .into_iter()
        .filter(|info| info.selectable)
        .map(|info| {
            let messages = account
                .mailbox(&info.name)
                .and_then(|m| m.messages())
                .expect("messages")
                .into_iter()
                .map(|m| (m.uid, m.flags, m.size, m.modseq))
                .collect();
            (info.name, messages)
        })
        .collect()
}

/// Every mailbox of every account reads back whole and adds up.
fn check_consistent(store: &Store) {
    for name in store.account_names() {
        let account = store.account(&name).expect("account");
        for info in account.list().expect("list") {
            if !info.selectable {
                continue;
            }
            let mailbox = account.mailbox(&info.name).expect("mailbox");
            let messages = mailbox.messages().expect("messages");
            let status = mailbox.status().expect("status");
            let uids: Vec<u32> = messages.iter().map(|m| m.uid).collect();
            assert!(
                uids.windows(2).all(|w| w[0] < w[1]),
                "{name}/{}: UIDs not strictly ascending: {uids:?}",
                info.name
            );
            assert!(
                uids.iter().all(|&u| u > 0 && u < status.uid_next),
                "{name}/{}: UIDs {uids:?}, UIDNEXT {}",
                info.name,
                status.uid_next
            );
            assert_eq!(
                status.messages as usize,
                messages.len(),
                "{name}/{}",
                info.name
            );
            let unseen = messages
                .iter()
                .filter(|m| !m.flags.contains(&Flag::Seen))
                .count();
            assert_eq!(status.unseen as usize, unseen, "{name}/{}", info.name);
            for m in &messages {
                let bytes = mailbox.read(m.uid).unwrap_or_else(|e| {
                    panic!("{name}/{} UID {}: cannot read: {e}", info.name, m.uid)
                });
                assert_eq!(
                    bytes.len() as u64,
                    m.size,
                    "{name}/{} UID {}",
                    info.name,
                    m.uid
                );
            }
        }
    }
}

/// A transcript that keeps the client's lines.
fn recording() -> (Transcript, Arc<Mutex<Vec<String>>>) {
    let shown = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = shown.clone();
    let transcript = Transcript::to_sink(move |dir, line| {
        if dir == Direction::Client {
            sink.lock().expect("sink").push(line.to_owned());
        }
    });
    (transcript, shown)
}

/// No credential sent on a credential command line shows in the transcript.
fn check_transcript(shown: &Mutex<Vec<String>>, input: &Input) {
    for line in shown.lock().expect("transcript").iter() {
        for secret in &input.secrets {
            assert!(
                !contains(line.as_bytes(), secret),
                "the transcript shows a credential ({:?}): {line:?}",
                String::from_utf8_lossy(secret)
            );
        }
    }
}

/// What a run reached: how far the generator gets (a test keeps it from drifting into
/// inputs that never log in).
#[derive(Debug, Default)]
#[allow(dead_code)] // Read by the proptest's check of the generator, not by the fuzz target.
struct Reached {
    /// Everyone the session was logged in as.
    logged_in: BTreeSet<&'static str>,
    /// A reply showed the logged-in user's own mail.
    own_mail: bool,
    /// A mailbox of alice or bob holds more messages than before.
    mail_added: bool,
}

/// Drives one session of `proto` with the input `data` describes, and checks it.
fn run(proto: Proto, data: &[u8]) -> Reached {
    let mut g = Gen::new(data);
    let config = g.byte();
    let pattern = g.byte();
    let tls = match config % 8 {
        0..=3 => TlsState::default(),
        4 | 5 => TlsState {
            upgradable: true,
            ..TlsState::default()
        },
        6 => TlsState {
            upgradable: true,
            required: true,
            active: false,
        },
        _ => TlsState {
            active: true,
            upgradable: true,
            required: true,
        },
    };
    let limits = Limits::new(proto, config & 0x10 != 0);
    let store = fixture();
    let before = [snapshot(&store, "alice"), snapshot(&store, "bob")];
    let (transcript, shown) = recording();
    let (input, reached) = match proto {
        Proto::Pop => {
            let retention = if config & 0x20 != 0 {
                mini_pop::Retention::Keep
            } else {
                mini_pop::Retention::DeleteOnRetrieve
            };
            let config = Arc::new(mini_pop::PopConfig {
                retention,
                ..Default::default()
            });
            let (session, greeting) = mini_pop::session::Session::new(store.clone(), config, tls);
            let input = pop_input(&mut g, &greeting, &limits);
            let codec = Lines::new(limits.line);
            drive(
                session,
                codec,
                &greeting,
                input,
                pattern,
                &store,
                limits,
                &transcript,
            )
        }
        Proto::Smtp => {
            let config = Arc::new(mini_smtp::SmtpConfig {
                max_message_size: limits.max_message,
                max_recipients: if config & 0x20 != 0 { 2 } else { 100 },
                ..Default::default()
            });
            let peer: SocketAddr = ([127, 0, 0, 1], 40025).into();
            let (session, greeting) =
                mini_smtp::session::Session::new(store.clone(), config, peer, tls);
            let input = smtp_input(&mut g, &limits);
            let codec = Lines::new(limits.line);
            drive(
                session,
                codec,
                &greeting,
                input,
                pattern,
                &store,
                limits,
                &transcript,
            )
        }
        Proto::Imap => {
            let (session, greeting) =
                mini_imap::session::Session::new(store.clone(), Arc::default(), tls);
            let input = imap_input(&mut g, &limits);
            let codec = ImapCodec::with_login_limits(limits.imap_before, limits.imap_after);
            drive(
                session,
                codec,
                &greeting,
                input,
                pattern,
                &store,
                limits,
                &transcript,
            )
        }
    };
    // The session is gone: so are its locks.
    for name in ["alice", "bob"] {
        let account = store.account(name).expect("account");
        assert!(
            account.lock_maildrop().is_ok(),
            "{name}'s maildrop is still locked after the session"
        );
    }
    if !input.wild {
        check_transcript(&shown, &input);
    }
    check_consistent(&store);
    let mut mail_added = false;
    for (i, name) in ["alice", "bob"].into_iter().enumerate() {
        let after = snapshot(&store, name);
        let count = |s: &Snapshot| s.iter().map(|(_, m)| m.len()).sum::<usize>();
        mail_added |= count(&after) > count(&before[i]);
        if reached.logged_in.contains(name) {
            continue;
        }
        if proto == Proto::Smtp {
            // Mail may arrive; nothing else changes.
            let same = before[i].len() == after.len()
                && before[i].iter().zip(&after).all(|((n0, m0), (n1, m1))| {
                    n0 == n1 && (m0 == m1 || (n0 == "INBOX" && m1.starts_with(m0)))
                });
            assert!(
                same,
                "{name}'s mailboxes changed in an SMTP session: {after:?}"
            );
        } else {
            assert_eq!(
                before[i], after,
                "{name}'s mailboxes changed in a session never logged in as {name}"
            );
        }
    }
    Reached {
        mail_added,
        ..reached
    }
}

/// Runs the session over the input, as the driver would; returns the input and what
/// the session reached.
#[allow(clippy::too_many_arguments)]
fn drive<S: Protocol>(
    session: S,
    codec: S::Codec,
    greeting: &[u8],
    input: Input,
    pattern: u8,
    store: &Store,
    limits: Limits,
    transcript: &Transcript,
) -> (Input, Reached) {
    let check_markers = !contains_ignore_case(&input.bytes, ALICE_MARK.as_bytes())
        && !contains_ignore_case(&input.bytes, BOB_MARK.as_bytes());
    let mut run = Run {
        session,
        codec,
        buf: BytesMut::new(),
        store,
        limits,
        transcript: transcript.clone(),
        check_markers,
        logged_in: BTreeSet::new(),
        continued: false,
        own_mail: false,
    };
    run.check_reply(greeting, "the greeting");
    // Up to each place the client waits, then on (or past a refused literal).
    let mut sent = 0;
    let mut open = true;
    let ends = input.waits.iter().copied().chain([Wait {
        at: input.bytes.len(),
        skip_to: None,
    }]);
    'input: for wait in ends {
        if wait.at < sent {
            continue;
        }
        for chunk in reads(&input.bytes[sent..wait.at], pattern) {
            open = run.feed(chunk);
            if !open {
                break 'input;
            }
        }
        sent = match wait.skip_to {
            Some(end) if !run.continued => end.min(input.bytes.len()),
            _ => wait.at,
        };
    }
    if open {
        run.finish();
    }
    let reached = Reached {
        logged_in: std::mem::take(&mut run.logged_in),
        own_mail: run.own_mail,
        mail_added: false,
    };
    // The session is dropped here, as the driver drops it when the connection ends.
    drop(run);
    (input, reached)
}
