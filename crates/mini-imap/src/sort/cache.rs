//! The sort and thread keys of a mailbox's messages ([`Facts`]), read from their header
//! blocks once and then shared by every session of the mailbox, so that SORT and THREAD
//! compare ready keys instead of parsing every header again (as Dovecot keeps its sort
//! keys in its index).
//!
//! Why a per-UID memo is safe: a message never changes under its UID while UIDVALIDITY
//! stays (RFC 3501 §2.3.1.1), and neither do its internal date and size, so a message's
//! facts, once read, stay true until it is expunged; an expunged UID is never given
//! again, so its entry is only unused, and goes at the next start-over. The cache lives
//! with the store's shared state of one mailbox ([`Mailbox::memo`]): a mailbox deleted
//! and created again under the same name is a new one with an empty cache, and a
//! renamed one keeps it. It notes the UIDVALIDITY it was filled under and starts over
//! when the mailbox has another one (a backend that lost its index numbers it anew).
//!
//! Memory is bounded by a [`SortBudget`] that every mailbox's cache shares (a server's
//! sessions share one, [`SORT_CACHE_BYTES`] by default): a cache that would pass it
//! starts over rather than grow, as the store's header cache does, and if what other
//! mailboxes hold still leaves no room, the facts are used without being kept. So many
//! mailboxes sorted in turn cost the budget, not a budget each. With a budget of 0
//! nothing is kept and every command reads the headers, as without a cache. Answers
//! never depend on the cache: a miss computes what a hit would give.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use yubin_store::Mailbox;

use crate::sort::facts::{Facts, Needs};

/// How many bytes of sort keys all mailboxes keep together by default: a message's keys
/// take a few hundred bytes (the struct, the base subject, addresses, message ids), so
/// a 100,000-message mailbox's keys fit, as its header blocks fit the store's
/// `HEADER_CACHE_BYTES`.
pub const SORT_CACHE_BYTES: usize = 32 << 20;

/// The bytes of sort keys the caches sharing it may hold together. Cheap to clone;
/// clones share one total.
#[derive(Debug, Clone)]
pub struct SortBudget {
    limit: usize,
    held: Arc<AtomicUsize>,
}

impl SortBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> SortBudget {
        SortBudget {
            limit,
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The bytes the caches hold now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    fn same(&self, other: &SortBudget) -> bool {
        Arc::ptr_eq(&self.held, &other.held)
    }

    fn room_for(&self, bytes: usize) -> bool {
        self.held().saturating_add(bytes) <= self.limit
    }
}

impl Default for SortBudget {
    fn default() -> SortBudget {
        SortBudget::new(SORT_CACHE_BYTES)
    }
}

/// The shared facts of one mailbox's messages, by UID.
///
/// One `std` mutex guards the map; it is held only to look up or insert a batch, never
/// while a header is read or parsed, so two sessions sorting at once parse in parallel
/// (and, for a message neither had, both parse it once: the same facts, kept once).
pub struct FactsCache {
    state: Mutex<State>,
}

impl std::fmt::Debug for FactsCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.lock();
        f.debug_struct("FactsCache")
            .field("messages", &s.known.len())
            .field("bytes", &s.bytes)
            .field("budget", &s.budget)
            .finish()
    }
}

struct State {
    /// The UIDVALIDITY the entries belong to.
    uid_validity: u32,
    /// The budget this cache's bytes count against.
    budget: SortBudget,
    /// The estimated size of the entries ([`entry_bytes`]), counted in the budget too.
    bytes: usize,
    known: HashMap<u32, Known>,
}

/// What is known of one message: the facts `has` names were computed (the others are
/// empty, see [`Facts::read`]).
struct Known {
    has: Needs,
    facts: Arc<Facts>,
}

/// One message's facts to keep: its UID, which facts were computed, and them.
pub type Fresh = (u32, Needs, Arc<Facts>);

impl FactsCache {
    /// An empty cache keeping at most `limit` bytes (a budget of its own).
    pub fn new(limit: usize) -> FactsCache {
        FactsCache {
            state: Mutex::new(State {
                uid_validity: 0,
                budget: SortBudget::new(limit),
                bytes: 0,
                known: HashMap::new(),
            }),
        }
    }

    /// The cache every session of `mailbox` shares (with a budget of its own of
    /// [`SORT_CACHE_BYTES`] until [`FactsCache::share`] gives it the server's).
    pub fn of(mailbox: &Mailbox) -> Arc<FactsCache> {
        mailbox.memo(|| FactsCache::new(SORT_CACHE_BYTES))
    }

    /// Counts this cache against `budget` from now on (the server's, shared by every
    /// mailbox); moving to another budget starts over.
    pub fn share(&self, budget: &SortBudget) {
        let mut s = self.lock();
        if !s.budget.same(budget) {
            s.start_over();
            s.budget = budget.clone();
        }
    }

    /// Bounds the cache to `limit` bytes from now on, a budget of its own; what it
    /// holds is dropped.
    pub fn set_limit(&self, limit: usize) {
        let mut s = self.lock();
        s.start_over();
        s.budget = SortBudget::new(limit);
    }

    /// How many messages' facts the cache holds.
    pub fn len(&self) -> usize {
        self.lock().known.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The facts of each of `uids` that the cache holds with at least `needs` computed,
    /// under `uid_validity`; `None` for the others. Each hit also tells which facts it
    /// has, so that a caller that computes a miss again can keep the union.
    pub fn get(&self, uid_validity: u32, uids: &[u32], needs: Needs) -> Vec<Lookup> {
        let s = self.lock();
        if s.uid_validity != uid_validity {
            return uids.iter().map(|_| Lookup::Missing).collect();
        }
        uids.iter()
            .map(|uid| match s.known.get(uid) {
                Some(k) if k.has.covers(needs) => Lookup::Hit(k.facts.clone()),
                Some(k) => Lookup::Partial(k.has),
                None => Lookup::Missing,
            })
            .collect()
    }

    /// Keeps `fresh` facts read under `uid_validity`. An entry that already has more
    /// facts stays; past the limit the cache starts over; an entry larger than the
    /// whole limit is not kept.
    pub fn put(&self, uid_validity: u32, fresh: Vec<Fresh>) {
        if fresh.is_empty() {
            return;
        }
        let mut s = self.lock();
        if s.uid_validity != uid_validity {
            s.start_over();
            s.uid_validity = uid_validity;
        }
        for (uid, has, facts) in fresh {
            let size = entry_bytes(&facts);
            if let Some(old) = s.known.get(&uid) {
                if old.has.covers(has) {
                    continue;
                }
                let old = entry_bytes(&old.facts);
                s.bytes -= old;
                s.budget.held.fetch_sub(old, Ordering::Relaxed);
                s.known.remove(&uid);
            }
            if size > s.budget.limit {
                continue;
            }
            if !s.budget.room_for(size) {
                s.start_over();
                if !s.budget.room_for(size) {
                    // Other mailboxes hold the budget: used, not kept.
                    continue;
                }
            }
            s.bytes += size;
            s.budget.held.fetch_add(size, Ordering::Relaxed);
            s.known.insert(uid, Known { has, facts });
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change leaves the state whole (the byte count is adjusted with the map
        // in one step), so a panic elsewhere does not make it wrong.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What [`FactsCache::get`] found for one UID.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// The facts, with at least those asked for.
    Hit(Arc<Facts>),
    /// Known, with only these facts computed: compute the union to keep.
    Partial(Needs),
    /// Not known.
    Missing,
}

impl State {
    fn start_over(&mut self) {
        self.known.clear();
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
        self.bytes = 0;
    }
}

impl Drop for FactsCache {
    /// A cache that goes (its mailbox deleted) gives its bytes back to the budget.
    fn drop(&mut self) {
        let s = self.state.get_mut().unwrap_or_else(|p| p.into_inner());
        s.start_over();
    }
}

/// About what one entry costs: the map's slot (key, [`Known`], a control byte) and the
/// facts with their text on the heap.
fn entry_bytes(f: &Facts) -> usize {
    std::mem::size_of::<(u32, Known)>() + 1 + std::mem::size_of::<Facts>() + f.heap_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(subject: &str) -> Arc<Facts> {
        Arc::new(Facts {
            subject: subject.to_owned(),
            ..Facts::default()
        })
    }

    fn subject() -> Needs {
        Needs {
            subject: true,
            ..Needs::default()
        }
    }

    fn hit(l: &Lookup) -> Option<&str> {
        match l {
            Lookup::Hit(f) => Some(f.subject.as_str()),
            _ => None,
        }
    }

    #[test]
    fn keeps_facts_under_their_uid_validity_only() {
        let c = FactsCache::new(SORT_CACHE_BYTES);
        c.put(
            7,
            vec![(1, subject(), facts("A")), (2, subject(), facts("B"))],
        );
        let got = c.get(7, &[2, 3, 1], subject());
        assert_eq!(
            got.iter().map(hit).collect::<Vec<_>>(),
            [Some("B"), None, Some("A")]
        );
        // Another UIDVALIDITY: nothing is known, and filling starts over.
        assert!(c.get(8, &[1], subject()).iter().all(|l| hit(l).is_none()));
        c.put(8, vec![(5, subject(), facts("C"))]);
        assert_eq!(c.len(), 1);
        assert!(hit(&c.get(7, &[1], subject())[0]).is_none());
    }

    #[test]
    fn a_partial_entry_asks_for_the_union_and_is_replaced_by_it() {
        let c = FactsCache::new(SORT_CACHE_BYTES);
        let date = Needs {
            sent: true,
            ..Needs::default()
        };
        c.put(1, vec![(1, date, facts(""))]);
        assert!(matches!(c.get(1, &[1], subject())[0], Lookup::Partial(n) if n == date));
        let both = date.union(subject());
        c.put(1, vec![(1, both, facts("S"))]);
        assert_eq!(hit(&c.get(1, &[1], date)[0]), Some("S"));
        // Fewer facts never replace more.
        c.put(1, vec![(1, date, facts("other"))]);
        assert_eq!(hit(&c.get(1, &[1], subject())[0]), Some("S"));
    }

    #[test]
    fn the_limit_bounds_what_is_kept() {
        let one = entry_bytes(&facts("subject"));
        let c = FactsCache::new(0);
        c.put(1, vec![(1, subject(), facts("subject"))]);
        assert!(c.is_empty());
        // Room for two: the third starts over.
        let c = FactsCache::new(2 * one);
        let fresh = |uid| (uid, subject(), facts("subject"));
        c.put(1, vec![fresh(1), fresh(2)]);
        assert_eq!(c.len(), 2);
        c.put(1, vec![fresh(3)]);
        assert_eq!(c.len(), 1);
        c.set_limit(0);
        assert!(c.is_empty());
    }

    #[test]
    fn caches_sharing_a_budget_hold_no_more_than_it_together() {
        let one = entry_bytes(&facts("subject"));
        let budget = SortBudget::new(3 * one);
        let fresh = |uid| (uid, subject(), facts("subject"));
        let a = FactsCache::new(SORT_CACHE_BYTES);
        let b = FactsCache::new(SORT_CACHE_BYTES);
        a.share(&budget);
        b.share(&budget);
        a.put(1, vec![fresh(1), fresh(2)]);
        assert_eq!(budget.held(), 2 * one);
        // B finds one slot; its second entry has no room: B starts over, and still
        // finds none (A holds two of three), so the facts are used, not kept.
        b.put(1, vec![fresh(1), fresh(2)]);
        assert!(budget.held() <= budget.limit());
        assert_eq!(a.len() + b.len(), budget.held() / one);
        // A cache that goes gives its bytes back.
        drop(a);
        assert_eq!(budget.held(), b.len() * one);
        b.put(1, vec![fresh(3), fresh(4)]);
        assert!(budget.held() <= budget.limit());
        assert_eq!(budget.held(), b.len() * one);
    }
}
