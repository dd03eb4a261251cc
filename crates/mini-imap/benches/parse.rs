//! Command parsing throughput on a realistic mix (what Thunderbird, mutt and imaplib send
//! in a session), against a baseline that only splits the same bytes into lines, so the
//! ratio says what the grammar costs on top of framing.
#![allow(missing_docs)]

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::Decoder;

const MIX: &[&[u8]] = &[
    b"a1 CAPABILITY\r\n",
    b"a2 LOGIN alice \"secret pass\"\r\n",
    b"a3 ID (\"name\" \"Thunderbird\" \"version\" \"128.0\")\r\n",
    b"a4 LIST \"\" \"*\"\r\n",
    b"a5 SELECT INBOX\r\n",
    b"a6 UID FETCH 1:* (FLAGS)\r\n",
    b"a7 UID FETCH 1,3:7,9,12:20 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])\r\n",
    b"a8 UID FETCH 42 BODY.PEEK[]\r\n",
    b"a9 FETCH 1:50 (ENVELOPE BODYSTRUCTURE INTERNALDATE)\r\n",
    b"a10 UID SEARCH CHARSET UTF-8 OR SUBJECT {6+}\r\n\xe9\x83\xb5\xe4\xbe\xbf FROM alice SINCE 1-Jan-2024 NOT DELETED\r\n",
    b"a11 STATUS Archive/2024 (MESSAGES UNSEEN UIDNEXT)\r\n",
    b"a12 NOOP\r\n",
    b"a13 FETCH 7 BODY[1.2.MIME]<0.2048>\r\n",
    b"a14 UID STORE 5 +FLAGS.SILENT (\\Seen $Forwarded)\r\n",
    b"a15 LOGOUT\r\n",
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
    let mut g = c.benchmark_group("imap_commands");
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
    g.bench_function("frame_only", |b| {
        b.iter(|| {
            let mut codec = mini_imap::codec::ImapCodec::default();
            let mut buf = BytesMut::from(&bytes[..]);
            let mut n = 0;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                if let mini_imap::codec::Frame::Command(cmd) = frame {
                    n += cmd.len();
                }
            }
            n
        })
    });
    g.bench_function("frame_and_parse", |b| {
        b.iter(|| {
            let mut codec = mini_imap::codec::ImapCodec::default();
            let mut buf = BytesMut::from(&bytes[..]);
            let mut n = 0;
            while let Ok(Some(frame)) = codec.decode(&mut buf) {
                if let mini_imap::codec::Frame::Command(cmd) = frame
                    && mini_imap::parse::command(&cmd).is_ok()
                {
                    n += 1;
                }
            }
            assert_eq!(n, commands);
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
