//! What IMAP needs to know about a message's MIME structure, computed once with the
//! `mail-parser` crate: ENVELOPE and BODYSTRUCTURE (RFC 3501 §7.4.2), the byte ranges of
//! every part for `BODY[section]`, and decoded text for SEARCH. ENVELOPE's address
//! fields are read from the raw header by a small RFC 5322 grammar of our own
//! (`address`), which keeps groups, comments and source routes apart.
//!
//! The result, [`MessageInfo`], owns no message bytes (the store keeps those) and is cached
//! per `(UIDVALIDITY, UID)` in [`InfoCache`]: a message never changes under its UID
//! (RFC 3501 §2.3.1.1), so the cache needs no invalidation beyond UIDVALIDITY.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine as _;
use chrono::NaiveDate;
use mail_parser::{
    Address, Encoding, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};

use crate::command::{Section, SectionText};
use crate::value::Value;

pub(crate) mod address;
pub mod cte;

/// Where one MIME part lies in the message bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartNode {
    /// The part's header (for the message itself: the message header), blank line included.
    pub header: Range<usize>,
    /// The part's body.
    pub body: Range<usize>,
    /// Sub-parts of a multipart.
    pub children: Vec<PartNode>,
    /// The encapsulated message of a `message/rfc822` part (its root part).
    pub message: Option<Box<PartNode>>,
}

/// Everything derived from one message.
#[derive(Debug, Clone)]
pub struct MessageInfo {
    /// `ENVELOPE`, encoded.
    pub envelope: Vec<u8>,
    /// `BODYSTRUCTURE`, encoded.
    pub bodystructure: Vec<u8>,
    /// `BODY` (no extension data), encoded.
    pub body: Vec<u8>,
    /// The part tree.
    pub root: PartNode,
    /// Decoded header fields, lower-cased name → lower-cased value, for SEARCH.
    pub headers: Vec<(String, String)>,
    /// Decoded text of every text part, lower-cased, for SEARCH BODY/TEXT.
    pub text: String,
    /// The Date: header's calendar date, for SEARCH SENT*.
    pub sent: Option<NaiveDate>,
}

/// How deep nested multiparts and messages are followed; deeper parts are reported as
/// opaque. mail-parser has its own cap; this one bounds our recursion independently.
const MAX_DEPTH: usize = 24;

impl MessageInfo {
    /// Analyses a message in wire form.
    ///
    /// Never panics: mail comes from anyone, and a panic inside the MIME parser (the
    /// fuzzer found a `debug_assert!` in mail-parser that hostile input reaches) must not
    /// end the session that happens to FETCH that message. Such a message is shown as
    /// one opaque text body, as if it had no MIME structure.
    pub fn parse(raw: &[u8]) -> MessageInfo {
        std::panic::catch_unwind(|| Self::parse_mime(raw)).unwrap_or_else(|_| {
            tracing::warn!("MIME parser panicked; the message is shown without structure");
            Self::opaque(raw)
        })
    }

    fn parse_mime(raw: &[u8]) -> MessageInfo {
        let parser = MessageParser::default();
        match parser.parse(raw) {
            Some(msg) if !msg.parts.is_empty() => {
                let root = part_node(&msg, 0, raw.len(), 0, None);
                let mut text = String::new();
                collect_text(&msg, &mut text, 0);
                let text = text.to_lowercase();
                MessageInfo {
                    envelope: envelope(&msg, raw).to_bytes(),
                    bodystructure: body_value(&msg, 0, raw, true, 0).to_bytes(),
                    body: body_value(&msg, 0, raw, false, 0).to_bytes(),
                    root,
                    headers: decoded_headers(&msg.parts[0]),
                    text,
                    sent: msg.date().and_then(|d| {
                        NaiveDate::from_ymd_opt(d.year.into(), d.month.into(), d.day.into())
                    }),
                }
            }
            _ => Self::opaque(raw),
        }
    }

    /// A message without usable structure: one text/plain body, nothing decoded.
    fn opaque(raw: &[u8]) -> MessageInfo {
        let root = PartNode {
            header: 0..0,
            body: 0..raw.len(),
            ..PartNode::default()
        };
        let fields = vec![
            Value::str("TEXT"),
            Value::str("PLAIN"),
            Value::List(vec![Value::str("CHARSET"), Value::str("US-ASCII")]),
            Value::Nil,
            Value::Nil,
            Value::str("7BIT"),
            Value::Number(raw.len() as u64),
            Value::Number(count_lines(raw)),
        ];
        // BODYSTRUCTURE adds body-ext-1part: md5, disposition, language, location.
        let mut extended = fields.clone();
        extended.extend([Value::Nil, Value::Nil, Value::Nil, Value::Nil]);
        MessageInfo {
            envelope: Value::List(vec![Value::Nil; 10]).to_bytes(),
            bodystructure: Value::List(extended).to_bytes(),
            body: Value::List(fields).to_bytes(),
            root,
            headers: Vec::new(),
            text: String::from_utf8_lossy(raw).into_owned(),
            sent: None,
        }
    }

    /// The bytes of `BODY[section]`, or `None` when the section does not exist.
    ///
    /// Part numbers (RFC 3501 §6.4.5): a multipart's parts are numbered from 1; a
    /// non-multipart message has one part, 1, its body; after a `message/rfc822` part the
    /// numbers go on inside the encapsulated message.
    pub fn section<'a>(
        &self,
        raw: &'a [u8],
        section: &Section,
    ) -> Option<std::borrow::Cow<'a, [u8]>> {
        use std::borrow::Cow;
        fn parts_of(m: &PartNode) -> Vec<&PartNode> {
            if m.children.is_empty() {
                vec![m]
            } else {
                m.children.iter().collect()
            }
        }
        let mut current: Option<&PartNode> = None;
        for &n in &section.part {
            let list = match current {
                None => parts_of(&self.root),
                Some(p) => match &p.message {
                    Some(m) => parts_of(m),
                    None if !p.children.is_empty() => p.children.iter().collect(),
                    None => return None,
                },
            };
            current = Some(list.get((n as usize).checked_sub(1)?)?);
        }
        let Some(p) = current else {
            return match &section.text {
                None => Some(Cow::Borrowed(raw)),
                Some(t) => text_of(raw, &self.root, t),
            };
        };
        match &section.text {
            None => raw.get(p.body.clone()).map(Cow::Borrowed),
            Some(SectionText::Mime) => raw.get(p.header.clone()).map(Cow::Borrowed),
            Some(t) => text_of(raw, p.message.as_deref()?, t),
        }
    }
}

fn text_of<'a>(raw: &'a [u8], m: &PartNode, t: &SectionText) -> Option<std::borrow::Cow<'a, [u8]>> {
    use std::borrow::Cow;
    match t {
        SectionText::Header => raw.get(m.header.clone()).map(Cow::Borrowed),
        SectionText::Text => raw.get(m.body.clone()).map(Cow::Borrowed),
        SectionText::HeaderFields(names) => Some(Cow::Owned(filter_header(
            raw.get(m.header.clone())?,
            names,
            true,
        ))),
        SectionText::HeaderFieldsNot(names) => Some(Cow::Owned(filter_header(
            raw.get(m.header.clone())?,
            names,
            false,
        ))),
        SectionText::Mime => None,
    }
}

/// Keeps (or drops) the header fields named in `names`, folded lines included, and ends
/// with the blank line (RFC 3501 §6.4.5: the subset "includes the delimiting blank line").
pub fn filter_header(header: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut current = false;
    for line in header.split_inclusive(|&b| b == b'\n') {
        if line == b"\r\n" || line == b"\n" {
            break;
        }
        if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
            if current {
                out.extend_from_slice(line);
            }
            continue;
        }
        let name = line.split(|&b| b == b':').next().unwrap_or(b"");
        let name = trim(name);
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        current = listed == keep;
        if current {
            out.extend_from_slice(line);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end]
}

/// The node of part `id`, its offsets clamped to `limit`. An encapsulated message's root
/// (`message_end` given) is the whole of its enclosing part: its body runs to that end.
fn part_node(
    msg: &Message<'_>,
    id: usize,
    limit: usize,
    depth: usize,
    message_end: Option<usize>,
) -> PartNode {
    let Some(p) = msg.parts.get(id) else {
        return PartNode::default();
    };
    let clamp = |a: u32, b: u32| {
        let (a, b) = (a as usize, b as usize);
        a.min(limit)..b.min(limit).max(a.min(limit))
    };
    let mut node = PartNode {
        header: clamp(p.offset_header, p.offset_body),
        body: clamp(p.offset_body, p.offset_end),
        ..PartNode::default()
    };
    if let Some(end) = message_end {
        // The TEXT of an encapsulated message is everything after its header to the end
        // of the part, byte for byte (RFC 3501 §6.4.5): for a multipart body that
        // includes the epilogue, which mail-parser leaves out when no outer boundary
        // follows (a message/rfc822 that is the whole message).
        node.body.end = end.max(node.body.start);
    }
    if depth >= MAX_DEPTH {
        return node;
    }
    match &p.body {
        PartType::Multipart(ids) => {
            node.children = ids
                .iter()
                .map(|&c| part_node(msg, c as usize, limit, depth + 1, None))
                .collect();
        }
        PartType::Message(inner) if !is_encoded(p) && !inner.parts.is_empty() => {
            // An unencoded message/rfc822 is parsed in place: its offsets are in the
            // outer message's coordinates. An encoded one (base64, rare) has offsets into
            // the decoded bytes, which are not what BODY[n.m] returns, so it stays opaque.
            let end = node.body.end;
            node.message = Some(Box::new(part_node(inner, 0, end, depth + 1, Some(end))));
        }
        _ => {}
    }
    node
}

fn is_encoded(p: &MessagePart<'_>) -> bool {
    matches!(p.encoding, Encoding::Base64 | Encoding::QuotedPrintable)
}

fn count_lines(body: &[u8]) -> u64 {
    let n = memchr::memchr_iter(b'\n', body).count() as u64;
    if body.last().is_some_and(|&b| b != b'\n') {
        n + 1
    } else {
        n
    }
}

/// A raw header field value as it is in the message: unfolded, trimmed, still encoded.
fn raw_field(msg: &Message<'_>, raw: &[u8], name: &str) -> Option<Vec<u8>> {
    let h = msg.parts[0]
        .headers
        .iter()
        .find(|h| h.name().eq_ignore_ascii_case(name))?;
    let value = raw.get(h.offset_start as usize..h.offset_end as usize)?;
    let unfolded: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let t = trim(&unfolded);
    (!t.is_empty()).then(|| t.to_vec())
}

/// `envelope = "(" env-date SP env-subject SP env-from SP env-sender SP env-reply-to SP
/// env-to SP env-cc SP env-bcc SP env-in-reply-to SP env-message-id ")"`
fn envelope(msg: &Message<'_>, raw: &[u8]) -> Value {
    let field = |n: &str| Value::nstr(raw_field(msg, raw, n));
    let header = |n: &str| {
        msg.parts[0]
            .headers
            .iter()
            .find(|h| h.name().eq_ignore_ascii_case(n))
            .map(|h| h.value())
    };
    let addresses = |n: &str| {
        let Some(value) = raw_field(msg, raw, n) else {
            return Value::Nil;
        };
        match address::address_list(&value) {
            Some(entries) => address_values(&entries),
            // Not RFC 5322 syntax: mail-parser's best guess beats showing nothing.
            None => header(n).map(parsed_addresses).unwrap_or(Value::Nil),
        }
    };
    let from = addresses("From");
    let sender = addresses("Sender");
    let reply_to = addresses("Reply-To");
    // RFC 3501 §7.4.2: sender and reply-to default to from.
    let or_from = |v: Value| if v == Value::Nil { from.clone() } else { v };
    Value::List(vec![
        field("Date"),
        field("Subject"),
        from.clone(),
        or_from(sender),
        or_from(reply_to),
        addresses("To"),
        addresses("Cc"),
        addresses("Bcc"),
        field("In-Reply-To"),
        field("Message-ID"),
    ])
}

/// A display name for the envelope: 7-bit names as they are, others as an RFC 2047
/// encoded word, since ENVELOPE carries header text, not decoded Unicode.
fn name_value(name: Option<&str>) -> Value {
    match name {
        None => Value::Nil,
        Some(n) if n.is_ascii() => Value::str(n),
        Some(n) => Value::String(
            format!(
                "=?UTF-8?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(n.as_bytes())
            )
            .into_bytes(),
        ),
    }
}

/// A name as the header has it (encoded words stay encoded): as [`name_value`], and
/// octets that are not UTF-8 go out as they are.
fn raw_name_value(name: &[u8]) -> Value {
    match std::str::from_utf8(name) {
        Ok(n) => name_value(Some(n)),
        Err(_) => Value::str(name),
    }
}

/// `env-from = "(" 1*address ")" / nil` (and the other address fields) from the header's
/// own syntax: `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`, a
/// group as `(NIL NIL "name" NIL)` ... `(NIL NIL NIL NIL)` (RFC 3501 §7.4.2).
fn address_values(entries: &[address::Entry]) -> Value {
    let list = entries
        .iter()
        .map(|e| match e {
            address::Entry::Mailbox {
                name,
                adl,
                mailbox,
                host,
            } => Value::List(vec![
                name.as_deref().map_or(Value::Nil, raw_name_value),
                Value::nstr(adl.as_deref()),
                Value::str(mailbox),
                Value::str(host),
            ]),
            address::Entry::GroupStart(name) => Value::List(vec![
                Value::Nil,
                Value::Nil,
                raw_name_value(name),
                Value::Nil,
            ]),
            address::Entry::GroupEnd => Value::List(vec![Value::Nil; 4]),
        })
        .collect();
    address_field(list)
}

/// `"(" 1*address ")" / nil`: the addresses follow each other without a space, as the
/// grammar has it (RFC 3501 §9) and Dovecot sends them.
fn address_field(list: Vec<Value>) -> Value {
    if list.is_empty() {
        return Value::Nil;
    }
    let mut bytes = vec![b'('];
    for a in &list {
        a.encode(&mut bytes);
    }
    bytes.push(b')');
    Value::Raw(bytes)
}

/// `address = "(" addr-name SP addr-adl SP addr-mailbox SP addr-host ")"`
fn address(name: Option<&str>, addr: Option<&str>) -> Value {
    let (mailbox, host) = match addr {
        Some(a) => match a.rsplit_once('@') {
            Some((m, h)) => (Value::str(m), Value::str(h)),
            None => (Value::str(a), Value::str("")),
        },
        None => (Value::Nil, Value::str("")),
    };
    Value::List(vec![name_value(name), Value::Nil, mailbox, host])
}

/// The address fields from mail-parser's reading, for a header that
/// [`address::address_list`] cannot read; groups as RFC 3501 §7.4.2 spells them:
/// `(NIL NIL "group" NIL)` ... `(NIL NIL NIL NIL)`.
fn parsed_addresses(v: &HeaderValue<'_>) -> Value {
    let mut out = Vec::new();
    match v {
        HeaderValue::Address(Address::List(list)) => {
            for a in list {
                out.push(address(a.name.as_deref(), a.address.as_deref()));
            }
        }
        HeaderValue::Address(Address::Group(groups)) => {
            for g in groups {
                match &g.name {
                    Some(name) => {
                        out.push(Value::List(vec![
                            Value::Nil,
                            Value::Nil,
                            Value::str(name.as_bytes()),
                            Value::Nil,
                        ]));
                        for a in &g.addresses {
                            out.push(address(a.name.as_deref(), a.address.as_deref()));
                        }
                        out.push(Value::List(vec![Value::Nil; 4]));
                    }
                    None => {
                        for a in &g.addresses {
                            out.push(address(a.name.as_deref(), a.address.as_deref()));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    address_field(out)
}

fn params(ct: Option<&mail_parser::ContentType<'_>>) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(attrs) = ct.and_then(|c| c.attributes()) {
        for a in attrs {
            out.push(Value::str(a.name.to_ascii_uppercase()));
            out.push(Value::str(a.value.as_bytes()));
        }
    }
    out
}

fn nil_if_empty(v: Vec<Value>) -> Value {
    if v.is_empty() {
        Value::Nil
    } else {
        Value::List(v)
    }
}

/// `body = "(" (body-type-1part / body-type-mpart) ")"`; with `extended` the
/// BODYSTRUCTURE form (`body-ext-1part` / `body-ext-mpart`), without it the BODY form.
fn body_value(msg: &Message<'_>, id: usize, raw: &[u8], extended: bool, depth: usize) -> Value {
    let Some(p) = msg.parts.get(id) else {
        return Value::Nil;
    };
    let ct = p.content_type();
    let (ctype, csub) = match ct {
        Some(c) => (
            c.ctype().to_ascii_uppercase(),
            c.subtype().map(|s| s.to_ascii_uppercase()),
        ),
        None => ("TEXT".to_owned(), Some("PLAIN".to_owned())),
    };
    if let (PartType::Multipart(ids), true) = (&p.body, depth < MAX_DEPTH) {
        // `body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]`: the bodies
        // follow each other without a space, so this list is written by hand.
        let mut bytes = Vec::new();
        bytes.push(b'(');
        for &c in ids {
            bytes.extend_from_slice(
                &body_value(msg, c as usize, raw, extended, depth + 1).to_bytes(),
            );
        }
        if ids.is_empty() {
            // RFC 3501 requires at least one body; an empty multipart gets an empty text.
            bytes.extend_from_slice(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 0 0)");
        }
        bytes.push(b' ');
        Value::str(csub.as_deref().unwrap_or("MIXED")).encode(&mut bytes);
        if extended {
            bytes.push(b' ');
            let mut ext = vec![nil_if_empty(params(ct))];
            ext.extend(disposition_lang_loc(p));
            for (i, v) in ext.iter().enumerate() {
                if i > 0 {
                    bytes.push(b' ');
                }
                v.encode(&mut bytes);
            }
        }
        bytes.push(b')');
        return Value::Raw(bytes);
    }
    let body_range =
        (p.offset_body as usize).min(raw.len())..(p.offset_end as usize).min(raw.len());
    let body_bytes = raw.get(body_range).unwrap_or_default();
    let mut param_list = params(ct);
    if ctype == "TEXT"
        && !param_list
            .iter()
            .step_by(2)
            .any(|v| *v == Value::str("CHARSET"))
    {
        param_list.push(Value::str("CHARSET"));
        param_list.push(Value::str("US-ASCII"));
    }
    let encoding = p
        .content_transfer_encoding()
        .map(|e| e.to_ascii_uppercase())
        .unwrap_or_else(|| "7BIT".to_owned());
    let mut fields = vec![
        Value::str(&ctype),
        Value::str(csub.as_deref().unwrap_or("PLAIN")),
        nil_if_empty(param_list),
        Value::nstr(
            p.content_id()
                .map(|s| format!("<{}>", s.trim_matches(['<', '>']))),
        ),
        Value::nstr(p.content_description()),
        Value::str(encoding),
        Value::Number(body_bytes.len() as u64),
    ];
    match &p.body {
        // `body-type-msg = media-message SP body-fields SP envelope SP body SP body-fld-lines`
        PartType::Message(inner)
            if ctype == "MESSAGE"
                && csub.as_deref() == Some("RFC822")
                && !inner.parts.is_empty() =>
        {
            let inner_raw: &[u8] = if is_encoded(p) {
                &inner.raw_message
            } else {
                raw
            };
            fields.push(envelope(inner, inner_raw));
            fields.push(body_value(inner, 0, inner_raw, extended, depth + 1));
            fields.push(Value::Number(count_lines(body_bytes)));
        }
        // `body-type-text = media-text SP body-fields SP body-fld-lines`
        _ if ctype == "TEXT" => fields.push(Value::Number(count_lines(body_bytes))),
        _ => {}
    }
    if extended {
        // `body-ext-1part = body-fld-md5 [SP body-fld-dsp [SP body-fld-lang [SP body-fld-loc]]]`
        fields.push(Value::Nil);
        fields.extend(disposition_lang_loc(p));
    }
    Value::List(fields)
}

/// `body-fld-dsp SP body-fld-lang SP body-fld-loc`
fn disposition_lang_loc(p: &MessagePart<'_>) -> Vec<Value> {
    let dsp = match p.content_disposition() {
        Some(d) => Value::List(vec![
            Value::str(d.ctype().to_ascii_uppercase()),
            nil_if_empty(params(Some(d))),
        ]),
        None => Value::Nil,
    };
    let lang = match p.content_language() {
        HeaderValue::Text(t) => Value::str(t.as_bytes()),
        HeaderValue::TextList(l) => {
            Value::List(l.iter().map(|t| Value::str(t.as_bytes())).collect())
        }
        _ => Value::Nil,
    };
    vec![dsp, lang, Value::nstr(p.content_location())]
}

fn header_text(v: &HeaderValue<'_>) -> String {
    match v {
        HeaderValue::Text(t) => t.to_string(),
        HeaderValue::TextList(l) => l.join(" "),
        HeaderValue::Address(Address::List(list)) => list
            .iter()
            .map(|a| addr_text(a.name.as_deref(), a.address.as_deref()))
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::Address(Address::Group(groups)) => groups
            .iter()
            .map(|g| {
                let members: Vec<String> = g
                    .addresses
                    .iter()
                    .map(|a| addr_text(a.name.as_deref(), a.address.as_deref()))
                    .collect();
                format!(
                    "{}: {}",
                    g.name.as_deref().unwrap_or(""),
                    members.join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::DateTime(d) => d.to_rfc822(),
        HeaderValue::ContentType(c) => {
            let mut s = c.ctype().to_owned();
            if let Some(st) = c.subtype() {
                s.push('/');
                s.push_str(st);
            }
            s
        }
        HeaderValue::Received(_) | HeaderValue::Empty => String::new(),
    }
}

fn addr_text(name: Option<&str>, addr: Option<&str>) -> String {
    match (name, addr) {
        (Some(n), Some(a)) => format!("{n} <{a}>"),
        (None, Some(a)) => a.to_owned(),
        (Some(n), None) => n.to_owned(),
        (None, None) => String::new(),
    }
}

/// The decoded, lower-cased fields of a header block (what SEARCH compares with), from
/// the header alone: a search on header fields need not read or parse any body.
pub fn header_fields(block: &[u8]) -> Vec<(String, String)> {
    MessageParser::default()
        .parse_headers(block)
        .map(|m| decoded_headers(&m.parts[0]))
        .unwrap_or_default()
}

fn decoded_headers(p: &MessagePart<'_>) -> Vec<(String, String)> {
    p.headers
        .iter()
        .map(|h| {
            (
                h.name().to_ascii_lowercase(),
                header_text(h.value()).to_lowercase(),
            )
        })
        .collect()
}

fn collect_text(msg: &Message<'_>, out: &mut String, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    for p in &msg.parts {
        match &p.body {
            PartType::Text(t) | PartType::Html(t) => {
                out.push_str(t);
                out.push('\n');
            }
            PartType::Message(inner) => {
                if let Some(root) = inner.parts.first() {
                    for (_, v) in decoded_headers(root) {
                        out.push_str(&v);
                        out.push('\n');
                    }
                }
                collect_text(inner, out, depth + 1);
            }
            _ => {}
        }
    }
}

/// Caches [`MessageInfo`] per `(UIDVALIDITY, UID)` for one mailbox.
#[derive(Debug, Default)]
pub struct InfoCache {
    map: HashMap<(u32, u32), Arc<MessageInfo>>,
}

/// Entries kept before the cache starts over; a few thousand messages' structures are a
/// few megabytes.
const CACHE_ENTRIES: usize = 4096;

impl InfoCache {
    /// The info for a message, computing it from `raw` on a miss.
    pub fn get(&mut self, uid_validity: u32, uid: u32, raw: &[u8]) -> Arc<MessageInfo> {
        if let Some(info) = self.map.get(&(uid_validity, uid)) {
            return info.clone();
        }
        if self.map.len() >= CACHE_ENTRIES {
            self.map.clear();
        }
        let info = Arc::new(MessageInfo::parse(raw));
        self.map.insert((uid_validity, uid), info.clone());
        info
    }
}
