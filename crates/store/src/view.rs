//! The live view of one mailbox: what every session of every protocol reads.
//!
//! A [`View`] is an immutable snapshot. Its collections are persistent (`imbl`): taking a
//! snapshot is a reference-count increment, and applying a change copies only the few
//! tree nodes on the changed path, so a command costs what changed, not the size of the
//! mailbox, however many sessions hold older snapshots.
//!
//! Besides the messages, a view keeps the recent changes in modseq order, so a session
//! that last looked at modseq `m` learns what happened since with
//! [`View::changes_since`] instead of comparing whole mailboxes.

use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

use crate::backend::{Header, Loaded, Record};
use crate::{Flag, Flags, MailboxStatus, MessageMeta};

/// What the view keeps per message: 8 bytes of flags (shared among messages with the
/// same flags), and the numbers.
#[derive(Debug, Clone)]
struct Entry {
    flags: Arc<Flags>,
    modseq: u64,
    /// Internal date, seconds since the epoch (UTC).
    date: i64,
    size: u64,
}

/// What kind of change a [`Change`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The message was added.
    Added,
    /// Its flags changed.
    Flags,
    /// It was expunged.
    Expunged,
}

/// One change, in the order the store made it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The change's modseq.
    pub modseq: u64,
    /// The message.
    pub uid: u32,
    /// What happened to it.
    pub kind: ChangeKind,
}

/// A snapshot of one mailbox. Cheap to clone and to keep.
#[derive(Debug, Clone)]
pub struct View {
    pub(crate) name: Arc<str>,
    pub(crate) gone: bool,
    pub(crate) header: Header,
    messages: imbl::OrdMap<u32, Entry>,
    /// Every UID, ascending: what a session numbers its messages by, shared.
    seq: Uids,
    /// How many messages lack `\Seen`.
    unseen: u32,
    /// The sum of every message's size (IMAP `STATUS SIZE`, RFC 8438), kept as changes
    /// happen so STATUS reads no message.
    size: u64,
    /// The first of them, found when first asked and kept until a change (a set of them
    /// all would cost a restart more than the occasional scan costs SELECT).
    first_unseen: Arc<std::sync::OnceLock<Option<u32>>>,
    /// Messages at or above the `\Recent` boundary, kept as changes happen.
    recent: u32,
    changes: imbl::Vector<Change>,
    /// `changes` holds every change with a modseq above this.
    floor: u64,
    vanished: imbl::OrdMap<u32, u64>,
    /// Expunges at or below this modseq may be missing from `vanished` (it is bounded).
    vanished_floor: u64,
    /// Every keyword any message had since the mailbox was opened (IMAP `FLAGS`).
    keywords: imbl::OrdSet<String>,
}

/// How many expunged UIDs a mailbox remembers for QRESYNC (RFC 7162 §3.2.5.1); a
/// client further behind than that resynchronizes by UID instead.
pub const MAX_VANISHED: usize = 100_000;

/// Flag sets are shared: most messages of a mailbox have one of a handful.
#[derive(Default)]
pub(crate) struct Interner {
    sets: std::collections::HashMap<Flags, Arc<Flags>>,
    empty: Arc<Flags>,
}

impl Interner {
    /// Bounds the table; a mailbox with more distinct sets than this just shares less.
    const MAX: usize = 4096;

    fn get(&mut self, flags: &Flags) -> Arc<Flags> {
        if flags.is_empty() {
            return self.empty.clone();
        }
        if let Some(a) = self.sets.get(flags) {
            return a.clone();
        }
        if self.sets.len() >= Self::MAX {
            self.sets.clear();
        }
        let a = Arc::new(flags.clone());
        self.sets.insert(flags.clone(), a.clone());
        a
    }
}

fn to_date(secs: i64) -> DateTime<FixedOffset> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .unwrap_or_default()
        .fixed_offset()
}

impl View {
    /// The view of a freshly opened mailbox.
    pub(crate) fn new(name: &str, loaded: Loaded, interner: &mut Interner) -> View {
        let mut view = View {
            name: name.into(),
            gone: false,
            header: loaded.header,
            messages: imbl::OrdMap::new(),
            seq: Uids::default(),
            unseen: 0,
            size: 0,
            first_unseen: Arc::default(),
            recent: 0,
            changes: imbl::Vector::new(),
            floor: loaded.header.highest_modseq,
            vanished: loaded.vanished.into_iter().collect(),
            vanished_floor: 0,
            keywords: imbl::OrdSet::new(),
        };
        let mut unseen = 0u32;
        let mut size = 0u64;
        let mut keywords: std::collections::BTreeSet<String> = Default::default();
        let messages: imbl::OrdMap<u32, Entry> = loaded
            .messages
            .into_iter()
            .map(|m| {
                let known = m.flags.is_empty() || interner.sets.contains_key(&m.flags);
                let flags = interner.get(&m.flags);
                if !known {
                    for f in flags.iter() {
                        if let Flag::Keyword(k) = f {
                            keywords.insert(k.clone());
                        }
                    }
                }
                if !flags.contains(&Flag::Seen) {
                    unseen += 1;
                }
                size += m.size;
                let entry = Entry {
                    flags,
                    modseq: m.modseq,
                    date: m.internal_date.timestamp(),
                    size: m.size,
                };
                (m.uid, entry)
            })
            .collect();
        view.seq = Uids(messages.keys().copied().collect());
        view.messages = messages;
        view.unseen = unseen;
        view.size = size;
        view.recent = view.count_recent();
        view.keywords = keywords.into_iter().collect();
        view
    }

    fn note_keywords(&mut self, flags: &Flags) {
        for f in flags {
            if let Flag::Keyword(k) = f
                && !self.keywords.contains(k)
            {
                self.keywords.insert(k.clone());
            }
        }
    }

    fn insert(&mut self, m: &MessageMeta, interner: &mut Interner) {
        self.note_keywords(&m.flags);
        let entry = Entry {
            flags: interner.get(&m.flags),
            modseq: m.modseq,
            date: m.internal_date.timestamp(),
            size: m.size,
        };
        self.size += m.size;
        let was_unseen = match self.messages.insert(m.uid, entry) {
            Some(old) => {
                self.size = self.size.saturating_sub(old.size);
                !old.flags.contains(&Flag::Seen)
            }
            None => {
                if m.uid >= self.header.recent_from {
                    self.recent += 1;
                }
                self.seq.insert(m.uid);
                false
            }
        };
        match (was_unseen, m.flags.contains(&Flag::Seen)) {
            (true, true) => self.unseen = self.unseen.saturating_sub(1),
            (false, false) => self.unseen += 1,
            _ => {}
        }
    }

    /// Applies durable records (ascending modseq) and the header after them.
    pub(crate) fn apply(&mut self, header: Header, records: &[Record], interner: &mut Interner) {
        if !records.is_empty() {
            self.first_unseen = Arc::default();
        }
        // Many expunges at once are taken out of the sequence in one pass (removing from
        // the middle of a persistent vector one at a time rebalances it each time).
        let mut expunged: Vec<u32> = Vec::new();
        for r in records {
            let kind = match r {
                Record::Added(m) => {
                    self.insert(m, interner);
                    ChangeKind::Added
                }
                Record::Flags { uid, modseq, flags } => {
                    let Some(e) = self.messages.get_mut(uid) else {
                        continue;
                    };
                    let was_seen = e.flags.contains(&Flag::Seen);
                    e.flags = interner.get(flags);
                    e.modseq = *modseq;
                    match (was_seen, flags.contains(&Flag::Seen)) {
                        (true, false) => self.unseen += 1,
                        (false, true) => self.unseen = self.unseen.saturating_sub(1),
                        _ => {}
                    }
                    self.note_keywords(flags);
                    ChangeKind::Flags
                }
                Record::Expunged { uid, modseq } => {
                    if let Some(old) = self.messages.remove(uid) {
                        self.size = self.size.saturating_sub(old.size);
                        if !old.flags.contains(&Flag::Seen) {
                            self.unseen = self.unseen.saturating_sub(1);
                        }
                        expunged.push(*uid);
                        if *uid >= self.header.recent_from {
                            self.recent = self.recent.saturating_sub(1);
                        }
                    }
                    self.vanished.insert(*uid, *modseq);
                    if self.vanished.len() > MAX_VANISHED {
                        // Forget the oldest quarter (lowest UIDs: they went first, mostly).
                        while self.vanished.len() > MAX_VANISHED * 3 / 4 {
                            let Some(&(oldest, m)) = self.vanished.get_min() else {
                                break;
                            };
                            self.vanished.remove(&oldest);
                            self.vanished_floor = self.vanished_floor.max(m);
                        }
                    }
                    ChangeKind::Expunged
                }
            };
            self.changes.push_back(Change {
                modseq: r.modseq(),
                uid: r.uid(),
                kind,
            });
        }
        if expunged.len() <= 16 {
            for uid in expunged {
                self.seq.remove(uid);
            }
        } else {
            expunged.sort_unstable();
            self.seq.retain(|uid| expunged.binary_search(uid).is_err());
        }
        self.header.uid_next = self.header.uid_next.max(header.uid_next);
        self.header.highest_modseq = self.header.highest_modseq.max(header.highest_modseq);
        if header.recent_from != self.header.recent_from {
            self.header.recent_from = header.recent_from;
            self.recent = self.count_recent();
        }
        self.header.uid_validity = header.uid_validity;
        // Keep the change list about as long as the mailbox: a session further behind
        // than that compares UIDs instead (see `changes_since`).
        let cap = 1024 + 2 * self.messages.len();
        if self.changes.len() > cap {
            let drop = self.changes.len() - cap / 2;
            self.floor = self.changes[drop - 1].modseq;
            self.changes = self.changes.skip(drop);
            // Changes that share the floor's modseq must go too, or a session at the
            // floor would miss the rest of them.
            while self.changes.front().is_some_and(|c| c.modseq <= self.floor) {
                self.changes.pop_front();
            }
        }
    }

    fn count_recent(&self) -> u32 {
        if self.header.recent_from >= self.header.uid_next {
            return 0;
        }
        self.messages.range(self.header.recent_from..).count() as u32
    }

    /// The mailbox's name when the snapshot was taken.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The persistent numbers.
    pub fn header(&self) -> Header {
        self.header
    }

    /// RFC 7162 HIGHESTMODSEQ.
    pub fn highest_modseq(&self) -> u64 {
        self.header.highest_modseq
    }

    /// UIDVALIDITY, UIDNEXT and the counts, without looking at every message.
    pub fn status(&self) -> MailboxStatus {
        let recent = self.recent;
        MailboxStatus {
            uid_validity: self.header.uid_validity,
            uid_next: self.header.uid_next,
            messages: self.messages.len() as u32,
            unseen: self.unseen,
            recent,
            size: self.size,
            highest_modseq: self.header.highest_modseq,
        }
    }

    /// How many messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether `uid` is in the mailbox.
    pub fn contains(&self, uid: u32) -> bool {
        self.messages.contains_key(&uid)
    }

    /// One message's metadata.
    pub fn get(&self, uid: u32) -> Option<MessageMeta> {
        self.messages.get(&uid).map(|e| meta(uid, e))
    }

    /// One message's flags, borrowed.
    pub fn flags(&self, uid: u32) -> Option<&Flags> {
        self.messages.get(&uid).map(|e| &*e.flags)
    }

    /// One message's modseq.
    pub fn modseq(&self, uid: u32) -> Option<u64> {
        self.messages.get(&uid).map(|e| e.modseq)
    }

    /// Every UID, ascending.
    pub fn uids(&self) -> impl Iterator<Item = u32> + '_ {
        self.messages.keys().copied()
    }

    /// Every UID in ascending order, as a shared list a session can keep and change as
    /// its own numbering (RFC 3501 §2.3.1.2) without copying it.
    pub fn seq(&self) -> Uids {
        self.seq.clone()
    }

    /// The lowest UID without `\Seen` (SELECT's `[UNSEEN n]`).
    pub fn first_unseen(&self) -> Option<u32> {
        if self.unseen == 0 {
            return None;
        }
        *self.first_unseen.get_or_init(|| {
            self.messages
                .iter()
                .find(|(_, e)| !e.flags.contains(&Flag::Seen))
                .map(|(&uid, _)| uid)
        })
    }

    /// The UIDs above `uid`, ascending (the messages that arrived after it).
    pub fn uids_after(&self, uid: u32) -> impl Iterator<Item = u32> + '_ {
        self.messages
            .range(uid.saturating_add(1)..)
            .map(|(&u, _)| u)
            .filter(move |&u| u > uid)
    }

    /// The keywords messages of this mailbox have had (IMAP `FLAGS`, RFC 3501 §7.2.6),
    /// sorted.
    pub fn keywords(&self) -> impl Iterator<Item = &str> + '_ {
        self.keywords.iter().map(String::as_str)
    }

    /// Every message's UID and size, ascending UID (POP3's STAT, LIST and UIDL: no flag
    /// set is copied).
    pub fn sizes(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        self.messages.iter().map(|(&uid, e)| (uid, e.size))
    }

    /// Every message's metadata, ascending UID.
    pub fn iter(&self) -> impl Iterator<Item = MessageMeta> + '_ {
        self.messages.iter().map(|(&uid, e)| meta(uid, e))
    }

    /// The changes with a modseq above `modseq`, oldest first; `None` if the view no
    /// longer remembers that far back (compare UIDs and modseqs instead).
    pub fn changes_since(&self, modseq: u64) -> Option<impl Iterator<Item = Change> + '_> {
        if modseq < self.floor {
            return None;
        }
        // Modseqs ascend along the list: find the first one above `modseq`.
        let (mut lo, mut hi) = (0, self.changes.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.changes[mid].modseq <= modseq {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(self.changes.clone().slice(lo..).into_iter())
    }

    /// The modseq from which [`View::vanished_since`] is complete: expunges at or below
    /// it may have been forgotten (the record is bounded, `MAX_VANISHED`).
    pub fn vanished_known_since(&self) -> u64 {
        self.vanished_floor
    }

    /// Expunged UIDs with the modseq of their expunge, for UIDs the store still
    /// remembers (RFC 7162 §3.2.5.1 VANISHED), ascending UID.
    pub fn vanished_since(&self, modseq: u64) -> Vec<u32> {
        self.vanished
            .iter()
            .filter(|&(_, &m)| m > modseq)
            .map(|(&u, _)| u)
            .collect()
    }
}

/// Ascending UIDs: a message sequence (RFC 3501 §2.3.1.2), position `n - 1` holding
/// message `n`'s UID. A persistent vector: cloning it is a reference-count increment, and
/// each session's copy shares what it did not change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uids(imbl::Vector<u32>);

impl Uids {
    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The UID at 0-based position `pos`.
    pub fn get(&self, pos: usize) -> Option<u32> {
        self.0.get(pos).copied()
    }

    /// The last (largest) UID.
    pub fn last(&self) -> Option<u32> {
        self.0.back().copied()
    }

    /// Where `uid` is (`Ok`), or where it would go (`Err`).
    pub fn position(&self, uid: u32) -> Result<usize, usize> {
        self.0.binary_search(&uid)
    }

    /// The UIDs in order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }

    /// Adds a UID in its place (usually the end).
    pub fn insert(&mut self, uid: u32) {
        match self.0.back() {
            Some(&last) if last >= uid => {
                if let Err(at) = self.0.binary_search(&uid) {
                    self.0.insert(at, uid);
                }
            }
            _ => self.0.push_back(uid),
        }
    }

    /// Removes a UID if present.
    pub fn remove(&mut self, uid: u32) -> bool {
        match self.0.binary_search(&uid) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Keeps the UIDs for which `keep` holds (one pass, building the list anew).
    pub fn retain(&mut self, mut keep: impl FnMut(&u32) -> bool) {
        self.0 = self.0.iter().copied().filter(|u| keep(u)).collect();
    }
}

fn meta(uid: u32, e: &Entry) -> MessageMeta {
    MessageMeta {
        uid,
        flags: (*e.flags).clone(),
        internal_date: to_date(e.date),
        size: e.size,
        modseq: e.modseq,
    }
}
