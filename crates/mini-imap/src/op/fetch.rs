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

use crate::capability::Enabled;
use crate::command::{FetchAttr, Section, SectionText, SequenceSet};
use crate::response::{Code, Completion, Data, FetchItem, MessageData, Responses, SectionName};
use crate::selected::Selected;
use yubin_store::{Flag, FlagOp, Flags, Mailbox, StoreError};

/// How much response a FETCH builds before the connection sends it: `1:* BODY[]` on a
/// large mailbox is answered in pieces of about this size, never held in memory whole.
pub const FETCH_CHUNK: usize = 256 * 1024;

/// A FETCH in progress, answered message by message (RFC 3501 §6.4.5, §7.4.2).
#[derive(Debug)]
pub struct FetchJob {
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
    /// The modseq the `\Seen` change gave them.
    seen_modseq: u64,
    /// CONDSTORE is on: flags go out with the UID and MODSEQ (RFC 7162 §3.1).
    condstore: bool,
    /// A BINARY item met a content-transfer-encoding it cannot undo (RFC 3516 §4.3).
    unknown_cte: Option<String>,
}

/// The parts of a FETCH command that say what to send.
#[derive(Debug, Clone, Copy)]
pub struct FetchArgs<'a> {
    /// UID FETCH: the set holds UIDs, and every response carries the UID.
    pub uid: bool,
    /// Which messages.
    pub set: &'a SequenceSet,
    /// The data items.
    pub items: &'a [FetchAttr],
    /// `(CHANGEDSINCE n)` (RFC 7162 §3.1.4.1).
    pub changed_since: Option<u64>,
    /// `(VANISHED)` (RFC 7162 §3.2.6); the session has checked that it may be asked.
    pub vanished: bool,
}

/// Starts a FETCH; `Err` when the request is answered at once (a bad sequence set is
/// `BAD`). With VANISHED, the UIDs of the set expunged since CHANGEDSINCE go out first
/// as `* VANISHED (EARLIER)` (RFC 7162 §3.2.6).
pub fn start(
    sel: &Selected,
    args: FetchArgs<'_>,
    enabled: Enabled,
    out: &mut Responses,
) -> Result<FetchJob, Completion> {
    let uid = args.uid;
    let positions = match args.changed_since {
        Some(since) => super::changed_since(sel, args.set, uid, since),
        None => super::resolve(sel, args.set, uid),
    }
    .map_err(Completion::bad)?;
    let mut items: Vec<FetchAttr> = args.items.to_vec();
    // RFC 3501 §6.4.8: UID FETCH always reports the UID.
    if uid && !items.contains(&FetchAttr::Uid) {
        items.insert(0, FetchAttr::Uid);
    }
    // RFC 7162 §3.1.4.1: with CHANGEDSINCE only messages changed since (above), each
    // with its MODSEQ (below); §3.2.6: with VANISHED first the UIDs gone since.
    if let Some(since) = args.changed_since
        && args.vanished
    {
        let gone = super::vanished(&sel.view, args.set, sel.largest_uid(), since);
        if !gone.0.is_empty() {
            out.data(Data::Vanished {
                earlier: true,
                uids: gone,
            });
        }
    }
    let wants_modseq =
        args.changed_since.is_some() || (enabled.condstore() && items.contains(&FetchAttr::Flags));
    if wants_modseq && !items.contains(&FetchAttr::ModSeq) {
        items.push(FetchAttr::ModSeq);
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
                | FetchAttr::Binary { .. }
                | FetchAttr::BinarySize(_)
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
        | FetchAttr::Rfc822Text
        | FetchAttr::Binary { .. }
        | FetchAttr::BinarySize(_) => false,
        _ => true,
    });
    Ok(FetchJob {
        uid,
        items,
        positions,
        next: 0,
        failures: 0,
        needs_raw,
        whole_only,
        sets_seen,
        seen: std::collections::HashMap::new(),
        seen_modseq: 0,
        condstore: enabled.condstore(),
        unknown_cte: None,
    })
}

impl FetchJob {
    /// Writes responses into `out` until it holds `budget` bytes or every message is
    /// answered; returns the completion when done, `None` while more is to come.
    pub fn step(
        &mut self,
        sel: &mut Selected,
        out: &mut Responses,
        budget: usize,
    ) -> Option<Completion> {
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
                self.seen_modseq = changed.modseq;
                self.seen = changed.flags.into_iter().collect();
            }
        }
        while self.next < self.positions.len() {
            let pos = self.positions[self.next];
            self.next += 1;
            self.write_one(sel, pos, out);
            if out.len() >= budget && self.next < self.positions.len() {
                return None;
            }
        }
        Some(self.completion())
    }

    /// One `* n FETCH (...)` response.
    fn write_one(&mut self, sel: &mut Selected, pos: usize, out: &mut Responses) {
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
            meta.modseq = self.seen_modseq;
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
        // The octets of the message data items first: the response borrows them.
        let mut unknown_cte = None;
        let octets: Vec<Option<Octets<'_>>> = self
            .items
            .iter()
            .map(|item| {
                let (part, partial) = match item {
                    FetchAttr::Binary { part, partial, .. } => (part, *partial),
                    FetchAttr::BinarySize(part) => (part, None),
                    _ => (&Vec::new(), None),
                };
                if matches!(item, FetchAttr::Binary { .. } | FetchAttr::BinarySize(_)) {
                    return match binary_data(raw.as_deref(), info.as_deref(), part, partial) {
                        Ok(octets) => Some(octets),
                        Err(cte) => {
                            unknown_cte = Some(cte.0);
                            None
                        }
                    };
                }
                let (section, partial) = match item {
                    FetchAttr::Rfc822 => (Section::default(), None),
                    FetchAttr::Rfc822Header => (
                        Section {
                            part: vec![],
                            text: Some(SectionText::Header),
                        },
                        None,
                    ),
                    FetchAttr::Rfc822Text => (
                        Section {
                            part: vec![],
                            text: Some(SectionText::Text),
                        },
                        None,
                    ),
                    FetchAttr::BodySection {
                        section, partial, ..
                    } => (section.clone(), *partial),
                    _ => return None,
                };
                Some(section_data(
                    raw.as_deref(),
                    info.as_deref(),
                    &section,
                    partial,
                ))
            })
            .collect();
        if let Some(cte) = unknown_cte {
            if flags_changed {
                // The \Seen this FETCH set up front is taken back: the request failed.
                let seen: Flags = [Flag::Seen].into_iter().collect();
                match sel.mailbox.set_flags_unchanged_since(
                    &[meta_uid],
                    FlagOp::Remove,
                    &seen,
                    None,
                ) {
                    Ok(changed) => sel.reported_own(&changed),
                    Err(e) => tracing::warn!(error = %e, "could not take back \\Seen"),
                }
            }
            // RFC 3516 §4.3: "If the server does not know how to decode the section's
            // CTE, it MUST fail the request": this message is not answered, the FETCH
            // ends in NO [UNKNOWN-CTE].
            self.unknown_cte = Some(cte);
            return;
        }
        let mut items = Vec::with_capacity(self.items.len() + 1);
        for (item, octets) in self.items.iter().zip(&octets) {
            let decoded = || octets.as_ref().map_or(&[][..], Octets::bytes);
            let data = || {
                octets
                    .as_ref()
                    .map_or(MessageData::Wire(&[]), |o| o.lend(meta.size))
            };
            items.push(match item {
                FetchAttr::Uid => FetchItem::Uid(meta.uid),
                FetchAttr::Flags => FetchItem::Flags(sel.flag_list(meta.uid, &meta.flags)),
                FetchAttr::InternalDate => FetchItem::InternalDate(&meta.internal_date),
                FetchAttr::Rfc822Size => FetchItem::Rfc822Size(meta.size),
                FetchAttr::ModSeq => FetchItem::ModSeq(meta.modseq),
                FetchAttr::Envelope => {
                    FetchItem::Envelope(info.as_ref().map_or(&[][..], |i| &i.envelope))
                }
                FetchAttr::BodyStructure => {
                    FetchItem::BodyStructure(info.as_ref().map_or(&[][..], |i| &i.bodystructure))
                }
                FetchAttr::Body => FetchItem::Body(info.as_ref().map_or(&[][..], |i| &i.body)),
                FetchAttr::Rfc822 => FetchItem::Section {
                    name: SectionName::Rfc822,
                    data: data(),
                },
                FetchAttr::Rfc822Header => FetchItem::Section {
                    name: SectionName::Rfc822Header,
                    data: data(),
                },
                FetchAttr::Rfc822Text => FetchItem::Section {
                    name: SectionName::Rfc822Text,
                    data: data(),
                },
                FetchAttr::BodySection {
                    section, partial, ..
                } => FetchItem::Section {
                    name: SectionName::Body {
                        section,
                        origin: partial.map(|(origin, _)| origin),
                    },
                    data: data(),
                },
                FetchAttr::Binary { part, partial, .. } => FetchItem::Binary {
                    part,
                    origin: partial.map(|(origin, _)| origin),
                    data: decoded(),
                },
                FetchAttr::BinarySize(part) => FetchItem::BinarySize {
                    part,
                    size: decoded().len() as u64,
                },
            });
        }
        if flags_changed && !self.items.contains(&FetchAttr::Flags) {
            // The \Seen this FETCH set is reported with it (RFC 3501 §6.4.5), with CONDSTORE
            // as any flag change is: with the UID and the new MODSEQ (RFC 7162 §3.1).
            items.push(FetchItem::Flags(sel.flag_list(meta.uid, &meta.flags)));
            if self.condstore {
                if !self.items.contains(&FetchAttr::Uid) {
                    items.push(FetchItem::Uid(meta.uid));
                }
                if !self.items.contains(&FetchAttr::ModSeq) {
                    items.push(FetchItem::ModSeq(meta.modseq));
                }
            }
        }
        out.data(Data::Fetch {
            seq: pos as u32 + 1,
            items,
        });
    }

    fn completion(&self) -> Completion {
        let command = if self.uid { "UID FETCH" } else { "FETCH" };
        if let Some(cte) = &self.unknown_cte {
            Completion::no(
                Code::UnknownCte,
                format!("{command}: cannot decode content-transfer-encoding {cte}"),
            )
        } else if self.failures > 0 {
            Completion::no(
                Code::ServerBug,
                format!("{command}: some messages could not be read"),
            )
        } else {
            Completion::done(command)
        }
    }
}

/// The octets of one message data item, borrowed from the message where they can be.
enum Octets<'a> {
    /// The whole message as stored (its lines may end in a bare LF).
    Stored(&'a [u8]),
    /// A section, possibly made for the response (a header subset, a decoded part).
    Wire(Cow<'a, [u8]>),
}

impl Octets<'_> {
    /// The octets as they are.
    fn bytes(&self) -> &[u8] {
        match self {
            Octets::Stored(d) => d,
            Octets::Wire(d) => d,
        }
    }

    /// The data as a FETCH item carries it. A stored message whose size on disk is its
    /// wire size already has CRLF line ends and is sent as it is.
    fn lend(&self, wire_size: u64) -> MessageData<'_> {
        match self {
            Octets::Stored(d) if d.len() as u64 != wire_size => MessageData::Stored(d),
            Octets::Stored(d) => MessageData::Wire(d),
            Octets::Wire(d) => MessageData::Wire(d),
        }
    }
}

/// The octets of `section` of the message `raw` (with `<origin.count>` applied): a
/// section the message does not have is empty, as Dovecot answers it.
fn section_data<'a>(
    raw: Option<&'a [u8]>,
    info: Option<&'a crate::mime::MessageInfo>,
    section: &Section,
    partial: Option<(u32, u32)>,
) -> Octets<'a> {
    let Some(raw) = raw else {
        return Octets::Wire(Cow::Borrowed(&[]));
    };
    if is_whole(section) && partial.is_none() {
        return Octets::Stored(raw);
    }
    let data = if is_whole(section) {
        Some(Cow::Borrowed(raw))
    } else {
        info.and_then(|info| info.section(raw, section))
    };
    Octets::Wire(partial_of(data.unwrap_or(Cow::Borrowed(&[])), partial))
}

/// `<origin.count>` of `data` (RFC 3501 §6.4.5): the octets from `origin`, at most
/// `count` of them; empty past the end. `None`: all of it.
fn partial_of(data: Cow<'_, [u8]>, partial: Option<(u32, u32)>) -> Cow<'_, [u8]> {
    let Some((origin, count)) = partial else {
        return data;
    };
    let start = (origin as usize).min(data.len());
    let end = start.saturating_add(count as usize).min(data.len());
    match data {
        Cow::Borrowed(d) => Cow::Borrowed(&d[start..end]),
        Cow::Owned(d) => Cow::Owned(d[start..end].to_vec()),
    }
}

/// The octets of `BINARY[part]` (RFC 3516 §4.2): the part's body with its
/// content-transfer-encoding undone, then `<origin.count>` applied to the decoded
/// octets. `BINARY[]` is the whole message (it has no encoding of its own to undo); a
/// part the message does not have is empty, as for BODY.
fn binary_data<'a>(
    raw: Option<&'a [u8]>,
    info: Option<&'a crate::mime::MessageInfo>,
    part: &[u32],
    partial: Option<(u32, u32)>,
) -> Result<Octets<'a>, crate::mime::cte::UnknownCte> {
    let (Some(raw), Some(info)) = (raw, info) else {
        return Ok(Octets::Wire(Cow::Borrowed(raw.unwrap_or_default())));
    };
    let data = if part.is_empty() {
        Cow::Borrowed(raw)
    } else {
        let body = Section {
            part: part.to_vec(),
            text: None,
        };
        let mime = Section {
            part: part.to_vec(),
            text: Some(SectionText::Mime),
        };
        // The part's own header; part 1 of a message that is not multipart is its body,
        // whose header is the message's (RFC 3501 §6.4.5).
        let header = info.section(raw, &mime).or_else(|| {
            (part == [1]).then(|| {
                let whole = Section {
                    part: vec![],
                    text: Some(SectionText::Header),
                };
                info.section(raw, &whole)
            })?
        });
        match (info.section(raw, &body), header) {
            (Some(body), Some(header)) => {
                let cte = crate::mime::cte::declared(&header);
                let quoted_printable = cte == "quoted-printable";
                match crate::mime::cte::decode(&cte, &body)? {
                    Cow::Borrowed(_) => body,
                    // RFC 3516 §6: textual sections go out with CRLF line ends whatever
                    // the storage: quoted-printable text's line breaks are the encoded
                    // text's own. Base64 carries the content's octets exactly, line
                    // ends included (a bare CR inside is data), so those go out as
                    // decoded, as Dovecot sends them (imaptest fetch-binary-mime-base64).
                    Cow::Owned(decoded)
                        if quoted_printable && crate::mime::cte::is_text(&header) =>
                    {
                        Cow::Owned(yubin_store::wire::to_crlf(&decoded).into_owned())
                    }
                    Cow::Owned(decoded) => Cow::Owned(decoded),
                }
            }
            _ => Cow::Borrowed(&[][..]),
        }
    };
    Ok(Octets::Wire(partial_of(data, partial)))
}

/// Adds `\Seen` to messages (a FETCH of bodies), in one change; returns what changed.
fn mark_seen(mailbox: &Mailbox, uids: &[u32]) -> Option<yubin_store::FlagsChanged> {
    let seen: Flags = [Flag::Seen].into_iter().collect();
    match mailbox.set_flags_unchanged_since(uids, FlagOp::Add, &seen, None) {
        Ok(changed) => Some(changed),
        Err(e) => {
            tracing::warn!(error = %e, count = uids.len(), "could not set \\Seen");
            None
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
        FetchAttr::Binary { part, .. } | FetchAttr::BinarySize(part) => !part.is_empty(),
        _ => false,
    }
}
