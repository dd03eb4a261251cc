//! APPEND (RFC 3501 §6.3.11) with UIDPLUS's APPENDUID (RFC 4315 §3).
//!
//! The codec has already read the message literal (synchronizing or LITERAL+) and
//! refused one over the size limit with `NO [TOOBIG]`. Here the flags and the internal
//! date from the command go to the store with the message; a mailbox that does not exist
//! is `NO [TRYCREATE]`. If the destination is the selected mailbox, the session's usual
//! report sends the new EXISTS before the tagged `OK` (§6.3.11: "SHOULD notify the client
//! immediately").

use chrono::{DateTime, FixedOffset};
use yubin_store::{Account, IncomingAppend, Mailbox, StoreError};

use crate::capability::Enabled;
use crate::parse::AppendHead;

use crate::response::{Code, Completion};

/// The arguments of APPEND.
#[derive(Debug, Clone, Copy)]
pub struct AppendArgs<'a> {
    /// Destination mailbox.
    pub mailbox: &'a str,
    /// Flags for the new message, as sent.
    pub flags: &'a [String],
    /// Internal date; `None` means now.
    pub date: Option<DateTime<FixedOffset>>,
    /// The message.
    pub message: &'a [u8],
    /// Whether header fields may carry 8-bit text ([`eight_bit_headers_allowed`]).
    pub eight_bit_headers: bool,
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

/// A large APPEND whose message arrives in pieces ([`crate::codec::Frame::AppendHead`]):
/// each piece goes to the store as it comes, so the message is never whole in memory.
#[derive(Debug)]
pub struct Streaming {
    tag: String,
    mailbox: Mailbox,
    /// Where the pieces go; the error once one could not be written (the rest of the
    /// message is still read, and dropped).
    target: Result<IncomingAppend, StoreError>,
    /// The message came as `UTF8 (~{n}...)`: its `)` ends the line (RFC 6855 §4).
    utf8: bool,
    /// The header is scanned for 8-bit octets unless they are allowed.
    scan: Option<HeaderScan>,
}

impl Streaming {
    /// Writes the next piece of the message.
    pub fn write(&mut self, piece: &[u8]) {
        if let Some(scan) = &mut self.scan {
            scan.feed(piece);
        }
        if let Ok(target) = &mut self.target
            && let Err(e) = target.write(piece)
        {
            self.target = Err(e);
        }
    }
}

/// Starts a streamed APPEND: checks what can be checked before the message arrives (the
/// flags, the mailbox), so a refusal comes before the client sends it. `Err`: refused,
/// with the completion to send. `eight_bit_headers`: [`eight_bit_headers_allowed`].
pub fn start(
    account: &Account,
    head: &AppendHead,
    eight_bit_headers: bool,
) -> Result<Streaming, Completion> {
    let flags = super::store::parse_flags(&head.flags).map_err(|bad| bad.completion())?;
    let mailbox = open(account, &head.mailbox)?;
    match mailbox.incoming(&flags, head.date) {
        Ok(target) => Ok(Streaming {
            tag: head.tag.clone(),
            mailbox,
            target: Ok(target),
            utf8: head.utf8,
            scan: (!eight_bit_headers).then(HeaderScan::default),
        }),
        Err(e) => Err(Completion::store_failed("APPEND", &e)),
    }
}

/// The destination of an APPEND; a missing one is `NO [TRYCREATE]` (RFC 3501 §6.3.11).
fn open(account: &Account, name: &str) -> Result<Mailbox, Completion> {
    account.mailbox(name).map_err(|e| match e {
        StoreError::NoSuchMailbox(_) => {
            Completion::no(Code::TryCreate, "APPEND failed: no such mailbox")
        }
        e => Completion::store_failed("APPEND", &e),
    })
}

/// `OK [APPENDUID ...]` (RFC 4315 §3), or why the message was not added.
fn appended(mailbox: &Mailbox, added: Result<u32, StoreError>) -> Completion {
    match added.and_then(|uid| Ok((uid, mailbox.status()?.uid_validity))) {
        Ok((uid, uid_validity)) => {
            Completion::done("APPEND").with_code(Code::AppendUid { uid_validity, uid })
        }
        Err(e) => Completion::store_failed("APPEND", &e),
    }
}

/// Ends a streamed APPEND with the rest of its command line, `tail`: only the CRLF may
/// follow the message (MULTIAPPEND is not offered), then the message is added.
pub fn finish(streaming: Streaming, tail: &[u8]) -> (String, Completion) {
    let Streaming {
        tag,
        mailbox,
        target,
        utf8,
        scan,
    } = streaming;
    // The UTF8 form's `)` closes the `(` before the literal.
    let tail = match utf8 {
        true => tail.strip_prefix(b")").unwrap_or(b"?"),
        false => tail,
    };
    if tail != b"\r\n" && tail != b"\n" {
        // Dropping the unfinished message leaves nothing behind.
        let bad = Completion::bad("Unexpected data after the APPEND message");
        return (tag, bad);
    }
    if scan.is_some_and(|s| s.eight_bit) {
        return (tag, eight_bit_refused());
    }
    let done = appended(&mailbox, target.and_then(IncomingAppend::finish));
    (tag, done)
}

/// Answers APPEND.
pub fn append(account: &Account, args: AppendArgs<'_>) -> Completion {
    let flags = match super::store::parse_flags(args.flags) {
        Ok(f) => f,
        Err(bad) => return bad.completion(),
    };
    if args.message.is_empty() {
        return Completion::no(Code::Cannot, "APPEND failed: empty message");
    }
    if !args.eight_bit_headers && HeaderScan::has_eight_bit(args.message) {
        return eight_bit_refused();
    }
    let mailbox = match open(account, args.mailbox) {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    appended(&mailbox, mailbox.append(args.message, &flags, args.date))
}
