//! `Mailbox::memo`: one value per type and mailbox, shared by every handle, that lives
//! as long as the mailbox (RENAME keeps it, DELETE drops it), on both backends.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use yubin_store::{Secret, Store};

/// What a protocol might keep: facts by UID.
#[derive(Default)]
struct Facts(Mutex<Vec<(u32, String)>>);

#[test]
fn a_memo_is_shared_by_every_handle_and_ends_with_the_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    for store in [Store::memory(), Store::maildir(dir.path()).unwrap()] {
        store.add_account("alice", Secret::from("x")).unwrap();
        let account = store.account("alice").unwrap();
        account.create("Box").unwrap();
        let made = AtomicUsize::new(0);
        let make = || {
            made.fetch_add(1, Ordering::SeqCst);
            Facts::default()
        };
        let memo = account.mailbox("Box").unwrap().memo(make);
        memo.0.lock().unwrap().push((1, "first box".into()));
        // Another handle, from another account handle: the same value, made once.
        let other = store.account("alice").unwrap().mailbox("Box").unwrap();
        assert_eq!(other.memo(make).0.lock().unwrap().len(), 1);
        assert_eq!(made.load(Ordering::SeqCst), 1);
        // Another type is another memo; another mailbox has its own.
        assert_eq!(*other.memo(|| 7u64), 7);
        assert_eq!(*other.memo(|| 8u64), 7);
        let inbox = account.mailbox("INBOX").unwrap();
        assert!(inbox.memo(make).0.lock().unwrap().is_empty());
        assert_eq!(made.load(Ordering::SeqCst), 2);
        // RENAME: the messages go along, and so does what was learnt of them.
        account.rename("Box", "Moved").unwrap();
        let moved = account.mailbox("Moved").unwrap();
        assert_eq!(moved.memo(make).0.lock().unwrap().len(), 1);
        // DELETE, then CREATE under the same name: a new mailbox knows nothing.
        account.delete("Moved").unwrap();
        account.create("Moved").unwrap();
        let again = account.mailbox("Moved").unwrap();
        assert!(again.memo(make).0.lock().unwrap().is_empty());
        assert_eq!(made.load(Ordering::SeqCst), 3);
    }
}
