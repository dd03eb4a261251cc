//! SEARCH and UID SEARCH (RFC 3501 §6.4.4), with ESEARCH's result options (RFC 4731) and
//! SEARCHRES's SAVE (RFC 5182), and WITHIN's OLDER and YOUNGER (RFC 5032).
//!
//! String keys match case-insensitively as substrings. A header field (HEADER, FROM, TO,
//! CC, BCC, SUBJECT) matches if its text after the colon contains the string, unfolded
//! (RFC 5322 §2.2.3) but otherwise as written, so `HEADER Message-ID <id@host>` finds
//! the angle brackets and `HEADER Content-Type charset` the parameters (RFC 3501 §6.4.4);
//! an empty string matches every message that has the field. Where decoding changes the
//! text (RFC 2047 encoded words, 8-bit text), the decoded field matches too, so a
//! Japanese subject sent as ISO-2022-JP encoded words is found by a Japanese word sent
//! in UTF-8. Bodies match after transfer and charset decoding (mail-parser does both).
//! TEXT is the header as written (unfolded) or decoded, or the body.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;

use crate::command::{SearchKey, SearchReturn, SequenceSet};
use crate::mime::MessageInfo;
use crate::response::{Code, Completion, Data, Responses};
use crate::selected::Selected;
use yubin_store::{Flag, MessageMeta};

/// The charsets a SEARCH may name: UTF-8 and its subset US-ASCII.
const CHARSETS: [&str; 2] = ["UTF-8", "US-ASCII"];

/// Answers a SEARCH; `uid` for UID SEARCH, `ret` for `RETURN (...)` (an `ESEARCH`
/// response instead of `SEARCH`).
pub fn search(
    sel: &mut Selected,
    tag: &str,
    uid: bool,
    ret: Option<SearchReturn>,
    charset: Option<&str>,
    criteria: &[SearchKey],
    out: &mut Responses,
) -> Completion {
    let command = if uid { "UID SEARCH" } else { "SEARCH" };
    if let Some(c) = charset
        && !charset_ok(c)
    {
        // RFC 5182 §2.1: a SEARCH with SAVE that fails with NO empties `$`.
        if ret.as_ref().is_some_and(|r| r.save) {
            sel.saved.clear();
        }
        return Completion::no(Code::BadCharset, "Unsupported charset");
    }
    // RFC 5267 §4.3: the keys of an update context are fixed now (sequence numbers mean
    // the messages they name when the command comes).
    let fetch = match super::context::update_fetch(ret.as_ref()) {
        Ok(fetch) => fetch,
        Err(refused) => return refused,
    };
    let fixed = ret
        .as_ref()
        .is_some_and(|r| r.update)
        .then(|| super::context::fixed(sel, criteria));
    // RFC 7162 §3.1.5: a search that used MODSEQ tells the highest modseq of what it found.
    let by_modseq = criteria.iter().any(uses_modseq);
    let positions = matching(sel, criteria);
    let modseq_at = |pos: usize| sel.meta(pos).map_or(0, |m| m.modseq);
    let highest = positions.iter().map(|&p| modseq_at(p)).max().unwrap_or(0);
    // The modseqs of the first and last messages found, for a lone MIN or MAX.
    let ends = (
        positions.first().map(|&p| modseq_at(p)),
        positions.last().map(|&p| modseq_at(p)),
    );
    let hits: Vec<u32> = positions
        .iter()
        .map(|&pos| if uid { sel.uid(pos) } else { pos as u32 + 1 })
        .collect();
    let modseq = (by_modseq && !hits.is_empty()).then_some(highest);
    if let Some(r) = &ret
        && r.save
    {
        save(sel, uid, r, &hits);
    }
    match &ret {
        Some(r) => {
            // RFC 7162 §3.1.10 (RFC 4731 §3.2): a lone MIN or MAX tells the modseq of the
            // message it names; otherwise the highest of those found.
            let modseq = match (r.min, r.max, r.all || r.count) {
                (true, false, false) => modseq.and(ends.0),
                (false, true, false) => modseq.and(ends.1),
                _ => modseq,
            };
            esearch(out, tag, uid, r, &hits, modseq)
        }
        None => out.data(Data::Search {
            numbers: &hits,
            modseq,
        }),
    }
    if let Some(criteria) = fixed {
        let results = positions.iter().map(|&p| sel.uid(p)).collect();
        let context = super::context::UpdateContext {
            tag: tag.to_owned(),
            uid,
            criteria,
            sort: None,
            results,
            fetch,
        };
        super::context::register(sel, context, out);
    }
    Completion::done(command)
}
/// Whether a SEARCH, SORT or THREAD may name this charset: UTF-8 or US-ASCII.
pub(crate) fn charset_ok(charset: &str) -> bool {
    CHARSETS.iter().any(|ok| ok.eq_ignore_ascii_case(charset))
}

/// The positions (0-based, ascending) of the messages that match every key: the
/// selection SEARCH answers with, and SORT and THREAD order (RFC 5256 §3).
pub(crate) fn matching(sel: &mut Selected, criteria: &[SearchKey]) -> Vec<usize> {
    let key = SearchKey::And(criteria.to_vec());
    let n = sel.len();
    let largest_uid = sel.largest_uid();
    // One clock reading for the whole search, so OLDER n and YOUNGER n split the
    // mailbox in two whatever the time the search takes (RFC 5032 §3).
    let now = chrono::Utc::now().timestamp();
    let mut hits = Vec::new();
    for pos in 0..n {
        let Some(meta) = sel.meta(pos) else { continue };
        let mut ctx = Ctx {
            sel,
            pos,
            n,
            largest_uid,
            now,
            meta,
            block: None,
            raw: None,
            headers: None,
            info: None,
        };
        if ctx.eval(&key) {
            hits.push(pos);
        }
    }
    hits
}

/// Whether a key uses MODSEQ anywhere (a CONDSTORE enabling command, RFC 7162 §3.1).
pub fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// Keeps the result for `$` (RFC 5182 §2.1) as UIDs. With MIN and/or MAX but neither
/// ALL nor COUNT, only the messages those name are kept; otherwise every one found.
fn save(sel: &mut Selected, uid: bool, r: &SearchReturn, hits: &[u32]) {
    let kept: Vec<u32> = if (r.min || r.max) && !r.all && !r.count {
        let mut ends = Vec::new();
        if r.min {
            ends.extend(hits.first());
        }
        if r.max {
            ends.extend(hits.last());
        }
        ends
    } else {
        hits.to_vec()
    };
    sel.saved = kept
        .into_iter()
        .map(|n| if uid { n } else { sel.uid(n as usize - 1) })
        .collect();
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]` (RFC 4731 §3.1):
/// only what was asked for; MIN, MAX and ALL are left out when nothing matched, COUNT is
/// then 0. The tag needs no escaping: it has no quoted-specials (RFC 3501 §9, `tag`).
///
/// `hits` are in result order: ascending for SEARCH; for ESORT in sort order, where MIN
/// and MAX are the first and last message in that order and ALL lists them in it
/// (RFC 5267 §3), runs compressed only where they ascend one by one (`3:5` = 3,4,5).
pub(crate) fn esearch(
    out: &mut Responses,
    tag: &str,
    uid: bool,
    r: &SearchReturn,
    hits: &[u32],
    modseq: Option<u64>,
) {
    if !r.answers() {
        return;
    }
    out.data(Data::ESearch {
        tag,
        uid,
        min: hits.first().copied().filter(|_| r.min),
        max: hits.last().copied().filter(|_| r.max),
        count: r.count.then_some(hits.len()),
        all: (r.all && !hits.is_empty()).then(|| SequenceSet::from_sorted(hits.iter().copied())),
        modseq,
        // RFC 5267 §4.4: results a to b of the result list (1-based), as many as there
        // are; NIL when the range is past them all.
        partial: r.partial.map(|(a, b)| {
            let from = (a as usize - 1).min(hits.len());
            let to = (b as usize).min(hits.len());
            let part = &hits[from..to];
            (
                (a, b),
                (!part.is_empty()).then(|| SequenceSet::from_sorted(part.iter().copied())),
            )
        }),
        updates: Vec::new(),
    });
}

struct Ctx<'a> {
    sel: &'a mut Selected,
    pos: usize,
    n: usize,
    largest_uid: u32,
    /// When the search began, in seconds since the epoch (for OLDER and YOUNGER).
    now: i64,
    meta: MessageMeta,
    /// The message's header block as stored, once a key needed it.
    block: Option<Option<Bytes>>,
    /// Its fields as written (name lower-cased, text unfolded), once a key needed them.
    raw: Option<Vec<(String, Vec<u8>)>>,
    /// Its decoded header fields, once a key needed them.
    headers: Option<Vec<(String, String)>>,
    /// Read and parsed only when a key needs the message's content.
    info: Option<Option<Arc<MessageInfo>>>,
}

/// Whether `hay` contains `needle` (lower-case ASCII) in any case.
fn contains_ignoring_ascii_case(hay: &[u8], needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    let upper = first.to_ascii_uppercase();
    memchr::memchr2_iter(first, upper, hay).any(|i| {
        hay.len() - i >= needle.len() && hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
    })
}

fn needle(s: &[u8]) -> String {
    String::from_utf8_lossy(s).to_lowercase()
}

/// Whether text as written (`hay`, any case, maybe 8-bit) contains `needle` (lower-case).
fn raw_contains(hay: &[u8], needle: &str) -> bool {
    if needle.is_ascii() {
        contains_ignoring_ascii_case(hay, needle.as_bytes())
    } else {
        String::from_utf8_lossy(hay).to_lowercase().contains(needle)
    }
}

/// Unfolds header text (RFC 5322 §2.2.3): a line break followed by white space is
/// removed, the white space kept. Bare LF counts as a line break too.
fn unfold(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let brk = match &text[i..] {
            [b'\r', b'\n', ..] => 2,
            [b'\n', ..] => 1,
            _ => 0,
        };
        if brk > 0 && matches!(text.get(i + brk), Some(b' ' | b'\t')) {
            i += brk;
            continue;
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// The fields of a header block as written: each name lower-cased, with its text after
/// the colon unfolded and without the white space that leads it (RFC 5322 §2.2, §3.6.8;
/// white space before the colon is the obsolete syntax of §4.5). Stops at the empty
/// line; a line that is neither a field nor a continuation is skipped.
pub(crate) fn raw_fields(block: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<(String, Vec<u8>)> = Vec::new();
    // Whether the last line started (or continued) a field, which a folded line extends.
    let mut open = false;
    for line in block.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if open && let Some((_, value)) = fields.last_mut() {
                value.extend_from_slice(line);
            }
            continue;
        }
        open = false;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if name.is_empty() {
            continue;
        }
        let value = line[colon + 1..].trim_ascii_start();
        fields.push((
            String::from_utf8_lossy(name).to_ascii_lowercase(),
            value.to_vec(),
        ));
        open = true;
    }
    // A field whose text begins on a folded line loses that line's leading white space.
    for (_, value) in &mut fields {
        let start = value.len() - value.trim_ascii_start().len();
        value.drain(..start);
    }
    fields
}

/// The first field of each of `names` (any case) in a header block, read as
/// [`raw_fields`] reads it, without copying what needs no unfolding: SORT reads a few
/// fields of every message, and this spares it one allocation per field of the header.
pub(crate) fn raw_fields_named<'a>(block: &'a [u8], names: &[&str]) -> Vec<Option<Cow<'a, [u8]>>> {
    let mut found: Vec<Option<Cow<'a, [u8]>>> = vec![None; names.len()];
    // The field being read, which a folded line extends.
    let mut open: Option<usize> = None;
    for line in block.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(Some(value)) = open.map(|k| &mut found[k]) {
                value.to_mut().extend_from_slice(line);
            }
            continue;
        }
        open = None;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let name = line[..colon].trim_ascii_end();
        if let Some(k) = names
            .iter()
            .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
            && found[k].is_none()
            && !name.is_empty()
        {
            found[k] = Some(Cow::Borrowed(line[colon + 1..].trim_ascii_start()));
            open = Some(k);
        }
    }
    // A field whose text begins on a folded line loses that line's leading white space.
    for value in found.iter_mut().flatten() {
        if value.first().is_some_and(|c| c.is_ascii_whitespace()) {
            *value = Cow::Owned(value.trim_ascii_start().to_vec());
        }
    }
    found
}

/// Whether decoding can make a header block's text differ from what is written: RFC 2047
/// encoded words, or 8-bit text in some charset.
fn decoding_changes(block: &[u8]) -> bool {
    !block.is_ascii() || memchr::memmem::find(block, b"=?").is_some()
}

impl Ctx<'_> {
    fn meta(&self) -> &MessageMeta {
        &self.meta
    }

    fn info(&mut self) -> Option<Arc<MessageInfo>> {
        if self.info.is_none() {
            let uid = self.meta().uid;
            let loaded = self
                .sel
                .mailbox
                .read(uid)
                .ok()
                .map(|raw| self.sel.cache.get(self.sel.uid_validity, uid, &raw));
            self.info = Some(loaded);
        }
        self.info.clone().flatten()
    }

    /// The header block as stored (from the store's shared cache: no body is read).
    fn block(&mut self) -> Option<Bytes> {
        if self.block.is_none() {
            self.block = Some(self.sel.mailbox.header(self.meta.uid).ok());
        }
        self.block.clone().flatten()
    }

    fn header_has(&mut self, field: &str, s: &[u8]) -> bool {
        let n = needle(s);
        let Some(block) = self.block() else {
            return false;
        };
        let decode = decoding_changes(&block);
        // Most messages do not match: when only the text as written counts and the needle
        // cannot span a fold (no white space in it), a plain case-insensitive scan of the
        // block rules the message out without splitting it into fields.
        if !n.is_empty()
            && !decode
            && !n.contains(char::is_whitespace)
            && !contains_ignoring_ascii_case(&block, n.as_bytes())
        {
            return false;
        }
        let raw = self.raw.get_or_insert_with(|| raw_fields(&block));
        let mut present = false;
        for (name, value) in raw.iter() {
            if name.eq_ignore_ascii_case(field) {
                if raw_contains(value, &n) {
                    return true;
                }
                present = true;
            }
        }
        if !present || !decode {
            return false;
        }
        let field = field.to_ascii_lowercase();
        self.headers
            .get_or_insert_with(|| crate::mime::header_fields(&block))
            .iter()
            .any(|(name, value)| *name == field && value.contains(&n))
    }

    /// FROM, TO, CC, BCC: RFC 3501 §6.4.4 matches "the envelope structure's" field, so
    /// besides the text as written (what clients type: a name, a part of an address),
    /// each address as ENVELOPE gives it, `mailbox@host`, with the comments and folding
    /// white space the header may have inside it gone: `<user (c)@ (c) example.org>`
    /// is found by `user@example.org`, as Dovecot finds it.
    fn address_has(&mut self, field: &str, s: &[u8]) -> bool {
        if self.header_has(field, s) {
            return true;
        }
        let n = needle(s);
        // Only an address can differ from the text as written, and only a needle with an
        // `@` spans both of its halves; each half must be somewhere in the field.
        let Some((local, domain)) = n.split_once('@') else {
            return false;
        };
        let Some(block) = self.block() else {
            return false;
        };
        let raw = self.raw.get_or_insert_with(|| raw_fields(&block));
        raw.iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(field))
            .filter(|(_, value)| raw_contains(value, local) && raw_contains(value, domain))
            .filter_map(|(_, value)| crate::mime::address::address_list(value))
            .flatten()
            .any(|entry| match entry {
                crate::mime::address::Entry::Mailbox { mailbox, host, .. } => {
                    let mut spec = mailbox;
                    spec.push(b'@');
                    spec.extend_from_slice(&host);
                    raw_contains(&spec, &n)
                }
                _ => false,
            })
    }

    /// TEXT: the header as written (unfolded) or decoded, or the decoded body.
    fn text_has(&mut self, s: &[u8]) -> bool {
        let n = needle(s);
        if let Some(block) = self.block() {
            // Unfolding matters only to a needle that could span a fold.
            let hit = if n.contains(char::is_whitespace) {
                raw_contains(&unfold(&block), &n)
            } else {
                raw_contains(&block, &n)
            };
            if hit {
                return true;
            }
        }
        self.info()
            .is_some_and(|i| i.text.contains(&n) || i.headers.iter().any(|(_, v)| v.contains(&n)))
    }

    /// Seconds from the internal date to the start of the search (negative if the date
    /// is in the future, which makes such a message YOUNGER than any interval).
    fn age(&self) -> i64 {
        self.now - self.meta().internal_date.timestamp()
    }

    fn has(&self, f: &Flag) -> bool {
        self.meta().flags.contains(f)
    }

    fn keyword(&self, k: &str) -> bool {
        self.meta()
            .flags
            .iter()
            .any(|f| matches!(f, Flag::Keyword(x) if x.eq_ignore_ascii_case(k)))
    }

    fn in_set(&self, set: &SequenceSet, uid: bool) -> bool {
        if uid {
            set.contains(self.meta().uid, self.largest_uid)
        } else {
            set.contains(self.pos as u32 + 1, self.n as u32)
        }
    }

    fn eval(&mut self, key: &SearchKey) -> bool {
        use SearchKey as K;
        let date = self.meta().internal_date.date_naive();
        let recent = self.sel.recent.contains(&self.meta().uid);
        match key {
            K::All => true,
            K::Answered => self.has(&Flag::Answered),
            K::Deleted => self.has(&Flag::Deleted),
            K::Draft => self.has(&Flag::Draft),
            K::Flagged => self.has(&Flag::Flagged),
            K::Seen => self.has(&Flag::Seen),
            K::Unanswered => !self.has(&Flag::Answered),
            K::Undeleted => !self.has(&Flag::Deleted),
            K::Undraft => !self.has(&Flag::Draft),
            K::Unflagged => !self.has(&Flag::Flagged),
            K::Unseen => !self.has(&Flag::Seen),
            K::Recent => recent,
            K::New => recent && !self.has(&Flag::Seen),
            K::Old => !recent,
            K::Keyword(k) => self.keyword(k),
            K::Unkeyword(k) => !self.keyword(k),
            K::Larger(n) => self.meta().size > u64::from(*n),
            K::Smaller(n) => self.meta().size < u64::from(*n),
            K::Older(n) => self.age() >= i64::from(*n),
            K::Younger(n) => self.age() < i64::from(*n),
            K::ModSeq(n) => self.meta().modseq >= *n,
            K::Before(d) => date < *d,
            K::On(d) => date == *d,
            K::Since(d) => date >= *d,
            K::SentBefore(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s < *d),
            K::SentOn(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s == *d),
            K::SentSince(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s >= *d),
            K::From(s) => self.address_has("from", s),
            K::To(s) => self.address_has("to", s),
            K::Cc(s) => self.address_has("cc", s),
            K::Bcc(s) => self.address_has("bcc", s),
            K::Subject(s) => self.header_has("subject", s),
            K::Header(f, s) => self.header_has(f, s),
            K::Body(s) => {
                let n = needle(s);
                self.info().is_some_and(|i| i.text.contains(&n))
            }
            K::Text(s) => self.text_has(s),
            K::Uid(set) => self.in_set(set, true),
            K::SequenceSet(set) => self.in_set(set, false),
            K::Not(k) => !self.eval(k),
            K::Or(a, c) => self.eval(a) || self.eval(c),
            K::And(keys) => keys.iter().all(|k| self.eval(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_fields_unfold_and_keep_the_text_as_written() {
        let block = b"Message-ID: <a@b>\r\n\
Content-Type: text/plain;\r\n\tcharset=\"utf-8\"\r\n\
Subject :obsolete space\r\n\
X-Empty:\r\n\
X-Later:\r\n  on the next line\r\n\
not a field\r\n\
 stray continuation\r\n\
To: bare@lf\n  folded\n\
\r\n\
Body: not a field\r\n";
        let fields: Vec<(String, String)> = raw_fields(block)
            .into_iter()
            .map(|(n, v)| (n, String::from_utf8(v).unwrap()))
            .collect();
        let want = [
            ("message-id", "<a@b>"),
            ("content-type", "text/plain;\tcharset=\"utf-8\""),
            ("subject", "obsolete space"),
            ("x-empty", ""),
            ("x-later", "on the next line"),
            ("to", "bare@lf  folded"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(fields, want);
    }

    #[test]
    fn named_fields_read_as_raw_fields_read_them() {
        let block = b"Message-ID: <a@b>\r\n\
Content-Type: text/plain;\r\n\tcharset=\"utf-8\"\r\n\
Subject :obsolete space\r\n\
X-Later:\r\n  on the next line\r\n\
subject: second, ignored\r\n\
To: bare@lf\n  folded\n\
\r\n\
Body: not a field\r\n";
        let names = ["to", "SUBJECT", "content-type", "x-later", "body", "x-none"];
        let raw = raw_fields(block);
        let want: Vec<Option<Vec<u8>>> = names
            .iter()
            .map(|n| {
                raw.iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(n))
                    .map(|(_, v)| v.clone())
            })
            .collect();
        let got: Vec<Option<Vec<u8>>> = raw_fields_named(block, &names)
            .into_iter()
            .map(|v| v.map(Cow::into_owned))
            .collect();
        assert_eq!(got, want);
        assert_eq!(got[1].as_deref(), Some(&b"obsolete space"[..]));
        assert_eq!(got[4], None);
    }

    #[test]
    fn unfold_removes_only_line_breaks_before_white_space() {
        let table: [(&[u8], &[u8]); 5] = [
            (b"a\r\n b", b"a b"),
            (b"a\r\n\tb", b"a\tb"),
            (b"a\n b", b"a b"),
            (b"a\r\nb: c\r\n", b"a\r\nb: c\r\n"),
            (b"", b""),
        ];
        for (input, want) in table {
            assert_eq!(unfold(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn raw_text_matches_in_any_case_and_in_utf_8() {
        assert!(raw_contains(b"<ID@Host>", "<id@host>"));
        assert!(raw_contains(b"anything", ""));
        assert!(raw_contains("Grüße".as_bytes(), "grüße"));
        assert!(!raw_contains(b"Grusse", "grüße"));
    }
}
