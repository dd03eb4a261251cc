//! Command handlers too large for the session's dispatch: one file per command group.

pub mod append;
pub mod copy;
pub mod expunge;
pub mod fetch;
pub mod list;
pub mod mailbox;
pub mod notify;
pub mod search;
pub mod store;

use crate::command::SequenceSet;
use crate::session::Selected;

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
