//! `LineCodec`: CRLF-terminated lines of raw bytes, bounded in length.
//!
//! Mail protocols are line based (RFC 5321 §2.3.8, RFC 1939 §3, RFC 3501 §2.2) and mail is
//! 8-bit, so lines are bytes, never `String`s. A line longer than the limit is
//! unframeable: the codec reports [`LineError::TooLong`] once, throws the rest of that line
//! away as it arrives (it never buffers more than the limit), and, if the caller keeps
//! decoding, resumes with the next line.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Why a line could not be framed.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line exceeded the configured maximum (terminator not counted).
    #[error("line longer than {limit} bytes")]
    TooLong {
        /// The configured maximum line length.
        limit: usize,
    },
    /// The underlying transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Frames CRLF-terminated lines (a bare LF is accepted too, as many clients send it).
///
/// Decoded items are the line's bytes without the terminator. Encoding a line appends CRLF.
#[derive(Debug, Clone)]
pub struct LineCodec {
    max_len: usize,
    /// How far the buffer has already been searched for a newline, so a line that arrives
    /// in many small reads is scanned once, not once per read.
    scanned: usize,
    /// True after an overlong line until its terminating newline has gone by.
    discarding: bool,
}

impl LineCodec {
    /// A codec whose lines may hold at most `max_len` bytes before the terminator.
    pub fn new(max_len: usize) -> Self {
        LineCodec {
            max_len,
            scanned: 0,
            discarding: false,
        }
    }

    /// The configured maximum line length.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Bytes a complete line may occupy in the buffer: the content plus CR LF.
    fn window(&self) -> usize {
        self.max_len.saturating_add(2)
    }
}

impl Decoder for LineCodec {
    type Item = BytesMut;
    type Error = LineError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, LineError> {
        if self.discarding {
            match memchr_lf(buf) {
                Some(i) => {
                    let _ = buf.split_to(i + 1);
                    self.discarding = false;
                }
                None => {
                    buf.clear();
                    return Ok(None);
                }
            }
        }
        let limit = buf.len().min(self.window());
        match memchr_lf(&buf[self.scanned..limit]) {
            Some(offset) => {
                let end = self.scanned + offset;
                self.scanned = 0;
                let mut line = buf.split_to(end + 1);
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                if line.len() > self.max_len {
                    return Err(LineError::TooLong {
                        limit: self.max_len,
                    });
                }
                Ok(Some(line))
            }
            None if buf.len() >= self.window() => {
                // No terminator within the limit. If the line's end is already buffered,
                // drop just the line so the ones after it survive; otherwise drop what we
                // hold and skip the rest of this line as it arrives, so the buffer never
                // grows past the limit.
                self.scanned = 0;
                match memchr_lf(&buf[limit..]) {
                    Some(offset) => {
                        let _ = buf.split_to(limit + offset + 1);
                    }
                    None => {
                        buf.clear();
                        self.discarding = true;
                    }
                }
                Err(LineError::TooLong {
                    limit: self.max_len,
                })
            }
            None => {
                self.scanned = limit;
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<BytesMut>, LineError> {
        // A final line without terminator is not a command: the peer went away mid-line.
        match self.decode(buf)? {
            Some(line) => Ok(Some(line)),
            None => {
                buf.clear();
                self.scanned = 0;
                Ok(None)
            }
        }
    }
}

impl Encoder<&[u8]> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: &[u8], dst: &mut BytesMut) -> Result<(), LineError> {
        dst.reserve(line.len() + 2);
        dst.put_slice(line);
        dst.put_slice(b"\r\n");
        Ok(())
    }
}

impl Encoder<&str> for LineCodec {
    type Error = LineError;

    fn encode(&mut self, line: &str, dst: &mut BytesMut) -> Result<(), LineError> {
        self.encode(line.as_bytes(), dst)
    }
}

/// Input the driver cannot answer and go on from: the connection is closed after the
/// protocol's goodbye line.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Input that cannot be framed safely (an IMAP command past its total size limit).
    #[error("input cannot be framed: {0}")]
    Unframeable(String),
    /// The transport failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// What a framed client input shows in the transcript.
pub trait Input {
    /// The bytes to show (without redaction; the driver applies it), or `None` for an
    /// input with nothing to show.
    fn shown(&self) -> Option<&[u8]>;
}

/// One line as a line protocol's session receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line, without its terminator.
    Complete(BytesMut),
    /// A line over the limit was dropped; the session answers it and goes on.
    TooLong,
}

impl Input for Line {
    fn shown(&self) -> Option<&[u8]> {
        match self {
            Line::Complete(line) => Some(line),
            Line::TooLong => None,
        }
    }
}

/// [`LineCodec`] for a session: an overlong line is an item ([`Line::TooLong`]) rather
/// than an error, because a tokio-util decoder's error ends the stream and a line
/// protocol answers an overlong line and goes on.
#[derive(Debug, Clone)]
pub struct Lines(LineCodec);

impl Lines {
    /// Lines of at most `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        Lines(LineCodec::new(max_len))
    }
}

impl Decoder for Lines {
    type Item = Line;
    type Error = FrameError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, FrameError> {
        match self.0.decode(buf) {
            Ok(line) => Ok(line.map(Line::Complete)),
            Err(LineError::TooLong { .. }) => Ok(Some(Line::TooLong)),
            Err(LineError::Io(e)) => Err(FrameError::Io(e)),
        }
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Line>, FrameError> {
        match self.0.decode_eof(buf) {
            Ok(line) => Ok(line.map(Line::Complete)),
            Err(LineError::TooLong { .. }) => Ok(Some(Line::TooLong)),
            Err(LineError::Io(e)) => Err(FrameError::Io(e)),
        }
    }
}

fn memchr_lf(haystack: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', haystack)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut LineCodec, buf: &mut BytesMut) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(line) = codec.decode(buf).expect("decodes") {
            out.push(line.to_vec());
        }
        out
    }

    #[test]
    fn line_split_across_reads() {
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::new();
        for chunk in [&b"US"[..], b"ER al", b"ice\r", b"\nPASS"] {
            buf.extend_from_slice(chunk);
            let lines = decode_all(&mut codec, &mut buf);
            if chunk == b"\nPASS" {
                assert_eq!(lines, vec![b"USER alice".to_vec()]);
            } else {
                assert!(lines.is_empty());
            }
        }
        assert_eq!(&buf[..], b"PASS");
    }

    #[test]
    fn several_lines_in_one_read() {
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::from(&b"STAT\r\nLIST\r\nQUIT\r\n"[..]);
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"STAT".to_vec(), b"LIST".to_vec(), b"QUIT".to_vec()]
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn bare_lf_is_accepted() {
        let mut codec = LineCodec::new(100);
        let mut buf = BytesMut::from(&b"NOOP\nQUIT\r\n"[..]);
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"NOOP".to_vec(), b"QUIT".to_vec()]
        );
    }

    #[test]
    fn eight_bit_bytes_pass_through_untouched() {
        let mut codec = LineCodec::new(100);
        let raw = b"Subject: \xe9\x83\xb5\xe4\xbe\xbf \xff\x00\x1b$B";
        let mut buf = BytesMut::from(&raw[..]);
        buf.extend_from_slice(b"\r\n");
        assert_eq!(decode_all(&mut codec, &mut buf), vec![raw.to_vec()]);
    }

    #[test]
    fn line_of_exactly_the_limit_is_accepted() {
        let mut codec = LineCodec::new(4);
        let mut buf = BytesMut::from(&b"abcd\r\nabcd\n"[..]);
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"abcd".to_vec(), b"abcd".to_vec()]
        );
        let mut buf = BytesMut::from(&b"abcde\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LineError::TooLong { limit: 4 })
        ));
    }

    #[test]
    fn overlong_line_errors_stays_bounded_and_resyncs() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(b"0123456789");
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LineError::TooLong { limit: 8 })
        ));
        // The rest of the long line keeps arriving: it is dropped, never buffered.
        for _ in 0..1000 {
            buf.extend_from_slice(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
            assert!(codec.decode(&mut buf).unwrap().is_none());
            assert!(buf.len() <= codec.window());
        }
        buf.extend_from_slice(b"tail\r\nNOOP\r\n");
        assert_eq!(decode_all(&mut codec, &mut buf), vec![b"NOOP".to_vec()]);
    }

    #[test]
    fn lines_after_an_overlong_one_in_the_same_read_survive() {
        let mut codec = LineCodec::new(8);
        let mut buf = BytesMut::from(&b"0123456789abcdef\r\nNOOP\r\nQUIT\r\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(LineError::TooLong { limit: 8 })
        ));
        assert_eq!(
            decode_all(&mut codec, &mut buf),
            vec![b"NOOP".to_vec(), b"QUIT".to_vec()]
        );
    }

    #[test]
    fn partial_line_never_exceeds_window() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::new();
        for b in b"short" {
            buf.put_u8(*b);
            assert!(codec.decode(&mut buf).unwrap().is_none());
        }
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn encoder_appends_crlf() {
        let mut codec = LineCodec::new(16);
        let mut dst = BytesMut::new();
        codec.encode(&b"+OK"[..], &mut dst).unwrap();
        codec.encode("* BYE", &mut dst).unwrap();
        assert_eq!(&dst[..], b"+OK\r\n* BYE\r\n");
    }

    #[test]
    fn eof_mid_line_yields_nothing() {
        let mut codec = LineCodec::new(16);
        let mut buf = BytesMut::from(&b"QUI"[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
        assert!(buf.is_empty());
    }
}
