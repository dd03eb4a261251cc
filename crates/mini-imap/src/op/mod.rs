//! Command handlers too large for the session's dispatch: one file per command group.

pub mod append;
pub mod copy;
pub mod expunge;
pub mod fetch;
pub mod list;
pub mod mailbox;
pub mod notify;
pub mod search;
pub mod sort;
pub mod store;
pub mod thread;

use crate::command::{CommandBody, SearchKey, SequenceSet};
use crate::session::Selected;

/// Replaces `$` (RFC 5182 §2.1) in a command's sequence sets with the saved search
/// result: UIDs where the set holds UIDs, sequence numbers elsewhere. The result is kept
/// as UIDs, so a message whose EXPUNGE the client has been told of is no longer in
/// `sel.uids` and drops out, and the others keep their current numbers.
pub fn expand_saved(sel: &Selected, body: &mut CommandBody) {
    use CommandBody as C;
    match body {
        C::Fetch { uid, set, .. }
        | C::Store { uid, set, .. }
        | C::Copy { uid, set, .. }
        | C::Move { uid, set, .. } => expand_set(sel, set, *uid),
        C::UidExpunge(set) => expand_set(sel, set, true),
        C::Search { criteria, .. }
        | C::Sort { keys: criteria, .. }
        | C::Thread { keys: criteria, .. } => {
            for k in criteria {
                expand_key(sel, k);
            }
        }
        _ => {}
    }
}

fn expand_key(sel: &Selected, key: &mut SearchKey) {
    match key {
        SearchKey::SequenceSet(set) => expand_set(sel, set, false),
        SearchKey::Uid(set) => expand_set(sel, set, true),
        SearchKey::Not(k) => expand_key(sel, k),
        SearchKey::Or(a, b) => {
            expand_key(sel, a);
            expand_key(sel, b);
        }
        SearchKey::And(keys) => {
            for k in keys {
                expand_key(sel, k);
            }
        }
        _ => {}
    }
}

fn expand_set(sel: &Selected, set: &mut SequenceSet, uid: bool) {
    if !set.is_saved() {
        return;
    }
    let present = sel
        .saved
        .iter()
        .filter_map(|&u| sel.uids.position(u).ok().map(|pos| (u, pos)));
    *set = if uid {
        SequenceSet::from_sorted(present.map(|(u, _)| u))
    } else {
        SequenceSet::from_sorted(present.map(|(_, pos)| pos as u32 + 1))
    };
}

/// The snapshot positions (0-based) a set names, ascending.
///
/// With `uid`, the set holds UIDs and `*` is the largest UID; UIDs that do not exist are
/// ignored (RFC 3501 §6.4.8). Without, it holds sequence numbers, and one past EXISTS
/// (or `*` in an empty mailbox) is an error (§9: "invalid").
pub fn resolve(sel: &Selected, set: &SequenceSet, uid: bool) -> Result<Vec<usize>, &'static str> {
    let n = sel.len();
    if uid {
        let largest = sel.largest_uid();
        Ok(sel
            .uids
            .iter()
            .enumerate()
            .filter(|&(_, uid)| set.contains(uid, largest))
            .map(|(i, _)| i)
            .collect())
    } else {
        let star_empty = n == 0
            && set.0.iter().any(|&(a, b)| {
                a == crate::command::SeqNum::Star || b == crate::command::SeqNum::Star
            });
        if star_empty || set.max_value().is_some_and(|m| m as usize > n) {
            return Err("Invalid message sequence number");
        }
        Ok((0..n)
            .filter(|&i| set.contains(i as u32 + 1, n as u32))
            .collect())
    }
}
