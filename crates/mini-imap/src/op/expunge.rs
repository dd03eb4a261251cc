//! EXPUNGE (RFC 3501 §6.4.3) and UID EXPUNGE (UIDPLUS, RFC 4315 §2.1).
//!
//! The store removes the messages that have `\Deleted` now (whoever set it); the
//! `* n EXPUNGE` lines are the session's usual report of what left the mailbox
//! ([`super::updates`]), which also covers messages other sessions removed meanwhile,
//! highest number first. UID EXPUNGE only removes `\Deleted` messages inside its set, so
//! a client does not lose another client's deletions by accident.

use yubin_store::Flag;

use crate::command::SequenceSet;
use crate::response::{Code, Completion};
use crate::selected::Selected;

/// Answers EXPUNGE (`set` is `None`) or UID EXPUNGE.
pub fn expunge(sel: &mut Selected, set: Option<&SequenceSet>) -> Completion {
    let command = if set.is_some() {
        "UID EXPUNGE"
    } else {
        "EXPUNGE"
    };
    if sel.read_only {
        return Completion::no(Code::ReadOnly, "Mailbox is read-only (EXAMINE)");
    }
    let now = match sel.mailbox.view() {
        Ok(v) => v,
        Err(e) => return Completion::store_failed(command, &e),
    };
    // `*` in a UID set is the largest UID the client knows of.
    let largest = sel.largest_uid();
    let doomed: Vec<u32> = now
        .uids()
        .filter(|&u| now.flags(u).is_some_and(|f| f.contains(&Flag::Deleted)))
        .filter(|&u| set.is_none_or(|s| s.contains(u, largest)))
        .collect();
    if let Err(e) = sel.mailbox.expunge(&doomed) {
        return Completion::store_failed(command, &e);
    }
    Completion::done(command)
}
