//! Building ENVELOPE and BODYSTRUCTURE (with the part tree and SEARCH text that come with
//! them: `MessageInfo::parse`) for each message of the test corpus, and the cached path a
//! second FETCH takes (`InfoCache::get` on a known UID).
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mini_imap::mime::{InfoCache, MessageInfo};

/// The corpus, as the store hands it out (CRLF line ends).
fn corpus() -> Vec<(&'static str, Vec<u8>)> {
    macro_rules! eml {
        ($name:literal) => {
            (
                $name,
                include_bytes!(concat!("../../../tests/fixtures/corpus/", $name)).to_vec(),
            )
        };
    }
    vec![
        eml!("01-plain.eml"),
        eml!("02-japanese-utf8.eml"),
        eml!("03-iso-2022-jp.eml"),
        eml!("04-multipart-alternative.eml"),
        eml!("05-attachments.eml"),
        eml!("06-forwarded-rfc822.eml"),
        eml!("07-dot-lines.eml"),
        eml!("08-folded-no-date.eml"),
        eml!("09-latin1-8bit.eml"),
        eml!("10-large-1mib.eml"),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope_bodystructure");
    for (name, raw) in corpus() {
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(name.trim_end_matches(".eml"), |b| {
            b.iter(|| {
                let info = MessageInfo::parse(&raw);
                info.envelope.len() + info.bodystructure.len()
            })
        });
    }
    g.finish();

    let small: Vec<_> = corpus().into_iter().take(9).collect();
    let mut g = c.benchmark_group("envelope_bodystructure_mix");
    g.throughput(Throughput::Elements(small.len() as u64));
    g.bench_function("parse_9_small", |b| {
        b.iter(|| {
            small
                .iter()
                .map(|(_, raw)| MessageInfo::parse(raw).envelope.len())
                .sum::<usize>()
        })
    });
    g.bench_function("cached_9_small", |b| {
        let mut cache = InfoCache::default();
        for (uid, (_, raw)) in (1..).zip(&small) {
            cache.get(1, uid, raw);
        }
        b.iter(|| {
            (1..)
                .zip(&small)
                .map(|(uid, (_, raw))| cache.get(1, uid, raw).envelope.len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
