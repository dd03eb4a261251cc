//! `Mailbox::header`: the header block alone, in wire form, on both backends and for
//! files other programs wrote with bare LF.

use yubin_store::{Flags, Secret, Store};

#[test]
fn the_header_block_ends_at_the_empty_line_in_wire_form() {
    let dir = tempfile::tempdir().unwrap();
    for store in [Store::memory(), Store::maildir(dir.path()).unwrap()] {
        store.add_account("alice", Secret::from("x")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        let a = inbox
            .append(
                b"Subject: a\nX: folded\n  on\n\nbody\n\nmore\n",
                &Flags::new(),
                None,
            )
            .unwrap();
        let b = inbox
            .append(b"Subject: no body", &Flags::new(), None)
            .unwrap();
        let c = inbox
            .append(b"\r\nonly a body\r\n", &Flags::new(), None)
            .unwrap();
        assert_eq!(
            &inbox.header(a).unwrap()[..],
            b"Subject: a\r\nX: folded\r\n  on\r\n\r\n"
        );
        assert_eq!(&inbox.header(b).unwrap()[..], b"Subject: no body");
        assert_eq!(&inbox.header(c).unwrap()[..], b"\r\n");
        // Cached: the same bytes again, and an expunged message is gone.
        assert_eq!(&inbox.header(a).unwrap()[..], &inbox.header(a).unwrap()[..]);
        assert!(inbox.header(9999).is_err());
    }
}

#[test]
fn a_file_another_program_wrote_is_read_up_to_its_header_only() {
    let dir = tempfile::tempdir().unwrap();
    let md = dir.path().join("alice/Maildir");
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(md.join(sub)).unwrap();
    }
    let mut big = b"From: x@example.com\nSubject: big\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 100_000));
    std::fs::write(md.join("new/1.mda"), &big).unwrap();
    let store = Store::maildir(dir.path()).unwrap();
    store.add_account("alice", Secret::from("x")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let uid = inbox.view().unwrap().uids().next().unwrap();
    assert_eq!(
        &inbox.header(uid).unwrap()[..],
        b"From: x@example.com\r\nSubject: big\r\n\r\n"
    );
}
