//! The encoder: strings as atom, quoted or literal; NIL; nested lists (RFC 3501 §4, §9).
//!
//! The one rule that matters: a string goes out quoted only if every octet is 7-bit
//! text without CR, LF or NUL (`QUOTED-CHAR`); anything else (8-bit, CR/LF, very long)
//! goes out as a literal `{n}\r\n...`, which can carry any octet but NUL.
//! Message data (`BODY[...]`, `RFC822*`) is the exception: always a literal, see
//! [`write_message_data`].
//!
//! [`encode_command`] is the other direction, used by the small client and by the
//! encode∘parse round-trip tests.

use crate::command::{
    Command, CommandBody, FetchAttr, SearchKey, Section, SectionText, SeqNum, SequenceSet,
    StoreMode,
};

/// Longest string sent quoted; longer ones go as literals, which clients read in one go.
const MAX_QUOTED: usize = 1024;

/// A value in a response's data: the building block of ENVELOPE and BODYSTRUCTURE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `NIL`.
    Nil,
    /// A `number`.
    Number(u64),
    /// An atom, sent as is (the caller guarantees it is one).
    Atom(String),
    /// A `string`: quoted or literal, whichever fits.
    String(Vec<u8>),
    /// A parenthesized list; items separated by one space.
    List(Vec<Value>),
    /// Octets already encoded (a multipart's `1*body`, which has no spaces between bodies).
    Raw(Vec<u8>),
}

impl Value {
    /// A string value from text.
    pub fn str(s: impl AsRef<[u8]>) -> Value {
        Value::String(s.as_ref().to_vec())
    }

    /// A string, or NIL when absent (`nstring`).
    pub fn nstr<S: AsRef<[u8]>>(s: Option<S>) -> Value {
        match s {
            Some(s) => Value::str(s),
            None => Value::Nil,
        }
    }

    /// Appends the value's wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Nil => out.extend_from_slice(b"NIL"),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::Atom(a) => out.extend_from_slice(a.as_bytes()),
            Value::Raw(r) => out.extend_from_slice(r),
            Value::String(s) => write_string(out, s),
            Value::List(items) => {
                out.push(b'(');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    item.encode(out);
                }
                out.push(b')');
            }
        }
    }

    /// The value's wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// Whether `s` may be sent as a `quoted` string.
pub fn is_quotable(s: &[u8]) -> bool {
    s.len() <= MAX_QUOTED
        && s.iter()
            .all(|&b| (0x01..=0x7f).contains(&b) && b != b'\r' && b != b'\n')
}

/// Writes `string = quoted / literal`, choosing quoted whenever it can carry the bytes.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        write_literal(out, s, false);
    }
}

/// Writes a literal of a message as stored, whose lines may end in bare LF, in its wire
/// form (every line end CRLF), converted while it is copied. The length is counted from
/// the bytes, never taken from a file name another program chose: a wrong one would
/// desynchronise the stream.
pub fn write_literal_crlf(out: &mut Vec<u8>, stored: &[u8]) {
    let wire_len = yubin_store::wire::wire_size(stored);
    out.push(b'{');
    out.extend_from_slice(wire_len.to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.reserve(wire_len as usize);
    for chunk in yubin_store::wire::crlf_chunks(stored) {
        out.extend_from_slice(chunk);
    }
}

/// Writes a literal: `{n}` CRLF and the octets (`{n+}` when `non_sync`, RFC 7888).
pub fn write_literal(out: &mut Vec<u8>, s: &[u8], non_sync: bool) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    if non_sync {
        out.push(b'+');
    }
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// Writes message data (`BODY[section]`, `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`): always
/// a literal, however short, `{0}\r\n` when empty.
///
/// The grammar allows a quoted string or NIL there (`nstring`), but Dovecot, Cyrus and
/// Gmail always send a literal and clients rely on it: Python's imaplib, for one, hands
/// back message data only from a literal and leaves a quoted one inside the response line.
pub fn write_message_data(out: &mut Vec<u8>, data: &[u8]) {
    write_literal(out, data, false);
}

/// Writes `nstring = string / nil`.
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Writes `astring`: a bare atom when every octet is an `ASTRING-CHAR` (and it is not
/// the word NIL, which a reader of an nstring would take for nothing), else a string.
pub fn write_astring(out: &mut Vec<u8>, s: &[u8]) {
    let atom_ok = !s.is_empty()
        && s.iter()
            .all(|&b| crate::parse::is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL");
    if atom_ok {
        out.extend_from_slice(s);
    } else {
        write_string(out, s);
    }
}

/// A mailbox name in a response (LIST, STATUS): always a string, so that names with
/// spaces or wildcards read back the same (RFC 3501 §9 `mailbox`).
pub fn write_mailbox(out: &mut Vec<u8>, name: &str) {
    write_string(out, name.as_bytes());
}

/// Response codes (RFC 3501 §7.1, RFC 5530) that yubin sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// `[ALERT]`.
    Alert,
    /// `[AUTHENTICATIONFAILED]` (RFC 5530).
    AuthenticationFailed,
    /// `[BADCHARSET (UTF-8 US-ASCII)]`.
    BadCharset,
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
    /// `[UNAVAILABLE]` (RFC 5530).
    Unavailable,
    /// `[PARSE]`.
    Parse,
    /// `[CAPABILITY ...]`.
    Capability(String),
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
    /// `[APPENDUID uidvalidity uid]` (UIDPLUS, RFC 4315 §3).
    AppendUid {
        /// UIDVALIDITY of the destination mailbox.
        uid_validity: u32,
        /// The new message's UID.
        uid: u32,
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
            Code::Cannot => "[CANNOT]".into(),
            Code::ClientBug => "[CLIENTBUG]".into(),
            Code::NonExistent => "[NONEXISTENT]".into(),
            Code::ReadOnly => "[READ-ONLY]".into(),
            Code::ReadWrite => "[READ-WRITE]".into(),
            Code::ServerBug => "[SERVERBUG]".into(),
            Code::TooBig => "[TOOBIG]".into(),
            Code::Unavailable => "[UNAVAILABLE]".into(),
            Code::Parse => "[PARSE]".into(),
            Code::Capability(c) => format!("[CAPABILITY {c}]"),
            Code::PrivacyRequired => "[PRIVACYREQUIRED]".into(),
            Code::TryCreate => "[TRYCREATE]".into(),
            Code::AlreadyExists => "[ALREADYEXISTS]".into(),
            Code::InUse => "[INUSE]".into(),
            Code::HasChildren => "[HASCHILDREN]".into(),
            Code::Limit => "[LIMIT]".into(),
            Code::OverQuota => "[OVERQUOTA]".into(),
            Code::NoPerm => "[NOPERM]".into(),
            Code::UseAttr => "[USEATTR]".into(),
            Code::AppendUid { uid_validity, uid } => format!("[APPENDUID {uid_validity} {uid}]"),
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => format!("[COPYUID {uid_validity} {source} {dest}]"),
        }
    }
}

/// A tagged status line: `tag OK|NO|BAD [code] text` CRLF.
pub fn tagged(out: &mut Vec<u8>, tag: &str, status: &str, code: Option<&Code>, text: &str) {
    out.extend_from_slice(tag.as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.extend_from_slice(code.to_text().as_bytes());
        out.push(b' ');
    }
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// An untagged line: `* ` text CRLF.
pub fn untagged(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------------------
// Commands, for the client side and for round-trip tests.

/// A sequence set as written in a command or an `ESEARCH ALL` (`1:3,5`, `$`).
pub fn write_set(out: &mut Vec<u8>, set: &SequenceSet) {
    for (i, &(a, b)) in set.0.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_seq(out, a);
        if a != b {
            out.push(b':');
            write_seq(out, b);
        }
    }
}

fn write_seq(out: &mut Vec<u8>, n: SeqNum) {
    match n {
        SeqNum::Value(n) => out.extend_from_slice(n.to_string().as_bytes()),
        SeqNum::Star => out.push(b'*'),
        SeqNum::Saved => out.push(b'$'),
    }
}

/// A command argument string: atom when possible, else quoted, else a non-synchronizing
/// literal (RFC 7888), which a LITERAL+ server takes without a round trip.
fn write_arg(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && s.iter()
            .all(|&b| crate::parse::is_atom_char(b) || b == b']')
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else if is_quotable(s) {
        write_string(out, s);
    } else {
        write_literal(out, s, true);
    }
}

/// A string argument where the grammar allows no atom (`string`).
fn write_string_arg(out: &mut Vec<u8>, s: &[u8]) {
    if is_quotable(s) {
        write_string(out, s);
    } else {
        write_literal(out, s, true);
    }
}

fn write_section(out: &mut Vec<u8>, s: &Section) {
    out.push(b'[');
    let parts: Vec<String> = s.part.iter().map(|p| p.to_string()).collect();
    out.extend_from_slice(parts.join(".").as_bytes());
    if let Some(text) = &s.text {
        if !s.part.is_empty() {
            out.push(b'.');
        }
        let list = |out: &mut Vec<u8>, names: &[String]| {
            out.extend_from_slice(b" (");
            for (i, n) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_arg(out, n.as_bytes());
            }
            out.push(b')');
        };
        match text {
            SectionText::Header => out.extend_from_slice(b"HEADER"),
            SectionText::Text => out.extend_from_slice(b"TEXT"),
            SectionText::Mime => out.extend_from_slice(b"MIME"),
            SectionText::HeaderFields(n) => {
                out.extend_from_slice(b"HEADER.FIELDS");
                list(out, n);
            }
            SectionText::HeaderFieldsNot(n) => {
                out.extend_from_slice(b"HEADER.FIELDS.NOT");
                list(out, n);
            }
        }
    }
    out.push(b']');
}

/// The wire name of a fetch attribute (used in requests and in FETCH responses).
pub fn write_fetch_attr(out: &mut Vec<u8>, a: &FetchAttr, with_partial: bool) {
    match a {
        FetchAttr::Flags => out.extend_from_slice(b"FLAGS"),
        FetchAttr::InternalDate => out.extend_from_slice(b"INTERNALDATE"),
        FetchAttr::Rfc822Size => out.extend_from_slice(b"RFC822.SIZE"),
        FetchAttr::Envelope => out.extend_from_slice(b"ENVELOPE"),
        FetchAttr::BodyStructure => out.extend_from_slice(b"BODYSTRUCTURE"),
        FetchAttr::Body => out.extend_from_slice(b"BODY"),
        FetchAttr::Rfc822 => out.extend_from_slice(b"RFC822"),
        FetchAttr::Rfc822Header => out.extend_from_slice(b"RFC822.HEADER"),
        FetchAttr::Rfc822Text => out.extend_from_slice(b"RFC822.TEXT"),
        FetchAttr::Uid => out.extend_from_slice(b"UID"),
        FetchAttr::BodySection {
            section,
            partial,
            peek,
        } => {
            out.extend_from_slice(if *peek { b"BODY.PEEK" } else { b"BODY" });
            write_section(out, section);
            if let Some((origin, count)) = partial {
                if with_partial {
                    out.extend_from_slice(format!("<{origin}.{count}>").as_bytes());
                } else {
                    out.extend_from_slice(format!("<{origin}>").as_bytes());
                }
            }
        }
    }
}

fn write_date(out: &mut Vec<u8>, d: chrono::NaiveDate) {
    out.extend_from_slice(d.format("%-d-%b-%Y").to_string().as_bytes());
}

fn write_search_key(out: &mut Vec<u8>, k: &SearchKey) {
    use SearchKey as K;
    let mut word = |w: &str| out.extend_from_slice(w.as_bytes());
    match k {
        K::All => word("ALL"),
        K::Answered => word("ANSWERED"),
        K::Deleted => word("DELETED"),
        K::Draft => word("DRAFT"),
        K::Flagged => word("FLAGGED"),
        K::New => word("NEW"),
        K::Old => word("OLD"),
        K::Recent => word("RECENT"),
        K::Seen => word("SEEN"),
        K::Unanswered => word("UNANSWERED"),
        K::Undeleted => word("UNDELETED"),
        K::Undraft => word("UNDRAFT"),
        K::Unflagged => word("UNFLAGGED"),
        K::Unseen => word("UNSEEN"),
        K::Bcc(s) | K::Body(s) | K::Cc(s) | K::From(s) | K::Subject(s) | K::Text(s) | K::To(s) => {
            let name = match k {
                K::Bcc(_) => "BCC ",
                K::Body(_) => "BODY ",
                K::Cc(_) => "CC ",
                K::From(_) => "FROM ",
                K::Subject(_) => "SUBJECT ",
                K::Text(_) => "TEXT ",
                _ => "TO ",
            };
            out.extend_from_slice(name.as_bytes());
            write_arg(out, s);
        }
        K::Before(d)
        | K::On(d)
        | K::Since(d)
        | K::SentBefore(d)
        | K::SentOn(d)
        | K::SentSince(d) => {
            let name = match k {
                K::Before(_) => "BEFORE ",
                K::On(_) => "ON ",
                K::Since(_) => "SINCE ",
                K::SentBefore(_) => "SENTBEFORE ",
                K::SentOn(_) => "SENTON ",
                _ => "SENTSINCE ",
            };
            out.extend_from_slice(name.as_bytes());
            write_date(out, *d);
        }
        K::Keyword(f) => {
            out.extend_from_slice(b"KEYWORD ");
            out.extend_from_slice(f.as_bytes());
        }
        K::Unkeyword(f) => {
            out.extend_from_slice(b"UNKEYWORD ");
            out.extend_from_slice(f.as_bytes());
        }
        K::Larger(n) => out.extend_from_slice(format!("LARGER {n}").as_bytes()),
        K::Smaller(n) => out.extend_from_slice(format!("SMALLER {n}").as_bytes()),
        K::Older(n) => out.extend_from_slice(format!("OLDER {n}").as_bytes()),
        K::Younger(n) => out.extend_from_slice(format!("YOUNGER {n}").as_bytes()),
        K::Uid(set) => {
            out.extend_from_slice(b"UID ");
            write_set(out, set);
        }
        K::SequenceSet(set) => write_set(out, set),
        K::Header(f, v) => {
            out.extend_from_slice(b"HEADER ");
            write_arg(out, f.as_bytes());
            out.push(b' ');
            write_arg(out, v);
        }
        K::Not(k) => {
            out.extend_from_slice(b"NOT ");
            write_search_key(out, k);
        }
        K::Or(a, b) => {
            out.extend_from_slice(b"OR ");
            write_search_key(out, a);
            out.push(b' ');
            write_search_key(out, b);
        }
        K::And(keys) => {
            out.push(b'(');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_search_key(out, k);
            }
            out.push(b')');
        }
    }
}

/// Encodes a command as a client sends it, CRLF included; literals are non-synchronizing.
pub fn encode_command(cmd: &Command) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(cmd.tag.as_bytes());
    out.push(b' ');
    let uid_prefix = |out: &mut Vec<u8>, uid: bool| {
        if uid {
            out.extend_from_slice(b"UID ");
        }
    };
    match &cmd.body {
        CommandBody::Login { user, password } => {
            out.extend_from_slice(b"LOGIN ");
            write_arg(&mut out, user.as_bytes());
            out.push(b' ');
            write_arg(&mut out, password.expose().as_bytes());
        }
        CommandBody::Authenticate { mechanism, initial } => {
            out.extend_from_slice(b"AUTHENTICATE ");
            out.extend_from_slice(mechanism.as_bytes());
            if let Some(ir) = initial {
                out.push(b' ');
                out.extend_from_slice(ir.as_bytes());
            }
        }
        CommandBody::Id(params) => {
            out.extend_from_slice(b"ID ");
            match params {
                None => out.extend_from_slice(b"NIL"),
                Some(list) => {
                    out.push(b'(');
                    for (i, (k, v)) in list.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        write_string_arg(&mut out, k.as_bytes());
                        out.push(b' ');
                        match v {
                            Some(v) => write_string_arg(&mut out, v.as_bytes()),
                            None => out.extend_from_slice(b"NIL"),
                        }
                    }
                    out.push(b')');
                }
            }
        }
        CommandBody::Enable(caps) => {
            out.extend_from_slice(b"ENABLE");
            for c in caps {
                out.push(b' ');
                out.extend_from_slice(c.as_bytes());
            }
        }
        CommandBody::List { reference, pattern } | CommandBody::Lsub { reference, pattern } => {
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_string_arg(&mut out, reference.as_bytes());
            out.push(b' ');
            write_string_arg(&mut out, pattern.as_bytes());
        }
        CommandBody::ListExtended(l) => {
            out.extend_from_slice(b"LIST ");
            let select: Vec<&str> = [
                (l.subscribed, "SUBSCRIBED"),
                (l.remote, "REMOTE"),
                (l.special_use, "SPECIAL-USE"),
                (l.recursive_match, "RECURSIVEMATCH"),
            ]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
            out.extend_from_slice(format!("({}) ", select.join(" ")).as_bytes());
            write_string_arg(&mut out, l.reference.as_bytes());
            out.extend_from_slice(b" (");
            for (i, p) in l.patterns.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string_arg(&mut out, p.as_bytes());
            }
            out.extend_from_slice(b") RETURN (");
            let mut ret: Vec<String> = [
                (l.return_subscribed, "SUBSCRIBED"),
                (l.return_children, "CHILDREN"),
                (l.return_special_use, "SPECIAL-USE"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_owned())
            .collect();
            if let Some(items) = &l.return_status {
                let items: Vec<&str> = items.iter().map(|i| i.as_str()).collect();
                ret.push(format!("STATUS ({})", items.join(" ")));
            }
            out.extend_from_slice(format!("{})", ret.join(" ")).as_bytes());
        }
        CommandBody::CreateSpecialUse { mailbox, uses } => {
            out.extend_from_slice(b"CREATE ");
            write_string_arg(&mut out, mailbox.as_bytes());
            out.extend_from_slice(format!(" (USE ({}))", uses.join(" ")).as_bytes());
        }
        CommandBody::Subscribe(m)
        | CommandBody::Unsubscribe(m)
        | CommandBody::Select(m)
        | CommandBody::Examine(m)
        | CommandBody::Create(m)
        | CommandBody::Delete(m) => {
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_arg(&mut out, m.as_bytes());
        }
        CommandBody::Rename { from, to } => {
            out.extend_from_slice(b"RENAME ");
            write_arg(&mut out, from.as_bytes());
            out.push(b' ');
            write_arg(&mut out, to.as_bytes());
        }
        CommandBody::Status { mailbox, items } => {
            out.extend_from_slice(b"STATUS ");
            write_arg(&mut out, mailbox.as_bytes());
            let names: Vec<&str> = items.iter().map(|i| i.as_str()).collect();
            out.extend_from_slice(format!(" ({})", names.join(" ")).as_bytes());
        }
        CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        } => {
            out.extend_from_slice(b"APPEND ");
            write_arg(&mut out, mailbox.as_bytes());
            if !flags.is_empty() {
                out.extend_from_slice(format!(" ({})", flags.join(" ")).as_bytes());
            }
            if let Some(d) = date {
                out.extend_from_slice(d.format(" \"%d-%b-%Y %H:%M:%S %z\"").to_string().as_bytes());
            }
            out.push(b' ');
            write_literal(&mut out, message, true);
        }
        CommandBody::Search {
            uid,
            ret,
            charset,
            criteria,
        } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"SEARCH");
            if let Some(r) = ret {
                let opts: Vec<&str> = [
                    (r.min, "MIN"),
                    (r.max, "MAX"),
                    (r.all, "ALL"),
                    (r.count, "COUNT"),
                    (r.save, "SAVE"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect();
                out.extend_from_slice(format!(" RETURN ({})", opts.join(" ")).as_bytes());
            }
            if let Some(c) = charset {
                out.extend_from_slice(b" CHARSET ");
                write_arg(&mut out, c.as_bytes());
            }
            for k in criteria {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::Fetch { uid, set, items } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"FETCH ");
            write_set(&mut out, set);
            out.extend_from_slice(b" (");
            for (i, a) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_fetch_attr(&mut out, a, true);
            }
            out.push(b')');
        }
        CommandBody::Store {
            uid,
            set,
            mode,
            silent,
            flags,
        } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"STORE ");
            write_set(&mut out, set);
            out.push(b' ');
            out.extend_from_slice(match mode {
                StoreMode::Replace => b"FLAGS".as_slice(),
                StoreMode::Add => b"+FLAGS",
                StoreMode::Remove => b"-FLAGS",
            });
            if *silent {
                out.extend_from_slice(b".SILENT");
            }
            out.extend_from_slice(format!(" ({})", flags.join(" ")).as_bytes());
        }
        CommandBody::Copy { uid, set, mailbox } | CommandBody::Move { uid, set, mailbox } => {
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(cmd.body.name().as_bytes());
            out.push(b' ');
            write_set(&mut out, set);
            out.push(b' ');
            write_arg(&mut out, mailbox.as_bytes());
        }
        CommandBody::UidExpunge(set) => {
            out.extend_from_slice(b"UID EXPUNGE ");
            write_set(&mut out, set);
        }
        CommandBody::Sort {
            uid,
            ret,
            criteria,
            charset,
            keys,
        } => {
            // RFC 5256 §5, RFC 5267 §3.
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(b"SORT");
            if let Some(r) = ret {
                let opts: Vec<&str> = [
                    (r.min, "MIN"),
                    (r.max, "MAX"),
                    (r.all, "ALL"),
                    (r.count, "COUNT"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect();
                out.extend_from_slice(format!(" RETURN ({})", opts.join(" ")).as_bytes());
            }
            let names: Vec<String> = criteria
                .iter()
                .map(|c| {
                    let reverse = if c.reverse { "REVERSE " } else { "" };
                    format!("{reverse}{}", c.key.as_str())
                })
                .collect();
            out.extend_from_slice(format!(" ({}) ", names.join(" ")).as_bytes());
            write_arg(&mut out, charset.as_bytes());
            for k in keys {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::Thread {
            uid,
            algorithm,
            charset,
            keys,
        } => {
            // RFC 5256 §5.
            uid_prefix(&mut out, *uid);
            out.extend_from_slice(format!("THREAD {} ", algorithm.as_str()).as_bytes());
            write_arg(&mut out, charset.as_bytes());
            for k in keys {
                out.push(b' ');
                write_search_key(&mut out, k);
            }
        }
        CommandBody::Capability
        | CommandBody::StartTls
        | CommandBody::Noop
        | CommandBody::Logout
        | CommandBody::Namespace
        | CommandBody::Check
        | CommandBody::Close
        | CommandBody::Unselect
        | CommandBody::Expunge
        | CommandBody::Idle => out.extend_from_slice(cmd.body.name().as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_choice() {
        let enc = |s: &[u8]| {
            let mut o = Vec::new();
            write_string(&mut o, s);
            o
        };
        assert_eq!(enc(b"hello"), b"\"hello\"");
        assert_eq!(enc(b"a\"b\\c"), b"\"a\\\"b\\\\c\"");
        assert_eq!(enc(b""), b"\"\"");
        assert_eq!(enc("郵便".as_bytes()), b"{6}\r\n\xe9\x83\xb5\xe4\xbe\xbf");
        assert_eq!(enc(b"a\r\nb"), b"{4}\r\na\r\nb");
    }

    #[test]
    fn message_data_is_always_a_literal() {
        let enc = |s: &[u8]| {
            let mut o = Vec::new();
            write_message_data(&mut o, s);
            o
        };
        assert_eq!(enc(b"From: bulk"), b"{10}\r\nFrom: bulk");
        assert_eq!(enc(b""), b"{0}\r\n");
    }

    #[test]
    fn nested_lists_and_nil() {
        let v = Value::List(vec![
            Value::Nil,
            Value::Number(3),
            Value::List(vec![Value::str("x"), Value::Atom("\\Seen".into())]),
        ]);
        assert_eq!(v.to_bytes(), b"(NIL 3 (\"x\" \\Seen))");
    }
}
