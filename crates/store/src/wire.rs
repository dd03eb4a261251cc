//! The wire form of a message: every line ends in CRLF (RFC 5322 §2.1, RFC 3501 §2.3.4).
//!
//! Mail written by other programs into a Maildir usually ends lines with a bare LF. The
//! protocols count sizes in the bytes they send, so the store normalizes once and reports
//! the normalized size everywhere.
//!
//! Everything here finds line feeds with `memchr` (SIMD where the CPU has it) and copies
//! the runs between bare LFs whole, so normalizing costs about a `memcpy`, not a branch
//! per byte.

use std::borrow::Cow;
use std::iter::FusedIterator;

/// Whether `raw` can be a mail message (RFC 5322 §2.1): it begins with a header field
/// (`name:`, the name of printable ASCII other than `:`, RFC 5322 §2.2; a leading mbox
/// `From ` line is allowed) and is not binary (no NUL, RFC 5322 §2.3). A text file, an
/// empty file or random bytes are not: delivering them would put a "message" without a
/// sender, subject or date in a mailbox.
pub fn looks_like_message(raw: &[u8]) -> bool {
    if raw.contains(&0) {
        return false;
    }
    let mut lines = raw.split(|&b| b == b'\n');
    let mut first = lines.next().unwrap_or_default();
    if first.starts_with(b"From ") {
        first = lines.next().unwrap_or_default();
    }
    let Some(colon) = first.iter().position(|&b| b == b':') else {
        return false;
    };
    colon > 0 && first[..colon].iter().all(|&b| (33..=126).contains(&b))
}

/// The size `raw` has once every bare LF is made CRLF.
pub fn wire_size(raw: &[u8]) -> u64 {
    raw.len() as u64 + bare_lf_count(raw) as u64
}

/// Whether the LF at `i` has no CR before it.
fn is_bare_lf(raw: &[u8], i: usize) -> bool {
    i == 0 || raw[i - 1] != b'\r'
}

fn bare_lf_count(raw: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', raw)
        .filter(|&i| is_bare_lf(raw, i))
        .count()
}

/// `raw` with every bare LF made CRLF; borrowed when nothing needs to change, so a
/// message that is already in wire form is never copied.
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let extra = bare_lf_count(raw);
    if extra == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + extra);
    for chunk in crlf_chunks(raw) {
        out.extend_from_slice(chunk);
    }
    Cow::Owned(out)
}

/// The wire form of `raw` as borrowed pieces, for writing a large body out without an
/// owned copy: the runs of `raw` between bare LFs, each followed by `b"\r\n"` in place of
/// its LF. Concatenated, the pieces equal [`to_crlf`]`(raw)`; none is empty.
///
/// ```
/// let pieces: Vec<&[u8]> = yubin_store::wire::crlf_chunks(b"a\nb\r\nc").collect();
/// assert_eq!(pieces, [&b"a"[..], b"\r\n", b"b\r\nc"]);
/// ```
pub fn crlf_chunks(raw: &[u8]) -> CrlfChunks<'_> {
    CrlfChunks {
        raw,
        start: 0,
        lfs: memchr::memchr_iter(b'\n', raw),
        crlf_next: false,
    }
}

/// The iterator [`crlf_chunks`] returns.
#[derive(Debug)]
pub struct CrlfChunks<'a> {
    raw: &'a [u8],
    /// Where the current run starts: just after the last bare LF.
    start: usize,
    /// The line feeds not yet looked at.
    lfs: memchr::Memchr<'a>,
    /// A run ending at a bare LF was just yielded; its CRLF comes next.
    crlf_next: bool,
}

impl<'a> Iterator for CrlfChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if std::mem::take(&mut self.crlf_next) {
            return Some(b"\r\n");
        }
        // A CRLF already in place stays inside the run: only bare LFs cut it.
        match self.lfs.by_ref().find(|&i| is_bare_lf(self.raw, i)) {
            Some(lf) => {
                let run = &self.raw[self.start..lf];
                self.start = lf + 1;
                if run.is_empty() {
                    Some(b"\r\n")
                } else {
                    self.crlf_next = true;
                    Some(run)
                }
            }
            None if self.start < self.raw.len() => {
                let run = &self.raw[self.start..];
                self.start = self.raw.len();
                Some(run)
            }
            None => None,
        }
    }
}

impl FusedIterator for CrlfChunks<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_begins_with_a_header_field() {
        assert!(looks_like_message(b"Subject: hi\r\n\r\nbody\r\n"));
        assert!(looks_like_message(
            b"From a@b Sat Jan  1 00:00:00 2000\nTo: x\n\nbody\n"
        ));
        assert!(looks_like_message(b"X-Only-Header: 1"));
        for bad in [
            &b""[..],
            b"hello world\n",
            b"Dear Bob:\n",
            b": no name\n",
            b"Subject: x\0y\n",
        ] {
            assert!(
                !looks_like_message(bad),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
    use proptest::prelude::*;

    /// The definition, one byte at a time: what the fast versions must agree with.
    fn naive_crlf(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = 0u8;
        for &b in raw {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            prev = b;
        }
        out
    }

    const CASES: &[(&[u8], &[u8])] = &[
        (b"", b""),
        (b"a\nb\n", b"a\r\nb\r\n"),
        (b"a\r\nb\r\n", b"a\r\nb\r\n"),
        (b"\n\n", b"\r\n\r\n"),
        (b"\n", b"\r\n"),
        (b"\r", b"\r"),
        (b"\r\r\n", b"\r\r\n"),
        (b"\n\r\n", b"\r\n\r\n"),
        (b"\r\n\n", b"\r\n\r\n"),
        (b"mixed\r\nline\n", b"mixed\r\nline\r\n"),
        (b"no newline", b"no newline"),
        (b"lone\rcr\n", b"lone\rcr\r\n"),
        (b"\nstarts with lf", b"\r\nstarts with lf"),
        (b"a\n\nb", b"a\r\n\r\nb"),
    ];

    #[test]
    fn bare_lf_becomes_crlf_and_crlf_stays() {
        for (raw, wire) in CASES {
            assert_eq!(&*to_crlf(raw), *wire, "{raw:?}");
            assert_eq!(wire_size(raw), wire.len() as u64, "{raw:?}");
            assert_eq!(
                crlf_chunks(raw).collect::<Vec<_>>().concat(),
                *wire,
                "{raw:?}"
            );
        }
        assert!(matches!(to_crlf(b"x\r\n"), Cow::Borrowed(_)));
        assert!(matches!(to_crlf(b""), Cow::Borrowed(_)));
    }

    #[test]
    fn chunks_borrow_the_runs_and_are_never_empty() {
        let raw: &[u8] = b"Subject: x\n\nbody\r\nmore\n";
        let pieces: Vec<&[u8]> = crlf_chunks(raw).collect();
        assert_eq!(
            pieces,
            [
                &b"Subject: x"[..],
                b"\r\n",
                b"\r\n",
                b"body\r\nmore",
                b"\r\n"
            ]
        );
        // The runs point into `raw` itself: nothing was copied.
        let body = raw.as_ptr_range();
        assert!(body.contains(&pieces[0].as_ptr()));
        assert!(body.contains(&pieces[3].as_ptr()));
        // Already in wire form: one piece, the whole input.
        let wire: &[u8] = b"a\r\nb\r\n";
        let pieces: Vec<&[u8]> = crlf_chunks(wire).collect();
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].as_ptr(), wire.as_ptr());
        assert_eq!(crlf_chunks(b"").next(), None);
        let mut done = crlf_chunks(b"x\n");
        assert_eq!(done.by_ref().count(), 2);
        assert_eq!(done.next(), None, "fused");
    }

    /// Bytes where CR and LF are common, so that every arrangement of them comes up.
    fn mail_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'a'), any::<u8>()],
            0..400,
        )
    }

    proptest! {
        #[test]
        fn fast_paths_agree_with_the_byte_by_byte_definition(raw in mail_bytes()) {
            let expected = naive_crlf(&raw);
            prop_assert_eq!(&*to_crlf(&raw), &expected[..]);
            prop_assert_eq!(wire_size(&raw), expected.len() as u64);
            let pieces: Vec<&[u8]> = crlf_chunks(&raw).collect();
            prop_assert!(pieces.iter().all(|p| !p.is_empty()));
            prop_assert_eq!(pieces.concat(), expected.clone());
            prop_assert_eq!(matches!(to_crlf(&raw), Cow::Borrowed(_)), expected == raw);
        }
    }
}
