//! IMAP4rev2 (RFC 9051) beside IMAP4rev1 over a real socket: what changes once a client
//! issues `ENABLE IMAP4rev2` (Appendix A, Appendix E), checked against the RFC's text
//! and examples, and that a client that does not enable it sees what it always saw.

mod raw;

use raw::{Raw, message, start, tagged, untagged};
use yubin_store::{Flag, FlagOp, Flags};

async fn rev2(handle: &yubin_core::ServerHandle) -> Raw {
    let mut c = Raw::login(handle).await;
    // RFC 9051 Appendix A: "If both IMAP4rev1 and IMAP4rev2 are advertised, an IMAP
    // client that wants to use IMAP4rev2 MUST issue an "ENABLE IMAP4rev2" command."
    let r = c.cmd("ENABLE IMAP4rev2").await;
    assert_eq!(untagged(&r), ["* ENABLED IMAP4rev2"], "{r}");
    c
}

#[tokio::test]
async fn both_revisions_are_advertised() {
    let (handle, _store) = start(&[]).await;
    let mut c = Raw::greeted(&handle).await;
    let r = c.cmd("CAPABILITY").await;
    let caps: Vec<&str> = untagged(&r)[0].split(' ').collect();
    assert!(
        caps.contains(&"IMAP4rev1") && caps.contains(&"IMAP4rev2"),
        "{r}"
    );
}

#[tokio::test]
async fn a_rev1_client_sees_recent_search_and_unseen_as_before() {
    let (handle, _store) = start(&["one", "two"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    assert!(r.contains("* OK [UNSEEN 1] "), "{r}");
    assert!(!r.contains("* LIST"), "{r}");
    let r = c.cmd("FETCH 1 FLAGS").await;
    assert_eq!(untagged(&r), ["* 1 FETCH (FLAGS (\\Recent))"]);
    let r = c.cmd("SEARCH ALL").await;
    assert_eq!(untagged(&r), ["* SEARCH 1 2"]);
}

#[tokio::test]
async fn select_tells_the_list_and_no_recent_nor_unseen() {
    let (handle, _store) = start(&["one", "two"]).await;
    let mut c = rev2(&handle).await;
    c.cmd("CREATE INBOX/sub").await;
    // RFC 9051 §6.3.2: "REQUIRED untagged responses: FLAGS, EXISTS, LIST"; "The server
    // MUST return a LIST response with the mailbox name. The list of mailbox attributes
    // MUST be accurate."
    let r = c.cmd("SELECT INBOX").await;
    let lines = untagged(&r);
    assert!(lines.contains(&"* 2 EXISTS"), "{r}");
    assert!(lines.iter().any(|l| l.starts_with("* FLAGS (")), "{r}");
    let list: Vec<&&str> = lines.iter().filter(|l| l.starts_with("* LIST ")).collect();
    assert_eq!(list.len(), 1, "{r}");
    assert!(list[0].starts_with("* LIST (\\HasChildren"), "{r}");
    assert!(list[0].ends_with(" \"/\" \"INBOX\""), "{r}");
    // Appendix E 11, 12: the UNSEEN code and the RECENT response are deprecated.
    assert!(!r.contains(" RECENT"), "{r}");
    assert!(!r.contains("[UNSEEN"), "{r}");
    for code in ["[UIDVALIDITY ", "[UIDNEXT 3]", "[PERMANENTFLAGS ("] {
        assert!(r.contains(code), "{code}: {r}");
    }
    assert!(tagged(&r).contains(" OK [READ-WRITE] "), "{r}");
    // No \Recent flag either, though the messages are recent to this session.
    let r = c.cmd("FETCH 1:2 FLAGS").await;
    assert_eq!(
        untagged(&r),
        ["* 1 FETCH (FLAGS ())", "* 2 FETCH (FLAGS ())"]
    );
    // INBOX in any case is INBOX, and the LIST names it so.
    let r = c.cmd("EXAMINE inbox").await;
    assert!(r.contains(" \"/\" \"INBOX\"\r\n"), "{r}");
    let r = c.cmd("EXAMINE INBOX/sub").await;
    let list = untagged(&r)
        .into_iter()
        .find(|l| l.starts_with("* LIST "))
        .unwrap_or_default();
    assert!(list.starts_with("* LIST (\\HasNoChildren"), "{r}");
    assert!(list.ends_with(" \"/\" \"INBOX/sub\""), "{r}");
}

#[tokio::test]
async fn search_is_answered_with_esearch() {
    let (handle, _store) = start(&["one", "two", "three"]).await;
    let mut c = rev2(&handle).await;
    c.cmd("SELECT INBOX").await;
    // RFC 9051 §6.4.4's examples.
    c.send(b"A284 SEARCH TEXT \"string not in mailbox\"\r\n")
        .await;
    let r = c.until_tagged("A284").await;
    assert_eq!(
        r,
        "* ESEARCH (TAG \"A284\")\r\nA284 OK SEARCH completed\r\n"
    );
    c.send(b"A285 SEARCH CHARSET UTF-8 TEXT {3}\r\n").await;
    assert!(c.line().await.starts_with("+ "));
    c.send(b"two\r\n").await;
    let r = c.until_tagged("A285").await;
    assert_eq!(untagged(&r), ["* ESEARCH (TAG \"A285\") ALL 2"]);
    let r = c.cmd("STORE 1,3 +FLAGS.SILENT (\\Flagged)").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    c.send(b"A283 SEARCH RETURN () FLAGGED\r\n").await;
    let r = c.until_tagged("A283").await;
    assert_eq!(untagged(&r), ["* ESEARCH (TAG \"A283\") ALL 1,3"]);
    c.send(b"A282 SEARCH RETURN (MIN COUNT) FLAGGED\r\n").await;
    let r = c.until_tagged("A282").await;
    assert_eq!(untagged(&r), ["* ESEARCH (TAG \"A282\") MIN 1 COUNT 2"]);
    // "if the ESEARCH UID indicator is present, all data in the ESEARCH response is
    // referring to UIDs".
    c.send(b"A286 UID SEARCH ALL\r\n").await;
    let r = c.until_tagged("A286").await;
    assert_eq!(untagged(&r), ["* ESEARCH (TAG \"A286\") UID ALL 1:3"]);
    // SAVE alone still answers nothing but the OK (§6.4.4.4 Example 1).
    c.send(b"A287 SEARCH RETURN (SAVE) FLAGGED\r\n").await;
    let r = c.until_tagged("A287").await;
    assert!(untagged(&r).is_empty(), "{r}");
}

#[tokio::test]
async fn updates_carry_the_uid_and_never_recent() {
    let (handle, store) = start(&["one", "two"]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let mut c = rev2(&handle).await;
    let mut old = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    old.cmd("EXAMINE INBOX").await;
    inbox
        .set_flags(&[2], FlagOp::Add, &Flags::from_iter([Flag::Seen]))
        .unwrap();
    inbox
        .append(&message("three"), &Flags::new(), None)
        .unwrap();
    // Appendix E 21: "All unsolicited FETCH updates are required to include UID";
    // E 12: no RECENT.
    let r = c.cmd("NOOP").await;
    assert_eq!(
        untagged(&r),
        ["* 2 FETCH (UID 2 FLAGS (\\Seen))", "* 3 EXISTS"]
    );
    // The rev1 session, as before.
    let r = old.cmd("NOOP").await;
    assert_eq!(
        untagged(&r),
        ["* 2 FETCH (FLAGS (\\Seen))", "* 3 EXISTS", "* 0 RECENT"]
    );
    // SEARCH RECENT still finds what is recent to the session, unseen or not.
    let r = c.cmd("SEARCH RECENT").await;
    assert!(untagged(&r)[0].ends_with(" ALL 1:3"), "{r}");
}

#[tokio::test]
async fn status_deleted_counts_the_deleted_messages() {
    let (handle, store) = start(&["one", "two", "three"]).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .set_flags(&[1, 3], FlagOp::Add, &Flags::from_iter([Flag::Deleted]))
        .unwrap();
    let mut c = rev2(&handle).await;
    // RFC 9051 §6.3.11: "DELETED The number of messages that have the \Deleted flag
    // set."
    let r = c.cmd("STATUS INBOX (MESSAGES DELETED SIZE)").await;
    let size = inbox.status().unwrap().size;
    assert_eq!(
        untagged(&r),
        [format!(
            "* STATUS \"INBOX\" (MESSAGES 3 DELETED 2 SIZE {size})"
        )]
    );
    let r = c.cmd("LIST \"\" INBOX RETURN (STATUS (DELETED))").await;
    assert!(r.contains("* STATUS \"INBOX\" (DELETED 2)\r\n"), "{r}");
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("EXPUNGE").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    let r = c.cmd("STATUS INBOX (DELETED)").await;
    assert_eq!(untagged(&r), ["* STATUS \"INBOX\" (DELETED 0)"]);
}

#[tokio::test]
async fn names_are_utf8_for_a_rev2_client() {
    let (handle, store) = start(&[]).await;
    let mut c = rev2(&handle).await;
    let mut legacy = Raw::login(&handle).await;
    // RFC 9051 §5.1: "In IMAP4rev2, mailbox names are encoded in Net-Unicode"; the
    // IMAP4rev1 client keeps modified UTF-7 (Appendix A.1).
    let r = c.cmd("CREATE \"\u{53f0}\u{5317}\"").await;
    assert!(tagged(&r).contains(" OK "), "{r}");
    assert!(store.account("alice").unwrap().mailbox("&U,BTFw-").is_ok());
    let r = legacy.cmd("LIST \"\" \"&*\"").await;
    assert_eq!(
        untagged(&r),
        ["* LIST (\\HasNoChildren) \"/\" \"&U,BTFw-\""]
    );
    let r = c.cmd("SELECT \"\u{53f0}\u{5317}\"").await;
    let name = "\u{53f0}\u{5317}";
    assert!(
        r.contains(&format!("\"/\" {{{}}}\r\n{name}\r\n", name.len())),
        "{r}"
    );
}
