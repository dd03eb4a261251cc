//! What only the Maildir backend has: its files on disk, files other programs write,
//! recovery from what a crash leaves, I/O errors, and two processes on one directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use yubin_store::{Flag, FlagOp, Flags, Mailbox, Secret, Store, StoreError};

fn store(root: &Path) -> Store {
    let store = Store::maildir(root).unwrap();
    store.add_account("alice", Secret::from("pw")).unwrap();
    store
}

fn inbox(root: &Path) -> Mailbox {
    store(root)
        .account("alice")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
}

fn maildir(root: &Path) -> PathBuf {
    root.join("alice/Maildir")
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

#[test]
fn writes_a_standard_maildir_that_other_programs_understand() {
    let dir = tempfile::tempdir().unwrap();
    let account = store(dir.path()).account("alice").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    inbox
        .append(b"Subject: new\r\n\r\nx\r\n", &Flags::new(), None)
        .unwrap();
    let seen = inbox
        .append(
            b"Subject: seen\r\n\r\ny\r\n",
            &flags(&[Flag::Seen, Flag::Flagged]),
            None,
        )
        .unwrap();
    inbox
        .set_flags(
            &[seen],
            FlagOp::Add,
            &flags(&[Flag::Keyword("$Forwarded".into())]),
        )
        .unwrap();
    account.create("a.b/c").unwrap();
    // File names follow flags shortly after the change; make it now.
    inbox.flush().unwrap();

    let md = maildir(dir.path());
    let new = files_in(&md.join("new"));
    let cur = files_in(&md.join("cur"));
    assert_eq!((new.len(), cur.len()), (1, 1), "{new:?} {cur:?}");
    // <secs>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<wire size>
    let re_ok = |name: &str, size: &str| {
        let (base, _) = name.split_once(':').unwrap_or((name, ""));
        let parts: Vec<&str> = base.splitn(3, '.').collect();
        parts.len() == 3
            && parts[0].chars().all(|c| c.is_ascii_digit())
            && parts[1].starts_with('M')
            && parts[1].contains('P')
            && parts[1].contains('Q')
            && base.ends_with(size)
    };
    assert!(
        re_ok(&new[0], ",S=19,W=19") && !new[0].contains(':'),
        "{}",
        new[0]
    );
    assert!(re_ok(&cur[0], ",S=20,W=20"), "{}", cur[0]);
    assert!(
        cur[0].ends_with(":2,FSa"),
        "flags sorted, keyword a: {}",
        cur[0]
    );
    assert_eq!(
        fs::read_to_string(md.join("dovecot-keywords")).unwrap(),
        "0 $Forwarded\n"
    );
    assert!(files_in(&md.join("tmp")).is_empty());

    // The index: a snapshot and a change log, both ours (names other programs ignore).
    let snapshot = fs::read_to_string(md.join("yubin-index")).unwrap();
    assert!(
        snapshot.starts_with("yubin-index v1 generation="),
        "{snapshot}"
    );
    let log = fs::read_to_string(md.join("yubin-index.log")).unwrap();
    assert!(log.starts_with("yubin-index-log v1 generation="), "{log}");
    let records = format!("{snapshot}{log}");
    assert_eq!(
        records
            .lines()
            .filter(|l| l.starts_with("m ") || l.starts_with("a "))
            .count(),
        2,
        "{records}"
    );

    for folder in [".Sent", ".Drafts", ".Trash", ".Junk", ".a%2Eb", ".a%2Eb.c"] {
        let f = md.join(folder);
        for sub in ["tmp", "new", "cur"] {
            assert!(f.join(sub).is_dir(), "{folder}/{sub}");
        }
        assert!(f.join("maildirfolder").is_file(), "{folder}");
    }
    let subs = fs::read_to_string(md.join("subscriptions")).unwrap();
    assert_eq!(subs, "Drafts\nINBOX\nJunk\nSent\nTrash\n");
}

#[test]
fn serves_files_that_other_programs_put_in_new_and_cur() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox(dir.path());
    let ours = inbox
        .append(b"Subject: ours\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let md = maildir(dir.path());
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    let put = |path: PathBuf, body: &[u8]| {
        fs::write(&path, body).unwrap();
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    };
    // mutt/procmail style: bare LF, no size in the name.
    put(
        md.join("new/1600000000.12345_1.otherhost"),
        b"Subject: lf\n\nbody\n",
    );
    put(
        md.join("cur/1600000001.12345_2.otherhost:2,RS"),
        b"Subject: replied\n\n",
    );
    // Dovecot style: W= gives the CRLF size.
    put(
        md.join("cur/1600000002.M1P2Q3.dove,S=14,W=17:2,P"),
        b"Subject: d\n\nx\n",
    );
    inbox.refresh().unwrap();

    let m = inbox.messages().unwrap();
    assert_eq!(m.len(), 4);
    assert_eq!(m[0].uid, ours);
    assert!(m[1].uid > ours && m[2].uid > m[1].uid && m[3].uid > m[2].uid);
    assert_eq!(
        &inbox.read(m[1].uid).unwrap()[..],
        b"Subject: lf\r\n\r\nbody\r\n"
    );
    assert_eq!(m[1].size, 21);
    assert_eq!(m[1].flags, Flags::new());
    assert_eq!(m[1].internal_date.timestamp(), 1_600_000_000);
    assert_eq!(m[2].flags, flags(&[Flag::Answered, Flag::Seen]));
    assert_eq!(m[3].size, 17);
    assert_eq!(inbox.read(m[3].uid).unwrap().len(), 17);

    // A flag change keeps letters yubin does not interpret (P = passed).
    inbox
        .set_flags(&[m[3].uid], FlagOp::Add, &flags(&[Flag::Seen]))
        .unwrap();
    inbox.flush().unwrap();
    assert!(
        md.join("cur/1600000002.M1P2Q3.dove,S=14,W=17:2,PS")
            .exists()
    );

    // Another program removes one and renames another (a flag change of its own).
    fs::remove_file(md.join("new/1600000000.12345_1.otherhost")).unwrap();
    fs::rename(
        md.join("cur/1600000001.12345_2.otherhost:2,RS"),
        md.join("cur/1600000001.12345_2.otherhost:2,FRS"),
    )
    .unwrap();
    // Reading finds the renamed file without a refresh.
    assert_eq!(
        &inbox.read(m[2].uid).unwrap()[..],
        b"Subject: replied\r\n\r\n"
    );
    let next = inbox.status().unwrap().uid_next;
    inbox.refresh().unwrap();
    let after = inbox.messages().unwrap();
    assert_eq!(
        after.iter().map(|x| x.uid).collect::<Vec<_>>(),
        [ours, m[2].uid, m[3].uid]
    );
    assert_eq!(
        after[1].flags,
        flags(&[Flag::Answered, Flag::Flagged, Flag::Seen])
    );
    assert_eq!(inbox.status().unwrap().uid_next, next);
}

#[test]
fn a_file_renamed_into_place_just_before_a_crash_gets_a_fresh_uid() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let inbox = inbox(dir.path());
    let a = inbox
        .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let b = inbox
        .append(b"Subject: b\r\n\r\n", &Flags::new(), None)
        .unwrap();
    inbox.expunge(&[b]).unwrap();
    drop(inbox);
    // What a crash after `rename` and before the UID list write leaves: a whole file in
    // new/ that the list does not know.
    fs::write(
        md.join("new/1700000000.M1P1Q1.host,S=14,W=14"),
        b"Subject: c\r\n\r\n",
    )
    .unwrap();
    let reopened = self::inbox(dir.path());
    let m = reopened.messages().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].uid, a);
    assert!(m[1].uid > b, "UID {} reuses expunged UID {b}", m[1].uid);
    assert_eq!(&reopened.read(m[1].uid).unwrap()[..], b"Subject: c\r\n\r\n");
    // Once given, the UID sticks.
    assert_eq!(self::inbox(dir.path()).messages().unwrap(), m);
}

#[test]
fn a_list_entry_whose_file_vanished_is_dropped_and_its_uid_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let inbox = inbox(dir.path());
    inbox
        .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let b = inbox
        .append(b"Subject: b\r\n\r\n", &flags(&[Flag::Seen]), None)
        .unwrap();
    drop(inbox);
    // What a crash between unlinking an expunged file and the list write leaves.
    for f in files_in(&md.join("cur")) {
        fs::remove_file(md.join("cur").join(f)).unwrap();
    }
    let reopened = self::inbox(dir.path());
    assert_eq!(reopened.status().unwrap().messages, 1);
    assert!(reopened.append(b"x\r\n", &Flags::new(), None).unwrap() > b);
}

#[test]
fn io_errors_are_typed_and_leave_no_partial_message() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let inbox = inbox(dir.path());
    let a = inbox
        .append(b"Subject: a\r\n\r\n", &Flags::new(), None)
        .unwrap();
    // tmp/ replaced by a plain file: creating the temporary file fails (as it would on a
    // full disk or a read-only file system; root ignores permission bits, so a test
    // cannot use those).
    fs::rename(md.join("tmp"), md.join("tmp.saved")).unwrap();
    fs::write(md.join("tmp"), b"not a directory").unwrap();
    let err = inbox
        .append(b"Subject: b\r\n\r\n", &Flags::new(), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("tmp"), "{err}");
    assert_eq!(inbox.messages().unwrap().len(), 1);
    assert_eq!(files_in(&md.join("new")).len(), 1);
    fs::remove_file(md.join("tmp")).unwrap();
    fs::rename(md.join("tmp.saved"), md.join("tmp")).unwrap();
    assert!(
        files_in(&md.join("tmp")).is_empty(),
        "no stale temporary file"
    );
    let b = inbox
        .append(b"Subject: b\r\n\r\n", &Flags::new(), None)
        .unwrap();
    assert!(b > a);
    // A mailbox directory removed behind the store's back is an error, not a panic.
    let account = store(dir.path()).account("alice").unwrap();
    account.create("Gone").unwrap();
    let gone = account.mailbox("Gone").unwrap();
    // The store may be writing in the directory as it goes (its index is made in the
    // background): keep at it until it is gone, as a foreign `rm -r` would.
    let mut removed = fs::remove_dir_all(md.join(".Gone"));
    for _ in 0..100 {
        if removed.is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
        removed = fs::remove_dir_all(md.join(".Gone"));
    }
    removed.unwrap();
    assert!(matches!(
        gone.append(b"x\r\n", &Flags::new(), None),
        Err(StoreError::Io { .. })
    ));
}

#[test]
fn stale_temporary_files_are_removed_and_fresh_ones_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    drop(inbox(dir.path()));
    let old = md.join("tmp/1500000000.M1P1Q1.host");
    fs::write(&old, b"Subject: half").unwrap();
    fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(37 * 3600))
        .unwrap();
    let fresh = md.join("tmp/1700000000.M1P1Q1.host");
    fs::write(&fresh, b"Subject: being written").unwrap();
    let inbox = inbox(dir.path());
    assert_eq!(inbox.status().unwrap().messages, 0);
    assert!(!old.exists());
    assert!(fresh.exists());
}

#[test]
fn a_damaged_index_costs_the_uids_but_never_the_mail() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let inbox = inbox(dir.path());
        inbox
            .append(b"Subject: kept\r\n\r\n", &Flags::new(), None)
            .unwrap();
        inbox.status().unwrap()
    };
    let md = maildir(dir.path());
    fs::write(md.join("yubin-index"), b"garbage\n").unwrap();
    fs::write(md.join("yubin-index.log"), b"\x00\xff more garbage").unwrap();
    let inbox = inbox(dir.path());
    let after = inbox.status().unwrap();
    assert_eq!(after.messages, 1);
    // RFC 3501 §2.3.1.1: UIDs that cannot be kept come with a new UIDVALIDITY.
    assert_ne!(after.uid_validity, before.uid_validity);
    let m = inbox.messages().unwrap();
    assert_eq!(&inbox.read(m[0].uid).unwrap()[..], b"Subject: kept\r\n\r\n");
}

#[test]
fn two_processes_on_one_directory_never_share_a_uid() {
    let dir = tempfile::tempdir().unwrap();
    // Two stores stand for two processes: each has its own in-memory state.
    let one = inbox(dir.path());
    let two = inbox(dir.path());
    let a = one
        .append(b"Subject: 1\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let b = two
        .append(b"Subject: 2\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let c = one
        .append(b"Subject: 3\r\n\r\n", &Flags::new(), None)
        .unwrap();
    assert!(a < b && b < c, "{a} {b} {c}");
    // Each sees the other's messages once it next changes something or refreshes.
    two.refresh().unwrap();
    assert_eq!(two.messages().unwrap().len(), 3);
    assert_eq!(&two.read(c).unwrap()[..], b"Subject: 3\r\n\r\n");
    one.expunge(&[b]).unwrap();
    two.refresh().unwrap();
    assert_eq!(
        two.messages()
            .unwrap()
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>(),
        [a, c]
    );

    // The POP3 maildrop lock holds across processes too.
    let held = store(dir.path())
        .account("alice")
        .unwrap()
        .lock_maildrop()
        .unwrap();
    let other = store(dir.path()).account("alice").unwrap();
    assert!(matches!(other.lock_maildrop(), Err(StoreError::Locked(_))));
    drop(held);
    other.lock_maildrop().unwrap();
}

#[test]
fn parents_that_exist_only_through_a_child_are_not_selectable() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    drop(inbox(dir.path()));
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(md.join(".Lists.rust").join(sub)).unwrap();
    }
    fs::create_dir_all(md.join(".weird%zz/cur")).unwrap();
    let account = store(dir.path()).account("alice").unwrap();
    let list = account.list().unwrap();
    let lists = list.iter().find(|i| i.name == "Lists").unwrap();
    assert!(!lists.selectable);
    assert!(
        list.iter()
            .find(|i| i.name == "Lists/rust")
            .unwrap()
            .selectable
    );
    assert!(!list.iter().any(|i| i.name.contains("weird")));
    assert!(matches!(
        account.mailbox("Lists"),
        Err(StoreError::NoSuchMailbox(_))
    ));
    account.mailbox("Lists/rust").unwrap();
    // Creating the parent makes it real.
    account.create("Lists").unwrap();
    assert!(
        account
            .list()
            .unwrap()
            .iter()
            .find(|i| i.name == "Lists")
            .unwrap()
            .selectable
    );
}

#[test]
fn the_data_directory_has_a_platform_default() {
    let dir = Store::default_data_dir().expect("a home directory");
    assert!(dir.ends_with("yubin"), "{}", dir.display());
    assert_eq!(Store::memory().root(), None);
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(Store::maildir(tmp.path()).unwrap().root(), Some(tmp.path()));
}

#[test]
fn file_names_show_a_flag_change_within_a_second() {
    // Flags are durable in the index at once; the file names other programs read
    // follow in the background, shortly after the reply.
    let dir = tempfile::tempdir().unwrap();
    let inbox = inbox(dir.path());
    let uid = inbox
        .append(b"Subject: x\r\n\r\n", &Flags::new(), None)
        .unwrap();
    let md = maildir(dir.path());
    assert_eq!(files_in(&md.join("new")).len(), 1);
    let changed = std::time::Instant::now();
    inbox
        .set_flags(&[uid], FlagOp::Add, &flags(&[Flag::Seen, Flag::Flagged]))
        .unwrap();
    loop {
        let cur = files_in(&md.join("cur"));
        if cur.len() == 1 && cur[0].ends_with(":2,FS") {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(1),
            "file names after 1 s: new {:?} cur {cur:?}",
            files_in(&md.join("new"))
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(files_in(&md.join("new")).is_empty());
}

#[test]
fn a_file_name_with_a_newline_or_space_survives_a_restart() {
    // Another program may name a file anything; the index escapes what would break a
    // line, so the mailbox stays usable after a restart.
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    drop(inbox(dir.path()));
    for name in ["odd\nname", "with space", "per%cent"] {
        fs::write(md.join("new").join(name), b"Subject: odd\n\nbody\n").unwrap();
    }
    let uids: Vec<u32> = {
        let inbox = inbox(dir.path());
        inbox.messages().unwrap().iter().map(|m| m.uid).collect()
    };
    assert_eq!(uids.len(), 3);
    let inbox = inbox(dir.path());
    let again: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
    assert_eq!(again, uids);
    for uid in again {
        assert_eq!(
            &inbox.read(uid).unwrap()[..],
            b"Subject: odd\r\n\r\nbody\r\n"
        );
    }
    inbox
        .set_flags(&uids, FlagOp::Add, &flags(&[Flag::Seen]))
        .unwrap();
    inbox.flush().unwrap();
    let inbox = self::inbox(dir.path());
    assert!(
        inbox
            .messages()
            .unwrap()
            .iter()
            .all(|m| m.flags.contains(&Flag::Seen))
    );
}

#[test]
fn mail_is_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("data");
    let store = Store::maildir(&root).unwrap();
    store
        .add_account("alice", yubin_store::Secret::from("x"))
        .unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let uid = inbox
        .append(b"Subject: private\r\n\r\n", &Flags::new(), None)
        .unwrap();
    inbox
        .set_flags(&[uid], FlagOp::Add, &flags(&[Flag::Keyword("k".into())]))
        .unwrap();
    inbox.flush().unwrap();
    store.account("alice").unwrap().create("Sent/2026").unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut seen = 0;
    let mut stack = vec![root.clone()];
    while let Some(p) = stack.pop() {
        let m = mode(&p);
        if p.is_dir() {
            assert_eq!(m, 0o700, "{}", p.display());
            stack.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            assert_eq!(m, 0o600, "{}", p.display());
        }
        seen += 1;
    }
    assert!(seen > 10, "{seen}");
}

#[test]
fn names_too_long_once_stored_and_wildcards_are_refused_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let account = store.account("alice").unwrap();
    let before = account.list().unwrap().len();
    for bad in ["a*b", "50%", "x/y*"] {
        assert!(
            matches!(account.create(bad), Err(StoreError::InvalidName { .. })),
            "{bad}"
        );
    }
    // 240 bytes as sent, 480 once each "." is escaped as "%2E": too long for one
    // directory name.
    let dotted = "a.".repeat(120);
    assert!(matches!(
        account.create(&dotted),
        Err(StoreError::NameTooLong { .. })
    ));
    // A parent with a child whose new name would be too long: RENAME refuses whole.
    let child = "c".repeat(200);
    account.create(&format!("p/{child}")).unwrap();
    // 241 bytes as sent (fits), 282 once stored: only the stored form is too long.
    let long_parent = "q.".repeat(20);
    assert!(matches!(
        account.rename("p", &long_parent),
        Err(StoreError::NameTooLong { name, .. }) if name == format!("{long_parent}/{child}")
    ));
    let names: Vec<String> = account
        .list()
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(names.len(), before + 2, "{names:?}");
    assert!(names.contains(&format!("p/{child}")), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with(&long_parent)),
        "{names:?}"
    );
}
