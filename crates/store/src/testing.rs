//! The conformance suite as library code (feature `testing`): every case the store's own
//! backends pass, for any backend to run.
//!
//! A case is a public function over a [`Fixture`], which makes the store under test and
//! reopens it as a restarted process would. [`conformance_suite!`](crate::conformance_suite)
//! turns every case into a `#[test]`, so a backend's crate hooks up the whole suite with
//! one line in an integration test (with `yubin-store` and its `testing` feature as a
//! dev-dependency):
//!
//! ```
//! use yubin_store::testing::Fixture;
//! use yubin_store::{MemoryBackend, Secret, Store};
//!
//! /// A backend's fixture: here the memory backend, which keeps nothing to reopen.
//! struct Memory(Store);
//!
//! impl Memory {
//!     fn new() -> Memory {
//!         let store = Store::with_backend(MemoryBackend);
//!         store.add_account("alice", Secret::from("secret")).unwrap();
//!         Memory(store)
//!     }
//! }
//!
//! impl Fixture for Memory {
//!     fn store(&self) -> Store {
//!         self.0.clone()
//!     }
//!     fn reopen(&self) -> Store {
//!         self.0.clone()
//!     }
//! }
//!
//! // One `#[test]` per case, in `mod memory`, each with a fresh `Memory::new()`.
//! yubin_store::conformance_suite!(memory, Memory::new());
//! # fn main() {}
//! ```
//!
//! The cases panic on failure, like any test. They assert behaviour only through the
//! public API, so they hold for every backend; what is particular to one backend (Maildir
//! file names, crash recovery on disk) is tested in that backend's own tests.
//! [`corpus_round_trips_byte_for_byte`] reads the message corpus from this repository's
//! `tests/fixtures/corpus`.

use std::time::Duration;

use chrono::{DateTime, FixedOffset};

use crate::{
    Account, Flag, FlagOp, Flags, MailboxInfo, NewMessage, Secret, SpecialUse, Store, StoreError,
};

/// How the suite gets a store of the backend under test. The conformance macro builds
/// one fixture per case, so each case starts from an empty store.
pub trait Fixture {
    /// The store under test: a fresh, empty one for this fixture, with the account
    /// `alice`, password `secret`. Every call returns a handle to the same store (a
    /// clone: [`Store`] is cheap to clone and its clones share one state).
    fn store(&self) -> Store;

    /// A new [`Store`] over what [`Fixture::store`] persisted, as a restarted process
    /// sees it, with `alice`/`secret` added again (accounts and passwords are
    /// configuration, not mail). A backend that keeps nothing beyond the process (memory)
    /// returns [`Fixture::store`].
    fn reopen(&self) -> Store;
}

fn alice_of(fx: &dyn Fixture) -> Account {
    fx.store().account("alice").unwrap()
}

fn alice_reopened(fx: &dyn Fixture) -> Account {
    fx.reopen().account("alice").unwrap()
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

/// Appends get strictly ascending UIDs; STATUS counts messages, unseen and recent, and
/// UIDNEXT follows.
pub fn append_gives_ascending_uids_and_status_counts(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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
    assert_eq!(uids(&alice_of(fx), "INBOX"), [a, b, c]);
}

/// A batch append gives one ascending UID per message, with their bytes, flags and
/// dates, durably.
pub fn append_batch_adds_all_in_order_with_one_uid_each(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
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

/// Bare LF line ends are read back as CRLF, and the size is that of the wire form,
/// after a reopen too.
pub fn read_gives_crlf_wire_form_and_size_matches(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    assert_eq!(reopened.read(uid).unwrap(), bytes);
    assert_eq!(reopened.messages().unwrap()[0].size, bytes.len() as u64);
}

/// Every message of the test corpus (`tests/fixtures/corpus`) reads back byte for byte
/// in wire form, with its wire size.
pub fn corpus_round_trips_byte_for_byte(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let mut delivered = Vec::new();
    for (name, raw) in corpus() {
        let uid = inbox.append(&raw, &Flags::new(), None).unwrap();
        delivered.push((name, uid, crate::wire::to_crlf(&raw).into_owned()));
    }
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    let metas = reopened.messages().unwrap();
    for (name, uid, wire) in delivered {
        let got = reopened.read(uid).unwrap();
        assert!(got[..] == wire[..], "{name} differs");
        let meta = metas.iter().find(|m| m.uid == uid).unwrap();
        assert_eq!(meta.size, wire.len() as u64, "{name}");
    }
}

/// Flags (keywords included) and the internal date (whole seconds) given at append are
/// kept.
pub fn append_keeps_flags_and_internal_date(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let when = date("2024-03-01T09:30:15.750+09:00");
    let f = flags(&[Flag::Seen, Flag::Draft, kw("$Forwarded")]);
    let uid = inbox.append(&msg(1), &f, Some(when)).unwrap();
    for mailbox in [inbox, alice_reopened(fx).mailbox("INBOX").unwrap()] {
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

/// Without an internal date, a message gets the time of its append.
pub fn internal_date_defaults_to_now(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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

/// An expunged UID is never given out again; UIDNEXT does not go back.
pub fn uids_are_never_reused_after_expunge(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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

/// UIDs, UIDVALIDITY and UIDNEXT survive a restart, expunges included.
pub fn uids_and_uidvalidity_survive_reopen(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let validity = inbox.status().unwrap().uid_validity;
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    inbox.expunge(&[b]).unwrap();
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    let status = reopened.status().unwrap();
    assert_eq!(status.uid_validity, validity);
    assert_eq!(
        status.uid_next,
        b + 1,
        "UIDNEXT must not go back after an expunge"
    );
    assert_eq!(uids(&alice_reopened(fx), "INBOX"), [a]);
    let c = reopened.append(&msg(3), &Flags::new(), None).unwrap();
    assert!(c > b);
}

/// Reading a UID that never was or was expunged is `NoSuchMessage`.
pub fn read_of_a_missing_uid_is_no_such_message(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    assert!(matches!(inbox.read(1), Err(StoreError::NoSuchMessage(1))));
    let uid = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    inbox.expunge(&[uid]).unwrap();
    assert!(matches!(inbox.read(uid), Err(StoreError::NoSuchMessage(u)) if u == uid));
}

/// Expunge returns the UIDs it removed, ascending, once each, skipping unknown ones;
/// durably.
pub fn expunge_returns_removed_uids_ascending(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let u: Vec<u32> = (1..=5)
        .map(|n| inbox.append(&msg(n), &Flags::new(), None).unwrap())
        .collect();
    assert_eq!(
        inbox.expunge(&[u[3], 999, u[1], u[3]]).unwrap(),
        [u[1], u[3]]
    );
    assert_eq!(inbox.expunge(&[u[1]]).unwrap(), Vec::<u32>::new());
    assert_eq!(uids(&alice_of(fx), "INBOX"), [u[0], u[2], u[4]]);
    assert_eq!(uids(&alice_reopened(fx), "INBOX"), [u[0], u[2], u[4]]);
}

// ---- flags ----

/// Flag changes replace, add and remove, report every existing message named, skip
/// unknown UIDs, and persist.
pub fn set_flags_replaces_adds_removes_and_skips_missing(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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
    for mailbox in [inbox, alice_reopened(fx).mailbox("INBOX").unwrap()] {
        let m = mailbox.messages().unwrap();
        assert_eq!(m[0].flags, all);
        assert_eq!(m[1].flags, flags(&[Flag::Flagged]));
        assert_eq!(mailbox.status().unwrap().unseen, 1);
    }
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    inbox
        .set_flags(&[a], FlagOp::Replace, &Flags::new())
        .unwrap();
    assert_eq!(
        alice_reopened(fx)
            .mailbox("INBOX")
            .unwrap()
            .messages()
            .unwrap()[0]
            .flags,
        Flags::new()
    );
}

/// Keywords are added and removed like system flags, and persist.
pub fn keywords_are_kept(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &flags(&[kw("Work")]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    inbox
        .set_flags(&[a, b], FlagOp::Add, &flags(&[kw("$Junk"), Flag::Seen]))
        .unwrap();
    inbox
        .set_flags(&[a], FlagOp::Remove, &flags(&[kw("Work")]))
        .unwrap();
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    let m = reopened.messages().unwrap();
    assert_eq!(m[0].flags, flags(&[kw("$Junk"), Flag::Seen]));
    assert_eq!(m[1].flags, flags(&[kw("$Junk"), Flag::Seen]));
}

// ---- copy and move ----

/// A copy keeps bytes, flags, internal date and size, gets new ascending UIDs, and
/// leaves the source alone.
pub fn copy_keeps_bytes_flags_and_date(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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
    let reopened = alice_reopened(fx);
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

/// Copying into the same mailbox appends a copy under a new UID.
pub fn copy_into_the_same_mailbox_appends_copies(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let pairs = inbox.copy_to(&[a], &inbox).unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(pairs[0].1 > a);
    assert_eq!(inbox.read(pairs[0].1).unwrap(), inbox.read(a).unwrap());
}

/// A move into the mailbox itself (RFC 6851 allows it) gives each message a new UID, in
/// the order asked, with its bytes, flags and internal date; the old UIDs are expunged,
/// and a retried move of them adds nothing.
pub fn move_into_the_same_mailbox_gives_new_uids(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    let when = date("2024-02-03T04:05:06Z");
    let a = inbox
        .append(&msg(1), &flags(&[Flag::Seen]), Some(when))
        .unwrap();
    let b = inbox
        .append(&msg(2), &flags(&[kw("$Label1")]), None)
        .unwrap();
    let c = inbox.append(&msg(3), &Flags::new(), None).unwrap();
    let before = inbox.status().unwrap();
    let pairs = inbox.move_to(&[c, 99, a, c], &inbox).unwrap();
    assert_eq!(
        pairs,
        [(c, before.uid_next), (a, before.uid_next + 1)],
        "new UIDs from UIDNEXT, in the order asked, each message once"
    );
    assert_eq!(uids(&alice, "INBOX"), [b, pairs[0].1, pairs[1].1]);
    assert!(matches!(inbox.read(a), Err(StoreError::NoSuchMessage(_))));
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    let moved = reopened.messages().unwrap();
    let of = |uid| moved.iter().find(|m| m.uid == uid).unwrap();
    assert_eq!(&reopened.read(pairs[1].1).unwrap()[..], &msg(1)[..]);
    assert_eq!(of(pairs[1].1).flags, flags(&[Flag::Seen]));
    assert_eq!(of(pairs[1].1).internal_date, when);
    assert_eq!(&reopened.read(pairs[0].1).unwrap()[..], &msg(3)[..]);
    assert_eq!(of(b).flags, flags(&[kw("$Label1")]));
    assert!(inbox.move_to(&[a, c], &inbox).unwrap().is_empty());
    assert_eq!(inbox.status().unwrap().messages, 3);
}

/// A move removes the source message and keeps bytes and flags in the target.
pub fn move_leaves_no_copy_behind(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    let trash = alice.mailbox("Trash").unwrap();
    let a = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    let pairs = inbox.move_to(&[a], &trash).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(uids(&alice, "INBOX"), [b]);
    let reopened = alice_reopened(fx);
    assert_eq!(uids(&reopened, "INBOX"), [b]);
    let t = reopened.mailbox("Trash").unwrap();
    assert_eq!(&t.read(pairs[0].1).unwrap()[..], &msg(1)[..]);
    assert_eq!(t.messages().unwrap()[0].flags, flags(&[Flag::Seen]));
}

/// A move (RFC 6851) gives each message that exists a new UID in the destination, in
/// the order asked, above the destination's UIDNEXT and numbered after its
/// HIGHESTMODSEQ; bytes, flags (keywords too), internal date and size go with it; the
/// source expunges exactly those, with a new modseq, and keeps its UIDNEXT. The same
/// after a restart.
pub fn move_gives_new_uids_and_keeps_flags_dates_and_bytes(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    alice.create("Archive").unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let archive = alice.mailbox("Archive").unwrap();
    archive.append(&msg(9), &Flags::new(), None).unwrap();
    let when = date("2021-03-04T05:06:07Z");
    let a = inbox
        .append(&msg(1), &flags(&[Flag::Seen, kw("$Work")]), Some(when))
        .unwrap();
    let b = inbox
        .append(&msg(2), &flags(&[Flag::Flagged]), Some(when))
        .unwrap();
    let c = inbox.append(&msg(3), &Flags::new(), None).unwrap();
    let (src, dst) = (inbox.status().unwrap(), archive.status().unwrap());
    let pairs = inbox.move_to(&[b, 77, a, b], &archive).unwrap();
    assert_eq!(pairs.len(), 2, "{pairs:?}");
    assert_eq!((pairs[0].0, pairs[1].0), (b, a), "in the order asked");
    assert!(pairs[0].1 >= dst.uid_next && pairs[1].1 == pairs[0].1 + 1);
    for account in [alice.clone(), alice_reopened(fx)] {
        let inbox = account.mailbox("INBOX").unwrap();
        let archive = account.mailbox("Archive").unwrap();
        assert_eq!(uids(&account, "INBOX"), [c]);
        let s = inbox.status().unwrap();
        assert_eq!(s.uid_next, src.uid_next, "the source's UIDNEXT stays");
        assert!(
            s.highest_modseq > src.highest_modseq,
            "the expunge is a change"
        );
        let d = archive.status().unwrap();
        assert_eq!((d.messages, d.uid_validity), (3, dst.uid_validity));
        assert!(d.highest_modseq > dst.highest_modseq);
        for ((_, new), (n, f)) in pairs.iter().zip([
            (2, flags(&[Flag::Flagged])),
            (1, flags(&[Flag::Seen, kw("$Work")])),
        ]) {
            let m = archive.view().unwrap().get(*new).unwrap();
            assert_eq!(archive.read(*new).unwrap(), msg(n));
            assert_eq!((m.flags, m.internal_date), (f, when));
            assert_eq!(m.size, msg(n).len() as u64);
            assert!(
                m.modseq > dst.highest_modseq,
                "numbered after the destination's"
            );
        }
    }
}

/// A MOVE retried (its answer lost) moves nothing more: the UIDs are gone from the
/// source, so no copy is added; a move from an emptied source moves nothing.
pub fn a_retried_move_adds_no_copy(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    let trash = alice.mailbox("Trash").unwrap();
    let a = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let first = inbox.move_to(&[a], &trash).unwrap();
    assert_eq!(first.len(), 1);
    let before = trash.status().unwrap();
    assert!(inbox.move_to(&[a], &trash).unwrap().is_empty());
    assert!(inbox.move_to(&[a, a + 1], &trash).unwrap().is_empty());
    assert_eq!(trash.status().unwrap(), before);
    // And back: the message is moved again, once.
    let back = trash.move_to(&[first[0].1, first[0].1], &inbox).unwrap();
    assert_eq!(back.len(), 1);
    assert_eq!(inbox.read(back[0].1).unwrap(), msg(1));
    assert_eq!(inbox.status().unwrap().messages, 1);
    assert_eq!(trash.status().unwrap().messages, 0);
}

/// Watchers of both mailboxes hear of a move, and every session sees the message in
/// exactly one of them once the move has returned.
pub fn a_move_is_seen_by_watchers_of_both_mailboxes(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    let junk = alice.mailbox("Junk").unwrap();
    let uid = inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let other = fx.store().account("alice").unwrap();
    let (w1, w2) = (inbox.watch(), junk.watch());
    let (v1, v2) = (w1.version(), w2.version());
    let pairs = inbox.move_to(&[uid], &junk).unwrap();
    assert!(w1.version() > v1 && w2.version() > v2);
    assert!(other.mailbox("INBOX").unwrap().view().unwrap().is_empty());
    let seen = other.mailbox("Junk").unwrap().messages().unwrap();
    assert_eq!(seen.iter().map(|m| m.uid).collect::<Vec<_>>(), [pairs[0].1]);
}

/// Many messages move in several batches, every one of them once.
pub fn a_large_move_moves_every_message_once(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    alice.create("Bulk").unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let bulk = alice.mailbox("Bulk").unwrap();
    let bodies: Vec<Vec<u8>> = (0..1100).map(msg).collect();
    let none = Flags::new();
    let all = inbox
        .append_batch(
            &bodies
                .iter()
                .map(|raw| NewMessage {
                    raw,
                    flags: &none,
                    internal_date: None,
                })
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let pairs = inbox.move_to(&all, &bulk).unwrap();
    assert_eq!(pairs.len(), all.len());
    assert!(pairs.windows(2).all(|w| w[1].1 == w[0].1 + 1));
    assert_eq!(inbox.status().unwrap().messages, 0);
    let reopened = alice_reopened(fx);
    let bulk = reopened.mailbox("Bulk").unwrap();
    assert_eq!(bulk.status().unwrap().messages, 1100);
    assert_eq!(bulk.read(pairs[1099].1).unwrap(), msg(1099));
}

// ---- messages received as they arrive ----

/// The message [`streamed`] sends: bare LF line ends, one CRLF cut between two pieces.
const STREAMED: &[&[u8]] = &[
    b"Subject: streamed\nFrom: a@example.com\r",
    b"\n\nline one\n",
    b"",
    b"line two\r\n",
];

/// [`STREAMED`] in wire form.
const STREAMED_WIRE: &[u8] =
    b"Subject: streamed\r\nFrom: a@example.com\r\n\r\nline one\r\nline two\r\n";

/// A message delivered a piece at a time (SMTP DATA) reaches every recipient's INBOX,
/// one copy per account, byte for byte the same, in wire form, with the size it counted;
/// after a restart too.
pub fn incoming_delivers_the_same_message_to_every_recipient(fx: &dyn Fixture) {
    let store = fx.store();
    store.add_account("bob", Secret::from("pw")).unwrap();
    let mut incoming = store
        .incoming(&["alice@localhost", "bob", "ALICE"])
        .unwrap();
    assert!(incoming.is_empty());
    for piece in STREAMED {
        incoming.write(piece).unwrap();
    }
    assert_eq!(incoming.len(), STREAMED_WIRE.len() as u64);
    let before = chrono::Utc::now().timestamp();
    let delivered = incoming.deliver().unwrap();
    let accounts: Vec<&str> = delivered
        .copies
        .iter()
        .map(|c| c.account.as_str())
        .collect();
    assert_eq!(accounts, ["alice", "bob"]);
    assert_eq!(delivered.copies[0].recipients, ["alice@localhost", "ALICE"]);
    for copy in &delivered.copies {
        let inbox = store
            .account(&copy.account)
            .unwrap()
            .mailbox("INBOX")
            .unwrap();
        assert_eq!(&inbox.read(copy.uid).unwrap()[..], STREAMED_WIRE);
        let meta = inbox.messages().unwrap();
        assert_eq!(meta.len(), 1);
        assert_eq!(meta[0].uid, copy.uid);
        assert_eq!(meta[0].size, STREAMED_WIRE.len() as u64);
        assert!(meta[0].flags.is_empty());
        let age = meta[0].internal_date.timestamp() - before;
        assert!((-1..=60).contains(&age), "internal date is now: {age}");
    }
    let reopened = fx.reopen();
    reopened.add_account("bob", Secret::from("pw")).unwrap();
    for copy in &delivered.copies {
        let inbox = reopened
            .account(&copy.account)
            .unwrap()
            .mailbox("INBOX")
            .unwrap();
        assert_eq!(&inbox.read(copy.uid).unwrap()[..], STREAMED_WIRE);
        assert_eq!(inbox.status().unwrap().messages, 1);
    }
    // A delivery to no one takes the bytes and delivers nothing.
    let mut nobody = store.incoming(&[]).unwrap();
    nobody.write(b"Subject: x\r\n\r\n").unwrap();
    assert_eq!(nobody.deliver().unwrap(), crate::Delivered::default());
}

/// One refused address refuses the whole delivery up front, before a byte is taken,
/// with the reason (`StoreError::refusal`); nothing reaches the others.
pub fn incoming_refuses_before_the_message_is_written(fx: &dyn Fixture) {
    let store = fx.store();
    for (address, why) in [
        ("bob@example.com", crate::Refusal::NotLocal),
        ("nobody", crate::Refusal::Unknown),
        ("a/b@localhost", crate::Refusal::BadName),
    ] {
        let err = store.incoming(&["alice", address]).unwrap_err();
        assert_eq!(err.refusal(), Some(why), "{address}: {err}");
    }
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    assert_eq!(inbox.status().unwrap().messages, 0);
}

/// A message whose sender went away before the end (dropped unfinished) leaves nothing:
/// no message now, none after a restart.
pub fn an_abandoned_incoming_leaves_no_message(fx: &dyn Fixture) {
    let store = fx.store();
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
    let mut incoming = store.incoming(&["alice"]).unwrap();
    incoming
        .write(b"Subject: half\r\n\r\nthe first half")
        .unwrap();
    drop(incoming);
    let mut append = inbox.incoming(&Flags::new(), None).unwrap();
    append.write(b"Subject: half\r\n").unwrap();
    drop(append);
    assert_eq!(inbox.status().unwrap().messages, 0);
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    assert_eq!(reopened.status().unwrap().messages, 0);
    // The next message gets the next UID as if nothing had happened.
    assert_eq!(inbox.append(&msg(1), &Flags::new(), None).unwrap(), 1);
}

/// An append received a piece at a time (IMAP APPEND) is the same as one given whole:
/// flags, internal date, wire form, size, UID order; after a restart too.
pub fn incoming_append_equals_append(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    alice.create("Drafts/2024").unwrap();
    let drafts = alice.mailbox("Drafts/2024").unwrap();
    let when = date("2024-02-29T23:59:59+09:00");
    let f = flags(&[Flag::Draft, Flag::Seen, kw("$label")]);
    let whole = drafts.append(&STREAMED.concat(), &f, Some(when)).unwrap();
    let mut append = drafts.incoming(&f, Some(when)).unwrap();
    for piece in STREAMED {
        append.write(piece).unwrap();
    }
    assert_eq!(append.len(), STREAMED_WIRE.len() as u64);
    let streamed = append.finish().unwrap();
    assert!(streamed > whole);
    let before = chrono::Utc::now().timestamp();
    let mut undated = drafts.incoming(&Flags::new(), None).unwrap();
    undated.write(&msg(3)).unwrap();
    let now = undated.finish().unwrap();
    let reopened = alice_reopened(fx).mailbox("Drafts/2024").unwrap();
    for mailbox in [&drafts, &reopened] {
        let metas = mailbox.messages().unwrap();
        assert_eq!(metas.len(), 3);
        let (a, b) = (&metas[0], &metas[1]);
        assert_eq!((a.uid, b.uid), (whole, streamed));
        assert_eq!(
            (&b.flags, b.internal_date, b.size),
            (&a.flags, a.internal_date, a.size)
        );
        assert_eq!(b.internal_date, when);
        assert_eq!(
            mailbox.read(streamed).unwrap(),
            mailbox.read(whole).unwrap()
        );
        assert_eq!(&mailbox.read(streamed).unwrap()[..], STREAMED_WIRE);
        assert_eq!(metas[2].uid, now);
        let age = metas[2].internal_date.timestamp() - before;
        assert!((-1..=60).contains(&age), "internal date is now: {age}");
    }
}

/// Several appends received a piece at a time and finished together
/// ([`IncomingAppend::finish_all`](crate::IncomingAppend::finish_all), IMAP MULTIAPPEND):
/// consecutive UIDs in order, each with its own flags and date, after a restart too; a
/// batch with one message for another mailbox adds none of them.
pub fn incoming_appends_finished_together_are_all_or_none(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    inbox.append(&msg(0), &Flags::new(), None).unwrap();
    let when = date("2003-03-01T12:00:00+00:00");
    let mut batch = Vec::new();
    for (i, f) in [flags(&[Flag::Seen]), Flags::new(), flags(&[kw("$x")])]
        .into_iter()
        .enumerate()
    {
        let mut m = inbox.incoming(&f, (i == 1).then_some(when)).unwrap();
        for piece in STREAMED {
            m.write(piece).unwrap();
        }
        batch.push(m);
    }
    let uids = crate::IncomingAppend::finish_all(batch).unwrap();
    assert_eq!(uids, vec![2, 3, 4]);
    let reopened = alice_reopened(fx).mailbox("INBOX").unwrap();
    for mailbox in [&inbox, &reopened] {
        let metas = mailbox.messages().unwrap();
        assert_eq!(metas.len(), 4);
        assert_eq!(metas[1].flags, flags(&[Flag::Seen]));
        assert_eq!(metas[2].internal_date, when);
        assert_eq!(metas[3].flags, flags(&[kw("$x")]));
        for uid in uids.iter().copied() {
            assert_eq!(&mailbox.read(uid).unwrap()[..], STREAMED_WIRE);
        }
    }
    // One message of the batch goes elsewhere: refused, and nothing is added anywhere.
    alice.create("Other").unwrap();
    let other = alice.mailbox("Other").unwrap();
    let mut a = inbox.incoming(&Flags::new(), None).unwrap();
    a.write(&msg(5)).unwrap();
    let mut b = other.incoming(&Flags::new(), None).unwrap();
    b.write(&msg(6)).unwrap();
    assert!(crate::IncomingAppend::finish_all(vec![a, b]).is_err());
    assert_eq!(inbox.status().unwrap().messages, 4);
    assert_eq!(other.status().unwrap().messages, 0);
    assert_eq!(
        crate::IncomingAppend::finish_all(Vec::new()).unwrap(),
        vec![]
    );
}

// ---- mailboxes ----

/// Create makes missing parents (selectable), and LIST is ordered INBOX first; after a
/// reopen too.
pub fn create_makes_missing_parents_and_list_is_ordered(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    alice.create("Archive/2024/March").unwrap();
    alice.create("Zeta").unwrap();
    alice.create("INBOX/Sub").unwrap();
    alice.create("日本語&-x").unwrap();
    for account in [alice, alice_reopened(fx)] {
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

/// Create refuses an existing name and INBOX in any case; other names are case-sensitive.
pub fn create_refuses_existing_names_and_inbox(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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

/// Delete follows RFC 3501: not INBOX, not a mailbox with children; open handles fail
/// afterwards; created again, a mailbox is new.
pub fn delete_follows_rfc3501(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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
    assert!(!names(&alice_reopened(fx).list().unwrap()).contains(&"Work"));
    // Created again, it is a new mailbox: empty, with a new UIDVALIDITY.
    alice.create("Work/Old").unwrap();
    let again = alice.mailbox("Work/Old").unwrap().status().unwrap();
    assert_eq!(again.messages, 0);
    assert_ne!(again.uid_validity, validity);
}

/// Rename moves children and subscriptions, keeps UIDVALIDITY and flags, and open
/// handles and watchers follow.
pub fn rename_moves_children_and_open_handles_follow(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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
    for account in [alice.clone(), alice_reopened(fx)] {
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

/// A refused rename (exists, missing, into itself, invalid) changes nothing.
pub fn rename_refusals_change_nothing(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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

/// Renaming INBOX moves its messages to the new mailbox and leaves INBOX empty with
/// UIDs going on.
pub fn rename_inbox_moves_its_messages_and_leaves_it_empty(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    alice.create("INBOX/keep").unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    let validity = inbox.status().unwrap().uid_validity;
    alice.rename("inbox", "Old Mail").unwrap();
    for account in [alice.clone(), alice_reopened(fx)] {
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

/// RENAME INBOX to a nested name: the missing parents are made, every message moves
/// with its flags (keywords too) and date, in UID order, under the new mailbox's own
/// UIDVALIDITY; INBOX stays, empty, with its UIDVALIDITY and UIDNEXT. An empty INBOX
/// renames to an empty mailbox.
pub fn rename_inbox_keeps_flags_dates_and_makes_parents(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let inbox = alice.mailbox("INBOX").unwrap();
    let when = date("2020-01-02T03:04:05Z");
    let given = [
        flags(&[Flag::Answered, kw("$Label1")]),
        Flags::new(),
        flags(&[Flag::Seen, Flag::Draft, kw("x")]),
    ];
    for (n, f) in given.iter().enumerate() {
        inbox.append(&msg(n as u32), f, Some(when)).unwrap();
    }
    inbox.expunge(&[inbox.messages().unwrap()[1].uid]).unwrap();
    let before = inbox.status().unwrap();
    alice.rename("INBOX", "Archive/2020/Inbox").unwrap();
    for account in [alice.clone(), alice_reopened(fx)] {
        let list = account.list().unwrap();
        for n in ["Archive", "Archive/2020", "Archive/2020/Inbox"] {
            assert!(
                list.iter().any(|i| i.name == n && i.selectable),
                "{n} in {:?}",
                names(&list)
            );
        }
        let inbox = account.mailbox("INBOX").unwrap();
        let status = inbox.status().unwrap();
        assert_eq!(status.messages, 0);
        assert_eq!(
            (status.uid_validity, status.uid_next),
            (before.uid_validity, before.uid_next)
        );
        let old = account.mailbox("Archive/2020/Inbox").unwrap();
        assert_ne!(old.status().unwrap().uid_validity, before.uid_validity);
        let m = old.messages().unwrap();
        assert_eq!(m.len(), 2);
        for (meta, n) in m.iter().zip([0u32, 2]) {
            assert_eq!(old.read(meta.uid).unwrap(), msg(n));
            assert_eq!(meta.flags, given[n as usize]);
            assert_eq!(meta.internal_date, when);
        }
    }
    // Again, with INBOX empty now.
    alice.rename("INBOX", "Empty").unwrap();
    assert_eq!(
        alice.mailbox("Empty").unwrap().status().unwrap().messages,
        0
    );
    let uid = inbox.append(&msg(7), &Flags::new(), None).unwrap();
    assert!(uid >= before.uid_next, "INBOX's UIDs go on");
}

/// RENAME of a mailbox with inferiors moves every one of them with their messages,
/// UIDVALIDITY, UIDs and flags; handles opened on any of them follow, and so do
/// subscriptions; nothing is left under the old name.
pub fn rename_moves_a_whole_hierarchy_with_its_messages(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let levels = ["Work", "Work/2024", "Work/2024/Q1", "Work/old.stuff"];
    alice.create("Work/2024/Q1").unwrap();
    alice.create("Work/old.stuff").unwrap();
    alice.create("Workshop").unwrap();
    alice.subscribe("Work/2024/Q1").unwrap();
    let mut kept = Vec::new();
    for (n, name) in levels.iter().enumerate() {
        let mb = alice.mailbox(name).unwrap();
        let uid = mb
            .append(&msg(n as u32), &flags(&[kw(&format!("k{n}"))]), None)
            .unwrap();
        kept.push((mb, uid, mb_status(&alice, name)));
    }
    alice.rename("Work", "Done/Work").unwrap();
    for (n, (handle, uid, _)) in kept.iter().enumerate() {
        assert_eq!(handle.name(), format!("Done/{}", levels[n]));
        assert_eq!(handle.read(*uid).unwrap(), msg(n as u32));
    }
    for account in [alice.clone(), alice_reopened(fx)] {
        let list = account.list().unwrap();
        let n = names(&list);
        assert!(
            !n.iter().any(|x| *x == "Work" || x.starts_with("Work/")),
            "{n:?}"
        );
        assert!(n.contains(&"Workshop"), "{n:?}");
        for (i, (_, uid, status)) in kept.iter().enumerate() {
            let name = format!("Done/{}", levels[i]);
            let mb = account.mailbox(&name).unwrap();
            let now = mb.status().unwrap();
            assert_eq!((now.uid_validity, now.uid_next), (status.0, status.1));
            let m = mb.messages().unwrap();
            assert_eq!(m.len(), 1);
            assert_eq!(
                (m[0].uid, &m[0].flags),
                (*uid, &flags(&[kw(&format!("k{i}"))]))
            );
        }
        let q1 = list.iter().find(|i| i.name == "Done/Work/2024/Q1").unwrap();
        assert!(q1.subscribed, "subscriptions follow: {list:?}");
    }
}

fn mb_status(account: &Account, name: &str) -> (u32, u32) {
    let s = account.mailbox(name).unwrap().status().unwrap();
    (s.uid_validity, s.uid_next)
}

/// Subscriptions are idempotent, refused for missing or invalid names, and persist.
pub fn subscriptions_persist_and_follow_the_rules(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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
    assert!(sub(&alice_reopened(fx), "News"));
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
    assert!(!sub(&alice_reopened(fx), "News"));
    assert!(sub(&alice, "INBOX"));
}

/// Sent, Drafts, Trash and Junk exist on first use with their RFC 6154 attributes; a
/// deleted one stays deleted.
pub fn special_use_mailboxes_exist_on_first_use(fx: &dyn Fixture) {
    let list = alice_of(fx).list().unwrap();
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
    alice_of(fx).delete("Junk").unwrap();
    assert!(!names(&alice_of(fx).list().unwrap()).contains(&"Junk"));
}

/// Invalid mailbox and account names are refused by every operation, and nothing
/// escapes the data directory.
pub fn invalid_names_are_refused_everywhere(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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
            fx.store().add_account(bad, Secret::from("p")),
            Err(StoreError::InvalidName { .. })
        ));
        assert!(matches!(
            fx.store().account(bad),
            Err(StoreError::InvalidName { .. })
        ));
        assert!(matches!(
            fx.store().authenticate(bad, &Secret::from("p")),
            Err(StoreError::AuthFailed)
        ));
    }
    let store = fx.store();
    if let Some(dir) = store.root() {
        assert!(!dir.join("escape").exists());
        assert!(!dir.parent().unwrap().join("escape").exists());
    }
}

/// INBOX is case-insensitive; other names are not.
pub fn inbox_is_case_insensitive_and_others_are_not(fx: &dyn Fixture) {
    let alice = alice_of(fx);
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

/// Handles from different clones of the store share one state.
pub fn all_handles_share_one_state(fx: &dyn Fixture) {
    let one = fx
        .store()
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap();
    let other = fx
        .store()
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

/// `\Recent` goes to one session only, and a reopened store sees no message as recent
/// once claimed.
pub fn claim_recent_hands_each_message_to_one_session(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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
        alice_reopened(fx)
            .mailbox("INBOX")
            .unwrap()
            .status()
            .unwrap()
            .recent,
        0
    );
}

/// The maildrop lock is exclusive per account and released on drop, a panicking holder
/// included.
pub fn maildrop_lock_is_exclusive_and_released_on_drop(fx: &dyn Fixture) {
    let alice = alice_of(fx);
    let lock = alice.lock_maildrop().unwrap();
    assert!(matches!(alice.lock_maildrop(), Err(StoreError::Locked(n)) if n == "alice"));
    assert!(matches!(
        alice_of(fx).lock_maildrop(),
        Err(StoreError::Locked(_))
    ));
    drop(lock);
    let again = alice_of(fx).lock_maildrop().unwrap();
    // Released however the holder ends, here a panicking thread.
    let account = alice_of(fx);
    drop(again);
    let joined = std::thread::spawn(move || {
        let _held = account.lock_maildrop().unwrap();
        panic!("session died");
    })
    .join();
    assert!(joined.is_err());
    drop(alice.lock_maildrop().unwrap());
    // Accounts do not share a lock.
    fx.store().add_account("bob", Secret::from("x")).unwrap();
    let _alice = alice.lock_maildrop().unwrap();
    let _bob = fx.store().account("bob").unwrap().lock_maildrop().unwrap();
}

/// Watchers hear of appends, flag changes, expunges and deletes made through other
/// handles, and not of no-ops.
pub fn watchers_see_changes_made_through_other_handles(fx: &dyn Fixture) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let watched = alice_of(fx).mailbox("INBOX").unwrap();
    let writer = fx
        .store()
        .account("alice")
        .unwrap()
        .mailbox("inbox")
        .unwrap();
    let mut watch = watched.watch();
    let step = |watch: &mut crate::MailboxWatch| {
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
    alice_of(fx).create("Tmp").unwrap();
    let tmp = alice_of(fx).mailbox("Tmp").unwrap();
    let mut tw = tmp.watch();
    alice_of(fx).delete("Tmp").unwrap();
    step(&mut tw);
}

/// A refresh that finds nothing new changes nothing and does not notify.
pub fn refresh_keeps_the_state(fx: &dyn Fixture) {
    let inbox = alice_of(fx).mailbox("INBOX").unwrap();
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

/// Authentication checks passwords, fails alike for a wrong password and an unknown
/// name, and never shows the password.
pub fn authentication_checks_passwords_without_revealing_them(fx: &dyn Fixture) {
    let store = &fx.store();
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

/// Accept-any-login creates accounts on first use; accounts with a password keep it.
pub fn accept_any_login_creates_accounts_on_first_use(fx: &dyn Fixture) {
    let store = &fx.store();
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

/// A users file adds its accounts; a broken one is `Corrupt` without showing its text;
/// a missing one is `Io`.
pub fn users_file_adds_accounts(fx: &dyn Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("users.toml");
    std::fs::write(
        &path,
        "[users]\nbob = \"b0b\"\n\"carol@example.com\" = \"c\"\n",
    )
    .unwrap();
    assert_eq!(fx.store().load_users_file(&path).unwrap(), 2);
    fx.store()
        .authenticate("bob", &Secret::from("b0b"))
        .unwrap();
    fx.store()
        .authenticate("carol@example.com", &Secret::from("c"))
        .unwrap();
    std::fs::write(&path, "[users]\nbob = \"hunter2\n").unwrap();
    let err = fx.store().load_users_file(&path).unwrap_err();
    assert!(matches!(err, StoreError::Config(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let missing = fx
        .store()
        .load_users_file(&dir.path().join("nope.toml"))
        .unwrap_err();
    assert!(matches!(missing, StoreError::Io { .. }));
}

/// One `#[test]` per conformance case, in a new module: `conformance_suite!(name,
/// fixture)`, where `fixture` is an expression giving a [`testing::Fixture`](crate::testing::Fixture),
/// evaluated afresh for each case. The module sees the items of the one it is written in
/// (`use super::*`), so the expression can name the fixture type directly.
///
/// See [`crate::testing`] for an example.
#[macro_export]
macro_rules! conformance_suite {
    (@cases $module:ident, $fixture:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    $crate::testing::$case(&$fixture);
                }
            )*
        }
    };
    ($module:ident, $fixture:expr $(,)?) => {
        $crate::conformance_suite!(
            @cases $module,
            $fixture,
            [
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
                move_gives_new_uids_and_keeps_flags_dates_and_bytes,
                a_retried_move_adds_no_copy,
                a_move_is_seen_by_watchers_of_both_mailboxes,
                a_large_move_moves_every_message_once,
                move_into_the_same_mailbox_gives_new_uids,
                incoming_delivers_the_same_message_to_every_recipient,
                incoming_refuses_before_the_message_is_written,
                an_abandoned_incoming_leaves_no_message,
                incoming_append_equals_append,
                incoming_appends_finished_together_are_all_or_none,
                create_makes_missing_parents_and_list_is_ordered,
                create_refuses_existing_names_and_inbox,
                delete_follows_rfc3501,
                rename_moves_children_and_open_handles_follow,
                rename_refusals_change_nothing,
                rename_inbox_moves_its_messages_and_leaves_it_empty,
                rename_inbox_keeps_flags_dates_and_makes_parents,
                rename_moves_a_whole_hierarchy_with_its_messages,
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
            ]
        );
    };
}

#[cfg(test)]
mod tests {
    /// Every public case is in `conformance_suite!`'s list, so no backend skips one: a
    /// case written here and not listed there would run nowhere.
    #[test]
    fn the_macro_lists_every_case() {
        let source = include_str!("testing.rs");
        let (cases, rest) = source.split_once("macro_rules! conformance_suite").unwrap();
        let listed = rest.split_once("mod tests").unwrap().0;
        let names: Vec<&str> = cases
            .lines()
            .filter_map(|l| l.strip_prefix("pub fn "))
            .filter(|l| l.contains("(fx: &dyn Fixture)"))
            .map(|l| l.split('(').next().unwrap())
            .collect();
        assert!(names.len() >= 30, "{names:?}");
        for name in names {
            assert!(
                listed.contains(&format!(" {name},\n")),
                "{name} is not in conformance_suite!"
            );
        }
    }
}
