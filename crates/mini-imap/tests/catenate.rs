//! CATENATE (RFC 4469) over a socket: RFC 4469 Appendix A's examples against a draft
//! shaped as theirs, BADURL, TOOBIG, and CATENATE inside a MULTIAPPEND (RFC 3502).

mod raw;

use raw::{Raw, start, tagged, untagged};
use yubin_store::{Flags, Store};

const BOUNDARY: &str = "------------030308070208000400050907";

/// The original draft of RFC 4469 examples 1 and 2: "multipart/mixed MIME message with
/// two body parts: 1. text/plain 2. application/x-zip-compressed".
fn draft() -> String {
    format!(
        "From: Bob Ar <bar@example.org>\r\n\
         To: foo@example.net\r\n\
         Subject: Holiday trip\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed;\r\n boundary=\"{BOUNDARY}\"\r\n\
         \r\n\
         --{BOUNDARY}\r\n\
         Content-Type: text/plain; charset=us-ascii; format=flowed\r\n\
         Content-Transfer-Encoding: 7bit\r\n\
         \r\n\
         The old schedule.\r\n\
         --{BOUNDARY}\r\n\
         Content-Type: application/x-zip-compressed; name=\"trip.zip\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         UEsDBBQAAAAIAA==\r\n\
         --{BOUNDARY}--\r\n"
    )
}

/// A store whose Drafts holds the draft as UID 20 (UIDs 1..19 expunged) and a server.
async fn with_draft() -> (yubin_core::ServerHandle, Store, u32) {
    let (handle, store) = start(&[]).await;
    let account = store.account("alice").unwrap();
    // Drafts and Sent exist in a new account (the special-use mailboxes).
    let drafts = account.mailbox("Drafts").unwrap();
    for _ in 1..20 {
        let uid = drafts
            .append(b"Subject: x\r\n\r\nx\r\n", &Flags::new(), None)
            .unwrap();
        drafts.expunge(&[uid]).unwrap();
    }
    let uid = drafts
        .append(draft().as_bytes(), &Flags::new(), None)
        .unwrap();
    assert_eq!(uid, 20);
    let validity = drafts.status().unwrap().uid_validity;
    (handle, store, validity)
}

fn read(store: &Store, mailbox: &str, uid: u32) -> String {
    let m = store.account("alice").unwrap().mailbox(mailbox).unwrap();
    String::from_utf8(m.read(uid).unwrap().to_vec()).unwrap()
}

/// The octets between two markers of the draft (a header, a part's MIME header or body).
fn piece(of: &str, from: &str, to: &str) -> String {
    let start = of.find(from).unwrap();
    let end = start + of[start..].find(to).unwrap();
    of[start..end].to_owned()
}

#[tokio::test]
async fn example_1_replaces_an_attachment_without_downloading_it() {
    let (handle, store, v) = with_draft().await;
    let mut c = Raw::login(&handle).await;
    let text = |t: &str| format!("{{{}}}\r\n", t.len());
    let sep = format!("\r\n--{BOUNDARY}\r\n");
    let last = format!("\r\n--{BOUNDARY}--\r\n");
    // C: A003 APPEND Drafts (\Seen \Draft $MDNSent) CATENATE
    //  (URL "/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER"
    //  TEXT {42}
    // S: + Ready for literal data
    c.send(
        format!(
            "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY={v}/;UID=20/;section=HEADER\" TEXT {}",
            text(&sep)
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+ "));
    // C: <separator> URL ".../;section=1.MIME" URL ".../;section=1" TEXT {42}
    c.send(sep.as_bytes()).await;
    c.send(
        format!(
            " URL \"/Drafts;UIDVALIDITY={v}/;UID=20/;section=1.MIME\" URL \"/Drafts;UIDVALIDITY={v}/;UID=20/;section=1\" TEXT {}",
            text(&sep)
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+ "));
    // C: <separator> URL "/Drafts;UIDVALIDITY=385759045/;UID=30" TEXT {44}
    // Here UID 30 is a message of its own: the new attachment, whole.
    let drafts = store.account("alice").unwrap().mailbox("Drafts").unwrap();
    let attachment = b"Content-Type: text/plain\r\n\r\nThe new schedule.\r\n";
    let new_uid = drafts.append(attachment, &Flags::new(), None).unwrap();
    c.send(sep.as_bytes()).await;
    c.send(
        format!(
            " URL \"/Drafts;UIDVALIDITY={v}/;UID={new_uid}\" TEXT {}",
            text(&last)
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+ "));
    // C: <final boundary> )
    // S: A003 OK catenate append completed
    c.send(last.as_bytes()).await;
    let r = c.ask(")\r\n", "A003").await;
    let done = tagged(&r);
    assert!(done.starts_with("A003 OK [APPENDUID "), "{r}");
    let uid: u32 = done
        .split(' ')
        .nth(4)
        .unwrap()
        .trim_end_matches(']')
        .parse()
        .unwrap();

    let original = draft();
    let header = piece(&original, "From:", "--------------");
    let part1_mime = piece(&original, "Content-Type: text/plain", "The old");
    let part1 = "The old schedule.";
    let expected = format!(
        "{header}{sep}{part1_mime}{part1}{sep}{attachment}{last}",
        attachment = String::from_utf8_lossy(attachment),
    );
    assert_eq!(read(&store, "Drafts", uid), expected);
    // RFC 4469 §3: "The APPEND command does not cause the \Seen flag to be set for any
    // catenated body part."
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT Drafts").await;
    let r = other.cmd("UID FETCH 20 FLAGS").await;
    assert!(!r.contains("\\Seen"), "{r}");
    let r = other.cmd(&format!("UID FETCH {uid} FLAGS")).await;
    assert!(r.contains("\\Seen") && r.contains("$MDNSent"), "{r}");
}

#[tokio::test]
async fn example_2_with_literal_plus_and_appenduid() {
    let (handle, store, v) = with_draft().await;
    let mut c = Raw::login(&handle).await;
    let head = "From: Bob Ar <bar@example.org>\r\n\
                MIME-Version: 1.0\r\n\
                To: foo@example.net\r\n\
                Subject: About our holiday trip\r\n\
                Content-Type: multipart/mixed;\r\n\
                \x20             boundary=\"------------030308070208000400050907\"\r\n\
                \r\n\
                --------------030308070208000400050907\r\n\
                Content-Type: text/plain; charset=us-ascii; format=flowed\r\n\
                Content-Transfer-Encoding: 7bit\r\n\
                \r\n\
                Our travel agent has sent the updated schedule.\r\n\
                \r\n\
                Cheers,\r\n\
                Bob\r\n\
                --------------030308070208000400050907\r\n";
    let tail = "\r\n--------------030308070208000400050907--\r\n";
    // One write (LITERAL+): the text part, the old attachment's MIME header and body by
    // URL (`Section=` in mixed case, as in the example), the final boundary.
    let cmd = format!(
        "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (TEXT {{{}+}}\r\n{head} URL \"/Drafts;UIDVALIDITY={v}/;UID=20/;Section=2.MIME\" URL \"/Drafts;UIDVALIDITY={v}/;UID=20/;Section=2\" TEXT {{{}+}}\r\n{tail})\r\n",
        head.len(),
        tail.len()
    );
    let r = c.ask(&cmd, "A003").await;
    // S: A003 OK [APPENDUID 385759045 45] append Completed
    assert!(
        tagged(&r).starts_with(&format!("A003 OK [APPENDUID {v} 21]")),
        "{r}"
    );
    let original = draft();
    let mime2 = piece(&original, "Content-Type: application", "UEsD");
    let expected = format!("{head}{mime2}UEsDBBQAAAAIAA=={tail}");
    assert_eq!(read(&store, "Drafts", 21), expected);
    // C: A004 UID STORE 20 +FLAGS.SILENT (\Deleted)
    // S: A004 OK STORE completed
    c.cmd("SELECT Drafts").await;
    let r = c
        .ask("A004 UID STORE 20 +FLAGS.SILENT (\\Deleted)\r\n", "A004")
        .await;
    assert!(r.starts_with("A004 OK"), "{r}");
}

#[tokio::test]
async fn example_4_a_bad_url_fails_the_append_with_badurl() {
    let (handle, store) = start(&["digest one", "digest two"]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let v = inbox.status().unwrap().uid_validity;
    let mut c = Raw::login(&handle).await;
    let bad = format!("/INBOX;UIDVALIDITY={v}/;UID=113330;section=1.5.9");
    // The digest of example 4: UID 1 is fine, the second URL names no message.
    let subject = "Subject: digest\r\n\r\n";
    let n = subject.len();
    let cmd = format!(
        "A003 APPEND Sent (\\Seen $MDNSent) CATENATE (TEXT {{{n}+}}\r\n{subject} URL \"/INBOX;UIDVALIDITY={v}/;UID=1\" URL \"{bad}\" URL \"/INBOX/;UID=2\")\r\n"
    );
    let r = c.ask(&cmd, "A003").await;
    // S: A003 NO [BADURL "/INBOX;UIDVALIDITY=785799047/;UID=113330;section=1.5.9"] ...
    assert!(
        tagged(&r).starts_with(&format!("A003 NO [BADURL {bad}]")),
        "{r}"
    );
    let sent = store.account("alice").unwrap().mailbox("Sent").unwrap();
    assert!(sent.messages().unwrap().is_empty());

    // Other URLs that do not resolve: a wrong UIDVALIDITY, a section the message does
    // not have, a mailbox that does not exist, another user, no mailbox while none is
    // selected.
    for url in [
        format!("/INBOX;UIDVALIDITY={}/;UID=1", v + 1),
        "/INBOX/;UID=1/;SECTION=4.2".to_owned(),
        "/Nowhere/;UID=1".to_owned(),
        "imap://bob@localhost/INBOX/;UID=1".to_owned(),
        ";UID=1".to_owned(),
        "http://example.com/".to_owned(),
    ] {
        let r = c
            .cmd(&format!("APPEND Sent CATENATE (URL \"{url}\")"))
            .await;
        assert!(
            tagged(&r).contains(&format!("NO [BADURL {url}]")),
            "{url}: {r}"
        );
    }
    assert!(sent.messages().unwrap().is_empty());

    // Relative to the selected mailbox, and the whole message when no section is named.
    c.cmd("SELECT INBOX").await;
    let r = c
        .cmd("APPEND Sent CATENATE (URL \";UID=2\" URL \"imap://alice@localhost/INBOX/;UID=1/;SECTION=HEADER\")")
        .await;
    assert!(tagged(&r).contains("OK [APPENDUID"), "{r}");
    let two = raw::message("digest two");
    let one = raw::message("digest one");
    let one_header = &one[..one.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4];
    assert_eq!(
        sent.read(1).unwrap().to_vec(),
        [&two[..], one_header].concat()
    );
    // \Seen is not set on the messages read (RFC 4469 §3).
    let r = c.cmd("FETCH 1:2 FLAGS").await;
    assert!(!r.contains("\\Seen"), "{r}");
}

#[tokio::test]
async fn a_message_past_the_limit_is_toobig_and_catenate_works_inside_multiappend() {
    let (handle, store) = start(&["source"]).await;
    let mut c = Raw::login(&handle).await;
    // Each URL part is small; the message they make is over the 32 MiB literal limit.
    let big = vec![b'x'; 1024 * 1024];
    let mut m = b"Subject: big\r\n\r\n".to_vec();
    m.extend_from_slice(&big);
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let uid = inbox.append(&m, &Flags::new(), None).unwrap();
    let urls: Vec<String> = (0..40)
        .map(|_| format!("URL \"/INBOX/;UID={uid}\""))
        .collect();
    let r = c
        .cmd(&format!("APPEND INBOX CATENATE ({})", urls.join(" ")))
        .await;
    // RFC 4469 §4.2: "The server may also wish to return the TOOBIG response code if the
    // resulting message exceeds a server-specific message size limit."
    assert!(tagged(&r).contains("NO [TOOBIG]"), "{r}");
    assert_eq!(inbox.messages().unwrap().len(), 2);

    // CATENATE inside a MULTIAPPEND (RFC 4469 §3: "can be repeated in the presence of
    // the MULTIAPPEND extension"): a plain message, then one made of parts.
    let subject = "Subject: parts\r\n\r\n";
    let cmd = format!(
        "a APPEND INBOX {{5+}}\r\nplain (\\Flagged) CATENATE (TEXT {{{}+}}\r\n{subject} URL \"/INBOX/;UID=1/;SECTION=1\")\r\n",
        subject.len()
    );
    let r = c.ask(&cmd, "a").await;
    assert!(
        tagged(&r).contains("OK [APPENDUID ") && tagged(&r).contains(" 3:4]"),
        "{r}"
    );
    assert_eq!(inbox.read(3).unwrap().to_vec(), b"plain".to_vec());
    let hello = b"Hello from source.\r\n";
    assert_eq!(
        inbox.read(4).unwrap().to_vec(),
        [&b"Subject: parts\r\n\r\n"[..], hello].concat()
    );
    // A BADURL in the second message leaves the first out too.
    let cmd = "b APPEND INBOX {4+}\r\nsolo CATENATE (URL \"/INBOX/;UID=99\")\r\n";
    let r = c.ask(cmd, "b").await;
    assert!(tagged(&r).contains("NO [BADURL /INBOX/;UID=99]"), "{r}");
    assert_eq!(inbox.messages().unwrap().len(), 4);
    assert!(untagged(&r).is_empty(), "{r}");
}
