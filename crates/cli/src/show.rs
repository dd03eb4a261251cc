//! How `yubin imap fetch` and `yubin pop retr` print a message: decoded for a person at a
//! terminal, the exact bytes for a pipe or a script, or both as JSON.
//!
//! A raw message is what the wire carries: `=?utf-8?b?...?=` subjects, base64 or
//! quoted-printable bodies, text in ISO-2022-JP. The decoded view shows what a mail client
//! would: the main headers (From, To, Cc, Date, Subject) with RFC 2047 encoded-words
//! decoded, the text part decoded from its transfer encoding and charset (text/plain
//! preferred; HTML-only mail shown as text with its tags removed), and the attachments by
//! name, content type and size. mail-parser does the MIME work; this module only chooses
//! what to show and how.

use std::io::{IsTerminal, Write};

use clap::Args;
use mail_parser::{Addr, Address, Message, MessageParser, MimeHeaders, PartType};

/// How a command prints the messages it retrieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The exact bytes the server sent.
    Raw,
    /// Decoded headers, text and attachment list, for reading.
    Decoded,
    /// JSON with the decoded fields and the raw message.
    Json,
}

/// The options that choose the [`View`], shared by `imap fetch` and `pop retr`.
#[derive(Debug, Args, Clone, Copy)]
pub(crate) struct ViewArgs {
    /// Print the exact bytes the server sent. This is the default when standard output is
    /// not a terminal, so pipes and scripts keep getting the raw message.
    #[arg(long, conflicts_with_all = ["decoded", "json"])]
    raw: bool,
    /// Print the message decoded (From, To, Cc, Date, Subject, the text, the attachments)
    /// even when standard output is not a terminal. This is the default on a terminal.
    #[arg(long, conflicts_with = "json")]
    decoded: bool,
}

impl ViewArgs {
    /// The view asked for; without a flag, decoded on a terminal and raw otherwise.
    pub(crate) fn view(self, json: bool) -> View {
        choose(
            self.raw,
            self.decoded,
            json,
            std::io::stdout().is_terminal(),
        )
    }
}

/// The choice of [`ViewArgs::view`], with the terminal test passed in.
fn choose(raw: bool, decoded: bool, json: bool, terminal: bool) -> View {
    if json {
        View::Json
    } else if raw {
        View::Raw
    } else if decoded || terminal {
        View::Decoded
    } else {
        View::Raw
    }
}

/// Writes one message as [`View::Raw`] (its bytes) or [`View::Decoded`] (see [`render`]).
/// JSON output is built by the caller around [`json_fields`].
pub(crate) fn write_message(out: &mut impl Write, view: View, raw: &[u8]) -> std::io::Result<()> {
    match view {
        View::Raw | View::Json => out.write_all(raw),
        View::Decoded => out.write_all(render(raw).as_bytes()),
    }
}

/// A mailbox of an address header: display name and address, either possibly missing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mailbox {
    name: Option<String>,
    address: Option<String>,
}

/// An attachment as listed: name, content type, decoded size.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attachment {
    name: String,
    content_type: String,
    size: usize,
}

/// What the decoded view and the JSON fields show of a message.
#[derive(Debug, Default)]
struct Shown {
    from: Vec<Mailbox>,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    /// The Date header as written, unfolded.
    date: Option<String>,
    subject: Option<String>,
    /// The text parts, decoded, with CRLF turned into LF.
    text: String,
    /// True when the text came from text/html (tags removed).
    text_from_html: bool,
    attachments: Vec<Attachment>,
    /// False when mail-parser could not read it as a message at all.
    parsed: bool,
}

/// Reads what is worth showing out of a raw message.
fn decode(raw: &[u8]) -> Shown {
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Shown {
            text: normalize_text(&String::from_utf8_lossy(raw)),
            ..Shown::default()
        };
    };
    let (text, text_from_html) = body_text(&msg);
    Shown {
        from: mailboxes(msg.from()),
        to: mailboxes(msg.to()),
        cc: mailboxes(msg.cc()),
        date: msg
            .header_raw("Date")
            .map(|d| d.split_whitespace().collect::<Vec<_>>().join(" ")),
        subject: msg.subject().map(str::to_owned),
        text,
        text_from_html,
        attachments: msg.attachments().map(attachment).collect(),
        parsed: true,
    }
}

/// The text bodies (mail-parser prefers text/plain and falls back to text/html), each
/// decoded; inline images in the same list are skipped here and shown as attachments.
fn body_text(msg: &Message<'_>) -> (String, bool) {
    let mut parts = Vec::new();
    let mut from_html = false;
    for part in msg.text_bodies() {
        match &part.body {
            PartType::Text(text) => parts.push(normalize_text(text)),
            PartType::Html(html) => {
                from_html = true;
                let text = mail_parser::decoders::html::html_to_text(html);
                parts.push(normalize_text(&text));
            }
            _ => {}
        }
    }
    parts.retain(|p| !p.is_empty());
    (parts.join("\n\n"), from_html)
}

/// LF line ends, no trailing blank lines or spaces at the end.
fn normalize_text(text: &str) -> String {
    text.replace("\r\n", "\n").trim_end().to_owned()
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let mailbox = |a: &Addr<'_>| Mailbox {
        name: a
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        address: a.address.as_deref().map(str::to_owned),
    };
    match address {
        None => Vec::new(),
        Some(Address::List(list)) => list.iter().map(mailbox).collect(),
        Some(Address::Group(groups)) => groups
            .iter()
            .flat_map(|g| g.addresses.iter())
            .map(mailbox)
            .collect(),
    }
}

fn attachment(part: &mail_parser::MessagePart<'_>) -> Attachment {
    let content_type = match part.content_type() {
        Some(ct) => match &ct.c_subtype {
            Some(sub) => format!("{}/{sub}", ct.c_type),
            None => ct.c_type.to_string(),
        },
        None => match part.body {
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            _ => "application/octet-stream".into(),
        },
    }
    .to_ascii_lowercase();
    // A forwarded message is named by its subject when the part has no file name.
    let name = part
        .attachment_name()
        .map(str::to_owned)
        .or_else(|| part.message().and_then(|m| m.subject()).map(str::to_owned))
        .unwrap_or_else(|| "(no name)".into());
    Attachment {
        name,
        content_type,
        size: part.contents().len(),
    }
}

/// `Name <address>`, the name quoted when it holds characters that would misread.
fn mailbox_text(m: &Mailbox) -> String {
    let address = m.address.as_deref().unwrap_or("");
    match &m.name {
        None => address.to_owned(),
        Some(name) => {
            let name = if name.contains([',', ';', '<', '>', '"', ':', '@']) {
                format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
            } else {
                name.clone()
            };
            if address.is_empty() {
                name
            } else {
                format!("{name} <{address}>")
            }
        }
    }
}

/// The decoded view of a raw message, ready to print (it ends with a newline).
pub(crate) fn render(raw: &[u8]) -> String {
    let shown = decode(raw);
    let mut out = String::new();
    let mut header = |name: &str, value: String| {
        out.push_str(&format!("{name:<8} {}\n", one_line(&value)));
    };
    let list = |l: &[Mailbox]| l.iter().map(mailbox_text).collect::<Vec<_>>().join(", ");
    if !shown.from.is_empty() {
        header("From:", list(&shown.from));
    }
    if !shown.to.is_empty() {
        header("To:", list(&shown.to));
    }
    if !shown.cc.is_empty() {
        header("Cc:", list(&shown.cc));
    }
    if let Some(date) = &shown.date {
        header("Date:", date.clone());
    }
    if shown.parsed {
        header(
            "Subject:",
            shown
                .subject
                .clone()
                .unwrap_or_else(|| "(no subject)".into()),
        );
    } else {
        out.push_str("(not readable as a mail message; shown as text)\n");
    }
    out.push('\n');
    if shown.text_from_html {
        out.push_str("(HTML only; shown as text with the tags removed)\n\n");
    }
    if shown.text.is_empty() {
        out.push_str("(no text)\n");
    } else {
        out.push_str(&printable(&shown.text));
        out.push('\n');
    }
    if !shown.attachments.is_empty() {
        out.push_str(&format!(
            "\n{}:\n",
            crate::words::count(shown.attachments.len() as u64, "attachment")
        ));
        for a in &shown.attachments {
            out.push_str(&format!(
                "  - {} ({}, {})\n",
                one_line(&a.name),
                one_line(&a.content_type),
                crate::words::count(a.size as u64, "byte")
            ));
        }
    }
    out
}

/// A header value on one line, with no control characters a terminal would act on.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Text with its line breaks and tabs, but no other control characters: mail is written by
/// strangers, and escape sequences in it must not reach the terminal.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// The decoded fields and the raw message, for `--json`: `from`, `to`, `cc` (lists of
/// `{name, address}`), `date`, `subject`, `text`, `text_from_html`, `attachments` (list of
/// `{name, content_type, size}`), and `message` (the raw message, when it is UTF-8) or
/// `message_base64` (when it is not).
pub(crate) fn json_fields(raw: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let shown = decode(raw);
    let list = |l: &[Mailbox]| -> Value {
        l.iter()
            .map(|m| json!({"name": m.name, "address": m.address}))
            .collect()
    };
    let mut map = serde_json::Map::new();
    map.insert("from".into(), list(&shown.from));
    map.insert("to".into(), list(&shown.to));
    map.insert("cc".into(), list(&shown.cc));
    map.insert("date".into(), json!(shown.date));
    map.insert("subject".into(), json!(shown.subject));
    map.insert("text".into(), json!(shown.text));
    map.insert("text_from_html".into(), json!(shown.text_from_html));
    map.insert(
        "attachments".into(),
        shown
            .attachments
            .iter()
            .map(|a| json!({"name": a.name, "content_type": a.content_type, "size": a.size}))
            .collect(),
    );
    match std::str::from_utf8(raw) {
        Ok(text) => map.insert("message".into(), json!(text)),
        Err(_) => map.insert("message_base64".into(), json!(base64(raw))),
    };
    map
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/corpus")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn the_view_is_decoded_on_a_terminal_and_raw_in_a_pipe_unless_asked() {
        // (raw, decoded, json, terminal) → view
        let table = [
            ((false, false, false, true), View::Decoded),
            ((false, false, false, false), View::Raw),
            ((true, false, false, true), View::Raw),
            ((false, true, false, false), View::Decoded),
            ((false, false, true, true), View::Json),
            ((false, false, true, false), View::Json),
        ];
        for ((raw, decoded, json, terminal), view) in table {
            assert_eq!(
                choose(raw, decoded, json, terminal),
                view,
                "{raw} {decoded} {json} {terminal}"
            );
        }
    }

    #[test]
    fn utf8_japanese_headers_and_body_are_decoded() {
        let shown = render(&corpus("02-japanese-utf8.eml"));
        assert!(
            shown.starts_with("From:    山田 花子 <hanako@example.jp>\n"),
            "{shown}"
        );
        assert!(
            shown.contains("To:      アリス <alice@localhost>\n"),
            "{shown}"
        );
        assert!(
            shown.contains("Date:    Sat, 14 Mar 2026 09:31:53 +0900\n"),
            "{shown}"
        );
        assert!(
            shown.contains("Subject: こんにちはサーバーさん。私はクライアントです\n"),
            "{shown}"
        );
        assert!(
            shown.contains("\n\nサーバーです。データをしっかり受け取りました。\nメールはサーバーに残りますか？\n"),
            "{shown}"
        );
        assert!(!shown.contains("=?utf-8?"), "{shown}");
        assert!(!shown.contains('\r'), "{shown}");
    }

    #[test]
    fn iso_2022_jp_headers_and_body_are_decoded() {
        let shown = render(&corpus("03-iso-2022-jp.eml"));
        assert!(
            shown.starts_with("From:    鈴木 <suzuki@example.jp>\n"),
            "{shown}"
        );
        assert!(shown.contains("To:      alice@localhost\n"), "{shown}");
        assert!(
            shown.contains("Subject: ISO-2022-JPの件名テスト\n"),
            "{shown}"
        );
        assert!(
            shown.contains("\n\n昔ながらの日本語メールです。\n"),
            "{shown}"
        );
        assert!(
            !shown.contains('\u{1b}'),
            "no escape sequence survives: {shown}"
        );
    }

    #[test]
    fn multipart_alternative_prefers_text_plain_and_shows_cc() {
        let shown = render(&corpus("04-multipart-alternative.eml"));
        assert!(
            shown.contains("To:      alice@localhost, carol@localhost\n"),
            "{shown}"
        );
        assert!(
            shown.contains("Cc:      Dave <dave@example.com>\n"),
            "{shown}"
        );
        assert!(
            shown.contains("\n\nPlain version of the message.\n"),
            "{shown}"
        );
        assert!(!shown.contains("HTML"), "{shown}");
        assert!(!shown.contains("attachment"), "{shown}");
    }

    #[test]
    fn attachments_are_listed_with_name_type_and_decoded_size() {
        let shown = render(&corpus("05-attachments.eml"));
        assert!(
            shown.contains("\n\nSee the attached image and notes.\n"),
            "{shown}"
        );
        assert!(shown.contains("\n2 attachments:\n"), "{shown}");
        assert!(
            shown.contains("  - notes.txt (text/plain, 18 bytes)\n"),
            "{shown}"
        );
        let png = shown
            .lines()
            .find(|l| l.contains("picture.png"))
            .unwrap_or_else(|| panic!("{shown}"));
        assert_eq!(png, "  - picture.png (image/png, 413 bytes)");
        assert!(!shown.contains("iVBORw0KGgo"), "no base64 shown: {shown}");
        assert!(
            !shown.contains("line one"),
            "attachments are not shown: {shown}"
        );
    }

    #[test]
    fn a_forwarded_message_is_an_attachment_named_by_its_subject() {
        let shown = render(&corpus("06-forwarded-rfc822.eml"));
        assert!(
            shown.contains("\n\nForwarding the message below.\n"),
            "{shown}"
        );
        assert!(
            shown.contains("\n1 attachment:\n  - Plain hello (message/rfc822, "),
            "{shown}"
        );
    }

    #[test]
    fn encoded_word_q_and_latin1_body_are_decoded() {
        let shown = render(&corpus("09-latin1-8bit.eml"));
        assert!(
            shown.starts_with("From:    François <francois@example.fr>\n"),
            "{shown}"
        );
        assert!(shown.contains("Subject: Café crème\n"), "{shown}");
        assert!(
            shown.contains("Un café crème, s'il vous plaît.\n"),
            "{shown}"
        );
    }

    #[test]
    fn quoted_printable_body_is_decoded() {
        let raw = b"From: a@example.com\r\nTo: alice@localhost\r\nSubject: qp\r\n\
            MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\n\
            =E6=97=A5=E6=9C=AC=E8=AA=9E and a soft=\r\n break, 1+1=3D2\r\n";
        let shown = render(raw);
        assert!(
            shown.ends_with("\n\n日本語 and a soft break, 1+1=2\n"),
            "{shown}"
        );
    }

    #[test]
    fn html_only_mail_is_shown_as_text_with_a_note() {
        let raw = b"From: a@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\n\
            Content-Type: text/html; charset=utf-8\r\n\r\n\
            <html><body><p>Hello <b>there</b></p><script>x()</script></body></html>\r\n";
        let shown = render(raw);
        assert!(
            shown.contains("(HTML only; shown as text with the tags removed)"),
            "{shown}"
        );
        assert!(shown.contains("Hello there"), "{shown}");
        assert!(!shown.contains("<b>"), "{shown}");
        assert!(!shown.contains("x()"), "{shown}");
    }

    #[test]
    fn plain_message_without_encoding_is_shown_as_written() {
        let shown = render(&corpus("01-plain.eml"));
        assert_eq!(
            shown,
            "From:    Hanako Yamada <hanako@example.jp>\n\
             To:      Alice <alice@localhost>\n\
             Date:    Sat, 14 Mar 2026 09:26:53 +0900\n\
             Subject: Plain hello\n\
             \n\
             Hello Alice,\n\nThis is a plain ASCII message.\n\n-- \nHanako\n"
        );
    }

    #[test]
    fn names_that_would_misread_are_quoted_and_no_date_is_left_out() {
        let shown = render(&corpus("08-folded-no-date.eml"));
        assert!(
            shown.starts_with("From:    \"Frank, the \\\"quoted\\\" one\" <frank@example.net>\n"),
            "{shown}"
        );
        assert!(!shown.contains("Date:"), "{shown}");
        assert!(
            shown.contains("Subject: A very long subject line that keeps going and going well past seventy-eight characters"),
            "folded subject on one line: {shown}"
        );
    }

    #[test]
    fn control_characters_do_not_reach_the_terminal() {
        let raw = b"Subject: bad \x1b[31mred\r\n\r\nbody \x1b]0;title\x07 end\r\n";
        let shown = render(raw);
        assert!(!shown.contains('\u{1b}'), "{shown:?}");
        assert!(!shown.contains('\u{7}'), "{shown:?}");
        assert!(
            shown.contains("body \u{FFFD}]0;title\u{FFFD} end"),
            "{shown:?}"
        );
    }

    #[test]
    fn json_has_decoded_fields_and_the_raw_message() {
        let raw = corpus("05-attachments.eml");
        let json = serde_json::Value::Object(json_fields(&raw));
        assert_eq!(json["from"][0]["name"], "Carol");
        assert_eq!(json["from"][0]["address"], "carol@example.com");
        assert_eq!(json["to"][0]["name"], serde_json::Value::Null);
        assert_eq!(json["subject"], "Picture attached");
        assert_eq!(json["text"], "See the attached image and notes.");
        assert_eq!(json["attachments"][1]["name"], "notes.txt");
        assert_eq!(json["attachments"][1]["content_type"], "text/plain");
        assert_eq!(json["attachments"][1]["size"], 18);
        assert_eq!(json["message"].as_str().unwrap().as_bytes(), &raw[..]);
        assert!(json.get("message_base64").is_none());

        let latin1 = corpus("09-latin1-8bit.eml");
        let json = serde_json::Value::Object(json_fields(&latin1));
        assert_eq!(json["subject"], "Café crème");
        assert!(json.get("message").is_none());
        assert_eq!(json["message_base64"], base64(&latin1));
    }

    #[test]
    fn base64_matches_rfc_4648_test_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn raw_view_writes_the_exact_bytes() {
        let raw = corpus("03-iso-2022-jp.eml");
        let mut out = Vec::new();
        write_message(&mut out, View::Raw, &raw).unwrap();
        assert_eq!(out, raw);
    }
}
