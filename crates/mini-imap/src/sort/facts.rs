//! What SORT and THREAD compare, read from a message's header block (RFC 5256 §2.2, §3;
//! RFC 5957 §3), once per message, so that sorting compares ready keys.
//!
//! Text keys are in [`casemap`] form. RFC 5256 §3: "If the associated RFC-822 header
//! for a particular criterion is absent, it is treated as the empty string. The empty
//! string always collates before non-empty strings." An empty field, and one the
//! address grammar cannot read, count as absent.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use crate::command::{SortCriterion, SortKey};
use crate::mime::address::{Entry, address_list};
use crate::op::search::raw_fields_named;
use crate::sort::base_subject::base_subject;
use crate::sort::collate::casemap;

/// Which facts a command needs; the others are left empty and never computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// The base subject (SUBJECT, THREAD).
    pub subject: bool,
    /// The first From address's mailbox (FROM).
    pub from: bool,
    /// The first To address's mailbox (TO).
    pub to: bool,
    /// The first Cc address's mailbox (CC).
    pub cc: bool,
    /// The From display name (DISPLAYFROM).
    pub display_from: bool,
    /// The To display name (DISPLAYTO).
    pub display_to: bool,
    /// The sent date (DATE, THREAD).
    pub sent: bool,
    /// Message-ID, References and In-Reply-To (THREAD=REFERENCES).
    pub ids: bool,
}

impl Needs {
    /// What sorting by `criteria` compares.
    pub fn for_sort(criteria: &[SortCriterion]) -> Needs {
        let mut n = Needs::default();
        for c in criteria {
            match c.key {
                SortKey::Subject => n.subject = true,
                SortKey::From => n.from = true,
                SortKey::To => n.to = true,
                SortKey::Cc => n.cc = true,
                SortKey::DisplayFrom => n.display_from = true,
                SortKey::DisplayTo => n.display_to = true,
                SortKey::Date => n.sent = true,
                SortKey::Arrival | SortKey::Size => {}
            }
        }
        n
    }

    /// What threading compares: subjects, sent dates and (for REFERENCES) ids.
    pub fn for_thread() -> Needs {
        Needs {
            subject: true,
            sent: true,
            ids: true,
            ..Needs::default()
        }
    }

    /// Whether any fact comes from the header (all but ARRIVAL and SIZE do).
    pub fn any_header(&self) -> bool {
        *self != Needs::default()
    }

    /// Whether every fact `other` needs is among these.
    pub fn covers(&self, other: Needs) -> bool {
        self.union(other) == *self
    }

    /// The facts either needs.
    pub fn union(self, other: Needs) -> Needs {
        Needs {
            subject: self.subject || other.subject,
            from: self.from || other.from,
            to: self.to || other.to,
            cc: self.cc || other.cc,
            display_from: self.display_from || other.display_from,
            display_to: self.display_to || other.display_to,
            sent: self.sent || other.sent,
            ids: self.ids || other.ids,
        }
    }
}

/// One message as SORT and THREAD see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The internal date, in seconds since the epoch (ARRIVAL).
    pub arrival: i64,
    /// The size in octets (SIZE).
    pub size: u64,
    /// The sent date in seconds since the epoch, UTC: the Date header, or the internal
    /// date when it is missing or cannot be parsed (RFC 5256 §2.2).
    pub sent: i64,
    /// The base subject (RFC 5256 §2.1), case-mapped.
    pub subject: String,
    /// Whether the subject marked a reply or forward (for REFERENCES step 5).
    pub reply_or_forward: bool,
    /// addr-mailbox of the first From address (RFC 3501 §7.4.2), case-mapped.
    pub from: String,
    /// addr-mailbox of the first To address, case-mapped.
    pub to: String,
    /// addr-mailbox of the first Cc address, case-mapped.
    pub cc: String,
    /// The first From address's display name, or its address (RFC 5957 §3), case-mapped.
    pub display_from: String,
    /// Likewise for To.
    pub display_to: String,
    /// The first valid msg-id of Message-ID, normalized ([`msg_ids`]).
    pub message_id: Option<String>,
    /// The message's references: the msg-ids of References, or when it has none the
    /// first msg-id of In-Reply-To (RFC 5256 §3, REFERENCES step 1).
    pub references: Vec<String>,
}

/// So that sorting and threading take facts as they are kept: owned, or shared with
/// [`crate::sort::cache::FactsCache`] (`Arc<Facts>`).
impl AsRef<Facts> for Facts {
    fn as_ref(&self) -> &Facts {
        self
    }
}

impl Facts {
    /// About how many bytes the facts hold on the heap (their text), for the cache's
    /// bound.
    pub fn heap_bytes(&self) -> usize {
        let strings = [
            &self.subject,
            &self.from,
            &self.to,
            &self.cc,
            &self.display_from,
            &self.display_to,
        ];
        strings.iter().map(|s| s.capacity()).sum::<usize>()
            + self.message_id.as_ref().map_or(0, String::capacity)
            + self.references.capacity() * std::mem::size_of::<String>()
            + self.references.iter().map(String::capacity).sum::<usize>()
    }

    /// Reads the facts `needs` asks for from a header block (as stored: the header with
    /// its blank line), for a message of this internal date and size.
    pub fn read(header: &[u8], arrival: i64, size: u64, needs: Needs) -> Facts {
        let mut f = Facts {
            arrival,
            size,
            sent: arrival,
            ..Facts::default()
        };
        if !needs.any_header() {
            return f;
        }
        // RFC 5322 allows one of each of these; a second one is ignored, as ENVELOPE
        // shows the first.
        const NAMES: [&str; 8] = [
            "subject",
            "from",
            "to",
            "cc",
            "date",
            "message-id",
            "references",
            "in-reply-to",
        ];
        let fields = raw_fields_named(header, &NAMES);
        let field = |name: &str| {
            let k = NAMES.iter().position(|n| *n == name)?;
            fields[k].as_deref()
        };
        if needs.subject {
            let b = base_subject(&field("subject").map(decode).unwrap_or_default());
            f.subject = casemap(&b.text);
            f.reply_or_forward = b.reply_or_forward;
        }
        let first = |name: &str| field(name).and_then(first_address);
        if needs.from || needs.display_from {
            let a = first("from");
            f.from = a.as_ref().map(addr_mailbox).unwrap_or_default();
            f.display_from = a.as_ref().map(display).unwrap_or_default();
        }
        if needs.to || needs.display_to {
            let a = first("to");
            f.to = a.as_ref().map(addr_mailbox).unwrap_or_default();
            f.display_to = a.as_ref().map(display).unwrap_or_default();
        }
        if needs.cc {
            f.cc = first("cc").as_ref().map(addr_mailbox).unwrap_or_default();
        }
        if needs.sent
            && let Some(t) = field("date").and_then(sent_date)
        {
            f.sent = t;
        }
        if needs.ids {
            f.message_id = field("message-id").and_then(|v| msg_ids(v).into_iter().next());
            f.references = field("references").map(msg_ids).unwrap_or_default();
            if f.references.is_empty() {
                f.references = field("in-reply-to")
                    .and_then(|v| msg_ids(v).into_iter().next())
                    .into_iter()
                    .collect();
            }
        }
        f
    }
}

/// Unstructured header text decoded (RFC 2047 encoded words, 8-bit text as UTF-8), with
/// white space runs made one space by the decoder.
fn decode(value: &[u8]) -> String {
    if value.is_ascii() && memchr::memmem::find(value, b"=?").is_none() {
        return String::from_utf8_lossy(value).into_owned();
    }
    let mut line = value.to_vec();
    line.extend_from_slice(b"\r\n");
    match MessageStream::new(&line).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// The Date field as seconds since the epoch, UTC (RFC 5256 §2.2); `None` when it
/// cannot be parsed.
fn sent_date(value: &[u8]) -> Option<i64> {
    let dt = mail_parser::DateTime::parse_rfc822(&String::from_utf8_lossy(value))?;
    dt.is_valid().then(|| dt.to_timestamp())
}

fn first_address(value: &[u8]) -> Option<Entry> {
    address_list(value)?.into_iter().next()
}

/// `addr-mailbox` as ENVELOPE gives it (RFC 3501 §7.4.2): the local part, or for the
/// start of a group the group's name.
fn addr_mailbox(e: &Entry) -> String {
    match e {
        Entry::Mailbox { mailbox, .. } => casemap(&String::from_utf8_lossy(mailbox)),
        Entry::GroupStart(name) => casemap(&decode(name)),
        Entry::GroupEnd => String::new(),
    }
}

/// RFC 5957 §3: the display name, decoded; when it is missing or empty, the address
/// (`mailbox@host`).
fn display(e: &Entry) -> String {
    let text = match e {
        Entry::Mailbox {
            name,
            mailbox,
            host,
            ..
        } => {
            let name = name.as_deref().map(decode).unwrap_or_default();
            let name = name.trim();
            if !name.is_empty() {
                name.to_owned()
            } else if host.is_empty() {
                String::from_utf8_lossy(mailbox).into_owned()
            } else {
                format!(
                    "{}@{}",
                    String::from_utf8_lossy(mailbox),
                    String::from_utf8_lossy(host)
                )
            }
        }
        Entry::GroupStart(name) => decode(name),
        Entry::GroupEnd => String::new(),
    };
    casemap(&text)
}

/// The msg-ids in a Message-ID, References or In-Reply-To field, in order: the text of
/// each `<...>`, normalized as RFC 5256 §3 (REFERENCES) requires so that quoting makes
/// no difference (`<"01KF8JCEOCBS0045PS"@xxx.yyy.com>` is
/// `<01KF8JCEOCBS0045PS@xxx.yyy.com>`): quotes and the backslash of quoted pairs are
/// dropped, and white space and comments inside are ignored. Comments and quoted
/// strings outside the brackets are skipped (old In-Reply-To fields hold phrases like
/// `"Joe <j@x>"'s message of ...`); an empty `<>` is not an id.
pub fn msg_ids(value: &[u8]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'(' => i = skip_comment(value, i),
            b'"' => i = skip_quoted(value, i),
            b'<' => {
                let mut id = Vec::new();
                let mut j = i + 1;
                let mut closed = false;
                while j < value.len() {
                    match value[j] {
                        b'>' => {
                            closed = true;
                            j += 1;
                            break;
                        }
                        b'\\' => {
                            if let Some(&c) = value.get(j + 1) {
                                id.push(c);
                            }
                            j += 2;
                        }
                        b'(' => j = skip_comment(value, j),
                        b'"' | b' ' | b'\t' | b'\r' | b'\n' => j += 1,
                        c => {
                            id.push(c);
                            j += 1;
                        }
                    }
                }
                if closed && !id.is_empty() {
                    ids.push(String::from_utf8_lossy(&id).into_owned());
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    ids
}

/// The index after the comment starting at `value[start] == '('` (nested comments and
/// quoted pairs included, counted rather than recursed into).
fn skip_comment(value: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < value.len() {
        match value[i] {
            b'\\' => i += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    value.len()
}

/// The index after the quoted string starting at `value[start] == '"'`.
fn skip_quoted(value: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < value.len() {
        match value[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    value.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Needs {
        Needs {
            subject: true,
            from: true,
            to: true,
            cc: true,
            display_from: true,
            display_to: true,
            sent: true,
            ids: true,
        }
    }

    #[test]
    fn msg_ids_are_normalized_as_rfc_5256_requires() {
        // RFC 5256 §3 (REFERENCES): these two MUST be the same Message ID.
        assert_eq!(
            msg_ids(b"<\"01KF8JCEOCBS0045PS\"@xxx.yyy.com>"),
            msg_ids(b"<01KF8JCEOCBS0045PS@xxx.yyy.com>")
        );
        assert_eq!(
            msg_ids(b"<a@b> (comment <not@id>)\r\n <c@d>"),
            vec!["a@b".to_owned(), "c@d".to_owned()]
        );
        assert_eq!(
            msg_ids(b"\"Joe <j@x>\"'s message of Monday <m1@x>"),
            vec!["m1@x".to_owned()]
        );
        assert!(msg_ids(b"<> <unclosed@x").is_empty());
    }

    #[test]
    fn facts_come_from_the_header() {
        let header = b"From: =?UTF-8?Q?J=C3=B6rg?= <Joerg@Example.org>\r\n\
To: undisclosed:;\r\n\
Cc: <cc@x>, other@y\r\n\
Subject: Re: =?UTF-8?B?5pel5pys?= (fwd)\r\n\
Date: Mon, 2 Jan 2006 10:00:00 +0100\r\n\
Message-ID: <id1@x>\r\n\
In-Reply-To: <parent@x>\r\n\r\n";
        let f = Facts::read(header, 5, 99, all());
        assert_eq!(f.subject, "日本");
        assert!(f.reply_or_forward);
        assert_eq!(f.from, "JOERG");
        assert_eq!(f.display_from, "JÖRG");
        assert_eq!(f.to, "UNDISCLOSED");
        assert_eq!(f.cc, "CC");
        assert_eq!(f.display_to, "UNDISCLOSED");
        assert_eq!(f.sent, 1_136_192_400);
        assert_eq!(f.message_id.as_deref(), Some("id1@x"));
        assert_eq!(f.references, vec!["parent@x".to_owned()]);
        assert_eq!((f.arrival, f.size), (5, 99));
    }

    #[test]
    fn missing_or_broken_fields_fall_back() {
        let f = Facts::read(b"Date: yesterday\r\nFrom: ((\r\n\r\n", 42, 1, all());
        // RFC 5256 §2.2: an unparseable Date gives the internal date.
        assert_eq!(f.sent, 42);
        assert_eq!(f.from, "");
        assert_eq!(f.subject, "");
        assert_eq!(f.message_id, None);
        // Only what is needed is read.
        let f = Facts::read(b"Subject: x\r\n\r\n", 1, 1, Needs::default());
        assert_eq!(f.subject, "");
    }
}
