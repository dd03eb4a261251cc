//! POP3 command parsing throughput on the commands a mail client sends in a session
//! (fetchmail, Thunderbird, Python's poplib), against a baseline that only splits the same
//! bytes into lines, so the ratio says what the grammar costs on top of framing.
#![allow(missing_docs)]

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::Decoder;

const MIX: &[&[u8]] = &[
    b"CAPA\r\n",
    b"USER alice\r\n",
    b"PASS secret pass with spaces\r\n",
    b"STAT\r\n",
    b"LIST\r\n",
    b"UIDL\r\n",
    b"LIST 7\r\n",
    b"UIDL 7\r\n",
    b"TOP 7 0\r\n",
    b"RETR 7\r\n",
    b"DELE 7\r\n",
    b"NOOP\r\n",
    b"RSET\r\n",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    b"APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n",
    b"QUIT\r\n",
];

fn input() -> Vec<u8> {
    let mut all = Vec::new();
    for _ in 0..100 {
        for c in MIX {
            all.extend_from_slice(c);
        }
    }
    all
}

fn bench(c: &mut Criterion) {
    let bytes = input();
    let commands = (MIX.len() * 100) as u64;
    let mut g = c.benchmark_group("pop_commands");
    g.throughput(Throughput::Elements(commands));
    g.bench_function("baseline_line_split", |b| {
        b.iter(|| {
            let mut codec = yubin_core::LineCodec::new(8192);
            let mut buf = BytesMut::from(&bytes[..]);
            let mut n = 0;
            while let Ok(Some(line)) = codec.decode(&mut buf) {
                n += line.len();
            }
            n
        })
    });
    g.bench_function("frame_and_parse", |b| {
        b.iter(|| {
            let mut codec = yubin_core::LineCodec::new(8192);
            let mut buf = BytesMut::from(&bytes[..]);
            let mut ok = 0;
            while let Ok(Some(line)) = codec.decode(&mut buf) {
                ok += usize::from(mini_pop::parse::command(&line).is_ok());
            }
            assert_eq!(ok as u64, commands);
            ok
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
