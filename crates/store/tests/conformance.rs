//! One conformance suite, written once and run against both backends.
//!
//! Each case is a plain function taking a [`Fixture`]; the `suite!` macro at the bottom
//! turns every case into a `#[test]` in `memory::` and in `maildir::`. For Maildir,
//! `reopen` builds a new `Store` on the same directory, as a restarted server would.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use tempfile::TempDir;
use yubin_store::{
    Account, Flag, FlagOp, Flags, MailboxInfo, NewMessage, Secret, SpecialUse, Store, StoreError,
};

struct Fixture {
    store: Store,
    dir: Option<TempDir>,
}

impl Fixture {
    fn memory() -> Fixture {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        Fixture { store, dir: None }
    }

    fn maildir() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("secret")).unwrap();
        Fixture {
            store,
            dir: Some(dir),
        }
    }

    fn alice(&self) -> Account {
        self.store.account("alice").unwrap()
    }

    /// The store as a restarted process sees it (memory: the same store).
    fn reopen(&self) -> Store {
        match &self.dir {
            None => self.store.clone(),
            Some(dir) => {
                let store = Store::maildir(dir.path()).unwrap();
                store.add_account("alice", Secret::from("secret")).unwrap();
                store
            }
        }
    }

    fn alice_reopened(&self) -> Account {
        self.reopen().account("alice").unwrap()
    }
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

fn kw(k: &str) -> Flag {
    Flag::Keyword(k.to_owned())
}

fn date(s: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(s).unwrap()
}

fn msg(n: u32) -> Vec<u8> {
    format!("Subject: message {n}\r\nFrom: a@example.com\r\n\r\nbody {n}\r\n").into_bytes()
}

fn uids(account: &Account, mailbox: &str) -> Vec<u32> {
    account
        .mailbox(mailbox)
        .unwrap()
        .messages()
        .unwrap()
        .iter()
        .map(|m| m.uid)
        .collect()
}

fn names(list: &[MailboxInfo]) -> Vec<&str> {
    list.iter().map(|i| i.name.as_str()).collect()
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "corpus missing in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

// ---- messages and UIDs ----

fn append_gives_ascending_uids_and_status_counts(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let before = inbox.status().unwrap();
    assert_eq!((before.messages, before.uid_next), (0, 1));
    assert_ne!(before.uid_validity, 0);
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let b = inbox.append(&msg(2), &flags(&[Flag::Seen]), None).unwrap();
    let c = inbox.append(&msg(3), &Flags::new(), None).unwrap();
    assert!(a < b && b < c, "{a} {b} {c}");
    let status = inbox.status().unwrap();
    assert_eq!(status.messages, 3);
    assert_eq!(status.unseen, 2);
    assert_eq!(status.recent, 3);
    assert_eq!(status.uid_next, c + 1);
    assert_eq!(status.uid_validity, before.uid_validity);
    assert_eq!(uids(&fx.alice(), "INBOX"), [a, b, c]);
}

fn append_batch_adds_all_in_order_with_one_uid_each(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    assert_eq!(inbox.append_batch(&[]).unwrap(), Vec::<u32>::new());
    let first = inbox.append(&msg(0), &Flags::new(), None).unwrap();
    let bodies: Vec<Vec<u8>> = (1..=5).map(msg).collect();
    let seen = flags(&[Flag::Seen]);
    let when = date("2020-02-02T02:02:02Z");
    let batch: Vec<NewMessage<'_>> = bodies
        .iter()
        .map(|b| NewMessage {
            raw: b,
            flags: &seen,
            internal_date: Some(when),
        })
        .collect();
    let uids = inbox.append_batch(&batch).unwrap();
    assert_eq!(uids.len(), 5);
    assert!(uids[0] > first && uids.windows(2).all(|w| w[0] < w[1]));
    let reopened = fx.alice_reopened().mailbox("INBOX").unwrap();
    for (uid, body) in uids.iter().zip(&bodies) {
        assert_eq!(&reopened.read(*uid).unwrap()[..], &body[..]);
    }
    let m = reopened.messages().unwrap();
    assert_eq!(m.len(), 6);
    assert!(
        m[1..]
            .iter()
            .all(|m| m.flags == seen && m.internal_date == when)
    );
    assert_eq!(reopened.status().unwrap().uid_next, uids[4] + 1);
}

fn read_gives_crlf_wire_form_and_size_matches(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let uid = inbox
        .append(
            b"Subject: lf\n\nline one\nline two\r\n",
            &Flags::new(),
            None,
        )
        .unwrap();
    let bytes = inbox.read(uid).unwrap();
    assert_eq!(&bytes[..], b"Subject: lf\r\n\r\nline one\r\nline two\r\n");
    let meta = &inbox.messages().unwrap()[0];
    assert_eq!(meta.size, bytes.len() as u64);
    let reopened = fx.alice_reopened().mailbox("INBOX").unwrap();
    assert_eq!(reopened.read(uid).unwrap(), bytes);
    assert_eq!(reopened.messages().unwrap()[0].size, bytes.len() as u64);
}

fn corpus_round_trips_byte_for_byte(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let mut delivered = Vec::new();
    for (name, raw) in corpus() {
        let uid = inbox.append(&raw, &Flags::new(), None).unwrap();
        delivered.push((name, uid, yubin_store::wire::to_crlf(&raw).into_owned()));
    }
    let reopened = fx.alice_reopened().mailbox("INBOX").unwrap();
    let metas = reopened.messages().unwrap();
    for (name, uid, wire) in delivered {
        let got = reopened.read(uid).unwrap();
        assert!(got[..] == wire[..], "{name} differs");
        let meta = metas.iter().find(|m| m.uid == uid).unwrap();
        assert_eq!(meta.size, wire.len() as u64, "{name}");
    }
}

fn append_keeps_flags_and_internal_date(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let when = date("2024-03-01T09:30:15.750+09:00");
    let f = flags(&[Flag::Seen, Flag::Draft, kw("$Forwarded")]);
    let uid = inbox.append(&msg(1), &f, Some(when)).unwrap();
    for mailbox in [inbox, fx.alice_reopened().mailbox("INBOX").unwrap()] {
        let meta = mailbox
            .messages()
            .unwrap()
            .into_iter()
            .find(|m| m.uid == uid)
            .unwrap();
        assert_eq!(meta.flags, f);
        // Whole seconds, the same instant.
        assert_eq!(meta.internal_date, date("2024-03-01T00:30:15Z"));
    }
}

fn internal_date_defaults_to_now(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let before = chrono::Utc::now().timestamp();
    let uid = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let after = chrono::Utc::now().timestamp();
    let meta = inbox
        .messages()
        .unwrap()
        .into_iter()
        .find(|m| m.uid == uid)
        .unwrap();
    let t = meta.internal_date.timestamp();
    assert!(before <= t && t <= after, "{t} not in {before}..={after}");
}

fn uids_are_never_reused_after_expunge(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    assert_eq!(inbox.expunge(&[b]).unwrap(), [b]);
    let c = inbox.append(&msg(3), &Flags::new(), None).unwrap();
    assert!(c > b, "{c} reuses or precedes {b}");
    assert_eq!(inbox.expunge(&[a, c]).unwrap(), [a, c]);
    assert_eq!(inbox.status().unwrap().messages, 0);
    assert_eq!(inbox.status().unwrap().uid_next, c + 1);
    let d = inbox.append(&msg(4), &Flags::new(), None).unwrap();
    assert!(d > c);
}

fn uids_and_uidvalidity_survive_reopen(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let validity = inbox.status().unwrap().uid_validity;
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    inbox.expunge(&[b]).unwrap();
    let reopened = fx.alice_reopened().mailbox("INBOX").unwrap();
    let status = reopened.status().unwrap();
    assert_eq!(status.uid_validity, validity);
    assert_eq!(
        status.uid_next,
        b + 1,
        "UIDNEXT must not go back after an expunge"
    );
    assert_eq!(uids(&fx.alice_reopened(), "INBOX"), [a]);
    let c = reopened.append(&msg(3), &Flags::new(), None).unwrap();
    assert!(c > b);
}

fn read_of_a_missing_uid_is_no_such_message(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    assert!(matches!(inbox.read(1), Err(StoreError::NoSuchMessage(1))));
    let uid = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    inbox.expunge(&[uid]).unwrap();
    assert!(matches!(inbox.read(uid), Err(StoreError::NoSuchMessage(u)) if u == uid));
}

fn expunge_returns_removed_uids_ascending(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let u: Vec<u32> = (1..=5)
        .map(|n| inbox.append(&msg(n), &Flags::new(), None).unwrap())
        .collect();
    assert_eq!(
        inbox.expunge(&[u[3], 999, u[1], u[3]]).unwrap(),
        [u[1], u[3]]
    );
    assert_eq!(inbox.expunge(&[u[1]]).unwrap(), Vec::<u32>::new());
    assert_eq!(uids(&fx.alice(), "INBOX"), [u[0], u[2], u[4]]);
    assert_eq!(uids(&fx.alice_reopened(), "INBOX"), [u[0], u[2], u[4]]);
}

// ---- flags ----

fn set_flags_replaces_adds_removes_and_skips_missing(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let b = inbox.append(&msg(2), &flags(&[Flag::Seen]), None).unwrap();
    let out = inbox
        .set_flags(&[a, 999, b], FlagOp::Add, &flags(&[Flag::Flagged]))
        .unwrap();
    assert_eq!(
        out,
        vec![
            (a, flags(&[Flag::Flagged])),
            (b, flags(&[Flag::Seen, Flag::Flagged]))
        ]
    );
    let out = inbox
        .set_flags(&[b], FlagOp::Remove, &flags(&[Flag::Seen]))
        .unwrap();
    assert_eq!(out, vec![(b, flags(&[Flag::Flagged]))]);
    let all = flags(&[
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
    ]);
    inbox.set_flags(&[a], FlagOp::Replace, &all).unwrap();
    // Unchanged flags are still reported.
    assert_eq!(
        inbox
            .set_flags(&[a], FlagOp::Add, &flags(&[Flag::Seen]))
            .unwrap(),
        vec![(a, all.clone())]
    );
    for mailbox in [inbox, fx.alice_reopened().mailbox("INBOX").unwrap()] {
        let m = mailbox.messages().unwrap();
        assert_eq!(m[0].flags, all);
        assert_eq!(m[1].flags, flags(&[Flag::Flagged]));
        assert_eq!(mailbox.status().unwrap().unseen, 1);
    }
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    inbox
        .set_flags(&[a], FlagOp::Replace, &Flags::new())
        .unwrap();
    assert_eq!(
        fx.alice_reopened()
            .mailbox("INBOX")
            .unwrap()
            .messages()
            .unwrap()[0]
            .flags,
        Flags::new()
    );
}

fn keywords_are_kept(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &flags(&[kw("Work")]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    inbox
        .set_flags(&[a, b], FlagOp::Add, &flags(&[kw("$Junk"), Flag::Seen]))
        .unwrap();
    inbox
        .set_flags(&[a], FlagOp::Remove, &flags(&[kw("Work")]))
        .unwrap();
    let reopened = fx.alice_reopened().mailbox("INBOX").unwrap();
    let m = reopened.messages().unwrap();
    assert_eq!(m[0].flags, flags(&[kw("$Junk"), Flag::Seen]));
    assert_eq!(m[1].flags, flags(&[kw("$Junk"), Flag::Seen]));
}

// ---- copy and move ----

fn copy_keeps_bytes_flags_and_date(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("Archive").unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let archive = alice.mailbox("Archive").unwrap();
    let when = date("2023-12-24T18:00:00Z");
    let a = inbox
        .append(&msg(1), &flags(&[Flag::Answered, kw("x")]), Some(when))
        .unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), Some(when)).unwrap();
    let pairs = inbox.copy_to(&[b, 77, a], &archive).unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(pairs[0].0, b);
    assert_eq!(pairs[1].0, a);
    assert!(pairs[0].1 < pairs[1].1);
    assert_eq!(
        inbox.status().unwrap().messages,
        2,
        "copy leaves the source alone"
    );
    let reopened = fx.alice_reopened();
    let archive = reopened.mailbox("Archive").unwrap();
    for (src, dst) in pairs {
        assert_eq!(archive.read(dst).unwrap(), inbox.read(src).unwrap());
        let s = inbox
            .messages()
            .unwrap()
            .into_iter()
            .find(|m| m.uid == src)
            .unwrap();
        let d = archive
            .messages()
            .unwrap()
            .into_iter()
            .find(|m| m.uid == dst)
            .unwrap();
        assert_eq!(
            (d.flags, d.internal_date, d.size),
            (s.flags, s.internal_date, s.size)
        );
    }
}

fn copy_into_the_same_mailbox_appends_copies(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let pairs = inbox.copy_to(&[a], &inbox).unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(pairs[0].1 > a);
    assert_eq!(inbox.read(pairs[0].1).unwrap(), inbox.read(a).unwrap());
}

fn move_leaves_no_copy_behind(fx: &Fixture) {
    let alice = fx.alice();
    let inbox = alice.mailbox("INBOX").unwrap();
    let trash = alice.mailbox("Trash").unwrap();
    let a = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    let pairs = inbox.move_to(&[a], &trash).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(uids(&alice, "INBOX"), [b]);
    let reopened = fx.alice_reopened();
    assert_eq!(uids(&reopened, "INBOX"), [b]);
    let t = reopened.mailbox("Trash").unwrap();
    assert_eq!(&t.read(pairs[0].1).unwrap()[..], &msg(1)[..]);
    assert_eq!(t.messages().unwrap()[0].flags, flags(&[Flag::Seen]));
}

// ---- mailboxes ----

fn create_makes_missing_parents_and_list_is_ordered(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("Archive/2024/March").unwrap();
    alice.create("Zeta").unwrap();
    alice.create("INBOX/Sub").unwrap();
    alice.create("日本語&-x").unwrap();
    for account in [alice, fx.alice_reopened()] {
        let list = account.list().unwrap();
        assert_eq!(
            names(&list),
            [
                "INBOX",
                "Archive",
                "Archive/2024",
                "Archive/2024/March",
                "Drafts",
                "INBOX/Sub",
                "Junk",
                "Sent",
                "Trash",
                "Zeta",
                "日本語&-x"
            ]
        );
        assert!(
            list.iter().all(|i| i.selectable),
            "parents are created, not virtual"
        );
        account.mailbox("Archive/2024").unwrap();
    }
}

fn create_refuses_existing_names_and_inbox(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("Work").unwrap();
    assert!(matches!(alice.create("Work"), Err(StoreError::MailboxExists(n)) if n == "Work"));
    assert!(matches!(alice.create("inbox"), Err(StoreError::MailboxExists(n)) if n == "INBOX"));
    assert!(matches!(
        alice.create("Sent"),
        Err(StoreError::MailboxExists(_))
    ));
    // Case-sensitive apart from INBOX.
    alice.create("work").unwrap();
}

fn delete_follows_rfc3501(fx: &Fixture) {
    let alice = fx.alice();
    assert!(matches!(
        alice.delete("INBOX"),
        Err(StoreError::CannotDeleteInbox)
    ));
    assert!(matches!(
        alice.delete("inbox"),
        Err(StoreError::CannotDeleteInbox)
    ));
    assert!(matches!(
        alice.delete("Nope"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    alice.create("Work/Old").unwrap();
    assert!(matches!(alice.delete("Work"), Err(StoreError::HasChildren(n)) if n == "Work"));
    let old = alice.mailbox("Work/Old").unwrap();
    let validity = old.status().unwrap().uid_validity;
    old.append(&msg(1), &Flags::new(), None).unwrap();
    alice.delete("Work/Old").unwrap();
    // A handle held across the delete fails from now on.
    assert!(matches!(old.status(), Err(StoreError::NoSuchMailbox(_))));
    assert!(matches!(
        old.append(&msg(2), &Flags::new(), None),
        Err(StoreError::NoSuchMailbox(_))
    ));
    assert!(matches!(
        alice.mailbox("Work/Old"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    alice.delete("Work").unwrap();
    assert!(!names(&fx.alice_reopened().list().unwrap()).contains(&"Work"));
    // Created again, it is a new mailbox: empty, with a new UIDVALIDITY.
    alice.create("Work/Old").unwrap();
    let again = alice.mailbox("Work/Old").unwrap().status().unwrap();
    assert_eq!(again.messages, 0);
    assert_ne!(again.uid_validity, validity);
}

fn rename_moves_children_and_open_handles_follow(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("Projects/yubin/notes").unwrap();
    alice.create("Projects2").unwrap();
    alice.subscribe("Projects/yubin").unwrap();
    let handle = alice.mailbox("Projects/yubin").unwrap();
    let validity = handle.status().unwrap().uid_validity;
    let uid = handle
        .append(&msg(1), &flags(&[Flag::Flagged]), None)
        .unwrap();
    let mut watch = handle.watch();
    let v0 = watch.version();
    alice.rename("Projects", "Archive/Old").unwrap();
    assert!(watch.version() > v0, "watchers hear of a rename");
    assert_eq!(handle.name(), "Archive/Old/yubin");
    assert_eq!(handle.read(uid).unwrap(), msg(1));
    drop(watch.changed());
    for account in [alice.clone(), fx.alice_reopened()] {
        let list = account.list().unwrap();
        let n = names(&list);
        assert!(n.contains(&"Archive/Old/yubin/notes"), "{n:?}");
        assert!(
            n.contains(&"Projects2"),
            "siblings with a common prefix stay: {n:?}"
        );
        assert!(
            !n.iter()
                .any(|x| x.starts_with("Projects/") || *x == "Projects"),
            "{n:?}"
        );
        let moved = account.mailbox("Archive/Old/yubin").unwrap();
        assert_eq!(moved.status().unwrap().uid_validity, validity);
        assert_eq!(moved.messages().unwrap()[0].flags, flags(&[Flag::Flagged]));
        let sub = list.iter().find(|i| i.name == "Archive/Old/yubin").unwrap();
        assert!(sub.subscribed, "subscriptions follow a rename");
    }
    // A new mailbox under the old name is a different one.
    alice.create("Projects/yubin").unwrap();
    assert_eq!(
        alice
            .mailbox("Projects/yubin")
            .unwrap()
            .status()
            .unwrap()
            .messages,
        0
    );
    assert_eq!(handle.status().unwrap().messages, 1);
}

fn rename_refusals_change_nothing(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("A/child").unwrap();
    alice.create("B").unwrap();
    alice.create("C/child").unwrap();
    let before = alice.list().unwrap();
    assert!(matches!(alice.rename("A", "B"), Err(StoreError::MailboxExists(n)) if n == "B"));
    assert!(matches!(
        alice.rename("A", "C"),
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        alice.rename("Nope", "D"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    assert!(matches!(
        alice.rename("A", "A/inner"),
        Err(StoreError::InvalidName { .. })
    ));
    assert!(matches!(
        alice.rename("A", "inbox"),
        Err(StoreError::MailboxExists(_))
    ));
    assert!(matches!(
        alice.rename("A", "../x"),
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(alice.list().unwrap(), before);
}

fn rename_inbox_moves_its_messages_and_leaves_it_empty(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("INBOX/keep").unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    let validity = inbox.status().unwrap().uid_validity;
    alice.rename("inbox", "Old Mail").unwrap();
    for account in [alice.clone(), fx.alice_reopened()] {
        let inbox = account.mailbox("INBOX").unwrap();
        assert_eq!(inbox.status().unwrap().messages, 0);
        assert_eq!(inbox.status().unwrap().uid_validity, validity);
        assert!(inbox.status().unwrap().uid_next > b);
        let old = account.mailbox("Old Mail").unwrap();
        let m = old.messages().unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(old.read(m[0].uid).unwrap(), msg(1));
        assert_eq!(old.read(m[1].uid).unwrap(), msg(2));
        assert_eq!(m[0].flags, flags(&[Flag::Seen]));
        assert!(names(&account.list().unwrap()).contains(&"INBOX/keep"));
    }
    // New mail still lands in INBOX, with UIDs past the moved ones.
    let c = inbox.append(&msg(3), &Flags::new(), None).unwrap();
    assert!(c > a && c > b);
    assert!(matches!(
        alice.rename("INBOX", "Old Mail"),
        Err(StoreError::MailboxExists(_))
    ));
}

fn subscriptions_persist_and_follow_the_rules(fx: &Fixture) {
    let alice = fx.alice();
    alice.create("News").unwrap();
    let sub = |a: &Account, n: &str| {
        a.list()
            .unwrap()
            .iter()
            .find(|i| i.name == n)
            .unwrap()
            .subscribed
    };
    assert!(!sub(&alice, "News"));
    alice.subscribe("News").unwrap();
    alice.subscribe("News").unwrap();
    assert!(sub(&alice, "News"));
    assert!(sub(&fx.alice_reopened(), "News"));
    assert!(matches!(
        alice.subscribe("Nope"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    assert!(matches!(
        alice.subscribe("../x"),
        Err(StoreError::InvalidName { .. })
    ));
    alice.unsubscribe("News").unwrap();
    alice.unsubscribe("News").unwrap();
    assert!(!sub(&alice, "News"));
    assert!(!sub(&fx.alice_reopened(), "News"));
    assert!(sub(&alice, "INBOX"));
}

fn special_use_mailboxes_exist_on_first_use(fx: &Fixture) {
    let list = fx.alice().list().unwrap();
    for (name, use_, attr) in [
        ("Sent", SpecialUse::Sent, "\\Sent"),
        ("Drafts", SpecialUse::Drafts, "\\Drafts"),
        ("Trash", SpecialUse::Trash, "\\Trash"),
        ("Junk", SpecialUse::Junk, "\\Junk"),
    ] {
        let info = list.iter().find(|i| i.name == name).unwrap();
        assert_eq!(info.special_use, Some(use_));
        assert_eq!(use_.attribute(), attr);
        assert!(info.selectable && info.subscribed);
    }
    let inbox = &list[0];
    assert_eq!((inbox.name.as_str(), inbox.special_use), ("INBOX", None));
    // Deleted by the user, it stays deleted for this store.
    fx.alice().delete("Junk").unwrap();
    assert!(!names(&fx.alice().list().unwrap()).contains(&"Junk"));
}

fn invalid_names_are_refused_everywhere(fx: &Fixture) {
    let alice = fx.alice();
    let long = "x".repeat(256);
    for bad in [
        "",
        "/etc",
        "../escape",
        "a/../../b",
        "a//b",
        "a/",
        "nul\0",
        "bell\x07",
        long.as_str(),
    ] {
        let is_invalid =
            |r: Result<(), StoreError>| matches!(r, Err(StoreError::InvalidName { .. }));
        assert!(is_invalid(alice.create(bad)), "create {bad:?}");
        assert!(is_invalid(alice.delete(bad)), "delete {bad:?}");
        assert!(is_invalid(alice.rename("Sent", bad)), "rename to {bad:?}");
        assert!(is_invalid(alice.rename(bad, "x")), "rename from {bad:?}");
        assert!(is_invalid(alice.subscribe(bad)), "subscribe {bad:?}");
        assert!(is_invalid(alice.unsubscribe(bad)), "unsubscribe {bad:?}");
        assert!(is_invalid(alice.mailbox(bad).map(drop)), "mailbox {bad:?}");
    }
    for bad in ["", "a/b", "..", "x\0", &"y".repeat(65)] {
        assert!(matches!(
            fx.store.add_account(bad, Secret::from("p")),
            Err(StoreError::InvalidName { .. })
        ));
        assert!(matches!(
            fx.store.account(bad),
            Err(StoreError::InvalidName { .. })
        ));
        assert!(matches!(
            fx.store.authenticate(bad, &Secret::from("p")),
            Err(StoreError::AuthFailed)
        ));
    }
    if let Some(dir) = &fx.dir {
        assert!(!dir.path().join("escape").exists());
        assert!(!dir.path().parent().unwrap().join("escape").exists());
    }
}

fn inbox_is_case_insensitive_and_others_are_not(fx: &Fixture) {
    let alice = fx.alice();
    let a = alice.mailbox("inbox").unwrap();
    let b = alice.mailbox("InBoX").unwrap();
    assert_eq!(a.name(), "INBOX");
    a.append(&msg(1), &Flags::new(), None).unwrap();
    assert_eq!(b.status().unwrap().messages, 1);
    assert!(matches!(
        alice.mailbox("sent"),
        Err(StoreError::NoSuchMailbox(_))
    ));
}

fn all_handles_share_one_state(fx: &Fixture) {
    let one = fx.store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let other = fx
        .store
        .clone()
        .authenticate("alice", &Secret::from("secret"))
        .unwrap();
    let two = other.mailbox("INBOX").unwrap();
    let uid = one.append(&msg(1), &Flags::new(), None).unwrap();
    two.set_flags(&[uid], FlagOp::Add, &flags(&[Flag::Seen]))
        .unwrap();
    assert_eq!(one.messages().unwrap()[0].flags, flags(&[Flag::Seen]));
    assert_eq!(one.clone().status().unwrap(), two.status().unwrap());
}

fn claim_recent_hands_each_message_to_one_session(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    assert_eq!(inbox.status().unwrap().recent, 1);
    let first = inbox.claim_recent();
    assert!(first <= a, "the first session sees message {a} as recent");
    assert_eq!(inbox.status().unwrap().recent, 0);
    let second = inbox.claim_recent();
    assert!(second > a, "the second does not");
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    assert_eq!(inbox.status().unwrap().recent, 1);
    let third = inbox.claim_recent();
    assert!(third > a && third <= b);
    assert_eq!(
        fx.alice_reopened()
            .mailbox("INBOX")
            .unwrap()
            .status()
            .unwrap()
            .recent,
        0
    );
}

fn maildrop_lock_is_exclusive_and_released_on_drop(fx: &Fixture) {
    let alice = fx.alice();
    let lock = alice.lock_maildrop().unwrap();
    assert!(matches!(alice.lock_maildrop(), Err(StoreError::Locked(n)) if n == "alice"));
    assert!(matches!(
        fx.alice().lock_maildrop(),
        Err(StoreError::Locked(_))
    ));
    drop(lock);
    let again = fx.alice().lock_maildrop().unwrap();
    // Released however the holder ends, here a panicking thread.
    let account = fx.alice();
    drop(again);
    let joined = std::thread::spawn(move || {
        let _held = account.lock_maildrop().unwrap();
        panic!("session died");
    })
    .join();
    assert!(joined.is_err());
    drop(alice.lock_maildrop().unwrap());
    // Accounts do not share a lock.
    fx.store.add_account("bob", Secret::from("x")).unwrap();
    let _alice = alice.lock_maildrop().unwrap();
    let _bob = fx.store.account("bob").unwrap().lock_maildrop().unwrap();
}

fn watchers_see_changes_made_through_other_handles(fx: &Fixture) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let watched = fx.alice().mailbox("INBOX").unwrap();
    let writer = fx.store.account("alice").unwrap().mailbox("inbox").unwrap();
    let mut watch = watched.watch();
    let step = |watch: &mut yubin_store::MailboxWatch| {
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(5), watch.changed()).await })
            .expect("a change notification")
    };
    let v0 = watch.version();
    let uid = writer.append(&msg(1), &Flags::new(), None).unwrap();
    step(&mut watch);
    assert!(watch.version() > v0);
    writer
        .set_flags(&[uid], FlagOp::Add, &flags(&[Flag::Seen]))
        .unwrap();
    step(&mut watch);
    writer.expunge(&[uid]).unwrap();
    step(&mut watch);
    assert_eq!(watched.messages().unwrap(), vec![]);
    // No change, no notification.
    writer
        .set_flags(&[uid], FlagOp::Add, &flags(&[Flag::Seen]))
        .unwrap();
    writer.expunge(&[uid]).unwrap();
    let quiet = rt
        .block_on(async { tokio::time::timeout(Duration::from_millis(50), watch.changed()).await });
    assert!(quiet.is_err(), "no-op operations must not notify");
    // A deletion is a change too.
    fx.alice().create("Tmp").unwrap();
    let tmp = fx.alice().mailbox("Tmp").unwrap();
    let mut tw = tmp.watch();
    fx.alice().delete("Tmp").unwrap();
    step(&mut tw);
}

fn refresh_keeps_the_state(fx: &Fixture) {
    let inbox = fx.alice().mailbox("INBOX").unwrap();
    let uid = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let before = inbox.messages().unwrap();
    let mut watch = inbox.watch();
    inbox.refresh().unwrap();
    assert_eq!(inbox.messages().unwrap(), before);
    let quiet = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(async { tokio::time::timeout(Duration::from_millis(20), watch.changed()).await });
    assert!(
        quiet.is_err(),
        "a refresh that finds nothing new does not notify"
    );
    assert_eq!(inbox.read(uid).unwrap(), msg(1));
}

// ---- accounts ----

fn authentication_checks_passwords_without_revealing_them(fx: &Fixture) {
    let store = &fx.store;
    let ok = store
        .authenticate("alice", &Secret::from("secret"))
        .unwrap();
    assert_eq!(ok.name(), "alice");
    for (user, pw) in [("alice", "hunter2"), ("alice", ""), ("mallory", "hunter2")] {
        let err = store.authenticate(user, &Secret::from(pw)).unwrap_err();
        assert!(matches!(err, StoreError::AuthFailed));
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("secret"),
            "{shown}"
        );
    }
    assert!(
        matches!(store.account("mallory"), Err(StoreError::NoSuchAccount(n)) if n == "mallory")
    );
    assert_eq!(store.account_names(), ["alice"]);
    store.add_account("alice", Secret::from("new")).unwrap();
    assert!(
        store
            .authenticate("alice", &Secret::from("secret"))
            .is_err()
    );
    store.authenticate("alice", &Secret::from("new")).unwrap();
}

fn accept_any_login_creates_accounts_on_first_use(fx: &Fixture) {
    let store = &fx.store;
    assert!(!store.accept_any_login());
    store.set_accept_any_login(true);
    assert!(store.accept_any_login());
    let carol = store
        .authenticate("carol", &Secret::from("anything"))
        .unwrap();
    assert!(names(&carol.list().unwrap()).contains(&"Sent"));
    store
        .authenticate("carol", &Secret::from("something else"))
        .unwrap();
    store.account("dave").unwrap().mailbox("INBOX").unwrap();
    // Accounts with a password of their own keep it.
    assert!(matches!(
        store.authenticate("alice", &Secret::from("wrong")),
        Err(StoreError::AuthFailed)
    ));
    assert_eq!(store.account_names(), ["alice", "carol", "dave"]);
    store.set_accept_any_login(false);
    assert!(matches!(
        store.authenticate("carol", &Secret::from("x")),
        Err(StoreError::AuthFailed)
    ));
    assert!(matches!(
        store.account("erin"),
        Err(StoreError::NoSuchAccount(_))
    ));
}

fn users_file_adds_accounts(fx: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(
        &path,
        "[users]\nbob = \"b0b\"\n\"carol@example.com\" = \"c\"\n",
    )
    .unwrap();
    assert_eq!(fx.store.load_users_file(&path).unwrap(), 2);
    fx.store.authenticate("bob", &Secret::from("b0b")).unwrap();
    fx.store
        .authenticate("carol@example.com", &Secret::from("c"))
        .unwrap();
    std::fs::write(&path, "[users]\nbob = \"hunter2\n").unwrap();
    let err = fx.store.load_users_file(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let missing = fx
        .store
        .load_users_file(&dir.path().join("nope.toml"))
        .unwrap_err();
    assert!(matches!(missing, StoreError::Io { .. }));
}

macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $( #[test] fn $case() { super::$case(&super::Fixture::memory()); } )*
        }
        mod maildir {
            $( #[test] fn $case() { super::$case(&super::Fixture::maildir()); } )*
        }
    };
}

suite!(
    append_gives_ascending_uids_and_status_counts,
    append_batch_adds_all_in_order_with_one_uid_each,
    read_gives_crlf_wire_form_and_size_matches,
    corpus_round_trips_byte_for_byte,
    append_keeps_flags_and_internal_date,
    internal_date_defaults_to_now,
    uids_are_never_reused_after_expunge,
    uids_and_uidvalidity_survive_reopen,
    read_of_a_missing_uid_is_no_such_message,
    expunge_returns_removed_uids_ascending,
    set_flags_replaces_adds_removes_and_skips_missing,
    keywords_are_kept,
    copy_keeps_bytes_flags_and_date,
    copy_into_the_same_mailbox_appends_copies,
    move_leaves_no_copy_behind,
    create_makes_missing_parents_and_list_is_ordered,
    create_refuses_existing_names_and_inbox,
    delete_follows_rfc3501,
    rename_moves_children_and_open_handles_follow,
    rename_refusals_change_nothing,
    rename_inbox_moves_its_messages_and_leaves_it_empty,
    subscriptions_persist_and_follow_the_rules,
    special_use_mailboxes_exist_on_first_use,
    invalid_names_are_refused_everywhere,
    inbox_is_case_insensitive_and_others_are_not,
    all_handles_share_one_state,
    claim_recent_hands_each_message_to_one_session,
    maildrop_lock_is_exclusive_and_released_on_drop,
    watchers_see_changes_made_through_other_handles,
    refresh_keeps_the_state,
    authentication_checks_passwords_without_revealing_them,
    accept_any_login_creates_accounts_on_first_use,
    users_file_adds_accounts,
);
