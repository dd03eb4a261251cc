//! SORT's ordering (RFC 5256 §3): messages compare by each criterion in turn, and when
//! all are equal by sequence number ("the sequence number ... is used as the final
//! tie-breaker"). REVERSE reverses only its own criterion, never that tie-break.

use std::cmp::Ordering;

use crate::command::{SortCriterion, SortKey};
use crate::sort::facts::Facts;

/// The order of `facts` (given in sequence-number order) under `criteria`: the
/// positions into `facts`, first to last. O(n log n) comparisons of ready keys.
pub fn sort(facts: &[impl AsRef<Facts>], criteria: &[SortCriterion]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..facts.len()).collect();
    // A stable sort of positions already in sequence order gives the final tie-break.
    order.sort_by(|&a, &b| compare(facts[a].as_ref(), facts[b].as_ref(), criteria));
    order
}

/// How two messages compare under `criteria` (without the sequence-number tie-break).
pub fn compare(a: &Facts, b: &Facts, criteria: &[SortCriterion]) -> Ordering {
    for c in criteria {
        let o = match c.key {
            SortKey::Arrival => a.arrival.cmp(&b.arrival),
            SortKey::Size => a.size.cmp(&b.size),
            SortKey::Date => a.sent.cmp(&b.sent),
            SortKey::Subject => a.subject.cmp(&b.subject),
            SortKey::From => a.from.cmp(&b.from),
            SortKey::To => a.to.cmp(&b.to),
            SortKey::Cc => a.cc.cmp(&b.cc),
            SortKey::DisplayFrom => a.display_from.cmp(&b.display_from),
            SortKey::DisplayTo => a.display_to.cmp(&b.display_to),
        };
        let o = if c.reverse { o.reverse() } else { o };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by(key: SortKey, reverse: bool) -> SortCriterion {
        SortCriterion { reverse, key }
    }

    #[test]
    fn reverse_leaves_the_sequence_tie_break_ascending() {
        let f = |size, subject: &str| Facts {
            size,
            subject: subject.to_owned(),
            ..Facts::default()
        };
        let facts = [f(3, "B"), f(1, "A"), f(3, "A"), f(2, "B")];
        assert_eq!(sort(&facts, &[by(SortKey::Size, false)]), [1, 3, 0, 2]);
        // RFC 5256 §3: REVERSE SIZE keeps 0 before 2 (equal sizes, sequence order).
        assert_eq!(sort(&facts, &[by(SortKey::Size, true)]), [0, 2, 3, 1]);
        assert_eq!(
            sort(
                &facts,
                &[by(SortKey::Subject, false), by(SortKey::Size, true)]
            ),
            [2, 1, 0, 3]
        );
    }
}
