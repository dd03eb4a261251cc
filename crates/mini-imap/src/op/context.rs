//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): searches whose result the server
//! keeps current for the client (`RETURN (UPDATE)`), and PARTIAL results (§4.4).
//!
//! An update context lives in the selected state and ends with it, or with CANCELUPDATE
//! (§4.3.5). Its result is kept as UIDs in the requested order (mailbox order for a
//! SEARCH, sort order for a SORT). Whenever the session reports changes
//! ([`super::updates`]), each context's search runs again and the difference goes out as
//! `ADDTO` and `REMOVEFROM` (§4.3.3, §4.3.4): for a SEARCH at context position 0 (the
//! client keeps mailbox order itself), for a SORT at the positions in the sorted result.
//! Messages leaving through an expunge are removed before the EXPUNGE that renumbers
//! the mailbox (§4.3.4: "MUST be sent prior to the expunge notification"), new ones added
//! after the EXISTS that makes their numbers valid (§4.3.3).
//!
//! A sort key never changes for a message (its header, size and arrival are fixed), so
//! the messages that stay in a sorted result keep their relative order: an update is
//! only removals and insertions.

use std::collections::BTreeSet;

use crate::command::{SearchKey, SequenceSet, SortCriterion};
use crate::response::{Code, Data, ESearchUpdate, Responses};
use crate::selected::Selected;

/// How many update contexts one session may hold (RFC 5267 §4.3.1: at least one; each
/// costs a search per change of the mailbox). Past it, `NO [NOUPDATE "tag"]`.
pub const MAX_UPDATE_CONTEXTS: usize = 8;

/// A search the client asked to be kept current.
#[derive(Debug, Clone)]
pub struct UpdateContext {
    /// The searching command's tag: the ESEARCH correlator.
    pub tag: String,
    /// UID SEARCH / UID SORT: updates carry UIDs, else sequence numbers.
    pub uid: bool,
    /// The search keys, sequence sets already fixed to the messages they named when the
    /// command came (RFC 5267 §4.3: they are evaluated then, once).
    pub criteria: Vec<SearchKey>,
    /// The sort order; `None` for a SEARCH (mailbox order).
    pub sort: Option<Vec<SortCriterion>>,
    /// The result as the client holds it, by UID, in the requested order.
    pub results: Vec<u32>,
    /// What to FETCH for a new message the update adds (RFC 5465 §7), in PEEK forms.
    pub fetch: Vec<crate::command::FetchAttr>,
}

/// The fetch attributes of `RETURN (UPDATE (...))` (RFC 5465 §7), in forms that leave
/// `\Seen` alone, as NOTIFY's MessageNew takes them; RFC822 and RFC822.TEXT are `NO`.
pub fn update_fetch(
    ret: Option<&crate::command::SearchReturn>,
) -> Result<Vec<crate::command::FetchAttr>, crate::response::Completion> {
    match ret {
        Some(r) if r.update => super::notify::peek_forms(&r.update_fetch),
        _ => Ok(Vec::new()),
    }
}

/// Whether `tag` names a live update context (a new one may not reuse it, §4.3).
pub fn in_use(sel: &Selected, tag: &str) -> bool {
    sel.contexts.iter().any(|c| c.tag == tag)
}

/// The search keys with every sequence set replaced by the UIDs it names now.
pub fn fixed(sel: &Selected, criteria: &[SearchKey]) -> Vec<SearchKey> {
    fn fix(sel: &Selected, key: &SearchKey) -> SearchKey {
        let n = sel.len() as u32;
        match key {
            SearchKey::SequenceSet(set) => SearchKey::Uid(SequenceSet::from_sorted(
                (1..=n)
                    .filter(|&i| set.contains(i, n))
                    .map(|i| sel.uid(i as usize - 1)),
            )),
            SearchKey::Not(k) => SearchKey::Not(Box::new(fix(sel, k))),
            SearchKey::Or(a, b) => SearchKey::Or(Box::new(fix(sel, a)), Box::new(fix(sel, b))),
            SearchKey::And(keys) => SearchKey::And(keys.iter().map(|k| fix(sel, k)).collect()),
            other => other.clone(),
        }
    }
    criteria.iter().map(|k| fix(sel, k)).collect()
}

/// Keeps a new update context, or says why not (`* NO [NOUPDATE "tag"]`, §4.3.1; the
/// command's other results stand).
pub fn register(sel: &mut Selected, context: UpdateContext, out: &mut Responses) {
    if sel.contexts.len() >= MAX_UPDATE_CONTEXTS {
        let code = Code::NoUpdate(context.tag.clone());
        out.data(Data::Condition {
            status: crate::response::Condition::No,
            code: Some(code),
            text: "Too many contexts".into(),
        });
        return;
    }
    sel.contexts.push(context);
}

/// CANCELUPDATE: forgets the contexts of these tags.
pub fn cancel(sel: &mut Selected, tags: &[String]) {
    sel.contexts.retain(|c| !tags.contains(&c.tag));
}

/// Before the EXPUNGE (or VANISHED) of `gone` (UIDs): each context that holds some of
/// them says so with REMOVEFROM, in the numbering the client has now.
pub fn before_expunge(sel: &mut Selected, gone: &BTreeSet<u32>, out: &mut Responses) {
    let mut contexts = std::mem::take(&mut sel.contexts);
    for c in &mut contexts {
        let new: Vec<u32> = c
            .results
            .iter()
            .copied()
            .filter(|u| !gone.contains(u))
            .collect();
        tell(sel, c, &new, out);
    }
    sel.contexts = contexts;
}

/// After a report: each context's search again, the difference told. The FETCH owed
/// for a message follows this report's EXISTS and ADDTO: RFC 5465 §5.2 says "The FETCH
/// response(s) MUST follow any ESEARCH ADDTO responses" and §7 that EXISTS and FETCH
/// "together ... MUST precede the ESEARCH response"; the two cannot both hold, and
/// §5.2's order is kept, with NOTIFY and without. A message of
/// `arrived` (new to the client in this report) that joins a context asking for fetch
/// attributes is owed its FETCH (RFC 5465 §7; not one that joins by a flag change: "No
/// untagged FETCH response SHOULD be returned if a message becomes a member of UPDATE
/// SEARCH due to flag or annotation changes").
pub fn refresh(sel: &mut Selected, arrived: &[u32], out: &mut Responses) {
    if sel.contexts.is_empty() {
        return;
    }
    let mut contexts = std::mem::take(&mut sel.contexts);
    for c in &mut contexts {
        let positions = super::search::matching(sel, &c.criteria);
        let ordered = match &c.sort {
            Some(criteria) => super::sort::ordered(sel, &positions, criteria),
            None => positions,
        };
        // Ghosts (expunged, not yet told) are not results: they are about to go.
        let new: Vec<u32> = ordered
            .into_iter()
            .map(|p| sel.uid(p))
            .filter(|u| !sel.ghosts.contains_key(u))
            .collect();
        if !c.fetch.is_empty() {
            for &uid in &new {
                if arrived.binary_search(&uid).is_ok()
                    && !c.results.contains(&uid)
                    && !sel.made_here.contains(&uid)
                {
                    sel.owe_fetch(uid, &c.fetch);
                }
            }
        }
        tell(sel, c, &new, out);
    }
    sel.contexts = contexts;
}

/// Sends the REMOVEFROM and ADDTO that turn the context's result into `new`, and keeps
/// `new` as the result.
fn tell(sel: &Selected, c: &mut UpdateContext, new: &[u32], out: &mut Responses) {
    if c.results == new {
        return;
    }
    let kept: BTreeSet<u32> = new.iter().copied().collect();
    let had: BTreeSet<u32> = c.results.iter().copied().collect();
    let number = |uid: u32| {
        if c.uid {
            Some(uid)
        } else {
            sel.uids.position(uid).ok().map(|p| p as u32 + 1)
        }
    };
    let mut updates = Vec::new();
    match c.sort {
        None => {
            // §4.3.3/§4.3.4: position 0, the client keeps mailbox order; sets in mailbox
            // order for the shortest form.
            let mut removed: Vec<u32> = had.difference(&kept).filter_map(|&u| number(u)).collect();
            removed.sort_unstable();
            if !removed.is_empty() {
                updates.push(ESearchUpdate::RemoveFrom(
                    0,
                    SequenceSet::from_sorted(removed),
                ));
            }
            let mut added: Vec<u32> = kept.difference(&had).filter_map(|&u| number(u)).collect();
            added.sort_unstable();
            if !added.is_empty() {
                updates.push(ESearchUpdate::AddTo(0, SequenceSet::from_sorted(added)));
            }
        }
        Some(_) => {
            // Removals from the end, so each position is right when it is read; then
            // insertions in result order, each at its final position.
            for (i, &u) in c.results.iter().enumerate().rev() {
                if !kept.contains(&u)
                    && let Some(n) = number(u)
                {
                    updates.push(ESearchUpdate::RemoveFrom(
                        i as u32 + 1,
                        SequenceSet::from_sorted([n]),
                    ));
                }
            }
            for (i, &u) in new.iter().enumerate() {
                if !had.contains(&u)
                    && let Some(n) = number(u)
                {
                    updates.push(ESearchUpdate::AddTo(
                        i as u32 + 1,
                        SequenceSet::from_sorted([n]),
                    ));
                }
            }
            merge_runs(&mut updates);
        }
    }
    if !updates.is_empty() {
        out.data(Data::ESearch {
            tag: &c.tag,
            uid: c.uid,
            min: None,
            max: None,
            count: None,
            all: None,
            modseq: None,
            partial: None,
            updates,
        });
    }
    c.results = new.to_vec();
}

/// Joins insertions at consecutive positions into one (`ADDTO (3 5,9)` for 5 at 3 and 9
/// at 4), and removals at one position repeated (`REMOVEFROM (2 ...)` twice) likewise.
fn merge_runs(updates: &mut Vec<ESearchUpdate>) {
    let mut merged: Vec<(bool, u32, Vec<u32>)> = Vec::new();
    for u in updates.drain(..) {
        let (add, pos, set) = match u {
            ESearchUpdate::AddTo(p, s) => (true, p, s),
            ESearchUpdate::RemoveFrom(p, s) => (false, p, s),
        };
        let n = match set.0.first() {
            Some((crate::command::SeqNum::Value(n), _)) => *n,
            _ => continue,
        };
        match merged.last_mut() {
            Some((a, p, list)) if *a && add && *p + list.len() as u32 == pos => list.push(n),
            _ => merged.push((add, pos, vec![n])),
        }
    }
    updates.extend(merged.into_iter().map(|(add, pos, list)| {
        let set = SequenceSet::from_sorted(list);
        if add {
            ESearchUpdate::AddTo(pos, set)
        } else {
            ESearchUpdate::RemoveFrom(pos, set)
        }
    }));
}
