//! Store benchmarks: deliveries per second, and the time to open a 10,000-message
//! mailbox, for both backends.
//!
//! `cargo bench -p yubin-store --bench store`
//!
//! A Maildir delivery is durable when it returns (two fsyncs of files, two of
//! directories), so its rate says more about the disk than about yubin.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use yubin_store::{Flags, Mailbox, NewMessage, Store};

const MESSAGE_SIZE: usize = 4096;
const BIG_MAILBOX: u32 = 10_000;

fn message(n: u64) -> Vec<u8> {
    let mut m = format!("Subject: bench {n}\r\nFrom: a@example.com\r\n\r\n").into_bytes();
    while m.len() < MESSAGE_SIZE {
        m.extend_from_slice(b"0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 abcdef\r\n");
    }
    m
}

fn inbox(store: &Store) -> Mailbox {
    store.set_accept_any_login(true);
    store.account("bench").unwrap().mailbox("INBOX").unwrap()
}

fn deliveries(c: &mut Criterion) {
    let mut group = c.benchmark_group("deliver");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    let body = message(0);
    // A fresh mailbox per batch of iterations, so neither the memory backend's bytes nor
    // the Maildir UID list (rewritten on every delivery) grow without bound.
    let fresh = |backend: &'static str| {
        let body = body.clone();
        move |b: &mut criterion::Bencher<'_>| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let store = match backend {
                    "memory" => Store::memory(),
                    _ => Store::maildir(dir.path()).unwrap(),
                };
                let mailbox = inbox(&store);
                let start = Instant::now();
                for _ in 0..iters {
                    mailbox.append(&body, &Flags::new(), None).unwrap();
                }
                start.elapsed()
            })
        }
    };
    for backend in ["memory", "maildir"] {
        group.bench_function(BenchmarkId::new("append_4KiB", backend), fresh(backend));
    }
    // The same message received a line at a time, as IMAP APPEND and SMTP DATA receive
    // it: `Mailbox::incoming`, and `Store::deliver` (which streams) to one and to three
    // accounts (one file, linked into each INBOX).
    let streamed = |backend: &'static str, how: &'static str| {
        let body = body.clone();
        move |b: &mut criterion::Bencher<'_>| {
            b.iter_custom(|iters| {
                let dir = tempfile::tempdir().unwrap();
                let store = match backend {
                    "memory" => Store::memory(),
                    _ => Store::maildir(dir.path()).unwrap(),
                };
                let mailbox = inbox(&store);
                let start = Instant::now();
                for _ in 0..iters {
                    match how {
                        "append" => {
                            let mut append = mailbox.incoming(&Flags::new(), None).unwrap();
                            for line in body.split_inclusive(|&b| b == b'\n') {
                                append.write(line).unwrap();
                            }
                            append.finish().unwrap();
                        }
                        "deliver1" => {
                            store.deliver(&["bench"], &body).unwrap();
                        }
                        _ => {
                            store.deliver(&["bench", "b2", "b3"], &body).unwrap();
                        }
                    }
                }
                start.elapsed()
            })
        }
    };
    for backend in ["memory", "maildir"] {
        for (name, how) in [
            ("incoming_append_4KiB_by_line", "append"),
            ("deliver_4KiB", "deliver1"),
            ("deliver_4KiB_to_3", "deliver3"),
        ] {
            group.bench_function(BenchmarkId::new(name, backend), streamed(backend, how));
        }
    }
    // `yubin deliver` appends in batches: one UID list write per 100 messages.
    group.throughput(Throughput::Elements(100));
    let flags = Flags::new();
    let batch: Vec<NewMessage<'_>> = (0..100)
        .map(|_| NewMessage {
            raw: &body,
            flags: &flags,
            internal_date: None,
        })
        .collect();
    group.bench_function(BenchmarkId::new("append_batch_100x4KiB", "maildir"), |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let mailbox = inbox(&Store::maildir(dir.path()).unwrap());
            let start = Instant::now();
            for _ in 0..iters {
                mailbox.append_batch(&batch).unwrap();
            }
            start.elapsed()
        })
    });
    group.finish();
}

/// Writes `count` messages straight into `cur/`, as another program would, and lets a
/// first open give them UIDs; later opens find the UID list ready.
fn big_maildir(count: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let cur = dir.path().join("bench/Maildir/cur");
    std::fs::create_dir_all(&cur).unwrap();
    for n in 0..count {
        let m = message(u64::from(n));
        let name = format!(
            "{}.M{n}P1Q{n}.bench,S={},W={}:2,S",
            1_700_000_000 + n,
            m.len(),
            m.len()
        );
        std::fs::write(cur.join(name), &m).unwrap();
    }
    let first = inbox(&Store::maildir(dir.path()).unwrap());
    assert_eq!(first.status().unwrap().messages, count);
    dir
}

fn open_big_mailbox(c: &mut Criterion) {
    let mut group = c.benchmark_group("open_10k");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    let dir = big_maildir(BIG_MAILBOX);
    group.bench_function("maildir", |b| {
        b.iter(|| {
            // A new store is a restarted server: read the UID list, list new/ and cur/,
            // stat each file for its date, then snapshot the messages (what SELECT does).
            let mailbox = inbox(&Store::maildir(dir.path()).unwrap());
            assert_eq!(mailbox.messages().unwrap().len(), BIG_MAILBOX as usize);
        });
    });

    let store = Store::memory();
    let filled = inbox(&store);
    let body = message(0);
    for _ in 0..BIG_MAILBOX {
        filled.append(&body, &Flags::new(), None).unwrap();
    }
    group.bench_function("memory", |b| {
        b.iter(|| {
            let mailbox = store.account("bench").unwrap().mailbox("INBOX").unwrap();
            assert_eq!(mailbox.messages().unwrap().len(), BIG_MAILBOX as usize);
        });
    });
    group.finish();
}

criterion_group!(benches, deliveries, open_big_mailbox);
criterion_main!(benches);
