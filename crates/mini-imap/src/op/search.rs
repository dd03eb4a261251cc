//! SEARCH and UID SEARCH (RFC 3501 §6.4.4).
//!
//! String keys match case-insensitively as substrings of the decoded text: header
//! fields after RFC 2047 decoding, bodies after transfer and charset decoding (mail-parser
//! does both), so a Japanese subject sent as ISO-2022-JP encoded words is found by a
//! Japanese word sent in UTF-8.

use std::sync::Arc;

use crate::command::{SearchKey, SequenceSet};
use crate::mime::MessageInfo;
use crate::response::{Code, tagged};
use crate::session::Selected;
use yubin_store::{Flag, MessageMeta};

/// The charsets a SEARCH may name: UTF-8 and its subset US-ASCII.
const CHARSETS: [&str; 2] = ["UTF-8", "US-ASCII"];

/// Answers a SEARCH; `uid` for UID SEARCH.
pub fn search(
    sel: &mut Selected,
    tag: &str,
    uid: bool,
    charset: Option<&str>,
    criteria: &[SearchKey],
    b: &mut Vec<u8>,
) {
    let command = if uid { "UID SEARCH" } else { "SEARCH" };
    if let Some(c) = charset
        && !CHARSETS.iter().any(|ok| ok.eq_ignore_ascii_case(c))
    {
        return tagged(b, tag, "NO", Some(&Code::BadCharset), "Unsupported charset");
    }
    let key = SearchKey::And(criteria.to_vec());
    let n = sel.len();
    let largest_uid = sel.largest_uid();
    let mut hits = Vec::new();
    for pos in 0..n {
        let Some(meta) = sel.meta(pos) else { continue };
        let mut ctx = Ctx {
            sel,
            pos,
            n,
            largest_uid,
            meta,
            headers: None,
            info: None,
        };
        if ctx.eval(&key) {
            hits.push(if uid { ctx.meta.uid } else { pos as u32 + 1 });
        }
    }
    b.extend_from_slice(b"* SEARCH");
    for h in hits {
        b.extend_from_slice(format!(" {h}").as_bytes());
    }
    b.extend_from_slice(b"\r\n");
    tagged(b, tag, "OK", None, &format!("{command} completed"));
}

struct Ctx<'a> {
    sel: &'a mut Selected,
    pos: usize,
    n: usize,
    largest_uid: u32,
    meta: MessageMeta,
    /// The message's decoded header fields, once a key needed them.
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

    fn header_has(&mut self, field: &str, s: &[u8]) -> bool {
        let n = needle(s);
        let field = field.to_ascii_lowercase();
        let uid = self.meta().uid;
        let Ok(block) = self.sel.mailbox.header(uid) else {
            return false;
        };
        // Most messages do not match: when the raw header cannot hide the needle (no
        // encoded words, no 8-bit text, no folding inside the needle), a plain
        // case-insensitive scan rules the message out without decoding anything.
        if !n.is_empty()
            && n.is_ascii()
            && !n.contains(char::is_whitespace)
            && block.is_ascii()
            && memchr::memmem::find(&block, b"=?").is_none()
            && !contains_ignoring_ascii_case(&block, n.as_bytes())
        {
            return false;
        }
        if self.headers.is_none() {
            self.headers = Some(crate::mime::header_fields(&block));
        }
        self.headers.as_ref().is_some_and(|h| {
            h.iter()
                .any(|(name, value)| *name == field && value.contains(&n))
        })
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
            K::Before(d) => date < *d,
            K::On(d) => date == *d,
            K::Since(d) => date >= *d,
            K::SentBefore(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s < *d),
            K::SentOn(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s == *d),
            K::SentSince(d) => self.info().and_then(|i| i.sent).is_some_and(|s| s >= *d),
            K::From(s) => self.header_has("from", s),
            K::To(s) => self.header_has("to", s),
            K::Cc(s) => self.header_has("cc", s),
            K::Bcc(s) => self.header_has("bcc", s),
            K::Subject(s) => self.header_has("subject", s),
            K::Header(f, s) => self.header_has(f, s),
            K::Body(s) => {
                let n = needle(s);
                self.info().is_some_and(|i| i.text.contains(&n))
            }
            K::Text(s) => {
                let n = needle(s);
                self.info().is_some_and(|i| {
                    i.text.contains(&n) || i.headers.iter().any(|(_, v)| v.contains(&n))
                })
            }
            K::Uid(set) => self.in_set(set, true),
            K::SequenceSet(set) => self.in_set(set, false),
            K::Not(k) => !self.eval(k),
            K::Or(a, c) => self.eval(a) || self.eval(c),
            K::And(keys) => keys.iter().all(|k| self.eval(k)),
        }
    }
}
