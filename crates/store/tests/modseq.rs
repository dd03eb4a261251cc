//! MODSEQ (RFC 7162 §3.1) and the live view, on both backends through the public API:
//! every change gets a modification sequence above every earlier one, the view lists
//! the changes since a given modseq, and UNCHANGEDSINCE leaves modified messages alone.

use yubin_store::{ChangeKind, Flag, FlagOp, Flags, Mailbox, Secret, Store};

fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let maildir = Store::maildir(dir.path()).unwrap();
    let memory = Store::memory();
    let mut out = vec![("memory", memory, None), ("maildir", maildir, Some(dir))];
    for (_, store, _) in &mut out {
        store.add_account("alice", Secret::from("secret")).unwrap();
    }
    out
}

fn inbox(store: &Store) -> Mailbox {
    store.account("alice").unwrap().mailbox("INBOX").unwrap()
}

fn seen() -> Flags {
    [Flag::Seen].into_iter().collect()
}

#[test]
fn every_change_gets_a_higher_modseq_and_no_op_changes_none() {
    for (name, store, _dir) in stores() {
        let inbox = inbox(&store);
        let m0 = inbox.status().unwrap().highest_modseq;
        let a = inbox
            .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
            .unwrap();
        let m1 = inbox.status().unwrap().highest_modseq;
        assert!(m1 > m0, "{name}: append");
        assert_eq!(inbox.view().unwrap().modseq(a), Some(m1), "{name}");
        inbox.set_flags(&[a], FlagOp::Add, &seen()).unwrap();
        let m2 = inbox.status().unwrap().highest_modseq;
        assert!(m2 > m1, "{name}: flag change");
        assert_eq!(inbox.view().unwrap().modseq(a), Some(m2), "{name}");
        // Adding a flag the message has changes nothing, so no new modseq.
        inbox.set_flags(&[a], FlagOp::Add, &seen()).unwrap();
        assert_eq!(inbox.status().unwrap().highest_modseq, m2, "{name}: no-op");
        inbox.expunge(&[a]).unwrap();
        let m3 = inbox.status().unwrap().highest_modseq;
        assert!(m3 > m2, "{name}: expunge");
        assert_eq!(inbox.view().unwrap().vanished_since(m2), vec![a], "{name}");
        assert!(
            inbox.view().unwrap().vanished_since(m3).is_empty(),
            "{name}"
        );
    }
}

#[test]
fn the_view_lists_changes_since_a_modseq_in_order() {
    for (name, store, _dir) in stores() {
        let inbox = inbox(&store);
        let a = inbox
            .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
            .unwrap();
        let since = inbox.status().unwrap().highest_modseq;
        let snapshot = inbox.view().unwrap();
        let b = inbox
            .append(b"Subject: b\r\n\r\n", &Flags::new(), None)
            .unwrap();
        inbox.set_flags(&[a], FlagOp::Add, &seen()).unwrap();
        inbox.expunge(&[b]).unwrap();
        // The old snapshot is unchanged by what happened since.
        assert_eq!(snapshot.len(), 1, "{name}");
        assert!(snapshot.flags(a).unwrap().is_empty(), "{name}");
        let view = inbox.view().unwrap();
        let changes: Vec<(u32, ChangeKind)> = view
            .changes_since(since)
            .unwrap()
            .map(|c| (c.uid, c.kind))
            .collect();
        assert_eq!(
            changes,
            [
                (b, ChangeKind::Added),
                (a, ChangeKind::Flags),
                (b, ChangeKind::Expunged)
            ],
            "{name}"
        );
        assert_eq!(
            view.changes_since(view.highest_modseq()).unwrap().count(),
            0
        );
        let st = view.status();
        assert_eq!((st.messages, st.unseen), (1, 0), "{name}");
    }
}

#[test]
fn unchanged_since_leaves_modified_messages_alone() {
    for (name, store, _dir) in stores() {
        let inbox = inbox(&store);
        let a = inbox
            .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
            .unwrap();
        let b = inbox
            .append(b"Subject: b\r\n\r\n", &Flags::new(), None)
            .unwrap();
        let before = inbox.status().unwrap().highest_modseq;
        inbox.set_flags(&[a], FlagOp::Add, &seen()).unwrap();
        let flagged: Flags = [Flag::Flagged].into_iter().collect();
        let out = inbox
            .set_flags_unchanged_since(&[a, b], FlagOp::Add, &flagged, Some(before))
            .unwrap();
        assert_eq!(out.modified, vec![a], "{name}");
        assert_eq!(out.flags, vec![(b, flagged.clone())], "{name}");
        assert!(out.modseq > before, "{name}");
        assert_eq!(inbox.view().unwrap().flags(a), Some(&seen()), "{name}");
    }
}

#[test]
fn modseqs_survive_a_restart_and_never_go_back() {
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("secret")).unwrap();
        inbox(&store)
    };
    let (uid, highest) = {
        let inbox = open();
        let uid = inbox
            .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
            .unwrap();
        inbox.set_flags(&[uid], FlagOp::Add, &seen()).unwrap();
        (uid, inbox.status().unwrap().highest_modseq)
    };
    let inbox = open();
    let view = inbox.view().unwrap();
    assert_eq!(view.highest_modseq(), highest);
    assert_eq!(view.modseq(uid), Some(highest));
    assert_eq!(view.flags(uid), Some(&seen()));
    inbox.set_flags(&[uid], FlagOp::Remove, &seen()).unwrap();
    assert!(inbox.status().unwrap().highest_modseq > highest);
}

#[test]
fn keywords_past_twenty_six_are_kept_across_a_restart() {
    // Maildir file names have 26 keyword letters; the index keeps the rest.
    let dir = tempfile::tempdir().unwrap();
    let open = || {
        let store = Store::maildir(dir.path()).unwrap();
        store.add_account("alice", Secret::from("secret")).unwrap();
        inbox(&store)
    };
    let many: Flags = (0..40).map(|i| Flag::Keyword(format!("k{i}"))).collect();
    let uid = {
        let inbox = open();
        let uid = inbox
            .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
            .unwrap();
        inbox.set_flags(&[uid], FlagOp::Add, &many).unwrap();
        inbox.flush().unwrap();
        uid
    };
    assert_eq!(open().view().unwrap().flags(uid), Some(&many));
}

#[test]
fn the_first_unseen_follows_flag_changes_and_expunges() {
    for (name, store, _dir) in stores() {
        let inbox = inbox(&store);
        let uids: Vec<u32> = (0..4)
            .map(|i| {
                inbox
                    .append(
                        format!("Subject: {i}\r\n\r\n").as_bytes(),
                        &Flags::new(),
                        None,
                    )
                    .unwrap()
            })
            .collect();
        assert_eq!(
            inbox.view().unwrap().first_unseen(),
            Some(uids[0]),
            "{name}"
        );
        inbox.set_flags(&uids[..2], FlagOp::Add, &seen()).unwrap();
        assert_eq!(
            inbox.view().unwrap().first_unseen(),
            Some(uids[2]),
            "{name}"
        );
        inbox.expunge(&[uids[2]]).unwrap();
        assert_eq!(
            inbox.view().unwrap().first_unseen(),
            Some(uids[3]),
            "{name}"
        );
        inbox
            .set_flags(&[uids[0]], FlagOp::Remove, &seen())
            .unwrap();
        assert_eq!(
            inbox.view().unwrap().first_unseen(),
            Some(uids[0]),
            "{name}"
        );
        inbox.set_flags(&uids, FlagOp::Add, &seen()).unwrap();
        let view = inbox.view().unwrap();
        assert_eq!(
            (view.first_unseen(), view.status().unseen),
            (None, 0),
            "{name}"
        );
    }
}
