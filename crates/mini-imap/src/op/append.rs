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
}

impl Streaming {
    /// Writes the next piece of the message.
    pub fn write(&mut self, piece: &[u8]) {
        if let Ok(target) = &mut self.target
            && let Err(e) = target.write(piece)
        {
            self.target = Err(e);
        }
    }
}

/// Starts a streamed APPEND: checks what can be checked before the message arrives (the
/// flags, the mailbox), so a refusal comes before the client sends it. `Err`: refused,
/// with the completion to send.
pub fn start(account: &Account, head: &AppendHead) -> Result<Streaming, Completion> {
    let flags = super::store::parse_flags(&head.flags).map_err(|bad| bad.completion())?;
    let mailbox = open(account, &head.mailbox)?;
    match mailbox.incoming(&flags, head.date) {
        Ok(target) => Ok(Streaming {
            tag: head.tag.clone(),
            mailbox,
            target: Ok(target),
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
    } = streaming;
    if tail != b"\r\n" && tail != b"\n" {
        // Dropping the unfinished message leaves nothing behind.
        let bad = Completion::bad("Unexpected data after the APPEND message");
        return (tag, bad);
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
    let mailbox = match open(account, args.mailbox) {
        Ok(m) => m,
        Err(refused) => return refused,
    };
    appended(&mailbox, mailbox.append(args.message, &flags, args.date))
}
