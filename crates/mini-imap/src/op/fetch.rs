//! FETCH and UID FETCH (RFC 3501 §6.4.5, §7.4.2).
//!
//! Retrieval keeps the message: a FETCH of `BODY[...]`, `RFC822` or `RFC822.TEXT` only
//! adds `\Seen` (and reports the new FLAGS); `BODY.PEEK[...]` and a read-only (EXAMINE)
//! session change nothing.
//!
//! Message data always goes out as a literal (`{n}\r\n...`), see [`write_message_data`];
//! a section the message does not have is empty (`{0}\r\n`), as Dovecot answers it:
//! RFC 3501 defines no NIL for message data.

use std::borrow::Cow;

use crate::command::{FetchAttr, Section, SectionText, SequenceSet};
use crate::response::{tagged, write_fetch_attr, write_literal_crlf, write_message_data};
use crate::session::{Selected, mark_seen};
use yubin_store::{Flag, StoreError};

/// Formats an internal date as `date-time` (RFC 3501 §9): `"17-Jul-1996 02:44:25 -0700"`.
pub fn internal_date(d: &chrono::DateTime<chrono::FixedOffset>) -> String {
    d.format("\"%d-%b-%Y %H:%M:%S %z\"").to_string()
}

/// How much response a FETCH builds before the connection sends it: `1:* BODY[]` on a
/// large mailbox is answered in pieces of about this size, never held in memory whole.
pub const FETCH_CHUNK: usize = 256 * 1024;

/// A FETCH in progress, answered message by message (RFC 3501 §6.4.5, §7.4.2).
#[derive(Debug)]
pub struct FetchJob {
    tag: String,
    uid: bool,
    items: Vec<FetchAttr>,
    positions: Vec<usize>,
    next: usize,
    failures: u32,
    needs_raw: bool,
    /// Every item that needs the bytes wants the whole message as it is (BODY[],
    /// RFC822): they are read as stored and made CRLF while copied into the response.
    whole_only: bool,
    sets_seen: bool,
    /// New flags of the messages this FETCH marked `\Seen`, reported with each.
    seen: std::collections::HashMap<u32, yubin_store::Flags>,
}

/// Starts a FETCH (`uid` for UID FETCH); `None` when the request was answered at once
/// (a bad sequence set gets its `BAD` in `b`).
pub fn start(
    sel: &Selected,
    tag: &str,
    uid: bool,
    set: &SequenceSet,
    items: &[FetchAttr],
    b: &mut Vec<u8>,
) -> Option<FetchJob> {
    let positions = match super::resolve(sel, set, uid) {
        Ok(p) => p,
        Err(why) => {
            tagged(b, tag, "BAD", None, why);
            return None;
        }
    };
    let mut items: Vec<FetchAttr> = items.to_vec();
    // RFC 3501 §6.4.8: UID FETCH always reports the UID.
    if uid && !items.contains(&FetchAttr::Uid) {
        items.insert(0, FetchAttr::Uid);
    }
    let needs_raw = items.iter().any(|i| {
        matches!(
            i,
            FetchAttr::Envelope
                | FetchAttr::BodyStructure
                | FetchAttr::Body
                | FetchAttr::BodySection { .. }
                | FetchAttr::Rfc822
                | FetchAttr::Rfc822Header
                | FetchAttr::Rfc822Text
        )
    });
    let sets_seen = !sel.read_only && items.iter().any(FetchAttr::sets_seen);
    let whole_only = items.iter().all(|i| match i {
        FetchAttr::Rfc822 => true,
        FetchAttr::BodySection {
            section,
            partial: None,
            ..
        } => is_whole(section),
        FetchAttr::Envelope
        | FetchAttr::BodyStructure
        | FetchAttr::Body
        | FetchAttr::BodySection { .. }
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text => false,
        _ => true,
    });
    Some(FetchJob {
        tag: tag.to_owned(),
        uid,
        items,
        positions,
        next: 0,
        failures: 0,
        needs_raw,
        whole_only,
        sets_seen,
        seen: std::collections::HashMap::new(),
    })
}

impl FetchJob {
    /// Writes responses into `b` until it holds `budget` bytes or every message is
    /// answered; returns true when done (the tagged completion is then written too).
    pub fn step(&mut self, sel: &mut Selected, b: &mut Vec<u8>, budget: usize) -> bool {
        if self.sets_seen {
            // RFC 3501 §6.4.5: a body FETCH sets \Seen. Every message of the request is
            // marked in one change (one durable write), before the first is sent.
            self.sets_seen = false;
            let unseen: Vec<u32> = self
                .positions
                .iter()
                .filter(|&&p| !sel.flags(p).contains(&Flag::Seen))
                .map(|&p| sel.uid(p))
                .collect();
            if !unseen.is_empty()
                && let Some(changed) = mark_seen(&sel.mailbox, &unseen)
            {
                sel.reported_own(&changed);
                self.seen = changed.flags.into_iter().collect();
            }
        }
        while self.next < self.positions.len() {
            let pos = self.positions[self.next];
            self.next += 1;
            self.write_one(sel, pos, b);
            if b.len() >= budget && self.next < self.positions.len() {
                return false;
            }
        }
        self.complete(b);
        true
    }

    /// One `* n FETCH (...)` response.
    fn write_one(&mut self, sel: &mut Selected, pos: usize, b: &mut Vec<u8>) {
        let meta_uid = sel.uid(pos);
        let Some(mut meta) = sel.meta(pos) else {
            return;
        };
        let read = if self.whole_only {
            yubin_store::Mailbox::read_stored
        } else {
            yubin_store::Mailbox::read
        };
        let raw = if self.needs_raw {
            match read(&sel.mailbox, meta_uid) {
                Ok(raw) => Some(raw),
                // Expunged by another session since our snapshot: nothing to show
                // (RFC 3501 §7.4.1 lets the server skip it; the EXPUNGE comes later).
                Err(StoreError::NoSuchMessage(_)) => return,
                Err(e) => {
                    tracing::warn!(error = %e, uid = meta_uid, "cannot read message");
                    self.failures += 1;
                    return;
                }
            }
        } else {
            None
        };
        let mut flags_changed = false;
        if let Some(flags) = self.seen.remove(&meta_uid) {
            meta.flags = flags;
            flags_changed = true;
        }
        // The MIME structure is parsed only when an item needs it: the whole message
        // (BODY[], RFC822) is the stored bytes as they are, and parsing a large message
        // (decoding its attachments) costs far more than sending it.
        let info = raw
            .as_ref()
            .filter(|_| self.items.iter().any(needs_structure))
            .map(|raw| sel.cache.get(sel.uid_validity, meta_uid, raw));
        let meta = &meta;
        b.extend_from_slice(format!("* {} FETCH (", pos + 1).as_bytes());
        let mut first = true;
        let mut sep = |b: &mut Vec<u8>| {
            if !first {
                b.push(b' ');
            }
            first = false;
        };
        for item in &self.items {
            sep(b);
            match item {
                FetchAttr::Uid => b.extend_from_slice(format!("UID {}", meta.uid).as_bytes()),
                FetchAttr::Flags => b.extend_from_slice(
                    format!("FLAGS {}", sel.flag_list(meta.uid, &meta.flags)).as_bytes(),
                ),
                FetchAttr::InternalDate => b.extend_from_slice(
                    format!("INTERNALDATE {}", internal_date(&meta.internal_date)).as_bytes(),
                ),
                FetchAttr::Rfc822Size => {
                    b.extend_from_slice(format!("RFC822.SIZE {}", meta.size).as_bytes())
                }
                FetchAttr::Envelope => {
                    b.extend_from_slice(b"ENVELOPE ");
                    if let Some(info) = &info {
                        b.extend_from_slice(&info.envelope);
                    }
                }
                FetchAttr::BodyStructure => {
                    b.extend_from_slice(b"BODYSTRUCTURE ");
                    if let Some(info) = &info {
                        b.extend_from_slice(&info.bodystructure);
                    }
                }
                FetchAttr::Body => {
                    b.extend_from_slice(b"BODY ");
                    if let Some(info) = &info {
                        b.extend_from_slice(&info.body);
                    }
                }
                FetchAttr::Rfc822 | FetchAttr::Rfc822Header | FetchAttr::Rfc822Text => {
                    let (name, text) = match item {
                        FetchAttr::Rfc822 => ("RFC822 ", None),
                        FetchAttr::Rfc822Header => ("RFC822.HEADER ", Some(SectionText::Header)),
                        _ => ("RFC822.TEXT ", Some(SectionText::Text)),
                    };
                    b.extend_from_slice(name.as_bytes());
                    let section = Section { part: vec![], text };
                    if let Some(stored) = raw.as_ref().filter(|r| r.len() as u64 != meta.size)
                        && is_whole(&section)
                    {
                        write_literal_crlf(b, stored);
                        continue;
                    }
                    let data = match (&info, &raw) {
                        (_, Some(raw)) if is_whole(&section) => Some(Cow::Borrowed(&raw[..])),
                        (Some(info), Some(raw)) => info.section(raw, &section),
                        _ => None,
                    };
                    write_message_data(b, data.as_deref().unwrap_or_default());
                }
                FetchAttr::BodySection {
                    section, partial, ..
                } => {
                    // The response names the section without .PEEK, and a partial by
                    // its origin only (§7.4.2: `BODY[]<0>`).
                    write_fetch_attr(
                        b,
                        &FetchAttr::BodySection {
                            section: section.clone(),
                            partial: *partial,
                            peek: false,
                        },
                        false,
                    );
                    b.push(b' ');
                    if let Some(stored) = raw.as_ref().filter(|r| r.len() as u64 != meta.size)
                        && is_whole(section)
                        && partial.is_none()
                    {
                        write_literal_crlf(b, stored);
                        continue;
                    }
                    let data = match (&info, &raw) {
                        (_, Some(raw)) if is_whole(section) => Some(Cow::Borrowed(&raw[..])),
                        (Some(info), Some(raw)) => info.section(raw, section),
                        _ => None,
                    };
                    let data = data.as_deref().map(|d| match partial {
                        Some((origin, count)) => {
                            let start = (*origin as usize).min(d.len());
                            let end = start.saturating_add(*count as usize).min(d.len());
                            &d[start..end]
                        }
                        None => d,
                    });
                    write_message_data(b, data.unwrap_or_default());
                }
            }
        }
        if flags_changed && !self.items.contains(&FetchAttr::Flags) {
            sep(b);
            b.extend_from_slice(
                format!("FLAGS {}", sel.flag_list(meta.uid, &meta.flags)).as_bytes(),
            );
        }
        b.extend_from_slice(b")\r\n");
    }

    fn complete(&self, b: &mut Vec<u8>) {
        let command = if self.uid { "UID FETCH" } else { "FETCH" };
        let tag = self.tag.as_str();
        if self.failures > 0 {
            tagged(
                b,
                tag,
                "NO",
                Some(&crate::response::Code::ServerBug),
                &format!("{command}: some messages could not be read"),
            );
        } else {
            tagged(b, tag, "OK", None, &format!("{command} completed"));
        }
    }
}

/// `BODY[]`: the whole message, no part, no header/text selection.
fn is_whole(section: &Section) -> bool {
    section.part.is_empty() && section.text.is_none()
}

/// Whether a fetch item needs the message's MIME structure ([`crate::mime::MessageInfo`]).
fn needs_structure(item: &FetchAttr) -> bool {
    match item {
        FetchAttr::Envelope
        | FetchAttr::BodyStructure
        | FetchAttr::Body
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text => true,
        FetchAttr::BodySection { section, .. } => !is_whole(section),
        _ => false,
    }
}
