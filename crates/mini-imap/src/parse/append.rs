//! APPEND's grammar: several messages (MULTIAPPEND, RFC 3502), messages made of parts
//! (CATENATE, RFC 4469) and `literal8` data (BINARY, RFC 3516 §4.4).
//!
//! A large message literal is not framed whole but streamed
//! ([`crate::codec::Frame::AppendHead`]), so the same grammar reads an APPEND in
//! *segments*: the text between two streamed literals. [`append_segment`] reads one
//! segment into [`AppendEvent`]s and says how it ends: with the command's CRLF, or with
//! the announcement of a literal whose octets are streamed next. A whole command is one
//! segment ending in CRLF; [`append`] folds its events into typed [`AppendMessage`]s.
//!
//! ```text
//! append          = "APPEND" SP mailbox 1*append-message         ; RFC 3502
//! append-message  = [SP flag-list] [SP date-time] SP append-data
//! append-data     = literal / literal8                            ; RFC 3516 §7
//!                 / "CATENATE" SP "(" cat-part *(SP cat-part) ")" ; RFC 4469 §5
//!                 / "UTF8" SP "(" literal8 ")"                    ; RFC 6855 §4
//! cat-part        = text-literal / url
//! text-literal    = "TEXT" SP literal
//! url             = "URL" SP astring
//! literal8        = "~{" number "}" CRLF *OCTET
//! ```

use chrono::{DateTime, FixedOffset};
use nom::Parser;
use nom::bytes::complete::{tag, tag_no_case};
use nom::combinator::opt;
use nom::sequence::{delimited, preceded};

use super::{
    ParseError, Res, astring, crlf, date_time, fail, flag_list, mailbox, number, sp, tag_,
};
use crate::command::{AppendData, AppendMessage, CatPart, CommandBody, Section};

/// Where the grammar stands at the start of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Before `SP append-message` or the final CRLF (after a whole message).
    Message,
    /// Inside `CATENATE (...)`, after a part: `SP cat-part` or `")"`.
    Part,
}

/// What a segment says, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendEvent {
    /// A message begins.
    Start {
        /// Its flags, as sent.
        flags: Vec<String>,
        /// Its internal date.
        date: Option<DateTime<FixedOffset>>,
        /// Whether its data is CATENATE parts (else one literal).
        catenate: bool,
    },
    /// Octets of the message begun last: its whole literal, or a `TEXT` part.
    Text(Vec<u8>),
    /// A `URL` part of the message begun last (RFC 4469 §3).
    Url(String),
    /// The message begun last is complete.
    End,
}

/// How a segment ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEnd {
    /// The command's final CRLF.
    Crlf,
    /// A literal's announcement ends the input: its octets come next, streamed.
    Open {
        /// The announced size.
        size: u32,
        /// `literal8` (`~{n}`): the octets may contain NUL.
        binary: bool,
        /// A CATENATE `TEXT` part (the message goes on after it); else a whole message.
        part: bool,
        /// The message's `UTF8 (` form (RFC 6855 §4): a `)` follows the octets.
        utf8: bool,
    },
}

/// A literal in an APPEND: whole, or announced at the very end of the input (streamed).
enum Lit {
    Inline(Vec<u8>),
    Open { size: u32, binary: bool },
}

/// `literal / literal8`: `["~"] "{" number ["+"] "}" CRLF *OCTET`. NUL is refused in a
/// `literal` (`CHAR8 = %x01-ff`) and allowed in a `literal8` (RFC 3516 §4.4).
fn literal_or_8(i: &[u8]) -> Res<'_, Lit> {
    let (rest, tilde) = opt(tag(&b"~"[..])).parse(i)?;
    literal_body(rest, tilde.is_some())
}

/// A literal after its `~` if any: `"{" number ["+"] "}" CRLF *OCTET`; `binary`: a
/// literal8, whose octets may be NUL.
fn literal_body(i: &[u8], binary: bool) -> Res<'_, Lit> {
    let (rest, n) = delimited(
        tag(&b"{"[..]),
        number,
        (opt(tag(&b"+"[..])), tag(&b"}"[..])),
    )
    .parse(i)?;
    let (rest, ()) = crlf(rest)?;
    if rest.is_empty() && n > 0 {
        return Ok((rest, Lit::Open { size: n, binary }));
    }
    let n = n as usize;
    if rest.len() < n {
        return Err(nom::Err::Incomplete(nom::Needed::new(n - rest.len())));
    }
    let (data, rest) = rest.split_at(n);
    if !binary && data.contains(&0) {
        return fail(i);
    }
    Ok((rest, Lit::Inline(data.to_vec())))
}

/// Reads one segment of an APPEND's arguments from `expect`. `started`: a message was
/// begun earlier in this command (`1*append-message` needs one before the CRLF). On
/// [`SegmentEnd::Crlf`] the input left starts at that CRLF; on `Open` it is empty.
pub fn append_segment(
    mut i: &[u8],
    mut expect: Expect,
    mut started: bool,
) -> Res<'_, (Vec<AppendEvent>, SegmentEnd)> {
    let mut events = Vec::new();
    // Inside CATENATE: whether a part is needed before `)` (right after `(`).
    let mut need_part = false;
    loop {
        match expect {
            Expect::Message => {
                if started && crlf(i).is_ok() {
                    return Ok((i, (events, SegmentEnd::Crlf)));
                }
                let (rest, (flags, date, _)) = (
                    opt(preceded(sp, flag_list)),
                    opt(preceded(sp, date_time)),
                    sp,
                )
                    .parse(i)?;
                started = true;
                if let Ok((rest, _)) =
                    (tag_no_case(&b"CATENATE"[..]), sp, tag(&b"("[..])).parse(rest)
                {
                    events.push(AppendEvent::Start {
                        flags: flags.unwrap_or_default(),
                        date,
                        catenate: true,
                    });
                    expect = Expect::Part;
                    need_part = true;
                    i = rest;
                    continue;
                }
                // RFC 6855 §4: `utf8-literal = "UTF8" SP "(" literal8 ")"`, the form of a
                // message whose header fields may be UTF-8.
                let (rest, utf8) =
                    opt((tag_no_case(&b"UTF8"[..]), sp, tag(&b"(~"[..]))).parse(rest)?;
                let utf8 = utf8.is_some();
                // The `~` was read with the `(`: what follows is the literal8's `{n}`.
                let (rest, lit) = if utf8 {
                    literal_body(rest, true)?
                } else {
                    literal_or_8(rest)?
                };
                events.push(AppendEvent::Start {
                    flags: flags.unwrap_or_default(),
                    date,
                    catenate: false,
                });
                match lit {
                    Lit::Inline(data) => {
                        events.push(AppendEvent::Text(data));
                        events.push(AppendEvent::End);
                        i = if utf8 {
                            tag(&b")"[..]).parse(rest)?.0
                        } else {
                            rest
                        };
                    }
                    Lit::Open { size, binary } => {
                        let end = SegmentEnd::Open {
                            size,
                            binary,
                            part: false,
                            utf8,
                        };
                        return Ok((rest, (events, end)));
                    }
                }
            }
            Expect::Part => {
                if !need_part
                    && let Ok((rest, _)) = tag::<_, _, nom::error::Error<&[u8]>>(&b")"[..]).parse(i)
                {
                    events.push(AppendEvent::End);
                    expect = Expect::Message;
                    i = rest;
                    continue;
                }
                let rest = if need_part { i } else { sp(i)?.0 };
                need_part = false;
                let (rest, end) = cat_part(rest, &mut events)?;
                if let Some(end) = end {
                    return Ok((rest, (events, end)));
                }
                i = rest;
            }
        }
    }
}

/// `cat-part = text-literal / url`; `text-literal = "TEXT" SP literal`;
/// `url = "URL" SP astring` (RFC 4469 §5). A `TEXT` literal announced at the end of the
/// input ends the segment.
fn cat_part<'a>(i: &'a [u8], events: &mut Vec<AppendEvent>) -> Res<'a, Option<SegmentEnd>> {
    if let Ok((rest, _)) = (tag_no_case(&b"TEXT"[..]), sp).parse(i) {
        // RFC 4469 §5 says `literal`; a `literal8` is accepted too, as RFC 3516 §4.4
        // allows binary data wherever a message literal goes.
        let (rest, lit) = literal_or_8(rest)?;
        return Ok(match lit {
            Lit::Inline(data) => {
                events.push(AppendEvent::Text(data));
                (rest, None)
            }
            Lit::Open { size, binary } => (
                rest,
                Some(SegmentEnd::Open {
                    size,
                    binary,
                    part: true,
                    utf8: false,
                }),
            ),
        });
    }
    let (rest, url) = preceded((tag_no_case(&b"URL"[..]), sp), astring).parse(i)?;
    match String::from_utf8(url) {
        Ok(url) => {
            events.push(AppendEvent::Url(url));
            Ok((rest, None))
        }
        Err(_) => fail(i),
    }
}

/// `append = "APPEND" SP mailbox 1*append-message`, framed whole.
pub(super) fn append(i: &[u8]) -> Res<'_, CommandBody> {
    let (i, mailbox) = preceded(sp, mailbox).parse(i)?;
    let (rest, (events, end)) = append_segment(i, Expect::Message, false)?;
    if end != SegmentEnd::Crlf {
        // A literal announced at the very end: its octets never came.
        return Err(nom::Err::Incomplete(nom::Needed::Unknown));
    }
    let mut messages: Vec<AppendMessage> = Vec::new();
    for event in events {
        match (event, messages.last_mut()) {
            (
                AppendEvent::Start {
                    flags,
                    date,
                    catenate,
                },
                _,
            ) => messages.push(AppendMessage {
                flags,
                date,
                data: if catenate {
                    AppendData::Catenate(Vec::new())
                } else {
                    AppendData::Literal(Vec::new())
                },
            }),
            (AppendEvent::Text(t), Some(m)) => match &mut m.data {
                AppendData::Literal(data) => *data = t,
                AppendData::Catenate(parts) => parts.push(CatPart::Text(t)),
            },
            (AppendEvent::Url(u), Some(m)) => {
                if let AppendData::Catenate(parts) = &mut m.data {
                    parts.push(CatPart::Url(u));
                }
            }
            _ => {}
        }
    }
    Ok((rest, CommandBody::Append { mailbox, messages }))
}

/// The start of an APPEND whose first streamed literal has been announced
/// ([`crate::codec::Frame::AppendHead`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendHead {
    /// The command's tag.
    pub tag: String,
    /// Destination mailbox.
    pub mailbox: String,
    /// What came before the streamed literal (messages framed whole, or the start of
    /// the message the literal belongs to).
    pub events: Vec<AppendEvent>,
    /// The streamed literal.
    pub end: SegmentEnd,
}

/// Parses an APPEND up to and including the announcement of a literal streamed next:
///
/// `tag SP "APPEND" SP mailbox *append-message [SP flag-list] [SP date-time] SP
/// (literal-announcement / "CATENATE" SP "(" *(cat-part SP) "TEXT" SP literal-announcement)`
pub fn append_head(input: &[u8]) -> Result<AppendHead, ParseError> {
    let (rest, tag_bytes) = tag_(input).map_err(|_| ParseError::NoTag)?;
    let tag_s = String::from_utf8_lossy(tag_bytes).into_owned();
    let parsed = (
        preceded(sp, tag_no_case(&b"APPEND"[..])),
        preceded(sp, mailbox),
    )
        .parse(rest)
        .and_then(|(rest, (_, mailbox))| {
            let (rest, (events, end)) = append_segment(rest, Expect::Message, false)?;
            Ok((rest, (mailbox, events, end)))
        });
    match parsed {
        Ok((b"", (mailbox, events, end @ SegmentEnd::Open { .. }))) => Ok(AppendHead {
            tag: tag_s,
            mailbox,
            events,
            end,
        }),
        _ => Err(ParseError::Syntax {
            tag: tag_s,
            command: "APPEND".to_owned(),
        }),
    }
}

/// A message or message part named by an IMAP URL (RFC 5092), as CATENATE uses them
/// (RFC 4469 §3: relative URLs on the current server and session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUrl {
    /// The user an absolute URL names (`imap://user@host/...`), if any.
    pub user: Option<String>,
    /// The mailbox; `None`: the selected one (a URL that starts at `;UID=`).
    pub mailbox: Option<String>,
    /// `;UIDVALIDITY=`: the URL holds only while the mailbox has this UIDVALIDITY.
    pub uid_validity: Option<u32>,
    /// `;UID=`.
    pub uid: u32,
    /// `;SECTION=`: a part of the message; `None`: the whole message.
    pub section: Option<Section>,
    /// `;PARTIAL=offset[.length]`.
    pub partial: Option<(u32, Option<u32>)>,
}

/// `%XX` escapes undone (RFC 5092 §6 `achar`/`bchar`, RFC 3986 `pct-encoded`).
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads an IMAP URL naming a message or a part of one (RFC 5092 §11):
///
/// ```text
/// imapurl      = "imap://" iserver ipath-query / ipath-query-rel  (relative forms)
/// imessagepart = imailbox-ref iuid [isection] [ipartial]
/// imailbox-ref = enc-mailbox [uidvalidity]; uidvalidity = ";UIDVALIDITY=" nz-number
/// iuid         = "/" ";UID=" nz-number
/// isection     = "/" ";SECTION=" enc-section
/// ipartial     = "/" ";PARTIAL=" number ["." nz-number]
/// ```
///
/// Keys are case-insensitive (RFC 4469's examples write `section=` and `Section=`).
/// `None` when the URL is not one of these forms.
pub fn message_url(url: &str) -> Option<MessageUrl> {
    let mut user = None;
    let path = match url.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("imap://") => {
            let rest = &url[7..];
            let slash = rest.find('/')?;
            let server = &rest[..slash];
            if let Some(at) = server.rfind('@') {
                // `enc-user [iauth]`: ";AUTH=..." names a mechanism, not a user.
                let u = server[..at].split(';').next()?;
                user = Some(percent_decode(u)?);
            }
            &rest[slash..]
        }
        _ => url,
    };
    let mut out = MessageUrl {
        user,
        mailbox: None,
        uid_validity: None,
        uid: 0,
        section: None,
        partial: None,
    };
    // `/mailbox[;UIDVALIDITY=n]/;UID=...`, or relative to the selected mailbox
    // (RFC 4469 §3) `;UID=...`. A mailbox name may hold `/` (hierarchy), so it runs up
    // to the first `/;`.
    let rest: &str = match path.strip_prefix('/') {
        Some(p) => {
            let cut = p.find("/;")?;
            let mut parts = p[..cut].split(';');
            let name = percent_decode(parts.next()?)?;
            if name.is_empty() {
                return None;
            }
            out.mailbox = Some(name);
            for part in parts {
                let (k, v) = part.split_once('=')?;
                if !k.eq_ignore_ascii_case("UIDVALIDITY") {
                    return None;
                }
                out.uid_validity = Some(v.parse().ok().filter(|&n| n > 0)?);
            }
            &p[cut + 1..]
        }
        None => path,
    };
    let pieces = rest.split('/');
    let mut seen_uid = false;
    for piece in pieces {
        let (k, v) = piece.strip_prefix(';')?.split_once('=')?;
        let k = k.to_ascii_uppercase();
        match k.as_str() {
            "UID" if !seen_uid => {
                out.uid = v.parse().ok().filter(|&n| n > 0)?;
                seen_uid = true;
            }
            "SECTION" if seen_uid && out.section.is_none() && out.partial.is_none() => {
                let spec = format!("[{}]", percent_decode(v)?);
                match super::section(spec.as_bytes()) {
                    Ok((b"", section)) => out.section = Some(section),
                    _ => return None,
                }
            }
            "PARTIAL" if seen_uid && out.partial.is_none() => {
                let (offset, len) = match v.split_once('.') {
                    Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok().filter(|&n| n > 0)?)),
                    None => (v.parse().ok()?, None),
                };
                out.partial = Some((offset, len));
            }
            _ => return None,
        }
    }
    seen_uid.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_after_a_streamed_literal() {
        // RFC 3502 §6.3.11's example: after the first message, the second one's flags,
        // date and announcement.
        let (rest, (events, end)) = append_segment(
            b" (\\Seen) \" 7-Feb-1994 22:43:04 -0800\" {295}\r\n",
            Expect::Message,
            true,
        )
        .unwrap();
        assert!(rest.is_empty());
        assert!(
            matches!(&events[..], [AppendEvent::Start { flags, date: Some(_), catenate: false }] if flags == &["\\Seen"])
        );
        assert_eq!(
            end,
            SegmentEnd::Open {
                size: 295,
                binary: false,
                part: false,
                utf8: false,
            }
        );
        // RFC 4469 example 1: inside CATENATE after a TEXT part.
        let (_, (events, end)) = append_segment(
            b" URL \"/Drafts;UIDVALIDITY=385759045/;UID=30\" TEXT {44}\r\n",
            Expect::Part,
            true,
        )
        .unwrap();
        assert_eq!(
            events,
            vec![AppendEvent::Url(
                "/Drafts;UIDVALIDITY=385759045/;UID=30".into()
            )]
        );
        assert!(matches!(
            end,
            SegmentEnd::Open {
                size: 44,
                part: true,
                ..
            }
        ));
        let (rest, (events, end)) = append_segment(b")\r\n", Expect::Part, true).unwrap();
        assert_eq!(
            (events, end, rest),
            (vec![AppendEvent::End], SegmentEnd::Crlf, &b"\r\n"[..])
        );
        // The command's CRLF needs a message first; `CATENATE ()` is empty.
        assert!(append_segment(b"\r\n", Expect::Message, false).is_err());
        assert!(append_segment(b" CATENATE ()\r\n", Expect::Message, false).is_err());
    }

    #[test]
    fn urls_of_rfc_4469_examples() {
        let u = message_url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Drafts"));
        assert_eq!((u.uid_validity, u.uid), (Some(385759045), 20));
        assert_eq!(u.section.unwrap().part, vec![1]);
        let u = message_url("/INBOX;UIDVALIDITY=785799047/;UID=11467").unwrap();
        assert_eq!((u.uid, u.section), (11467, None));
        let u = message_url("imap://alice@example.org/My%20Box/;UID=3/;PARTIAL=2.5").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.mailbox.as_deref(), Some("My Box"));
        assert_eq!(u.partial, Some((2, Some(5))));
        let u = message_url(";UID=7/;SECTION=HEADER.FIELDS%20(Subject)").unwrap();
        assert_eq!((u.mailbox, u.uid), (None, 7));
        for bad in [
            "/INBOX",
            "/INBOX/;UID=0",
            "http://x/INBOX/;UID=1",
            "/INBOX/;UID=1/;SECTION=9x",
            "",
        ] {
            assert_eq!(message_url(bad), None, "{bad}");
        }
    }
}
