//! APPEND (RFC 3501 §6.3.11) with UIDPLUS's APPENDUID (RFC 4315 §3), several messages
//! at once (MULTIAPPEND, RFC 3502), messages made of parts of others (CATENATE,
//! RFC 4469), binary data (`literal8`, RFC 3516 §4.4) and the UTF8 form of a message
//! with UTF-8 header fields (RFC 6855 §4, allowed once UTF8=ACCEPT or IMAP4rev2 is on).
//!
//! Every message goes to the store as it is read ([`Mailbox::incoming`]), whether it came
//! whole in the command or streamed in pieces ([`crate::codec::Frame::AppendHead`]); the
//! messages of one command are added together at the end
//! ([`IncomingAppend::finish_all`]): RFC 3502 §6.3.11 "If the append is unsuccessful for
//! any reason (including being cancelled), the mailbox MUST be restored to its state
//! before the APPEND attempt; no partial appending is permitted." A mailbox that does not
//! exist is `NO [TRYCREATE]`, answered before any message literal is asked for. If the
//! destination is the selected mailbox, the session's usual report sends the new EXISTS
//! before the tagged `OK` (§6.3.11: "SHOULD notify the client immediately").

use yubin_store::{Account, IncomingAppend, Mailbox, StoreError};

use crate::capability::Enabled;
use crate::command::{AppendData, AppendMessage, CatPart};
use crate::mailbox_name::NameForm;
use crate::mime::MessageInfo;
use crate::parse::{self, AppendEvent, AppendHead, Expect, SegmentEnd};
use crate::response::{Code, Completion};

/// Where the messages of one APPEND go, and what they may read (CATENATE URLs).
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The logged-in account: the destination's and every URL's.
    pub account: &'a Account,
    /// The selected mailbox, the base of a URL without a mailbox (RFC 4469 §3).
    pub selected: Option<&'a str>,
    /// The largest message accepted (the literal limit): a CATENATE that would pass it
    /// is `NO [TOOBIG]` (RFC 4469 §4.2).
    pub max_message: u64,
    /// Whether header fields may carry 8-bit text ([`eight_bit_headers_allowed`]).
    pub eight_bit_headers: bool,
    /// The most messages one APPEND may carry ([`crate::ImapConfig::max_append_messages`]).
    pub max_messages: usize,
}

/// The messages of one APPEND, as they are put together.
#[derive(Debug)]
struct Batch {
    account: Account,
    selected: Option<String>,
    max_message: u64,
    max_messages: usize,
    eight_bit_headers: bool,
    /// The header of the message being read, scanned for 8-bit octets (RFC 6855 §4).
    scan: HeaderScan,
    mailbox: Mailbox,
    /// Messages complete, in order.
    done: Vec<IncomingAppend>,
    /// The message being read.
    current: Option<IncomingAppend>,
    /// The start of the message being read, held back while it is at most [`HOLD`]
    /// octets so that binary content can be re-encoded before it is stored.
    held: Vec<u8>,
    /// Whether the message being read is still held (it has not passed [`HOLD`]).
    holding: bool,
}

/// Messages up to this size are held in memory until they end: one that carries binary
/// content (a NUL, sent as a literal8) is stored with those parts in base64 (RFC 3516
/// §4.4: the server "MAY modify the CTE of the appended data, however any such
/// transformation MUST NOT result in a loss of data"), so its BODY[] can be sent in an
/// IMAP literal (RFC 3501 §9: no NUL) and BINARY gives the octets back exactly. A larger
/// message is written as it comes, as sent.
pub const HOLD: usize = 64 * 1024;

impl Batch {
    fn new(cx: Context<'_>, name: &str) -> Result<Batch, Completion> {
        let mailbox = cx.account.mailbox(name).map_err(|e| match e {
            StoreError::NoSuchMailbox(_) => {
                Completion::no(Code::TryCreate, "APPEND failed: no such mailbox")
            }
            e => Completion::store_failed("APPEND", &e),
        })?;
        Ok(Batch {
            account: cx.account.clone(),
            selected: cx.selected.map(str::to_owned),
            max_message: cx.max_message,
            max_messages: cx.max_messages,
            eight_bit_headers: cx.eight_bit_headers,
            scan: HeaderScan::default(),
            mailbox,
            done: Vec::new(),
            current: None,
            held: Vec::new(),
            holding: false,
        })
    }

    /// Takes one event of the command's arguments.
    fn apply(&mut self, event: AppendEvent) -> Result<(), Completion> {
        match event {
            AppendEvent::Start { flags, date, .. } => {
                let flags = super::store::parse_flags(&flags).map_err(|bad| bad.completion())?;
                let incoming = self
                    .mailbox
                    .incoming(&flags, date)
                    .map_err(|e| Completion::store_failed("APPEND", &e))?;
                self.current = Some(incoming);
                self.scan = HeaderScan::default();
                self.held.clear();
                self.holding = true;
                Ok(())
            }
            AppendEvent::Text(data) => self.write(&data),
            AppendEvent::Url(url) => {
                let data = self.resolve(&url)?;
                self.write(&data)
            }
            AppendEvent::End => {
                self.release()?;
                let Some(message) = self.current.take() else {
                    return Ok(());
                };
                // RFC 3502 §6.3.11: "A zero-length message literal argument is an error,
                // and MUST return a NO. This can be used to cancel the append."
                if message.is_empty() {
                    return Err(Completion::no(Code::Cannot, "APPEND failed: empty message"));
                }
                if self.scan.eight_bit && !self.eight_bit_headers {
                    return Err(eight_bit_refused());
                }
                let mut message = message;
                if self.done.len() >= self.max_messages {
                    let text = format!(
                        "APPEND failed: more than {} messages in one APPEND",
                        self.max_messages
                    );
                    return Err(Completion::no(Code::Limit, text));
                }
                // Durable now, its file closed: a message waiting for the rest of the
                // batch holds no buffer and no descriptor.
                message
                    .seal()
                    .map_err(|e| Completion::store_failed("APPEND", &e))?;
                self.done.push(message);
                Ok(())
            }
        }
    }

    /// Appends octets to the message being read.
    fn write(&mut self, data: &[u8]) -> Result<(), Completion> {
        let Some(message) = &mut self.current else {
            return Ok(());
        };
        // RFC 4469 §4.2: "The server may also wish to return the TOOBIG response code if
        // the resulting message exceeds a server-specific message size limit."
        let so_far = message.len().saturating_add(self.held.len() as u64);
        if so_far.saturating_add(data.len() as u64) > self.max_message {
            return Err(Completion::no(Code::TooBig, "Message too large"));
        }
        self.scan.feed(data);
        if self.holding && self.held.len() + data.len() <= HOLD {
            self.held.extend_from_slice(data);
            return Ok(());
        }
        self.release()?;
        self.holding = false;
        let Some(message) = &mut self.current else {
            return Ok(());
        };
        message
            .write(data)
            .map_err(|e| Completion::store_failed("APPEND", &e))
    }

    /// Writes what is held of the message being read, its binary parts re-encoded in
    /// base64 if it has any ([`HOLD`]).
    fn release(&mut self) -> Result<(), Completion> {
        let held = std::mem::take(&mut self.held);
        let Some(message) = &mut self.current else {
            return Ok(());
        };
        if held.is_empty() {
            return Ok(());
        }
        let data = match memchr::memchr(0, &held) {
            Some(_) => crate::mime::cte::encode_binary_parts(&held).unwrap_or(held),
            None => held,
        };
        message
            .write(&data)
            .map_err(|e| Completion::store_failed("APPEND", &e))
    }

    /// The octets a CATENATE URL names (RFC 4469 §3: "as if the literal returned in a
    /// FETCH BODY response were put in place of the message part specifier"; the
    /// message's \Seen flag is not set). Only the session's own account is reachable:
    /// RFC 4469 §3 "would return NO to such a request" for anything else.
    fn resolve(&self, url: &str) -> Result<Vec<u8>, Completion> {
        // RFC 4469 §4.1: "The BADURL response code contains the first URL specified as a
        // parameter to the APPEND command that has caused the operation to fail."
        let bad = || Completion::no(Code::BadUrl(url.to_owned()), "APPEND failed: bad URL");
        let parsed = parse::message_url(url).ok_or_else(bad)?;
        if parsed
            .user
            .as_deref()
            .is_some_and(|u| !u.eq_ignore_ascii_case(self.account.name()))
        {
            return Err(bad());
        }
        // RFC 5092 §8: a URL names a mailbox in UTF-8 (percent-encoded), whatever the
        // session's form.
        let name = match &parsed.mailbox {
            Some(name) => NameForm::Utf8
                .to_store(name)
                .map_err(|_| bad())?
                .into_owned(),
            None => self.selected.clone().ok_or_else(bad)?,
        };
        let mailbox = self.account.mailbox(&name).map_err(|_| bad())?;
        let view = mailbox.view().map_err(|_| bad())?;
        if parsed
            .uid_validity
            .is_some_and(|v| v != view.status().uid_validity)
            || !view.contains(parsed.uid)
        {
            return Err(bad());
        }
        let raw = mailbox.read(parsed.uid).map_err(|_| bad())?;
        let data = match &parsed.section {
            None => raw.to_vec(),
            Some(section) => MessageInfo::parse(&raw)
                .section(&raw, section)
                .ok_or_else(bad)?
                .into_owned(),
        };
        Ok(match parsed.partial {
            None => data,
            Some((offset, len)) => {
                let start = (offset as usize).min(data.len());
                let end = len.map_or(data.len(), |l| {
                    start.saturating_add(l as usize).min(data.len())
                });
                data[start..end].to_vec()
            }
        })
    }

    /// Adds every message, all or none: `OK [APPENDUID uidvalidity uid-set]`.
    fn finish(self) -> Completion {
        let uids = IncomingAppend::finish_all(self.done);
        match uids.and_then(|uids| Ok((uids, self.mailbox.status()?.uid_validity))) {
            Ok((uids, uid_validity)) => Completion::done("APPEND").with_code(Code::AppendUid {
                uid_validity,
                uids: super::copy::uid_set(&uids),
            }),
            Err(e) => Completion::store_failed("APPEND", &e),
        }
    }
}

/// Answers an APPEND framed whole.
pub fn append(cx: Context<'_>, mailbox: &str, messages: Vec<AppendMessage>) -> Completion {
    let mut batch = match Batch::new(cx, mailbox) {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    for m in messages {
        let catenate = matches!(m.data, AppendData::Catenate(_));
        let start = AppendEvent::Start {
            flags: m.flags,
            date: m.date,
            catenate,
        };
        let events = match m.data {
            AppendData::Literal(data) => vec![AppendEvent::Text(data)],
            AppendData::Catenate(parts) => parts
                .into_iter()
                .map(|p| match p {
                    CatPart::Text(t) => AppendEvent::Text(t),
                    CatPart::Url(u) => AppendEvent::Url(u),
                })
                .collect(),
        };
        let all = std::iter::once(start)
            .chain(events)
            .chain([AppendEvent::End]);
        for event in all {
            if let Err(refused) = batch.apply(event) {
                return refused;
            }
        }
    }
    batch.finish()
}

/// An APPEND one of whose literals arrives in pieces ([`crate::codec::Frame::Piece`]):
/// each piece goes to the store as it comes, so no message is ever whole in memory.
#[derive(Debug)]
pub struct Streaming {
    tag: String,
    batch: Batch,
    /// The literal being streamed.
    open: SegmentEnd,
    /// Why the APPEND fails, once known (the rest of the literal is still read, and
    /// dropped).
    failed: Option<Completion>,
}

/// What follows a segment of a streamed APPEND.
#[derive(Debug)]
pub enum Next {
    /// Another literal is streamed: ask for it (if synchronizing) and read on.
    More(Box<Streaming>),
    /// The APPEND is over: its tag and completion.
    Done(String, Completion),
}

impl Streaming {
    /// The command's tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Writes the next piece of the literal being streamed.
    pub fn write(&mut self, piece: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if let SegmentEnd::Open { binary: false, .. } = self.open
            && piece.contains(&0)
        {
            // RFC 3501 §9: `CHAR8 = %x01-ff`; NUL needs a literal8 (RFC 3516 §4.4).
            self.failed = Some(Completion::bad("NUL in a literal (send a literal8)"));
            return;
        }
        if let Err(refused) = self.batch.write(piece) {
            self.failed = Some(refused);
        }
    }

    /// Reads the arguments after the literal just streamed, up to the command's CRLF
    /// (the APPEND ends) or the next streamed literal.
    pub fn next(mut self, segment: &[u8]) -> Next {
        let part = matches!(self.open, SegmentEnd::Open { part: true, .. });
        // RFC 6855 §4: the UTF8 form's `)` closes the `(` before the literal8.
        let segment = match self.open {
            SegmentEnd::Open { utf8: true, .. } => match segment.strip_prefix(b")") {
                Some(rest) => rest,
                None => {
                    let bad = Completion::bad("Syntax error in APPEND arguments");
                    return Next::Done(self.tag, bad);
                }
            },
            _ => segment,
        };
        if !part && let Err(refused) = self.batch.apply(AppendEvent::End) {
            self.failed.get_or_insert(refused);
        }
        let expect = if part { Expect::Part } else { Expect::Message };
        let Ok((rest, (events, end))) = parse::append_segment(segment, expect, true) else {
            let bad = Completion::bad("Syntax error in APPEND arguments");
            return Next::Done(self.tag, bad);
        };
        if end == SegmentEnd::Crlf && rest != b"\r\n" && rest != b"\n" {
            let bad = Completion::bad("Syntax error in APPEND arguments");
            return Next::Done(self.tag, bad);
        }
        self.go_on(events, end)
    }

    fn go_on(mut self, events: Vec<AppendEvent>, end: SegmentEnd) -> Next {
        if let Some(failed) = self.failed.take() {
            return Next::Done(self.tag, failed);
        }
        for event in events {
            if let Err(refused) = self.batch.apply(event) {
                // Dropping the batch drops every message read so far: nothing stays.
                return Next::Done(self.tag, refused);
            }
        }
        match end {
            SegmentEnd::Crlf => Next::Done(self.tag, self.batch.finish()),
            open => {
                self.open = open;
                Next::More(Box::new(self))
            }
        }
    }
}

/// Starts a streamed APPEND: checks what can be checked before the literal arrives (the
/// mailbox, flags, the messages and parts before it), so a refusal comes before the
/// client sends it.
pub fn start(cx: Context<'_>, head: AppendHead) -> Next {
    let batch = match Batch::new(cx, &head.mailbox) {
        Ok(b) => b,
        Err(refused) => return Next::Done(head.tag, refused),
    };
    let streaming = Streaming {
        tag: head.tag,
        batch,
        open: head.end,
        failed: None,
    };
    streaming.go_on(head.events, head.end)
}

/// RFC 6855 §4: "If an IMAP server supports "UTF8=ACCEPT" and the IMAP client has not
/// issued the "ENABLE UTF8=ACCEPT" command, the server MUST reject, with a "NO"
/// response, an "APPEND" command that includes any 8-bit character in message header
/// fields." An IMAP4rev2 client may send them too (RFC 9051 Appendix E item 16:
/// "Mailbox names and message headers now allow for UTF-8").
pub fn eight_bit_headers_allowed(enabled: Enabled) -> bool {
    enabled.utf8_accept() || enabled.imap4rev2()
}

fn eight_bit_refused() -> Completion {
    Completion::no(
        Code::Cannot,
        "APPEND failed: 8-bit header fields need ENABLE UTF8=ACCEPT (RFC 6855 §4)",
    )
}

/// Finds 8-bit octets in a message's header section as the message goes by, in pieces
/// of any size: the header ends at the first empty line (CRLF CRLF, or bare LF LF).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderScan {
    at: Scan,
    /// An octet >= 0x80 was seen in the header section.
    pub eight_bit: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Scan {
    /// At the start of a line.
    #[default]
    LineStart,
    /// A CR at the start of a line.
    CrAtLineStart,
    /// Inside a line.
    InLine,
    /// Past the header.
    Body,
}

impl HeaderScan {
    /// Looks at the next octets of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.at = match (self.at, b) {
                (Scan::Body, _) => return,
                (Scan::LineStart | Scan::CrAtLineStart, b'\n') => Scan::Body,
                (Scan::LineStart, b'\r') => Scan::CrAtLineStart,
                (_, b'\n') => Scan::LineStart,
                _ => {
                    self.eight_bit |= b >= 0x80;
                    Scan::InLine
                }
            };
        }
    }

    /// Whether `message`'s header section has an 8-bit octet.
    pub fn has_eight_bit(message: &[u8]) -> bool {
        let mut scan = HeaderScan::default();
        scan.feed(message);
        scan.eight_bit
    }
}
