//! The selected state (RFC 3501 §3): the mailbox a session has open, as the client knows
//! it — its numbering, what it was told of flags and keywords, and its search result.
//! Handlers in [`crate::op`] work on it; [`crate::op::updates`] brings it up to date.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use yubin_store::{Flag, Flags, Mailbox, MessageMeta, Uids, View};

use crate::mime::InfoCache;
use crate::response::{Code, Data, Responses};

/// A mailbox as the selected state sees it.
pub struct Selected {
    /// The store's handle.
    pub mailbox: Mailbox,
    /// EXAMINE (or a read-only SELECT): nothing may change.
    pub read_only: bool,
    /// UIDVALIDITY when selected.
    pub uid_validity: u32,
    /// Message `n` is `uids[n - 1]`: the numbering the client knows (RFC 3501 §2.3.1.2),
    /// ghosts included.
    pub uids: Uids,
    /// The store's view as of the last report to the client: flags, sizes and dates are
    /// read from it (shared with every other session, not copied).
    pub view: Arc<View>,
    /// Messages the store has expunged whose `EXPUNGE` the client has not been told yet
    /// (RFC 3501 §7.4.1 withholds it during FETCH, STORE and SEARCH): they keep their
    /// numbers, and what the session last knew of them.
    pub ghosts: BTreeMap<u32, MessageMeta>,
    /// Flag changes this session reported itself (STORE, FETCH setting `\Seen`), by UID
    /// and modseq, so the next report does not repeat them.
    pub own: BTreeMap<u32, u64>,
    /// UIDs that are `\Recent` in this session.
    pub recent: BTreeSet<u32>,
    /// IMAP4rev2 is enabled (RFC 9051 Appendix E item 12: "RECENT response on
    /// SELECT/EXAMINE, \Recent flag, RECENT STATUS, and SEARCH NEW items are now
    /// deprecated"): no `* n RECENT` and no `\Recent` in FLAGS. `recent` is still kept,
    /// for SEARCH RECENT, NEW and OLD.
    pub hide_recent: bool,
    /// The keywords the client has been told of in `FLAGS` (RFC 3501 §7.2.6). A keyword
    /// new to it is announced ([`Selected::announce`]) before any FETCH shows it; until
    /// then FETCH leaves it out ([`Selected::flag_list`]).
    pub keywords: BTreeSet<String>,
    /// ENVELOPE/BODYSTRUCTURE/section offsets per message.
    pub cache: InfoCache,
    /// The search result variable of RFC 5182 (`$`), as UIDs: empty until a
    /// `SEARCH RETURN (SAVE)`, and gone with the selection (SELECT, EXAMINE, CLOSE and
    /// UNSELECT start afresh). Expunged messages drop out when `$` is expanded
    /// ([`crate::op::expand_saved`]).
    pub saved: BTreeSet<u32>,
    /// Searches whose results are kept current for the client (RFC 5267 §4.3); they end
    /// with the selection.
    pub contexts: Vec<crate::op::context::UpdateContext>,
    /// Messages whose flag change a NOTIFY push did not say (the client did not ask for
    /// FlagChange, RFC 5465 §5.1): the next report that may, says it.
    pub deferred_flags: BTreeSet<u32>,
    /// Messages this session put in the mailbox itself (APPEND, COPY, MOVE): RFC 5465
    /// §5.2 "A FETCH response SHOULD NOT be generated for a new message created by the
    /// client on this particular connection".
    pub made_here: BTreeSet<u32>,
    /// New messages whose FETCH is still owed, with what to fetch: NOTIFY's
    /// `MessageNew` attributes (RFC 5465 §5.2) and those of update contexts they joined
    /// (§7), together ("These attributes SHOULD be combined into a single FETCH").
    pub owed_fetch: BTreeMap<u32, Vec<crate::command::FetchAttr>>,
}

impl std::fmt::Debug for Selected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Selected")
            .field("mailbox", &self.mailbox)
            .field("read_only", &self.read_only)
            .field("exists", &self.uids.len())
            .finish()
    }
}

impl Selected {
    /// Notes that message `uid` is owed a FETCH of `attrs` (with any owed already).
    pub fn owe_fetch(&mut self, uid: u32, attrs: &[crate::command::FetchAttr]) {
        let owed = self.owed_fetch.entry(uid).or_default();
        for a in attrs {
            if !owed.contains(a) {
                owed.push(a.clone());
            }
        }
    }

    /// How many messages the client knows of (EXISTS).
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    /// Whether the client knows of no message.
    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// The UID of the message at 0-based position `pos`.
    pub fn uid(&self, pos: usize) -> u32 {
        self.uids.get(pos).unwrap_or_default()
    }

    /// The largest UID the client knows of (what `*` means in a UID set).
    pub fn largest_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }

    /// What the session knows of the message at `pos`: from its view, or for a ghost
    /// what it knew before the message went.
    pub fn meta(&self, pos: usize) -> Option<MessageMeta> {
        let uid = self.uid(pos);
        self.view
            .get(uid)
            .or_else(|| self.ghosts.get(&uid).cloned())
    }

    /// The flags of the message at `pos` as the session knows them.
    pub fn flags(&self, pos: usize) -> Flags {
        let uid = self.uid(pos);
        match self.view.flags(uid) {
            Some(f) => f.clone(),
            None => self
                .ghosts
                .get(&uid)
                .map(|m| m.flags.clone())
                .unwrap_or_default(),
        }
    }

    /// The flags of message `uid` as this session reports them (`\Recent` included).
    ///
    /// A keyword the client has not been told of is left out: a client must not see one
    /// before `FLAGS` lists it (RFC 3501 §7.2.6). Handlers announce first, so this only
    /// happens when another session set it while a FETCH marked the message `\Seen`;
    /// the report at the end of that command announces it and sends the flags again
    /// ([`Selected::reported_own`] leaves such a change to it).
    pub fn flag_list(&self, uid: u32, flags: &Flags) -> Vec<String> {
        let mut parts: Vec<String> = flags
            .iter()
            .filter(|f| self.announced(f))
            .map(|f| f.to_string())
            .collect();
        if !self.hide_recent && self.recent.contains(&uid) {
            parts.push("\\Recent".into());
        }
        parts
    }

    /// Whether the client may be shown `flag`: a system flag, or a keyword it was told of.
    fn announced(&self, flag: &Flag) -> bool {
        match flag {
            Flag::Keyword(k) => self.keywords.contains(k),
            _ => true,
        }
    }

    /// Notes flags this session reported itself, so no later report repeats them; not
    /// those it could not show whole (a keyword not yet announced), which the next report
    /// sends.
    pub fn reported_own(&mut self, changed: &yubin_store::FlagsChanged) {
        if changed.modseq != 0 {
            for (uid, flags) in &changed.flags {
                if flags.iter().all(|f| self.announced(f)) {
                    self.own.insert(*uid, changed.modseq);
                }
            }
        }
    }

    /// Tells the client of keywords it does not know yet, before a FETCH shows them
    /// (RFC 3501 §7.2.6): an updated `FLAGS`, and for a writable mailbox the
    /// `PERMANENTFLAGS` that go with it. Writes nothing when every keyword is known.
    pub fn announce<'k>(
        &mut self,
        keywords: impl IntoIterator<Item = &'k str>,
        out: &mut Responses,
    ) {
        let mut new = false;
        for k in keywords {
            if !self.keywords.contains(k) {
                self.keywords.insert(k.to_owned());
                new = true;
            }
        }
        if new {
            self.tell_flags(out);
        }
    }

    /// `FLAGS` and `PERMANENTFLAGS` as they stand (RFC 3501 §7.2.6, §7.1): what SELECT
    /// says, and what is said again when a keyword is new to the client. A read-only
    /// mailbox's PERMANENTFLAGS, `()`, never changes, so only SELECT sends it.
    pub fn tell_flags(&self, out: &mut Responses) {
        out.data(Data::Flags(&self.keywords));
        if !self.read_only {
            out.info(
                Code::PermanentFlags {
                    keywords: self.keywords.iter().cloned().collect(),
                    writable: true,
                },
                "Flags permitted",
            );
        }
    }
}
