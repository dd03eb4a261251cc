//! THREAD's two algorithms (RFC 5256 §3) and its response (§4).
//!
//! Both work on [`Facts`] given in sequence-number order; a message is named by its
//! position there, and sequence number is the tie-break wherever two sent dates are
//! equal (§2.2). Nothing here recurses: a mailbox can hold a reply chain as deep as it
//! has messages, so trees are walked with explicit stacks.

use std::collections::HashMap;

use crate::sort::facts::Facts;

/// How far up the tree the loop check of REFERENCES step 1 looks (RFC 5256 §3: "Do not
/// create a parent/child link if creating that link would introduce a loop"). Checking
/// walks from the would-be parent towards its root; a crafted mailbox could make every
/// link walk the whole of a deep chain, so past this many steps the link is treated as
/// a loop and not made. Real threads are a few dozen deep; a deeper one can only split.
pub const MAX_THREAD_DEPTH: usize = 1000;

/// How many of a message's references REFERENCES links (the last ones: the nearest
/// ancestors). RFC 5322 §3.6.4 lets a References field be trimmed; this bounds the work
/// a single crafted header can cause.
pub const MAX_REFERENCES: usize = 1000;

/// Threads: a forest whose nodes are messages or dummies (missing messages).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forest {
    /// Every node; children and roots refer to them by index.
    pub nodes: Vec<Node>,
    /// The threads, in order.
    pub roots: Vec<usize>,
}

/// One node of a [`Forest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// The message (its position in the facts), or `None` for a dummy.
    pub message: Option<usize>,
    /// The children, in order.
    pub children: Vec<usize>,
}

impl Forest {
    /// Writes the threads as `1*thread-list` (RFC 5256 §4's response, in §5's grammar),
    /// naming each message with `number` (its sequence number or UID):
    ///
    /// ```text
    /// thread-list    = "(" (thread-members / thread-nested) ")"
    /// thread-members = nz-number *(SP nz-number) [SP thread-nested]
    /// thread-nested  = 2*thread-list
    /// ```
    ///
    /// A node with one child continues its list (`3 6`); one with several opens a list
    /// per child (`6 (4 23)(44 7 96)`); a dummy writes no number (`((3)(5))`).
    pub fn write(&self, number: impl Fn(usize) -> u32, out: &mut Vec<u8>) {
        enum Step {
            Open(usize),
            Close,
        }
        let mut stack: Vec<Step> = self.roots.iter().rev().map(|&r| Step::Open(r)).collect();
        while let Some(step) = stack.pop() {
            let Step::Open(mut v) = step else {
                out.push(b')');
                continue;
            };
            out.push(b'(');
            let mut wrote = false;
            loop {
                let node = &self.nodes[v];
                if let Some(m) = node.message {
                    if wrote {
                        out.push(b' ');
                    }
                    out.extend_from_slice(number(m).to_string().as_bytes());
                    wrote = true;
                }
                match node.children.as_slice() {
                    [] => {
                        out.push(b')');
                        break;
                    }
                    [only] => v = *only,
                    many => {
                        if wrote {
                            out.push(b' ');
                        }
                        stack.push(Step::Close);
                        stack.extend(many.iter().rev().map(|&c| Step::Open(c)));
                        break;
                    }
                }
            }
        }
    }

    /// The node's sort key (§2.2): its message's sent date then sequence position; a
    /// dummy sorts as its first child (REFERENCES steps 4 and 6).
    fn key(&self, facts: &[&Facts], mut v: usize) -> (i64, usize) {
        loop {
            let node = &self.nodes[v];
            match (node.message, node.children.first()) {
                (Some(m), _) => return (facts[m].sent, m),
                (None, Some(&c)) => v = c,
                (None, None) => return (i64::MIN, 0),
            }
        }
    }

    /// The node's base subject, a dummy's being its first child's (step 5.B.i).
    fn subject<'f>(&self, facts: &[&'f Facts], v: usize) -> &'f str {
        let (_, m) = self.key(facts, v);
        facts.get(m).map(|f| f.subject.as_str()).unwrap_or("")
    }

    fn is_dummy(&self, v: usize) -> bool {
        self.nodes[v].message.is_none()
    }

    fn is_reply(&self, facts: &[&Facts], v: usize) -> bool {
        self.nodes[v]
            .message
            .is_some_and(|m| facts[m].reply_or_forward)
    }

    /// Sorts every set of siblings by sent date, children before their parents, so a
    /// dummy's first child is settled before the dummy is compared (step 6).
    fn sort_all(&mut self, facts: &[&Facts]) {
        let mut stack: Vec<(usize, bool)> = self.roots.iter().map(|&r| (r, false)).collect();
        while let Some((v, done)) = stack.pop() {
            if done {
                let mut children = std::mem::take(&mut self.nodes[v].children);
                children.sort_by_key(|&c| self.key(facts, c));
                self.nodes[v].children = children;
            } else {
                stack.push((v, true));
                stack.extend(self.nodes[v].children.iter().map(|&c| (c, false)));
            }
        }
        let mut roots = std::mem::take(&mut self.roots);
        roots.sort_by_key(|&r| self.key(facts, r));
        self.roots = roots;
    }
}

/// THREAD=ORDEREDSUBJECT (RFC 5256 §3): messages with the same base subject form one
/// thread, sorted by sent date; its first message is the parent of all the others
/// (siblings of one another); threads are sorted by their first message's sent date.
pub fn ordered_subject(facts: &[impl AsRef<Facts>]) -> Forest {
    let facts: Vec<&Facts> = facts.iter().map(AsRef::as_ref).collect();
    let facts = facts.as_slice();
    let mut order: Vec<usize> = (0..facts.len()).collect();
    order.sort_by(|&a, &b| {
        (facts[a].subject.as_str(), facts[a].sent, a).cmp(&(
            facts[b].subject.as_str(),
            facts[b].sent,
            b,
        ))
    });
    let mut forest = Forest {
        nodes: (0..facts.len())
            .map(|m| Node {
                message: Some(m),
                children: Vec::new(),
            })
            .collect(),
        roots: Vec::new(),
    };
    let mut i = 0;
    while i < order.len() {
        let first = order[i];
        let mut j = i + 1;
        while j < order.len() && facts[order[j]].subject == facts[first].subject {
            j += 1;
        }
        forest.nodes[first].children = order[i + 1..j].to_vec();
        forest.roots.push(first);
        i = j;
    }
    forest.roots.sort_by_key(|&r| (facts[r].sent, r));
    forest
}

/// A container of REFERENCES step 1: a message or a dummy, with its parent.
struct Container {
    message: Option<usize>,
    parent: Option<usize>,
    children: usize,
}

/// THREAD=REFERENCES (RFC 5256 §3), steps 1 to 6.
pub fn references(facts: &[impl AsRef<Facts>]) -> Forest {
    let facts: Vec<&Facts> = facts.iter().map(AsRef::as_ref).collect();
    let facts = facts.as_slice();
    let n = facts.len();
    let mut c: Vec<Container> = (0..n)
        .map(|m| Container {
            message: Some(m),
            parent: None,
            children: 0,
        })
        .collect();
    // "If two or more messages have the same Message ID, then only use that Message ID
    // in the first (lowest sequence number) message": later ones get no entry, as if
    // their ids were unique and unreferenced. A message without one likewise.
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(n);
    for (m, f) in facts.iter().enumerate() {
        if let Some(id) = &f.message_id {
            ids.entry(id.as_str()).or_insert(m);
        }
    }
    // (1) For each message:
    for (m, f) in facts.iter().enumerate() {
        let refs = &f.references[f.references.len().saturating_sub(MAX_REFERENCES)..];
        let mut prev: Option<usize> = None;
        for r in refs {
            // (A) Link the references as parent/child, first to last; "If no message
            // can be found with a given Message ID, create a dummy message with this
            // ID"; "If a message already has a parent, don't change the existing
            // link"; no link that would make a loop.
            let cr = *ids.entry(r.as_str()).or_insert_with(|| {
                c.push(Container {
                    message: None,
                    parent: None,
                    children: 0,
                });
                c.len() - 1
            });
            if let Some(p) = prev
                && c[cr].parent.is_none()
                && !would_loop(&c, p, cr)
            {
                link(&mut c, p, cr);
            }
            prev = Some(cr);
        }
        // (B) Link the last reference (or NIL) and the message, breaking any parent
        // link it has ("probably the result of a truncated References header line"),
        // again refusing a loop: with no references it ends with no parent.
        if let Some(old) = c[m].parent.take() {
            c[old].children -= 1;
        }
        if let Some(p) = prev
            && !would_loop(&c, p, m)
        {
            link(&mut c, p, m);
        }
    }
    drop(ids);
    // (2) The containers without a parent are the children of the root.
    let roots: Vec<usize> = (0..c.len()).filter(|&v| c[v].parent.is_none()).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); c.len()];
    for (v, k) in c.iter().enumerate() {
        if let Some(p) = k.parent {
            children[p].push(v);
        }
    }
    let mut forest = prune(&c, children, roots);
    // (4) Sort the root's children by sent date (a dummy by its first child's, after
    // sorting its children).
    for v in forest.roots.clone() {
        if forest.is_dummy(v) {
            let mut kids = std::mem::take(&mut forest.nodes[v].children);
            kids.sort_by_key(|&k| forest.key(facts, k));
            forest.nodes[v].children = kids;
        }
    }
    let mut roots = std::mem::take(&mut forest.roots);
    roots.sort_by_key(|&r| forest.key(facts, r));
    forest.roots = roots;
    group_by_subject(&mut forest, facts);
    // (6) Sort every set of siblings by sent date.
    forest.sort_all(facts);
    forest
}

/// Whether making `parent` the parent of `child` would make a loop: `parent` is
/// `child` or a descendant of it. `child` is always a root here (step 1.A links only
/// parentless containers, 1.B first breaks the link), so a childless one cannot be an
/// ancestor of anything; otherwise the walk up from `parent` looks for it, up to
/// [`MAX_THREAD_DEPTH`] steps.
fn would_loop(c: &[Container], parent: usize, child: usize) -> bool {
    if parent == child {
        return true;
    }
    if c[child].children == 0 {
        return false;
    }
    let mut at = c[parent].parent;
    let mut steps = 0;
    while let Some(a) = at {
        if a == child || steps >= MAX_THREAD_DEPTH {
            return true;
        }
        steps += 1;
        at = c[a].parent;
    }
    false
}

fn link(c: &mut [Container], parent: usize, child: usize) {
    c[child].parent = Some(parent);
    c[parent].children += 1;
}

/// (3) Prune dummies: "If it is a dummy message with NO children, delete it. If it is a
/// dummy message with children, delete it, but promote its children to the current
/// level ... Do not promote the children if doing so would make them children of the
/// root, unless there is only one child." Post-order, so nested dummies collapse into
/// the first real ancestor.
fn prune(c: &[Container], mut children: Vec<Vec<usize>>, roots: Vec<usize>) -> Forest {
    let mut kept: Vec<Vec<usize>> = vec![Vec::new(); c.len()];
    let mut stack: Vec<(usize, bool)> = roots.iter().map(|&r| (r, false)).collect();
    while let Some((v, done)) = stack.pop() {
        if !done {
            stack.push((v, true));
            stack.extend(children[v].iter().map(|&k| (k, false)));
            continue;
        }
        let mut list = Vec::new();
        for k in std::mem::take(&mut children[v]) {
            if c[k].message.is_some() {
                list.push(k);
            } else {
                list.append(&mut kept[k]);
            }
        }
        kept[v] = list;
    }
    let mut forest = Forest {
        nodes: Vec::with_capacity(c.len()),
        roots: Vec::with_capacity(roots.len()),
    };
    for (v, k) in c.iter().enumerate() {
        forest.nodes.push(Node {
            message: k.message,
            children: std::mem::take(&mut kept[v]),
        });
    }
    for r in roots {
        if forest.nodes[r].message.is_some() {
            forest.roots.push(r);
            continue;
        }
        match forest.nodes[r].children.len() {
            0 => {}
            1 => forest.roots.push(forest.nodes[r].children[0]),
            _ => forest.roots.push(r),
        }
    }
    forest
}

/// (5) Gather the root's children that share a base subject.
fn group_by_subject(forest: &mut Forest, facts: &[&Facts]) {
    // (A), (B): one entry per base subject. A later thread replaces the entry when the
    // entry is not a dummy and either the later one is, or the entry is a reply or
    // forward and the later one is not. Empty subjects are skipped.
    let mut table: HashMap<&str, usize> = HashMap::new();
    for &r in &forest.roots {
        let s = forest.subject(facts, r);
        if s.is_empty() {
            continue;
        }
        match table.get(s) {
            None => {
                table.insert(s, r);
            }
            Some(&t) => {
                let replace = !forest.is_dummy(t)
                    && (forest.is_dummy(r)
                        || (forest.is_reply(facts, t) && !forest.is_reply(facts, r)));
                if replace {
                    table.insert(s, r);
                }
            }
        }
    }
    // (C) Merge each thread with the one in the table.
    let roots = std::mem::take(&mut forest.roots);
    let mut gone = vec![false; forest.nodes.len()];
    let mut added = Vec::new();
    for &r in &roots {
        let s = forest.subject(facts, r);
        if s.is_empty() {
            continue;
        }
        let Some(&t) = table.get(s) else { continue };
        if t == r {
            continue;
        }
        if forest.is_dummy(r) && forest.is_dummy(t) {
            // "append the current message's children to the children of the message in
            // the table ... and then delete the current message"
            let mut kids = std::mem::take(&mut forest.nodes[r].children);
            forest.nodes[t].children.append(&mut kids);
            gone[r] = true;
        } else if forest.is_dummy(t) || (forest.is_reply(facts, r) && !forest.is_reply(facts, t)) {
            // "make the current message a child of the message in the table"
            forest.nodes[t].children.push(r);
            gone[r] = true;
        } else {
            // "create a new dummy message and make both the current message and the
            // message in the table children of the dummy. Then replace the message in
            // the table with the dummy message."
            forest.nodes.push(Node {
                message: None,
                children: vec![t, r],
            });
            let d = forest.nodes.len() - 1;
            gone.push(false);
            gone[t] = true;
            gone[r] = true;
            added.push(d);
            table.insert(s, d);
        }
    }
    forest.roots = roots.into_iter().filter(|&r| !gone[r]).collect();
    forest.roots.extend(added);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(subject: &str, sent: i64, id: Option<&str>, refs: &[&str]) -> Facts {
        let b = crate::sort::base_subject::base_subject(subject);
        Facts {
            subject: crate::sort::collate::casemap(&b.text),
            reply_or_forward: b.reply_or_forward,
            sent,
            message_id: id.map(str::to_owned),
            references: refs.iter().map(|r| r.to_string()).collect(),
            ..Facts::default()
        }
    }

    fn text(forest: &Forest) -> String {
        let mut out = Vec::new();
        forest.write(|m| m as u32 + 1, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_the_rfc_5256_section_4_example() {
        // RFC 5256 §4: "(2)(3 6 (4 23)(44 7 96))": 3 is the parent of 6, whose children
        // are 4 (parent of 23) and 44 (parent of 7, parent of 96).
        let mut nodes: Vec<Node> = (0..100)
            .map(|m| Node {
                message: Some(m),
                children: Vec::new(),
            })
            .collect();
        let mut child = |p: usize, c: usize| nodes[p - 1].children.push(c - 1);
        child(3, 6);
        child(6, 4);
        child(6, 44);
        child(4, 23);
        child(44, 7);
        child(7, 96);
        let forest = Forest {
            nodes,
            roots: vec![1, 2],
        };
        assert_eq!(text(&forest), "(2)(3 6 (4 23)(44 7 96))");
        // A dummy parent writes no number.
        let forest = Forest {
            nodes: vec![
                Node {
                    message: None,
                    children: vec![1, 2],
                },
                Node {
                    message: Some(2),
                    children: vec![],
                },
                Node {
                    message: Some(4),
                    children: vec![],
                },
            ],
            roots: vec![0],
        };
        assert_eq!(text(&forest), "((3)(5))");
    }

    #[test]
    fn ordered_subject_groups_by_base_subject_under_the_first_message() {
        let facts = [
            msg("Lunch", 30, None, &[]),
            msg("Re: lunch", 10, None, &[]),
            msg("Other", 20, None, &[]),
            msg("Re: Lunch", 40, None, &[]),
            msg("Fwd: LUNCH", 40, None, &[]),
        ];
        // Lunch thread by date: 2 (10), 1 (30), 4 and 5 (40: sequence order).
        assert_eq!(text(&ordered_subject(&facts)), "(2 (1)(4)(5))(3)");
    }

    #[test]
    fn references_link_a_reply_chain_with_a_missing_parent() {
        let facts = [
            msg("Plan", 1, Some("a@x"), &[]),
            msg("Re: Plan", 2, Some("b@x"), &["a@x"]),
            // Its parent c@x is not in the mailbox: a dummy links it under b.
            msg("Re: Plan", 4, Some("d@x"), &["a@x", "b@x", "c@x"]),
            msg("Re: Plan", 3, Some("e@x"), &["a@x"]),
            msg("Unrelated", 5, Some("f@x"), &[]),
        ];
        assert_eq!(text(&references(&facts)), "(1 (2 3)(4))(5)");
    }

    #[test]
    fn references_survive_loops_duplicates_and_self_references() {
        let facts = [
            msg("A", 1, Some("a@x"), &["b@x"]),
            msg("B", 2, Some("b@x"), &["a@x"]),
            msg("C", 3, Some("c@x"), &["c@x"]),
            msg("C dup", 4, Some("c@x"), &[]),
            msg("D", 5, None, &["c@x"]),
        ];
        // 1 became 2's child first; 2's reference to 1 would close a loop and is not
        // made. 3 refers to itself: no link. The second c@x is a message of its own;
        // 5 refers to the first.
        assert_eq!(text(&references(&facts)), "(2 1)(3 5)(4)");
    }

    #[test]
    fn references_group_threads_by_subject() {
        let facts = [
            msg("Hello", 1, Some("a@x"), &[]),
            msg("Re: Hello", 2, Some("b@x"), &["gone@x"]),
            msg("Hello", 3, Some("c@x"), &[]),
            msg("Bye", 4, None, &["lost1@x"]),
            msg("Re: Bye", 5, None, &["lost1@x"]),
        ];
        // Step 5: the reply 2 (whose parent is missing) becomes a child of the original
        // 1 in the table; the second original 3 then shares a new dummy with 1. 4 and 5
        // hang off the same missing message: a dummy with two children, kept at the
        // top (step 3).
        assert_eq!(text(&references(&facts)), "((1 2)(3))((4)(5))");
    }

    #[test]
    fn a_chain_in_reverse_order_and_crafted_loops_stay_bounded() {
        // Each message answers the one after it: the root is the last message.
        let n = 50_000;
        let ids: Vec<String> = (0..=n).map(|i| format!("r{i}@x")).collect();
        let facts: Vec<Facts> = (0..n)
            .map(|i| msg("Re: back", 0, Some(&ids[i]), &[ids[i + 1].as_str()]))
            .collect();
        let want: Vec<String> = (1..=n).rev().map(|i| i.to_string()).collect();
        assert_eq!(text(&references(&facts)), format!("({})", want.join(" ")));
        // A chain 3,000 deep, then 3,000 messages each naming the chain's leaf as the
        // parent of its root: every such link would close a loop and is refused after
        // at most MAX_THREAD_DEPTH steps; each message then hangs off the root.
        let depth = 3_000;
        let ids: Vec<String> = (0..depth).map(|i| format!("c{i}@x")).collect();
        let mut facts: Vec<Facts> = (0..depth)
            .map(|i| {
                let parent: Vec<&str> = ids[..i].last().map(String::as_str).into_iter().collect();
                msg("chain", i as i64, Some(&ids[i]), &parent)
            })
            .collect();
        for i in 0..depth {
            let refs = [ids[depth - 1].as_str(), ids[0].as_str()];
            facts.push(msg("chain", (depth + i) as i64, None, &refs));
        }
        let chain: Vec<String> = (2..=depth).map(|i| i.to_string()).collect();
        let extra: String = (depth + 1..=2 * depth).map(|i| format!("({i})")).collect();
        assert_eq!(
            text(&references(&facts)),
            format!("(1 ({}){extra})", chain.join(" "))
        );
    }

    #[test]
    fn a_deep_chain_needs_no_recursion() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("m{i}@x")).collect();
        let facts: Vec<Facts> = (0..n)
            .map(|i| {
                let refs: Vec<&str> = if i == 0 {
                    vec![]
                } else {
                    vec![ids[i - 1].as_str()]
                };
                msg("Re: deep", i as i64, Some(&ids[i]), &refs)
            })
            .collect();
        let forest = references(&facts);
        let mut out = Vec::new();
        forest.write(|m| m as u32 + 1, &mut out);
        let want: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("({})", want.join(" "))
        );
    }
}
