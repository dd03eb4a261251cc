//! Decoding a stored message into the API's shapes, with mail-parser (RFC 2045-2047:
//! transfer encodings, charsets such as ISO-2022-JP, encoded words).

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use mail_parser::{MessageParser, MessagePart, MimeHeaders, PartType};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::shape::{Address, Attachment, Checksums, Content, ListUnsubscribe};

/// How many characters of text a snippet keeps (Mailpit's length).
const SNIPPET_CHARS: usize = 250;

/// The default of [`crate::WebConfig::max_inline_images`]: the most bytes of inline
/// images one HTML view carries as `data:` URIs; a page with more shows the rest as
/// broken images rather than grow the answer without bound.
pub const MAX_INLINE_DATA: usize = 16 * 1024 * 1024;

/// A parsed message.
pub struct Parsed<'a> {
    message: mail_parser::Message<'a>,
}

impl<'a> Parsed<'a> {
    /// Parses a message; a message mail-parser cannot read at all (no header) is treated
    /// as an empty one with that text as its body.
    pub fn new(raw: &'a [u8]) -> Parsed<'a> {
        let message = MessageParser::default()
            .parse(raw)
            .unwrap_or_else(|| mail_parser::Message {
                raw_message: Cow::Borrowed(raw),
                ..Default::default()
            });
        Parsed { message }
    }

    /// The fields a listing shows.
    pub fn content(&self) -> Content {
        let m = &self.message;
        Content {
            message_id: m.message_id().unwrap_or_default().to_owned(),
            from: addresses(m.from()).into_iter().next(),
            to: addresses(m.to()),
            cc: addresses(m.cc()),
            bcc: addresses(m.bcc()),
            reply_to: addresses(m.reply_to()),
            subject: m.subject().unwrap_or_default().to_owned(),
            // Mailpit counts attachments proper, not the images inside the HTML.
            attachments: m
                .attachments
                .iter()
                .filter_map(|&i| m.parts.get(i as usize))
                .filter(|p| !is_inline(p))
                .count(),
            snippet: snippet(&self.text()),
        }
    }

    /// The decoded HTML body (`""` if none).
    pub fn html(&self) -> String {
        let part = self.message.html_body.first().copied();
        match part
            .and_then(|p| self.message.parts.get(p as usize))
            .map(|p| &p.body)
        {
            Some(PartType::Html(h)) => h.to_string(),
            _ => String::new(),
        }
    }

    /// The decoded text body; for a message with HTML only, the HTML's text, as
    /// Mailpit gives it (its MIME library converts HTML-only mail to text).
    pub fn text(&self) -> String {
        if self.message.parts.is_empty() {
            return String::new();
        }
        self.message
            .body_text(0)
            .map(Cow::into_owned)
            .unwrap_or_default()
    }

    /// The `Date:` header, RFC 3339.
    pub fn date(&self) -> Option<String> {
        self.message.date().map(|d| d.to_rfc3339())
    }

    /// `Return-Path` without angle brackets.
    pub fn return_path(&self) -> String {
        self.message
            .header_raw("Return-Path")
            .map(|v| {
                v.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
            .unwrap_or_default()
    }

    /// The List-Unsubscribe summary (RFC 2369 §3.2, RFC 8058).
    pub fn list_unsubscribe(&self) -> ListUnsubscribe {
        let header = unfold(
            self.message
                .header_raw("List-Unsubscribe")
                .unwrap_or_default(),
        );
        let header_post = unfold(
            self.message
                .header_raw("List-Unsubscribe-Post")
                .unwrap_or_default(),
        );
        let mut links = Vec::new();
        let mut errors = String::new();
        let (mut mail, mut web) = (false, false);
        for piece in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(link) = piece.strip_prefix('<').and_then(|p| p.strip_suffix('>')) else {
                errors = format!("{piece:?} is not in angle brackets");
                continue;
            };
            let lower = link.to_ascii_lowercase();
            if lower.starts_with("mailto:") && !mail {
                mail = true;
                links.push(link.to_owned());
            } else if (lower.starts_with("https:") || lower.starts_with("http:")) && !web {
                web = true;
                links.push(link.to_owned());
            }
        }
        ListUnsubscribe {
            header,
            links,
            errors,
            header_post,
        }
    }

    /// Every header field of the top-level header, name and unfolded raw value, in order.
    pub fn headers(&self) -> Vec<(String, String)> {
        let raw = &self.message.raw_message;
        let Some(top) = self.message.parts.first() else {
            return Vec::new();
        };
        top.headers
            .iter()
            .map(|h| {
                let value = raw
                    .get(h.offset_start as usize..h.offset_end as usize)
                    .unwrap_or_default();
                (
                    h.name.as_str().to_owned(),
                    unfold(&String::from_utf8_lossy(value)),
                )
            })
            .collect()
    }

    /// The inline parts and the attachments, with their IMAP section numbers.
    pub fn attachments(&self) -> (Vec<Attachment>, Vec<Attachment>) {
        let numbers = self.part_numbers();
        let (mut inline, mut attached) = (Vec::new(), Vec::new());
        for &index in &self.message.attachments {
            let Some(part) = self.message.parts.get(index as usize) else {
                continue;
            };
            let Some(number) = numbers.iter().find(|(_, i)| *i == index).map(|(n, _)| n) else {
                continue;
            };
            let a = describe(number, part);
            if is_inline(part) {
                inline.push(a);
            } else {
                attached.push(a);
            }
        }
        (inline, attached)
    }

    /// A part by its section number: its media type and decoded bytes.
    pub fn part(&self, number: &str) -> Option<(String, Option<String>, Vec<u8>)> {
        let index = self
            .part_numbers()
            .into_iter()
            .find(|(n, _)| n == number)?
            .1;
        let part = self.message.parts.get(index as usize)?;
        if part.is_multipart() {
            return None;
        }
        Some((
            media_type(part),
            part.attachment_name().map(str::to_owned),
            part.contents().to_vec(),
        ))
    }

    /// The HTML body as the view serves it: `cid:` references to inline images turned
    /// into `data:` URIs (RFC 2392), at most `max_inline` bytes of them in all, and every
    /// `<meta>` and `<link>` element removed: a `<meta http-equiv=refresh>` would let a
    /// sandboxed frame navigate itself to a remote page, and `<link rel=preconnect>` or
    /// `dns-prefetch` reach the network, neither of which the CSP stops.
    pub fn html_for_view(&self, max_inline: usize) -> String {
        let mut html = without_elements(&self.html(), &["meta", "link"]);
        let mut budget = max_inline;
        for &index in &self.message.attachments {
            let Some(part) = self.message.parts.get(index as usize) else {
                continue;
            };
            let Some(cid) = part.content_id() else {
                continue;
            };
            let needle = format!("cid:{}", cid.trim_start_matches('<').trim_end_matches('>'));
            // Only images become data: URIs (the CSP lets nothing else load), and only a
            // media type of token characters goes into the attribute.
            let ctype = media_type(part);
            let token = ctype
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/+-.".contains(&b));
            if !ctype.starts_with("image/") || !token || !html.contains(&needle) {
                continue;
            }
            // Each reference is a copy of the image: a thousand `cid:` to one small
            // image would make a response a thousand times its size, so the budget is
            // charged per copy, and an image that does not fit is not inlined at all.
            let uri = format!("data:{ctype};base64,{}", STANDARD.encode(part.contents()));
            let copies = html.matches(&needle).count();
            let cost = uri.len().saturating_mul(copies);
            if cost > budget {
                continue;
            }
            budget -= cost;
            html = html.replace(&needle, &uri);
        }
        html
    }

    /// Every leaf and multipart part with its IMAP section number (RFC 3501 §6.4.5):
    /// the children of the top multipart are `1`, `2`...; a message that is not
    /// multipart has one part, `1`. Parts of an attached message are not numbered here
    /// (the attached message is one part).
    fn part_numbers(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let Some(root) = self.message.parts.first() else {
            return out;
        };
        match &root.body {
            PartType::Multipart(children) => self.number(children, "", &mut out, 0),
            _ => out.push(("1".to_owned(), 0)),
        }
        out
    }

    fn number(&self, children: &[u32], prefix: &str, out: &mut Vec<(String, u32)>, depth: usize) {
        // A nesting deeper than this is hostile (mail-parser caps it too).
        if depth > 64 {
            return;
        }
        for (i, &child) in children.iter().enumerate() {
            let number = format!("{prefix}{}", i + 1);
            out.push((number.clone(), child));
            if let Some(PartType::Multipart(grand)) =
                self.message.parts.get(child as usize).map(|p| &p.body)
            {
                self.number(grand, &format!("{number}."), out, depth + 1);
            }
        }
    }
}

/// Whether a part is shown inside the HTML rather than attached: it has a Content-ID
/// and is not marked as an attachment, or is marked inline.
fn is_inline(part: &MessagePart<'_>) -> bool {
    match part.content_disposition() {
        Some(d) if d.is_attachment() => false,
        Some(d) if d.is_inline() => true,
        _ => part.content_id().is_some(),
    }
}

fn describe(number: &str, part: &MessagePart<'_>) -> Attachment {
    let bytes = part.contents();
    Attachment {
        part_id: number.to_owned(),
        file_name: part.attachment_name().unwrap_or_default().to_owned(),
        content_type: media_type(part),
        content_id: part
            .content_id()
            .unwrap_or_default()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned(),
        size: bytes.len() as u64,
        checksums: Checksums {
            md5: hex(&Md5::digest(bytes)),
            sha1: hex(&Sha1::digest(bytes)),
            sha256: hex(&Sha256::digest(bytes)),
        },
    }
}

/// A part's media type, lower case; RFC 2045 §5.2: `text/plain` when not given
/// (`message/rfc822` for an attached message).
pub fn media_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub),
            None => ct.ctype().to_owned(),
        }
        .to_ascii_lowercase(),
        None if part.is_message() => "message/rfc822".to_owned(),
        None => "text/plain".to_owned(),
    }
}

/// The HTML with every start tag of these elements taken out (they have no content or
/// end tag). A tag ends at the first `>` outside a quoted attribute value, as an HTML
/// tokenizer reads it, so `content="x>y"` does not end it early.
fn without_elements(html: &str, names: &[&str]) -> String {
    let bytes = html.as_bytes();
    let mut out = String::with_capacity(html.len());
    let mut at = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let name_end = bytes[i + 1..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |n| i + 1 + n);
        let name = &html[i + 1..name_end];
        let boundary = bytes
            .get(name_end)
            .is_none_or(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/');
        if !boundary || !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            i += 1;
            continue;
        }
        // Find the tag's end, skipping quoted values.
        let mut j = name_end;
        let mut quote: Option<u8> = None;
        while j < bytes.len() {
            match (quote, bytes[j]) {
                (None, b'"' | b'\'') => quote = Some(bytes[j]),
                (Some(q), c) if c == q => quote = None,
                (None, b'>') => break,
                _ => {}
            }
            j += 1;
        }
        out.push_str(&html[at..i]);
        at = (j + 1).min(bytes.len());
        i = at;
    }
    out.push_str(&html[at..]);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn addresses(header: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    header
        .map(|a| {
            a.iter()
                .map(|a| Address {
                    name: a.name().unwrap_or_default().to_owned(),
                    address: a.address().unwrap_or_default().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 5322 §2.2.3: a folded header value with its line breaks removed.
fn unfold(raw: &str) -> String {
    raw.split(['\r', '\n'])
        .map(|l| l.trim_end_matches(['\r', '\n']))
        .collect::<Vec<_>>()
        .join("")
        .trim()
        .to_owned()
}

fn snippet(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(SNIPPET_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parts_as_imap_does() {
        let raw = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n\
Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n--a\r\n\
Content-Type: application/pdf; name=x.pdf\r\nContent-Disposition: attachment; filename=x.pdf\r\n\r\nPDF\r\n--a--\r\n";
        let p = Parsed::new(raw);
        let numbers: Vec<String> = p.part_numbers().into_iter().map(|(n, _)| n).collect();
        assert_eq!(numbers, ["1", "1.1", "1.2", "2"]);
        let (inline, attached) = p.attachments();
        assert!(inline.is_empty());
        assert_eq!(attached[0].part_id, "2");
        assert_eq!(attached[0].file_name, "x.pdf");
        assert_eq!(p.part("2").unwrap().2, b"PDF");
        assert_eq!(p.part("1.1").unwrap().2, b"hi");
        assert_eq!(p.text(), "hi");
    }

    #[test]
    fn meta_and_link_elements_are_removed_whatever_their_quoting() {
        let html = "<head><META HTTP-EQUIV=\"Refresh\" content=\"0;url=https://x.test\">\
<meta content=\"x>y\" http-equiv=\"refresh\" content=\"0;url=https://evil\">\
<meta http-equiv='&#82;efresh' content='0;url=https://evil'>\
<link rel=dns-prefetch href=//track.test><metadata>k</metadata></head>日本<meta";
        assert_eq!(
            without_elements(html, &["meta", "link"]),
            "<head><metadata>k</metadata></head>日本"
        );
    }

    /// A thousand `cid:` references to one image are a thousand copies: past the
    /// budget, the image is not inlined (a 100 KB mail made a 133 MB page before).
    #[test]
    fn inline_images_are_charged_per_copy() {
        let image = vec![0x89u8; 50_000];
        let refs = "<img src=\"cid:a\">".repeat(2000);
        let mut m = format!(
            "Content-Type: multipart/related; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/html\r\n\r\n{refs}\r\n--b\r\nContent-Type: image/png\r\n\
Content-ID: <a>\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        )
        .into_bytes();
        m.extend_from_slice(STANDARD.encode(&image).as_bytes());
        m.extend_from_slice(b"\r\n--b--\r\n");
        let p = Parsed::new(&m);
        let html = p.html_for_view(16 * 1024 * 1024);
        assert!(html.len() < 1024 * 1024, "{}", html.len());
        assert!(!html.contains("data:"));
        // One reference fits.
        let one = String::from_utf8(m.clone())
            .unwrap()
            .replacen(&refs, "<img src=\"cid:a\">", 1);
        let html = Parsed::new(one.as_bytes()).html_for_view(16 * 1024 * 1024);
        assert!(html.contains("data:image/png;base64,"));
    }

    #[test]
    fn html_only_mail_has_its_text() {
        let p = Parsed::new(b"Content-Type: text/html\r\n\r\n<p>Hello <b>world</b></p>\r\n");
        assert_eq!(p.text().trim(), "Hello world");
        assert_eq!(p.html().trim(), "<p>Hello <b>world</b></p>");
        assert_eq!(p.content().snippet, "Hello world");
    }

    #[test]
    fn single_part_is_one() {
        let p = Parsed::new(b"Subject: x\r\n\r\nbody\r\n");
        assert_eq!(p.part("1").unwrap().2, b"body\r\n");
        assert_eq!(p.part("2"), None);
    }
}
