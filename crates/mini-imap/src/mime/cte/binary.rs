//! Binary parts re-encoded in base64 as a message streams by, in pieces of any size and
//! in memory bounded whatever the message's size (RFC 3516 §4.4: the server "MAY modify
//! the CTE of the appended data, however any such transformation MUST NOT result in a
//! loss of data").
//!
//! Why two passes over the octets ([`Survey`] then [`Rewrite`]) rather than one: whether
//! a part must be re-encoded is known only at its end (a NUL may come in its last octet,
//! in a part that declared `7bit`), but its header, which must say `base64`, comes
//! first. One pass would have to hold each part whole until its end; two passes hold
//! nothing but a header and a line's start. The first pass runs while the message
//! arrives and is kept as sent; the second reads it back, only when a part needs it.
//! Both run the same [`Scanner`] over the same octets, so they agree on every part.
//!
//! The parts are found as RFC 2046 §5.1.1 says: a delimiter is `"--" boundary` at the
//! start of a line (or of the multipart's body), and the line break before it belongs
//! to it, not to the part; `"--"` after the boundary closes the multipart. A part
//! without `Content-Type` in a `multipart/digest` is a message (§5.1.5), as
//! `message/rfc822` and `message/global` are: their own parts are looked into too, so no
//! NUL stays anywhere in BODY[]. Types and parameters are read with mail-parser, which
//! also reads them for BODYSTRUCTURE.

use base64::Engine;
use mail_parser::{MessageParser, MimeHeaders};

use super::{declared, is_blank, without_cte};

/// The longest header of one part (or of the message) followed: past it the rest of the
/// message is not looked into, and a NUL in it cannot be re-encoded ([`Verdict::Refuse`]).
pub const MAX_PART_HEADER: usize = 256 * 1024;

/// The deepest nesting of multiparts followed: a deeper multipart is not looked into; it
/// is kept as it is, and a NUL in it is refused ([`Verdict::Refuse`]), since a multipart
/// may not be given a base64 encoding (RFC 2045 §6.4). At most 64: the scanner keeps one
/// bit per open multipart.
pub const MAX_NESTING: usize = 64;

/// Base64 lines are this long (RFC 2045 §6.8: "no more than 76 characters").
const LINE: usize = 76;

/// What the [`Scanner`] finds, in the message's order; the octets of all pieces, in
/// order, are the message.
#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    /// Structure: a multipart's or message's header, preambles, delimiter lines with the
    /// line break before them, epilogues.
    Other(&'a [u8]),
    /// The whole header of a leaf part (one that is not a multipart nor a message), its
    /// blank line included.
    Header(&'a [u8]),
    /// Octets of the body of the leaf part whose header came last.
    Body(&'a [u8]),
    /// That body is over; `delimited`: a delimiter follows (else the message ended).
    End { delimited: bool },
}

/// A multipart being read.
#[derive(Debug)]
struct Multipart {
    /// `"--" boundary`.
    delimiter: Vec<u8>,
    /// `multipart/digest`: a part without `Content-Type` is a message (RFC 2046 §5.1.5).
    digest: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a header into `header`; `digest`: its entity is a part of a digest.
    Header { digest: bool },
    /// A leaf's body (`leaf`), or a preamble or epilogue.
    Content { leaf: bool, line_start: bool },
    /// The rest of a delimiter line; `seen` octets after the boundary so far, `close`:
    /// they began with `--`.
    Delimiter { seen: u8, close: bool },
    /// Not looked into (a header too long): the rest of the message is structure.
    Opaque,
}

/// Splits a message into [`Piece`]s as it streams by. It holds at most a header and the
/// start of one line (as long as the longest delimiter).
#[derive(Debug)]
struct Scanner {
    state: State,
    /// The multiparts we are inside, outermost first.
    open: Vec<Multipart>,
    /// The header being read.
    header: Vec<u8>,
    /// A line break not yet given to anyone: the content's, or the delimiter's after it
    /// (or a CR that may begin one).
    brk: Vec<u8>,
    /// The start of the line after `brk`, while it may still be a delimiter.
    line: Vec<u8>,
    /// The multiparts (bit i: `open[i]`) whose delimiter `line` is still a prefix of:
    /// each octet is compared once, however long the boundaries.
    alive: u64,
}

/// Whether the held line start is a delimiter.
enum Match {
    /// It is the delimiter of the multipart at this index of `open`.
    Full(usize),
    /// It may become one.
    Prefix,
    /// It cannot.
    No,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            state: State::Header { digest: false },
            open: Vec::new(),
            header: Vec::new(),
            brk: Vec::new(),
            line: Vec::new(),
            alive: 0,
        }
    }

    /// Looks at the next octets of the message.
    fn feed(&mut self, input: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                State::Header { digest } => i += self.header_octets(&input[i..], digest, emit),
                State::Content { leaf, line_start } if self.open.is_empty() => {
                    // No delimiter can come: the rest is content (the common single-part
                    // message goes through here whole).
                    debug_assert!(!line_start || (self.brk.is_empty() && self.line.is_empty()));
                    let held = std::mem::take(&mut self.brk);
                    content(leaf, &held, emit);
                    content(leaf, &input[i..], emit);
                    i = input.len();
                }
                State::Content {
                    leaf,
                    line_start: true,
                } => {
                    let b = input[i];
                    match self.delimiter_match(b) {
                        Match::Prefix => i += 1,
                        Match::Full(level) => {
                            i += 1;
                            if leaf {
                                emit(Piece::End { delimited: true });
                            }
                            emit(Piece::Other(&self.brk));
                            emit(Piece::Other(&self.line));
                            self.brk.clear();
                            self.line.clear();
                            // Only the innermost delimiter matches, so no inner multipart is left open.
                            self.open.truncate(level + 1);
                            self.state = State::Delimiter {
                                seen: 0,
                                close: false,
                            };
                        }
                        Match::No => {
                            // `b` is looked at again, inside the line.
                            self.line.pop();
                            content(leaf, &self.brk, emit);
                            content(leaf, &self.line, emit);
                            self.brk.clear();
                            self.line.clear();
                            self.state = State::Content {
                                leaf,
                                line_start: false,
                            };
                        }
                    }
                }
                State::Content {
                    leaf,
                    line_start: false,
                } => i += self.in_line(&input[i..], leaf, emit),
                State::Delimiter { seen, close } => {
                    let rest = &input[i..];
                    let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |j| j + 1);
                    let mut seen = seen;
                    let mut close = close;
                    for &b in rest.iter().take(2usize.saturating_sub(seen as usize)) {
                        close = b == b'-' && (seen == 0 || close);
                        seen += 1;
                    }
                    emit(Piece::Other(&rest[..end]));
                    i += end;
                    self.state = if rest[..end].ends_with(b"\n") {
                        if close && seen >= 2 {
                            // The epilogue: structure, up to an outer delimiter.
                            self.open.pop();
                            State::Content {
                                leaf: false,
                                line_start: true,
                            }
                        } else {
                            let digest = self.open.last().is_some_and(|m| m.digest);
                            State::Header { digest }
                        }
                    } else {
                        State::Delimiter { seen, close }
                    };
                }
                State::Opaque => {
                    emit(Piece::Other(&input[i..]));
                    i = input.len();
                }
            }
        }
    }

    /// The message is over: gives what is held.
    fn finish(&mut self, emit: &mut impl FnMut(Piece<'_>)) {
        match self.state {
            // A header without its blank line: the entity has no body.
            State::Header { .. } => emit(Piece::Other(&self.header)),
            State::Content { leaf, .. } => {
                content(leaf, &self.brk, emit);
                content(leaf, &self.line, emit);
                if leaf {
                    emit(Piece::End { delimited: false });
                }
            }
            State::Delimiter { .. } | State::Opaque => {}
        }
        self.header.clear();
        self.brk.clear();
        self.line.clear();
        self.state = State::Opaque;
    }

    /// Takes header octets up to the end of a line; returns how many were taken.
    fn header_octets(
        &mut self,
        rest: &[u8],
        digest: bool,
        emit: &mut impl FnMut(Piece<'_>),
    ) -> usize {
        let (take, eol) = match memchr::memchr(b'\n', rest) {
            Some(j) => (j + 1, true),
            None => (rest.len(), false),
        };
        self.header.extend_from_slice(&rest[..take]);
        if eol && ends_in_blank_line(&self.header) {
            let header = std::mem::take(&mut self.header);
            self.entity(&header, digest, emit);
            self.header = header;
            self.header.clear();
        } else if self.header.len() > MAX_PART_HEADER {
            emit(Piece::Other(&self.header));
            self.header.clear();
            self.state = State::Opaque;
        }
        take
    }

    /// The header of an entity is complete: what follows is its body.
    fn entity(&mut self, header: &[u8], digest: bool, emit: &mut impl FnMut(Piece<'_>)) {
        let body_start = State::Content {
            leaf: false,
            line_start: true,
        };
        match Kind::of(header, digest) {
            Kind::Multipart { boundary, digest } if self.open.len() < MAX_NESTING => {
                emit(Piece::Other(header));
                let mut delimiter = b"--".to_vec();
                delimiter.extend_from_slice(&boundary);
                self.open.push(Multipart { delimiter, digest });
                self.state = body_start;
            }
            Kind::Multipart { .. } => {
                // Too deep: its body is structure, kept as it is.
                emit(Piece::Other(header));
                self.state = body_start;
            }
            Kind::Message => {
                emit(Piece::Other(header));
                self.state = State::Header { digest: false };
            }
            _ => {
                emit(Piece::Header(header));
                self.state = State::Content {
                    leaf: true,
                    line_start: true,
                };
            }
        }
    }

    /// Content inside a line: up to and including its line break, which is held.
    fn in_line(&mut self, rest: &[u8], leaf: bool, emit: &mut impl FnMut(Piece<'_>)) -> usize {
        if !self.brk.is_empty() {
            // A CR held at the end of the last piece.
            if rest[0] == b'\n' {
                self.brk.push(b'\n');
                self.state = State::Content {
                    leaf,
                    line_start: true,
                };
                return 1;
            }
            content(leaf, &self.brk, emit);
            self.brk.clear();
        }
        match memchr::memchr(b'\n', rest) {
            Some(j) => {
                let end = if j > 0 && rest[j - 1] == b'\r' {
                    j - 1
                } else {
                    j
                };
                content(leaf, &rest[..end], emit);
                self.brk.extend_from_slice(&rest[end..=j]);
                self.state = State::Content {
                    leaf,
                    line_start: true,
                };
                j + 1
            }
            None => {
                let end = rest.len() - usize::from(rest.ends_with(b"\r"));
                content(leaf, &rest[..end], emit);
                self.brk.extend_from_slice(&rest[end..]);
                rest.len()
            }
        }
    }

    /// Adds `b` to the held line start: whether it is, or may become, the delimiter of
    /// the innermost open multipart. Only that one counts, as mail-parser (which serves
    /// BODYSTRUCTURE and BINARY) reads a multipart: an inner one never closed runs to
    /// the end of the message, outer delimiters included, and a part re-encoded here
    /// must be the very octets it will cut out (RFC 3516 §4.4: no loss of data).
    fn delimiter_match(&mut self, b: u8) -> Match {
        let at = self.line.len();
        if at == 0 {
            // `open` has at most MAX_NESTING (64) multiparts.
            self.alive = match self.open.len() {
                0 => 0,
                n => 1 << (n - 1),
            };
        }
        self.line.push(b);
        let mut full = None;
        for (level, m) in self.open.iter().enumerate() {
            if self.alive & (1 << level) == 0 {
                continue;
            }
            if m.delimiter.get(at) != Some(&b) {
                self.alive &= !(1 << level);
            } else if m.delimiter.len() == at + 1 {
                full = Some(level);
            }
        }
        match full {
            Some(level) => Match::Full(level),
            None if self.alive != 0 => Match::Prefix,
            None => Match::No,
        }
    }
}

/// Content octets: a leaf's body or structure.
fn content(leaf: bool, bytes: &[u8], emit: &mut impl FnMut(Piece<'_>)) {
    if bytes.is_empty() {
        return;
    }
    emit(if leaf {
        Piece::Body(bytes)
    } else {
        Piece::Other(bytes)
    });
}

/// Whether the header read so far ends at its last line, as mail-parser reads a header
/// (and so BODYSTRUCTURE and the sections): a line of nothing but white space
/// ([`is_blank`]: an empty line, RFC 5322 §2.1, or CR, SP, HT, FF) where a field may
/// begin, that is not after a field when it begins with SP or HT (RFC 5322 §2.2.3: that
/// continues the field).
fn ends_in_blank_line(header: &[u8]) -> bool {
    let Some(before) = header.strip_suffix(b"\n") else {
        return false;
    };
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    is_blank(&header[start..]) && (start == 0 || !matches!(before.get(start), Some(b' ' | b'\t')))
}

/// What an entity is, from its header.
enum Kind {
    Multipart { boundary: Vec<u8>, digest: bool },
    Message,
    Leaf,
}

impl Kind {
    /// As mail-parser reads it (RFC 2045 §5.2: text/plain without `Content-Type`; RFC
    /// 2046 §5.1.5: message/rfc822 in a digest). A message is looked into only when its
    /// octets are as sent (an identity encoding, RFC 2046 §5.2.1).
    fn of(header: &[u8], digest: bool) -> Kind {
        let parsed = MessageParser::default().parse_headers(header);
        let ct = parsed
            .as_ref()
            .and_then(|m| m.parts.first())
            .and_then(|p| p.content_type());
        let Some(ct) = ct else {
            return if digest && identity(header) {
                Kind::Message
            } else {
                Kind::Leaf
            };
        };
        match ct.ctype() {
            "multipart" => match ct.attribute("boundary") {
                Some(b) if !b.is_empty() => Kind::Multipart {
                    boundary: b.as_bytes().to_vec(),
                    digest: ct.subtype() == Some("digest"),
                },
                _ => Kind::Leaf,
            },
            "message" if matches!(ct.subtype(), Some("rfc822" | "global")) && identity(header) => {
                Kind::Message
            }
            _ => Kind::Leaf,
        }
    }
}

/// Whether the header declares an identity encoding (RFC 2045 §6.2).
fn identity(header: &[u8]) -> bool {
    matches!(declared(header).as_str(), "7bit" | "8bit" | "binary")
}

/// The first pass: while the message arrives, finds which leaf parts must be re-encoded
/// (those that hold a NUL, or declare `Content-Transfer-Encoding: binary`).
#[derive(Debug)]
pub struct Survey {
    scanner: Scanner,
    found: Found,
}

#[derive(Debug, Default)]
struct Found {
    /// One bit per leaf part, in order: it must be re-encoded.
    marks: Marks,
    /// The leaf being read must be re-encoded.
    current: bool,
    /// A NUL outside every leaf's body (in a header, a preamble, a delimiter line).
    stray_nul: bool,
}

/// Which leaf parts a [`Rewrite`] re-encodes: one bit each, in order (a message of
/// millions of tiny parts costs a bit per part).
#[derive(Debug, Default, Clone)]
pub struct Marks {
    bits: Vec<u64>,
    len: usize,
    any: bool,
}

impl Marks {
    fn push(&mut self, mark: bool) {
        if self.len.is_multiple_of(64) {
            self.bits.push(0);
        }
        if mark {
            self.bits[self.len / 64] |= 1 << (self.len % 64);
            self.any = true;
        }
        self.len += 1;
    }

    fn get(&self, i: usize) -> bool {
        self.bits
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// What a [`Survey`] found.
#[derive(Debug)]
pub enum Verdict {
    /// No part needs re-encoding: the message is stored as sent.
    Keep,
    /// These parts need re-encoding: a [`Rewrite`] does it.
    Rewrite(Marks),
    /// A NUL where no encoding can carry it (a header, a delimiter line, a preamble, a
    /// multipart nested past [`MAX_NESTING`], or past [`MAX_PART_HEADER`]): the message
    /// cannot be stored without losing it or breaking RFC 3501 §9.
    Refuse,
}

impl Default for Survey {
    fn default() -> Survey {
        Survey {
            scanner: Scanner::new(),
            found: Found::default(),
        }
    }
}

impl Survey {
    /// Looks at the next octets of the message.
    pub fn feed(&mut self, input: &[u8]) {
        let found = &mut self.found;
        self.scanner.feed(input, &mut |p| found.see(p));
    }

    /// The message is over: what must be done.
    pub fn finish(mut self) -> Verdict {
        let found = &mut self.found;
        self.scanner.finish(&mut |p| found.see(p));
        if self.found.stray_nul {
            Verdict::Refuse
        } else if self.found.marks.any {
            Verdict::Rewrite(self.found.marks)
        } else {
            Verdict::Keep
        }
    }
}

impl Found {
    fn see(&mut self, piece: Piece<'_>) {
        let nul = |b: &[u8]| memchr::memchr(0, b).is_some();
        match piece {
            Piece::Other(b) => self.stray_nul |= nul(b),
            Piece::Header(h) => {
                self.stray_nul |= nul(h);
                self.current = declared(h) == "binary";
            }
            Piece::Body(b) => self.current = self.current || nul(b),
            Piece::End { .. } => {
                self.marks.push(self.current);
                self.current = false;
            }
        }
    }
}

/// The second pass: the message again, its marked parts in base64 (their
/// `Content-Transfer-Encoding` field replaced), everything else as it was.
#[derive(Debug)]
pub struct Rewrite {
    scanner: Scanner,
    marks: Marks,
    /// The index of the next leaf's header.
    leaf: usize,
    /// The leaf being re-encoded.
    encoding: Option<Base64Lines>,
}

impl Rewrite {
    /// Rewrites the parts a [`Survey`] of the same octets marked.
    pub fn new(marks: Marks) -> Rewrite {
        Rewrite {
            scanner: Scanner::new(),
            marks,
            leaf: 0,
            encoding: None,
        }
    }

    /// Rewrites the next octets of the message, appending to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let Rewrite {
            scanner,
            marks,
            leaf,
            encoding,
        } = self;
        scanner.feed(input, &mut |p| put(p, marks, leaf, encoding, out));
    }

    /// The message is over: appends what was held to `out`.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let Rewrite {
            scanner,
            marks,
            leaf,
            encoding,
        } = &mut self;
        scanner.finish(&mut |p| put(p, marks, leaf, encoding, out));
    }
}

fn put(
    piece: Piece<'_>,
    marks: &Marks,
    leaf: &mut usize,
    encoding: &mut Option<Base64Lines>,
    out: &mut Vec<u8>,
) {
    match piece {
        Piece::Other(b) => out.extend_from_slice(b),
        Piece::Header(h) if marks.get(*leaf) => {
            out.extend_from_slice(&without_cte(h));
            *encoding = Some(Base64Lines::default());
        }
        Piece::Header(h) => out.extend_from_slice(h),
        Piece::Body(b) => match encoding {
            Some(e) => e.push(b, out),
            None => out.extend_from_slice(b),
        },
        Piece::End { delimited } => {
            if let Some(e) = encoding.take() {
                // Before a delimiter, the last line's break is the delimiter's own (RFC
                // 2046 §5.1.1); at the end of the message, the last line gets one.
                e.finish(!delimited, out);
            }
            *leaf += 1;
        }
    }
}

/// Base64 in lines of [`LINE`] characters joined by CRLF, fed in pieces.
#[derive(Debug, Default)]
struct Base64Lines {
    /// Octets waiting for a whole group of three.
    carry: Vec<u8>,
    /// Characters on the current line.
    column: usize,
    /// Characters written so far.
    any: bool,
    /// Scratch for the characters of one piece.
    chars: String,
}

impl Base64Lines {
    fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        if !self.carry.is_empty() {
            let need = (3 - self.carry.len()).min(input.len());
            self.carry.extend_from_slice(&input[..need]);
            input = &input[need..];
            if self.carry.len() < 3 {
                return;
            }
            let group = std::mem::take(&mut self.carry);
            self.encode(&group, out);
        }
        let whole = input.len() / 3 * 3;
        self.encode(&input[..whole], out);
        self.carry.extend_from_slice(&input[whole..]);
    }

    fn finish(mut self, final_break: bool, out: &mut Vec<u8>) {
        let carry = std::mem::take(&mut self.carry);
        self.encode(&carry, out);
        if final_break && self.any {
            out.extend_from_slice(b"\r\n");
        }
    }

    fn encode(&mut self, octets: &[u8], out: &mut Vec<u8>) {
        if octets.is_empty() {
            return;
        }
        self.chars.clear();
        base64::engine::general_purpose::STANDARD.encode_string(octets, &mut self.chars);
        let mut chars = self.chars.as_bytes();
        self.any = true;
        while !chars.is_empty() {
            if self.column == LINE {
                out.extend_from_slice(b"\r\n");
                self.column = 0;
            }
            let n = (LINE - self.column).min(chars.len());
            out.extend_from_slice(&chars[..n]);
            self.column += n;
            chars = &chars[n..];
        }
    }
}

/// Both passes over a message in memory: the message with its binary parts re-encoded
/// ([`Verdict::Rewrite`]), or as it is ([`Verdict::Keep`]), or `None` ([`Verdict::Refuse`]).
pub fn reencode(message: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    let mut survey = Survey::default();
    survey.feed(message);
    match survey.finish() {
        Verdict::Keep => Some(std::borrow::Cow::Borrowed(message)),
        Verdict::Rewrite(marks) => {
            let mut out = Vec::with_capacity(message.len() / 3 * 4 + 1024);
            let mut rewrite = Rewrite::new(marks);
            rewrite.feed(message, &mut out);
            rewrite.finish(&mut out);
            Some(std::borrow::Cow::Owned(out))
        }
        Verdict::Refuse => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pieces(message: &[u8], cut: usize) -> Vec<u8> {
        let mut survey = Survey::default();
        for c in message.chunks(cut.max(1)) {
            survey.feed(c);
        }
        let Verdict::Rewrite(marks) = survey.finish() else {
            return message.to_vec();
        };
        let mut out = Vec::new();
        let mut rewrite = Rewrite::new(marks);
        for c in message.chunks(cut.max(1)) {
            rewrite.feed(c, &mut out);
        }
        rewrite.finish(&mut out);
        out
    }

    fn multipart(binary: &[u8]) -> Vec<u8> {
        let mut m = b"Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b-1\"\r\n\r\n\
preamble\r\n--b-1\r\nContent-Type: text/plain\r\n\r\nbefore\r\n--b-1\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            .to_vec();
        m.extend_from_slice(binary);
        m.extend_from_slice(
            b"\r\n--b-1\r\nContent-Type: text/plain\r\n\r\nafter\r\n--b-1--\r\nepilogue\r\n",
        );
        m
    }

    /// BINARY[n] of a multipart message.
    fn part(message: &[u8], n: u32) -> Vec<u8> {
        use crate::command::{Section, SectionText};
        let info = crate::mime::MessageInfo::parse(message);
        let body = Section {
            part: vec![n],
            text: None,
        };
        let mime = Section {
            part: vec![n],
            text: Some(SectionText::Mime),
        };
        let header = info.section(message, &mime).expect("a header");
        let body = info.section(message, &body).expect("a body");
        super::super::decode(&declared(&header), &body)
            .unwrap()
            .into_owned()
    }

    #[test]
    fn a_binary_part_between_text_parts_is_base64_and_decodes_to_itself() {
        let binary: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        let m = multipart(&binary);
        let whole = reencode(&m).unwrap().into_owned();
        assert!(!whole.contains(&0));
        let text = String::from_utf8(whole.clone()).unwrap();
        assert!(text.contains("preamble\r\n--b-1\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nbefore\r\n--b-1\r\n"), "{text}");
        assert!(text.contains("after\r\n--b-1--\r\nepilogue\r\n"), "{text}");
        assert!(!text.contains("binary"), "{text}");
        assert!(text.lines().all(|l| l.len() <= LINE), "{text}");
        for cut in [1, 2, 3, 5, 7, 64, 1000, usize::MAX] {
            assert_eq!(pieces(&m, cut), whole, "cut {cut}");
        }
        assert_eq!(part(&whole, 2), binary);
        assert_eq!(part(&whole, 1), b"before");
        assert_eq!(part(&whole, 3), b"after");
    }

    #[test]
    fn what_cannot_be_reencoded_is_refused_and_plain_messages_are_kept() {
        assert!(reencode(b"Subject: a\0b\r\n\r\nx").is_none());
        let m = b"Content-Type: multipart/mixed; boundary=q\r\n\r\npre\0\r\n--q\r\n\r\nx\r\n--q--";
        assert!(reencode(m).is_none());
        let plain = multipart(b"just text");
        // Declared binary: re-encoded even without a NUL (its bare line ends are data).
        assert!(matches!(reencode(&plain), Some(std::borrow::Cow::Owned(_))));
        let plain = b"Subject: x\r\n\r\nno nul here\r\n";
        assert!(matches!(
            reencode(plain),
            Some(std::borrow::Cow::Borrowed(_))
        ));
    }

    #[test]
    fn a_header_ends_where_mail_parser_ends_it() {
        // A line of CR and white space ends a header where a field may begin; the
        // re-encoded header drops it, and its field is the one that counts.
        for m in [
            &b"\rContent-Transfer-Encoding: binary\r\n\r\n"[..],
            b"--b\r\n\rContent-Transfer-Encoding: binary\r\n\r\r\n\r\n\r\n",
            b"X: y\r\nContent-Transfer-Encoding: binary\r\n \t\r\n\r\n\0\r\n",
        ] {
            let out = reencode(m).unwrap().into_owned();
            assert!(!out.contains(&0));
            assert!(
                matches!(reencode(&out), Some(std::borrow::Cow::Borrowed(_))),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
            agrees_with_mail_parser(&out).unwrap();
        }
        // White space after a field continues it: the header goes on to the empty line.
        let out =
            reencode(b"X: y\r\nContent-Transfer-Encoding: binary\r\n \t\r\n\r\n\0\r\n").unwrap();
        assert_eq!(
            &out[..],
            b"X: y\r\nContent-Transfer-Encoding: base64\r\n\r\nAA0K\r\n"
        );
    }

    #[test]
    fn an_inner_multipart_never_closed_runs_to_the_end_as_mail_parser_reads_it() {
        // The inner multipart is never closed: mail-parser reads its part up to the end
        // of the message, outer delimiters and all, and BINARY must give that back.
        let m = b"Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\
Content-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\
Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\x03\x04\x05\r\n--outer\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n--outer--\r\n";
        let stored = reencode(m).unwrap().into_owned();
        assert!(!stored.contains(&0));
        let sent = binary_section(m, &[1, 1]);
        assert!(
            sent.starts_with(b"\x00\x01\x02\x03\x04\x05\r\n--outer"),
            "{sent:?}"
        );
        assert_eq!(binary_section(&stored, &[1, 1]), sent);
    }

    #[test]
    fn a_nul_in_a_multipart_nested_too_deep_is_refused() {
        let depth = MAX_NESTING + 16;
        let mut m = Vec::new();
        for i in 0..depth {
            m.extend_from_slice(
                format!("Content-Type: multipart/mixed; boundary=b{i}z\r\n\r\n--b{i}z\r\n")
                    .as_bytes(),
            );
        }
        m.extend_from_slice(b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\r\n");
        for i in (0..depth).rev() {
            m.extend_from_slice(format!("--b{i}z--\r\n").as_bytes());
        }
        assert!(reencode(&m).is_none());
        // Without the NUL it is kept as it is.
        let plain: Vec<u8> = m.iter().map(|&b| if b == 0 { b'x' } else { b }).collect();
        assert_eq!(reencode(&plain).unwrap(), &plain[..]);
    }

    #[test]
    fn nested_messages_and_multiparts_are_looked_into() {
        let m = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\
Content-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\0b\r\n--i--\r\n\
--o\r\n\r\nlast\0\r\n--o--\r\n";
        let out = reencode(m).unwrap().into_owned();
        assert!(!out.contains(&0), "{}", String::from_utf8_lossy(&out));
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\r\n\r\nYQBi\r\n--i--\r\n--o\r\n"), "{text}");
        assert!(text.contains("\r\n\r\nbGFzdAA=\r\n--o--\r\n"), "{text}");
    }

    /// Messages made of the pieces of MIME structure, shuffled: headers, boundaries,
    /// line ends of every kind, NUL.
    fn structure() -> impl Strategy<Value = Vec<u8>> {
        const TOKENS: &[&[u8]] = &[
            b"Content-Type: multipart/mixed; boundary=b\r\n",
            b"Content-Type: multipart/digest; boundary=bc\r\n",
            b"Content-Type: message/rfc822\r\n",
            b"Content-Transfer-Encoding: binary\r\n",
            b"Content-Type: text/plain\r\n",
            b"--b",
            b"--bc",
            b"--",
            b"-",
            b"\r\n",
            b"\n",
            b"\r",
            b"\0",
            b"x",
            b"\r\n\r\n",
        ];
        // Half of them begin as a multipart, so that most reach part bodies.
        let start = prop_oneof![
            Just(&b""[..]),
            Just(&b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"[..]),
        ];
        (start, proptest::collection::vec(0..TOKENS.len(), 0..60)).prop_map(|(start, ids)| {
            let mut m = start.to_vec();
            m.extend(ids.into_iter().flat_map(|i| TOKENS[i].to_vec()));
            m
        })
    }

    /// Every base64 part the scanner finds in `message` is one mail-parser (so
    /// BODYSTRUCTURE and BINARY) finds too, with the same body and encoding.
    fn agrees_with_mail_parser(message: &[u8]) -> Result<(), TestCaseError> {
        let mut scanner = Scanner::new();
        let mut pos = 0;
        let mut leaves = Vec::new();
        let mut open: Option<(usize, bool)> = None;
        let mut see = |p: Piece<'_>| match p {
            Piece::Other(b) | Piece::Body(b) => pos += b.len(),
            Piece::Header(h) => {
                pos += h.len();
                open = Some((pos, declared(h) == "base64"));
            }
            Piece::End { .. } => {
                if let Some((start, true)) = open.take() {
                    leaves.push(start..pos);
                }
            }
        };
        scanner.feed(message, &mut see);
        scanner.finish(&mut see);
        let Some(parsed) = MessageParser::default().parse(message) else {
            prop_assert!(leaves.is_empty(), "{:?}", String::from_utf8_lossy(message));
            return Ok(());
        };
        for leaf in leaves {
            let part = parsed
                .parts
                .iter()
                .find(|p| p.offset_body as usize == leaf.start);
            prop_assert!(
                part.is_some(),
                "no part at {}: {:?}",
                leaf.start,
                String::from_utf8_lossy(message)
            );
            let part = part.unwrap();
            prop_assert_eq!(part.content_transfer_encoding(), Some("base64"));
            let theirs = &message[leaf.start..(part.offset_end as usize).min(message.len())];
            let trim = |b: &'_ [u8]| -> Vec<u8> {
                b.strip_suffix(b"\r\n")
                    .or_else(|| b.strip_suffix(b"\n"))
                    .unwrap_or(b)
                    .to_vec()
            };
            let (theirs, ours) = (trim(theirs), trim(&message[leaf]));
            prop_assert_eq!(
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&ours)
            );
        }
        Ok(())
    }

    /// A MIME tree: leaves (declared `binary` or not) with octets of every kind a
    /// delimiter could be confused with, in multiparts nested up to three deep.
    #[derive(Debug, Clone)]
    enum Node {
        Leaf { binary: bool, body: Vec<u8> },
        Multi(Vec<Node>),
    }

    fn tree() -> impl Strategy<Value = Node> {
        let octet = prop_oneof![Just(0u8), Just(b'\r'), Just(b'\n'), Just(b'-'), Just(b'x')];
        let leaf = (any::<bool>(), proptest::collection::vec(octet, 0..40))
            .prop_map(|(binary, body)| Node::Leaf { binary, body });
        leaf.prop_recursive(3, 12, 4, |inner| {
            proptest::collection::vec(inner, 1..4).prop_map(Node::Multi)
        })
    }

    /// The message of a tree, and its leaves' part numbers and bodies, in order.
    fn render(
        node: &Node,
        depth: usize,
        path: &[u32],
        out: &mut Vec<u8>,
    ) -> Vec<(Vec<u32>, Vec<u8>, bool)> {
        match node {
            Node::Leaf { binary, body } => {
                out.extend_from_slice(b"Content-Type: application/octet-stream\r\n");
                if *binary {
                    out.extend_from_slice(b"Content-Transfer-Encoding: binary\r\n");
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(body);
                vec![(path.to_vec(), body.clone(), *binary || body.contains(&0))]
            }
            Node::Multi(parts) => {
                let delimiter = format!("--=_b{depth}_=");
                out.extend_from_slice(
                    format!("Content-Type: multipart/mixed; boundary=\"=_b{depth}_=\"\r\n\r\n")
                        .as_bytes(),
                );
                let mut leaves = Vec::new();
                for (i, p) in parts.iter().enumerate() {
                    out.extend_from_slice(format!("{delimiter}\r\n").as_bytes());
                    let mut path = path.to_vec();
                    path.push(i as u32 + 1);
                    leaves.extend(render(p, depth + 1, &path, out));
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("{delimiter}--\r\n").as_bytes());
                leaves
            }
        }
    }

    /// BINARY[path] of a stored message, as FETCH reads it.
    fn binary_section(message: &[u8], path: &[u32]) -> Vec<u8> {
        use crate::command::{Section, SectionText};
        let info = crate::mime::MessageInfo::parse(message);
        let (header, part) = if path.is_empty() {
            (
                Section {
                    part: vec![],
                    text: Some(SectionText::Header),
                },
                vec![1],
            )
        } else {
            (
                Section {
                    part: path.to_vec(),
                    text: Some(SectionText::Mime),
                },
                path.to_vec(),
            )
        };
        let header = info.section(message, &header).expect("a header");
        let body = info
            .section(message, &Section { part, text: None })
            .expect("a body");
        super::super::decode(&declared(&header), &body)
            .unwrap()
            .into_owned()
    }

    proptest! {
        /// In a well-formed message of any shape, cut anywhere: the parts re-encoded are
        /// those with binary content, mail-parser finds them where they were written,
        /// and BINARY of every part gives its octets back.
        #[test]
        fn every_part_of_any_tree_comes_back(t in tree(), cut in 1usize..30) {
            let mut m = b"Subject: tree\r\n".to_vec();
            let leaves = render(&t, 0, &[], &mut m);
            let whole = reencode(&m).expect("NUL only in bodies").into_owned();
            prop_assert!(!whole.contains(&0));
            prop_assert_eq!(pieces(&m, cut), whole.clone());
            agrees_with_mail_parser(&whole)?;
            for (path, body, _) in &leaves {
                prop_assert_eq!(&binary_section(&whole, path), body, "part {:?}", path);
            }
            let marked = leaves.iter().filter(|l| l.2).count();
            let base64 = whole.windows(33).filter(|w| w == b"Content-Transfer-Encoding: base64").count();
            prop_assert_eq!(marked, base64);
        }

        /// Whatever the structure and however it is cut, both passes give what they
        /// give on the message whole; what they give has no NUL; a message they keep
        /// comes back as it was; and what they give needs nothing more done.
        #[test]
        fn any_structure_any_cut(m in structure(), cut in 1usize..20) {
            let Some(whole) = reencode(&m) else {
                return Ok(());
            };
            let whole = whole.into_owned();
            prop_assert!(!whole.contains(&0));
            prop_assert_eq!(pieces(&m, cut), whole.clone());
            prop_assert!(matches!(reencode(&whole), Some(std::borrow::Cow::Borrowed(_))));
        }

        /// However the message is cut, both passes give what they give on it whole, and
        /// the binary part decodes to the octets sent.
        #[test]
        fn any_cut_gives_the_same_message(
            binary in proptest::collection::vec(prop_oneof![Just(0u8), Just(b'\r'), Just(b'\n'), Just(b'-'), any::<u8>()], 0..300),
            cut in 1usize..50,
        ) {
            let m = multipart(&binary);
            let whole = reencode(&m).unwrap().into_owned();
            prop_assert!(!whole.contains(&0));
            prop_assert_eq!(pieces(&m, cut), whole.clone());
            prop_assert_eq!(part(&whole, 2), binary);
        }
    }
}
