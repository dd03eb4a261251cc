//! IMAP values, both ways: the one type for what a response carries (RFC 3501 §4, §9) —
//! atoms, numbers, strings, NIL and parenthesized lists — with its encoder, used by the
//! server's responses, and its reader, used by the small client ([`crate::client`]).
//!
//! The one rule that matters when encoding: a string goes out quoted only if every octet
//! is 7-bit text without CR, LF or NUL (`QUOTED-CHAR`); anything else (8-bit, CR/LF, very
//! long) goes out as a literal `{n}\r\n...`, which can carry any octet but NUL.
//! Message data (`BODY[...]`, `RFC822*`) is the exception: always a literal, see
//! [`write_message_data`]. Reading is forgiving: it takes what servers send, and a
//! string that was encoded reads back as the same [`Value`] (tested below).

/// Longest string sent quoted; longer ones go as literals, which clients read in one go.
const MAX_QUOTED: usize = 1024;

/// A value in a response's data: the building block of ENVELOPE and BODYSTRUCTURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `NIL`.
    Nil,
    /// A `number`.
    Number(u64),
    /// An atom, sent as is (the caller guarantees it is one).
    Atom(String),
    /// A `string`: quoted or literal, whichever fits.
    String(Vec<u8>),
    /// A parenthesized list; items separated by one space.
    List(Vec<Value>),
    /// Octets already encoded (a multipart's `1*body`, which has no spaces between bodies).
    Raw(Vec<u8>),
}

impl Value {
    /// A string value from text.
    pub fn str(s: impl AsRef<[u8]>) -> Value {
        Value::String(s.as_ref().to_vec())
    }

    /// A string, or NIL when absent (`nstring`).
    pub fn nstr<S: AsRef<[u8]>>(s: Option<S>) -> Value {
        match s {
            Some(s) => Value::str(s),
            None => Value::Nil,
        }
    }

    /// Appends the value's wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Nil => out.extend_from_slice(b"NIL"),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Atom(a) => out.extend_from_slice(a.as_bytes()),
            Value::Raw(r) => out.extend_from_slice(r),
            Value::String(s) => write_string(out, s),
            Value::List(items) => {
                out.push(b'(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.encode(out);
                }
                out.push(b')');
            }
        }
    }

    /// The text of an atom, number or string (what a client shows of it).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }

    /// The value's wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Whether `s` may be sent as a `quoted` string.
pub fn is_quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n')
}

/// Writes `string = quoted / literal`, choosing quoted whenever it can carry the bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s, false);
    }
}

/// Writes a literal of a message as stored, whose lines may end in bare LF, in its wire
/// form (every line end CRLF), converted while it is copied. The length is counted from
/// the bytes, never taken from a file name another program chose: a wrong one would
/// desynchronise the stream.
pub fn write_literal_crlf(out: &mut Vec<u8>, stored: &[u8]) {
    let wire_len = yubin_store::wire::wire_size(stored);
    out.push(b'{');
    out.extend_from_slice(wire_len.to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.reserve(wire_len as usize);
    for chunk in yubin_store::wire::crlf_chunks(stored) {
        out.extend_from_slice(chunk);
    }
}

/// Writes a literal: `{n}` CRLF and the octets (`{n+}` when `non_sync`, RFC 7888).
pub fn write_literal(out: &mut Vec<u8>, s: &[u8], non_sync: bool) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    if non_sync {
        out.push(b'+');
    }
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// Writes a `literal8` (RFC 3516 §7): `~{n}` CRLF and the octets, which may contain NUL
/// (`~{n+}` when `non_sync`, RFC 7888 §3 allows both together).
pub fn write_literal8(out: &mut Vec<u8>, s: &[u8], non_sync: bool) {
    out.push(b'~');
    write_literal(out, s, non_sync);
}

/// Writes message data (`BODY[section]`, `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`): always
/// a literal, however short, `{0}\r\n` when empty.
///
/// The grammar allows a quoted string or NIL there (`nstring`), but Dovecot, Cyrus and
/// Gmail always send a literal and clients rely on it: Python's imaplib, for one, hands
/// back message data only from a literal and leaves a quoted one inside the response line.
pub fn write_message_data(out: &mut Vec<u8>, data: &[u8]) {
    write_literal(out, data, false);
}

/// Writes `nstring = string / nil`.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes `astring`: a bare atom when every octet is an `ASTRING-CHAR` (and it is not
/// the word NIL, which a reader of an nstring would take for nothing), else a string.
pub fn write_astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom_ok = !s.is_empty()
        && s.iter()
            .all(|&b| crate::parse::is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL");
    if atom_ok {
        out.extend_from_slice(s);
    } else {
        write_string(out, s);
    }
}

/// A mailbox name in a response (LIST, STATUS): always a string, so that names with
/// spaces or wildcards read back the same (RFC 3501 §9 `mailbox`).
pub fn write_mailbox(out: &mut Vec<u8>, name: &str) {
    write_string(out, name.as_bytes());
}

/// A literal announced at the end of a line, `{n}` or `{n+}` (RFC 3501 §4.3, RFC 7888).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralSuffix {
    /// The octets announced; `None` when the digits are too many to count (always too
    /// big for any limit).
    pub size: Option<u64>,
    /// `{n+}`: non-synchronizing, the octets follow without a continuation request.
    pub non_sync: bool,
}

/// The literal a line announces at its end (a CRLF or LF after the `}` is allowed), or
/// `None`. The one reading of `{n}` for the server's framing, the client and the bench.
pub fn literal_suffix(line: &[u8]) -> Option<LiteralSuffix> {
    let line = line
        .strip_suffix(b"\r\n")
        .or_else(|| line.strip_suffix(b"\n"))
        .unwrap_or(line);
    let body = line.strip_suffix(b"}")?;
    let (body, non_sync) = match body.strip_suffix(b"+") {
        Some(b) => (b, true),
        None => (body, false),
    };
    let open = body.iter().rposition(|&b| b == b'{')?;
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = std::str::from_utf8(digits).ok()?.parse::<u64>().ok();
    Some(LiteralSuffix { size, non_sync })
}

/// Reads the items of a response line (after `* `), up to the end.
pub fn parse_items(mut s: &[u8]) -> Vec<Value> {
    let mut out = Vec::new();
    while let Some((item, rest)) = parse_item(s, 0) {
        out.push(item);
        s = rest;
    }
    out
}

fn parse_item(s: &[u8], depth: usize) -> Option<(Value, &[u8])> {
    let s = s.trim_ascii_start();
    let first = *s.first()?;
    if depth > 64 {
        return None;
    }
    match first {
        b'(' => {
            let mut rest = &s[1..];
            let mut items = Vec::new();
            loop {
                rest = rest.trim_ascii_start();
                if let Some(r) = rest.strip_prefix(b")") {
                    return Some((Value::List(items), r));
                }
                let (item, r) = parse_item(rest, depth + 1)?;
                items.push(item);
                rest = r;
            }
        }
        b'"' => {
            let mut out = Vec::new();
            let mut i = 1;
            while i < s.len() {
                match s[i] {
                    b'\\' if i + 1 < s.len() => {
                        out.push(s[i + 1]);
                        i += 2;
                    }
                    b'"' => return Some((Value::String(out), &s[i + 1..])),
                    c => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            None
        }
        b'{' => {
            let close = s.iter().position(|&c| c == b'}')?;
            let n: usize = std::str::from_utf8(&s[1..close])
                .ok()?
                .trim_end_matches('+')
                .parse()
                .ok()?;
            let body_start = close + 1 + s[close + 1..].iter().position(|&c| c == b'\n')? + 1;
            let body = s.get(body_start..body_start + n)?;
            Some((Value::String(body.to_vec()), &s[body_start + n..]))
        }
        b')' => None,
        _ => {
            // An atom; brackets may hold spaces (`BODY[HEADER.FIELDS (FROM)]`).
            let mut i = 0;
            let mut bracket = 0;
            while i < s.len() {
                match s[i] {
                    b'[' => bracket += 1,
                    b']' => bracket -= 1,
                    b' ' | b')' | b'(' | b'\r' | b'\n' if bracket <= 0 => break,
                    _ => {}
                }
                i += 1;
            }
            let word = String::from_utf8_lossy(&s[..i]).into_owned();
            let item = if word.eq_ignore_ascii_case("NIL") {
                Value::Nil
            } else if let Some(n) = number(&word) {
                Value::Number(n)
            } else {
                Value::Atom(word)
            };
            Some((item, &s[i..]))
        }
    }
}

/// `number` (RFC 3501 §9): digits only, within 64 bits; anything else is an atom.
fn number(word: &str) -> Option<u64> {
    if word.is_empty() || !word.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    word.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_choice() {
        let enc = |s: &[u8]| {
            let mut o = Vec::new();
            write_string(&mut o, s);
            o
        };
        assert_eq!(enc(b"hello"), b"\"hello\"");
        assert_eq!(enc(b"a\"b\\c"), b"\"a\\\"b\\\\c\"");
        assert_eq!(enc(b""), b"\"\"");
        assert_eq!(enc("郵便".as_bytes()), b"{6}\r\n\xe9\x83\xb5\xe4\xbe\xbf");
        assert_eq!(enc(b"a\r\nb"), b"{4}\r\na\r\nb");
    }

    #[test]
    fn message_data_is_always_a_literal() {
        let enc = |s: &[u8]| {
            let mut o = Vec::new();
            write_message_data(&mut o, s);
            o
        };
        assert_eq!(enc(b"From: bulk"), b"{10}\r\nFrom: bulk");
        assert_eq!(enc(b""), b"{0}\r\n");
    }

    #[test]
    fn nested_lists_and_nil() {
        let v = Value::List(vec![
            Value::Nil,
            Value::Number(3),
            Value::List(vec![Value::str("x"), Value::Atom("\\Seen".into())]),
        ]);
        assert_eq!(v.to_bytes(), b"(NIL 3 (\"x\" \\Seen))");
        assert_eq!(parse_items(&v.to_bytes()), vec![v]);
    }

    #[test]
    fn literal_suffixes() {
        let s = |n, non_sync| Some(LiteralSuffix { size: n, non_sync });
        assert_eq!(
            literal_suffix(b"* 1 FETCH (BODY[] {1024}\r\n"),
            s(Some(1024), false)
        );
        assert_eq!(literal_suffix(b"a APPEND x {7+}"), s(Some(7), true));
        assert_eq!(
            literal_suffix(b"a LOGIN {99999999999999999999999}"),
            s(None, false)
        );
        assert_eq!(literal_suffix(b"* 1 FETCH (FLAGS (\\Seen))\r\n"), None);
        assert_eq!(literal_suffix(b"a LOGIN {}"), None);
        assert_eq!(literal_suffix(b"a LOGIN {1a}"), None);
    }

    #[test]
    fn reads_literals_and_bracketed_atoms() {
        let items = parse_items(
            b"1 FETCH (UID 4 BODY[HEADER.FIELDS (FROM)] {5}\r\nab\r\nc FLAGS (\\Seen))",
        );
        let Value::List(list) = &items[2] else {
            panic!("{items:?}")
        };
        assert_eq!(items[0], Value::Number(1));
        assert_eq!(list[1], Value::Number(4));
        assert_eq!(list[2], Value::Atom("BODY[HEADER.FIELDS (FROM)]".into()));
        assert_eq!(list[3], Value::String(b"ab\r\nc".to_vec()));
        assert_eq!(list[5], Value::List(vec![Value::Atom("\\Seen".into())]));
    }
}
