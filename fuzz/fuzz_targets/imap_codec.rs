//! The literal-aware IMAP framer: never panics, never buffers past its limits, and every
//! frame it yields goes to the parser without a panic. The first byte picks the chunk
//! size, so reads of every size are tried.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use mini_imap::codec::{CodecLimits, Frame, ImapCodec};
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first % 64) + 1;
    let limits = CodecLimits {
        max_line: 128,
        max_literal: 64,
        max_command: 512,
        stream_above: 256,
    };
    let mut codec = ImapCodec::new(limits);
    let mut buf = BytesMut::new();
    for piece in rest.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(Frame::Command(c))) => {
                    assert!(c.len() <= limits.max_command);
                    let _ = mini_imap::parse::command(&c);
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(buf.len() <= limits.max_line + 2 + chunk);
    }
});
