//! The conformance suite (`yubin_store::testing`), run against both of the store's
//! backends through the public API, as a backend of another crate would run it.
//!
//! For Maildir, `reopen` builds a new `Store` on the same directory, as a restarted
//! server would; memory has nothing to reopen and returns the same store. The last test
//! checks that a backend chosen at run time (boxed or shared) is a backend too.

use tempfile::TempDir;
use yubin_store::testing::Fixture;
use yubin_store::{MaildirBackend, MemoryBackend, Secret, Store};

/// A store with the account the cases use.
fn with_alice(store: Store) -> Store {
    store.add_account("alice", Secret::from("secret")).unwrap();
    store
}

/// The memory backend: one store, which a restart would lose, so `reopen` is itself.
struct Memory {
    store: Store,
}

impl Memory {
    fn new() -> Memory {
        Memory {
            store: with_alice(Store::with_backend(MemoryBackend)),
        }
    }
}

impl Fixture for Memory {
    fn store(&self) -> Store {
        self.store.clone()
    }

    fn reopen(&self) -> Store {
        self.store.clone()
    }
}

/// The Maildir backend in a temporary data directory, removed when the case ends.
struct Maildir {
    store: Store,
    dir: TempDir,
}

impl Maildir {
    fn new() -> Maildir {
        let dir = tempfile::tempdir().unwrap();
        Maildir {
            store: with_alice(Store::with_backend(
                MaildirBackend::new(dir.path()).unwrap(),
            )),
            dir,
        }
    }
}

impl Fixture for Maildir {
    fn store(&self) -> Store {
        self.store.clone()
    }

    fn reopen(&self) -> Store {
        with_alice(Store::with_backend(
            MaildirBackend::new(self.dir.path()).unwrap(),
        ))
    }
}

yubin_store::conformance_suite!(memory, Memory::new());
yubin_store::conformance_suite!(maildir, Maildir::new());

/// A backend chosen at run time (`Box<dyn StoreBackend>`, or shared in an `Arc`) is a
/// backend too, and `Store::root` is the backend's.
#[test]
fn backends_chosen_at_run_time() {
    use std::sync::Arc;
    use yubin_store::StoreBackend;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let boxed: Vec<Box<dyn StoreBackend>> = vec![
        Box::new(MemoryBackend),
        Box::new(MaildirBackend::new(&data).unwrap()),
    ];
    let roots: Vec<_> = boxed
        .into_iter()
        .map(|backend| {
            let store = with_alice(Store::with_backend(backend));
            let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
            inbox
                .append(b"Subject: x\r\n\r\ny\r\n", &yubin_store::Flags::new(), None)
                .unwrap();
            store.root().map(|p| p.to_path_buf())
        })
        .collect();
    assert_eq!(roots, [None, Some(data.clone())]);
    // The Maildir message is there for a second store, over a shared backend.
    let shared = Arc::new(MaildirBackend::new(&data).unwrap());
    let store = with_alice(Store::with_backend(Arc::clone(&shared)));
    assert_eq!(Arc::strong_count(&shared), 2);
    assert_eq!(store.root(), Some(data.as_path()));
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    assert_eq!(inbox.status().unwrap().messages, 1);
}
