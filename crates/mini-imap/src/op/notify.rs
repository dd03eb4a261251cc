//! NOTIFY (RFC 5465): the events a client asks to hear of, between commands as well as
//! during them, for the selected mailbox and for others.
//!
//! A successful `NOTIFY SET` leaves a [`Notify`] in the session. From then on the driver
//! waits on the session's watches between commands too ([`yubin_core::driver::Session::
//! pushes`]), and each time one fires (and after every command) the session asks:
//!
//! - for the selected mailbox, the usual report ([`super::updates::report`]), limited to
//!   the events asked for, and the `MessageNew` fetch attributes of new messages;
//! - for the other mailboxes watched, [`Notify::poll`]: a `STATUS` for each whose numbers
//!   changed in a way the client asked about (§5.1–§5.3), and a `LIST` for each name
//!   created, deleted, renamed (`OLDNAME`) or (un)subscribed (§5.4, §5.5).
//!
//! Changes are found as IDLE finds them: a mailbox's version says *that* it changed, its
//! view says what (so nothing is missed or told twice), and the account's name log says
//! what happened to names. The session's own changes are not told back (§5: "The server
//! SHOULD omit notifying the client if the event is caused by this client"): its name
//! changes are matched and dropped, and a mailbox it appended or copied to is looked at
//! again quietly ([`Notify::absorb`]).
//!
//! How many mailboxes one session may watch is a limit ([`MAX_NOTIFY_MAILBOXES`], set
//! with `ImapConfig::max_notify_mailboxes`): each costs an open mailbox with a file
//! watch. Past it `NOTIFY SET` is `NO [NOTIFICATIONOVERFLOW]`, and a set that grows past
//! it later (mailboxes created) ends with `* OK [NOTIFICATIONOVERFLOW]` and no more
//! notifications (§5.8).

use std::collections::{BTreeMap, BTreeSet};

use yubin_store::{
    Account, AccountWatch, ChangeKind, Mailbox, MailboxInfo, MailboxWatch, NameEvent, NameEvents,
    View,
};

use crate::capability::Enabled;
use crate::command::{CommandBody, FetchAttr, MailboxFilter, NotifyEvent, NotifySet, StatusItem};
use crate::mailbox_name::NameForm;
use crate::response::{Code, Completion, Data, Responses};
use crate::selected::Selected;

/// The events yubin reports, as `BADEVENT` lists them (RFC 5465 §3.1: the code "MUST
/// list names of all events supported by the server"). AnnotationChange and the
/// METADATA events are not: yubin has neither ANNOTATE nor METADATA.
pub const SUPPORTED_EVENTS: [&str; 5] = [
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
];

/// The most mailboxes one session's NOTIFY may watch, by default.
pub const MAX_NOTIFY_MAILBOXES: usize = 1000;

/// The message events asked for a mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageEvents {
    /// MessageNew (§5.2).
    pub new: bool,
    /// MessageExpunge (§5.3).
    pub expunge: bool,
    /// FlagChange (§5.1).
    pub flags: bool,
}

impl MessageEvents {
    fn any(self) -> bool {
        self.new || self.expunge || self.flags
    }

    fn union(self, o: MessageEvents) -> MessageEvents {
        MessageEvents {
            new: self.new || o.new,
            expunge: self.expunge || o.expunge,
            flags: self.flags || o.flags,
        }
    }
}

/// What the client asked of the selected mailbox (`SELECTED` or `SELECTED-DELAYED`).
#[derive(Debug, Clone)]
pub struct SelectedEvents {
    /// SELECTED-DELAYED (§6.1.2): expunges wait for a command that may carry them.
    pub delayed: bool,
    /// Which events.
    pub events: MessageEvents,
    /// What to FETCH for each new message (§5.2), in their PEEK forms.
    pub fetch: Vec<FetchAttr>,
}

/// Which mailboxes a group covers (RFC 5465 §6.2–§6.6), names in the store's form.
#[derive(Debug, Clone)]
enum Scope {
    /// Where mail is delivered: yubin delivers only to INBOX.
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

impl Scope {
    fn covers(&self, name: &str, subscribed: &BTreeSet<String>) -> bool {
        match self {
            Scope::Inboxes => name == yubin_store::name::INBOX,
            Scope::Personal => true,
            Scope::Subscribed => subscribed.contains(name),
            Scope::Subtree(tops) => tops.iter().any(|t| {
                name == t
                    || name
                        .strip_prefix(t.as_str())
                        .is_some_and(|rest| rest.starts_with(super::list::DELIMITER))
            }),
            Scope::Mailboxes(names) => names.iter().any(|n| n == name),
        }
    }
}

/// One event group for mailboxes other than the selected one.
#[derive(Debug, Clone)]
struct Group {
    scope: Scope,
    messages: MessageEvents,
    names: bool,
    subscriptions: bool,
}

/// What the client was last told (or would have been) of a watched mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    version: u64,
    uid_validity: u32,
    uid_next: u32,
    messages: u32,
    unseen: u32,
    highest_modseq: u64,
}

impl Seen {
    fn of(mailbox: &Mailbox) -> Option<Seen> {
        // The version first: a change after it is seen again next time, never lost.
        let version = mailbox.version();
        let st = mailbox.status().ok()?;
        Some(Seen {
            version,
            uid_validity: st.uid_validity,
            uid_next: st.uid_next,
            messages: st.messages,
            unseen: st.unseen,
            highest_modseq: st.highest_modseq,
        })
    }

    /// What a selected session's client was told: its view's numbers. The version is
    /// one no mailbox has, so the mailbox is looked at again once it is not selected.
    fn of_view(view: &View) -> Seen {
        let st = view.status();
        Seen {
            version: u64::MAX,
            uid_validity: st.uid_validity,
            uid_next: st.uid_next,
            messages: st.messages,
            unseen: st.unseen,
            highest_modseq: st.highest_modseq,
        }
    }

    fn value(&self, item: StatusItem) -> u64 {
        match item {
            StatusItem::Messages => u64::from(self.messages),
            StatusItem::UidNext => u64::from(self.uid_next),
            StatusItem::UidValidity => u64::from(self.uid_validity),
            StatusItem::Unseen => u64::from(self.unseen),
            StatusItem::HighestModSeq => self.highest_modseq,
            StatusItem::Recent | StatusItem::Size | StatusItem::Deleted => 0,
        }
    }
}

/// A mailbox watched for message events.
struct Watched {
    mailbox: Mailbox,
    events: MessageEvents,
    seen: Seen,
}

/// A registered `NOTIFY SET` (RFC 5465 §3.1).
pub struct Notify {
    /// The selected mailbox's events; `None`: none (§3.1: as `SELECTED NONE`).
    selected: Option<SelectedEvents>,
    groups: Vec<Group>,
    /// The mailboxes watched for message events, by stored name.
    watched: BTreeMap<String, Watched>,
    /// The account's name version reported up to.
    names_version: u64,
    /// The names and subscriptions as last seen, to compare with when the account's
    /// name log no longer reaches back ([`NameEvents::Lost`]).
    known_names: BTreeSet<String>,
    known_subscriptions: BTreeSet<String>,
    /// Name events this session caused, not to be told back.
    own: Vec<NameEvent>,
    /// What was told of watched mailboxes whose name went (deleted, renamed away), for
    /// when the name comes back with another UIDVALIDITY (§5.1); at most `limit`.
    gone: BTreeMap<String, Seen>,
    /// Watches of the mailboxes the last look began to watch, made before it read them,
    /// for the wait that follows it ([`Notify::take_added`]).
    added: Vec<MailboxWatch>,
    limit: usize,
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notify")
            .field("selected", &self.selected)
            .field("groups", &self.groups)
            .field("watched", &self.watched.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a poll ended notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

/// Reads a `NOTIFY SET`: the events asked are checked as RFC 5465 says (BAD for what it
/// forbids, `NO [BADEVENT]` for what yubin does not report), the mailboxes resolved, and
/// with the STATUS indicator a `STATUS` sent for each one watched for message events
/// except the selected one (§3.1). `selected` is the selected mailbox's stored name.
pub fn set(
    account: &Account,
    selected: Option<&str>,
    args: &NotifySet,
    enabled: Enabled,
    form: NameForm,
    limit: usize,
    out: &mut Responses,
) -> Result<Notify, Completion> {
    let mut selected_events: Option<SelectedEvents> = None;
    let mut selected_seen = false;
    let mut unsupported = false;
    let mut groups = Vec::new();
    for group in &args.groups {
        let delayed = match group.filter {
            MailboxFilter::Selected => Some(false),
            MailboxFilter::SelectedDelayed => Some(true),
            _ => None,
        };
        if let Some(delayed) = delayed {
            // §6.1: "Only one of the mailbox specifiers affecting the currently selected
            // mailbox can be specified in any NOTIFY command."
            if selected_seen {
                return Err(Completion::bad(
                    "Only one SELECTED or SELECTED-DELAYED group (RFC 5465 6.1)",
                ));
            }
            selected_seen = true;
            let mut events = MessageEvents::default();
            let mut fetch = Vec::new();
            let mut annotations = false;
            for event in &group.events {
                match event {
                    NotifyEvent::MessageNew(atts) => {
                        events.new = true;
                        fetch = peek_forms(atts)?;
                    }
                    NotifyEvent::MessageExpunge => events.expunge = true,
                    NotifyEvent::FlagChange => events.flags = true,
                    NotifyEvent::AnnotationChange => annotations = true,
                    NotifyEvent::Other(_) => unsupported = true,
                    // §6.1: "It is an error to specify other types of events with either
                    // the SELECTED or the SELECTED-DELAYED selector."
                    NotifyEvent::MailboxName
                    | NotifyEvent::SubscriptionChange
                    | NotifyEvent::MailboxMetadataChange
                    | NotifyEvent::ServerMetadataChange => {
                        return Err(Completion::bad(
                            "Only message events for the selected mailbox (RFC 5465 6.1)",
                        ));
                    }
                }
            }
            // §5: "If one of MessageNew or MessageExpunge is specified, then both events
            // MUST be specified. Otherwise, the server MUST respond with the tagged BAD
            // response." and likewise for FlagChange and AnnotationChange. For the
            // selected mailbox only, as Dovecot does (and imaptest expects): there an
            // EXISTS without the EXPUNGEs (or the reverse) leaves the client's sequence
            // numbers wrong; another mailbox's STATUS is sound for each event alone.
            if events.new != events.expunge {
                return Err(Completion::bad(
                    "MessageNew and MessageExpunge go together (RFC 5465 5)",
                ));
            }
            if (events.flags || annotations) && !events.new {
                return Err(Completion::bad(
                    "FlagChange needs MessageNew and MessageExpunge (RFC 5465 5)",
                ));
            }
            unsupported |= annotations;
            if events.any() {
                selected_events = Some(SelectedEvents {
                    delayed,
                    events,
                    fetch,
                });
            }
            continue;
        }
        let mut g = Group {
            scope: match &group.filter {
                MailboxFilter::Inboxes => Scope::Inboxes,
                MailboxFilter::Personal => Scope::Personal,
                MailboxFilter::Subscribed => Scope::Subscribed,
                MailboxFilter::Subtree(names) => Scope::Subtree(stored_names(names)),
                MailboxFilter::Mailboxes(names) => Scope::Mailboxes(stored_names(names)),
                // Taken above.
                MailboxFilter::Selected | MailboxFilter::SelectedDelayed => continue,
            },
            messages: MessageEvents::default(),
            names: false,
            subscriptions: false,
        };
        for event in &group.events {
            match event {
                // §8: "The fetch-att list may only be present for the
                // SELECTED/SELECTED-DELAYED mailbox filter".
                NotifyEvent::MessageNew(atts) if !atts.is_empty() => {
                    return Err(Completion::bad(
                        "Fetch attributes are only for the selected mailbox (RFC 5465 8)",
                    ));
                }
                NotifyEvent::MessageNew(_) => g.messages.new = true,
                NotifyEvent::MessageExpunge => g.messages.expunge = true,
                NotifyEvent::FlagChange => g.messages.flags = true,
                NotifyEvent::MailboxName => g.names = true,
                NotifyEvent::SubscriptionChange => g.subscriptions = true,
                NotifyEvent::AnnotationChange
                | NotifyEvent::MailboxMetadataChange
                | NotifyEvent::ServerMetadataChange
                | NotifyEvent::Other(_) => unsupported = true,
            }
        }
        if g.messages.any() || g.names || g.subscriptions {
            groups.push(g);
        }
    }
    // §3.1: "the server MUST refuse the command with a tagged NO response (not a BAD).
    // This response SHOULD contain the BADEVENT response code".
    if unsupported {
        return Err(Completion::no(Code::BadEvent, "Unsupported NOTIFY event"));
    }
    // Names given one by one count against the limit too: each is compared with every
    // mailbox whenever names change.
    let named: usize = groups
        .iter()
        .map(|g| match &g.scope {
            Scope::Subtree(n) | Scope::Mailboxes(n) => n.len(),
            _ => 0,
        })
        .sum();
    if named > limit {
        return Err(overflow_refusal());
    }
    let mut notify = Notify {
        selected: selected_events,
        groups,
        watched: BTreeMap::new(),
        names_version: account.name_version(),
        known_names: BTreeSet::new(),
        known_subscriptions: BTreeSet::new(),
        own: Vec::new(),
        gone: BTreeMap::new(),
        added: Vec::new(),
        limit,
    };
    let (all, subscriptions) = names_of(account);
    notify.known_names = all.iter().map(|i| i.name.clone()).collect();
    notify.known_subscriptions = subscriptions;
    if notify
        .refresh_watched(account, &all, None, enabled, form, out)
        .is_err()
    {
        return Err(overflow_refusal());
    }
    // The wait after this command watches every one afresh.
    notify.added.clear();
    if args.status {
        for (name, w) in &notify.watched {
            if Some(name.as_str()) == selected {
                continue;
            }
            // §3.1: with MessageNew "MESSAGES, UIDNEXT, and UIDVALIDITY"; with
            // MessageExpunge "MESSAGES"; with FlagChange "UIDVALIDITY and HIGHESTMODSEQ"
            // (yubin has CONDSTORE), and UNSEEN, which is what a flag change moves.
            let mut items = Vec::new();
            if w.events.new || w.events.expunge {
                items.push(StatusItem::Messages);
            }
            if w.events.new {
                items.extend([StatusItem::UidNext, StatusItem::UidValidity]);
            }
            if w.events.flags {
                items.extend([
                    StatusItem::UidValidity,
                    StatusItem::Unseen,
                    StatusItem::HighestModSeq,
                ]);
            }
            if enabled.condstore() {
                items.push(StatusItem::HighestModSeq);
            }
            send_status(name, &w.seen, items, form, out);
        }
    }
    Ok(notify)
}

/// The fetch attributes of `MessageNew`, in forms that leave `\Seen` alone. §5.2: "The
/// client SHOULD NOT use FETCH attributes that implicitly set the \seen flag"; a
/// notification is not the user reading, so BODY[...] and BINARY[...] are read as their
/// PEEK forms, and RFC822 and RFC822.TEXT, which have none, are refused.
pub(crate) fn peek_forms(atts: &[FetchAttr]) -> Result<Vec<FetchAttr>, Completion> {
    atts.iter()
        .map(|a| match a {
            FetchAttr::BodySection {
                section, partial, ..
            } => Ok(FetchAttr::BodySection {
                section: section.clone(),
                partial: *partial,
                peek: true,
            }),
            FetchAttr::Binary { part, partial, .. } => Ok(FetchAttr::Binary {
                part: part.clone(),
                partial: *partial,
                peek: true,
            }),
            FetchAttr::Rfc822 | FetchAttr::Rfc822Text => Err(Completion::no(
                Code::Cannot,
                "RFC822 and RFC822.TEXT would set \\Seen; use BODY.PEEK[] or \
                 BODY.PEEK[TEXT] (RFC 5465 5.2)",
            )),
            other => Ok(other.clone()),
        })
        .collect()
}

/// Names as the store keeps them (`inbox` is INBOX); a name that cannot be a mailbox
/// is dropped (§3.1: "If the name does not refer to an existing mailbox, the server
/// MUST ignore it").
fn stored_names(names: &[String]) -> Vec<String> {
    names
        .iter()
        .filter_map(|n| yubin_store::name::canonical_mailbox(n).ok())
        .collect()
}

fn overflow_refusal() -> Completion {
    // §3.1: "If the notification would be prohibitively expensive for the server ...
    // the server MAY refuse the command with a tagged NO [NOTIFICATIONOVERFLOW]".
    Completion::no(
        Code::NotificationOverflow,
        "Too many mailboxes to watch; ask for fewer",
    )
}

/// The account's names and its subscriptions, now.
fn names_of(account: &Account) -> (Vec<MailboxInfo>, BTreeSet<String>) {
    let all = account.list().unwrap_or_default();
    let subscriptions = account.subscriptions().into_iter().collect();
    (all, subscriptions)
}

/// `* STATUS name (items)`, each item once, in the order given.
fn send_status(
    name: &str,
    seen: &Seen,
    items: Vec<StatusItem>,
    form: NameForm,
    out: &mut Responses,
) {
    let mut once: Vec<StatusItem> = Vec::new();
    for i in items {
        if !once.contains(&i) {
            once.push(i);
        }
    }
    if once.is_empty() {
        return;
    }
    out.data(Data::Status {
        mailbox: &form.to_client(name),
        items: once.into_iter().map(|i| (i, seen.value(i))).collect(),
    });
}

impl Notify {
    /// What the client asked of the selected mailbox.
    pub fn selected(&self) -> Option<&SelectedEvents> {
        self.selected.as_ref()
    }

    /// The watches to wait on: every watched mailbox's and the account's names.
    pub fn watches(&self, account: &Account) -> (Vec<MailboxWatch>, AccountWatch) {
        let mailboxes = self.watched.values().map(|w| w.mailbox.watch()).collect();
        (mailboxes, account.watch())
    }

    /// The watches of mailboxes the last look began to watch, for the wait after it.
    pub fn take_added(&mut self) -> Vec<MailboxWatch> {
        std::mem::take(&mut self.added)
    }

    /// Notes the name events this session's command made, so they are not told back:
    /// those of `expected` (what the command makes when it succeeds) that the account
    /// logged since `version`. Only events that happened are kept, so a command that
    /// changed nothing (UNSUBSCRIBE of a name not subscribed) adds nothing.
    pub fn own(&mut self, account: &Account, version: u64, mut expected: Vec<NameEvent>) {
        if let NameEvents::Since { events, .. } = account.name_events_since(version) {
            for event in events {
                if let Some(i) = expected.iter().position(|e| *e == event) {
                    expected.swap_remove(i);
                    self.own.push(event);
                }
            }
        }
    }

    /// After this session added the messages `uids` to the watched mailbox `name`
    /// (APPEND, COPY, MOVE): if they are all that changed there since the client was
    /// last told, the client is not told of them again (§5); if another session changed
    /// it too, the next STATUS tells everything.
    pub fn absorb_own(&mut self, name: &str, uids: &crate::command::SequenceSet) {
        let Some(w) = self.watched.get_mut(name) else {
            return;
        };
        let Ok(view) = w.mailbox.view() else {
            return;
        };
        let only_ours = view
            .changes_since(w.seen.highest_modseq)
            .is_some_and(|mut c| {
                c.all(|c| c.kind == ChangeKind::Added && uids.contains(c.uid, u32::MAX))
            });
        if only_ours && let Some(seen) = Seen::of(&w.mailbox) {
            w.seen = seen;
        }
    }

    /// Reports what changed in the watched mailboxes other than the selected one and
    /// what happened to names. `selected` is the selected mailbox's stored name and the
    /// view its client was last told of: the selected state speaks for it, and once it is
    /// no longer selected, what the client was not told there is told as a STATUS.
    /// `Err(Overflow)`: the watched set grew past the limit; the caller turns
    /// notifications off and says so.
    pub fn poll(
        &mut self,
        account: &Account,
        selected: Option<(&str, &View)>,
        enabled: Enabled,
        form: NameForm,
        out: &mut Responses,
    ) -> Result<(), Overflow> {
        if account.name_version() != self.names_version {
            // The events first, then the names: a name made in between is in the list
            // (and watched) now, and its event is told at the next poll.
            let events = match account.name_events_since(self.names_version) {
                NameEvents::Since { events, version } => {
                    self.names_version = version;
                    Some(events)
                }
                NameEvents::Lost { version } => {
                    self.names_version = version;
                    None
                }
            };
            let (all, subscriptions) = names_of(account);
            let events = events.unwrap_or_else(|| self.compare_names(&all, &subscriptions));
            self.name_events(events, &all, &subscriptions, form, out);
            self.refresh_watched(account, &all, selected, enabled, form, out)?;
        }
        for (name, w) in &mut self.watched {
            if let Some((selected, view)) = selected
                && selected == name
            {
                w.seen = Seen::of_view(view);
                continue;
            }
            if w.mailbox.version() == w.seen.version {
                continue;
            }
            let Some(now) = Seen::of(&w.mailbox) else {
                continue;
            };
            let before = std::mem::replace(&mut w.seen, now);
            let kinds = kinds_since(&w.mailbox, &before);
            let items = status_items(w.events, &before, &now, kinds, enabled);
            send_status(name, &now, items, form, out);
        }
        Ok(())
    }

    /// Tells the name events since the last poll (§5.4, §5.5) as `LIST` responses.
    fn name_events(
        &mut self,
        events: Vec<NameEvent>,
        all: &[MailboxInfo],
        subscriptions: &BTreeSet<String>,
        form: NameForm,
        out: &mut Responses,
    ) {
        self.known_names = all.iter().map(|i| i.name.clone()).collect();
        self.known_subscriptions = subscriptions.clone();
        // Each name once, its attributes as they are now.
        let mut lines: Vec<(String, Option<String>)> = Vec::new();
        let mut add = |name: &str, old: Option<&str>| {
            if !lines.iter().any(|(n, o)| n == name && o.as_deref() == old) {
                lines.push((name.to_owned(), old.map(str::to_owned)));
            }
        };
        for event in events {
            if let Some(i) = self.own.iter().position(|o| *o == event) {
                self.own.remove(i);
                continue;
            }
            let wants = |name: &str, names: bool| {
                self.groups.iter().any(|g| {
                    (if names { g.names } else { g.subscriptions })
                        && g.scope.covers(name, subscriptions)
                })
            };
            match &event {
                // §5.4: "If a mailbox is created or deleted, the mailbox itself and its
                // direct parent (whether it is an existing mailbox or not) are considered
                // to be affected."
                NameEvent::Created(name) | NameEvent::Deleted(name) => {
                    if wants(name, true) {
                        add(name, None);
                    }
                    if let Some((parent, _)) = name.rsplit_once(super::list::DELIMITER)
                        && wants(parent, true)
                    {
                        add(parent, None);
                    }
                }
                // §5.4: "an extended LIST response [RFC5258] for the new mailbox name,
                // containing the OLDNAME extended data item with the old mailbox name".
                NameEvent::Renamed { from, to } => {
                    if wants(to, true) || wants(from, true) {
                        add(to, Some(from));
                    }
                }
                NameEvent::Subscribed(name) | NameEvent::Unsubscribed(name) => {
                    if wants(name, false) {
                        add(name, None);
                    }
                }
            }
        }
        // Own events not seen by now never will be: the log has moved past them.
        self.own.clear();
        for (name, old) in &lines {
            let subscribed = subscriptions.contains(name);
            out.data(Data::List {
                lsub: false,
                attributes: super::list::attributes_of(all, subscribed, name),
                delimiter: Some(super::list::DELIMITER),
                name: &form.to_client(name),
                child_info: vec![],
                old_name: old.as_deref().map(|o| form.to_client(o)).as_deref(),
            });
        }
    }

    /// The name events that explain the difference between what was known and `all`
    /// (a rename shows as a deletion and a creation).
    fn compare_names(
        &self,
        all: &[MailboxInfo],
        subscriptions: &BTreeSet<String>,
    ) -> Vec<NameEvent> {
        let now: BTreeSet<String> = all.iter().map(|i| i.name.clone()).collect();
        let mut events: Vec<NameEvent> = Vec::new();
        events.extend(
            self.known_names
                .difference(&now)
                .cloned()
                .map(NameEvent::Deleted),
        );
        events.extend(
            now.difference(&self.known_names)
                .cloned()
                .map(NameEvent::Created),
        );
        events.extend(
            self.known_subscriptions
                .difference(subscriptions)
                .cloned()
                .map(NameEvent::Unsubscribed),
        );
        events.extend(
            subscriptions
                .difference(&self.known_subscriptions)
                .cloned()
                .map(NameEvent::Subscribed),
        );
        events
    }

    /// Brings the set of watched mailboxes in line with the groups and the account's
    /// names: a mailbox newly covered starts from what it holds now; one whose
    /// UIDVALIDITY changed (deleted and created again) is told with its new numbers
    /// (§5.1: "the server MUST notify the client about mailbox UIDVALIDITY changes").
    fn refresh_watched(
        &mut self,
        account: &Account,
        all: &[MailboxInfo],
        selected: Option<(&str, &View)>,
        enabled: Enabled,
        form: NameForm,
        out: &mut Responses,
    ) -> Result<(), Overflow> {
        let subscriptions = &self.known_subscriptions;
        let mut wanted: BTreeMap<String, MessageEvents> = BTreeMap::new();
        for info in all.iter().filter(|i| i.selectable) {
            let events = self
                .groups
                .iter()
                .filter(|g| g.scope.covers(&info.name, subscriptions))
                .fold(MessageEvents::default(), |e, g| e.union(g.messages));
            if events.any() {
                wanted.insert(info.name.clone(), events);
            }
        }
        if wanted.len() > self.limit {
            return Err(Overflow);
        }
        let gone: Vec<String> = self
            .watched
            .keys()
            .filter(|name| !wanted.contains_key(*name))
            .cloned()
            .collect();
        for name in gone {
            if let Some(w) = self.watched.remove(&name) {
                if self.gone.len() >= self.limit {
                    self.gone.clear();
                }
                self.gone.insert(name, w.seen);
            }
        }
        for (name, events) in wanted {
            if let Some(w) = self.watched.get_mut(&name) {
                w.events = events;
                // A handle to a mailbox since deleted (and perhaps made again) fails, and
                // one renamed away follows its mailbox: the name is opened afresh.
                if w.mailbox.status().is_ok() && w.mailbox.name() == name {
                    continue;
                }
            }
            let before = self
                .watched
                .remove(&name)
                .map(|w| w.seen)
                .or_else(|| self.gone.remove(&name));
            let Ok(mailbox) = account.mailbox(&name) else {
                continue;
            };
            // The watch before the first read: a change after it wakes the wait.
            let watch = mailbox.watch();
            let Some(seen) = Seen::of(&mailbox) else {
                continue;
            };
            self.added.push(watch);
            if let Some(before) = before
                && before.uid_validity != seen.uid_validity
                && selected.is_none_or(|(s, _)| s != name)
            {
                let every = MessageEvents {
                    new: true,
                    expunge: true,
                    flags: true,
                };
                let items = status_items(events, &before, &seen, every, enabled);
                send_status(&name, &seen, items, form, out);
            }
            self.watched.insert(
                name,
                Watched {
                    mailbox,
                    events,
                    seen,
                },
            );
        }
        Ok(())
    }
}

/// Which kinds of change happened in `mailbox` since `before`; all of them when the
/// view no longer reaches back that far.
fn kinds_since(mailbox: &Mailbox, before: &Seen) -> MessageEvents {
    let all = MessageEvents {
        new: true,
        expunge: true,
        flags: true,
    };
    let Ok(view) = mailbox.view() else {
        return all;
    };
    if view.status().uid_validity != before.uid_validity {
        return all;
    }
    match view.changes_since(before.highest_modseq) {
        Some(changes) => {
            let mut kinds = MessageEvents::default();
            for c in changes {
                match c.kind {
                    ChangeKind::Added => kinds.new = true,
                    ChangeKind::Expunged => kinds.expunge = true,
                    ChangeKind::Flags => kinds.flags = true,
                }
            }
            kinds
        }
        None => all,
    }
}

/// The STATUS items that tell a change from `before` to `now` in another mailbox, for
/// the events asked (`wanted`) among those that happened (`kinds`).
fn status_items(
    wanted: MessageEvents,
    before: &Seen,
    now: &Seen,
    kinds: MessageEvents,
    enabled: Enabled,
) -> Vec<StatusItem> {
    let mut items = Vec::new();
    let validity = before.uid_validity != now.uid_validity;
    // §5.2, §5.3: "an unsolicited STATUS (UIDNEXT MESSAGES) response"; "If the CONDSTORE
    // extension ... is enabled, the HIGHESTMODSEQ status data item MUST be included".
    if (wanted.new && kinds.new) || (wanted.expunge && kinds.expunge) || validity {
        items.extend([StatusItem::UidNext, StatusItem::Messages]);
        if enabled.condstore() {
            items.push(StatusItem::HighestModSeq);
        }
    }
    // §5.1: with CONDSTORE "at least HIGHESTMODSEQ and UIDVALIDITY"; "If the number of
    // messages with the \Seen flag changes, the server MAY also include the UNSEEN data
    // item"; without CONDSTORE and UNSEEN unchanged, nothing.
    if wanted.flags && kinds.flags {
        if enabled.condstore() {
            items.extend([StatusItem::HighestModSeq, StatusItem::UidValidity]);
        }
        if before.unseen != now.unseen {
            items.push(StatusItem::Unseen);
        }
    }
    if validity && wanted.any() {
        items.push(StatusItem::UidValidity);
    }
    items
}

/// What a session's NOTIFY stands at.
#[derive(Debug, Default)]
pub enum Registration {
    /// NOTIFY was never given: RFC 3501's rules alone (updates at the end of commands,
    /// everything during IDLE).
    #[default]
    Unset,
    /// `NOTIFY NONE` (or notifications ended by overflow): "the client is not interested
    /// in any kind of event" (§3.1), IDLE included (§4).
    Off,
    /// A `NOTIFY SET` in force.
    On(Box<Notify>),
}

impl Registration {
    /// Whether a `NOTIFY SET` is in force.
    pub fn is_on(&self) -> bool {
        matches!(self, Registration::On(_))
    }

    /// Notes that `new` (UIDs) came to the selected mailbox's client in a report, so
    /// that their `MessageNew` FETCH follows.
    pub fn owe_fetches(&mut self, sel: &mut Selected, new: Vec<u32>) {
        match self {
            Registration::On(n) => n.owe(sel, new),
            Registration::Unset | Registration::Off => sel.made_here.clear(),
        }
    }
}

impl Notify {
    /// Notes the FETCHes owed for messages new to the client (§5.2), except those this
    /// session made.
    pub fn owe(&self, sel: &mut Selected, new: Vec<u32>) {
        let fetch = self.selected.as_ref().map(|s| &s.fetch[..]).unwrap_or(&[]);
        for uid in new {
            if !sel.made_here.remove(&uid) && !fetch.is_empty() {
                sel.owe_fetch(uid, fetch);
            }
        }
    }
}

/// The mailbox a command adds messages to, whose new messages are the session's own.
pub fn target(body: &CommandBody) -> Option<String> {
    match body {
        CommandBody::Append { mailbox, .. }
        | CommandBody::Copy { mailbox, .. }
        | CommandBody::Move { mailbox, .. } => Some(mailbox.clone()),
        _ => None,
    }
}

/// The name events a command makes if it succeeds, so that they are not told back to
/// the session that made them (§5: "if the client issues CREATE and has requested a
/// MailboxName event that would cover the newly created mailbox, the server SHOULD NOT
/// notify the client").
pub fn own_events(body: &CommandBody) -> Vec<NameEvent> {
    let canonical = |n: &str| yubin_store::name::canonical_mailbox(n).unwrap_or_default();
    let with_parents = |name: &str| -> Vec<NameEvent> {
        yubin_store::name::ancestors(name)
            .map(|p| NameEvent::Created(p.to_owned()))
            .chain([NameEvent::Created(name.to_owned())])
            .collect()
    };
    match body {
        CommandBody::Create(name) | CommandBody::CreateSpecialUse { mailbox: name, .. } => {
            with_parents(&canonical(name))
        }
        CommandBody::Delete(name) => vec![NameEvent::Deleted(canonical(name))],
        CommandBody::Rename { from, to } => {
            let (from, to) = (canonical(from), canonical(to));
            let mut events = with_parents(&to);
            // RFC 5465 §5.4: a renamed INBOX is a new mailbox; others are renamed.
            if from != yubin_store::name::INBOX {
                events.pop();
                events.push(NameEvent::Renamed { from, to });
            }
            events
        }
        CommandBody::Subscribe(name) => vec![NameEvent::Subscribed(canonical(name))],
        CommandBody::Unsubscribe(name) => vec![NameEvent::Unsubscribed(canonical(name))],
        _ => Vec::new(),
    }
}
