//! Interop faults real clients and Dovecot's imaptest found, over real sockets, with the
//! bytes RFC 3501 fixes: SEARCH HEADER/TEXT on the field text as written (imapflow and
//! IMAPClient look a message up by `HEADER Message-ID <id>`); a keyword new to the
//! client announced with FLAGS and PERMANENTFLAGS before a FETCH shows it (§7.2.6);
//! COPY and MOVE into the selected mailbox itself (RFC 6851, as Dovecot does it); an ID
//! of RFC 2971's largest size, before login too (imaptest's `id` group sends it there);
//! SEARCH FROM by the address as ENVELOPE gives it (imaptest's `search-addresses`).

use std::time::Duration;

use mini_imap::codec::CodecLimits;
use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flag, FlagOp, Flags, Secret, Store};

const STEP: Duration = Duration::from_secs(10);

/// A server over a store whose INBOX holds `messages` (with their flags).
async fn start(messages: &[(&[u8], Flags)]) -> (ServerHandle, Store) {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for (m, flags) in messages {
        inbox.append(m, flags, None).unwrap();
    }
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store)
}

struct Conn {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
}

impl Conn {
    async fn open(handle: &ServerHandle) -> Conn {
        let tcp = tokio::time::timeout(STEP, TcpStream::connect(handle.local_addr()))
            .await
            .unwrap()
            .unwrap();
        let (r, w) = tcp.into_split();
        let mut c = Conn {
            r: BufReader::new(r),
            w,
        };
        assert!(c.line().await.starts_with("* OK"));
        c
    }

    /// A connection logged in as alice, with `command` (SELECT or EXAMINE) given.
    async fn selected(handle: &ServerHandle, command: &str) -> (Conn, String) {
        let mut c = Conn::open(handle).await;
        let r = c.ask(b"l LOGIN alice secret\r\n", "l").await;
        assert!(r.starts_with("l OK"), "{r}");
        let r = c
            .ask(format!("s {command} INBOX\r\n").as_bytes(), "s")
            .await;
        assert!(r.contains("s OK"), "{r}");
        (c, r)
    }

    async fn line(&mut self) -> String {
        let mut buf = Vec::new();
        tokio::time::timeout(STEP, self.r.read_until(b'\n', &mut buf))
            .await
            .expect("server answers in time")
            .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// Sends, then reads until the line tagged `tag`; returns everything read.
    async fn ask(&mut self, bytes: &[u8], tag: &str) -> String {
        tokio::time::timeout(STEP, self.w.write_all(bytes))
            .await
            .unwrap()
            .unwrap();
        let mut all = String::new();
        loop {
            let line = self.line().await;
            assert!(!line.is_empty(), "connection closed; so far: {all}");
            all.push_str(&line);
            if line.starts_with(&format!("{tag} ")) {
                return all;
            }
        }
    }
}

/// The UIDVALIDITY a SELECT response gives.
fn uid_validity(select: &str) -> u32 {
    let rest = select.split("[UIDVALIDITY ").nth(1).expect("UIDVALIDITY");
    rest.split(']').next().unwrap().parse().unwrap()
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

const FRANK: &[u8] = b"From: \"Frank\" <frank@example.com>\r\n\
To: alice@example.com\r\n\
Message-ID: <id1@host.example>\r\n\
Content-Type: text/plain;\r\n charset=utf-8\r\n\
Subject: a folded\r\n\tsubject line\r\n\
\r\n\
first body\r\n";

const BOB: &[u8] = b"From: bob@example.com\r\n\
Message-ID: <id2@host.example>\r\n\
Subject: =?UTF-8?Q?hello_world?=\r\n\
\r\n\
Frank's message was <id1@host.example>.\r\n";

const BARE: &[u8] = b"Subject:\r\n\r\nno other fields\r\n";

#[tokio::test]
async fn search_header_and_text_match_the_field_text_as_written() {
    let (handle, _store) = start(&[
        (FRANK, Flags::new()),
        (BOB, Flags::new()),
        (BARE, Flags::new()),
    ])
    .await;
    let (mut c, _) = Conn::selected(&handle, "SELECT").await;
    let table: &[(&str, &str)] = &[
        // The angle brackets of a Message-ID are text after the colon (RFC 3501 §6.4.4).
        ("HEADER Message-ID <id1@host.example>", " 1"),
        ("HEADER Message-ID \"<id2@host.example>\"", " 2"),
        ("HEADER MESSAGE-ID ID2@HOST", " 2"),
        // Parameters of a structured field, on a folded line.
        ("HEADER Content-Type charset", " 1"),
        ("HEADER Content-Type \"plain; charset=utf-8\"", " 1"),
        // A quote of a quoted display name.
        ("HEADER From \"\\\"Frank\"", " 1"),
        ("FROM frank", " 1"),
        // Unfolded: the line break goes, the white space stays.
        ("HEADER Subject \"folded\tsubject\"", " 1"),
        ("SUBJECT \"a folded\tsubject line\"", " 1"),
        // Decoded encoded words match, and so does the text as written.
        ("SUBJECT \"hello world\"", " 2"),
        ("SUBJECT \"=?UTF-8?Q?hello\"", " 2"),
        // The empty string matches every message that has the field.
        ("HEADER Content-Type \"\"", " 1"),
        ("HEADER Subject \"\"", " 1 2 3"),
        ("HEADER X-Absent \"\"", ""),
        ("NOT HEADER Message-ID \"\"", " 3"),
        // TEXT covers the header and the body.
        ("TEXT \"<id1@host.example>\"", " 1 2"),
        ("TEXT \"<id2@host.example>\"", " 2"),
        ("TEXT \"first body\"", " 1"),
        ("TEXT \"hello world\"", " 2"),
        ("TEXT nowhere", ""),
    ];
    for (i, (key, hits)) in table.iter().enumerate() {
        let tag = format!("q{i}");
        let r = c
            .ask(format!("{tag} SEARCH {key}\r\n").as_bytes(), &tag)
            .await;
        assert_eq!(
            r,
            format!("* SEARCH{hits}\r\n{tag} OK SEARCH completed\r\n"),
            "{key}"
        );
    }
    let r = c
        .ask(
            b"u UID SEARCH HEADER Message-ID <id2@host.example>\r\n",
            "u",
        )
        .await;
    assert_eq!(r, "* SEARCH 2\r\nu OK UID SEARCH completed\r\n");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

const FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// The announcement of a new keyword set (RFC 3501 §7.2.6); `writable` adds
/// PERMANENTFLAGS.
fn announced(keywords: &str, writable: bool) -> String {
    let mut s = format!("* FLAGS ({FLAGS} {keywords})\r\n");
    if writable {
        s.push_str(&format!(
            "* OK [PERMANENTFLAGS ({FLAGS} {keywords} \\*)] Flags permitted\r\n"
        ));
    }
    s
}

#[tokio::test]
async fn a_new_keyword_is_announced_before_a_fetch_shows_it() {
    let (handle, store) = start(&[
        (b"Subject: one\r\n\r\none\r\n", Flags::new()),
        (b"Subject: two\r\n\r\ntwo\r\n", Flags::new()),
    ])
    .await;
    let (mut a, select) = Conn::selected(&handle, "SELECT").await;
    assert!(
        select.starts_with(&format!("* FLAGS ({FLAGS})\r\n")),
        "{select}"
    );
    let (mut b, _) = Conn::selected(&handle, "SELECT").await;
    let (mut ro, _) = Conn::selected(&handle, "EXAMINE").await;

    // This session's STORE: FLAGS and PERMANENTFLAGS first, then the FETCH.
    let r = a.ask(b"a1 STORE 1 +FLAGS ($Label1)\r\n", "a1").await;
    assert_eq!(
        r,
        format!(
            "{}* 1 FETCH (FLAGS ($Label1 \\Recent))\r\na1 OK STORE completed\r\n",
            announced("$Label1", true)
        )
    );
    // Known now: not announced again.
    let r = a.ask(b"a2 STORE 2 +FLAGS ($Label1)\r\n", "a2").await;
    assert_eq!(
        r,
        "* 2 FETCH (FLAGS ($Label1 \\Recent))\r\na2 OK STORE completed\r\n"
    );
    // Another session's STORE: announced with the update that shows it.
    let r = b.ask(b"b1 NOOP\r\n", "b1").await;
    assert_eq!(
        r,
        format!(
            "{}* 1 FETCH (FLAGS ($Label1))\r\n* 2 FETCH (FLAGS ($Label1))\r\nb1 OK NOOP completed\r\n",
            announced("$Label1", true)
        )
    );
    // A read-only session's permanent flags stay `()`: only FLAGS changes.
    let r = ro.ask(b"r1 NOOP\r\n", "r1").await;
    assert_eq!(
        r,
        format!(
            "{}* 1 FETCH (FLAGS ($Label1))\r\n* 2 FETCH (FLAGS ($Label1))\r\nr1 OK NOOP completed\r\n",
            announced("$Label1", false)
        )
    );

    // A keyword named like NIL is an atom (flag-keyword = atom): STORE, FETCH, SEARCH.
    let r = a.ask(b"a3 STORE 2 +FLAGS (NIL)\r\n", "a3").await;
    assert_eq!(
        r,
        format!(
            "{}* 2 FETCH (FLAGS ($Label1 NIL \\Recent))\r\na3 OK STORE completed\r\n",
            announced("$Label1 NIL", true)
        )
    );
    let r = a.ask(b"a4 FETCH 1:2 FLAGS\r\n", "a4").await;
    assert_eq!(
        r,
        "* 1 FETCH (FLAGS ($Label1 \\Recent))\r\n* 2 FETCH (FLAGS ($Label1 NIL \\Recent))\r\n\
         a4 OK FETCH completed\r\n"
    );
    let r = a.ask(b"a5 SEARCH KEYWORD NIL\r\n", "a5").await;
    assert_eq!(r, "* SEARCH 2\r\na5 OK SEARCH completed\r\n");
    let r = a.ask(b"a6 SEARCH UNKEYWORD nil\r\n", "a6").await;
    assert_eq!(r, "* SEARCH 1\r\na6 OK SEARCH completed\r\n");
    let r = a.ask(b"a7 STORE 2 -FLAGS NIL\r\n", "a7").await;
    assert_eq!(
        r,
        "* 2 FETCH (FLAGS ($Label1 \\Recent))\r\na7 OK STORE completed\r\n"
    );

    // .SILENT sends no FETCH, but the new keyword is announced all the same.
    let r = a.ask(b"a8 STORE 1 +FLAGS.SILENT (Later)\r\n", "a8").await;
    assert_eq!(
        r,
        format!(
            "{}a8 OK STORE completed\r\n",
            announced("$Label1 Later NIL", true)
        )
    );

    // Another writer adds a keyword while this session's FETCH marks the message \Seen:
    // the FETCH leaves the unannounced keyword out, and the report that follows
    // announces it, then gives the whole flags.
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .set_flags(&[2], FlagOp::Add, &flags(&[Flag::Keyword("Other".into())]))
        .unwrap();
    let r = b.ask(b"b2 FETCH 2 (FLAGS BODY[TEXT])\r\n", "b2").await;
    let first = r
        .find("* 2 FETCH (FLAGS (\\Seen $Label1) BODY[TEXT]")
        .expect(&r);
    let flags_at = r
        .find(&announced("$Label1 Later NIL Other", true))
        .expect(&r);
    let update = r
        .find("* 2 FETCH (FLAGS (\\Seen $Label1 Other))\r\nb2 OK FETCH completed\r\n")
        .expect(&r);
    assert!(first < flags_at && flags_at < update, "{r}");
    assert!(!r[..flags_at].contains("Other"), "{r}");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

#[tokio::test]
async fn copy_and_move_into_the_selected_mailbox_give_new_uids() {
    let (handle, _store) = start(&[
        (b"Subject: one\r\n\r\none\r\n", Flags::new()),
        (b"Subject: two\r\n\r\ntwo\r\n", flags(&[Flag::Flagged])),
        (b"Subject: three\r\n\r\nthree\r\n", Flags::new()),
    ])
    .await;
    let (mut c, select) = Conn::selected(&handle, "SELECT").await;
    let v = uid_validity(&select);
    let (mut other, _) = Conn::selected(&handle, "SELECT").await;

    // COPY adds a copy under a new UID (RFC 4315 COPYUID).
    let r = c.ask(b"c1 UID COPY 1 INBOX\r\n", "c1").await;
    assert_eq!(
        r,
        format!("* 4 EXISTS\r\n* 4 RECENT\r\nc1 OK [COPYUID {v} 1 4] UID COPY completed\r\n")
    );
    // MOVE gives the message a new UID: COPYUID, the old number's EXPUNGE, then EXISTS
    // (what Dovecot sends, and what imaptest's `move` test expects).
    let r = c.ask(b"m1 MOVE 2 INBOX\r\n", "m1").await;
    assert_eq!(
        r,
        format!(
            "* OK [COPYUID {v} 2 5] Moved\r\n* 2 EXPUNGE\r\n* 4 EXISTS\r\n* 4 RECENT\r\n\
             m1 OK MOVE completed\r\n"
        )
    );
    let r = c.ask(b"f1 UID FETCH 1:* (UID FLAGS)\r\n", "f1").await;
    assert_eq!(
        r,
        "* 1 FETCH (UID 1 FLAGS (\\Recent))\r\n* 2 FETCH (UID 3 FLAGS (\\Recent))\r\n\
         * 3 FETCH (UID 4 FLAGS (\\Recent))\r\n* 4 FETCH (UID 5 FLAGS (\\Flagged \\Recent))\r\n\
         f1 OK UID FETCH completed\r\n"
    );
    // UID MOVE of several, in the order given; a UID that does not exist is skipped.
    let r = c.ask(b"m2 UID MOVE 3,1,99 INBOX\r\n", "m2").await;
    assert_eq!(
        r,
        format!(
            "* OK [COPYUID {v} 1,3 6:7] Moved\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\n\
             * 4 EXISTS\r\n* 4 RECENT\r\nm2 OK UID MOVE completed\r\n"
        )
    );
    let r = c.ask(b"f2 UID SEARCH ALL\r\n", "f2").await;
    assert_eq!(r, "* SEARCH 4 5 6 7\r\nf2 OK UID SEARCH completed\r\n");
    let r = c.ask(b"f3 FETCH 3 BODY.PEEK[TEXT]\r\n", "f3").await;
    assert!(r.contains("one\r\n"), "UID 6 is the old UID 1: {r}");
    // Another session sees the old UIDs go and the new ones come.
    // EXPUNGE is withheld during SEARCH (RFC 3501 §7.4.1); EXISTS is not.
    let r = other.ask(b"o1 UID SEARCH ALL\r\n", "o1").await;
    assert_eq!(
        r,
        "* SEARCH 1 2 3\r\n* 7 EXISTS\r\n* 0 RECENT\r\no1 OK UID SEARCH completed\r\n"
    );
    let r = other.ask(b"o2 NOOP\r\n", "o2").await;
    assert_eq!(
        r,
        "* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n* 1 EXPUNGE\r\no2 OK NOOP completed\r\n"
    );
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

/// `ID` with 30 field/value pairs of 1024 octets, RFC 2971 §3.3's largest.
fn largest_id(tag: &str) -> Vec<u8> {
    let mut line = format!("{tag} ID (").into_bytes();
    for i in 0..30 {
        if i > 0 {
            line.push(b' ');
        }
        let value = "v".repeat(1024);
        line.extend_from_slice(format!("\"field-{i:02}\" \"{value}\"").as_bytes());
    }
    line.extend_from_slice(b")\r\n");
    line
}

#[tokio::test]
async fn after_login_a_long_command_line_is_answered() {
    assert!(CodecLimits::default().max_line >= 64 * 1024);
    assert!(CodecLimits::before_login().max_line >= 8192);
    assert!(CodecLimits::before_login().max_line < CodecLimits::default().max_line);
    let (handle, _store) = start(&[]).await;
    let mut c = Conn::open(&handle).await;
    let id = largest_id("i1");
    assert!(id.len() > 30 * 1024, "{}", id.len());
    // ID is valid in any state (RFC 2971 §3.1): its largest form is answered before login.
    let r = c.ask(&id, "i1").await;
    assert!(r.ends_with("i1 OK ID completed\r\n"), "{r}");
    // Past the limit before login: BAD, and the session goes on.
    let mut over = b"y NOOP ".to_vec();
    over.extend(std::iter::repeat_n(
        b'y',
        CodecLimits::before_login().max_line,
    ));
    over.extend_from_slice(b"\r\n");
    let r = c.ask(&over, "y").await;
    assert_eq!(r, "y BAD Line too long\r\n");
    let r = c.ask(b"l LOGIN alice secret\r\n", "l").await;
    assert!(r.starts_with("l OK"), "{r}");
    let r = c.ask(&largest_id("i2"), "i2").await;
    assert!(r.starts_with("* ID (\"name\" \"yubin\""), "{r}");
    assert!(r.ends_with("i2 OK ID completed\r\n"), "{r}");
    // A long UID set, as a client with a big mailbox sends it.
    let set: Vec<String> = (1..8000).step_by(2).map(|u| u.to_string()).collect();
    let line = format!("f UID FETCH {} FLAGS\r\n", set.join(","));
    assert!(line.len() > 16 * 1024);
    let r = c.ask(b"s SELECT INBOX\r\n", "s").await;
    assert!(r.contains("s OK"), "{r}");
    let r = c.ask(line.as_bytes(), "f").await;
    assert_eq!(r, "f OK UID FETCH completed\r\n");
    // The limit still holds after login: past it, BAD, and the session goes on.
    let mut over = b"x NOOP ".to_vec();
    over.extend(std::iter::repeat_n(b'x', CodecLimits::default().max_line));
    over.extend_from_slice(b"\r\n");
    let r = c.ask(&over, "x").await;
    assert_eq!(r, "x BAD Line too long\r\n");
    let r = c.ask(b"n NOOP\r\n", "n").await;
    assert_eq!(r, "n OK NOOP completed\r\n");
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}

/// RFC 3501 §6.4.4: FROM (TO, CC, BCC) matches the envelope's field, so the address as
/// ENVELOPE gives it is found even where the header splits it with comments; the text
/// as written is still found too (imaptest `search-addresses`).
#[tokio::test]
async fn search_from_matches_the_envelope_address() {
    let commented: &[u8] =
        b"From: <user-from (comment)@ (comment) domain.org>\r\nSubject: a\r\n\r\nx\r\n";
    let plain: &[u8] = b"From: Other <other@domain.org>\r\nSubject: b\r\n\r\ny\r\n";
    let (handle, _store) = start(&[(commented, Flags::new()), (plain, Flags::new())]).await;
    let (mut c, _) = Conn::selected(&handle, "SELECT").await;
    for (query, want) in [
        ("FROM user-from@domain.org", "* SEARCH 1"),
        ("FROM USER-FROM@DOMAIN.ORG", "* SEARCH 1"),
        ("FROM comment", "* SEARCH 1"),
        ("FROM @domain.org", "* SEARCH 1 2"),
        ("FROM other@domain.org", "* SEARCH 2"),
        ("FROM user-from@other.org", "* SEARCH"),
        ("TO user-from@domain.org", "* SEARCH"),
    ] {
        let r = c.ask(format!("q SEARCH {query}\r\n").as_bytes(), "q").await;
        assert!(r.starts_with(&format!("{want}\r\n")), "{query}: {r}");
    }
    tokio::time::timeout(STEP, handle.stop()).await.unwrap();
}
