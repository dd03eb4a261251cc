//! SORT and THREAD on 100,000 messages: the algorithms alone (reading the keys from
//! header blocks, sorting, threading), and whole commands over a socket against a
//! memory store, so the figure includes selecting the messages and fetching headers.
#![allow(missing_docs)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use mini_imap::command::{SortCriterion, SortKey};
use mini_imap::sort::facts::{Facts, Needs};
use mini_imap::sort::{order, thread};
use mini_imap::{ImapServerConfig, serve};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use yubin_store::{Flags, NewMessage, Secret, Store};

const N: usize = 100_000;

/// Header blocks that look like a mailing list: threads of up to eight messages,
/// replies with "Re:", forwards, list tags, encoded words now and then.
fn headers() -> Vec<Vec<u8>> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    (0..N)
        .map(|i| {
            let r = next();
            let thread = i / 8;
            let depth = i % 8;
            let prefix = ["", "Re: ", "RE: [list] ", "Fwd: ", "Re: Re: "][depth % 5];
            let subject = if r % 50 == 0 {
                format!("{prefix}=?UTF-8?Q?Gr=C3=BC=C3=9Fe_{thread}?=")
            } else {
                format!("{prefix}Topic number {thread}")
            };
            let refs: Vec<String> = (0..depth)
                .map(|d| format!("<m{}@list.example>", thread * 8 + d))
                .collect();
            let mut h = format!(
                "From: \"User {u}\" <user{u}@example.org>\r\nTo: list@example.org\r\n\
                 Subject: {subject}\r\nDate: Mon, {day} Nov 2026 {h:02}:{m:02}:00 +0100\r\n\
                 Message-ID: <m{i}@list.example>\r\n",
                u = r % 997,
                day = 1 + (r >> 10) % 28,
                h = (r >> 20) % 24,
                m = (r >> 30) % 60,
            );
            if !refs.is_empty() {
                h.push_str(&format!("References: {}\r\n", refs.join(" ")));
            }
            h.push_str("\r\n");
            h.into_bytes()
        })
        .collect()
}

fn criteria() -> Vec<SortCriterion> {
    vec![
        SortCriterion {
            reverse: false,
            key: SortKey::Subject,
        },
        SortCriterion {
            reverse: true,
            key: SortKey::Date,
        },
    ]
}

fn algorithms(c: &mut Criterion) {
    let headers = headers();
    let mut g = c.benchmark_group("sort_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("facts_subject_date_then_sort", |b| {
        let needs = Needs::for_sort(&criteria());
        b.iter(|| {
            let facts: Vec<Facts> = headers
                .iter()
                .enumerate()
                .map(|(i, h)| Facts::read(h, i as i64, 100, needs))
                .collect();
            order::sort(&facts, &criteria())
        })
    });
    g.bench_function("facts_for_thread", |b| {
        b.iter(|| {
            headers
                .iter()
                .enumerate()
                .map(|(i, h)| Facts::read(h, i as i64, 100, Needs::for_thread()))
                .collect::<Vec<Facts>>()
        })
    });
    let facts: Vec<Facts> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| Facts::read(h, i as i64, 100, Needs::for_thread()))
        .collect();
    g.bench_function("thread_references_ready_facts", |b| {
        b.iter(|| thread::references(&facts))
    });
    g.bench_function("thread_orderedsubject_ready_facts", |b| {
        b.iter(|| thread::ordered_subject(&facts))
    });
    g.finish();
}

fn over_a_socket(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let flags = Flags::new();
    let raws: Vec<Vec<u8>> = headers()
        .into_iter()
        .map(|mut h| {
            h.extend_from_slice(b"Hello.\r\n");
            h
        })
        .collect();
    for chunk in raws.chunks(5_000) {
        let batch: Vec<NewMessage<'_>> = chunk
            .iter()
            .map(|raw| NewMessage {
                raw,
                flags: &flags,
                internal_date: None,
            })
            .collect();
        inbox.append_batch(&batch).unwrap();
    }
    let (mut r, mut w) = rt.block_on(async {
        let handle = serve(
            "127.0.0.1:0".parse().unwrap(),
            store.clone(),
            ImapServerConfig::default(),
            CancellationToken::new(),
        )
        .await
        .unwrap();
        let tcp = TcpStream::connect(handle.local_addr()).await.unwrap();
        std::mem::forget(handle);
        let (r, w) = tcp.into_split();
        (BufReader::new(r), w)
    });
    let mut ask = |command: &str| {
        rt.block_on(async {
            w.write_all(command.as_bytes()).await.unwrap();
            let mut bytes = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).await.unwrap();
                bytes += line.len();
                if line.starts_with("a ") {
                    assert!(line.starts_with("a OK"), "{line}");
                    return bytes;
                }
            }
        })
    };
    ask("a LOGIN alice secret\r\n");
    ask("a SELECT INBOX\r\n");
    let mut g = c.benchmark_group("socket_100k");
    g.sample_size(10).measurement_time(Duration::from_secs(30));
    g.bench_function("SORT (SUBJECT REVERSE DATE) UTF-8 ALL", |b| {
        b.iter(|| ask("a SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n"))
    });
    g.bench_function("SORT (ARRIVAL) UTF-8 ALL", |b| {
        b.iter(|| ask("a SORT (ARRIVAL) UTF-8 ALL\r\n"))
    });
    g.bench_function("THREAD ORDEREDSUBJECT UTF-8 ALL", |b| {
        b.iter(|| ask("a THREAD ORDEREDSUBJECT UTF-8 ALL\r\n"))
    });
    g.bench_function("THREAD REFERENCES UTF-8 ALL", |b| {
        b.iter(|| ask("a THREAD REFERENCES UTF-8 ALL\r\n"))
    });
    g.finish();
}

criterion_group!(benches, algorithms, over_a_socket);
criterion_main!(benches);
