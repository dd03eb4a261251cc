//! Encoding POP3 responses (RFC 1939 §3, RFC 2449 §8, RFC 3206).

use bytes::{BufMut, BytesMut};

/// Extended response codes, sent in brackets after `-ERR` (RFC 2449 §8, RFC 3206).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespCode {
    /// `[IN-USE]`: another session holds the maildrop lock (RFC 2449 §8.1.2).
    InUse,
    /// `[AUTH]`: the credentials were wrong (RFC 3206 §5).
    Auth,
    /// `[SYS/TEMP]`: a temporary server problem; trying later may work (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent server problem (RFC 3206 §4).
    SysPerm,
}

impl RespCode {
    fn as_str(self) -> &'static str {
        match self {
            RespCode::InUse => "IN-USE",
            RespCode::Auth => "AUTH",
            RespCode::SysTemp => "SYS/TEMP",
            RespCode::SysPerm => "SYS/PERM",
        }
    }
}

/// Writes `+OK text`.
pub fn ok(out: &mut BytesMut, text: &str) {
    line(out, "+OK", None, text);
}

/// Writes `-ERR [code] text`.
pub fn err(out: &mut BytesMut, code: Option<RespCode>, text: &str) {
    line(out, "-ERR", code, text);
}

fn line(out: &mut BytesMut, status: &str, code: Option<RespCode>, text: &str) {
    out.put_slice(status.as_bytes());
    if let Some(code) = code {
        out.put_slice(b" [");
        out.put_slice(code.as_str().as_bytes());
        out.put_u8(b']');
    }
    if !text.is_empty() {
        out.put_u8(b' ');
        out.put_slice(text.as_bytes());
    }
    out.put_slice(b"\r\n");
}

/// Writes one line of a multi-line response, byte-stuffed (RFC 1939 §3: a line that
/// begins with the termination octet gets one more).
pub fn data_line(out: &mut BytesMut, text: &[u8]) {
    if text.first() == Some(&b'.') {
        out.put_u8(b'.');
    }
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Ends a multi-line response: `.` CRLF.
pub fn end(out: &mut BytesMut) {
    out.put_slice(b".\r\n");
}

/// Writes a message byte-stuffed and terminated, for RETR (`body_lines = None`) or
/// TOP (`Some(n)`: the header, the blank line, then at most `n` body lines; RFC 1939 §7).
///
/// Every line leaves with CRLF, including a last line the message ended without, so the
/// terminating `.` is always on a line of its own.
pub fn message(out: &mut BytesMut, msg: &[u8], body_lines: Option<u32>) {
    out.reserve(msg.len() + msg.len() / 64 + 8);
    if body_lines.is_none() {
        return whole_message(out, msg);
    }
    let mut in_header = true;
    let mut body_sent = 0u32;
    for raw in lines(msg) {
        if !in_header {
            match body_lines {
                Some(limit) if body_sent >= limit => break,
                _ => body_sent += 1,
            }
        }
        data_line(out, raw);
        if in_header && raw.is_empty() {
            in_header = false;
        }
    }
    end(out);
}

/// RETR: the same output as the line-by-line path, but copying the runs between the few
/// places that need a change (a line that starts with `.`, a bare LF) in one piece each,
/// so a large message costs about one copy.
fn whole_message(out: &mut BytesMut, msg: &[u8]) {
    let mut from = 0;
    if msg.first() == Some(&b'.') {
        out.put_u8(b'.');
    }
    for i in memchr::memchr_iter(b'\n', msg) {
        if i == 0 || msg[i - 1] != b'\r' {
            // A bare LF leaves as CRLF.
            out.put_slice(&msg[from..i]);
            out.put_slice(b"\r\n");
            from = i + 1;
        }
        if msg.get(i + 1) == Some(&b'.') {
            out.put_slice(&msg[from..i + 1]);
            out.put_u8(b'.');
            from = i + 1;
        }
    }
    if msg.is_empty() || msg.ends_with(b"\n") {
        out.put_slice(&msg[from..]);
    } else {
        // A last line without its line end gets one (a lone CR there becomes the CRLF).
        let last = &msg[from..];
        out.put_slice(last.strip_suffix(b"\r").unwrap_or(last));
        out.put_slice(b"\r\n");
    }
    end(out);
}

/// Splits a message into lines without their CRLF (or bare LF) terminators.
///
/// `memchr` finds the line ends (a vectorised scan): a byte-at-a-time split was most of
/// the time RETR of a large message took.
fn lines(msg: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = msg.strip_suffix(b"\n").unwrap_or(msg);
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    std::iter::from_fn(move || {
        if msg.is_empty() {
            return None;
        }
        let end = ends.next()?;
        let line = &body[start..end];
        start = end + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_message_matches_the_line_by_line_path() {
        let cases: &[&[u8]] = &[
            b"",
            b"\n",
            b"\r\n",
            b".",
            b".\r\n",
            b"..\r\n.x\n",
            b"a\r\n.\r\nb",
            b"a\nb\r\n\n.c\r\n",
            b"Subject: x\r\n\r\nline\r\n.\r\n..\r\nend",
            b"\r",
            b"a\r",
            b"\n.\n.\n",
        ];
        for m in cases {
            let mut fast = BytesMut::new();
            whole_message(&mut fast, m);
            let mut slow = BytesMut::new();
            for raw in lines(m) {
                data_line(&mut slow, raw);
            }
            end(&mut slow);
            assert_eq!(fast, slow, "{:?}", String::from_utf8_lossy(m));
        }
    }

    proptest::proptest! {
        #[test]
        fn whole_message_matches_the_line_by_line_path_on_any_input(
            m in proptest::collection::vec(
                proptest::sample::select(vec![b'a', b'.', b'\r', b'\n']), 0..64)
        ) {
            let mut fast = BytesMut::new();
            whole_message(&mut fast, &m);
            let mut slow = BytesMut::new();
            for raw in lines(&m) {
                data_line(&mut slow, raw);
            }
            end(&mut slow);
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    fn msg(m: &[u8], n: Option<u32>) -> String {
        let mut out = BytesMut::new();
        message(&mut out, m, n);
        String::from_utf8(out.to_vec()).unwrap()
    }

    #[test]
    fn status_lines() {
        let mut out = BytesMut::new();
        ok(&mut out, "2 messages");
        err(&mut out, Some(RespCode::InUse), "maildrop locked");
        err(&mut out, None, "no such message");
        assert_eq!(
            &out[..],
            b"+OK 2 messages\r\n-ERR [IN-USE] maildrop locked\r\n-ERR no such message\r\n"
        );
    }

    #[test]
    fn stuffs_dot_lines_and_terminates() {
        assert_eq!(
            msg(b"Subject: x\r\n\r\n.\r\n..two\r\nend\r\n", None),
            "Subject: x\r\n\r\n..\r\n...two\r\nend\r\n.\r\n"
        );
    }

    #[test]
    fn last_line_without_crlf_is_completed() {
        assert_eq!(
            msg(b"A: b\r\n\r\nno newline", None),
            "A: b\r\n\r\nno newline\r\n.\r\n"
        );
        assert_eq!(msg(b"", None), ".\r\n");
    }

    #[test]
    fn top_sends_header_and_n_body_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n";
        assert_eq!(msg(m, Some(0)), "A: 1\r\nB: 2\r\n\r\n.\r\n");
        assert_eq!(msg(m, Some(2)), "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n");
        assert_eq!(
            msg(m, Some(99)),
            "A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n"
        );
        // A message with no body: TOP sends the whole header.
        assert_eq!(msg(b"A: 1\r\n", Some(5)), "A: 1\r\n.\r\n");
    }
}
