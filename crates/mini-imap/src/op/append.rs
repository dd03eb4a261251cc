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

use std::io::Read;

use yubin_store::{Account, IncomingAppend, Mailbox, StoreError};

use crate::capability::Enabled;
use crate::command::{AppendData, AppendMessage, CatPart};
use crate::mailbox_name::NameForm;
use crate::mime::MessageInfo;
use crate::mime::cte::binary::{Marks, Rewrite, Survey, Verdict};
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
    current: Option<Current>,
}

/// A message that may carry binary content is held in memory while it is at most this
/// size, and rewritten there if it must be; a larger one is kept as sent by the store
/// (not made CRLF) and read back to be rewritten ([`Spool::Binary`]).
pub const HOLD: usize = 64 * 1024;

/// Pieces of this size are read back from the store to rewrite a large binary message.
const READ_BACK: usize = 64 * 1024;

/// The message being read.
#[derive(Debug)]
struct Current {
    message: IncomingAppend,
    spool: Spool,
}

/// How the message being read is kept until it ends.
///
/// RFC 3516 §4.4: a message appended as a `literal8` may hold NUL and bare binary parts;
/// the server "MAY modify the CTE of the appended data, however any such transformation
/// MUST NOT result in a loss of data". yubin stores such parts in base64, so the
/// message's BODY[] can be sent in an ordinary literal (RFC 3501 §9: `CHAR8 = %x01-ff`,
/// no NUL) and BINARY gives the octets back exactly. Whether a part needs it is known
/// only at its end, while its header (to say `base64`) comes first: so the message is
/// kept as sent while a [`Survey`] watches it go by, and rewritten after it ends, from
/// memory or read back from the store in pieces ([`crate::mime::cte::binary`] says why
/// this and not a one-pass re-encoder). Memory stays bounded whatever the size.
#[derive(Debug)]
enum Spool {
    /// Nothing written yet: how it is kept depends on its first octets.
    Undecided,
    /// No binary content can come (an ordinary literal refuses NUL): written to the store
    /// as it comes, no copy, no second pass. The common case.
    Direct,
    /// Binary content may come (a `literal8`, a NUL, a CATENATE).
    Binary {
        survey: Box<Survey>,
        /// The message while it is at most [`HOLD`] octets.
        held: Vec<u8>,
        /// It passed [`HOLD`]: `held` went to the store, as every octet after it,
        /// verbatim ([`IncomingAppend::write_verbatim`]: a bare LF in binary data is
        /// data, and would otherwise be made CRLF).
        spilled: bool,
    },
}

impl Spool {
    fn binary() -> Spool {
        Spool::Binary {
            survey: Box::default(),
            held: Vec::new(),
            spilled: false,
        }
    }
}

impl Current {
    /// Octets received so far, as sent (what the size limit applies to).
    fn received(&self) -> u64 {
        let held = match &self.spool {
            Spool::Binary { held, .. } => held.len() as u64,
            _ => 0,
        };
        self.message.len().saturating_add(held)
    }

    fn write(&mut self, data: &[u8], binary: bool) -> Result<(), StoreError> {
        if matches!(self.spool, Spool::Undecided) {
            self.spool = if binary {
                Spool::binary()
            } else {
                Spool::Direct
            };
        }
        match &mut self.spool {
            Spool::Undecided | Spool::Direct => self.message.write(data),
            Spool::Binary {
                survey,
                held,
                spilled,
            } => {
                survey.feed(data);
                if !*spilled && held.len() + data.len() <= HOLD {
                    held.extend_from_slice(data);
                    return Ok(());
                }
                if !*spilled {
                    *spilled = true;
                    self.message.write_verbatim(&std::mem::take(held))?;
                }
                self.message.write_verbatim(data)
            }
        }
    }

    /// The message is complete: the message to add, its binary parts re-encoded.
    fn end(self) -> Result<IncomingAppend, Completion> {
        let failed = |e: StoreError| Completion::store_failed("APPEND", &e);
        let Current { mut message, spool } = self;
        let Spool::Binary {
            survey,
            held,
            spilled,
        } = spool
        else {
            return Ok(message);
        };
        let marks = match survey.finish() {
            Verdict::Refuse => {
                return Err(Completion::no(
                    Code::Cannot,
                    "APPEND failed: NUL outside the body of a MIME part (RFC 3516 §4.4)",
                ));
            }
            Verdict::Keep if spilled && !message.has_bare_lf() => return Ok(message),
            Verdict::Keep => None,
            Verdict::Rewrite(marks) => Some(marks),
        };
        if !spilled {
            let data = match marks {
                Some(marks) => rewrite_whole(&held, marks),
                None => held,
            };
            message.write(&data).map_err(failed)?;
            return Ok(message);
        }
        // Read back what was kept as sent, and write it again: rewritten, or only made
        // CRLF (bare LF line ends kept as sent to be able to come here). The first copy
        // goes when `message` is dropped.
        let mut fresh = message.restart().map_err(failed)?;
        let mut from = message.read_back().map_err(failed)?;
        let mut rewrite = marks.map(Rewrite::new);
        let mut buf = vec![0; READ_BACK];
        let mut out = Vec::new();
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(failed(StoreError::Io {
                        context: "reading back an appended message".into(),
                        source,
                    }));
                }
            };
            let piece = match &mut rewrite {
                Some(r) => {
                    out.clear();
                    r.feed(&buf[..n], &mut out);
                    &out[..]
                }
                None => &buf[..n],
            };
            fresh.write(piece).map_err(failed)?;
        }
        if let Some(r) = rewrite {
            out.clear();
            r.finish(&mut out);
            fresh.write(&out).map_err(failed)?;
        }
        Ok(fresh)
    }
}

/// Whether a whole literal (which does not say whether it was a `literal8`) may hold
/// binary content that storing it as it is would lose: a NUL (only a literal8 can carry
/// one), or a bare LF (which the store would make CRLF, changing a binary part's
/// octets). Without either, a part declared `binary` loses nothing as it is.
fn may_be_binary(data: &[u8]) -> bool {
    memchr::memchr(0, data).is_some()
        || memchr::memchr_iter(b'\n', data).any(|p| p == 0 || data[p - 1] != b'\r')
}

/// A message in memory with the parts `marks` names re-encoded.
fn rewrite_whole(message: &[u8], marks: Marks) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() / 3 * 4 + 1024);
    let mut rewrite = Rewrite::new(marks);
    rewrite.feed(message, &mut out);
    rewrite.finish(&mut out);
    out
}

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
        })
    }

    /// Takes one event of the command's arguments.
    fn apply(&mut self, event: AppendEvent) -> Result<(), Completion> {
        match event {
            AppendEvent::Start {
                flags,
                date,
                catenate,
            } => {
                let flags = super::store::parse_flags(&flags).map_err(|bad| bad.completion())?;
                let incoming = self
                    .mailbox
                    .incoming(&flags, date)
                    .map_err(|e| Completion::store_failed("APPEND", &e))?;
                // A CATENATE message is made of pieces of either kind, and of other
                // messages' octets: the survey sees it all from its first octet.
                let spool = if catenate {
                    Spool::binary()
                } else {
                    Spool::Undecided
                };
                self.current = Some(Current {
                    message: incoming,
                    spool,
                });
                self.scan = HeaderScan::default();
                Ok(())
            }
            AppendEvent::Text(data) => {
                let binary = may_be_binary(&data);
                self.write(&data, binary)
            }
            AppendEvent::Url(url) => {
                let data = self.resolve(&url)?;
                self.write(&data, true)
            }
            AppendEvent::End => {
                let Some(current) = self.current.take() else {
                    return Ok(());
                };
                let message = current.end()?;
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

    /// Appends octets to the message being read; `binary`: they may hold binary content
    /// (they came in a `literal8`, or hold a NUL).
    fn write(&mut self, data: &[u8], binary: bool) -> Result<(), Completion> {
        let Some(current) = &mut self.current else {
            return Ok(());
        };
        // RFC 4469 §4.2: "The server may also wish to return the TOOBIG response code if
        // the resulting message exceeds a server-specific message size limit." The
        // limit is on the octets sent: a re-encoded binary part is stored a third larger.
        if current.received().saturating_add(data.len() as u64) > self.max_message {
            return Err(Completion::no(Code::TooBig, "Message too large"));
        }
        self.scan.feed(data);
        if binary && matches!(current.spool, Spool::Direct) {
            // Cannot happen: one literal per message, and an ordinary one refuses NUL.
            return Err(Completion::no(
                Code::Cannot,
                "APPEND failed: binary data after ordinary data in one message",
            ));
        }
        current
            .write(data, binary)
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
        let binary = matches!(self.open, SegmentEnd::Open { binary: true, .. });
        if let Err(refused) = self.batch.write(piece, binary) {
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
        // A message of an APPEND that has failed already is not finished: it would be
        // read back, rewritten and made durable only to be dropped.
        if !part
            && self.failed.is_none()
            && let Err(refused) = self.batch.apply(AppendEvent::End)
        {
            self.failed = Some(refused);
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
