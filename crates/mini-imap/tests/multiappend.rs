//! MULTIAPPEND (RFC 3502) over a socket: several messages in one APPEND, all or none,
//! with every UID in APPENDUID (RFC 4315 §3 as RFC 3502 modifies it), whether the
//! messages are framed whole or streamed.

mod raw;

use raw::{Raw, start, tagged, untagged};
use yubin_store::Store;

/// RFC 3502 §6.3.11's example messages, in wire form (329 and 295 octets, as there).
const FRED: &str = "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n\
From: Fred Foobar <foobar@Blurdybloop.example.COM>\r\n\
Subject: afternoon meeting\r\n\
To: mooch@owatagu.example.net\r\n\
Message-Id: <B27397-0100000@Blurdybloop.example.COM>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const JOE: &str = "Date: Mon, 7 Feb 1994 22:43:04 -0800 (PST)\r\n\
From: Joe Mooch <mooch@OWaTaGu.example.net>\r\n\
Subject: Re: afternoon meeting\r\n\
To: foobar@blurdybloop.example.com\r\n\
Message-Id: <a0434793874930@OWaTaGu.example.net>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n\
\r\n\
3:30 is fine with me.\r\n";

/// The messages of a mailbox as the store has them.
fn stored(store: &Store, mailbox: &str) -> Vec<Vec<u8>> {
    let m = store.account("alice").unwrap().mailbox(mailbox).unwrap();
    m.messages()
        .unwrap()
        .iter()
        .map(|meta| m.read(meta.uid).unwrap().to_vec())
        .collect()
}

/// A message of about `size` octets (large ones are streamed to the store).
fn sized(subject: &str, size: usize) -> Vec<u8> {
    let mut m = format!("From: a@example.com\r\nSubject: {subject}\r\n\r\n").into_bytes();
    while m.len() + 2 < size {
        m.extend_from_slice(b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n");
    }
    m
}

#[tokio::test]
async fn rfc_3502_example_appends_both_messages_with_their_flags_and_dates() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    assert!(tagged(&c.cmd("CREATE saved-messages").await).contains("OK"));
    assert!(tagged(&c.cmd("CREATE test").await).contains("OK"));

    // C: A003 APPEND saved-messages (\Seen) {329}
    // S: + Ready for literal data
    c.send(b"A003 APPEND saved-messages (\\Seen) {329}\r\n")
        .await;
    assert!(c.line().await.starts_with("+ "));
    // C: <message> (\Seen) " 7-Feb-1994 22:43:04 -0800" {295}
    // S: + Ready for literal data
    c.send(FRED.as_bytes()).await;
    c.send(b" (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {295}\r\n")
        .await;
    assert!(c.line().await.starts_with("+ "));
    // C: <message> CRLF
    // S: A003 OK APPEND completed
    c.send(JOE.as_bytes()).await;
    let r = c.ask("\r\n", "A003").await;
    let done = tagged(&r);
    assert!(done.starts_with("A003 OK [APPENDUID "), "{r}");
    // RFC 3502: "the APPENDUID response code returns as many UIDs as there were
    // messages appended ... in the order the articles where appended".
    assert!(done.contains(" 1:2]"), "{done}");
    assert_eq!(
        stored(&store, "saved-messages"),
        vec![FRED.as_bytes().to_vec(), JOE.as_bytes().to_vec()]
    );

    // Another session sees both, with the flags and the date each was given.
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT saved-messages").await;
    let r = other.cmd("FETCH 1:2 (FLAGS INTERNALDATE)").await;
    let lines = untagged(&r);
    assert!(lines[0].contains("FLAGS (\\Seen"), "{r}");
    assert!(lines[1].contains("FLAGS (\\Seen"), "{r}");
    // The same instant as " 7-Feb-1994 22:43:04 -0800" (the store keeps dates in UTC).
    assert!(
        lines[1].contains("INTERNALDATE \"08-Feb-1994 06:43:04 +0000\""),
        "{r}"
    );

    // C: A004 APPEND bogusname (\Flagged) {1023}
    // S: A004 NO [TRYCREATE] No such mailbox as bogusname
    let r = c
        .ask("A004 APPEND bogusname (\\Flagged) {1023}\r\n", "A004")
        .await;
    assert!(r.starts_with("A004 NO [TRYCREATE]"), "{r}");

    // C: A005 APPEND test (\Flagged) {99}
    // S: + Ready for literal data
    // C: <message> {35403}
    // S: A005 NO APPEND failed: Disk quota exceeded
    // Here the second literal is over the size limit: refused before it is sent, and
    // the first message does not stay either.
    let hmm = "Date: Mon, 7 Feb 2000 22:43:04 -0800 (PST)\r\n\
               From: Fred Foobar <fred@example.com>\r\n\
               Subject: hmm...\r\n";
    assert_eq!(hmm.len(), 99);
    c.send(b"A005 APPEND test (\\Flagged) {99}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send(hmm.as_bytes()).await;
    let r = c.ask(" {40000000}\r\n", "A005").await;
    assert!(r.starts_with("A005 NO [TOOBIG]"), "{r}");
    assert!(stored(&store, "test").is_empty());
    assert!(tagged(&c.cmd("NOOP").await).contains("OK"));
}

#[tokio::test]
async fn a_refused_third_message_leaves_the_mailbox_unchanged() {
    let (handle, store) = start(&["old"]).await;
    let mut c = Raw::login(&handle).await;
    let mut watcher = Raw::login(&handle).await;
    watcher.cmd("SELECT INBOX").await;
    let before = stored(&store, "INBOX");

    // LITERAL+: the whole command in one write; the third message's flag is refused.
    let cmd = "a APPEND INBOX {3+}\r\none (\\Seen) {3+}\r\ntwo (\\Recent) {5+}\r\nthree\r\n";
    let r = c.ask(cmd, "a").await;
    assert!(!tagged(&r).starts_with("a OK"), "{r}");
    // RFC 3502 §6.3.11: "A zero-length message literal argument is an error, and MUST
    // return a NO. This can be used to cancel the append."
    let cmd = "b APPEND INBOX {3+}\r\none {3+}\r\ntwo {0+}\r\n\r\n";
    let r = c.ask(cmd, "b").await;
    assert!(tagged(&r).starts_with("b NO"), "{r}");

    // Streamed (each message over the streaming threshold), the third refused: nothing
    // of the first two stays either.
    let big = sized("big", 100_000);
    let mut cmd = format!("c APPEND INBOX {{{}+}}\r\n", big.len()).into_bytes();
    cmd.extend_from_slice(&big);
    cmd.extend_from_slice(format!(" {{{}+}}\r\n", big.len()).as_bytes());
    cmd.extend_from_slice(&big);
    cmd.extend_from_slice(b" (\\Bogus) {5+}\r\nthree\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("c").await;
    assert!(tagged(&r).starts_with("c BAD"), "{r}");
    // The refused message's octets were not taken for commands.
    let r = c.cmd("NOOP").await;
    assert_eq!(untagged(&r), Vec::<&str>::new(), "{r}");
    assert!(tagged(&r).contains("OK"), "{r}");

    // Neither the store nor another session sees any of them.
    assert_eq!(stored(&store, "INBOX"), before);
    let r = watcher.cmd("NOOP").await;
    assert!(!r.contains("EXISTS"), "{r}");
    let r = watcher.cmd("STATUS INBOX (MESSAGES UIDNEXT)").await;
    assert!(r.contains("MESSAGES 1"), "{r}");
}

#[tokio::test]
async fn streamed_and_small_messages_mix_and_all_arrive_byte_for_byte() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let big1 = sized("one", 200_000);
    let big2 = sized("three", 90_000);
    let small = b"Subject: two\r\n\r\nsmall\r\n".to_vec();

    // Synchronizing literals: `+` before each one.
    c.send(format!("a APPEND INBOX {{{}}}\r\n", big1.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    for piece in big1.chunks(50_001) {
        c.send(piece).await;
    }
    c.send(format!(" (\\Flagged) {{{}}}\r\n", small.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&small).await;
    c.send(format!(" {{{}}}\r\n", big2.len()).as_bytes()).await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&big2).await;
    let r = c.ask("\r\n", "a").await;
    // RFC 3502 §6.3.11: the selected mailbox's EXISTS comes with the answer.
    assert!(untagged(&r).contains(&"* 3 EXISTS"), "{r}");
    assert!(tagged(&r).starts_with("a OK [APPENDUID "), "{r}");
    assert!(tagged(&r).contains(" 1:3]"), "{r}");
    assert_eq!(stored(&store, "INBOX"), vec![big1, small, big2]);
    let r = c.cmd("FETCH 2 FLAGS").await;
    assert!(r.contains("FLAGS (\\Flagged"), "{r}");
}

#[tokio::test]
async fn many_messages_past_the_command_limit_are_streamed_not_refused() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    // Forty 40 KB messages (1.6 MB), each under the streaming threshold, together past
    // the 1 MiB a command may hold in memory.
    let messages: Vec<Vec<u8>> = (0..40).map(|i| sized(&format!("m{i}"), 40_000)).collect();
    let mut cmd = b"a APPEND INBOX".to_vec();
    for m in &messages {
        cmd.extend_from_slice(format!(" {{{}+}}\r\n", m.len()).as_bytes());
        cmd.extend_from_slice(m);
    }
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("a").await;
    assert!(tagged(&r).starts_with("a OK [APPENDUID "), "{r}");
    assert!(tagged(&r).contains(" 1:40]"), "{r}");
    assert_eq!(stored(&store, "INBOX"), messages);
}

#[tokio::test]
async fn utf8_messages_join_a_multiappend_and_need_utf8_accept() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    let plain = b"Subject: plain\r\n\r\nx\r\n".to_vec();
    let utf8 = "Subject: \u{e9}t\u{e9}\r\n\r\nx\r\n".as_bytes().to_vec();
    let command = |tag: &str| {
        let mut cmd = format!("{tag} APPEND INBOX {{{}+}}\r\n", plain.len()).into_bytes();
        cmd.extend_from_slice(&plain);
        cmd.extend_from_slice(format!(" UTF8 (~{{{}+}}\r\n", utf8.len()).as_bytes());
        cmd.extend_from_slice(&utf8);
        cmd.extend_from_slice(b")\r\n");
        cmd
    };
    // RFC 6855 §4: without ENABLE UTF8=ACCEPT the server "MUST reject, with a "NO"
    // response, an "APPEND" command that includes any 8-bit character in message header
    // fields": the whole MULTIAPPEND fails, its plain message too.
    c.send(&command("a")).await;
    let r = c.until_tagged("a").await;
    assert!(tagged(&r).starts_with("a NO"), "{r}");
    assert!(stored(&store, "INBOX").is_empty());

    assert!(tagged(&c.cmd("ENABLE UTF8=ACCEPT").await).contains("OK"));
    c.send(&command("b")).await;
    let r = c.until_tagged("b").await;
    assert!(tagged(&r).contains(" 1:2]"), "{r}");
    // Streamed, the UTF8 form's `)` comes after the pieces.
    let big = [&utf8[..utf8.len() - 3], &sized("", 100_000)[..]].concat();
    c.send(format!("c APPEND INBOX UTF8 (~{{{}}}\r\n", big.len()).as_bytes())
        .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&big).await;
    let r = c.ask(")\r\n", "c").await;
    assert!(tagged(&r).contains("OK [APPENDUID "), "{r}");
    assert_eq!(stored(&store, "INBOX"), vec![plain, utf8, big]);
}

#[tokio::test]
async fn more_messages_than_the_limit_are_no_limit_and_none_stays() {
    let (handle, store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    // ImapConfig::default().max_append_messages is 1000.
    let mut cmd = b"a APPEND INBOX".to_vec();
    for _ in 0..1001 {
        cmd.extend_from_slice(b" {1+}\r\nx");
    }
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await;
    let r = c.until_tagged("a").await;
    assert!(tagged(&r).starts_with("a NO [LIMIT]"), "{r}");
    assert!(stored(&store, "INBOX").is_empty());
    assert!(tagged(&c.cmd("NOOP").await).contains("OK"));
}
