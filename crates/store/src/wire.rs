//! The wire form of a message: every line ends in CRLF (RFC 5322 §2.1, RFC 3501 §2.3.4).
//!
//! Mail written by other programs into a Maildir usually ends lines with a bare LF. The
//! protocols count sizes in the bytes they send, so the store normalizes once and reports
//! the normalized size everywhere.

use std::borrow::Cow;

/// The size `raw` has once every bare LF is made CRLF.
pub fn wire_size(raw: &[u8]) -> u64 {
    raw.len() as u64 + bare_lf_count(raw)
}

fn bare_lf_count(raw: &[u8]) -> u64 {
    let mut count = 0;
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            count += 1;
        }
        prev = b;
    }
    count
}

/// `raw` with every bare LF made CRLF; borrowed when nothing needs to change, so a
/// message that is already in wire form is never copied.
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let extra = bare_lf_count(raw);
    if extra == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + extra as usize);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_stays() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"", b""),
            (b"a\nb\n", b"a\r\nb\r\n"),
            (b"a\r\nb\r\n", b"a\r\nb\r\n"),
            (b"\n\n", b"\r\n\r\n"),
            (b"mixed\r\nline\n", b"mixed\r\nline\r\n"),
            (b"no newline", b"no newline"),
            (b"lone\rcr\n", b"lone\rcr\r\n"),
        ];
        for (raw, wire) in cases {
            assert_eq!(&*to_crlf(raw), *wire);
            assert_eq!(wire_size(raw), wire.len() as u64);
        }
        assert!(matches!(to_crlf(b"x\r\n"), Cow::Borrowed(_)));
    }
}
