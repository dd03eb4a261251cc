//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4) over a real socket: searches kept
//! current with ADDTO and REMOVEFROM as flags change, mail arrives and mail is expunged
//! (by this session or another), CANCELUPDATE, tag reuse, the NOUPDATE limit, and
//! PARTIAL results — the RFC's examples and the cases of Dovecot's imaptest
//! (`search-context-update*`, `search-partial`), exact lines.

mod raw;
use raw::{Raw, start, tagged, untagged};
use yubin_store::{Flag, FlagOp, Flags};

#[tokio::test]
async fn a_search_context_follows_flags_arrivals_and_expunges() {
    let (handle, store) = start(&["a", "b", "c", "d", "e"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let tag = c.next_tag();
    // RFC 5267 §4.3: RETURN (UPDATE) alone answers an ESEARCH with no result data.
    let r = c.cmd("SEARCH RETURN (UPDATE) SEEN").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\")").as_str()]
    );
    assert!(tagged(&r).ends_with("OK SEARCH completed"), "{r}");

    // Flags set by this session: ADDTO at position 0 in mailbox order (§4.3.3).
    let r = c.cmd("STORE 1,2,4 +FLAGS.SILENT (\\Seen)").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") ADDTO (0 1:2,4)").as_str()]
    );
    let r = c.cmd("STORE 1:2 -FLAGS.SILENT (\\Seen)").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") REMOVEFROM (0 1:2)").as_str()]
    );

    // An expunge: REMOVEFROM before the EXPUNGE that renumbers (§4.3.4).
    let r = c.cmd("STORE 3:5 +FLAGS.SILENT (\\Deleted)").await;
    assert!(untagged(&r).is_empty(), "{r}");
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(
        untagged(&r),
        [
            format!("* ESEARCH (TAG \"{tag}\") REMOVEFROM (0 4)").as_str(),
            "* 5 EXPUNGE",
            "* 4 EXPUNGE",
            "* 3 EXPUNGE",
        ]
    );

    // Another session's change and a delivery: ADDTO after the EXISTS (§4.3.3).
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(&raw::message("f"), &Flags::from([Flag::Seen]), None)
        .unwrap();
    inbox
        .set_flags(&[1], FlagOp::Add, &Flags::from([Flag::Seen]))
        .unwrap();
    let r = c.cmd("NOOP").await;
    let lines = untagged(&r);
    let exists = lines.iter().position(|l| *l == "* 3 EXISTS").expect(&r);
    let addto = lines
        .iter()
        .position(|l| *l == format!("* ESEARCH (TAG \"{tag}\") ADDTO (0 1,3)"))
        .expect(&r);
    assert!(exists < addto, "{r}");

    // CANCELUPDATE ends it (§4.3.5).
    let r = c.cmd(&format!("CANCELUPDATE \"{tag}\"")).await;
    assert!(tagged(&r).ends_with("OK CANCELUPDATE completed"), "{r}");
    let r = c.cmd("STORE 2 +FLAGS.SILENT (\\Seen)").await;
    assert!(!r.contains("ESEARCH"), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn uid_contexts_count_and_all_tag_reuse_and_the_limit() {
    let (handle, _store) = start(&["a", "b", "c", "d", "e"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("STORE 1:2 +FLAGS.SILENT (\\Seen)").await;
    let tag = c.next_tag();
    let r = c.cmd("UID SEARCH RETURN (UPDATE COUNT ALL) SEEN").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") UID COUNT 2 ALL 1:2").as_str()]
    );
    // §4.3: a new UPDATE under a tag in use is BAD and has no effect.
    let r = c
        .ask(
            &format!("{tag} SORT RETURN (UPDATE) (DATE) UTF-8 FLAGGED\r\n"),
            &tag,
        )
        .await;
    assert_eq!(r, format!("{tag} BAD Tag reuse\r\n"));
    let r = c.cmd("STORE 3 +FLAGS.SILENT (\\Seen)").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") UID ADDTO (0 3)").as_str()]
    );
    // §4.3.1: past the limit, NO [NOUPDATE "tag"], and the other results stand.
    for _ in 1..mini_imap::op::context::MAX_UPDATE_CONTEXTS {
        let r = c.cmd("SEARCH RETURN (UPDATE) FLAGGED").await;
        assert!(!r.contains("NOUPDATE"), "{r}");
    }
    let over = c.next_tag();
    let r = c.cmd("SEARCH RETURN (UPDATE COUNT) SEEN").await;
    assert_eq!(
        untagged(&r),
        [
            format!("* ESEARCH (TAG \"{over}\") COUNT 3").as_str(),
            format!("* NO [NOUPDATE \"{over}\"] Too many contexts").as_str(),
        ]
    );
    // Contexts end with the selection.
    c.cmd("UNSELECT").await;
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("STORE 4 +FLAGS.SILENT (\\Seen)").await;
    assert!(!r.contains("ESEARCH"), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn a_sort_context_inserts_and_removes_at_positions() {
    // Subjects sort as b, c, d; a message "a" arriving goes first, one "cc" third.
    let (handle, store) = start(&["d", "b", "c"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let tag = c.next_tag();
    let r = c
        .cmd("UID SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 UNDELETED")
        .await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") UID ALL 2:3,1").as_str()]
    );
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox
        .append(&raw::message("a"), &Flags::new(), None)
        .unwrap();
    inbox
        .append(&raw::message("cc"), &Flags::new(), None)
        .unwrap();
    // Result b(2) c(3) d(1) becomes a(4) b(2) c(3) cc(5) d(1): 4 at 1, then 5 at 4.
    let r = c.cmd("NOOP").await;
    assert!(
        r.contains(&format!(
            "* ESEARCH (TAG \"{tag}\") UID ADDTO (1 4) ADDTO (4 5)\r\n"
        )),
        "{r}"
    );
    // Deleting c(3), at position 3, removes it there (§4.3.4).
    let r = c.cmd("UID STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") UID REMOVEFROM (3 3)").as_str()]
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn partial_results_as_imaptest_checks_them() {
    let (handle, _store) = start(&["a", "b", "c", "d", "e"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    for (ret, keys, want) in [
        ("PARTIAL 1:1", "ALL", "PARTIAL (1:1 1)"),
        ("PARTIAL 2:4", "ALL", "PARTIAL (2:4 2:4)"),
        // §5: "A range 500:400 is the same as 400:500".
        ("PARTIAL 4:2", "ALL", "PARTIAL (2:4 2:4)"),
        ("PARTIAL 1:6", "ALL", "PARTIAL (1:6 1:5)"),
        // §4.4: past the results, NIL.
        ("PARTIAL 6:6", "ALL", "PARTIAL (6:6 NIL)"),
        ("PARTIAL 2:3", "1:2,4:5", "PARTIAL (2:3 2,4)"),
        ("PARTIAL 2:10", "1:2,4:5", "PARTIAL (2:10 2,4:5)"),
    ] {
        let tag = c.next_tag();
        let r = c.cmd(&format!("SEARCH RETURN ({ret}) {keys}")).await;
        assert_eq!(
            untagged(&r),
            [format!("* ESEARCH (TAG \"{tag}\") {want}").as_str()],
            "{ret} {keys}"
        );
    }
    let tag = c.next_tag();
    let r = c
        .cmd("UID SORT RETURN (PARTIAL 1:2) (REVERSE SUBJECT) UTF-8 ALL")
        .await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\") UID PARTIAL (1:2 5,4)").as_str()]
    );
    // §4.4: one PARTIAL or one ALL, not both; a range is two non-zero numbers.
    for bad in [
        "SEARCH RETURN (PARTIAL 1:2 ALL) ALL",
        "SEARCH RETURN (PARTIAL 0:2) ALL",
        "SEARCH RETURN (PARTIAL 1:*) ALL",
        "SEARCH RETURN (PARTIAL) ALL",
        "CANCELUPDATE",
        "CANCELUPDATE t1",
    ] {
        let r = c.cmd(bad).await;
        assert!(tagged(&r).contains(" BAD "), "{bad}: {r}");
    }
    c.logout().await;
    handle.stop().await;
}
