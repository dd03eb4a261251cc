//! APPEND (RFC 3501 §6.3.11) with UIDPLUS's APPENDUID (RFC 4315 §3).
//!
//! The codec has already read the message literal (synchronizing or LITERAL+) and
//! refused one over the size limit with `NO [TOOBIG]`. Here the flags and the internal
//! date from the command go to the store with the message; a mailbox that does not exist
//! is `NO [TRYCREATE]`. If the destination is the selected mailbox, the session's usual
//! report sends the new EXISTS before the tagged `OK` (§6.3.11: "SHOULD notify the client
//! immediately").

use chrono::{DateTime, FixedOffset};
use yubin_store::{Account, StoreError};

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
