//! The store's cost per operation as a mailbox grows: 1k, 10k and 100k small bare-LF
//! messages dropped into a Maildir the way an MDA does (tmp/ then new/), then the
//! operations a real client workload makes, each timed on its own:
//!
//! `cargo bench -p yubin-store --bench scale` (`SCALE_SIZES=1000,10000` to choose)
//!
//! Each line is one operation at one size; `open` is the first open (a scan of every
//! file), `reopen` a restarted process's open (the index), `view` the fixed cost of
//! any command (NOOP), `mark-all-read` a `STORE 1:* +FLAGS (\Seen)`, `expunge-10%`,
//! `copy-1000` into another folder, `append` one message into the big mailbox, `status`
//! of the open mailbox. Run it under `strace -f -c -e trace=fsync,fdatasync` to count the
//! durable writes.
#![allow(missing_docs)]

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use yubin_store::{Flag, FlagOp, Flags, Mailbox, Secret, Store};

fn fill(maildir: &Path, count: u32) {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for i in 0..count {
        let name = format!("1700000000.M{i}P1Q{i}.mda");
        let tmp = maildir.join("tmp").join(&name);
        let mut f = std::fs::File::create(&tmp).unwrap();
        writeln!(
            f,
            "From: a@example.com\nTo: b@example.com\nSubject: message {i} word{}\n\nbody {i}\n",
            i % 100
        )
        .unwrap();
        drop(f);
        std::fs::rename(&tmp, maildir.join("new").join(&name)).unwrap();
    }
}

fn open(dir: &Path) -> (Store, Mailbox) {
    let store = Store::maildir(dir).unwrap();
    store.add_account("bench", Secret::from("x")).unwrap();
    let inbox = store.account("bench").unwrap().mailbox("INBOX").unwrap();
    (store, inbox)
}

fn time<T>(what: &str, size: u32, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    println!("{size:>7} {what:<16} {ms:>10.3} ms");
    out
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is expected.
    let sizes: Vec<u32> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    println!("{:>7} {:<16} {:>13}", "size", "operation", "time");
    for size in sizes {
        let dir = tempfile::tempdir().unwrap();
        fill(&dir.path().join("bench/Maildir"), size);
        let (_, inbox) = time("open", size, || open(dir.path()));
        inbox.flush().unwrap();
        drop(inbox);
        // SCALE_REOPENS=n reopens n more times first (to profile the restart).
        let extra: usize = std::env::var("SCALE_REOPENS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        for _ in 0..extra {
            drop(open(dir.path()));
        }
        let (store, inbox) = time("reopen", size, || open(dir.path()));
        time("view", size, || inbox.view().unwrap().len());
        time("status", size, || inbox.status().unwrap());
        let all: Vec<u32> = inbox.view().unwrap().uids().collect();
        let seen: Flags = [Flag::Seen].into_iter().collect();
        time("mark-all-read", size, || {
            inbox.set_flags(&all, FlagOp::Add, &seen).unwrap()
        });
        time("names-follow", size, || inbox.flush().unwrap());
        let account = store.account("bench").unwrap();
        account.create("Copies").unwrap();
        let copies = account.mailbox("Copies").unwrap();
        let first: Vec<u32> = all.iter().copied().take(1000).collect();
        time("copy-1000", size, || {
            inbox.copy_to(&first, &copies).unwrap()
        });
        let doomed: Vec<u32> = all.iter().copied().step_by(10).collect();
        time("expunge-10%", size, || inbox.expunge(&doomed).unwrap());
        time("append", size, || {
            inbox
                .append(b"Subject: new\r\n\r\nhello\r\n", &Flags::new(), None)
                .unwrap()
        });
        time("view-after", size, || inbox.view().unwrap().len());
    }
}
