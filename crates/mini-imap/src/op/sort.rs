//! SORT and UID SORT (RFC 5256 §3), with ESORT's result options (RFC 5267 §3).
//!
//! The messages are those the search keys select (as SEARCH selects them); each one's
//! keys are read once from its header block (the store's cache: no body is read) and
//! kept for every session of the mailbox ([`FactsCache`]), then sorted with
//! [`crate::sort::order`].

use std::sync::Arc;

use crate::command::{SearchKey, SearchReturn, SortCriterion};
use crate::op::search::{charset_ok, esearch, matching};
use crate::response::{Code, Completion, Data, Responses};
use crate::selected::Selected;
use crate::sort::cache::{FactsCache, Lookup};
use crate::sort::facts::{Facts, Needs};
use crate::sort::order;

/// What a SORT asks for.
#[derive(Debug, Clone, Copy)]
pub struct SortArgs<'a> {
    /// `UID SORT`: answer with UIDs.
    pub uid: bool,
    /// ESORT's `RETURN (...)`: answer with `ESEARCH`.
    pub ret: Option<&'a SearchReturn>,
    /// The sort criteria.
    pub criteria: &'a [SortCriterion],
    /// The search strings' charset.
    pub charset: &'a str,
    /// The search keys.
    pub keys: &'a [SearchKey],
}

/// Answers a SORT: `* SORT n...` (RFC 5256 §4), or with `RETURN` an `ESEARCH`
/// (RFC 5267 §3), then the tagged OK. A charset other than UTF-8 or US-ASCII is
/// `NO [BADCHARSET ...]` (RFC 5256 §3) and nothing else is sent.
pub fn sort(sel: &mut Selected, tag: &str, args: SortArgs<'_>, out: &mut Responses) -> Completion {
    let command = if args.uid { "UID SORT" } else { "SORT" };
    if !charset_ok(args.charset) {
        return Completion::no(Code::BadCharset, "Unsupported charset");
    }
    let update = args.ret.is_some_and(|r| r.update);
    let fetch = match super::context::update_fetch(args.ret) {
        Ok(fetch) => fetch,
        Err(refused) => return refused,
    };
    // RFC 5267 §4.3: an update context's keys mean what they name now.
    let fixed = update.then(|| super::context::fixed(sel, args.keys));
    let positions = matching(sel, args.keys);
    let sorted = ordered(sel, &positions, args.criteria);
    let numbers: Vec<u32> = sorted.iter().map(|&p| number(sel, p, args.uid)).collect();
    match args.ret {
        Some(r) => esearch(out, tag, args.uid, r, &numbers, None),
        None => out.data(Data::Sort(&numbers)),
    }
    if let Some(criteria) = fixed {
        let context = super::context::UpdateContext {
            tag: tag.to_owned(),
            uid: args.uid,
            criteria,
            sort: Some(args.criteria.to_vec()),
            results: sorted.iter().map(|&p| sel.uid(p)).collect(),
            fetch,
        };
        super::context::register(sel, context, out);
    }
    Completion::done(command)
}

/// The messages at `positions` in the order `criteria` give (RFC 5256 §3).
pub(crate) fn ordered(
    sel: &Selected,
    positions: &[usize],
    criteria: &[SortCriterion],
) -> Vec<usize> {
    let facts = read_facts(sel, positions, Needs::for_sort(criteria));
    order::sort(&facts, criteria)
        .into_iter()
        .map(|i| positions[i])
        .collect()
}

/// The facts of the messages at `positions`, in that order, with at least `needs`
/// computed: from the mailbox's [`FactsCache`] when another command (of any session)
/// read them already, else from the header blocks, and then kept there. A message whose
/// header the store cannot give (one expunged meanwhile, still numbered for this
/// session) has an empty one: it keeps its place by internal date, size and sequence
/// number, and that stand-in is not kept.
pub(crate) fn read_facts(sel: &Selected, positions: &[usize], needs: Needs) -> Vec<Arc<Facts>> {
    let dates = |pos: usize| sel.meta(pos).map(|m| (m.internal_date.timestamp(), m.size));
    if !needs.any_header() {
        // ARRIVAL and SIZE only: the view has them, and nothing is read.
        return positions
            .iter()
            .map(|&pos| {
                let (arrival, size) = dates(pos).unwrap_or_default();
                Arc::new(Facts::read(&[], arrival, size, needs))
            })
            .collect();
    }
    let cache = FactsCache::of(&sel.mailbox);
    // The UIDs the session's snapshot numbers its messages under (RFC 3501 §2.3.1.1).
    let uid_validity = sel.view.header().uid_validity;
    let uids: Vec<u32> = positions.iter().map(|&pos| sel.uid(pos)).collect();
    let known = cache.get(uid_validity, &uids, needs);
    let mut fresh = Vec::new();
    let facts = positions
        .iter()
        .zip(uids)
        .zip(known)
        .map(|((&pos, uid), known)| {
            // A message known with other facts is read for both, so the entry only grows
            // and a client alternating SORT and THREAD reads each header once.
            let want = match known {
                Lookup::Hit(facts) => return facts,
                Lookup::Partial(has) => has.union(needs),
                Lookup::Missing => needs,
            };
            let dates = dates(pos);
            let header = sel.mailbox.header(uid).ok();
            let (arrival, size) = dates.unwrap_or_default();
            let facts = Arc::new(Facts::read(
                header.as_deref().unwrap_or_default(),
                arrival,
                size,
                want,
            ));
            if dates.is_some() && header.is_some() {
                fresh.push((uid, want, facts.clone()));
            }
            facts
        })
        .collect();
    cache.put(uid_validity, fresh);
    facts
}

/// The number a response gives the message at `pos`: its UID or sequence number.
pub(crate) fn number(sel: &Selected, pos: usize, uid: bool) -> u32 {
    if uid { sel.uid(pos) } else { pos as u32 + 1 }
}
