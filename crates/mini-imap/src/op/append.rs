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

use crate::response::{Code, tagged};
use crate::session::store_error;

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
/// flags, the mailbox), so a refusal comes before the client sends it. `None`: refused,
/// with the tagged answer in `b`.
pub fn start(account: &Account, head: &AppendHead, b: &mut Vec<u8>) -> Option<Streaming> {
    let flags = match super::store::parse_flags(&head.flags) {
        Ok(f) => f,
        Err(bad) => {
            tagged(b, &head.tag, "BAD", Some(&bad.code), &bad.text);
            return None;
        }
    };
    let mailbox = match account.mailbox(&head.mailbox) {
        Ok(m) => m,
        Err(StoreError::NoSuchMailbox(_)) => {
            tagged(
                b,
                &head.tag,
                "NO",
                Some(&Code::TryCreate),
                "APPEND failed: no such mailbox",
            );
            return None;
        }
        Err(e) => {
            store_error(b, &head.tag, "APPEND", &e);
            return None;
        }
    };
    match mailbox.incoming(&flags, head.date) {
        Ok(target) => Some(Streaming {
            tag: head.tag.clone(),
            mailbox,
            target: Ok(target),
        }),
        Err(e) => {
            store_error(b, &head.tag, "APPEND", &e);
            None
        }
    }
}

/// Ends a streamed APPEND with the rest of its command line, `tail`: only the CRLF may
/// follow the message (MULTIAPPEND is not offered), then the message is added.
pub fn finish(streaming: Streaming, tail: &[u8], b: &mut Vec<u8>) {
    let Streaming {
        tag,
        mailbox,
        target,
    } = streaming;
    if tail != b"\r\n" && tail != b"\n" {
        // Dropping the unfinished message leaves nothing behind.
        return tagged(
            b,
            &tag,
            "BAD",
            None,
            "Unexpected data after the APPEND message",
        );
    }
    let appended = target
        .and_then(IncomingAppend::finish)
        .and_then(|uid| Ok((uid, mailbox.status()?.uid_validity)));
    match appended {
        Ok((uid, uid_validity)) => tagged(
            b,
            &tag,
            "OK",
            Some(&Code::AppendUid { uid_validity, uid }),
            "APPEND completed",
        ),
        Err(e) => store_error(b, &tag, "APPEND", &e),
    }
}

/// Answers APPEND.
pub fn append(account: &Account, tag: &str, args: AppendArgs<'_>, b: &mut Vec<u8>) {
    let flags = match super::store::parse_flags(args.flags) {
        Ok(f) => f,
        Err(bad) => return tagged(b, tag, "BAD", Some(&bad.code), &bad.text),
    };
    if args.message.is_empty() {
        return tagged(
            b,
            tag,
            "NO",
            Some(&Code::Cannot),
            "APPEND failed: empty message",
        );
    }
    let mailbox = match account.mailbox(args.mailbox) {
        Ok(m) => m,
        Err(StoreError::NoSuchMailbox(_)) => {
            return tagged(
                b,
                tag,
                "NO",
                Some(&Code::TryCreate),
                "APPEND failed: no such mailbox",
            );
        }
        Err(e) => return store_error(b, tag, "APPEND", &e),
    };
    let appended = mailbox
        .append(args.message, &flags, args.date)
        .and_then(|uid| Ok((uid, mailbox.status()?.uid_validity)));
    match appended {
        Ok((uid, uid_validity)) => tagged(
            b,
            tag,
            "OK",
            Some(&Code::AppendUid { uid_validity, uid }),
            "APPEND completed",
        ),
        Err(e) => store_error(b, tag, "APPEND", &e),
    }
}
