//! MOVE and RENAME, whole or not at all, on the Maildir backend: what is on disk after a
//! move (one file, renamed, never copied), what a crash between two steps leaves and how
//! the next start puts it right (the steps done by hand, as a killed process leaves
//! them), a rename that fails half-way, and moves that meet (opposite directions, two
//! processes, a rename of the hierarchy at the same time). What every backend shares is
//! in the conformance suite (`yubin_store::testing`, run on memory and Maildir by
//! `tests/conformance.rs`); real kills are in `tests/crash_moves.rs`.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use yubin_store::{Account, Flag, Flags, Secret, Store, StoreError};

fn store(root: &Path) -> Store {
    let store = Store::maildir(root).unwrap();
    store.add_account("alice", Secret::from("pw")).unwrap();
    store
}

fn alice(root: &Path) -> Account {
    store(root).account("alice").unwrap()
}

fn maildir(root: &Path) -> PathBuf {
    root.join("alice/Maildir")
}

/// The paths of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

fn flags(list: &[Flag]) -> Flags {
    list.iter().cloned().collect()
}

fn kw(k: &str) -> Flag {
    Flag::Keyword(k.to_owned())
}

fn msg(n: usize) -> Vec<u8> {
    format!("Subject: message {n}\r\n\r\nbody {n}\r\n").into_bytes()
}

fn names(account: &Account) -> Vec<String> {
    account
        .list()
        .unwrap()
        .into_iter()
        .filter(|i| i.selectable)
        .map(|i| i.name)
        .collect()
}

/// The bodies of a mailbox's messages, ascending UID.
fn bodies(account: &Account, name: &str) -> Vec<Vec<u8>> {
    let mb = account.mailbox(name).unwrap();
    mb.messages()
        .unwrap()
        .iter()
        .map(|m| mb.read(m.uid).unwrap().to_vec())
        .collect()
}

#[test]
fn a_move_renames_the_file_into_the_destination_cur() {
    let dir = tempfile::tempdir().unwrap();
    let account = alice(dir.path());
    account.create("Archive").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    let when = chrono::DateTime::parse_from_rfc3339("2022-02-02T02:02:02Z").unwrap();
    let uid = inbox.append(&msg(1), &Flags::new(), Some(when)).unwrap();
    let md = maildir(dir.path());
    let before = files_in(&md.join("new"));
    assert_eq!(before.len(), 1, "an unflagged message is delivered to new/");
    let inode = fs::metadata(&before[0]).unwrap().ino();
    let base = before[0].file_name().unwrap().to_str().unwrap().to_owned();

    let archive = account.mailbox("Archive").unwrap();
    let pairs = inbox.move_to(&[uid], &archive).unwrap();
    assert_eq!(pairs.len(), 1);
    assert!(files_in(&md.join("new")).is_empty() && files_in(&md.join("cur")).is_empty());
    let moved = files_in(&md.join(".Archive/cur"));
    assert_eq!(moved.len(), 1);
    let meta = fs::metadata(&moved[0]).unwrap();
    assert_eq!(meta.ino(), inode, "the same file, renamed");
    assert_eq!(meta.nlink(), 1, "not a link: the source has no name for it");
    assert_eq!(
        moved[0].file_name().unwrap().to_str().unwrap(),
        format!("{base}:2,"),
        "the base name stays; cur/ files carry the info part"
    );
    assert_eq!(
        meta.modified().unwrap(),
        std::time::SystemTime::from(when),
        "the mtime, which is the internal date, stays"
    );
    assert!(files_in(&md.join(".Archive/new")).is_empty());
    assert!(files_in(&md.join(".Archive/tmp")).is_empty());
    let reopened = alice(dir.path());
    assert_eq!(bodies(&reopened, "Archive"), [msg(1)]);
    assert!(bodies(&reopened, "INBOX").is_empty());
}

/// Each folder has its own keyword letters (`dovecot-keywords`): a moved file is named
/// with the destination's, and keywords past the 26 letters, which only the index
/// keeps, move too.
#[test]
fn moved_flags_take_the_destination_letters_and_keywords_past_z_stay() {
    let dir = tempfile::tempdir().unwrap();
    let account = alice(dir.path());
    account.create("Archive").unwrap();
    let inbox = account.mailbox("INBOX").unwrap();
    let archive = account.mailbox("Archive").unwrap();
    // Archive's letter a is "Other"; INBOX's is "Work".
    archive
        .append(&msg(0), &flags(&[kw("Other")]), None)
        .unwrap();
    let a = inbox
        .append(&msg(1), &flags(&[Flag::Seen, kw("Work")]), None)
        .unwrap();
    let many: Flags = (0..30).map(|i| kw(&format!("k{i:02}"))).collect();
    let b = inbox.append(&msg(2), &many, None).unwrap();
    let pairs = inbox.move_to(&[a, b], &archive).unwrap();
    let md = maildir(dir.path());
    let letters = fs::read_to_string(md.join(".Archive/dovecot-keywords")).unwrap();
    assert!(letters.starts_with("0 Other\n1 Work\n"), "{letters}");
    let named: Vec<String> = files_in(&md.join(".Archive/cur"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(named.iter().any(|n| n.ends_with(":2,Sb")), "{named:?}");
    for account in [account, alice(dir.path())] {
        let archive = account.mailbox("Archive").unwrap();
        let view = archive.view().unwrap();
        assert_eq!(
            view.get(pairs[0].1).unwrap().flags,
            flags(&[Flag::Seen, kw("Work")])
        );
        assert_eq!(view.get(pairs[1].1).unwrap().flags, many);
    }
}

/// A file another program renamed since the store last looked (mutt marking it read)
/// is still found and moved, once.
#[test]
fn a_file_another_program_renamed_is_still_moved() {
    let dir = tempfile::tempdir().unwrap();
    let account = alice(dir.path());
    let inbox = account.mailbox("INBOX").unwrap();
    let trash = account.mailbox("Trash").unwrap();
    let uid = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let md = maildir(dir.path());
    let file = files_in(&md.join("cur")).pop().unwrap();
    let renamed = PathBuf::from(format!("{}F", file.display()));
    fs::rename(&file, &renamed).unwrap();
    let pairs = inbox.move_to(&[uid], &trash).unwrap();
    assert_eq!(pairs.len(), 1);
    assert_eq!(bodies(&account, "Trash"), [msg(1)]);
    assert!(files_in(&md.join("cur")).is_empty());
    assert!(bodies(&alice(dir.path()), "INBOX").is_empty());
}

/// What a process killed between a file's rename and the indexes' records leaves: the
/// file in the destination's `cur/`, unknown to its index, and gone from the source,
/// whose index still names it. The next start finds it in the destination once, with
/// the flags its name shows and its date, and gone from the source; no UID is reused.
#[test]
fn a_crash_between_the_rename_and_the_records_leaves_the_message_in_one_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let (uid, before) = {
        let account = alice(dir.path());
        account.create("Archive").unwrap();
        let inbox = account.mailbox("INBOX").unwrap();
        inbox.append(&msg(0), &Flags::new(), None).unwrap();
        let uid = inbox
            .append(&msg(1), &flags(&[Flag::Seen, Flag::Flagged]), None)
            .unwrap();
        inbox.flush().unwrap();
        (uid, inbox.status().unwrap())
    };
    let file = files_in(&md.join("cur")).pop().unwrap();
    let name = file.file_name().unwrap().to_owned();
    let date = fs::metadata(&file).unwrap().modified().unwrap();
    fs::rename(&file, md.join(".Archive/cur").join(name)).unwrap();

    let account = alice(dir.path());
    let inbox = account.mailbox("INBOX").unwrap();
    let status = inbox.status().unwrap();
    assert!(
        inbox.view().unwrap().get(uid).is_none(),
        "gone from the source"
    );
    assert_eq!(status.messages, 1);
    assert_eq!(status.uid_next, before.uid_next, "UIDNEXT stays");
    assert!(status.highest_modseq > before.highest_modseq);
    let archive = account.mailbox("Archive").unwrap();
    let m = archive.messages().unwrap();
    assert_eq!(m.len(), 1, "adopted once");
    assert_eq!(m[0].flags, flags(&[Flag::Seen, Flag::Flagged]));
    assert_eq!(std::time::SystemTime::from(m[0].internal_date), date);
    assert_eq!(archive.read(m[0].uid).unwrap(), msg(1));
    // A retried MOVE of the old UID adds nothing.
    assert!(inbox.move_to(&[uid], &archive).unwrap().is_empty());
    assert_eq!(archive.status().unwrap().messages, 1);
}

/// A directory on another file system than `root`, or `None` if this machine has none
/// (then the test that needs one has nothing to check).
fn other_file_system(root: &Path) -> Option<tempfile::TempDir> {
    let shm = Path::new("/dev/shm");
    let here = fs::metadata(root).ok()?.dev();
    let there = fs::metadata(shm).ok()?;
    if there.dev() == here || !there.is_dir() {
        return None;
    }
    tempfile::tempdir_in(shm).ok()
}

/// A folder on another file system (mounted or linked there) cannot take a file by a
/// rename: the message is copied, and then removed from the source.
#[test]
fn a_move_to_another_file_system_copies_then_removes() {
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
    let md = maildir(dir.path());
    {
        let account = alice(dir.path());
        account.create("Far").unwrap();
    }
    let far = elsewhere.path().join("Far");
    fs::create_dir(&far).unwrap();
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir(far.join(sub)).unwrap();
    }
    fs::remove_dir_all(md.join(".Far")).unwrap();
    std::os::unix::fs::symlink(&far, md.join(".Far")).unwrap();

    let account = alice(dir.path());
    let inbox = account.mailbox("INBOX").unwrap();
    let a = inbox.append(&msg(1), &flags(&[Flag::Seen]), None).unwrap();
    let b = inbox.append(&msg(2), &Flags::new(), None).unwrap();
    let target = account.mailbox("Far").unwrap();
    let pairs = inbox.move_to(&[b, a], &target).unwrap();
    assert_eq!(pairs.len(), 2);
    assert!(files_in(&md.join("new")).is_empty() && files_in(&md.join("cur")).is_empty());
    let copies: Vec<PathBuf> = ["new", "cur"]
        .iter()
        .flat_map(|d| files_in(&far.join(d)))
        .collect();
    assert_eq!(copies.len(), 2);
    assert!(files_in(&far.join("tmp")).is_empty());
    let reopened = alice(dir.path());
    assert_eq!(bodies(&reopened, "Far"), [msg(2), msg(1)]);
    assert!(bodies(&reopened, "INBOX").is_empty());
}

/// Fills `A`, `A/b`, `A/b/c` with a message each and subscribes to `A/b`.
fn hierarchy(account: &Account) {
    account.create("A/b/c").unwrap();
    account.subscribe("A/b").unwrap();
    for (n, name) in ["A", "A/b", "A/b/c"].iter().enumerate() {
        account
            .mailbox(name)
            .unwrap()
            .append(&msg(n), &Flags::new(), None)
            .unwrap();
    }
}

fn subscribed(account: &Account) -> Vec<String> {
    account
        .list()
        .unwrap()
        .into_iter()
        .filter(|i| i.subscribed)
        .map(|i| i.name)
        .collect()
}

/// A RENAME's journal (the format `maildir/mod.rs` writes) left by a process killed
/// after its first directory rename is carried out by the next start, whole; replayed
/// again (a crash before the journal's removal was durable), it changes nothing.
#[test]
fn an_interrupted_rename_is_finished_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let subscriptions = {
        let account = alice(dir.path());
        hierarchy(&account);
        subscribed(&account)
    };
    let mut journal = String::from("yubin-rename v1\ncreate\tX\n");
    for (old, new) in [("A", "X/A"), ("A/b", "X/A/b"), ("A/b/c", "X/A/b/c")] {
        journal.push_str(&format!("rename\t{old}\t{new}\n"));
    }
    journal.push_str("subscriptions\n");
    for s in &subscriptions {
        let s = if s == "A/b" { "X/A/b" } else { s.as_str() };
        journal.push_str(&format!("subscribe\t{s}\n"));
    }
    // The journal is durable, the first directory renamed: then the kill.
    fs::write(md.join("yubin-rename"), &journal).unwrap();
    fs::rename(md.join(".A"), md.join(".X.A")).unwrap();
    for round in 0..2 {
        let account = alice(dir.path());
        let all = names(&account);
        for (n, name) in ["X/A", "X/A/b", "X/A/b/c"].iter().enumerate() {
            assert!(all.contains(&name.to_string()), "round {round}: {all:?}");
            assert_eq!(bodies(&account, name), [msg(n)]);
        }
        assert!(
            all.contains(&"X".to_string()),
            "the parent is made: {all:?}"
        );
        assert!(
            !all.iter().any(|n| n == "A" || n.starts_with("A/")),
            "round {round}: {all:?}"
        );
        assert!(subscribed(&account).contains(&"X/A/b".to_string()));
        assert!(!md.join("yubin-rename").exists());
        // The journal comes back, as if its removal had not reached the disk.
        fs::write(md.join("yubin-rename"), &journal).unwrap();
    }
}

/// A RENAME that fails after some of its directories were renamed (here another
/// process made one of the new names meanwhile) renames them back: the hierarchy keeps
/// its old names, open handles keep working, and no journal is left.
#[test]
fn a_rename_that_fails_half_way_is_undone() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let account = alice(dir.path());
    hierarchy(&account);
    let handle = account.mailbox("A/b").unwrap();
    // Q/b/c appears behind the store's back: A and A/b are renamed before it is met.
    for sub in ["tmp", "new", "cur"] {
        fs::create_dir_all(md.join(".Q.b.c").join(sub)).unwrap();
    }
    let before = names(&account);
    assert!(matches!(
        account.rename("A", "Q"),
        Err(StoreError::MailboxExists(n)) if n == "Q/b/c"
    ));
    assert_eq!(names(&account), before);
    for d in [".A", ".A.b", ".A.b.c"] {
        assert!(md.join(d).is_dir(), "{d}");
    }
    assert!(!md.join(".Q").exists() && !md.join(".Q.b").exists());
    assert!(!md.join("yubin-rename").exists());
    assert_eq!(handle.name(), "A/b");
    assert_eq!(handle.messages().unwrap().len(), 1);
    let reopened = alice(dir.path());
    for (n, name) in ["A", "A/b", "A/b/c"].iter().enumerate() {
        assert_eq!(bodies(&reopened, name), [msg(n)]);
    }
    assert!(subscribed(&reopened).contains(&"A/b".to_string()));
}

/// RENAME INBOX renames INBOX's `cur/` into the new folder: one step for every message,
/// however many; INBOX gets a new, empty `cur/`.
#[test]
fn rename_inbox_moves_its_cur_directory_in_one_step() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let account = alice(dir.path());
    let inbox = account.mailbox("INBOX").unwrap();
    for n in 0..5 {
        let f = if n % 2 == 0 {
            Flags::new()
        } else {
            flags(&[Flag::Seen])
        };
        inbox.append(&msg(n), &f, None).unwrap();
    }
    let cur = fs::metadata(md.join("cur")).unwrap().ino();
    account.rename("INBOX", "Old").unwrap();
    assert_eq!(fs::metadata(md.join(".Old/cur")).unwrap().ino(), cur);
    assert_eq!(
        files_in(&md.join(".Old/cur")).len(),
        5,
        "new/ went along too"
    );
    assert!(files_in(&md.join("cur")).is_empty() && files_in(&md.join("new")).is_empty());
    assert!(!md.join(".Old/yubin-renaming-inbox").exists());
    assert_eq!(bodies(&account, "Old"), (0..5).map(msg).collect::<Vec<_>>());
    assert_eq!(inbox.status().unwrap().messages, 0);
    let reopened = alice(dir.path());
    assert_eq!(bodies(&reopened, "Old").len(), 5);
    assert!(bodies(&reopened, "INBOX").is_empty());
}

/// The two states a killed RENAME INBOX can leave: its new folder made, marked, and
/// without messages (undone by the next start: the folder goes, INBOX keeps all), or
/// with INBOX's `cur/` already in it (finished: every message in the new mailbox).
#[test]
fn an_interrupted_rename_inbox_is_undone_or_finished_whole() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    {
        let inbox = alice(dir.path()).mailbox("INBOX").unwrap();
        for n in 0..3 {
            inbox.append(&msg(n), &flags(&[Flag::Seen]), None).unwrap();
        }
        inbox.flush().unwrap();
    }
    let made = |name: &str| {
        let folder = md.join(name);
        for sub in ["tmp", "new"] {
            fs::create_dir_all(folder.join(sub)).unwrap();
        }
        fs::write(folder.join("maildirfolder"), b"").unwrap();
        fs::write(folder.join("yubin-renaming-inbox"), b"").unwrap();
        folder
    };
    // Killed before the messages moved.
    made(".Early");
    let account = alice(dir.path());
    assert!(!names(&account).contains(&"Early".to_string()));
    assert!(!md.join(".Early").exists());
    assert_eq!(bodies(&account, "INBOX").len(), 3);
    drop(account);
    // Killed after INBOX's cur/ went into the new folder, before INBOX got a new one.
    let late = made(".Late");
    fs::rename(md.join("cur"), late.join("cur")).unwrap();
    let account = alice(dir.path());
    assert!(!late.join("yubin-renaming-inbox").exists());
    assert_eq!(
        bodies(&account, "Late"),
        (0..3).map(msg).collect::<Vec<_>>()
    );
    let inbox = account.mailbox("INBOX").unwrap();
    assert_eq!(inbox.status().unwrap().messages, 0);
    assert!(md.join("cur").is_dir());
    assert!(
        inbox.append(&msg(9), &Flags::new(), None).unwrap() > 3,
        "INBOX's UIDs go on"
    );
}

/// A name that would be too long once stored is refused before anything changes, for
/// RENAME INBOX too (no parent made, no message moved).
#[test]
fn rename_inbox_to_a_name_too_long_once_stored_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let account = alice(dir.path());
    let inbox = account.mailbox("INBOX").unwrap();
    inbox.append(&msg(1), &Flags::new(), None).unwrap();
    let before = names(&account);
    let long = format!("Parent/{}", "q.".repeat(100));
    assert!(matches!(
        account.rename("INBOX", &long),
        Err(StoreError::NameTooLong { .. })
    ));
    assert_eq!(names(&account), before);
    assert_eq!(inbox.status().unwrap().messages, 1);
}

/// Another process (a second store on the same directory) that has a folder open when
/// this one renames it does not make the folder again under the old name when it next
/// looks: the renamed mailbox is the only one.
#[test]
fn another_process_does_not_make_a_renamed_folder_again() {
    let dir = tempfile::tempdir().unwrap();
    let md = maildir(dir.path());
    let first = alice(dir.path());
    first.create("X").unwrap();
    let x = first.mailbox("X").unwrap();
    x.append(&msg(1), &Flags::new(), None).unwrap();
    let second = alice(dir.path());
    let stale = second.mailbox("X").unwrap();
    assert_eq!(stale.status().unwrap().messages, 1);
    first.rename("X", "Y").unwrap();
    let _ = stale.refresh();
    let _ = stale.append(&msg(2), &Flags::new(), None);
    assert!(!md.join(".X").exists());
    let names = names(&alice(dir.path()));
    assert!(names.contains(&"Y".to_string()) && !names.contains(&"X".to_string()));
    assert_eq!(bodies(&alice(dir.path()), "Y"), [msg(1)]);
}

/// Moves in opposite directions at once, in one process and from a second one (a
/// second store on the same directory, as another yubin would be), and then in one
/// process while the hierarchy holding one of the two mailboxes is renamed back and
/// forth: no deadlock, and every message ends up in exactly one mailbox.
#[test]
fn moves_that_meet_neither_deadlock_nor_lose_nor_double() {
    const MESSAGES: usize = 40;
    let dir = tempfile::tempdir().unwrap();
    let first = alice(dir.path());
    first.create("Tree/B").unwrap();
    let a = first.mailbox("INBOX").unwrap();
    for n in 0..MESSAGES {
        a.append(&msg(n), &Flags::new(), None).unwrap();
    }
    let second = alice(dir.path());
    let shuttle = |account: Account, forward: bool, stop: Arc<AtomicBool>| {
        std::thread::spawn(move || {
            let mut moved = 0;
            while !stop.load(Ordering::Relaxed) {
                let (a, b) = (account.mailbox("INBOX").unwrap(), {
                    match account.mailbox("Tree/B") {
                        Ok(b) => b,
                        Err(_) => account.mailbox("Tree2/B").unwrap(),
                    }
                });
                let (from, to) = if forward { (a, b) } else { (b, a) };
                let uids: Vec<u32> = from.view().unwrap().uids().take(3).collect();
                moved += from.move_to(&uids, &to).unwrap().len();
            }
            moved
        })
    };
    let check = |tree: &str, moved: usize| {
        let account = alice(dir.path());
        let mut all: Vec<Vec<u8>> = bodies(&account, "INBOX");
        all.extend(bodies(&account, &format!("{tree}/B")));
        all.sort();
        let mut want: Vec<Vec<u8>> = (0..MESSAGES).map(msg).collect();
        want.sort();
        assert_eq!(all, want, "every message once, after {moved} moved");
    };

    // Two processes, both directions in each.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = [
        (first.clone(), true),
        (first.clone(), false),
        (second.clone(), true),
        (second, false),
    ]
    .into_iter()
    .map(|(account, forward)| shuttle(account, forward, stop.clone()))
    .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    let moved: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(moved > 0);
    check("Tree", moved);

    // One process, with RENAMEs of B's parent meanwhile.
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = [true, false]
        .into_iter()
        .map(|forward| shuttle(first.clone(), forward, stop.clone()))
        .collect();
    let mut names = ("Tree", "Tree2");
    for _ in 0..20 {
        first.rename(names.0, names.1).unwrap();
        names = (names.1, names.0);
    }
    stop.store(true, Ordering::Relaxed);
    let moved: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    check(names.0, moved);
}
