//! Messages received as they arrive (`Store::incoming` for SMTP DATA, `Mailbox::incoming`
//! for IMAP APPEND), where the backend matters: the Maildir files during and after
//! receipt, a large message in small pieces with bounded memory, links shared by the
//! recipients, a copy where a link cannot be made. The behaviour every backend shares
//! is in the conformance suite (`yubin_store::testing`, the `incoming_*` cases).

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use yubin_store::{Flag, Flags, Incoming, IncomingAppend, Secret, Store};

/// What `Incoming::buffered` may never exceed on Maildir: its fixed write buffer.
const MAILDIR_BUFFER: usize = 64 << 10;

fn store(root: &Path, accounts: &[&str]) -> Store {
    let store = Store::maildir(root).unwrap();
    for name in accounts {
        store.add_account(name, Secret::from("pw")).unwrap();
    }
    store
}

fn maildir(root: &Path, account: &str) -> PathBuf {
    root.join(account).join("Maildir")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// A large message, different in every line, so a misplaced piece would show: a header,
/// then lines of `line_len` bytes numbered in order.
fn large_message(size: usize) -> Vec<u8> {
    let mut m = b"Subject: large\r\nFrom: a@example.com\r\n\r\n".to_vec();
    let mut n = 0u64;
    while m.len() < size {
        m.extend_from_slice(format!("{n:012} {}\r\n", "x".repeat(63)).as_bytes());
        n += 1;
    }
    m.truncate(size - 2);
    m.extend_from_slice(b"\r\n");
    m
}

/// What a session holds across `.await`s must move between threads.
#[test]
fn incoming_messages_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Incoming>();
    send::<IncomingAppend>();
}

/// A 30 MB message sent in 1 KiB pieces is delivered byte for byte, and the memory it
/// takes while it arrives never exceeds the 64 KiB buffer: what is counted is the
/// buffer's capacity, so this cannot flake.
#[test]
fn a_30_mb_message_in_1_kib_pieces_arrives_whole_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &["alice", "bob"]);
    let message = large_message(30 << 20);
    let mut incoming = store.incoming(&["alice", "bob"]).unwrap();
    let mut most = 0;
    for piece in message.chunks(1024) {
        incoming.write(piece).unwrap();
        most = most.max(incoming.buffered());
    }
    assert!(most > 0 && most <= MAILDIR_BUFFER, "held {most} bytes");
    assert_eq!(incoming.len(), message.len() as u64);
    let delivered = incoming.deliver().unwrap();
    assert_eq!(delivered.copies.len(), 2);
    for copy in &delivered.copies {
        let inbox = store
            .account(&copy.account)
            .unwrap()
            .mailbox("INBOX")
            .unwrap();
        assert_eq!(inbox.messages().unwrap()[0].size, message.len() as u64);
        assert!(
            inbox.read(copy.uid).unwrap() == message[..],
            "{}",
            copy.account
        );
    }
    // One file on disk, two names: the recipients share the bytes.
    let alice = files_in(&maildir(dir.path(), "alice").join("new"));
    let bob = files_in(&maildir(dir.path(), "bob").join("new"));
    assert_eq!((alice.len(), bob.len()), (1, 1));
    let (a, b) = (
        fs::metadata(&alice[0]).unwrap(),
        fs::metadata(&bob[0]).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(a.len(), message.len() as u64);
}

/// While it arrives, the message is a file in the first recipient's INBOX `tmp/`, where
/// no reader looks; after delivery `tmp/` is empty again and the message is in `new/` of
/// each INBOX, named with its size as every delivered message is, mode 0600.
#[test]
fn the_message_lives_in_the_first_recipients_tmp_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &["alice", "bob"]);
    let mut incoming = store.incoming(&["bob", "alice"]).unwrap();
    incoming.write(b"Subject: hi\r\n\r\n").unwrap();
    let bob_tmp = maildir(dir.path(), "bob").join("tmp");
    let receiving = files_in(&bob_tmp);
    assert_eq!(receiving.len(), 1, "{receiving:?}");
    assert_eq!(fs::metadata(&receiving[0]).unwrap().mode() & 0o777, 0o600);
    assert!(files_in(&maildir(dir.path(), "alice").join("tmp")).is_empty());
    for account in ["alice", "bob"] {
        let inbox = store.account(account).unwrap().mailbox("INBOX").unwrap();
        assert_eq!(inbox.status().unwrap().messages, 0, "nothing shown yet");
        assert!(files_in(&maildir(dir.path(), account).join("new")).is_empty());
    }
    incoming.write(b"body\r\n").unwrap();
    let delivered = incoming.deliver().unwrap();
    assert_eq!(delivered.copies[0].account, "bob");
    assert!(!receiving[0].exists());
    for account in ["alice", "bob"] {
        let md = maildir(dir.path(), account);
        assert!(files_in(&md.join("tmp")).is_empty(), "{account}");
        let new = files_in(&md.join("new"));
        assert_eq!(new.len(), 1, "{account}");
        let name = new[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.ends_with(",S=21,W=21"), "{name}");
    }
}

/// A refused recipient refuses before anything is written: no file anywhere.
#[test]
fn a_refused_recipient_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &["alice"]);
    // Open alice's INBOX, so its directories exist.
    store
        .deliver(&["alice"], b"Subject: first\r\n\r\n")
        .unwrap();
    let err = store.incoming(&["alice", "carol@example.com"]).unwrap_err();
    assert!(err.refusal().is_some(), "{err}");
    let md = maildir(dir.path(), "alice");
    assert!(files_in(&md.join("tmp")).is_empty());
    assert_eq!(files_in(&md.join("new")).len(), 1);
}

/// Dropped before delivery (the client went away), a message leaves no file in `tmp/`
/// and no message, for a delivery and for an append alike.
#[test]
fn an_abandoned_message_leaves_no_file_in_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &["alice", "bob"]);
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let md = maildir(dir.path(), "alice");
    let half = large_message(1 << 20);
    let mut incoming = store.incoming(&["alice", "bob"]).unwrap();
    incoming.write(&half[..half.len() / 2]).unwrap();
    assert_eq!(files_in(&md.join("tmp")).len(), 1);
    drop(incoming);
    let mut append = inbox.incoming(&Flags::new(), None).unwrap();
    append.write(&half[..1000]).unwrap();
    assert_eq!(files_in(&md.join("tmp")).len(), 1);
    drop(append);
    for account in ["alice", "bob"] {
        let md = maildir(dir.path(), account);
        for sub in ["tmp", "new", "cur"] {
            assert!(files_in(&md.join(sub)).is_empty(), "{account} {sub}");
        }
    }
    assert_eq!(inbox.status().unwrap().messages, 0);
}

/// An IMAP APPEND received in pieces: the file is in the target mailbox's `tmp/` while
/// it arrives, then in `cur/` with its flags in the name (it has flags), dated with the
/// internal date given.
#[test]
fn an_append_goes_through_its_mailboxs_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), &["alice"]);
    // Sent exists from the start (a special-use mailbox, RFC 6154).
    let sent = store.account("alice").unwrap().mailbox("Sent").unwrap();
    let when = chrono::DateTime::parse_from_rfc3339("2020-01-02T03:04:05Z").unwrap();
    let message = large_message(200_000);
    let mut append = sent
        .incoming(&[Flag::Seen].into_iter().collect(), Some(when))
        .unwrap();
    let folder = maildir(dir.path(), "alice").join(".Sent");
    for piece in message.chunks(4096) {
        append.write(piece).unwrap();
        assert!(append.buffered() <= MAILDIR_BUFFER);
    }
    assert_eq!(files_in(&folder.join("tmp")).len(), 1);
    let uid = append.finish().unwrap();
    assert!(files_in(&folder.join("tmp")).is_empty());
    let cur = files_in(&folder.join("cur"));
    assert_eq!(cur.len(), 1);
    assert!(cur[0].to_string_lossy().ends_with(":2,S"), "{cur:?}");
    assert_eq!(
        fs::metadata(&cur[0]).unwrap().modified().unwrap(),
        std::time::SystemTime::from(when)
    );
    assert!(sent.read(uid).unwrap() == message[..]);
}

/// A directory on another file system than `root`, or `None` if this machine has none
/// to offer (then the test that needs one has nothing to check).
fn other_file_system(root: &Path) -> Option<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let here = fs::metadata(root).ok()?.dev();
    let there = fs::metadata(shm).ok()?;
    if there.dev() == here || !there.is_dir() {
        return None;
    }
    tempfile::tempdir_in(shm).ok()
}

/// A recipient whose Maildir is on another file system cannot share the file by a hard
/// link: its copy is written through a small buffer instead, and is byte for byte the
/// same. COPY into a folder there does the same.
#[test]
fn a_recipient_on_another_file_system_gets_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let Some(elsewhere) = other_file_system(dir.path()) else {
        // In CI (`CI` set) a missing prerequisite is a failure, never a silent skip.
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs a second file system at /dev/shm for this test"
        );
        eprintln!("no second file system (/dev/shm); skipping (CI requires it)");
        return;
    };
    let store = store(dir.path(), &["alice", "bob"]);
    // bob's account directory lives on the other file system.
    std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("bob")).unwrap();
    let message = large_message(3 << 20);
    let mut incoming = store.incoming(&["alice", "bob"]).unwrap();
    for piece in message.chunks(1000) {
        incoming.write(piece).unwrap();
    }
    let delivered = incoming.deliver().unwrap();
    for copy in &delivered.copies {
        let inbox = store
            .account(&copy.account)
            .unwrap()
            .mailbox("INBOX")
            .unwrap();
        assert!(
            inbox.read(copy.uid).unwrap() == message[..],
            "{}",
            copy.account
        );
        assert_eq!(inbox.messages().unwrap()[0].size, message.len() as u64);
    }
    let bob_md = elsewhere.path().join("Maildir");
    let bob_new = files_in(&bob_md.join("new"));
    assert_eq!(bob_new.len(), 1);
    assert_eq!(
        fs::metadata(&bob_new[0]).unwrap().nlink(),
        1,
        "a copy, not a link"
    );
    assert!(files_in(&bob_md.join("tmp")).is_empty());
    assert!(files_in(&maildir(dir.path(), "alice").join("tmp")).is_empty());

    // COPY from alice's INBOX into a folder on the other file system.
    let alice = store.account("alice").unwrap();
    alice.create("Far").unwrap();
    let far_dir = maildir(dir.path(), "alice").join(".Far");
    let far_elsewhere = elsewhere.path().join("Far");
    fs::rename(&far_dir, &far_elsewhere).unwrap_or_else(|_| {
        // A rename across file systems fails: move it by hand.
        fs::create_dir(&far_elsewhere).unwrap();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir(far_elsewhere.join(sub)).unwrap();
        }
        fs::remove_dir_all(&far_dir).unwrap();
    });
    std::os::unix::fs::symlink(&far_elsewhere, &far_dir).unwrap();
    let inbox = alice.mailbox("INBOX").unwrap();
    let far = alice.mailbox("Far").unwrap();
    let uid = delivered.uid("alice").unwrap();
    let pairs = inbox.copy_to(&[uid], &far).unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(far.read(pairs[0].1).unwrap() == message[..]);
    assert_eq!(files_in(&far_elsewhere.join("tmp")).len(), 0);
}
