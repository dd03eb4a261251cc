//! Encoding SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034).

use bytes::{BufMut, BytesMut};

/// Writes a one-line reply: `code enhanced text`.
pub fn reply(out: &mut BytesMut, code: u16, enhanced: &str, text: &str) {
    out.put_slice(format!("{code} {enhanced} {text}\r\n").as_bytes());
}

/// Writes a reply without an enhanced code (greeting, EHLO, 354, 334: RFC 2034 §4 leaves
/// those out).
pub fn plain(out: &mut BytesMut, code: u16, text: &str) {
    out.put_slice(format!("{code} {text}\r\n").as_bytes());
}

/// Writes a multi-line reply: `code-line` for all but the last, `code line` for the last
/// (RFC 5321 §4.2.1).
pub fn multi(out: &mut BytesMut, code: u16, lines: &[String]) {
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 == lines.len() { ' ' } else { '-' };
        out.put_slice(format!("{code}{sep}{line}\r\n").as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_uses_dashes_then_a_space() {
        let mut out = BytesMut::new();
        multi(
            &mut out,
            250,
            &["host".into(), "PIPELINING".into(), "SIZE 10".into()],
        );
        assert_eq!(&out[..], b"250-host\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }
}
