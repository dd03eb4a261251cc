//! The SMTP session state machine through its public API, over `Store::memory()`: every
//! command in every state with the reply code RFC 5321 (§4.1.4 ordering, §4.2 codes) and
//! RFC 3463 (enhanced codes) fix, DATA, the limits, AUTH, STARTTLS, and what the session
//! tells the driver (`After`, `phase`, `shown`).

use std::net::SocketAddr;
use std::sync::Arc;

use mini_smtp::SmtpConfig;
use mini_smtp::session::Session;
use yubin_core::driver::{After, Phase, Session as _};
use yubin_core::tls::TlsState;
use yubin_core::transcript::Shown;
use yubin_core::{Line, Secret};
use yubin_store::Store;

/// The client's address: a documentation address, so it shows in the Received header.
const PEER: &str = "192.0.2.7:40000";

fn store() -> Store {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    store.add_account("bob", Secret::from("hunter2")).unwrap();
    store
}

fn open_with(store: &Store, config: SmtpConfig, tls: TlsState) -> Session {
    let peer: SocketAddr = PEER.parse().unwrap();
    Session::new(store.clone(), Arc::new(config), peer, tls).0
}

fn open(store: &Store) -> Session {
    open_with(store, SmtpConfig::default(), TlsState::default())
}

/// A session that has said EHLO.
fn greeted(store: &Store) -> Session {
    let mut s = open(store);
    expect(&mut s, "EHLO client.example", "250");
    s
}

/// A session with a transaction open for alice.
fn in_transaction(store: &Store) -> Session {
    let mut s = greeted(store);
    expect(&mut s, "MAIL FROM:<sender@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    s
}

/// Sends one line; the whole reply as text, and what the driver is to do next.
fn say(s: &mut Session, line: &str) -> (String, After) {
    let r = s.handle_line(line.as_bytes());
    (String::from_utf8(r.bytes.to_vec()).unwrap(), r.after)
}

/// The status of a reply: the code of its last line, and the enhanced code after it when
/// there is one (RFC 2034 §4 leaves it out of 220, 334, 354 and the EHLO lines).
fn status(reply: &str) -> String {
    assert!(
        reply.ends_with("\r\n"),
        "reply not CRLF-terminated: {reply:?}"
    );
    let last = reply
        .trim_end_matches("\r\n")
        .rsplit("\r\n")
        .next()
        .unwrap();
    let mut words = last.split(' ');
    let code = words.next().unwrap();
    assert_eq!(code.len(), 3, "{reply:?}");
    match words.next() {
        Some(enhanced) if is_enhanced(enhanced) => format!("{code} {enhanced}"),
        _ => code.to_owned(),
    }
}

/// `class "." subject "." detail` (RFC 3463 §2).
fn is_enhanced(word: &str) -> bool {
    let parts: Vec<&str> = word.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Sends `line`, asserts the reply's status, and returns what the driver is to do next.
fn expect(s: &mut Session, line: &str, want: &str) -> After {
    let (reply, after) = say(s, line);
    assert_eq!(status(&reply), want, "{line:?} → {reply:?}");
    after
}

/// Sends the lines of a message after DATA; each gets no reply.
fn send_lines(s: &mut Session, lines: &[&str]) {
    for line in lines {
        let (reply, after) = say(s, line);
        assert_eq!((reply.as_str(), after), ("", After::Continue), "{line:?}");
    }
}

fn inbox(store: &Store, user: &str) -> Vec<Vec<u8>> {
    let mb = store.account(user).unwrap().mailbox("INBOX").unwrap();
    mb.messages()
        .unwrap()
        .iter()
        .map(|m| mb.read(m.uid).unwrap().to_vec())
        .collect()
}

/// The stored message, split into the trace headers this server put in front and the
/// message the client sent.
fn split_trace(stored: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0;
    loop {
        let end = stored[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map_or(stored.len(), |p| at + p + 2);
        let line = &stored[at..end];
        let trace = line.starts_with(b"Return-Path:")
            || line.starts_with(b"Received:")
            || line.starts_with(b"\t");
        if !trace || end == stored.len() {
            return stored.split_at(at);
        }
        at = end;
    }
}

fn is_command(shown: Shown) -> bool {
    matches!(shown, Shown::Command(r) if r.secret.iter().any(|m| m.name == "AUTH"))
}

/// Every command the session knows, and two it does not implement or know.
const ALL: [&str; 14] = [
    "EHLO client.example",
    "HELO client.example",
    "MAIL FROM:<sender@example.com>",
    "RCPT TO:<alice@localhost>",
    "DATA",
    "RSET",
    "NOOP",
    "HELP",
    "VRFY alice",
    "QUIT",
    "AUTH PLAIN",
    "STARTTLS",
    "EXPN staff",
    "FOO",
];

// ---- every command in every state ----

#[test]
fn greeting_is_220_with_the_host_name() {
    let store = store();
    let peer: SocketAddr = PEER.parse().unwrap();
    let config = SmtpConfig {
        hostname: "mail.test".into(),
        ..SmtpConfig::default()
    };
    let (s, greeting) = Session::new(store, Arc::new(config), peer, TlsState::default());
    assert_eq!(&greeting[..], b"220 mail.test yubin ESMTP ready\r\n");
    assert_eq!(s.phase(), Phase::Unauthenticated);
    assert!(is_command(s.shown()));
}

/// RFC 5321 §4.1.4: a mail transaction needs EHLO or HELO first (503 otherwise), while
/// NOOP, HELP, VRFY and RSET work without it (they "SHOULD" not get 503).
#[test]
fn every_command_before_ehlo() {
    let store = store();
    let table = [
        ("EHLO client.example", "250"),
        ("HELO client.example", "250"),
        ("MAIL FROM:<sender@example.com>", "503 5.5.1"),
        ("RCPT TO:<alice@localhost>", "503 5.5.1"),
        ("DATA", "503 5.5.1"),
        ("RSET", "250 2.0.0"),
        ("NOOP", "250 2.0.0"),
        ("HELP", "214 2.0.0"),
        ("VRFY alice", "252 2.5.0"),
        ("QUIT", "221 2.0.0"),
        ("AUTH PLAIN", "503 5.5.1"),
        ("STARTTLS", "502 5.5.1"),
        ("EXPN staff", "502 5.5.1"),
        ("FOO", "500 5.5.2"),
    ];
    assert_eq!(table.map(|(cmd, _)| cmd), ALL);
    for (cmd, want) in table {
        let mut s = open(&store);
        let after = expect(&mut s, cmd, want);
        let close = cmd == "QUIT";
        assert_eq!(after == After::Close, close, "{cmd}: {after:?}");
        if !close {
            assert_eq!(after, After::Continue, "{cmd}");
        }
        assert_eq!(s.phase(), Phase::Unauthenticated, "{cmd}");
        assert!(is_command(s.shown()), "{cmd}");
    }
    assert!(inbox(&store, "alice").is_empty());
}

#[test]
fn every_command_after_ehlo() {
    let store = store();
    let table = [
        ("EHLO client.example", "250"),
        ("HELO client.example", "250"),
        ("MAIL FROM:<sender@example.com>", "250 2.1.0"),
        ("RCPT TO:<alice@localhost>", "503 5.5.1"),
        ("DATA", "503 5.5.1"),
        ("RSET", "250 2.0.0"),
        ("NOOP", "250 2.0.0"),
        ("HELP", "214 2.0.0"),
        ("VRFY alice", "252 2.5.0"),
        ("QUIT", "221 2.0.0"),
        ("AUTH PLAIN", "334"),
        ("STARTTLS", "502 5.5.1"),
        ("EXPN staff", "502 5.5.1"),
        ("FOO", "500 5.5.2"),
    ];
    assert_eq!(table.map(|(cmd, _)| cmd), ALL);
    for (cmd, want) in table {
        let mut s = greeted(&store);
        let after = expect(&mut s, cmd, want);
        let want_after = if cmd == "QUIT" {
            After::Close
        } else {
            After::Continue
        };
        assert_eq!(after, want_after, "{cmd}");
        assert_eq!(s.phase(), Phase::Unauthenticated, "{cmd}");
        if cmd == "AUTH PLAIN" {
            assert!(matches!(s.shown(), Shown::Secret));
        } else {
            assert!(is_command(s.shown()), "{cmd}");
        }
    }
}

/// In a transaction (MAIL and one RCPT accepted): EHLO, HELO and RSET end it (RFC 5321
/// §4.1.4), everything else leaves it as it was, which the DATA sent next shows.
#[test]
fn every_command_in_a_transaction() {
    let store = store();
    // (command, reply, reply to a DATA sent next: whether the transaction survived)
    let table = [
        ("EHLO client.example", "250", Some("503 5.5.1")),
        ("HELO client.example", "250", Some("503 5.5.1")),
        ("MAIL FROM:<sender@example.com>", "503 5.5.1", Some("354")),
        ("RCPT TO:<alice@localhost>", "250 2.1.5", Some("354")),
        ("DATA", "354", None),
        ("RSET", "250 2.0.0", Some("503 5.5.1")),
        ("NOOP", "250 2.0.0", Some("354")),
        ("HELP", "214 2.0.0", Some("354")),
        ("VRFY alice", "252 2.5.0", Some("354")),
        ("QUIT", "221 2.0.0", None),
        // RFC 4954 §4: AUTH during a mail transaction MUST get 503.
        ("AUTH PLAIN", "503 5.5.1", Some("354")),
        ("STARTTLS", "502 5.5.1", Some("354")),
        ("EXPN staff", "502 5.5.1", Some("354")),
        ("FOO", "500 5.5.2", Some("354")),
    ];
    assert_eq!(table.map(|(cmd, ..)| cmd), ALL);
    for (cmd, want, then_data) in table {
        let mut s = in_transaction(&store);
        let after = expect(&mut s, cmd, want);
        if cmd == "QUIT" {
            assert_eq!(after, After::Close);
        } else {
            assert_eq!(after, After::Continue, "{cmd}");
        }
        if let Some(data) = then_data {
            assert_eq!(expect(&mut s, "DATA", data), After::Continue, "after {cmd}");
        }
        // Nothing is delivered without a final ".".
        drop(s);
        assert!(inbox(&store, "alice").is_empty(), "{cmd}");
    }
}

/// RFC 5321 §3.3: DATA with MAIL but no accepted RCPT gets 554 (no valid recipients),
/// and the transaction stays open for a recipient.
#[test]
fn data_without_recipients_is_554_and_the_transaction_stays() {
    let store = store();
    let mut s = greeted(&store);
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "DATA", "554 5.5.1");
    expect(&mut s, "RCPT TO:<nobody@localhost>", "550 5.1.1");
    expect(&mut s, "DATA", "554 5.5.1");
    expect(&mut s, "RCPT TO:<bob@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
}

/// In DATA every line is message text (RFC 5321 §4.1.1.4): no command runs, none gets a
/// reply, and the message holds them all.
#[test]
fn every_command_inside_data_is_message_text() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "DATA", "354");
    for cmd in ALL {
        let (reply, after) = say(&mut s, cmd);
        assert_eq!((reply.as_str(), after), ("", After::Continue), "{cmd}");
        assert!(matches!(s.shown(), Shown::Body), "{cmd}");
        assert_eq!(s.phase(), Phase::Unauthenticated);
    }
    assert_eq!(expect(&mut s, ".", "250 2.0.0"), After::Continue);
    assert!(is_command(s.shown()));
    let got = inbox(&store, "alice");
    assert_eq!(got.len(), 1);
    let (_, body) = split_trace(&got[0]);
    assert_eq!(body, format!("{}\r\n", ALL.join("\r\n")).as_bytes());
}

/// During AUTH every line is the client's SASL response (RFC 4954 §4): a command line is
/// not base64 (501) or not a PLAIN message (535); either way it is not run, the exchange
/// ends, and the session is where it was before AUTH.
#[test]
fn every_command_during_auth_is_a_sasl_response() {
    let store = store();
    let table = [
        ("EHLO client.example", "501 5.5.2"),
        ("HELO client.example", "501 5.5.2"),
        ("MAIL FROM:<sender@example.com>", "501 5.5.2"),
        ("RCPT TO:<alice@localhost>", "501 5.5.2"),
        // Four letters are valid base64, but not `authzid NUL authcid NUL passwd`.
        ("DATA", "535 5.7.8"),
        ("RSET", "535 5.7.8"),
        ("NOOP", "535 5.7.8"),
        ("HELP", "535 5.7.8"),
        ("VRFY alice", "501 5.5.2"),
        ("QUIT", "535 5.7.8"),
        ("AUTH PLAIN", "501 5.5.2"),
        ("STARTTLS", "535 5.7.8"),
        ("EXPN staff", "501 5.5.2"),
        ("FOO", "501 5.5.2"),
    ];
    assert_eq!(table.map(|(cmd, _)| cmd), ALL);
    for (cmd, want) in table {
        let mut s = greeted(&store);
        expect(&mut s, "AUTH PLAIN", "334");
        assert!(matches!(s.shown(), Shown::Secret));
        let after = expect(&mut s, cmd, want);
        let want_after = if want.starts_with("535") {
            After::LoginFailed
        } else {
            After::Continue
        };
        assert_eq!(after, want_after, "{cmd}");
        assert_eq!(s.phase(), Phase::Unauthenticated, "{cmd}");
        assert!(is_command(s.shown()), "{cmd}");
        // The EHLO still counts and no transaction was opened.
        expect(&mut s, "RCPT TO:<alice@localhost>", "503 5.5.1");
        expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    }
}

#[test]
fn ehlo_lists_the_extensions_and_helo_does_not() {
    let store = store();
    let mut s = open(&store);
    let (reply, _) = say(&mut s, "EHLO client.example");
    let lines: Vec<&str> = reply.trim_end_matches("\r\n").split("\r\n").collect();
    assert_eq!(lines[0], "250-localhost greets client.example");
    // RFC 5321 §4.2.1: `250-` on every line but the last, `250 ` on the last.
    for line in &lines[..lines.len() - 1] {
        assert!(line.starts_with("250-"), "{reply}");
    }
    assert!(lines[lines.len() - 1].starts_with("250 "), "{reply}");
    let keywords: Vec<&str> = lines[1..].iter().map(|l| &l[4..]).collect();
    assert_eq!(
        keywords,
        [
            "PIPELINING",
            "8BITMIME",
            "SIZE 26214400",
            "ENHANCEDSTATUSCODES",
            "SMTPUTF8",
            "AUTH PLAIN LOGIN"
        ]
    );
    let (reply, _) = say(&mut s, "HELO client.example");
    assert_eq!(reply, "250 localhost\r\n");
}

#[test]
fn bad_commands_get_the_rfc_codes() {
    let store = store();
    let mut s = greeted(&store);
    // RFC 5321 §4.2.3: 500 unrecognized, 501 bad arguments, 502 not implemented;
    // RFC 5321 §4.1.1.11: 555 for a MAIL parameter not recognized.
    expect(&mut s, "", "500 5.5.2");
    expect(&mut s, "MAIL FROM:nobrackets", "501 5.5.4");
    expect(&mut s, "MAIL FROM:<a@example.com> FOO=BAR", "555 5.5.4");
    expect(&mut s, "RCPT", "501 5.5.4");
    expect(&mut s, "VRFY", "501 5.5.4");
    expect(&mut s, "STARTTLS now", "501 5.5.4");
    expect(&mut s, "QUIT now", "501 5.5.4");
    expect(&mut s, "TURN", "502 5.5.1");
    expect(&mut s, "MAIL FROM:<a\u{1}@example.com>", "500 5.5.2");
    // NOOP and HELP take an argument and ignore it.
    expect(&mut s, "NOOP whatever", "250 2.0.0");
    expect(&mut s, "HELP MAIL", "214 2.0.0");
    // None of that opened a transaction.
    expect(
        &mut s,
        "MAIL FROM:<a@example.com> BODY=8BITMIME SMTPUTF8",
        "250 2.1.0",
    );
}

// ---- DATA ----

/// RFC 5321 §4.5.2: a lone "." ends the message; any other line starting with "." loses
/// that first ".".
#[test]
fn data_is_dot_unstuffed_and_ends_at_a_lone_dot() {
    let store = store();
    let mut s = in_transaction(&store);
    assert_eq!(expect(&mut s, "DATA", "354"), After::Continue);
    assert!(matches!(s.shown(), Shown::Body));
    send_lines(
        &mut s,
        &[
            "Subject: dots",
            "",
            "..",
            "..leading",
            "...two",
            ". space",
            "end.",
            "",
        ],
    );
    let (reply, after) = say(&mut s, ".");
    assert_eq!(status(&reply), "250 2.0.0");
    assert_eq!(after, After::Continue);
    let got = inbox(&store, "alice");
    assert_eq!(got.len(), 1);
    let (_, body) = split_trace(&got[0]);
    assert_eq!(
        body,
        b"Subject: dots\r\n\r\n.\r\n.leading\r\n..two\r\n space\r\nend.\r\n\r\n"
    );
    assert!(
        reply.contains(&format!("{} bytes delivered to 1 mailbox", got[0].len())),
        "{reply}"
    );
    // The transaction is over, the greeting is not.
    expect(&mut s, "RCPT TO:<alice@localhost>", "503 5.5.1");
    expect(&mut s, "MAIL FROM:<b@example.com>", "250 2.1.0");
}

/// RFC 5321 §4.4: the delivering server adds Return-Path, and every server a Received
/// line naming the client's EHLO name and address, its own name, and the recipient.
#[test]
fn trace_headers_are_in_the_stored_message() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: trace", "", "body"]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "alice");
    let (trace, body) = split_trace(&got[0]);
    let trace = std::str::from_utf8(trace).unwrap();
    assert!(
        trace.starts_with(
            "Return-Path: <sender@example.com>\r\n\
             Received: from client.example ([192.0.2.7])\r\n\
             \tby localhost (yubin) with ESMTP id "
        ),
        "{trace}"
    );
    assert!(
        trace.contains("\r\n\tfor <alice@localhost>;\r\n\t"),
        "{trace}"
    );
    assert_eq!(body, b"Subject: trace\r\n\r\nbody\r\n");
}

#[test]
fn the_null_sender_and_several_recipients_in_the_trace() {
    let store = store();
    let mut s = greeted(&store);
    // The null reverse-path of bounces (RFC 5321 §4.5.5).
    expect(&mut s, "MAIL FROM:<>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<bob@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: bounce", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "bob");
    let (trace, _) = split_trace(&got[0]);
    let trace = std::str::from_utf8(trace).unwrap();
    assert!(trace.starts_with("Return-Path: <>\r\nReceived: from client.example"));
    // A `for` clause names one recipient; with two, none is given away.
    assert!(!trace.contains("for <"), "{trace}");
}

/// RFC 5321 §4.4: the TCP-info of a Received line is an address literal, and an IPv6
/// address literal is written `[IPv6:…]` (§4.1.3).
#[test]
fn an_ipv6_client_is_an_ipv6_address_literal_in_received() {
    let store = store();
    let peer: SocketAddr = "[::1]:40000".parse().unwrap();
    let (mut s, _) = Session::new(
        store.clone(),
        Arc::new(SmtpConfig::default()),
        peer,
        TlsState::default(),
    );
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: v6", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "alice");
    let (trace, _) = split_trace(&got[0]);
    let trace = std::str::from_utf8(trace).unwrap();
    assert!(
        trace.contains("Received: from client.example ([IPv6:::1])\r\n"),
        "{trace}"
    );
}

/// A message line may be longer than a command (RFC 5321 §4.5.3.1.6 asks for 1000
/// octets; real mail is longer): it is stored whole.
#[test]
fn a_long_message_line_is_stored_whole() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "DATA", "354");
    let long = "x".repeat(5000);
    send_lines(&mut s, &["Subject: long", "", &long]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "alice");
    let (_, body) = split_trace(&got[0]);
    let want = format!("Subject: long\r\n\r\n{long}\r\n");
    assert_eq!(body, want.as_bytes());
}

/// RFC 5321 §4.1.1.4: one delivery to every recipient or none. Several addresses naming
/// one account deliver one copy to it.
#[test]
fn several_recipients_each_get_the_message_once() {
    let store = store();
    let mut s = greeted(&store);
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    for to in [
        "alice@localhost",
        "bob@localhost",
        "ALICE@LOCALHOST",
        "alice@localhost",
        "Bob@[127.0.0.1]",
    ] {
        expect(&mut s, &format!("RCPT TO:<{to}>"), "250 2.1.5");
    }
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: many", "", "body"]);
    let (reply, _) = say(&mut s, ".");
    assert_eq!(status(&reply), "250 2.0.0");
    assert!(reply.contains("delivered to 2 mailboxes"), "{reply}");
    let alice = inbox(&store, "alice");
    let bob = inbox(&store, "bob");
    assert_eq!((alice.len(), bob.len()), (1, 1));
    assert_eq!(alice[0], bob[0]);
}

/// A recipient accepted at RCPT that no longer resolves when DATA starts refuses the
/// whole delivery (554, RFC 5321 §4.3.2): the other recipient gets nothing either.
#[test]
fn a_recipient_gone_before_data_delivers_to_none() {
    let store = store();
    store.add_account("carol", Secret::from("pw")).unwrap();
    store.add_local_domain("mail.test");
    let mut s = greeted(&store);
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<CAROL@mail.test>", "250 2.1.5");
    // Now mail.test is no longer a local domain.
    store.set_local_domains(Vec::<String>::new());
    expect(&mut s, "DATA", "554 5.1.0");
    assert!(is_command(s.shown()));
    for user in ["alice", "carol"] {
        assert!(inbox(&store, user).is_empty(), "{user}");
    }
    // The transaction is gone; the session goes on.
    expect(&mut s, "RCPT TO:<alice@localhost>", "503 5.5.1");
    expect(&mut s, "NOOP", "250 2.0.0");
}

// ---- limits ----

/// RFC 1870 §6: a SIZE= over the limit is refused up front with 552; one at the limit
/// is accepted.
#[test]
fn mail_size_over_the_limit_is_552_up_front() {
    let store = store();
    let config = SmtpConfig {
        max_message_size: 1000,
        ..SmtpConfig::default()
    };
    let mut s = open_with(&store, config, TlsState::default());
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com> SIZE=1001", "552 5.3.4");
    // No transaction was opened.
    expect(&mut s, "RCPT TO:<alice@localhost>", "503 5.5.1");
    expect(&mut s, "MAIL FROM:<a@example.com> SIZE=1000", "250 2.1.0");
}

/// RFC 1870 §4: a message that grows past the limit gets 552 (at the final ".") and is
/// not stored; the session goes on.
#[test]
fn a_message_past_the_limit_is_552_at_the_end_and_not_stored() {
    let store = store();
    let config = SmtpConfig {
        max_message_size: 1000,
        ..SmtpConfig::default()
    };
    let mut s = open_with(&store, config, TlsState::default());
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    let line = "0123456789".repeat(4);
    for _ in 0..30 {
        let (reply, _) = say(&mut s, &line);
        assert_eq!(reply, "");
    }
    assert!(matches!(s.shown(), Shown::Body));
    assert_eq!(expect(&mut s, ".", "552 5.3.4"), After::Continue);
    assert!(inbox(&store, "alice").is_empty());
    // The session goes on, and a small message goes through.
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: small", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    assert_eq!(inbox(&store, "alice").len(), 1);
}

/// RFC 1870 §5: the message size is what the client sends after 354 (CRLFs counted,
/// the final "." and stuffing dots not). A message of exactly the announced maximum is
/// accepted; the trace headers the server adds are its own.
#[test]
fn a_message_of_exactly_the_limit_is_accepted() {
    let store = store();
    let config = SmtpConfig {
        max_message_size: 1000,
        ..SmtpConfig::default()
    };
    let mut s = open_with(&store, config, TlsState::default());
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com> SIZE=1000", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    // Ten lines of 97 octets and CRLF (each sent stuffed), then 8 octets and CRLF: 1000.
    let line = format!(".{}", "y".repeat(97));
    for _ in 0..10 {
        send_lines(&mut s, &[&line]);
    }
    send_lines(&mut s, &["z".repeat(8).as_str()]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "alice");
    assert_eq!(split_trace(&got[0]).1.len(), 1000);
}

/// RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF.
#[test]
fn a_command_line_over_512_octets_is_500() {
    let store = store();
    let mut s = greeted(&store);
    let at_limit = format!("NOOP {}", "x".repeat(505));
    assert_eq!(at_limit.len() + 2, 512);
    expect(&mut s, &at_limit, "250 2.0.0");
    let over = format!("NOOP {}", "x".repeat(506));
    expect(&mut s, &over, "500 5.5.6");
    expect(&mut s, "NOOP", "250 2.0.0");
}

/// A line over the framing limit (`Line::TooLong`) outside DATA is answered 500 and the
/// session goes on, its transaction untouched.
#[test]
fn an_overlong_line_outside_data_is_500_and_the_session_goes_on() {
    let store = store();
    let mut s = open(&store);
    let r = s.handle(Line::TooLong);
    assert_eq!(status(std::str::from_utf8(&r.bytes).unwrap()), "500 5.5.6");
    assert_eq!(r.after, After::Continue);
    expect(&mut s, "EHLO client.example", "250");

    let mut s = in_transaction(&store);
    let r = s.handle(Line::TooLong);
    assert_eq!(status(std::str::from_utf8(&r.bytes).unwrap()), "500 5.5.6");
    assert_eq!(r.after, After::Continue);
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: after", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    assert_eq!(inbox(&store, "alice").len(), 1);
}

/// Inside DATA an overlong line damages the message: no reply then, 554 at the final
/// ".", nothing stored, and the session goes on.
#[test]
fn an_overlong_line_inside_data_is_554_at_the_end_and_nothing_stored() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: broken", ""]);
    let r = s.handle(Line::TooLong);
    assert!(r.bytes.is_empty());
    assert_eq!(r.after, After::Continue);
    assert!(matches!(s.shown(), Shown::Body));
    send_lines(&mut s, &["more", "QUIT"]);
    let r = s.handle(Line::Complete(".".into()));
    assert_eq!(status(std::str::from_utf8(&r.bytes).unwrap()), "554 5.6.0");
    assert_eq!(r.after, After::Continue);
    assert!(inbox(&store, "alice").is_empty());
    assert!(is_command(s.shown()));
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: whole", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    assert_eq!(inbox(&store, "alice").len(), 1);
}

/// During AUTH an overlong line ends the exchange with 500; it is not a failed login.
#[test]
fn an_overlong_line_during_auth_is_500_and_ends_the_exchange() {
    let store = store();
    let mut s = greeted(&store);
    expect(&mut s, "AUTH LOGIN", "334");
    let r = s.handle(Line::TooLong);
    assert_eq!(status(std::str::from_utf8(&r.bytes).unwrap()), "500 5.5.6");
    assert_eq!(r.after, After::Continue);
    assert!(is_command(s.shown()));
    assert_eq!(s.phase(), Phase::Unauthenticated);
    expect(&mut s, "NOOP", "250 2.0.0");
}

/// RFC 5321 §4.5.3.1.10: past the recipient limit, 452 (send the rest later); refused
/// recipients do not count.
#[test]
fn recipients_past_the_limit_get_452() {
    let store = store();
    store.add_account("carol", Secret::from("pw")).unwrap();
    let config = SmtpConfig {
        max_recipients: 2,
        ..SmtpConfig::default()
    };
    let mut s = open_with(&store, config, TlsState::default());
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<nobody@localhost>", "550 5.1.1");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<bob@localhost>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<carol@localhost>", "452 4.5.3");
    expect(&mut s, "RCPT TO:<alice@localhost>", "452 4.5.3");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: two", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    assert_eq!(inbox(&store, "alice").len(), 1);
    assert_eq!(inbox(&store, "bob").len(), 1);
    assert!(inbox(&store, "carol").is_empty());
}

/// RFC 5321 §3.6: nothing is relayed (550 5.7.1, RFC 3463 "delivery not authorized");
/// an unknown local user is 550 5.1.1, a name that cannot be a mailbox 553 5.1.3; a name
/// in another case is the same account (one identity per account).
#[test]
fn refused_recipients_get_their_codes() {
    let store = store();
    store.add_account("Carol", Secret::from("pw")).unwrap();
    let mut s = greeted(&store);
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    for (to, want) in [
        ("alice@example.com", "550 5.7.1"),
        ("alice@[192.0.2.1]", "550 5.7.1"),
        ("@relay.example:alice@example.com", "550 5.7.1"),
        ("nobody@localhost", "550 5.1.1"),
        ("a/b@localhost", "553 5.1.3"),
    ] {
        assert_eq!(
            expect(&mut s, &format!("RCPT TO:<{to}>"), want),
            After::Continue
        );
    }
    expect(&mut s, "DATA", "554 5.5.1");
    expect(&mut s, "RCPT TO:<CAROL@localhost>", "250 2.1.5");
    expect(&mut s, "RCPT TO:<Postmaster>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
}

// ---- AUTH (RFC 4954) ----

#[test]
fn auth_plain_with_an_initial_response() {
    let store = store();
    let mut s = greeted(&store);
    assert_eq!(
        expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0"),
        After::Continue
    );
    assert_eq!(s.phase(), Phase::Authenticated);
    assert!(is_command(s.shown()));
    // RFC 4954 §4: once authenticated, a second AUTH gets 503.
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1");
    assert_eq!(s.phase(), Phase::Authenticated);
    // RSET and a new EHLO keep the login.
    expect(&mut s, "RSET", "250 2.0.0");
    expect(&mut s, "EHLO client.example", "250");
    assert_eq!(s.phase(), Phase::Authenticated);
}

#[test]
fn auth_plain_without_an_initial_response() {
    let store = store();
    let mut s = greeted(&store);
    let (reply, after) = say(&mut s, "AUTH PLAIN");
    // RFC 4954 §4: an empty challenge is "334 " and nothing after it.
    assert_eq!((reply.as_str(), after), ("334 \r\n", After::Continue));
    assert!(matches!(s.shown(), Shown::Secret));
    assert_eq!(s.phase(), Phase::Unauthenticated);
    expect(&mut s, "AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);
    assert!(is_command(s.shown()));
}

#[test]
fn auth_login_step_by_step_and_with_an_initial_response() {
    let store = store();
    let mut s = greeted(&store);
    let (reply, _) = say(&mut s, "AUTH LOGIN");
    assert_eq!(reply, "334 VXNlcm5hbWU6\r\n"); // "Username:"
    assert!(matches!(s.shown(), Shown::Secret));
    let (reply, _) = say(&mut s, "Ym9i");
    assert_eq!(reply, "334 UGFzc3dvcmQ6\r\n"); // "Password:"
    assert!(matches!(s.shown(), Shown::Secret));
    assert_eq!(s.phase(), Phase::Unauthenticated);
    expect(&mut s, "aHVudGVyMg==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);

    let mut s = greeted(&store);
    let (reply, _) = say(&mut s, "AUTH login Ym9i");
    assert_eq!(reply, "334 UGFzc3dvcmQ6\r\n");
    expect(&mut s, "aHVudGVyMg==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);
}

/// RFC 4954 §4: "*" cancels the exchange with 501; it is not a failed login.
#[test]
fn auth_cancelled_with_a_star_is_501() {
    let store = store();
    for (start, steps) in [
        ("AUTH PLAIN", &[][..]),
        ("AUTH LOGIN", &[][..]),
        ("AUTH LOGIN", &["Ym9i"][..]),
    ] {
        let mut s = greeted(&store);
        expect(&mut s, start, "334");
        for step in steps {
            expect(&mut s, step, "334");
        }
        let (reply, after) = say(&mut s, "*");
        assert!(
            status(&reply).starts_with("501 "),
            "{start} {steps:?}: {reply}"
        );
        assert_eq!(after, After::Continue);
        assert_eq!(s.phase(), Phase::Unauthenticated);
        assert!(is_command(s.shown()));
        // The exchange is over: the next line is a command again.
        expect(&mut s, "NOOP", "250 2.0.0");
    }
}

/// RFC 4954 §4: a response that is not base64 is rejected with 501 (5.5.2, §6); not a
/// failed login either.
#[test]
fn auth_with_a_response_that_is_not_base64_is_501() {
    let store = store();
    for (start, steps) in [
        ("AUTH PLAIN", &[][..]),
        ("AUTH LOGIN", &[][..]),
        ("AUTH LOGIN", &["Ym9i"][..]),
    ] {
        let mut s = greeted(&store);
        expect(&mut s, start, "334");
        for step in steps {
            expect(&mut s, step, "334");
        }
        assert_eq!(
            expect(&mut s, "not base64!", "501 5.5.2"),
            After::Continue,
            "{start} {steps:?}"
        );
        assert_eq!(s.phase(), Phase::Unauthenticated);
        expect(&mut s, "NOOP", "250 2.0.0");
    }
    // An initial response in the base64 alphabet that does not decode (no padding).
    let mut s = greeted(&store);
    assert_eq!(
        expect(&mut s, "AUTH PLAIN abc", "501 5.5.2"),
        After::Continue
    );
    assert_eq!(
        expect(&mut s, "AUTH LOGIN abc", "501 5.5.2"),
        After::Continue
    );
    assert!(is_command(s.shown()));
}

/// RFC 4954 §6: 535 5.7.8 for wrong credentials, which the driver's login guard holds
/// back (`After::LoginFailed`); the session may try again.
#[test]
fn wrong_credentials_are_535_and_a_failed_login() {
    let store = store();
    let mut s = greeted(&store);
    // alice / wrong
    assert_eq!(
        expect(&mut s, "AUTH PLAIN AGFsaWNlAHdyb25n", "535 5.7.8"),
        After::LoginFailed
    );
    assert_eq!(s.phase(), Phase::Unauthenticated);
    assert!(is_command(s.shown()));
    expect(&mut s, "AUTH PLAIN", "334");
    assert_eq!(
        expect(&mut s, "AGFsaWNlAHdyb25n", "535 5.7.8"),
        After::LoginFailed
    );
    // nobody / secret
    assert_eq!(
        expect(&mut s, "AUTH PLAIN AG5vYm9keQBzZWNyZXQ=", "535 5.7.8"),
        After::LoginFailed
    );
    // bob acting as alice: no proxy authorization here.
    assert_eq!(
        expect(&mut s, "AUTH PLAIN Ym9iAGFsaWNlAHNlY3JldA==", "535 5.7.8"),
        After::LoginFailed
    );
    // LOGIN: bob / wrong
    expect(&mut s, "AUTH LOGIN Ym9i", "334");
    assert_eq!(expect(&mut s, "d3Jvbmc=", "535 5.7.8"), After::LoginFailed);
    assert_eq!(s.phase(), Phase::Unauthenticated);
    // Then the right password.
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);
}

#[test]
fn auth_refusals_before_the_exchange() {
    let store = store();
    let mut s = greeted(&store);
    // RFC 4954 §4: 504 for a mechanism not offered.
    expect(&mut s, "AUTH CRAM-MD5", "504 5.5.4");
    assert!(is_command(s.shown()));
    // RFC 4954 §4: no AUTH inside a mail transaction.
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1");
    assert_eq!(s.phase(), Phase::Unauthenticated);
}

/// An authenticated client's message says so in its Received line (RFC 3848: ESMTPA).
#[test]
fn an_authenticated_message_is_received_with_esmtpa() {
    let store = store();
    let mut s = greeted(&store);
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    expect(&mut s, "MAIL FROM:<alice@localhost>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<bob@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    assert_eq!(s.phase(), Phase::Authenticated);
    send_lines(&mut s, &["Subject: auth", "", "x"]);
    expect(&mut s, ".", "250 2.0.0");
    let got = inbox(&store, "bob");
    let (trace, _) = split_trace(&got[0]);
    let trace = std::str::from_utf8(trace).unwrap();
    assert!(trace.contains(" with ESMTPA id "), "{trace}");
}

// ---- TLS (RFC 3207) ----

fn upgradable() -> TlsState {
    TlsState {
        active: false,
        upgradable: true,
        required: false,
    }
}

/// RFC 3207 §4.2: after the handshake the server forgets the EHLO name and any AUTH;
/// the client must say EHLO again.
#[test]
fn starttls_resets_the_greeting_and_the_login() {
    let store = store();
    let mut s = open_with(&store, SmtpConfig::default(), upgradable());
    let (ehlo, _) = say(&mut s, "EHLO client.example");
    assert!(ehlo.contains("250-STARTTLS\r\n"), "{ehlo}");
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);
    assert_eq!(expect(&mut s, "STARTTLS", "220 2.0.0"), After::StartTls);
    s.tls_started();
    assert_eq!(s.phase(), Phase::Unauthenticated);
    assert!(is_command(s.shown()));
    expect(&mut s, "MAIL FROM:<a@example.com>", "503 5.5.1");
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "503 5.5.1");
    let (ehlo, _) = say(&mut s, "EHLO client.example");
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    // RFC 3207 §4.2: no second STARTTLS on a TLS connection.
    assert_eq!(expect(&mut s, "STARTTLS", "503 5.5.1"), After::Continue);
    // The earlier login is gone, so AUTH is not "already authenticated".
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    assert_eq!(s.phase(), Phase::Authenticated);
}

#[test]
fn starttls_is_refused_inside_a_transaction() {
    let store = store();
    let mut s = open_with(&store, SmtpConfig::default(), upgradable());
    expect(&mut s, "EHLO client.example", "250");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    assert_eq!(expect(&mut s, "STARTTLS", "503 5.5.1"), After::Continue);
    expect(&mut s, "RSET", "250 2.0.0");
    assert_eq!(expect(&mut s, "STARTTLS", "220 2.0.0"), After::StartTls);
}

/// With TLS required, mail and passwords wait for it: 530 for MAIL (RFC 3207 §4), 538
/// for AUTH (RFC 4954 §6), and EHLO offers no AUTH until then.
#[test]
fn required_tls_holds_back_mail_and_auth() {
    let store = store();
    let tls = TlsState {
        required: true,
        ..upgradable()
    };
    let mut s = open_with(&store, SmtpConfig::default(), tls);
    let (ehlo, _) = say(&mut s, "EHLO client.example");
    assert!(ehlo.contains("STARTTLS"), "{ehlo}");
    assert!(!ehlo.contains("AUTH"), "{ehlo}");
    expect(&mut s, "MAIL FROM:<a@example.com>", "530 5.7.0");
    assert_eq!(
        expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "538 5.7.11"),
        After::Continue
    );
    assert_eq!(s.phase(), Phase::Unauthenticated);
    expect(&mut s, "STARTTLS", "220 2.0.0");
    s.tls_started();
    let (ehlo, _) = say(&mut s, "EHLO client.example");
    assert!(ehlo.contains("AUTH PLAIN LOGIN"), "{ehlo}");
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    expect(&mut s, "MAIL FROM:<alice@localhost>", "250 2.1.0");
}

// ---- RSET and QUIT ----

/// RFC 5321 §4.1.1.5: RSET drops the transaction (its recipients too) but keeps the
/// greeting.
#[test]
fn rset_drops_the_transaction_and_keeps_the_greeting() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "RCPT TO:<bob@localhost>", "250 2.1.5");
    expect(&mut s, "RSET", "250 2.0.0");
    expect(&mut s, "RCPT TO:<bob@localhost>", "503 5.5.1");
    expect(&mut s, "DATA", "503 5.5.1");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: after rset", "", "x"]);
    let (reply, _) = say(&mut s, ".");
    assert!(reply.contains("delivered to 1 mailbox"), "{reply}");
    assert_eq!(inbox(&store, "alice").len(), 1);
    assert!(inbox(&store, "bob").is_empty());
}

/// RFC 5321 §4.1.1.10: QUIT gets 221 and the connection closes; an open transaction is
/// dropped undelivered.
#[test]
fn quit_is_221_and_closes() {
    let store = store();
    let mut s = in_transaction(&store);
    let (reply, after) = say(&mut s, "QUIT");
    assert_eq!(reply, "221 2.0.0 localhost closing connection\r\n");
    assert_eq!(after, After::Close);
    drop(s);
    assert!(inbox(&store, "alice").is_empty());
}

/// A session dropped in the middle of DATA (the client went away) delivers nothing.
#[test]
fn a_session_dropped_mid_data_delivers_nothing() {
    let store = store();
    let mut s = in_transaction(&store);
    expect(&mut s, "DATA", "354");
    send_lines(&mut s, &["Subject: half", "", "some of it"]);
    drop(s);
    assert!(inbox(&store, "alice").is_empty());
}

/// RFC 3848: the Received line's `with` names the protocol: SMTP after HELO, ESMTP after
/// EHLO, with S once TLS is on and A once the client authenticated.
#[test]
fn received_names_the_protocol_as_rfc_3848_registers_it() {
    let store = store();
    let peer: SocketAddr = "[::ffff:192.0.2.9]:40000".parse().unwrap();
    let tls = TlsState {
        active: true,
        ..TlsState::default()
    };
    for (greeting, tls) in [
        ("HELO client.example", TlsState::default()),
        ("EHLO client.example", tls),
    ] {
        let (mut s, _) = Session::new(store.clone(), Arc::new(SmtpConfig::default()), peer, tls);
        expect(&mut s, greeting, "250");
        expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
        expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
        expect(&mut s, "DATA", "354");
        send_lines(&mut s, &["Subject: proto", "", "x"]);
        expect(&mut s, ".", "250 2.0.0");
    }
    let got = inbox(&store, "alice");
    for (message, with) in got.iter().zip([" with SMTP id ", " with ESMTPS id "]) {
        let (trace, _) = split_trace(message);
        let trace = std::str::from_utf8(trace).unwrap();
        assert!(trace.contains(with), "{trace}");
        // An IPv4 client on a dual-stack socket is shown as IPv4.
        assert!(trace.contains("([192.0.2.9])"), "{trace}");
    }
}

/// RFC 4954 §6: with `require_auth`, MAIL before AUTH is 530 5.7.0 and no transaction is
/// opened; after a successful AUTH the same MAIL is accepted.
#[test]
fn require_auth_refuses_mail_until_auth() {
    let store = store();
    let config = SmtpConfig {
        require_auth: true,
        ..SmtpConfig::default()
    };
    let mut s = open_with(&store, config, TlsState::default());
    expect(&mut s, "EHLO client.example", "250");
    let (reply, _) = say(&mut s, "MAIL FROM:<a@example.com>");
    assert_eq!(reply, "530 5.7.0 Authentication required\r\n");
    expect(&mut s, "RCPT TO:<alice@localhost>", "503 5.5.1");
    expect(&mut s, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 2.7.0");
    expect(&mut s, "MAIL FROM:<a@example.com>", "250 2.1.0");
    expect(&mut s, "RCPT TO:<alice@localhost>", "250 2.1.5");
}
