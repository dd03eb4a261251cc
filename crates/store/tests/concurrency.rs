//! Many sessions on one mailbox at once: 8 threads deliver, 4 change flags, 2 expunge and
//! 2 read, for a bounded time, while two watchers follow the notifications. Afterwards
//! every delivered message is present or was expunged exactly once, UIDs are unique and
//! ascending, reads never saw a damaged message, and each watcher saw a consistent
//! sequence of snapshots (new UIDs only above every UID it had seen, removed UIDs never
//! back). Run against both backends; for Maildir the state also survives a reopen.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use yubin_store::{Flag, FlagOp, Flags, Mailbox, Store, StoreError};

const RUN_FOR: Duration = Duration::from_millis(1500);

fn message(thread: usize, n: u64) -> Vec<u8> {
    let mut m = format!("Subject: t{thread} n{n}\r\n\r\n").into_bytes();
    for i in 0..(n % 50) {
        m.extend_from_slice(format!("line {i} of message {thread}/{n}\r\n").as_bytes());
    }
    m
}

/// Parses what [`message`] wrote, to check a read gave back a whole message.
fn expected_from(bytes: &[u8]) -> Vec<u8> {
    let line =
        std::str::from_utf8(&bytes[..bytes.iter().position(|&b| b == b'\r').unwrap()]).unwrap();
    let (t, n) = line
        .strip_prefix("Subject: t")
        .unwrap()
        .split_once(" n")
        .unwrap();
    message(t.parse().unwrap(), n.parse().unwrap())
}

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

fn random_uid(mailbox: &Mailbox, rng: &mut Rng) -> Option<u32> {
    let m = mailbox.messages().unwrap();
    (!m.is_empty()).then(|| m[rng.below(m.len())].uid)
}

/// A watcher's view: a snapshot after each notification, checked against the previous.
async fn follow(mailbox: Mailbox, stop: Arc<AtomicBool>) -> (usize, Vec<u32>) {
    let mut watch = mailbox.watch();
    let mut seen_max = 0u32;
    let mut gone = BTreeSet::new();
    let mut last: BTreeSet<u32> = BTreeSet::new();
    let mut last_version = watch.version();
    let mut notifications = 0;
    loop {
        let woke = tokio::time::timeout(Duration::from_millis(100), watch.changed()).await;
        if woke.is_ok() {
            notifications += 1;
            let v = watch.version();
            assert!(v >= last_version, "versions never go back");
            last_version = v;
        }
        let now: BTreeSet<u32> = mailbox.messages().unwrap().iter().map(|m| m.uid).collect();
        for uid in now.difference(&last) {
            assert!(
                *uid > seen_max,
                "new UID {uid} not above every UID seen ({seen_max})"
            );
            assert!(!gone.contains(uid), "UID {uid} came back");
        }
        for uid in last.difference(&now) {
            gone.insert(*uid);
        }
        seen_max = seen_max.max(now.last().copied().unwrap_or(0));
        last = now;
        if stop.load(Ordering::Acquire) && woke.is_err() {
            return (notifications, last.into_iter().collect());
        }
    }
}

fn hammer(store: Store, reopen: impl FnOnce() -> Store) {
    store.set_accept_any_login(true);
    let mailbox = store.account("busy").unwrap().mailbox("INBOX").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let watchers_stop = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let watchers: Vec<_> = (0..2)
        .map(|_| rt.spawn(follow(mailbox.clone(), watchers_stop.clone())))
        .collect();

    let deadline = Instant::now() + RUN_FOR;
    let (delivered, expunged, reads) = std::thread::scope(|s| {
        let deliverers: Vec<_> = (0..8)
            .map(|t| {
                // Each session gets its own handle, as a real session would.
                let mb = store.account("busy").unwrap().mailbox("inbox").unwrap();
                s.spawn(move || {
                    let mut uids = Vec::new();
                    let mut n = 0;
                    while Instant::now() < deadline {
                        n += 1;
                        uids.push(mb.append(&message(t, n), &Flags::new(), None).unwrap());
                    }
                    uids
                })
            })
            .collect();
        for t in 0..4 {
            let mb = mailbox.clone();
            s.spawn(move || {
                let mut rng = Rng(0x9E37 + t as u64);
                let choices = [Flag::Seen, Flag::Flagged, Flag::Keyword(format!("t{t}"))];
                while Instant::now() < deadline {
                    let Some(uid) = random_uid(&mb, &mut rng) else {
                        continue;
                    };
                    let f: Flags = [choices[rng.below(3)].clone()].into_iter().collect();
                    let op = [FlagOp::Add, FlagOp::Remove, FlagOp::Replace][rng.below(3)];
                    for (u, now) in mb.set_flags(&[uid], op, &f).unwrap() {
                        assert_eq!(u, uid);
                        match op {
                            FlagOp::Add => assert!(now.is_superset(&f)),
                            FlagOp::Remove => assert!(now.is_disjoint(&f)),
                            FlagOp::Replace => assert_eq!(now, f),
                        }
                    }
                }
            });
        }
        let expungers: Vec<_> = (0..2)
            .map(|t| {
                let mb = mailbox.clone();
                s.spawn(move || {
                    let mut rng = Rng(0xABCD + t as u64);
                    let mut removed = Vec::new();
                    while Instant::now() < deadline {
                        if let Some(uid) = random_uid(&mb, &mut rng) {
                            removed.extend(mb.expunge(&[uid]).unwrap());
                        }
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    removed
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|t| {
                let mb = mailbox.clone();
                s.spawn(move || {
                    let mut rng = Rng(0x1234 + t as u64);
                    let mut reads = 0;
                    while Instant::now() < deadline {
                        let Some(uid) = random_uid(&mb, &mut rng) else {
                            continue;
                        };
                        match mb.read(uid) {
                            Ok(bytes) => {
                                assert_eq!(
                                    bytes[..],
                                    expected_from(&bytes)[..],
                                    "UID {uid} damaged"
                                );
                                reads += 1;
                            }
                            Err(StoreError::NoSuchMessage(_)) => {} // expunged meanwhile
                            Err(e) => panic!("read {uid}: {e}"),
                        }
                    }
                    reads
                })
            })
            .collect();
        let delivered: Vec<u32> = deliverers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let expunged: Vec<u32> = expungers
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        let reads: usize = readers.into_iter().map(|h| h.join().unwrap()).sum();
        stop.store(true, Ordering::Release);
        (delivered, expunged, reads)
    });
    watchers_stop.store(true, Ordering::Release);

    let delivered_set: BTreeSet<u32> = delivered.iter().copied().collect();
    assert_eq!(
        delivered_set.len(),
        delivered.len(),
        "a UID was given twice"
    );
    let expunged_set: BTreeSet<u32> = expunged.iter().copied().collect();
    assert_eq!(
        expunged_set.len(),
        expunged.len(),
        "a message was expunged twice"
    );
    let present: Vec<u32> = mailbox.messages().unwrap().iter().map(|m| m.uid).collect();
    assert!(present.windows(2).all(|w| w[0] < w[1]));
    let present_set: BTreeSet<u32> = present.iter().copied().collect();
    assert!(present_set.is_disjoint(&expunged_set));
    let accounted: BTreeSet<u32> = present_set.union(&expunged_set).copied().collect();
    assert_eq!(
        accounted, delivered_set,
        "every delivery is present or was expunged"
    );
    let status = mailbox.status().unwrap();
    assert!(status.uid_next > delivered_set.last().copied().unwrap_or(0));
    assert!(
        delivered.len() > 20 && reads > 0,
        "too little happened: {} delivered, {reads} reads",
        delivered.len()
    );

    for w in watchers {
        let (notifications, last) = rt.block_on(w).unwrap();
        assert!(notifications > 0);
        assert_eq!(last, present, "a watcher ended on a different state");
    }

    let before = mailbox.messages().unwrap();
    let after = reopen()
        .account("busy")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
        .messages()
        .unwrap();
    assert_eq!(after, before, "the state on disk is the state in memory");
}

#[test]
fn memory_mailbox_under_concurrent_sessions() {
    let store = Store::memory();
    let same = store.clone();
    hammer(store, move || same);
}

#[test]
fn maildir_mailbox_under_concurrent_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::maildir(dir.path()).unwrap();
    let root = dir.path().to_path_buf();
    hammer(store, move || {
        let s = Store::maildir(root).unwrap();
        s.set_accept_any_login(true);
        s
    });
}
