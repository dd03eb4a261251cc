//! Server responses, typed (RFC 3501 §7): handlers say *what* to answer — untagged
//! [`Data`] and a [`Completion`] — and this module alone says how it is written.
//!
//! A command's answer is built in a [`Responses`]: its handler adds data, the session adds
//! the updates the command may carry ([`crate::op::updates`]) and then the tagged
//! completion, so updates always come before the completion by construction, and nothing
//! is ever inserted into bytes already written. Values inside responses (strings,
//! literals, lists) are [`crate::value`]'s.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset};
use yubin_store::{Refused, StoreError};

use crate::command::{Section, SequenceSet, StatusItem};
use crate::request::write_section;
use crate::value::{write_literal_crlf, write_mailbox, write_message_data};

/// The system flags every mailbox supports (RFC 3501 §2.3.2), as FLAGS lists them.
pub const SYSTEM_FLAGS: &str = "\\Answered \\Flagged \\Deleted \\Seen \\Draft";

/// Response codes (RFC 3501 §7.1, RFC 5530) that yubin sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[ALERT]`.
    Alert,
    /// `[AUTHENTICATIONFAILED]` (RFC 5530).
    AuthenticationFailed,
    /// `[BADCHARSET (UTF-8 US-ASCII)]`.
    BadCharset,
    /// `[UNSEEN n]`: the first unseen message's number (RFC 3501 §7.1).
    Unseen(u32),
    /// `[UIDVALIDITY n]` (RFC 3501 §7.1).
    UidValidity(u32),
    /// `[UIDNEXT n]` (RFC 3501 §7.1).
    UidNext(u32),
    /// `[HIGHESTMODSEQ n]` (RFC 7162 §3.1.2.1).
    HighestModSeq(u64),
    /// `[MODIFIED set]` (RFC 7162 §3.1.3): the messages a conditional STORE left alone.
    Modified(SequenceSet),
    /// `[NOUPDATE "tag"]` (RFC 5267 §4.3.1): no update context for that search.
    NoUpdate(String),
    /// `[CLOSED]` (RFC 7162 §3.2.11): the previously selected mailbox is closed; what
    /// follows is about the new one.
    Closed,
    /// `[PERMANENTFLAGS (...)]` (RFC 3501 §7.1): the system flags and these keywords, and
    /// `\*` (new keywords may be made), when the mailbox is writable; `()` when not.
    PermanentFlags {
        /// The keywords the client was told of.
        keywords: Vec<String>,
        /// Whether flags can be changed at all.
        writable: bool,
    },
    /// `[CANNOT]` (RFC 5530).
    Cannot,
    /// `[CLIENTBUG]` (RFC 5530).
    ClientBug,
    /// `[NONEXISTENT]` (RFC 5530).
    NonExistent,
    /// `[READ-ONLY]`.
    ReadOnly,
    /// `[READ-WRITE]`.
    ReadWrite,
    /// `[SERVERBUG]` (RFC 5530).
    ServerBug,
    /// `[TOOBIG]` (RFC 4469 / 7888).
    TooBig,
    /// `[BADURL url]` (RFC 4469 §4.1): the first URL of an APPEND that could not be
    /// used, as sent.
    BadUrl(String),
    /// `[UNKNOWN-CTE]` (RFC 3516 §4.3): a section whose content-transfer-encoding the
    /// server cannot decode.
    UnknownCte,
    /// `[UNAVAILABLE]` (RFC 5530).
    Unavailable,
    /// `[PARSE]`.
    Parse,
    /// `[CAPABILITY ...]`.
    Capability(String),
    /// `[COMPRESSIONACTIVE]` (RFC 4978 §3): the connection is compressed already.
    CompressionActive,
    /// `[PRIVACYREQUIRED]` (RFC 5530): refused until the connection is encrypted.
    PrivacyRequired,
    /// `[TRYCREATE]`: the target mailbox does not exist, CREATE it first (RFC 3501 §7.1).
    TryCreate,
    /// `[ALREADYEXISTS]` (RFC 5530).
    AlreadyExists,
    /// `[INUSE]` (RFC 5530): the operation would saw off a branch someone sits on.
    InUse,
    /// `[HASCHILDREN]` (RFC 9051 §7.1): DELETE of a mailbox that has children.
    HasChildren,
    /// `[LIMIT]` (RFC 5530): a configured limit would be passed.
    Limit,
    /// `[OVERQUOTA]` (RFC 5530): no room left (Dovecot sends it for a full disk too).
    OverQuota,
    /// `[NOPERM]` (RFC 5530): the store may not be written.
    NoPerm,
    /// `[USEATTR]` (RFC 6154 §3): a special use that cannot be given.
    UseAttr,
    /// `[BADEVENT (...)]` (RFC 5465 §3.1): NOTIFY asked for an event yubin does not
    /// report; the list names every event it does.
    BadEvent,
    /// `[NOTIFICATIONOVERFLOW]` (RFC 5465 §5.8): NOTIFY would watch more mailboxes than
    /// the configured limit; notifications are off.
    NotificationOverflow,
    /// `[APPENDUID uidvalidity uid-set]` (UIDPLUS, RFC 4315 §3; a set of UIDs after a
    /// MULTIAPPEND, RFC 3502 "MULTIAPPEND Interaction with UIDPLUS Extension").
    AppendUid {
        /// UIDVALIDITY of the destination mailbox.
        uid_validity: u32,
        /// The new messages' UIDs, in order, as a `uid-set`.
        uids: String,
    },
    /// `[COPYUID uidvalidity source-uids dest-uids]` (UIDPLUS, RFC 4315 §3); the two sets
    /// list corresponding UIDs in the same order.
    CopyUid {
        /// UIDVALIDITY of the destination mailbox.
        uid_validity: u32,
        /// The source UIDs, as a `uid-set`.
        source: String,
        /// The new UIDs, as a `uid-set`.
        dest: String,
    },
}

impl Code {
    /// The code with its brackets.
    pub fn to_text(&self) -> String {
        match self {
            Code::Alert => "[ALERT]".into(),
            Code::AuthenticationFailed => "[AUTHENTICATIONFAILED]".into(),
            Code::BadCharset => "[BADCHARSET (UTF-8 US-ASCII)]".into(),
            Code::Unseen(n) => format!("[UNSEEN {n}]"),
            Code::UidValidity(n) => format!("[UIDVALIDITY {n}]"),
            Code::UidNext(n) => format!("[UIDNEXT {n}]"),
            Code::HighestModSeq(n) => format!("[HIGHESTMODSEQ {n}]"),
            Code::Modified(set) => {
                let mut b = b"[MODIFIED ".to_vec();
                crate::request::write_set(&mut b, set);
                b.push(b']');
                String::from_utf8_lossy(&b).into_owned()
            }
            Code::Closed => "[CLOSED]".into(),
            Code::NoUpdate(tag) => {
                let mut b = b"[NOUPDATE ".to_vec();
                crate::value::write_string(&mut b, tag.as_bytes());
                b.push(b']');
                String::from_utf8_lossy(&b).into_owned()
            }
            Code::PermanentFlags {
                writable: false, ..
            } => "[PERMANENTFLAGS ()]".into(),
            Code::PermanentFlags { keywords, .. } => {
                let kw: String = keywords.iter().map(|k| format!(" {k}")).collect();
                format!("[PERMANENTFLAGS ({SYSTEM_FLAGS}{kw} \\*)]")
            }
            Code::Cannot => "[CANNOT]".into(),
            Code::ClientBug => "[CLIENTBUG]".into(),
            Code::NonExistent => "[NONEXISTENT]".into(),
            Code::ReadOnly => "[READ-ONLY]".into(),
            Code::ReadWrite => "[READ-WRITE]".into(),
            Code::ServerBug => "[SERVERBUG]".into(),
            Code::TooBig => "[TOOBIG]".into(),
            // RFC 4469 §5: `url-resp-text` is any TEXT-CHAR except "]".
            Code::BadUrl(url) => format!(
                "[BADURL {}]",
                url.replace(|c: char| c == ']' || c.is_ascii_control(), "")
            ),
            Code::UnknownCte => "[UNKNOWN-CTE]".into(),
            Code::Unavailable => "[UNAVAILABLE]".into(),
            Code::Parse => "[PARSE]".into(),
            Code::Capability(c) => format!("[CAPABILITY {c}]"),
            Code::CompressionActive => "[COMPRESSIONACTIVE]".into(),
            Code::PrivacyRequired => "[PRIVACYREQUIRED]".into(),
            Code::TryCreate => "[TRYCREATE]".into(),
            Code::AlreadyExists => "[ALREADYEXISTS]".into(),
            Code::InUse => "[INUSE]".into(),
            Code::HasChildren => "[HASCHILDREN]".into(),
            Code::Limit => "[LIMIT]".into(),
            Code::OverQuota => "[OVERQUOTA]".into(),
            Code::NoPerm => "[NOPERM]".into(),
            Code::UseAttr => "[USEATTR]".into(),
            Code::BadEvent => format!(
                "[BADEVENT ({})]",
                crate::op::notify::SUPPORTED_EVENTS.join(" ")
            ),
            Code::NotificationOverflow => "[NOTIFICATIONOVERFLOW]".into(),
            Code::AppendUid { uid_validity, uids } => format!("[APPENDUID {uid_validity} {uids}]"),
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => format!("[COPYUID {uid_validity} {source} {dest}]"),
        }
    }
}

/// How a command ended (RFC 3501 §7.1): the parts of its tagged status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// OK, NO or BAD.
    pub status: Status,
    /// The response code, if any.
    pub code: Option<Code>,
    /// The human-readable text.
    pub text: Cow<'static, str>,
}

/// The status of a tagged completion (RFC 3501 §7.1.1–§7.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The command succeeded.
    Ok,
    /// The command failed; nothing changed that the client did not ask for.
    No,
    /// The command was not valid (syntax, state); nothing changed.
    Bad,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        }
    }
}

impl Completion {
    /// `OK text`.
    pub fn ok(text: impl Into<Cow<'static, str>>) -> Completion {
        Completion {
            status: Status::Ok,
            code: None,
            text: text.into(),
        }
    }

    /// `OK <command> completed`.
    pub fn done(command: &str) -> Completion {
        Completion::ok(format!("{command} completed"))
    }

    /// `NO [code] text`.
    pub fn no(code: Code, text: impl Into<Cow<'static, str>>) -> Completion {
        Completion {
            status: Status::No,
            code: Some(code),
            text: text.into(),
        }
    }

    /// `BAD text`.
    pub fn bad(text: impl Into<Cow<'static, str>>) -> Completion {
        Completion {
            status: Status::Bad,
            code: None,
            text: text.into(),
        }
    }

    /// The same completion with a response code.
    pub fn with_code(mut self, code: Code) -> Completion {
        self.code = Some(code);
        self
    }

    /// `NO` for a store failure, with the RFC 5530 code a person can act on.
    pub fn store_failed(command: &str, e: &StoreError) -> Completion {
        // A full disk or a read-only store is something a person can act on: say which,
        // as Dovecot does, rather than SERVERBUG (RFC 5530 §3).
        match e.refused() {
            Some(Refused::DiskFull) => {
                tracing::warn!(error = %e, command, "disk full");
                return Completion::no(
                    Code::OverQuota,
                    format!("{command} failed: not enough disk space"),
                );
            }
            Some(Refused::ReadOnly) => {
                tracing::warn!(error = %e, command, "store not writable");
                return Completion::no(
                    Code::NoPerm,
                    format!("{command} failed: the mail store cannot be written"),
                );
            }
            None => {}
        }
        let code = match e {
            StoreError::Limit { .. } => Code::Limit,
            StoreError::NoSuchMailbox(_) => Code::NonExistent,
            StoreError::InvalidName { .. } => Code::Cannot,
            StoreError::Io { .. } | StoreError::Corrupt(_) | StoreError::Backend { .. } => {
                Code::ServerBug
            }
            StoreError::Locked(_) => Code::Unavailable,
            _ => Code::Cannot,
        };
        let text = match e {
            StoreError::NoSuchMailbox(_) => "No such mailbox".to_owned(),
            StoreError::Io { .. } | StoreError::Corrupt(_) | StoreError::Backend { .. } => {
                tracing::warn!(error = %e, command, "store failure");
                "Internal error".to_owned()
            }
            other => capitalize(&other.to_string()),
        };
        Completion::no(code, format!("{command} failed: {text}"))
    }
}

/// The status of an untagged status response (RFC 3501 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `* OK`: information, often a response code.
    Ok,
    /// `* NO`: a warning.
    No,
    /// `* BAD`: a protocol error not tied to a command.
    Bad,
    /// `* BYE`: the server is closing the connection (§7.1.5).
    Bye,
}

/// One untagged response (RFC 3501 §7.1–§7.4, and the extensions yubin implements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data<'a> {
    /// `* OK|NO|BAD|BYE [code] text`.
    Condition {
        /// Which one.
        status: Condition,
        /// The response code, if any.
        code: Option<Code>,
        /// The text.
        text: Cow<'a, str>,
    },
    /// `* CAPABILITY ...` (§7.2.1): the capability names, space-separated.
    Capability(Cow<'a, str>),
    /// `* ENABLED ...` (RFC 5161 §3.2): what this ENABLE turned on.
    Enabled(Vec<&'a str>),
    /// `* ID (...)` (RFC 2971 §3.2): field/value pairs.
    Id(Vec<(&'a str, Option<Cow<'a, str>>)>),
    /// `* NAMESPACE (("prefix" "delimiter")) NIL NIL` (RFC 2342 §5): one personal
    /// namespace, no other users' or shared ones.
    Namespace {
        /// The personal namespace's prefix.
        prefix: &'a str,
        /// Its hierarchy delimiter.
        delimiter: char,
    },
    /// `* FLAGS (...)` (§7.2.6): the system flags and these keywords.
    Flags(&'a BTreeSet<String>),
    /// `* n EXISTS` (§7.3.1).
    Exists(u32),
    /// `* n RECENT` (§7.3.2).
    Recent(u32),
    /// `* n EXPUNGE` (§7.4.1).
    Expunge(u32),
    /// `* n FETCH (...)` (§7.4.2).
    Fetch {
        /// The message's sequence number.
        seq: u32,
        /// Its data items, in the order sent.
        items: Vec<FetchItem<'a>>,
    },
    /// `* SEARCH n... [(MODSEQ m)]` (§7.2.5; RFC 7162 §3.1.5 adds the highest modseq of
    /// the messages found when the search used MODSEQ).
    Search {
        /// The numbers found.
        numbers: &'a [u32],
        /// `(MODSEQ m)`.
        modseq: Option<u64>,
    },
    /// `* SORT n...` (RFC 5256 §4): the numbers in sort order.
    Sort(&'a [u32]),
    /// `* THREAD (...)...` (RFC 5256 §4): the threads, message `i` of the forest being
    /// `numbers[i]`.
    Thread {
        /// The threads.
        forest: &'a crate::sort::thread::Forest,
        /// The sequence number or UID of each message the forest names.
        numbers: &'a [u32],
    },
    /// `* VANISHED [(EARLIER)] uids` (RFC 7162 §3.2.10): messages gone, by UID; without
    /// EARLIER it is an EXPUNGE of each (the numbers after them shift), with it a report
    /// of what went before.
    Vanished {
        /// `(EARLIER)`.
        earlier: bool,
        /// The UIDs.
        uids: SequenceSet,
    },
    /// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]` (RFC 4731 §3.1);
    /// only the parts asked for are given.
    ESearch {
        /// The tag of the command answered. It needs no escaping: a tag has no
        /// quoted-specials (RFC 3501 §9).
        tag: &'a str,
        /// Whether the numbers are UIDs.
        uid: bool,
        /// `MIN`.
        min: Option<u32>,
        /// `MAX`.
        max: Option<u32>,
        /// `COUNT`.
        count: Option<usize>,
        /// `ALL`.
        all: Option<SequenceSet>,
        /// `MODSEQ m` (RFC 7162 §3.1.5).
        modseq: Option<u64>,
        /// `PARTIAL (a:b set)` (RFC 5267 §4.4); `None` as the set is NIL (nothing there).
        partial: Option<((u32, u32), Option<SequenceSet>)>,
        /// `ADDTO`/`REMOVEFROM` (RFC 5267 §4.3.3, §4.3.4), in the order to apply them.
        updates: Vec<ESearchUpdate>,
    },
    /// `* STATUS name (item n ...)` (§7.2.4).
    Status {
        /// The mailbox.
        mailbox: &'a str,
        /// The items asked for, with their values.
        items: Vec<(StatusItem, u64)>,
    },
    /// `* LIST (attributes) "/" name` or `* LSUB ...` (§7.2.2, §7.2.3), with RFC 5258's
    /// `CHILDINFO` extended data when given.
    List {
        /// LSUB rather than LIST.
        lsub: bool,
        /// Name attributes (`\HasChildren`, `\Sent`, ...).
        attributes: Vec<&'a str>,
        /// The hierarchy delimiter; `None` is NIL (a flat name space).
        delimiter: Option<char>,
        /// The mailbox name.
        name: &'a str,
        /// RFC 5258 §3.5 `CHILDINFO` selection criteria a child matched; empty: none sent.
        child_info: Vec<&'a str>,
        /// RFC 5465 §5.4 `OLDNAME`: the name a renamed mailbox had (a NOTIFY event).
        old_name: Option<&'a str>,
    },
}

/// A change to an update context's result (RFC 5267 §4.3): at a context position (0 for
/// a SEARCH: the client keeps mailbox order), these results in the requested order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ESearchUpdate {
    /// `ADDTO (position set)`.
    AddTo(u32, SequenceSet),
    /// `REMOVEFROM (position set)`.
    RemoveFrom(u32, SequenceSet),
}

/// One data item of a FETCH response (RFC 3501 §7.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem<'a> {
    /// `UID n`.
    Uid(u32),
    /// `FLAGS (...)`.
    Flags(Vec<String>),
    /// `INTERNALDATE "..."`.
    InternalDate(&'a DateTime<FixedOffset>),
    /// `RFC822.SIZE n`.
    Rfc822Size(u64),
    /// `MODSEQ (n)` (RFC 7162 §3.1.4.2).
    ModSeq(u64),
    /// `ENVELOPE (...)`, already encoded ([`crate::mime`] caches it encoded).
    Envelope(&'a [u8]),
    /// `BODYSTRUCTURE (...)`, already encoded.
    BodyStructure(&'a [u8]),
    /// `BODY (...)`, already encoded.
    Body(&'a [u8]),
    /// `BINARY[part]<origin>` (RFC 3516 §4.3): decoded octets, as a `literal8` when they
    /// hold NUL, else as a literal.
    Binary {
        /// The part.
        part: &'a [u32],
        /// The partial's origin.
        origin: Option<u32>,
        /// The decoded octets.
        data: &'a [u8],
    },
    /// `BINARY.SIZE[part] n` (RFC 3516 §4.3).
    BinarySize {
        /// The part.
        part: &'a [u32],
        /// The decoded size.
        size: u64,
    },
    /// Message data: `BODY[section]<origin>`, `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`.
    Section {
        /// Which.
        name: SectionName<'a>,
        /// The octets.
        data: MessageData<'a>,
    },
}

/// The name of a message data item in a FETCH response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionName<'a> {
    /// `RFC822`.
    Rfc822,
    /// `RFC822.HEADER`.
    Rfc822Header,
    /// `RFC822.TEXT`.
    Rfc822Text,
    /// `BODY[section]`, with `<origin>` for a partial fetch (named without `.PEEK` and
    /// by its origin only, RFC 3501 §7.4.2).
    Body {
        /// The section.
        section: &'a Section,
        /// The partial's origin.
        origin: Option<u32>,
    },
}

/// Message octets for a FETCH response, always sent as a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageData<'a> {
    /// Octets in their wire form (CRLF line ends).
    Wire(&'a [u8]),
    /// A message as stored, whose lines may end in a bare LF: made CRLF while copied,
    /// its length counted from the octets ([`write_literal_crlf`]).
    Stored(&'a [u8]),
}

impl Data<'_> {
    /// Appends the response's wire form, `* ` to CRLF.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"* ");
        match self {
            Data::Condition { status, code, text } => {
                out.extend_from_slice(match status {
                    Condition::Ok => b"OK ".as_slice(),
                    Condition::No => b"NO ",
                    Condition::Bad => b"BAD ",
                    Condition::Bye => b"BYE ",
                });
                if let Some(code) = code {
                    out.extend_from_slice(code.to_text().as_bytes());
                    out.push(b' ');
                }
                out.extend_from_slice(text.as_bytes());
            }
            Data::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                out.extend_from_slice(caps.as_bytes());
            }
            Data::Enabled(names) => {
                out.extend_from_slice(b"ENABLED");
                for n in names {
                    out.push(b' ');
                    out.extend_from_slice(n.as_bytes());
                }
            }
            Data::Id(pairs) => {
                out.extend_from_slice(b"ID (");
                for (i, (field, value)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    crate::value::write_string(out, field.as_bytes());
                    out.push(b' ');
                    crate::value::write_nstring(out, value.as_deref().map(str::as_bytes));
                }
                out.push(b')');
            }
            Data::Namespace { prefix, delimiter } => {
                out.extend_from_slice(b"NAMESPACE ((");
                crate::value::write_string(out, prefix.as_bytes());
                out.push(b' ');
                crate::value::write_string(out, delimiter.to_string().as_bytes());
                out.extend_from_slice(b")) NIL NIL");
            }
            Data::Flags(keywords) => {
                out.extend_from_slice(b"FLAGS (");
                out.extend_from_slice(SYSTEM_FLAGS.as_bytes());
                for k in keywords.iter() {
                    out.push(b' ');
                    out.extend_from_slice(k.as_bytes());
                }
                out.push(b')');
            }
            Data::Exists(n) => out.extend_from_slice(format!("{n} EXISTS").as_bytes()),
            Data::Recent(n) => out.extend_from_slice(format!("{n} RECENT").as_bytes()),
            Data::Expunge(n) => out.extend_from_slice(format!("{n} EXPUNGE").as_bytes()),
            Data::Fetch { seq, items } => {
                out.extend_from_slice(format!("{seq} FETCH (").as_bytes());
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.encode(out);
                }
                out.push(b')');
            }
            Data::Search { numbers, modseq } => {
                out.extend_from_slice(b"SEARCH");
                for n in numbers.iter() {
                    out.extend_from_slice(format!(" {n}").as_bytes());
                }
                if let Some(m) = modseq {
                    out.extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
                }
            }
            Data::Sort(numbers) => {
                out.extend_from_slice(b"SORT");
                for n in numbers.iter() {
                    out.extend_from_slice(format!(" {n}").as_bytes());
                }
            }
            Data::Thread { forest, numbers } => {
                // `thread-data = "THREAD" [SP 1*thread-list]`: nothing after it when no
                // message matched.
                out.extend_from_slice(b"THREAD");
                if !forest.roots.is_empty() {
                    out.push(b' ');
                    forest.write(|i| numbers[i], out);
                }
            }
            Data::Vanished { earlier, uids } => {
                out.extend_from_slice(b"VANISHED ");
                if *earlier {
                    out.extend_from_slice(b"(EARLIER) ");
                }
                crate::request::write_set(out, uids);
            }
            Data::ESearch {
                tag,
                uid,
                min,
                max,
                count,
                all,
                modseq,
                partial,
                updates,
            } => {
                out.extend_from_slice(format!("ESEARCH (TAG \"{tag}\")").as_bytes());
                if *uid {
                    out.extend_from_slice(b" UID");
                }
                if let Some(min) = min {
                    out.extend_from_slice(format!(" MIN {min}").as_bytes());
                }
                if let Some(max) = max {
                    out.extend_from_slice(format!(" MAX {max}").as_bytes());
                }
                if let Some(count) = count {
                    out.extend_from_slice(format!(" COUNT {count}").as_bytes());
                }
                if let Some(all) = all {
                    out.extend_from_slice(b" ALL ");
                    crate::request::write_set(out, all);
                }
                if let Some(((a, b), set)) = partial {
                    out.extend_from_slice(format!(" PARTIAL ({a}:{b} ").as_bytes());
                    match set {
                        Some(set) => crate::request::write_set(out, set),
                        None => out.extend_from_slice(b"NIL"),
                    }
                    out.push(b')');
                }
                for u in updates {
                    let (name, pos, set) = match u {
                        ESearchUpdate::AddTo(p, s) => ("ADDTO", p, s),
                        ESearchUpdate::RemoveFrom(p, s) => ("REMOVEFROM", p, s),
                    };
                    out.extend_from_slice(format!(" {name} ({pos} ").as_bytes());
                    crate::request::write_set(out, set);
                    out.push(b')');
                }
                if let Some(m) = modseq {
                    out.extend_from_slice(format!(" MODSEQ {m}").as_bytes());
                }
            }
            Data::Status { mailbox, items } => {
                out.extend_from_slice(b"STATUS ");
                write_mailbox(out, mailbox);
                out.extend_from_slice(b" (");
                for (i, (item, n)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(format!("{} {n}", item.as_str()).as_bytes());
                }
                out.push(b')');
            }
            Data::List {
                lsub,
                attributes,
                delimiter,
                name,
                child_info,
                old_name,
            } => {
                out.extend_from_slice(if *lsub { b"LSUB (" } else { b"LIST (" });
                out.extend_from_slice(attributes.join(" ").as_bytes());
                out.extend_from_slice(b") ");
                match delimiter {
                    Some(d) => crate::value::write_string(out, d.to_string().as_bytes()),
                    None => out.extend_from_slice(b"NIL"),
                }
                out.push(b' ');
                write_mailbox(out, name);
                // RFC 5258 §9: `mbox-list-extended = "(" [mbox-list-extended-item *(SP
                // mbox-list-extended-item)] ")"`, sent only when there is an item.
                if child_info.is_empty() && old_name.is_none() {
                    out.extend_from_slice(b"\r\n");
                    return;
                }
                out.extend_from_slice(b" (");
                if !child_info.is_empty() {
                    // RFC 5258 §3.5: `"CHILDINFO" ("SUBSCRIBED")`.
                    out.extend_from_slice(b"\"CHILDINFO\" (");
                    for (i, c) in child_info.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        crate::value::write_string(out, c.as_bytes());
                    }
                    out.push(b')');
                }
                if let Some(old) = old_name {
                    if !child_info.is_empty() {
                        out.push(b' ');
                    }
                    // RFC 5465 §5.4: `"OLDNAME" SP "(" mailbox ")"`.
                    out.extend_from_slice(b"\"OLDNAME\" (");
                    write_mailbox(out, old);
                    out.push(b')');
                }
                out.push(b')');
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

impl FetchItem<'_> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            FetchItem::Uid(uid) => out.extend_from_slice(format!("UID {uid}").as_bytes()),
            FetchItem::Flags(flags) => {
                out.extend_from_slice(b"FLAGS (");
                out.extend_from_slice(flags.join(" ").as_bytes());
                out.push(b')');
            }
            FetchItem::InternalDate(d) => {
                // RFC 3501 §9 `date-time`: "17-Jul-1996 02:44:25 -0700".
                let text = d.format("INTERNALDATE \"%d-%b-%Y %H:%M:%S %z\"");
                out.extend_from_slice(text.to_string().as_bytes());
            }
            FetchItem::ModSeq(n) => out.extend_from_slice(format!("MODSEQ ({n})").as_bytes()),
            FetchItem::Rfc822Size(n) => {
                out.extend_from_slice(format!("RFC822.SIZE {n}").as_bytes())
            }
            FetchItem::Envelope(v) => {
                out.extend_from_slice(b"ENVELOPE ");
                out.extend_from_slice(v);
            }
            FetchItem::BodyStructure(v) => {
                out.extend_from_slice(b"BODYSTRUCTURE ");
                out.extend_from_slice(v);
            }
            FetchItem::Body(v) => {
                out.extend_from_slice(b"BODY ");
                out.extend_from_slice(v);
            }
            FetchItem::Binary { part, origin, data } => {
                out.extend_from_slice(b"BINARY");
                crate::request::write_section_binary(out, part);
                if let Some(origin) = origin {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
                out.push(b' ');
                // RFC 3516 §4.3: "If the domain of the decoded data is "8bit" and the data
                // does not contain the NUL octet, the server SHOULD return the data in a
                // <string> instead of a <literal8>".
                if data.contains(&0) {
                    crate::value::write_literal8(out, data, false);
                } else {
                    write_message_data(out, data);
                }
            }
            FetchItem::BinarySize { part, size } => {
                out.extend_from_slice(b"BINARY.SIZE");
                crate::request::write_section_binary(out, part);
                out.extend_from_slice(format!(" {size}").as_bytes());
            }
            FetchItem::Section { name, data } => {
                match name {
                    SectionName::Rfc822 => out.extend_from_slice(b"RFC822"),
                    SectionName::Rfc822Header => out.extend_from_slice(b"RFC822.HEADER"),
                    SectionName::Rfc822Text => out.extend_from_slice(b"RFC822.TEXT"),
                    SectionName::Body { section, origin } => {
                        out.extend_from_slice(b"BODY");
                        write_section(out, section);
                        if let Some(origin) = origin {
                            out.extend_from_slice(format!("<{origin}>").as_bytes());
                        }
                    }
                }
                out.push(b' ');
                match data {
                    MessageData::Wire(d) => write_message_data(out, d),
                    MessageData::Stored(d) => write_literal_crlf(out, d),
                }
            }
        }
    }
}

/// The answer to one command as it is built: untagged data, then (last) the tagged
/// completion or a continuation request.
#[derive(Debug, Default)]
pub struct Responses {
    bytes: Vec<u8>,
}

impl Responses {
    /// Nothing yet.
    pub fn new() -> Responses {
        Responses::default()
    }

    /// Adds an untagged response.
    pub fn data(&mut self, data: Data<'_>) {
        data.encode(&mut self.bytes);
    }

    /// `* OK [code] text`: information with a response code.
    pub fn info(&mut self, code: Code, text: &str) {
        self.data(Data::Condition {
            status: Condition::Ok,
            code: Some(code),
            text: Cow::Borrowed(text),
        });
    }

    /// The tagged completion: `tag OK|NO|BAD [code] text` CRLF.
    pub fn completion(&mut self, tag: &str, c: &Completion) {
        let out = &mut self.bytes;
        out.extend_from_slice(tag.as_bytes());
        out.push(b' ');
        out.extend_from_slice(c.status.as_str().as_bytes());
        out.push(b' ');
        if let Some(code) = &c.code {
            out.extend_from_slice(code.to_text().as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(c.text.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// A continuation request, `+ text` CRLF (RFC 3501 §7.5).
    pub fn continuation(&mut self, text: &str) {
        self.bytes.extend_from_slice(b"+ ");
        self.bytes.extend_from_slice(text.as_bytes());
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The octets to send.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Takes the octets written so far (a piece of a long response), leaving it empty.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

/// `Text` with its first letter upper-case, for error texts put in responses.
pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(d: Data<'_>) -> String {
        let mut out = Vec::new();
        d.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn data_is_written_as_rfc_3501_shows_it() {
        assert_eq!(one(Data::Exists(3)), "* 3 EXISTS\r\n");
        let kw = BTreeSet::from(["$Forwarded".to_owned()]);
        assert_eq!(
            one(Data::Flags(&kw)),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded)\r\n"
        );
        assert_eq!(
            one(Data::Condition {
                status: Condition::Ok,
                code: Some(Code::PermanentFlags {
                    keywords: vec!["$Forwarded".into()],
                    writable: true
                }),
                text: "Flags permitted".into(),
            }),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded \\*)] Flags permitted\r\n"
        );
        assert_eq!(
            one(Data::Fetch {
                seq: 2,
                items: vec![
                    FetchItem::Uid(7),
                    FetchItem::Flags(vec!["\\Seen".into()]),
                    FetchItem::Section {
                        name: SectionName::Rfc822Header,
                        data: MessageData::Stored(b"A: b\n\n"),
                    },
                ],
            }),
            "* 2 FETCH (UID 7 FLAGS (\\Seen) RFC822.HEADER {8}\r\nA: b\r\n\r\n)\r\n"
        );
        assert_eq!(
            one(Data::List {
                lsub: false,
                attributes: vec!["\\HasNoChildren"],
                delimiter: Some('/'),
                name: "a \"b\"",
                child_info: vec!["SUBSCRIBED"],
                old_name: None,
            }),
            "* LIST (\\HasNoChildren) \"/\" \"a \\\"b\\\"\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
    }

    #[test]
    fn the_completion_ends_the_answer() {
        let mut r = Responses::new();
        r.data(Data::Expunge(1));
        r.completion("a", &Completion::no(Code::TryCreate, "No such mailbox"));
        assert_eq!(
            r.into_bytes(),
            b"* 1 EXPUNGE\r\na NO [TRYCREATE] No such mailbox\r\n"
        );
    }
}
