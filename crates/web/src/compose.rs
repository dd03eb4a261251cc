//! Building an RFC 5322 message from Mailpit's send request (`POST /api/v1/send`).
//!
//! Headers with non-ASCII text are RFC 2047 encoded words (UTF-8, B encoding); bodies
//! are UTF-8 quoted-printable (RFC 2045 §6.7); attachments base64 (RFC 2045 §6.8).
//! Boundaries start with `=_`, which neither encoding can produce (RFC 2045 §6.7 note),
//! so no body can contain one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};

/// The default of [`crate::WebConfig::max_recipients`]: the most recipients one send may
/// name (To, Cc and Bcc together), as SMTP servers commonly cap RCPT TO (RFC 5321
/// §4.5.3.1.8 requires at least 100).
pub const MAX_RECIPIENTS: usize = 100;

/// An address in a send request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Person {
    /// The address.
    #[serde(rename = "Email", alias = "email")]
    pub email: String,
    /// The display name.
    #[serde(rename = "Name", alias = "name")]
    pub name: String,
}

/// An attachment in a send request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SendAttachment {
    /// The bytes, base64.
    #[serde(rename = "Content", alias = "content")]
    pub content: String,
    /// The file name.
    #[serde(
        rename = "Filename",
        alias = "filename",
        alias = "FileName",
        alias = "fileName"
    )]
    pub filename: String,
    /// The media type; `application/octet-stream` when absent.
    #[serde(rename = "ContentType", alias = "contenttype", alias = "contentType")]
    pub content_type: String,
    /// A Content-ID: the part is then inline, for `cid:` references in the HTML.
    #[serde(
        rename = "ContentID",
        alias = "contentid",
        alias = "contentId",
        alias = "ContentId"
    )]
    pub content_id: String,
}

/// Mailpit's send request. Go, which Mailpit is written in, matches JSON field names
/// without regard to case, so the usual other spellings are accepted as aliases; unknown
/// fields are ignored, as Mailpit ignores them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct SendRequest {
    /// From.
    #[serde(rename = "From", alias = "from")]
    pub from: Person,
    /// To.
    #[serde(rename = "To", alias = "to")]
    pub to: Vec<Person>,
    /// Cc.
    #[serde(rename = "Cc", alias = "cc")]
    pub cc: Vec<Person>,
    /// Bcc: recipients not written in the message.
    #[serde(rename = "Bcc", alias = "bcc")]
    pub bcc: Vec<String>,
    /// Reply-To.
    #[serde(rename = "ReplyTo", alias = "replyto", alias = "replyTo")]
    pub reply_to: Vec<Person>,
    /// Subject.
    #[serde(rename = "Subject", alias = "subject")]
    pub subject: String,
    /// The text body.
    #[serde(rename = "Text", alias = "text")]
    pub text: String,
    /// The HTML body.
    #[serde(rename = "HTML", alias = "html")]
    pub html: String,
    /// Attachments.
    #[serde(rename = "Attachments", alias = "attachments")]
    pub attachments: Vec<SendAttachment>,
    /// Extra header fields.
    #[serde(rename = "Headers", alias = "headers")]
    pub headers: BTreeMap<String, String>,
    /// Tags (IMAP keywords) to set on the delivered copies.
    #[serde(rename = "Tags", alias = "tags")]
    pub tags: Vec<String>,
}

/// A message ready to deliver.
#[derive(Debug)]
pub struct Composed {
    /// The message, CRLF line ends.
    pub raw: Vec<u8>,
    /// The envelope recipients: To, Cc and Bcc.
    pub recipients: Vec<String>,
}

/// Header fields the builder writes itself; `Headers` may not replace them, since they
/// give the message its structure.
const STRUCTURAL: [&str; 4] = [
    "content-type",
    "content-transfer-encoding",
    "mime-version",
    "bcc",
];

/// Builds the message, with at most `max_recipients` recipients.
pub fn compose(
    req: &SendRequest,
    now: chrono::DateTime<chrono::Utc>,
    max_recipients: usize,
) -> ApiResult<Composed> {
    check_address("From", &req.from.email)?;
    let mut recipients = Vec::new();
    for p in req.to.iter().chain(&req.cc) {
        check_address("recipient", &p.email)?;
        recipients.push(p.email.clone());
    }
    for a in &req.bcc {
        check_address("Bcc", a)?;
        recipients.push(a.clone());
    }
    if recipients.is_empty() {
        return Err(ApiError::BadRequest("no recipients (To, Cc or Bcc)".into()));
    }
    if recipients.len() > max_recipients {
        return Err(ApiError::BadRequest(format!(
            "more than {max_recipients} recipients"
        )));
    }
    for p in &req.reply_to {
        check_address("Reply-To", &p.email)?;
    }

    let mut fields: Vec<(String, String)> = vec![
        ("Date".into(), now.to_rfc2822()),
        ("From".into(), mailbox(&req.from)),
    ];
    if !req.to.is_empty() {
        fields.push(("To".into(), mailbox_list(&req.to)));
    }
    if !req.cc.is_empty() {
        fields.push(("Cc".into(), mailbox_list(&req.cc)));
    }
    if !req.reply_to.is_empty() {
        fields.push(("Reply-To".into(), mailbox_list(&req.reply_to)));
    }
    fields.push(("Subject".into(), unstructured(&req.subject)));
    let domain = req
        .from
        .email
        .rsplit_once('@')
        .map_or("localhost", |(_, d)| d);
    fields.push(("Message-ID".into(), format!("<{}@{domain}>", unique(now))));
    for (name, value) in &req.headers {
        check_field(name, value)?;
        fields.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        fields.push((name.clone(), unstructured(value)));
    }
    fields.push(("MIME-Version".into(), "1.0".into()));

    let body = body(req, now)?;
    let mut raw = Vec::new();
    for (name, value) in fields {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(&body);
    Ok(Composed { raw, recipients })
}

/// One MIME entity: its header lines (without the blank line) and its body.
struct Entity {
    header: String,
    body: Vec<u8>,
}

impl Entity {
    fn bytes(self) -> Vec<u8> {
        let mut out = self.header.into_bytes();
        out.extend_from_slice(b"\r\n");
        out.extend(self.body);
        out
    }
}

fn body(req: &SendRequest, now: chrono::DateTime<chrono::Utc>) -> ApiResult<Vec<u8>> {
    let text = || {
        Entity {
        header: "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n".into(),
        body: quoted_printable(&req.text),
    }
    };
    let html = || {
        Entity {
        header: "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n".into(),
        body: quoted_printable(&req.html),
    }
    };
    let mut entity = match (req.text.is_empty(), req.html.is_empty()) {
        (_, true) => text(),
        (true, false) => html(),
        (false, false) => multipart("alternative", vec![text(), html()], now, 0),
    };
    let (mut inline, mut attached) = (Vec::new(), Vec::new());
    for a in &req.attachments {
        let part = attachment(a)?;
        if a.content_id.is_empty() {
            attached.push(part);
        } else {
            inline.push(part);
        }
    }
    if !inline.is_empty() {
        inline.insert(0, entity);
        entity = multipart("related", inline, now, 1);
    }
    if !attached.is_empty() {
        attached.insert(0, entity);
        entity = multipart("mixed", attached, now, 2);
    }
    Ok(entity.bytes())
}

fn multipart(
    kind: &str,
    parts: Vec<Entity>,
    now: chrono::DateTime<chrono::Utc>,
    level: u8,
) -> Entity {
    let boundary = format!("=_yubin_{level}_{}", unique(now));
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        body.extend(part.bytes());
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Entity {
        header: format!("Content-Type: multipart/{kind}; boundary=\"{boundary}\"\r\n"),
        body,
    }
}

fn attachment(a: &SendAttachment) -> ApiResult<Entity> {
    let bytes = STANDARD
        .decode(a.content.split_whitespace().collect::<String>())
        .map_err(|e| {
            ApiError::BadRequest(format!(
                "attachment {:?}: Content is not base64: {e}",
                a.filename
            ))
        })?;
    let ctype = if a.content_type.is_empty() {
        "application/octet-stream".to_owned()
    } else {
        media_type(&a.content_type)?
    };
    let mut header = format!("Content-Type: {ctype}");
    let name = if a.filename.is_empty() {
        None
    } else {
        Some(param("name", &a.filename)?)
    };
    if let Some(n) = &name {
        header.push_str(&format!(";\r\n {n}"));
    }
    header.push_str("\r\nContent-Transfer-Encoding: base64\r\n");
    let disposition = if a.content_id.is_empty() {
        "attachment"
    } else {
        "inline"
    };
    header.push_str(&format!("Content-Disposition: {disposition}"));
    if !a.filename.is_empty() {
        header.push_str(&format!(";\r\n {}", param("filename", &a.filename)?));
    }
    header.push_str("\r\n");
    if !a.content_id.is_empty() {
        let id = a.content_id.trim_start_matches('<').trim_end_matches('>');
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        {
            return Err(ApiError::BadRequest(format!(
                "bad ContentID {:?}",
                a.content_id
            )));
        }
        header.push_str(&format!("Content-ID: <{id}>\r\n"));
    }
    let encoded = STANDARD.encode(&bytes);
    let mut body = Vec::with_capacity(encoded.len() + encoded.len() / 38);
    for line in encoded.as_bytes().chunks(76) {
        body.extend_from_slice(line);
        body.extend_from_slice(b"\r\n");
    }
    Ok(Entity { header, body })
}

/// A MIME parameter (RFC 2045 §5.1): quoted if ASCII, RFC 2231 §4 `name*=UTF-8''...`
/// otherwise.
fn param(name: &str, value: &str) -> ApiResult<String> {
    if value.chars().any(|c| c.is_control()) {
        return Err(ApiError::BadRequest(format!(
            "control character in {name} {value:?}"
        )));
    }
    if value.is_ascii() {
        Ok(format!(
            "{name}=\"{}\"",
            value.replace('\\', "\\\\").replace('"', "\\\"")
        ))
    } else {
        let encoded: String = value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        Ok(format!("{name}*=UTF-8''{encoded}"))
    }
}

fn media_type(s: &str) -> ApiResult<String> {
    let token = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    match s.trim().split_once('/') {
        Some((a, b)) if token(a) && token(b) => Ok(format!("{a}/{b}").to_ascii_lowercase()),
        _ => Err(ApiError::BadRequest(format!("bad ContentType {s:?}"))),
    }
}

/// An address as RFC 5321 takes it: `local@domain`, nothing that would need quoting or
/// could break a header line.
fn check_address(what: &str, a: &str) -> ApiResult<()> {
    let ok = match a.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && a.len() <= 254
                && a.bytes()
                    .all(|b| b.is_ascii_graphic() && !b"<>()[],;:\\\"".contains(&b) || b >= 0x80)
        }
        None => false,
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "invalid {what} address: {a:?}"
        )))
    }
}

fn check_field(name: &str, value: &str) -> ApiResult<()> {
    // RFC 5322 §2.2: a field name is printable ASCII except colon.
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(ApiError::BadRequest(format!("bad header name {name:?}")));
    }
    if STRUCTURAL.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ApiError::BadRequest(format!(
            "header {name} is written by the server"
        )));
    }
    if value.contains(['\r', '\n']) {
        return Err(ApiError::BadRequest(format!("line break in header {name}")));
    }
    Ok(())
}

/// `Name <address>`, the name as an atom run, a quoted string or encoded words.
fn mailbox(p: &Person) -> String {
    if p.name.is_empty() {
        return p.email.clone();
    }
    let name = if !p.name.is_ascii() || p.name.contains(['\r', '\n']) {
        encoded_words(&p.name)
    } else if p
        .name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b" !#$%&'*+-/=?^_`{|}~".contains(&b))
    {
        p.name.clone()
    } else {
        format!("\"{}\"", p.name.replace('\\', "\\\\").replace('"', "\\\""))
    };
    format!("{name} <{}>", p.email)
}

fn mailbox_list(list: &[Person]) -> String {
    list.iter().map(mailbox).collect::<Vec<_>>().join(",\r\n ")
}

/// An unstructured value: as it is if it is short ASCII, encoded words otherwise.
fn unstructured(value: &str) -> String {
    if value.is_ascii() && value.len() <= 900 && !value.contains(['\r', '\n']) {
        value.to_owned()
    } else {
        encoded_words(value)
    }
}

/// RFC 2047 §2: `=?UTF-8?B?...?=` words of at most 75 characters, folded, never
/// splitting a character.
fn encoded_words(value: &str) -> String {
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in value.chars().filter(|c| *c != '\r' && *c != '\n') {
        // 39 bytes give 52 base64 characters: 64 with the 12 of the wrapper, which
        // leaves room for a field name on the first line (RFC 5322 §2.1.1: 78).
        if chunk.len() + c.len_utf8() > 39 {
            words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", STANDARD.encode(&chunk)));
    }
    words.join("\r\n ")
}

/// RFC 2045 §6.7 quoted-printable of UTF-8 text, line ends made CRLF.
fn quoted_printable(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let mut width = 0;
        let bytes = line.as_bytes();
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let piece = match b {
                b'=' => "=3D".to_owned(),
                b' ' | b'\t' if last => format!("={b:02X}"),
                b' ' | b'\t' | 33..=126 => (b as char).to_string(),
                _ => format!("={b:02X}"),
            };
            // Rule 5: encoded lines at most 76 characters, a soft break `=` included.
            if width + piece.len() > 75 {
                out.extend_from_slice(b"=\r\n");
                width = 0;
            }
            width += piece.len();
            out.extend_from_slice(piece.as_bytes());
        }
        // The text's own line ends only: the CRLF before a boundary belongs to the
        // boundary (RFC 2046 §5.1.1), so the text comes back exactly.
        if i + 1 < lines.len() {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// A string no other message of this process gets: time, process and a counter.
fn unique(now: chrono::DateTime<chrono::Utc>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}.{}.{n}",
        now.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use mail_parser::MimeHeaders;

    fn decoded(raw: &[u8]) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default().parse(raw).unwrap()
    }

    #[test]
    fn japanese_subject_and_names_round_trip() {
        let req = SendRequest {
            from: Person {
                email: "bob@example.com".into(),
                name: "山田 太郎".into(),
            },
            to: vec![Person {
                email: "alice@example.com".into(),
                name: "Alice, A.".into(),
            }],
            subject: "こんにちは、世界。長い件名が複数の encoded word に分かれても元に戻ること"
                .into(),
            text: "本文です。\nsecond line with trailing space \n".into(),
            ..Default::default()
        };
        let c = compose(&req, chrono::Utc::now(), MAX_RECIPIENTS).unwrap();
        assert!(c.raw.is_ascii());
        assert!(
            c.raw.split(|b| *b == b'\n').all(|l| l.len() <= 78),
            "{}",
            String::from_utf8_lossy(&c.raw)
        );
        let m = decoded(&c.raw);
        assert_eq!(m.subject().unwrap(), req.subject);
        assert_eq!(
            m.from().unwrap().first().unwrap().name().unwrap(),
            "山田 太郎"
        );
        assert_eq!(
            m.to().unwrap().first().unwrap().name().unwrap(),
            "Alice, A."
        );
        assert_eq!(
            m.body_text(0).unwrap(),
            "本文です。\r\nsecond line with trailing space \r\n"
        );
        assert_eq!(c.recipients, ["alice@example.com"]);
    }

    #[test]
    fn attachments_and_alternative() {
        let req = SendRequest {
            from: Person {
                email: "bob@example.com".into(),
                name: String::new(),
            },
            bcc: vec!["carol@example.com".into()],
            text: "t".into(),
            html: "<p>h<img src=\"cid:logo\"></p>".into(),
            attachments: vec![
                SendAttachment {
                    content: STANDARD.encode(b"PDFDATA"),
                    filename: "請求書.pdf".into(),
                    content_type: "application/pdf".into(),
                    content_id: String::new(),
                },
                SendAttachment {
                    content: STANDARD.encode(b"PNG"),
                    filename: "logo.png".into(),
                    content_type: "image/png".into(),
                    content_id: "logo".into(),
                },
            ],
            ..Default::default()
        };
        let c = compose(&req, chrono::Utc::now(), MAX_RECIPIENTS).unwrap();
        let text = String::from_utf8(c.raw.clone()).unwrap();
        assert!(
            !text.to_ascii_lowercase().contains("carol"),
            "Bcc is never written"
        );
        let m = decoded(&c.raw);
        assert_eq!(m.body_text(0).unwrap(), "t");
        assert_eq!(m.body_html(0).unwrap(), "<p>h<img src=\"cid:logo\"></p>");
        let names: Vec<_> = m
            .attachments()
            .map(|a| a.attachment_name().unwrap().to_owned())
            .collect();
        assert!(names.contains(&"請求書.pdf".to_owned()), "{names:?}");
        assert_eq!(c.recipients, ["carol@example.com"]);
    }

    #[test]
    fn refuses_bad_input() {
        let ok = || SendRequest {
            from: Person {
                email: "a@b.c".into(),
                name: String::new(),
            },
            to: vec![Person {
                email: "d@e.f".into(),
                name: String::new(),
            }],
            ..Default::default()
        };
        let now = chrono::Utc::now();
        assert!(compose(&ok(), now, MAX_RECIPIENTS).is_ok());
        let mut r = ok();
        r.to[0].email = "x\r\nBcc: evil@x".into();
        assert!(compose(&r, now, MAX_RECIPIENTS).is_err());
        let mut r = ok();
        r.headers.insert("X-A".into(), "a\r\nb".into());
        assert!(compose(&r, now, MAX_RECIPIENTS).is_err());
        let mut r = ok();
        r.headers.insert("Content-Type".into(), "text/html".into());
        assert!(compose(&r, now, MAX_RECIPIENTS).is_err());
        let mut r = ok();
        r.to.clear();
        assert!(compose(&r, now, MAX_RECIPIENTS).is_err());
        let mut r = ok();
        r.attachments.push(SendAttachment {
            content: "!!".into(),
            ..Default::default()
        });
        assert!(compose(&r, now, MAX_RECIPIENTS).is_err());
    }
}
