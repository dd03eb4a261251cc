//! Content-transfer-decoding for FETCH BINARY (RFC 3516 §3, §4.3): a part's octets with
//! its MIME content-transfer-encoding (RFC 2045 §6) undone.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

pub mod binary;

/// A content-transfer-encoding yubin cannot undo (RFC 3516 §4.3: the FETCH fails with
/// `NO [UNKNOWN-CTE]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownCte(pub String);

/// The content-transfer-encoding a part's MIME header declares, lower-cased; `7bit`
/// when none is (RFC 2045 §6.1: "Content-Transfer-Encoding: 7BIT" is the default). Of
/// several fields the last counts, as in BODYSTRUCTURE (mail-parser's reading): a
/// re-encoded part's field ([`without_cte`]) is its last.
pub fn declared(header: &[u8]) -> String {
    super::header_fields(header)
        .into_iter()
        .rfind(|(name, _)| name == "content-transfer-encoding")
        .and_then(|(_, value)| {
            // A comment or stray parameter after the mechanism is not part of it.
            value
                .split(|c: char| c == '(' || c == ';' || c.is_whitespace())
                .find(|w| !w.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "7bit".to_owned())
}

/// Whether a part's MIME header says its content is text (`Content-Type: text/...`,
/// RFC 2045 §5.2: text/plain when there is none): decoded text is line-oriented, and
/// RFC 3516 §6 wants it sent with CRLF line ends "regardless of the underlying storage
/// representation".
pub fn is_text(header: &[u8]) -> bool {
    super::header_fields(header)
        .into_iter()
        .find(|(name, _)| name == "content-type")
        .is_none_or(|(_, value)| value.trim_start().starts_with("text/"))
}

/// `body` decoded from `cte` (as [`declared`] gives it). The identity encodings come
/// back as they are (RFC 3516 §3: "Certain CTEs use an identity encoding
/// transformation").
pub fn decode<'a>(cte: &str, body: &'a [u8]) -> Result<Cow<'a, [u8]>, UnknownCte> {
    match cte {
        "7bit" | "8bit" | "binary" => Ok(Cow::Borrowed(body)),
        "base64" => Ok(Cow::Owned(base64(body))),
        "quoted-printable" => Ok(Cow::Owned(quoted_printable(body))),
        other => Err(UnknownCte(other.to_owned())),
    }
}

/// RFC 2045 §6.8: "All line breaks or other characters not found in Table 1 must be
/// ignored by decoding software"; the padding may be missing, and a last incomplete
/// quantum is dropped rather than failing the whole part.
fn base64(body: &[u8]) -> Vec<u8> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let mut clean: Vec<u8> = body
        .iter()
        .copied()
        .take_while(|&b| b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    LENIENT.decode(&clean).unwrap_or_default()
}

/// RFC 2045 §6.7: `=XX` is the octet XX; `=` at the end of a line is a soft line break
/// (rule 5); whitespace at the end of a line was added in transport and is dropped
/// (rule 3). Any other `=` is kept as it is, as §6.7 suggests for robustness.
fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (text, eol): (&[u8], &[u8]) = match line.strip_suffix(b"\r\n") {
            Some(t) => (t, b"\r\n"),
            None => match line.strip_suffix(b"\n") {
                Some(t) => (t, b"\n"),
                None => (line, b""),
            },
        };
        let text = text.trim_ascii_end();
        let (text, soft) = match text.strip_suffix(b"=") {
            Some(t) => (t, true),
            None => (text, false),
        };
        let mut i = 0;
        while i < text.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if text[i] == b'='
                && let (Some(h), Some(l)) = (
                    text.get(i + 1).copied().and_then(hex),
                    text.get(i + 2).copied().and_then(hex),
                )
            {
                out.push((h * 16 + l) as u8);
                i += 3;
            } else {
                out.push(text[i]);
                i += 1;
            }
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_encodings_of_rfc_2045() {
        assert_eq!(
            decode("base64", b"AAEC\r\nAw==\r\n").unwrap(),
            &[0, 1, 2, 3][..]
        );
        assert_eq!(decode("base64", b"aGk").unwrap(), &b"hi"[..]);
        assert_eq!(
            decode(
                "quoted-printable",
                b"caf=C3=A9 =\r\nau lait  \r\nx=3D1=\r\n"
            )
            .unwrap(),
            "café au lait\r\nx=1".as_bytes()
        );
        assert_eq!(decode("8bit", b"a\0b").unwrap(), &b"a\0b"[..]);
        assert_eq!(
            decode("x-uuencode", b"x"),
            Err(UnknownCte("x-uuencode".into()))
        );
        assert_eq!(
            declared(b"Content-Transfer-Encoding: Base64 (yes)\r\n\r\n"),
            "base64"
        );
        assert_eq!(declared(b"Content-Type: text/plain\r\n\r\n"), "7bit");
        assert!(is_text(b"Content-Type: TEXT/html\r\n\r\n"));
        assert!(is_text(b"Subject: x\r\n\r\n"));
        assert!(!is_text(b"Content-Type: image/png\r\n\r\n"));
    }
}

/// A part header (its blank line included) with its Content-Transfer-Encoding fields
/// (folded lines too) dropped and `Content-Transfer-Encoding: base64` written last, just
/// before a blank line `CRLF`.
///
/// Lines of nothing but white space are dropped too: mail-parser (BODYSTRUCTURE, the
/// sections) ends a header at such a line where a field may begin, so one left inside
/// would put the new field, and the rest of the header, in the body. The field written
/// last is the one that counts ([`declared`], mail-parser), whatever another spelling
/// of the name left above it.
pub(crate) fn without_cte(header: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(header.len() + 36);
    let mut skipping = false;
    for line in header.split_inclusive(|&c| c == b'\n') {
        if is_blank(line) {
            continue;
        }
        let folded = line.first().is_some_and(|c| *c == b' ' || *c == b'\t');
        if !folded {
            skipping = is_cte_field(line);
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    if !out.is_empty() && !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out
}

/// Whether a header line holds nothing but white space (as mail-parser skips it: SP,
/// HT, CR, FF) before its LF.
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.strip_suffix(b"\n").is_some_and(|l| {
        l.iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\x0c'))
    })
}

/// Whether a header line begins a Content-Transfer-Encoding field (white space allowed
/// before the name and before the colon, as mail-parser reads it).
fn is_cte_field(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding";
    let line = line.trim_ascii_start();
    line.get(..NAME.len())
        .is_some_and(|n| n.eq_ignore_ascii_case(NAME))
        && line[NAME.len()..].trim_ascii_start().starts_with(b":")
}

#[cfg(test)]
mod binary_append_tests {
    use super::*;

    #[test]
    fn binary_parts_become_base64_without_losing_an_octet() {
        let body = b"\0-\xe4\n\r\n\n";
        let mut m = b"From: a@b\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: binary\r\n\r\n"
            .to_vec();
        m.extend_from_slice(body);
        let out = binary::reencode(&m).unwrap().into_owned();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.contains("Content-Transfer-Encoding: base64\r\n\r\n"),
            "{text}"
        );
        assert!(!text.contains("binary"), "{text}");
        let (_, encoded) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(base64(encoded.as_bytes()), body);

        // A binary part of a multipart: the boundary keeps its line break.
        let mut mp = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--x\r\nContent-Type: application/x\r\n\r\n"
            .to_vec();
        mp.extend_from_slice(b"a\0b");
        mp.extend_from_slice(b"\r\n--x--\r\n");
        let out = String::from_utf8(binary::reencode(&mp).unwrap().into_owned()).unwrap();
        assert!(out.contains("hello\r\n--x\r\n"), "{out}");
        assert!(
            out.contains("Content-Transfer-Encoding: base64\r\n\r\nYQBi\r\n--x--"),
            "{out}"
        );
        // An empty binary part keeps its header's blank line.
        let empty = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
Content-Transfer-Encoding: binary\r\n\r\n\r\n--x--\r\n";
        let out = String::from_utf8(binary::reencode(empty).unwrap().into_owned()).unwrap();
        assert!(
            out.contains("Content-Transfer-Encoding: base64\r\n\r\n\r\n--x--"),
            "{out}"
        );
        // Nothing binary: nothing to do.
        assert!(matches!(
            binary::reencode(b"Subject: x\r\n\r\nplain\r\n"),
            Some(Cow::Borrowed(_))
        ));
    }
}
