//! IMAP part 2 writes over a real socket, checked byte for byte and against the store:
//! STORE, COPY, MOVE, EXPUNGE, UID EXPUNGE, APPEND, CREATE, DELETE, RENAME, and every
//! refusal with its response code and nothing changed.

mod raw;

use raw::{Raw, message, start, tagged, untagged};
use yubin_store::{Flag, Flags, Store};

fn flags_of(store: &Store, mailbox: &str) -> Vec<(u32, Flags)> {
    let mb = store.account("alice").unwrap().mailbox(mailbox).unwrap();
    mb.messages()
        .unwrap()
        .into_iter()
        .map(|m| (m.uid, m.flags))
        .collect()
}

fn names(store: &Store) -> Vec<(String, bool)> {
    store
        .account("alice")
        .unwrap()
        .list()
        .unwrap()
        .into_iter()
        .map(|i| (i.name, i.selectable))
        .collect()
}

#[tokio::test]
async fn capability_lists_exactly_what_is_implemented() {
    let (handle, _store) = start(&[]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("CAPABILITY").await;
    assert_eq!(
        untagged(&r),
        [
            "* CAPABILITY IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE SPECIAL-USE CREATE-SPECIAL-USE CHILDREN LIST-EXTENDED LIST-STATUS ESEARCH SEARCHRES WITHIN SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES CONTEXT=SEARCH CONTEXT=SORT STATUS=SIZE CONDSTORE QRESYNC COMPRESS=DEFLATE UTF8=ACCEPT MULTIAPPEND CATENATE BINARY NOTIFY AUTH=PLAIN"
        ]
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn store_sets_adds_removes_flags_and_keywords_silently_or_not() {
    let (handle, store) = start(&["a", "b", "c"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(r.contains("\\*)] Flags permitted"), "{r}");
    let r = c.cmd("STORE 1:2 +FLAGS (\\Flagged $Label)").await;
    assert_eq!(
        untagged(&r),
        [
            // A keyword new to the client is announced first (RFC 3501 §7.2.6).
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label \\*)] Flags permitted",
            "* 1 FETCH (FLAGS (\\Flagged $Label \\Recent))",
            "* 2 FETCH (FLAGS (\\Flagged $Label \\Recent))"
        ]
    );
    assert!(tagged(&r).ends_with("OK STORE completed"), "{r}");
    let r = c.cmd("UID STORE 2 -FLAGS.SILENT ($Label)").await;
    assert!(untagged(&r).is_empty(), "{r}");
    let r = c.cmd("STORE 3 FLAGS \\Seen \\Draft").await;
    assert_eq!(
        untagged(&r),
        ["* 3 FETCH (FLAGS (\\Seen \\Draft \\Recent))"]
    );
    let r = c.cmd("UID STORE 3 FLAGS (\\Answered)").await;
    assert_eq!(
        untagged(&r),
        ["* 3 FETCH (UID 3 FLAGS (\\Answered \\Recent))"]
    );
    let kw = |k: &str| Flag::Keyword(k.into());
    assert_eq!(
        flags_of(&store, "INBOX"),
        [
            (1, Flags::from([Flag::Flagged, kw("$Label")])),
            (2, Flags::from([Flag::Flagged])),
            (3, Flags::from([Flag::Answered])),
        ]
    );
    // A new keyword is announced in the next SELECT's FLAGS and PERMANENTFLAGS.
    let r = c.cmd("SELECT INBOX").await;
    assert!(
        r.contains("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label)"),
        "{r}"
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn store_of_recent_or_unknown_system_flag_or_in_examine_changes_nothing() {
    let (handle, store) = start(&["a", "b"]).await;
    let before = flags_of(&store, "INBOX");
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let r = c.cmd("STORE 1 +FLAGS (\\Seen \\Recent)").await;
    assert!(tagged(&r).contains("BAD [CANNOT]"), "{r}");
    let r = c.cmd("STORE 1 +FLAGS (\\Seen \\Important)").await;
    assert!(tagged(&r).contains("BAD [CLIENTBUG]"), "{r}");
    let r = c.cmd("STORE 3 +FLAGS (\\Seen)").await;
    assert!(tagged(&r).contains("BAD"), "{r}");
    c.cmd("EXAMINE INBOX").await;
    for cmd in [
        "STORE 1 +FLAGS (\\Deleted)",
        "UID STORE 1 +FLAGS (\\Deleted)",
        "EXPUNGE",
        "UID EXPUNGE 1:*",
        "MOVE 1 Trash",
    ] {
        let r = c.cmd(cmd).await;
        assert!(tagged(&r).contains("NO [READ-ONLY]"), "{cmd}: {r}");
    }
    assert_eq!(flags_of(&store, "INBOX"), before);
    assert!(flags_of(&store, "Trash").is_empty());
    // COPY only reads the source, so it works from EXAMINE.
    let r = c.cmd("COPY 1 Trash").await;
    assert!(tagged(&r).contains("OK [COPYUID "), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn copy_reports_copyuid_that_matches_the_store() {
    let (handle, store) = start(&["a", "b", "c", "d"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("STORE 2 +FLAGS (\\Flagged)").await;
    let archive = store.account("alice").unwrap().mailbox("Trash").unwrap();
    let validity = archive.status().unwrap().uid_validity;
    let r = c.cmd("COPY 1:2,4 Trash").await;
    assert!(
        tagged(&r).ends_with(&format!(
            " OK [COPYUID {validity} 1:2,4 1:3] COPY completed"
        )),
        "{r}"
    );
    let copied = archive.messages().unwrap();
    assert_eq!(copied.iter().map(|m| m.uid).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(copied[1].flags, Flags::from([Flag::Flagged]));
    assert_eq!(&archive.read(3).unwrap()[..], &message("d")[..]);
    let r = c.cmd("UID COPY 3 Trash").await;
    assert!(
        tagged(&r).contains(&format!("[COPYUID {validity} 3 4]")),
        "{r}"
    );
    // The source keeps everything.
    assert_eq!(flags_of(&store, "INBOX").len(), 4);
    // Nothing to copy: OK without COPYUID.
    let r = c.cmd("UID COPY 99 Trash").await;
    assert!(tagged(&r).ends_with(" OK UID COPY completed"), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn move_sends_copyuid_then_expunges_and_leaves_no_copy() {
    let (handle, store) = start(&["a", "b", "c", "d"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    let trash = store.account("alice").unwrap().mailbox("Trash").unwrap();
    let validity = trash.status().unwrap().uid_validity;
    let tag = c.next_tag();
    let r = c.cmd("MOVE 2:3 Trash").await;
    assert_eq!(
        r,
        format!(
            "* OK [COPYUID {validity} 2:3 1:2] Moved\r\n* 3 EXPUNGE\r\n* 2 EXPUNGE\r\n\
             {tag} OK MOVE completed\r\n"
        )
    );
    let tag = c.next_tag();
    let r = c.cmd("UID MOVE 4 Trash").await;
    assert_eq!(
        r,
        format!(
            "* OK [COPYUID {validity} 4 3] Moved\r\n* 2 EXPUNGE\r\n{tag} OK UID MOVE completed\r\n"
        )
    );
    let inbox: Vec<u32> = flags_of(&store, "INBOX").iter().map(|m| m.0).collect();
    assert_eq!(inbox, [1]);
    let moved: Vec<Vec<u8>> = [1, 2, 3]
        .iter()
        .map(|&u| trash.read(u).unwrap().to_vec())
        .collect();
    assert_eq!(moved, [message("b"), message("c"), message("d")]);
    let r = c.cmd("FETCH 1:* (UID)").await;
    assert_eq!(untagged(&r), ["* 1 FETCH (UID 1)"]);
    // Into the selected mailbox itself (RFC 6851): a new UID, as Dovecot gives it.
    let tag = c.next_tag();
    let r = c.cmd("MOVE 1 INBOX").await;
    let validity = store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .status()
        .unwrap()
        .uid_validity;
    assert_eq!(
        r,
        format!(
            "* OK [COPYUID {validity} 1 5] Moved\r\n* 1 EXPUNGE\r\n* 1 EXISTS\r\n* 1 RECENT\r\n\
             {tag} OK MOVE completed\r\n"
        )
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn copy_move_append_to_a_missing_mailbox_say_trycreate() {
    let (handle, store) = start(&["a"]).await;
    let before = names(&store);
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    for cmd in [
        "COPY 1 Nowhere",
        "MOVE 1 Nowhere",
        "UID COPY 1 Nowhere",
        "UID MOVE 1 Nowhere",
    ] {
        let r = c.cmd(cmd).await;
        assert!(tagged(&r).contains("NO [TRYCREATE]"), "{cmd}: {r}");
    }
    let r = c.cmd("APPEND Nowhere {5+}\r\nhello").await;
    assert!(tagged(&r).contains("NO [TRYCREATE]"), "{r}");
    // Names that try to leave the account never reach the store's files.
    for name in ["../escape", "/etc", "a/../../b"] {
        let r = c.cmd(&format!("COPY 1 \"{name}\"")).await;
        assert!(tagged(&r).contains("NO [CANNOT]"), "{name}: {r}");
    }
    assert_eq!(names(&store), before);
    assert_eq!(flags_of(&store, "INBOX").len(), 1);
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn append_with_flags_and_date_answers_appenduid() {
    let (handle, store) = start(&["a"]).await;
    let mut c = Raw::login(&handle).await;
    let drafts = store.account("alice").unwrap().mailbox("Drafts").unwrap();
    let validity = drafts.status().unwrap().uid_validity;
    // A synchronizing literal: the server asks for it with `+`.
    let msg = message("draft");
    c.send(
        format!(
            "a1 APPEND Drafts (\\Draft \\Seen $Todo) \"05-Mar-2024 09:10:11 +0900\" {{{}}}\r\n",
            msg.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(c.line().await.starts_with("+ "));
    c.send(&msg).await;
    c.send(b"\r\n").await;
    let r = c.until_tagged("a1").await;
    assert_eq!(
        r,
        format!("a1 OK [APPENDUID {validity} 1] APPEND completed\r\n")
    );
    let meta = &drafts.messages().unwrap()[0];
    assert_eq!(
        meta.flags,
        Flags::from([Flag::Draft, Flag::Seen, Flag::Keyword("$Todo".into())])
    );
    assert_eq!(meta.internal_date.to_rfc3339(), "2024-03-05T00:10:11+00:00");
    assert_eq!(&drafts.read(1).unwrap()[..], &msg[..]);
    // LITERAL+ into the selected mailbox: EXISTS arrives before the tagged OK.
    c.cmd("SELECT INBOX").await;
    let tag = c.next_tag();
    let r = c.cmd("APPEND INBOX {5+}\r\nhello").await;
    let inbox_validity = store
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .status()
        .unwrap()
        .uid_validity;
    assert_eq!(
        r,
        format!(
            "* 2 EXISTS\r\n* 2 RECENT\r\n{tag} OK [APPENDUID {inbox_validity} 2] APPEND completed\r\n"
        )
    );
    // Bad flags are refused and nothing is stored.
    let r = c.cmd("APPEND Drafts (\\Recent) {5+}\r\nhello").await;
    assert!(tagged(&r).contains("BAD"), "{r}");
    let r = c.cmd("APPEND Drafts (\\Bogus) {5+}\r\nhello").await;
    assert!(tagged(&r).contains("BAD"), "{r}");
    assert_eq!(drafts.messages().unwrap().len(), 1);
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn expunge_and_uid_expunge_remove_only_what_they_should() {
    let (handle, store) = start(&["a", "b", "c", "d"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("SELECT INBOX").await;
    c.cmd("STORE 1,3,4 +FLAGS.SILENT (\\Deleted)").await;
    // UID EXPUNGE only touches its set.
    let r = c.cmd("UID EXPUNGE 3").await;
    assert_eq!(untagged(&r), ["* 3 EXPUNGE"]);
    assert!(tagged(&r).ends_with(" OK UID EXPUNGE completed"), "{r}");
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(untagged(&r), ["* 3 EXPUNGE", "* 1 EXPUNGE"]);
    assert!(tagged(&r).ends_with(" OK EXPUNGE completed"), "{r}");
    let left: Vec<u32> = flags_of(&store, "INBOX").iter().map(|m| m.0).collect();
    assert_eq!(left, [2]);
    let r = c.cmd("FETCH 1 (UID)").await;
    assert_eq!(untagged(&r), ["* 1 FETCH (UID 2)"]);
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn create_delete_rename_follow_rfc_3501_and_refuse_with_codes() {
    let (handle, store) = start(&["a", "b"]).await;
    let mut c = Raw::login(&handle).await;
    for (cmd, expect) in [
        ("CREATE Projects/2026/Q4", "OK"),
        ("CREATE Lists/", "OK"),
        ("CREATE Projects/2026/Q4", "NO [ALREADYEXISTS]"),
        ("CREATE inbox", "NO [ALREADYEXISTS]"),
        ("CREATE \"../outside\"", "NO [CANNOT]"),
        ("CREATE \"/abs\"", "NO [CANNOT]"),
        ("DELETE INBOX", "NO [CANNOT]"),
        ("DELETE Projects", "NO [HASCHILDREN]"),
        ("DELETE Nowhere", "NO [NONEXISTENT]"),
        ("RENAME Projects Sent", "NO [ALREADYEXISTS]"),
        ("RENAME Nowhere Else", "NO [NONEXISTENT]"),
        ("RENAME Projects \"../x\"", "NO [CANNOT]"),
    ] {
        let r = c.cmd(cmd).await;
        assert!(tagged(&r).contains(&format!(" {expect} ")), "{cmd}: {r}");
    }
    assert!(names(&store).contains(&("Lists".into(), true)));
    // RENAME takes the children along.
    let r = c.cmd("RENAME Projects Work").await;
    assert!(tagged(&r).contains("OK"), "{r}");
    let all = names(&store);
    for n in ["Work", "Work/2026", "Work/2026/Q4"] {
        assert!(all.contains(&(n.into(), true)), "{n} in {all:?}");
    }
    assert!(
        !all.iter().any(|(n, _)| n.starts_with("Projects")),
        "{all:?}"
    );
    let r = c.cmd("LIST \"\" \"Work*\"").await;
    assert!(r.contains("(\\HasChildren) \"/\" \"Work\""), "{r}");
    // DELETE leaf-first works.
    for cmd in ["DELETE Work/2026/Q4", "DELETE Work/2026", "DELETE Work"] {
        let r = c.cmd(cmd).await;
        assert!(tagged(&r).contains("OK"), "{cmd}: {r}");
    }
    // RENAME INBOX moves its messages to the new name and leaves INBOX empty.
    let r = c.cmd("RENAME INBOX Old").await;
    assert!(tagged(&r).contains("OK"), "{r}");
    assert!(flags_of(&store, "INBOX").is_empty());
    assert_eq!(flags_of(&store, "Old").len(), 2);
    // The selected mailbox cannot be deleted from under the session.
    c.cmd("SELECT Old").await;
    let r = c.cmd("DELETE Old").await;
    assert!(tagged(&r).contains("NO [INUSE]"), "{r}");
    c.cmd("CLOSE").await;
    let r = c.cmd("DELETE Old").await;
    assert!(tagged(&r).contains("OK"), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn a_noselect_parent_cannot_be_deleted_while_it_has_children() {
    // Another program (mutt, Dovecot) made `Lists/rust` without `Lists`: in Maildir++
    // that is the folder `.Lists.rust` alone, so `Lists` exists only as a parent.
    let dir = tempfile::tempdir().unwrap();
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.path().join("alice/Maildir/.Lists.rust").join(sub)).unwrap();
    }
    let store = Store::maildir(dir.path()).unwrap();
    store
        .add_account("alice", yubin_store::Secret::from("secret"))
        .unwrap();
    let handle = mini_imap::serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        mini_imap::ImapServerConfig::default(),
        tokio_util::sync::CancellationToken::new(),
    )
    .await
    .unwrap();
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("LIST \"\" \"Lists*\"").await;
    assert!(r.contains("\\Noselect"), "{r}");
    for (cmd, expect) in [
        ("SELECT Lists", " NO "),
        ("DELETE Lists", " NO [HASCHILDREN] "),
        ("DELETE Lists/rust", " OK "),
    ] {
        let r = c.cmd(cmd).await;
        assert!(tagged(&r).contains(expect), "{cmd}: {r}");
    }
    // With its last child gone, the parent is gone too.
    let r = c.cmd("LIST \"\" \"Lists*\"").await;
    assert_eq!(untagged(&r), Vec::<&str>::new());
    c.logout().await;
    handle.stop().await;
}
