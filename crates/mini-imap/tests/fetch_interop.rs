//! Interop faults that real clients and Dovecot's imaptest found (issue 15), replayed with
//! the exact bytes expected:
//! - message data (`BODY[...]`, `RFC822*`) is always a literal, `{0}\r\n` when empty;
//! - ENVELOPE shows group syntax and source routes as RFC 3501 §7.4.2 spells them;
//! - the TEXT of an encapsulated message runs to the end of its part, epilogue included.
//!
//! The section transcripts are imaptest's `fetch-body-mime` and
//! `fetch-body-message-rfc822-mime`; the envelopes are RFC 3501 §8's example and
//! imaptest's `fetch-envelope` messages.

use std::sync::Arc;
use std::time::Duration;

use mini_imap::session::{After, Session};
use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use yubin_store::{Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

/// A store whose INBOX holds `messages` (in wire form, CRLF).
fn store_with(messages: &[&str]) -> Store {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for m in messages {
        inbox.append(&crlf(m), &Flags::new(), None).expect("append");
    }
    store
}

fn crlf(text: &str) -> Vec<u8> {
    yubin_store::wire::to_crlf(text.as_bytes()).into_owned()
}

/// A session logged in as alice with INBOX examined (read-only: FETCH adds no FLAGS).
fn examined(messages: &[&str]) -> Session {
    let (mut s, _) = Session::new(store_with(messages), Arc::default(), Default::default());
    let r = ask(&mut s, "a LOGIN alice secret");
    assert!(String::from_utf8_lossy(&r).contains("a OK"));
    let r = ask(&mut s, "b EXAMINE INBOX");
    assert!(
        String::from_utf8_lossy(&r).contains("b OK [READ-ONLY]"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    s
}

/// Everything the session answers to one command line.
fn ask(s: &mut Session, line: &str) -> Vec<u8> {
    let mut reply = s.handle_frame(format!("{line}\r\n").as_bytes());
    let mut all = reply.bytes.to_vec();
    while reply.after == After::More {
        reply = s.resume();
        all.extend_from_slice(&reply.bytes);
    }
    all
}

fn assert_bytes(got: &[u8], expected: &[u8], what: &str) {
    assert!(
        got == expected,
        "{what}\n  got:      {:?}\n  expected: {:?}",
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(expected)
    );
}

// ---------------------------------------------------------------------------------------
// 1. Message data is always a literal.

/// `FETCH 1 (<item>)` answered with exactly `* 1 FETCH (<name> {n}\r\n<data>)`.
fn fetch_reply(tag: &str, name: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("* 1 FETCH ({name} {{{}}}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(format!(")\r\n{tag} OK FETCH completed\r\n").as_bytes());
    out
}

struct Conn {
    r: BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    async fn line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        tokio::time::timeout(STEP, self.r.read_until(b'\n', &mut buf))
            .await
            .expect("server answers in time")
            .unwrap();
        buf
    }

    /// Sends a command line, then reads up to and including the line tagged `tag`.
    async fn ask(&mut self, tag: &str, command: &str) -> Vec<u8> {
        let line = format!("{tag} {command}\r\n");
        tokio::time::timeout(STEP, self.w.write_all(line.as_bytes()))
            .await
            .expect("server reads in time")
            .unwrap();
        let mut all = Vec::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed after {all:?}");
            all.extend_from_slice(&line);
            if line.starts_with(format!("{tag} ").as_bytes()) {
                return all;
            }
        }
    }
}

#[tokio::test]
async fn short_and_empty_body_sections_arrive_as_literals_over_a_socket() {
    let message = "From: bulk@example.com\r\nSubject: short\r\n\r\nhi\r\n";
    let header = "From: bulk@example.com\r\nSubject: short\r\n\r\n";
    let store = store_with(&[message]);
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store,
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let tcp = tokio::time::timeout(STEP, TcpStream::connect(handle.local_addr()))
        .await
        .unwrap()
        .unwrap();
    let (r, w) = tcp.into_split();
    let mut c = Conn {
        r: BufReader::new(r),
        w,
    };
    assert!(c.line().await.starts_with(b"* OK"));
    assert!(String::from_utf8_lossy(&c.ask("a", "LOGIN alice secret").await).contains("a OK"));
    assert!(
        String::from_utf8_lossy(&c.ask("b", "EXAMINE INBOX").await).contains("b OK [READ-ONLY]")
    );

    // The case imaplib tripped over: ten octets of a header, once a quoted string.
    let r = c.ask("c", "FETCH 1 (BODY.PEEK[]<0.10>)").await;
    assert_bytes(
        &r,
        &fetch_reply("c", "BODY[]<0>", b"From: bulk"),
        "BODY[]<0.10>",
    );
    let r = c.ask("d", "FETCH 1 (BODY.PEEK[TEXT])").await;
    assert_bytes(&r, &fetch_reply("d", "BODY[TEXT]", b"hi\r\n"), "BODY[TEXT]");
    // RFC 3501 §6.4.5: "If the starting octet is beyond the end of the text, an empty
    // string is returned": an empty literal.
    let r = c.ask("e", "FETCH 1 (BODY.PEEK[TEXT]<50.10>)").await;
    assert_bytes(
        &r,
        &fetch_reply("e", "BODY[TEXT]<50>", b""),
        "beyond the end",
    );
    // A subset of no fields is the blank line alone.
    let r = c
        .ask("f", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (X-NONE)])")
        .await;
    assert_bytes(
        &r,
        &fetch_reply("f", "BODY[HEADER.FIELDS (X-NONE)]", b"\r\n"),
        "HEADER.FIELDS of no field",
    );
    // A part the message does not have is empty, as Dovecot answers it.
    let r = c.ask("g", "FETCH 1 (BODY.PEEK[2])").await;
    assert_bytes(&r, &fetch_reply("g", "BODY[2]", b""), "missing part");
    // RFC822, RFC822.HEADER and RFC822.TEXT, several in one response.
    let r = c
        .ask("h", "FETCH 1 (RFC822.HEADER RFC822.TEXT RFC822)")
        .await;
    let expected = format!(
        "* 1 FETCH (RFC822.HEADER {{{}}}\r\n{header} RFC822.TEXT {{4}}\r\nhi\r\n RFC822 {{{}}}\r\n{message})\r\nh OK FETCH completed\r\n",
        header.len(),
        message.len()
    );
    assert_bytes(&r, expected.as_bytes(), "RFC822 items");
    assert!(
        c.ask("z", "LOGOUT")
            .await
            .ends_with(b"z OK LOGOUT completed\r\n")
    );
    handle.stop().await;
}

// ---------------------------------------------------------------------------------------
// 2. ENVELOPE: groups, comments, source routes.

/// The header of RFC 3501 §8's example message, whose ENVELOPE the RFC gives.
const RFC3501_EXAMPLE: &str = "Date: Wed, 17 Jul 1996 02:23:25 -0700 (PDT)
From: Terry Gray <gray@cac.washington.edu>
Subject: IMAP4rev1 WG mtg summary and minutes
To: imap@cac.washington.edu
cc: minutes@CNRI.Reston.VA.US, John Klensin <KLENSIN@MIT.EDU>
Message-Id: <B27397-0100000@cac.washington.edu>
MIME-Version: 1.0
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

body
";

const GROUPS: &str = "Date: Sat, 01 Feb 2007 01:02:03 +0200
From: user@domain (Real Name)
To: group: g1@d1.org, g2@d2.org;, group2: g3@d3.org;
Cc: group:;, group2: (foo) ;

body
";

/// Sender and Reply-To present with nothing but a space.
const EMPTY_SENDER: &str = "Date: Sat, 01 Feb 2007 01:02:03 +0200
From: user@domain (Real Name)
Sender: \nReply-To: \n
body
";

const ROUTE: &str = "Date: Sat, 01 Feb 2007 01:02:03 +0200
From: <@route:user@domain>

body
";

#[test]
fn envelope_shows_groups_comments_and_source_routes() {
    let mut s = examined(&[RFC3501_EXAMPLE, GROUPS, EMPTY_SENDER, ROUTE]);
    let r = ask(&mut s, "c FETCH 1:4 ENVELOPE");
    // RFC 3501 §8 prints a space between the two cc addresses; its grammar
    // (`env-cc = "(" 1*address ")"`) has none, and Dovecot sends none: the grammar wins.
    let expected = [
        r#"* 1 FETCH (ENVELOPE ("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) ((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL "<B27397-0100000@cac.washington.edu>"))"#,
        // A group starts with (NIL NIL "name" NIL), ends with (NIL NIL NIL NIL), lists
        // its members between; a comment in a group is no address; a comment after a
        // bare address names it.
        r#"* 2 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) ((NIL NIL "group" NIL)(NIL NIL "g1" "d1.org")(NIL NIL "g2" "d2.org")(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL "g3" "d3.org")(NIL NIL NIL NIL)) ((NIL NIL "group" NIL)(NIL NIL NIL NIL)(NIL NIL "group2" NIL)(NIL NIL NIL NIL)) NIL NIL NIL))"#,
        // Empty Sender and Reply-To default to From (RFC 3501 §7.4.2).
        r#"* 3 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) (("Real Name" NIL "user" "domain")) NIL NIL NIL NIL NIL))"#,
        // A source route goes in the adl field.
        r#"* 4 FETCH (ENVELOPE ("Sat, 01 Feb 2007 01:02:03 +0200" NIL ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) ((NIL "@route" "user" "domain")) NIL NIL NIL NIL NIL))"#,
    ];
    let mut want = expected.join("\r\n").into_bytes();
    want.extend_from_slice(b"\r\nc OK FETCH completed\r\n");
    assert_bytes(&r, &want, "ENVELOPE");
}

#[test]
fn envelope_of_an_encapsulated_message_reads_its_groups_too() {
    let message = "From: a@example.com
Subject: fwd
Content-Type: message/rfc822

From: <@hop.example:b@example.com>
Cc: team: c@example.com (Carol);

inner
";
    let mut s = examined(&[message]);
    let r = String::from_utf8(ask(&mut s, "c FETCH 1 BODYSTRUCTURE")).unwrap();
    assert!(
        r.contains(r#"((NIL "@hop.example" "b" "example.com"))"#),
        "{r}"
    );
    assert!(
        r.contains(r#"((NIL NIL "team" NIL)("Carol" NIL "c" "example.com")(NIL NIL NIL NIL))"#),
        "{r}"
    );
}

// ---------------------------------------------------------------------------------------
// 3. Sections of encapsulated messages, byte for byte.

/// imaptest's `fetch-body-mime` message: a message/rfc822 part whose body is a multipart
/// with a preamble and an epilogue, inside a multipart whose boundary is folded.
const NESTED_IN_MULTIPART: &str = "From: user@domain.org
Date: Sat, 24 Mar 2007 23:00:00 +0200
Mime-Version: 1.0
Content-Type: multipart/mixed; boundary=\"foo
 bar\"

Root MIME prologue

--foo bar
Content-Type: text/x-myown; charset=us-ascii

hello

--foo bar
Content-Type: message/rfc822

From: sub@domain.org
Date: Sun, 12 Aug 2012 12:34:56 +0300
Subject: submsg
Content-Type: multipart/alternative; boundary=\"sub1\"

Sub MIME prologue
--sub1
Content-Type: text/html

<p>Hello world</p>

--sub1
Content-Type: text/plain

Hello another world

--sub1--
Sub MIME epilogue

--foo bar--
Root MIME epilogue
";

/// imaptest's `fetch-body-message-rfc822-mime` message: the whole message is a
/// message/rfc822 whose body is a multipart/digest (parts default to message/rfc822;
/// boundary lines with transport padding) with an epilogue that no outer boundary follows.
const RFC822_OF_DIGEST: &str = "From: user@domain.org
Date: Sat, 24 Mar 2007 23:00:00 +0200
Mime-Version: 1.0
Content-Type: message/rfc822

From: sub@domain.org
Date: Sun, 12 Aug 2012 12:34:56 +0300
Subject: submsg
Content-Type: multipart/digest; boundary=\"foo\"

prologue

--foo \n
From: m1@example.com
Subject: m1

m1 body

--foo \nX-Mime: m2 header

From: m2@example.com
Subject: m2

m2 body

--foo--

epilogue
";

/// The part of `whole` from the line starting with `from` (`""`: the start) to the end,
/// or to just before the line starting with `to`.
fn cut<'a>(whole: &'a str, from: &str, to: Option<&str>) -> &'a str {
    let start = if from.is_empty() {
        0
    } else {
        whole.find(&format!("\n{from}")).expect(from) + 1
    };
    let end = match to {
        Some(t) => start + whole[start..].find(&format!("\n{t}")).expect(t) + 1,
        None => whole.len(),
    };
    &whole[start..end]
}

/// Fetches every `(section, expected)` pair, whole and in partial ranges, and checks the
/// exact response.
fn replay(message: &str, table: &[(&str, &str)]) {
    let mut s = examined(&[message]);
    for (k, (section, expected)) in table.iter().enumerate() {
        let expected = crlf(expected);
        let tag = format!("s{k}");
        let r = ask(&mut s, &format!("{tag} FETCH 1 (BODY.PEEK[{section}])"));
        assert_bytes(
            &r,
            &fetch_reply(&tag, &format!("BODY[{section}]"), &expected),
            section,
        );
        let n = expected.len() as u32;
        for (origin, count) in [
            (0, 1),
            (3, 7),
            (n.saturating_sub(2), 10),
            (n, 5),
            (n + 7, 5),
        ] {
            let tag = format!("p{k}x{origin}");
            let r = ask(
                &mut s,
                &format!("{tag} FETCH 1 (BODY.PEEK[{section}]<{origin}.{count}>)"),
            );
            let start = (origin as usize).min(expected.len());
            let end = (start + count as usize).min(expected.len());
            assert_bytes(
                &r,
                &fetch_reply(
                    &tag,
                    &format!("BODY[{section}]<{origin}>"),
                    &expected[start..end],
                ),
                &format!("{section}<{origin}.{count}>"),
            );
        }
    }
}

#[test]
fn sections_of_a_message_part_inside_a_multipart_are_byte_exact() {
    let m = NESTED_IN_MULTIPART;
    let sub = cut(m, "From: sub@", Some("--foo bar--"));
    // The part ends before the CRLF that opens the next boundary line.
    let sub = &sub[..sub.len() - 1];
    let sub_text = cut(sub, "Sub MIME prologue", None);
    let table = [
        ("", m),
        ("TEXT", cut(m, "Root MIME prologue", None)),
        ("1", "hello\n"),
        ("1.MIME", "Content-Type: text/x-myown; charset=us-ascii\n\n"),
        ("2", sub),
        ("2.MIME", "Content-Type: message/rfc822\n\n"),
        ("2.HEADER", cut(sub, "", Some("Sub MIME prologue"))),
        (
            "2.HEADER.FIELDS (FROM SUBJECT X-FOO)",
            "From: sub@domain.org\nSubject: submsg\n\n",
        ),
        (
            "2.HEADER.FIELDS.NOT (FROM SUBJECT X-FOO)",
            "Date: Sun, 12 Aug 2012 12:34:56 +0300\nContent-Type: multipart/alternative; boundary=\"sub1\"\n\n",
        ),
        ("2.TEXT", sub_text),
        ("2.1.MIME", "Content-Type: text/html\n\n"),
        ("2.1", "<p>Hello world</p>\n"),
        ("2.2.MIME", "Content-Type: text/plain\n\n"),
        ("2.2", "Hello another world\n"),
    ];
    assert!(sub_text.ends_with("--sub1--\nSub MIME epilogue\n"));
    replay(m, &table);
}

#[test]
fn text_of_an_attached_multipart_message_keeps_its_epilogue() {
    let m = RFC822_OF_DIGEST;
    let inner = cut(m, "From: sub@", None);
    let inner_text = cut(m, "prologue", None);
    assert!(inner_text.ends_with("--foo--\n\nepilogue\n"));
    let table = [
        ("", m),
        ("TEXT", inner),
        ("1", inner),
        ("1.HEADER", cut(inner, "", Some("prologue"))),
        // The fault: this stopped after `--foo--`.
        ("1.TEXT", inner_text),
        ("1.1", "From: m1@example.com\nSubject: m1\n\nm1 body\n"),
        ("1.1.MIME", "\n"),
        ("1.1.HEADER", "From: m1@example.com\nSubject: m1\n\n"),
        ("1.1.TEXT", "m1 body\n"),
        ("1.2", "From: m2@example.com\nSubject: m2\n\nm2 body\n"),
        ("1.2.MIME", "X-Mime: m2 header\n\n"),
        ("1.2.HEADER", "From: m2@example.com\nSubject: m2\n\n"),
        ("1.2.TEXT", "m2 body\n"),
    ];
    replay(m, &table);
}
