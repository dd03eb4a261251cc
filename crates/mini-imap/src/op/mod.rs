//! Command handlers too large for the session's dispatch: one file per command group.

pub mod append;
pub mod auth;
pub mod context;
pub mod copy;
pub mod expunge;
pub mod fetch;
pub mod list;
pub mod mailbox;
pub mod notify;
pub mod search;
pub mod select;
pub mod sort;
pub mod status;
pub mod store;
pub mod thread;
pub mod updates;

use yubin_store::View;

use crate::command::{CommandBody, SearchKey, SequenceSet};
use crate::selected::Selected;

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
        check_sequence(sel, set)?;
        Ok((0..n)
            .filter(|&i| set.contains(i as u32 + 1, n as u32))
            .collect())
    }
}

/// Refuses a sequence-number set that names a message past EXISTS (or `*` in an empty
/// mailbox): RFC 3501 §9 calls such a number invalid.
pub fn check_sequence(sel: &Selected, set: &SequenceSet) -> Result<(), &'static str> {
    let n = sel.len();
    let star_empty = n == 0
        && set
            .0
            .iter()
            .any(|&(a, b)| a == crate::command::SeqNum::Star || b == crate::command::SeqNum::Star);
    if star_empty || set.max_value().is_some_and(|m| m as usize > n) {
        return Err("Invalid message sequence number");
    }
    Ok(())
}

/// The positions (0-based, ascending) of the messages in `set` whose modseq is above
/// `since` (RFC 7162 §3.1.4.1 CHANGEDSINCE). From the view's change list when it reaches
/// back that far, so a client resynchronizing a large mailbox where little changed costs
/// what changed, not the mailbox; else every message in the set is looked at.
pub fn changed_since(
    sel: &Selected,
    set: &SequenceSet,
    uid: bool,
    since: u64,
) -> Result<Vec<usize>, &'static str> {
    let Some(changes) = sel.view.changes_since(since) else {
        let mut positions = resolve(sel, set, uid)?;
        positions.retain(|&p| sel.meta(p).is_some_and(|m| m.modseq > since));
        return Ok(positions);
    };
    if !uid {
        check_sequence(sel, set)?;
    }
    let (n, largest) = (sel.len() as u32, sel.largest_uid());
    let mut positions: Vec<usize> = changes
        .filter(|c| c.kind != yubin_store::ChangeKind::Expunged)
        .filter_map(|c| sel.uids.position(c.uid).ok())
        .filter(|&p| {
            if uid {
                set.contains(sel.uid(p), largest)
            } else {
                set.contains(p as u32 + 1, n)
            }
        })
        .collect();
    positions.sort_unstable();
    positions.dedup();
    positions.retain(|&p| sel.meta(p).is_some_and(|m| m.modseq > since));
    Ok(positions)
}

/// The UIDs in `set` expunged after `modseq` (RFC 7162 §3.2.5.1, §3.2.6: what `VANISHED
/// (EARLIER)` reports). `*` reaches UIDNEXT - 1 here, not only the largest UID the
/// client knows: `1:*` asks about every message it may have known, and those above
/// the largest left are exactly the ones a client most needs to hear are gone. When
/// the store no longer remembers expunges that far back, every UID of the set below
/// UIDNEXT that is not in the mailbox is reported instead: more than happened, which
/// the RFC allows, never less.
pub fn vanished(view: &View, set: &SequenceSet, largest: u32, modseq: u64) -> SequenceSet {
    let below = view.header().uid_next.saturating_sub(1);
    let largest = largest.max(below);
    if modseq >= view.vanished_known_since() {
        let uids = view.vanished_since(modseq);
        return SequenceSet::from_sorted(uids.into_iter().filter(|&u| set.contains(u, largest)));
    }
    // The set's ranges, walked without enumerating a hostile `1:4294967295` one by one
    // where the mailbox has messages: each range yields its gaps between present UIDs.
    let mut gone: Vec<(u32, u32)> = Vec::new();
    for &(a, b) in &set.0 {
        let (a, b) = (a.resolve(largest), b.resolve(largest));
        let (lo, hi) = (a.min(b).max(1), a.max(b).min(below));
        if lo > hi {
            continue;
        }
        let mut next = lo;
        for uid in view.uids_after(lo - 1) {
            if uid > hi {
                break;
            }
            if uid > next {
                gone.push((next, uid - 1));
            }
            next = uid + 1;
        }
        if next <= hi {
            gone.push((next, hi));
        }
    }
    SequenceSet::from_ranges(gone)
}
