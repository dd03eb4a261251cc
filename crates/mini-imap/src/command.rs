//! Typed IMAP commands (RFC 3501 §6), as [`crate::parse`] produces them.
//!
//! Strings that the grammar calls `astring`/`string` are kept as bytes where they may be
//! 8-bit (search strings, message literals) and as `String` where the protocol wants
//! 7-bit text (mailbox names arrive in modified UTF-7, RFC 3501 §5.1.3, and are passed to
//! the store as received).

use chrono::{DateTime, FixedOffset, NaiveDate};
use yubin_core::Secret;

/// One tagged command.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The client's tag, echoed in the completion response.
    pub tag: String,
    /// What the client asks for.
    pub body: CommandBody,
}

/// The commands yubin understands.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandBody {
    /// `CAPABILITY` (§6.1.1).
    Capability,
    /// `STARTTLS` (§6.2.1): upgrade this connection to TLS before logging in.
    StartTls,
    /// `COMPRESS mechanism` (RFC 4978 §3): compress the connection both ways.
    Compress(Compression),
    /// `NOOP` (§6.1.2).
    Noop,
    /// `LOGOUT` (§6.1.3).
    Logout,
    /// `LOGIN user password` (§6.2.3).
    Login {
        /// User name.
        user: String,
        /// Password, never printed.
        password: Secret,
    },
    /// `AUTHENTICATE mechanism [initial-response]` (§6.2.2, SASL-IR RFC 4959).
    Authenticate {
        /// SASL mechanism name, upper-cased.
        mechanism: String,
        /// The base64 initial response as sent (`=` stands for an empty one).
        initial: Option<String>,
    },
    /// `ID (key value ...)` or `ID NIL` (RFC 2971).
    Id(Option<Vec<(String, Option<String>)>>),
    /// `NAMESPACE` (RFC 2342).
    Namespace,
    /// `ENABLE cap...` (RFC 5161).
    Enable(Vec<String>),
    /// `LIST reference pattern` (§6.3.8).
    List {
        /// Reference name (a prefix for the pattern).
        reference: String,
        /// Mailbox pattern with `*` and `%` wildcards.
        pattern: String,
    },
    /// `LIST (selection) reference (patterns) RETURN (options)` (RFC 5258 §3): any LIST
    /// with a selection option list, a pattern list or return options.
    ListExtended(ListExtended),
    /// `LSUB reference pattern` (§6.3.9).
    Lsub {
        /// Reference name.
        reference: String,
        /// Mailbox pattern.
        pattern: String,
    },
    /// `SUBSCRIBE mailbox` (§6.3.6).
    Subscribe(String),
    /// `UNSUBSCRIBE mailbox` (§6.3.7).
    Unsubscribe(String),
    /// `STATUS mailbox (items)` (§6.3.10).
    Status {
        /// The mailbox asked about.
        mailbox: String,
        /// Which numbers.
        items: Vec<StatusItem>,
    },
    /// `SELECT mailbox [(params)]` (§6.3.1, RFC 4466 §2.1).
    Select {
        /// The mailbox.
        mailbox: String,
        /// CONDSTORE, QRESYNC (RFC 7162).
        params: SelectParams,
    },
    /// `EXAMINE mailbox [(params)]` (§6.3.2): SELECT, read-only.
    Examine {
        /// The mailbox.
        mailbox: String,
        /// CONDSTORE, QRESYNC (RFC 7162).
        params: SelectParams,
    },
    /// `CREATE mailbox` (§6.3.3).
    Create(String),
    /// `CREATE mailbox (USE (\\Sent ...))` (RFC 6154 §3): with special uses.
    CreateSpecialUse {
        /// The new mailbox.
        mailbox: String,
        /// The use attributes as sent, backslash included (`\\Sent`); may be empty.
        uses: Vec<String>,
    },
    /// `DELETE mailbox` (§6.3.4).
    Delete(String),
    /// `RENAME from to` (§6.3.5).
    Rename {
        /// Existing name.
        from: String,
        /// New name.
        to: String,
    },
    /// `APPEND mailbox 1*([flags] [date-time] data)` (§6.3.11; several messages with
    /// MULTIAPPEND, RFC 3502; CATENATE data, RFC 4469).
    Append {
        /// Destination mailbox.
        mailbox: String,
        /// The messages, in order (at least one).
        messages: Vec<AppendMessage>,
    },
    /// `CHECK` (§6.4.1).
    Check,
    /// `CLOSE` (§6.4.2).
    Close,
    /// `UNSELECT` (RFC 3691).
    Unselect,
    /// `EXPUNGE` (§6.4.3).
    Expunge,
    /// `IDLE` (RFC 2177).
    Idle,
    /// `[UID] SEARCH [RETURN (opts)] [CHARSET c] keys` (§6.4.4, RFC 4731, RFC 5182).
    Search {
        /// `UID SEARCH`: answer with UIDs.
        uid: bool,
        /// `RETURN (...)`: answer with `ESEARCH` (RFC 4731) instead of `SEARCH`.
        ret: Option<SearchReturn>,
        /// The `CHARSET` argument, if given.
        charset: Option<String>,
        /// The keys, ANDed.
        criteria: Vec<SearchKey>,
    },
    /// `[UID] FETCH set items` (§6.4.5).
    Fetch {
        /// `UID FETCH`: the set holds UIDs.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// What to return.
        items: Vec<FetchAttr>,
        /// `(CHANGEDSINCE n)` (RFC 7162 §3.1.4.1): only messages whose modseq is above n.
        changed_since: Option<u64>,
        /// `(VANISHED)` (RFC 7162 §3.2.6): with UID FETCH and CHANGEDSINCE, also the UIDs
        /// expunged since.
        vanished: bool,
    },
    /// `[UID] STORE set [+-]FLAGS[.SILENT] (flags)` (§6.4.6).
    Store {
        /// `UID STORE`.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// Replace, add or remove.
        mode: StoreMode,
        /// `.SILENT`: no untagged FETCH back.
        silent: bool,
        /// The flags.
        flags: Vec<String>,
        /// `(UNCHANGEDSINCE n)` (RFC 7162 §3.1.3): leave alone messages whose modseq is
        /// above n.
        unchanged_since: Option<u64>,
    },
    /// `[UID] COPY set mailbox` (§6.4.7).
    Copy {
        /// `UID COPY`.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// Destination.
        mailbox: String,
    },
    /// `[UID] MOVE set mailbox` (RFC 6851).
    Move {
        /// `UID MOVE`.
        uid: bool,
        /// Which messages.
        set: SequenceSet,
        /// Destination.
        mailbox: String,
    },
    /// `UID EXPUNGE set` (RFC 4315).
    UidExpunge(SequenceSet),
    /// `CANCELUPDATE "tag" ...` (RFC 5267 §4.3.5): stop the updates of these searches.
    CancelUpdate(Vec<String>),
    /// `[UID] SORT [RETURN (opts)] (criteria) charset keys` (RFC 5256 §3, ESORT RFC 5267
    /// §3).
    Sort {
        /// `UID SORT`: answer with UIDs.
        uid: bool,
        /// `RETURN (...)` (ESORT): answer with `ESEARCH` instead of `SORT`.
        ret: Option<SearchReturn>,
        /// The sort criteria, most significant first; never empty.
        criteria: Vec<SortCriterion>,
        /// The charset of the search strings (mandatory in SORT).
        charset: String,
        /// The search keys, ANDed.
        keys: Vec<SearchKey>,
    },
    /// `NOTIFY SET [STATUS] event-groups` or `NOTIFY NONE` (RFC 5465 §3.1); `None` is
    /// `NOTIFY NONE`.
    Notify(Option<NotifySet>),
    /// `[UID] THREAD algorithm charset keys` (RFC 5256 §3).
    Thread {
        /// `UID THREAD`: answer with UIDs.
        uid: bool,
        /// How messages are grouped.
        algorithm: ThreadAlgorithm,
        /// The charset of the search strings.
        charset: String,
        /// The search keys, ANDed.
        keys: Vec<SearchKey>,
    },
}

impl CommandBody {
    /// The command's name as a client would type it (for messages and tests).
    pub fn name(&self) -> &'static str {
        match self {
            CommandBody::Capability => "CAPABILITY",
            CommandBody::StartTls => "STARTTLS",
            CommandBody::Compress(_) => "COMPRESS",
            CommandBody::Noop => "NOOP",
            CommandBody::Logout => "LOGOUT",
            CommandBody::Login { .. } => "LOGIN",
            CommandBody::Authenticate { .. } => "AUTHENTICATE",
            CommandBody::Id(_) => "ID",
            CommandBody::Namespace => "NAMESPACE",
            CommandBody::Enable(_) => "ENABLE",
            CommandBody::List { .. } => "LIST",
            CommandBody::ListExtended(_) => "LIST",
            CommandBody::Lsub { .. } => "LSUB",
            CommandBody::Subscribe(_) => "SUBSCRIBE",
            CommandBody::Unsubscribe(_) => "UNSUBSCRIBE",
            CommandBody::Status { .. } => "STATUS",
            CommandBody::Select { .. } => "SELECT",
            CommandBody::Examine { .. } => "EXAMINE",
            CommandBody::Create(_) => "CREATE",
            CommandBody::CreateSpecialUse { .. } => "CREATE",
            CommandBody::Delete(_) => "DELETE",
            CommandBody::Rename { .. } => "RENAME",
            CommandBody::Append { .. } => "APPEND",
            CommandBody::Check => "CHECK",
            CommandBody::Close => "CLOSE",
            CommandBody::Unselect => "UNSELECT",
            CommandBody::Expunge => "EXPUNGE",
            CommandBody::Idle => "IDLE",
            CommandBody::Search { .. } => "SEARCH",
            CommandBody::Fetch { .. } => "FETCH",
            CommandBody::Store { .. } => "STORE",
            CommandBody::Copy { .. } => "COPY",
            CommandBody::Move { .. } => "MOVE",
            CommandBody::UidExpunge(_) => "UID EXPUNGE",
            CommandBody::CancelUpdate(_) => "CANCELUPDATE",
            CommandBody::Sort { .. } => "SORT",
            CommandBody::Thread { .. } => "THREAD",
            CommandBody::Notify(_) => "NOTIFY",
        }
    }
}

/// A compression mechanism of COMPRESS (RFC 4978 §5: `algorithm = "DEFLATE"`, the only
/// one defined).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Raw DEFLATE (RFC 1951), `COMPRESS=DEFLATE`.
    Deflate,
}

/// An extended LIST (RFC 5258 §3, RFC 5819, RFC 6154 §4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListExtended {
    /// Selection `SUBSCRIBED`: subscribed names, existing or not.
    pub subscribed: bool,
    /// Selection `REMOTE`: accepted; there are no remote mailboxes (RFC 2193).
    pub remote: bool,
    /// Selection `RECURSIVEMATCH`: also parents whose descendants are selected, with
    /// `CHILDINFO`. Never alone: the parser refuses it without another criterion.
    pub recursive_match: bool,
    /// Selection `SPECIAL-USE` (RFC 6154 §4): only mailboxes with a special use.
    pub special_use: bool,
    /// Reference name (a prefix for each pattern).
    pub reference: String,
    /// One or more patterns; a mailbox is listed once if any matches.
    pub patterns: Vec<String>,
    /// `RETURN (SUBSCRIBED)`: the `\Subscribed` attribute (implied by the selection).
    pub return_subscribed: bool,
    /// `RETURN (CHILDREN)`: child attributes (given always; kept for the encoder).
    pub return_children: bool,
    /// `RETURN (SPECIAL-USE)`: special-use attributes (given always; kept likewise).
    pub return_special_use: bool,
    /// `RETURN (STATUS (...))` (RFC 5819): a `* STATUS` after each selectable mailbox.
    pub return_status: Option<Vec<StatusItem>>,
}

/// The parameters of SELECT and EXAMINE (RFC 4466 §2.1 `select-params`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    /// `CONDSTORE` (RFC 7162 §3.1.8): a CONDSTORE enabling command.
    pub condstore: bool,
    /// `QRESYNC (...)` (RFC 7162 §3.2.5): what the client knew of the mailbox.
    pub qresync: Option<QResync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids] [seq-match-data])` (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    /// The UIDVALIDITY the client last knew: its cache is good only if it still holds.
    pub uid_validity: u32,
    /// The HIGHESTMODSEQ the client last knew.
    pub modseq: u64,
    /// The UIDs the client knows of; all, when absent.
    pub known_uids: Option<SequenceSet>,
    /// Sequence numbers and the UIDs the client knows them by: a hint for a server that
    /// forgot old expunges (RFC 7162 §3.2.5.2). yubin does not need it: when the client
    /// asks from before what the store remembers, every known UID that is gone is
    /// reported, which is never wrong.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// `NOTIFY SET`'s arguments (RFC 5465 §8: `notify-set = "SET" [status-indicator] SP
/// event-groups`).
#[derive(Debug, Clone, PartialEq)]
pub struct NotifySet {
    /// The `STATUS` indicator: a STATUS response for each mailbox watched for message
    /// events goes out before the tagged OK.
    pub status: bool,
    /// The event groups, at least one.
    pub groups: Vec<EventGroup>,
}

/// `event-group = "(" filter-mailboxes SP events ")"` (RFC 5465 §8).
#[derive(Debug, Clone, PartialEq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: MailboxFilter,
    /// Which events; empty is `NONE` (the grammar's lists are never empty).
    pub events: Vec<NotifyEvent>,
}

/// `filter-mailboxes` (RFC 5465 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxFilter {
    /// `SELECTED` (§6.1.1): the selected mailbox, events at once.
    Selected,
    /// `SELECTED-DELAYED` (§6.1.2): the selected mailbox, expunges only when a command
    /// may carry them.
    SelectedDelayed,
    /// `INBOXES` (§6.3): where mail is delivered.
    Inboxes,
    /// `PERSONAL` (§6.2): every mailbox of the user.
    Personal,
    /// `SUBSCRIBED` (§6.4): the subscribed mailboxes, as they are at each event.
    Subscribed,
    /// `SUBTREE name...` (§6.5): these mailboxes and every one below them.
    Subtree(Vec<String>),
    /// `MAILBOXES name...` (§6.6): exactly these (no wildcards).
    Mailboxes(Vec<String>),
}

/// `event` (RFC 5465 §5, §8).
#[derive(Debug, Clone, PartialEq)]
pub enum NotifyEvent {
    /// `MessageNew [(fetch-att ...)]` (§5.2): the attributes are sent with each new
    /// message of the selected mailbox.
    MessageNew(Vec<FetchAttr>),
    /// `MessageExpunge` (§5.3).
    MessageExpunge,
    /// `FlagChange` (§5.1).
    FlagChange,
    /// `AnnotationChange` (§5.1; yubin has no annotations).
    AnnotationChange,
    /// `MailboxName` (§5.4): created, deleted, renamed.
    MailboxName,
    /// `SubscriptionChange` (§5.5).
    SubscriptionChange,
    /// `MailboxMetadataChange` (§5.6; yubin has no METADATA).
    MailboxMetadataChange,
    /// `ServerMetadataChange` (§5.7; yubin has no METADATA).
    ServerMetadataChange,
    /// `event-ext = atom`: an event this grammar does not know, as sent.
    Other(String),
}

impl NotifyEvent {
    /// The event's name as RFC 5465 §8 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(name) => name,
        }
    }
}

/// A `STATUS` data item (RFC 3501 §6.3.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    /// `MESSAGES`.
    Messages,
    /// `RECENT`.
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `SIZE` (RFC 8438): the messages' sizes summed, in octets.
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162 §3.1.2.2).
    HighestModSeq,
    /// `DELETED` (RFC 9051 §6.3.11): "The number of messages that have the \Deleted
    /// flag set."
    Deleted,
}

impl StatusItem {
    /// The item's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::Deleted => "DELETED",
        }
    }
}

/// The result options of `SEARCH RETURN (...)` (RFC 4731 §3.1, RFC 5182 §2.1).
///
/// `RETURN ()` means `RETURN (ALL)`; the parser sets `all` for it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchReturn {
    /// `MIN`: the lowest number found.
    pub min: bool,
    /// `MAX`: the highest number found.
    pub max: bool,
    /// `ALL`: every number found, as a sequence set.
    pub all: bool,
    /// `COUNT`: how many were found.
    pub count: bool,
    /// `SAVE` (RFC 5182): keep the result for `$`.
    pub save: bool,
    /// `UPDATE` (RFC 5267 §4.3): keep telling the client how the result changes.
    pub update: bool,
    /// `UPDATE (fetch-att ...)` (RFC 5465 §7): what to FETCH for a new message the
    /// update adds to the result; empty when not given.
    pub update_fetch: Vec<FetchAttr>,
    /// `CONTEXT` (RFC 5267 §4.2): a hint that the search will be used again; accepted.
    pub context: bool,
    /// `PARTIAL a:b` (RFC 5267 §4.4): results a to b (1-based, in result order).
    pub partial: Option<(u32, u32)>,
}

impl SearchReturn {
    /// Whether an `ESEARCH` response is sent: not for `RETURN (SAVE)` alone
    /// (RFC 5182 §2.1); for `RETURN (UPDATE)` alone it is sent with no result data, as
    /// RFC 5267 §4.3's examples show (the updates follow).
    pub fn answers(&self) -> bool {
        self.min || self.max || self.all || self.count || self.partial.is_some() || self.update
    }
}

/// A `sort-key` (RFC 5256 §3, RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// `ARRIVAL`: the internal date and time.
    Arrival,
    /// `CC`: addr-mailbox of the first Cc address.
    Cc,
    /// `DATE`: the sent date (RFC 5256 §2.2).
    Date,
    /// `FROM`: addr-mailbox of the first From address.
    From,
    /// `SIZE`: the size in octets.
    Size,
    /// `SUBJECT`: the base subject (RFC 5256 §2.1).
    Subject,
    /// `TO`: addr-mailbox of the first To address.
    To,
    /// `DISPLAYFROM` (RFC 5957 §3): the first From address's display name, or its
    /// address when it has none.
    DisplayFrom,
    /// `DISPLAYTO` (RFC 5957 §3): likewise for To.
    DisplayTo,
}

impl SortKey {
    /// The key's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Arrival => "ARRIVAL",
            SortKey::Cc => "CC",
            SortKey::Date => "DATE",
            SortKey::From => "FROM",
            SortKey::Size => "SIZE",
            SortKey::Subject => "SUBJECT",
            SortKey::To => "TO",
            SortKey::DisplayFrom => "DISPLAYFROM",
            SortKey::DisplayTo => "DISPLAYTO",
        }
    }
}

/// A `sort-criterion = ["REVERSE" SP] sort-key` (RFC 5256 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    /// `REVERSE`: this key descending (the implicit sequence-number tie-break stays
    /// ascending, RFC 5256 §3).
    pub reverse: bool,
    /// What to compare.
    pub key: SortKey,
}

/// A `thread-alg` (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    /// `ORDEREDSUBJECT`: one thread per base subject, flat under its first message.
    OrderedSubject,
    /// `REFERENCES`: parent/child links from Message-ID, References and In-Reply-To,
    /// then grouped by base subject.
    References,
}

impl ThreadAlgorithm {
    /// The algorithm's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
            ThreadAlgorithm::References => "REFERENCES",
        }
    }
}

/// `STORE`'s three modes (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// `FLAGS`.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// One end of a sequence range: a number or `*` (the largest in use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqNum {
    /// A message sequence number or UID.
    Value(u32),
    /// `*`.
    Star,
    /// `$` (RFC 5182): the saved search result. The parser produces it only as a whole
    /// set, `SequenceSet(vec![(Saved, Saved)])`; the session replaces it with the saved
    /// messages before any handler sees it, so elsewhere it stands for nothing.
    Saved,
}

impl SeqNum {
    /// The number this stands for, given the largest one in use.
    pub fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(n) => n,
            SeqNum::Star => largest,
            SeqNum::Saved => 0,
        }
    }
}

/// A `sequence-set` (RFC 3501 §9): ranges in any order, `a:b` meaning the same as `b:a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceSet(pub Vec<(SeqNum, SeqNum)>);

impl SequenceSet {
    /// `$` (RFC 5182): the saved search result, before the session expands it.
    pub fn saved() -> SequenceSet {
        SequenceSet(vec![(SeqNum::Saved, SeqNum::Saved)])
    }

    /// Whether this is `$`.
    pub fn is_saved(&self) -> bool {
        self.0
            .iter()
            .any(|&(a, b)| a == SeqNum::Saved || b == SeqNum::Saved)
    }

    /// The set of exactly these numbers (ascending, distinct), in compact form: runs
    /// become ranges (`1:3,5`). Empty numbers give the empty set, which matches nothing.
    /// Numbers in another order keep it, only runs ascending by one merging (ESORT's
    /// `ALL` lists messages in sort order this way, RFC 5267 §3).
    pub fn from_sorted(numbers: impl IntoIterator<Item = u32>) -> SequenceSet {
        let mut ranges: Vec<(SeqNum, SeqNum)> = Vec::new();
        for n in numbers {
            match ranges.last_mut() {
                Some((_, SeqNum::Value(hi))) if hi.checked_add(1) == Some(n) => *hi = n,
                _ => ranges.push((SeqNum::Value(n), SeqNum::Value(n))),
            }
        }
        SequenceSet(ranges)
    }

    /// The set of the numbers in these inclusive ranges, sorted and merged.
    pub fn from_ranges(mut ranges: Vec<(u32, u32)>) -> SequenceSet {
        ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
        for (lo, hi) in ranges {
            match merged.last_mut() {
                Some((_, end)) if lo <= end.saturating_add(1) => *end = (*end).max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        SequenceSet(
            merged
                .into_iter()
                .map(|(a, b)| (SeqNum::Value(a), SeqNum::Value(b)))
                .collect(),
        )
    }

    /// Whether `n` is in the set, where `*` stands for `largest`.
    pub fn contains(&self, n: u32, largest: u32) -> bool {
        self.0.iter().any(|&(a, b)| {
            let (a, b) = (a.resolve(largest), b.resolve(largest));
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            (lo..=hi).contains(&n)
        })
    }

    /// The largest explicit number in the set (to check sequence numbers against EXISTS).
    pub fn max_value(&self) -> Option<u32> {
        self.0
            .iter()
            .flat_map(|&(a, b)| [a, b])
            .filter_map(|s| match s {
                SeqNum::Value(n) => Some(n),
                SeqNum::Star | SeqNum::Saved => None,
            })
            .max()
    }
}

/// A `section-spec` text part (RFC 3501 §6.4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// `HEADER`: the header, blank line included.
    Header,
    /// `HEADER.FIELDS (names)`: only these fields.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`: every field but these.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`: the body.
    Text,
    /// `MIME`: the MIME header of a part (only after a part number).
    Mime,
}

/// `section` = part numbers then an optional text part; both empty means `BODY[]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    /// `1.2.3`.
    pub part: Vec<u32>,
    /// `HEADER`, `TEXT`, ...
    pub text: Option<SectionText>,
}

/// A `fetch-att` (RFC 3501 §6.4.5); the macros ALL/FAST/FULL are expanded by the parser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAttr {
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `ENVELOPE`.
    Envelope,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `BODY` (the non-extensible body structure).
    Body,
    /// `BODY[section]<partial>` or `BODY.PEEK[...]`.
    BodySection {
        /// Which part of the message.
        section: Section,
        /// `<origin.count>`.
        partial: Option<(u32, u32)>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
    /// `RFC822` (= `BODY[]`, answered as `RFC822`).
    Rfc822,
    /// `RFC822.HEADER` (= `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.TEXT` (= `BODY[TEXT]`).
    Rfc822Text,
    /// `UID`.
    Uid,
    /// `MODSEQ` (RFC 7162 §3.1.4.2).
    ModSeq,
    /// `BINARY[section-part]<partial>` or `BINARY.PEEK[...]` (RFC 3516 §4.2): the part
    /// with its content-transfer-encoding undone.
    Binary {
        /// The part (`[]`: the whole message).
        part: Vec<u32>,
        /// `<origin.count>`, in the decoded octets.
        partial: Option<(u32, u32)>,
        /// `.PEEK`: do not set `\Seen`.
        peek: bool,
    },
    /// `BINARY.SIZE[section-part]` (RFC 3516 §4.2): the decoded size.
    BinarySize(Vec<u32>),
}

impl FetchAttr {
    /// Whether fetching this sets `\Seen` (RFC 3501 §6.4.5).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchAttr::BodySection { peek: false, .. }
                | FetchAttr::Binary { peek: false, .. }
                | FetchAttr::Rfc822
                | FetchAttr::Rfc822Text
        )
    }
}

/// A `search-key` (RFC 3501 §6.4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    /// `ALL`.
    All,
    /// `ANSWERED`.
    Answered,
    /// `BCC string`.
    Bcc(Vec<u8>),
    /// `BEFORE date` (internal date).
    Before(NaiveDate),
    /// `BODY string`.
    Body(Vec<u8>),
    /// `CC string`.
    Cc(Vec<u8>),
    /// `DELETED`.
    Deleted,
    /// `DRAFT`.
    Draft,
    /// `FLAGGED`.
    Flagged,
    /// `FROM string`.
    From(Vec<u8>),
    /// `HEADER field-name string`.
    Header(String, Vec<u8>),
    /// `KEYWORD flag`.
    Keyword(String),
    /// `LARGER n`.
    Larger(u32),
    /// `NEW` (recent and unseen).
    New,
    /// `NOT key`.
    Not(Box<SearchKey>),
    /// `OLD` (not recent).
    Old,
    /// `OLDER n` (RFC 5032): the internal date is at least `n` seconds ago.
    Older(u32),
    /// `ON date` (internal date).
    On(NaiveDate),
    /// `OR key key`.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `RECENT`.
    Recent,
    /// `SEEN`.
    Seen,
    /// `SENTBEFORE date` (Date: header).
    SentBefore(NaiveDate),
    /// `SENTON date`.
    SentOn(NaiveDate),
    /// `SENTSINCE date`.
    SentSince(NaiveDate),
    /// `SINCE date` (internal date).
    Since(NaiveDate),
    /// `SMALLER n`.
    Smaller(u32),
    /// `SUBJECT string`.
    Subject(Vec<u8>),
    /// `TEXT string` (header and body).
    Text(Vec<u8>),
    /// `TO string`.
    To(Vec<u8>),
    /// `UID set`.
    Uid(SequenceSet),
    /// `UNANSWERED`.
    Unanswered,
    /// `UNDELETED`.
    Undeleted,
    /// `UNDRAFT`.
    Undraft,
    /// `UNFLAGGED`.
    Unflagged,
    /// `UNKEYWORD flag`.
    Unkeyword(String),
    /// `UNSEEN`.
    Unseen,
    /// `YOUNGER n` (RFC 5032): the internal date is less than `n` seconds ago.
    Younger(u32),
    /// `MODSEQ [entry type] n` (RFC 7162 §3.1.5): the message's modseq is at least n.
    /// yubin keeps one modseq per message, which RFC 7162 lets a server use for every
    /// flag's entry, so the entry name and type are read and not kept.
    ModSeq(u64),
    /// A bare sequence set.
    SequenceSet(SequenceSet),
    /// `( key ... )`: all must match.
    And(Vec<SearchKey>),
}

/// One message of an APPEND (RFC 3502 `append-message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    /// Flags to set on the new message.
    pub flags: Vec<String>,
    /// Internal date to give it.
    pub date: Option<DateTime<FixedOffset>>,
    /// Its content.
    pub data: AppendData,
}

/// The content of an appended message (RFC 4466 `append-data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendData {
    /// The message as a literal (or a `literal8`, RFC 3516 §4.4).
    Literal(Vec<u8>),
    /// `CATENATE (cat-part *(SP cat-part))` (RFC 4469 §5): the message made of these.
    Catenate(Vec<CatPart>),
}

/// One part of a CATENATE (RFC 4469 §5 `cat-part`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`: these octets.
    Text(Vec<u8>),
    /// `URL astring`: the message or section an IMAP URL names (RFC 5092).
    Url(String),
}
