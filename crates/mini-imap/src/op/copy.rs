//! COPY, MOVE and their UID forms (RFC 3501 §6.4.7, RFC 6851), with UIDPLUS's COPYUID
//! (RFC 4315 §3).
//!
//! A copy keeps flags and internal date (COPY shares the bytes: Maildir hard-links the
//! files). MOVE is the store's move ([`yubin_store::Mailbox::move_to`]), not a COPY,
//! STORE and EXPUNGE: each message leaves the source as it arrives in the destination
//! (Maildir renames the file), so whatever happens (a crash included) it is in exactly
//! one of the two, never in both, never lost (RFC 6851 §3.3), and a client that retries
//! a MOVE whose answer it never got adds no copy. Its `COPYUID` goes in an untagged `OK`
//! before the EXPUNGEs (RFC 6851 §4.3), and the EXPUNGEs themselves are the session's
//! usual report of what left the mailbox ([`super::updates`]), sent before the tagged
//! `OK`; after a `NO`, the EXPUNGEs report the messages that did move before the error
//! (§3.3 lets a MOVE fail part way). A destination that does not exist is
//! `NO [TRYCREATE]` (RFC 3501 §6.4.7).
//!
//! The destination may be the selected mailbox itself, as RFC 6851 allows and Dovecot
//! does (imaptest checks it): COPY adds copies under new UIDs; MOVE gives each message a
//! new UID, so the client gets the `COPYUID`, an `EXPUNGE` for each old number and an
//! `EXISTS` for the new ones, and an offline client that MOVEs a message to where it
//! already is sees the move it asked for rather than nothing.

use yubin_store::{Account, StoreError};

use crate::command::SequenceSet;
use crate::response::{Code, Completion, Responses};
use crate::selected::Selected;

/// Writes UIDs as a `uid-set` (RFC 4315 §4), runs of consecutive UIDs as `a:b`, in the
/// order given, so that two sets of the same length correspond element by element.
pub fn uid_set(uids: &[u32]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && end.checked_add(1) == Some(uids[i + 1]) {
            i += 1;
            end = uids[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// The arguments of COPY or MOVE.
#[derive(Debug, Clone, Copy)]
pub struct CopyArgs<'a> {
    /// The UID form.
    pub uid: bool,
    /// MOVE rather than COPY.
    pub is_move: bool,
    /// Which messages.
    pub set: &'a SequenceSet,
    /// The destination's name.
    pub mailbox: &'a str,
}

/// Answers COPY or MOVE (either UID form).
pub fn copy(
    account: &Account,
    sel: &mut Selected,
    args: CopyArgs<'_>,
    out: &mut Responses,
) -> Completion {
    let command = match (args.uid, args.is_move) {
        (false, false) => "COPY",
        (true, false) => "UID COPY",
        (false, true) => "MOVE",
        (true, true) => "UID MOVE",
    };
    let positions = match super::resolve(sel, args.set, args.uid) {
        Ok(p) => p,
        Err(why) => return Completion::bad(why),
    };
    if args.is_move && sel.read_only {
        return Completion::no(Code::ReadOnly, "Mailbox is read-only (EXAMINE)");
    }
    let dest = match account.mailbox(args.mailbox) {
        Ok(d) => d,
        Err(StoreError::NoSuchMailbox(_)) => {
            return Completion::no(
                Code::TryCreate,
                format!("{command} failed: no such mailbox"),
            );
        }
        Err(e) => return Completion::store_failed(command, &e),
    };
    let uids: Vec<u32> = positions.iter().map(|&p| sel.uid(p)).collect();
    let result = if args.is_move {
        sel.mailbox.move_to(&uids, &dest)
    } else {
        sel.mailbox.copy_to(&uids, &dest)
    };
    let pairs = match result {
        Ok(p) => p,
        Err(e) => return Completion::store_failed(command, &e),
    };
    let code = match (pairs.is_empty(), dest.status()) {
        (false, Ok(st)) => Some(Code::CopyUid {
            uid_validity: st.uid_validity,
            source: uid_set(&pairs.iter().map(|p| p.0).collect::<Vec<_>>()),
            dest: uid_set(&pairs.iter().map(|p| p.1).collect::<Vec<_>>()),
        }),
        _ => None,
    };
    let done = Completion::done(command);
    match code {
        // RFC 6851 §4.3: MOVE sends COPYUID in an untagged OK, before the EXPUNGEs.
        Some(code) if args.is_move => {
            out.info(code, "Moved");
            done
        }
        Some(code) => done.with_code(code),
        None => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_sets_compress_runs_in_order() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
        assert_eq!(
            uid_set(&[u32::MAX - 1, u32::MAX]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }
}
