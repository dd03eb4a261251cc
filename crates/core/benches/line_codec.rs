//! LineCodec decoding throughput beside a baseline that only scans for newlines.
//!
//! The ratio of the two is the framing's own cost: splitting, CR stripping, bookkeeping.
//! Run: `cargo bench -p yubin-core --bench line_codec`.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use bytes::BytesMut;
use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use tokio_util::codec::Decoder;
use yubin_core::LineCodec;

/// A POP3/IMAP-like mix of short commands and message lines, about 1 MiB.
fn input() -> Vec<u8> {
    let lines: [&[u8]; 6] = [
        b"A001 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)])",
        b"RETR 1",
        b"Subject: =?UTF-8?B?6YO15L6/?= a test message",
        b"",
        b"The quick brown fox jumps over the lazy dog, in 8-bit: \xe9\x83\xb5\xe4\xbe\xbf.",
        b"..a dot-stuffed line",
    ];
    let mut out = Vec::new();
    while out.len() < 1 << 20 {
        for l in lines {
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let data = input();
    let mut group = c.benchmark_group("line_framing");
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("baseline_newline_scan", |b| {
        b.iter(|| {
            let n = black_box(&data).iter().filter(|&&b| b == b'\n').count();
            black_box(n)
        })
    });
    group.bench_function("line_codec_decode", |b| {
        b.iter(|| {
            let mut codec = LineCodec::new(8192);
            let mut buf = BytesMut::from(&data[..]);
            let mut n = 0usize;
            while let Some(line) = codec.decode(&mut buf).unwrap() {
                n += line.len();
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
