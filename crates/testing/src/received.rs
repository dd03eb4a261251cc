//! A message as the server holds it, decoded for assertions.

use std::fmt;

use bytes::Bytes;
use mail_parser::{HeaderValue, MessageParser, MimeHeaders};

/// One message in the store: where it is, its bytes, and its decoded parts (RFC 2047
/// encoded words, charsets and transfer encodings undone).
#[derive(Clone)]
pub struct Received {
    account: String,
    mailbox: String,
    uid: u32,
    raw: Bytes,
    subject: Option<String>,
    from: Vec<Address>,
    to: Vec<Address>,
    cc: Vec<Address>,
    headers: Vec<(String, String)>,
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Attachment>,
}

/// A mailbox address of a `From`, `To` or `Cc` header. Compares equal to a `&str` holding
/// its address: `assert_eq!(message.to()[0], "alice@localhost")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    name: Option<String>,
    email: String,
}

impl Address {
    /// The display name, decoded (`Zoë` of `=?utf-8?q?Zo=C3=AB?= <zoe@example.com>`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The address itself (`zoe@example.com`).
    pub fn email(&self) -> &str {
        &self.email
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name} <{}>", self.email),
            None => f.write_str(&self.email),
        }
    }
}

impl PartialEq<str> for Address {
    fn eq(&self, other: &str) -> bool {
        self.email.eq_ignore_ascii_case(other)
    }
}

impl PartialEq<&str> for Address {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

/// An attachment: its file name, content type and decoded bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    name: Option<String>,
    content_type: String,
    bytes: Vec<u8>,
}

impl Attachment {
    /// The file name (`Content-Disposition` `filename`, else `Content-Type` `name`).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `type/subtype`, lower case (`application/pdf`).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The contents, transfer encoding undone.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Received {
    pub(crate) fn decode(account: &str, mailbox: &str, uid: u32, raw: Bytes) -> Received {
        let mut received = Received {
            account: account.to_owned(),
            mailbox: mailbox.to_owned(),
            uid,
            raw: raw.clone(),
            subject: None,
            from: Vec::new(),
            to: Vec::new(),
            cc: Vec::new(),
            headers: Vec::new(),
            text: None,
            html: None,
            attachments: Vec::new(),
        };
        let Some(message) = MessageParser::default().parse(&raw[..]) else {
            return received;
        };
        received.subject = message.subject().map(str::to_owned);
        received.from = addresses(message.from());
        received.to = addresses(message.to());
        received.cc = addresses(message.cc());
        received.headers = message
            .headers()
            .iter()
            .map(|h| {
                let value = match &h.value {
                    HeaderValue::TextList(list) => list.join(", "),
                    HeaderValue::Address(a) => a
                        .iter()
                        .map(|a| address(a).to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    HeaderValue::DateTime(d) => d.to_rfc822(),
                    _ => unstructured(&raw[h.offset_start as usize..h.offset_end as usize]),
                };
                (h.name().to_owned(), value)
            })
            .collect();
        received.text = message.body_text(0).map(|s| s.into_owned());
        received.html = message.body_html(0).map(|s| s.into_owned());
        received.attachments = message
            .attachments()
            .map(|part| Attachment {
                name: part.attachment_name().map(str::to_owned),
                content_type: part
                    .content_type()
                    .map(|ct| match ct.subtype() {
                        Some(sub) => format!("{}/{}", ct.ctype(), sub),
                        None => ct.ctype().to_owned(),
                    })
                    .unwrap_or_else(|| "application/octet-stream".to_owned())
                    .to_ascii_lowercase(),
                bytes: part.contents().to_vec(),
            })
            .collect();
        received
    }

    /// The account whose mailbox holds it.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The mailbox that holds it (`INBOX`).
    pub fn mailbox(&self) -> &str {
        &self.mailbox
    }

    /// Its UID in that mailbox.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The bytes as stored, with the trace headers SMTP added (`Return-Path`,
    /// `Received`) and CRLF line ends.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The decoded `Subject`.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The `From` addresses.
    pub fn from(&self) -> &[Address] {
        &self.from
    }

    /// The `To` addresses.
    pub fn to(&self) -> &[Address] {
        &self.to
    }

    /// The `Cc` addresses.
    pub fn cc(&self) -> &[Address] {
        &self.cc
    }

    /// The first header of that name (any case), decoded and unfolded.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first text part, decoded (converted from HTML when there is only HTML).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// The first HTML part, decoded (converted from text when there is only text).
    pub fn html(&self) -> Option<&str> {
        self.html.as_deref()
    }

    /// The attachments, in order.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }
}

impl fmt::Debug for Received {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("account", &self.account)
            .field("mailbox", &self.mailbox)
            .field("uid", &self.uid)
            .field("subject", &self.subject)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("size", &self.raw.len())
            .finish()
    }
}

/// One line describing the message, for error messages: `uid 1 "Hi" from a@example.com`.
pub(crate) fn summary(m: &Received) -> String {
    let from = m
        .from()
        .first()
        .map(|a| a.email().to_owned())
        .unwrap_or_else(|| "(no From)".to_owned());
    format!(
        "uid {} {:?} from {from}",
        m.uid(),
        m.subject().unwrap_or("(no Subject)")
    )
}

fn address(a: &mail_parser::Addr<'_>) -> Address {
    Address {
        name: a.name().map(str::to_owned),
        email: a.address().unwrap_or_default().to_owned(),
    }
}

fn addresses(header: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    header
        .map(|a| a.iter().map(address).collect())
        .unwrap_or_default()
}

/// A raw header value decoded as unstructured text (RFC 2047 words, folding), the way
/// the parser decodes a Subject.
fn unstructured(raw: &[u8]) -> String {
    let mut message = b"Subject:".to_vec();
    message.extend_from_slice(raw);
    message.extend_from_slice(b"\r\n\r\n");
    match MessageParser::default().parse(&message[..]) {
        Some(parsed) => match parsed.subject() {
            Some(s) => s.trim().to_owned(),
            None => unfold(raw),
        },
        None => unfold(raw),
    }
}

/// A raw header value on one line, without its leading space and line end.
fn unfold(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
