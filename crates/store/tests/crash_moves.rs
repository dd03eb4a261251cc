//! Crash safety of MOVE and RENAME with real processes, with the harness of
//! `tests/crash.rs` (`support`): a child moves messages, renames a hierarchy or renames
//! INBOX in a loop and is killed with SIGKILL at a random moment; the parent reopens the
//! Maildir as a restarted server would and checks, after every kill:
//!
//! - MOVE: every message is in exactly one of the two mailboxes, whole (none lost, none
//!   doubled), acknowledged moves are where their answer said, the one in flight left
//!   each of its messages in the source (same UID) or in the destination; UIDs are never
//!   reused and new ones are above all earlier ones; MODSEQs never go back and a message
//!   new to a mailbox is numbered after everything seen before; flags travel with the
//!   message. The MOVE in flight is retried by the next child, as a client whose answer
//!   was lost would, and adds no copy.
//! - RENAME of a mailbox with inferiors: the whole hierarchy has its old names or its
//!   new ones, never some of each, with every message, UIDVALIDITY and subscription.
//! - RENAME INBOX: all of INBOX's messages are in INBOX or all in the new mailbox, never
//!   some in each, never in both; INBOX's UIDs go on.
//!
//! Every file in `new/` and `cur/` is a message the store shows: nothing hidden.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{DIR, MODE, Rng, Run, SEED, flags_for, id_of, message, run_child, say, time_seed};
use yubin_store::{Account, FlagOp, Flags, Mailbox, MaildirBackend, Store};

const ACCOUNT: &str = "crash";
/// The two mailboxes messages move between ("Archive" sorts before "INBOX", so the
/// moves take the cross-process locks in both orders).
const BOXES: [&str; 2] = ["INBOX", "Archive"];
/// A MOVE the previous child did not see answered, for this one to retry: `from uids`.
const RETRY: &str = "YUBIN_CRASH_RETRY";
/// RENAME modes: the current root's name (`rename-tree`) and the next number.
const ROOT: &str = "YUBIN_CRASH_ROOT";
const NEXT: &str = "YUBIN_CRASH_NEXT";
/// The mailboxes of the renamed hierarchy, relative to its root.
const TREE: [&str; 4] = [".", "a", "a/b", "c"];
/// Mailboxes every account has.
const SPECIAL: [&str; 4] = ["Sent", "Drafts", "Trash", "Junk"];

fn open_store(dir: &Path) -> Store {
    // A tiny compaction threshold, so that kills land during compactions too.
    let backend = MaildirBackend::new(dir).unwrap().with_compaction_at(1024);
    let store = Store::with_backend(backend);
    store.set_accept_any_login(true);
    store
}

fn account(dir: &Path) -> Account {
    open_store(dir).account(ACCOUNT).unwrap()
}

fn maildir(dir: &Path) -> PathBuf {
    dir.join(ACCOUNT).join("Maildir")
}

/// The directory of a mailbox, as Maildir++ names it (the names here need no escaping).
fn folder(dir: &Path, name: &str) -> PathBuf {
    if name == "INBOX" {
        maildir(dir)
    } else {
        maildir(dir).join(format!(".{}", name.replace('/', ".")))
    }
}

fn path(root: &str, rel: &str) -> String {
    if rel == "." {
        root.to_owned()
    } else {
        format!("{root}/{rel}")
    }
}

fn selectable(account: &Account) -> BTreeSet<String> {
    account
        .list()
        .unwrap()
        .into_iter()
        .filter(|i| i.selectable)
        .map(|i| i.name)
        .collect()
}

/// One message as a restarted server shows it.
#[derive(Debug, Clone)]
struct Seen {
    uid: u32,
    flags: Flags,
    modseq: u64,
}

/// Reads every message of a mailbox, checking each is whole and its size right, and
/// that the files in `new/` and `cur/` are exactly the messages shown.
fn contents(
    dir: &Path,
    mailbox: &Mailbox,
    round: usize,
) -> (yubin_store::MailboxStatus, BTreeMap<u64, Seen>) {
    let status = mailbox.status().unwrap();
    let metas = mailbox.messages().unwrap();
    let mut out = BTreeMap::new();
    for m in &metas {
        assert!(m.uid < status.uid_next, "round {round}: UID above UIDNEXT");
        assert!(m.modseq <= status.highest_modseq);
        let bytes = mailbox.read(m.uid).unwrap();
        let id = id_of(&bytes).unwrap_or_else(|| panic!("round {round}: UID {} partial", m.uid));
        assert!(
            bytes[..] == message(id)[..],
            "round {round}: message {id} damaged"
        );
        assert_eq!(m.size, bytes.len() as u64);
        let again = out.insert(
            id,
            Seen {
                uid: m.uid,
                flags: m.flags.clone(),
                modseq: m.modseq,
            },
        );
        assert!(
            again.is_none(),
            "round {round}: message {id} twice in {}",
            mailbox.name()
        );
    }
    let files: usize = ["new", "cur"]
        .iter()
        .map(|d| {
            std::fs::read_dir(folder(dir, &mailbox.name()).join(d))
                .unwrap()
                .count()
        })
        .sum();
    assert_eq!(
        files,
        metas.len(),
        "round {round}: files and messages of {} disagree",
        mailbox.name()
    );
    (status, out)
}

/// The child's loop; does nothing in a normal test run.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let seed: u64 = std::env::var(SEED).unwrap().parse().unwrap();
    let account = account(&dir);
    say("READY");
    let mut rng = Rng::new(seed);
    match mode.as_str() {
        "move" => child_moves(&account, &mut rng),
        "rename-tree" => child_renames_tree(&account, &mut rng, seed),
        "rename-inbox" => child_renames_inbox(&account, &mut rng, seed),
        other => panic!("unknown mode {other}"),
    }
}

// ---- MOVE ----

fn do_move(boxes: &[Mailbox; 2], from: usize, uids: &[u32]) {
    let list: Vec<String> = uids.iter().map(u32::to_string).collect();
    say(&format!("TRY MOVE {from} {}", list.join(",")));
    let pairs = boxes[from].move_to(uids, &boxes[1 - from]).unwrap();
    let done: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}:{b}")).collect();
    say(&format!("MOVED {from} {}", done.join(",")));
}

fn child_moves(account: &Account, rng: &mut Rng) {
    let boxes = BOXES.map(|n| account.mailbox(n).unwrap());
    if let Ok(retry) = std::env::var(RETRY) {
        let (from, list) = retry.split_once(' ').unwrap();
        let uids: Vec<u32> = list.split(',').map(|u| u.parse().unwrap()).collect();
        do_move(&boxes, from.parse().unwrap(), &uids);
    }
    loop {
        let from = rng.below(2) as usize;
        let uids: Vec<u32> = boxes[from].view().unwrap().uids().collect();
        if uids.is_empty() {
            continue;
        }
        if rng.below(4) == 0 {
            let uid = uids[rng.below(uids.len() as u64) as usize];
            let k = rng.next() >> 8;
            say(&format!("TRY FLAGS {from} {uid} {k}"));
            boxes[from]
                .set_flags(&[uid], FlagOp::Replace, &flags_for(k))
                .unwrap();
            say(&format!("FLAGGED {from} {uid} {k}"));
            continue;
        }
        // Mostly a few messages, now and then many; duplicates and all.
        let most = if rng.below(8) == 0 { 20 } else { 4 };
        let n = 1 + rng.below(most);
        let pick: Vec<u32> = (0..n)
            .map(|_| uids[rng.below(uids.len() as u64) as usize])
            .collect();
        do_move(&boxes, from, &pick);
    }
}

/// What the parent knows for sure between rounds of `move`.
#[derive(Default)]
struct MoveLedger {
    /// Where each message is: mailbox index and UID.
    at: BTreeMap<u64, (usize, u32)>,
    flags: BTreeMap<u64, Flags>,
    /// Per mailbox, every UID ever seen with its message: a UID never changes hands.
    owner: [BTreeMap<u32, u64>; 2],
    /// Per mailbox, UIDs seen and gone since: they never come back.
    gone: [BTreeSet<u32>; 2],
    /// Per mailbox, the highest UID seen: new ones are above it.
    high_water: [u32; 2],
    highest_modseq: [u64; 2],
    validity: [u32; 2],
}

/// An operation whose answer the kill cut off.
enum InFlight {
    Move { from: usize, uids: Vec<u32> },
    Flags { id: u64, k: u64 },
}

fn check_moves(dir: &Path, ledger: &mut MoveLedger, lines: &[String], round: usize) -> usize {
    // What the acknowledged operations make of the ledger's state.
    let mut at = ledger.at.clone();
    let mut who: [BTreeMap<u32, u64>; 2] = Default::default();
    for (&id, &(mb, uid)) in &at {
        who[mb].insert(uid, id);
    }
    let mut flags = ledger.flags.clone();
    let mut in_flight = None;
    let mut acknowledged = 0;
    for line in lines {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["TRY", "MOVE", from, list] => {
                in_flight = Some(InFlight::Move {
                    from: from.parse().unwrap(),
                    uids: list.split(',').map(|u| u.parse().unwrap()).collect(),
                })
            }
            ["MOVED", from, pairs] => {
                let from: usize = from.parse().unwrap();
                for pair in pairs.split(',').filter(|p| !p.is_empty()) {
                    let (old, new) = pair.split_once(':').unwrap();
                    let (old, new): (u32, u32) = (old.parse().unwrap(), new.parse().unwrap());
                    let id = who[from].remove(&old).unwrap_or_else(|| {
                        panic!("round {round}: moved UID {old} of {from}, unknown")
                    });
                    who[1 - from].insert(new, id);
                    at.insert(id, (1 - from, new));
                }
                in_flight = None;
                acknowledged += 1;
            }
            ["TRY", "FLAGS", mb, uid, k] => {
                let mb: usize = mb.parse().unwrap();
                let id = who[mb][&uid.parse::<u32>().unwrap()];
                in_flight = Some(InFlight::Flags {
                    id,
                    k: k.parse().unwrap(),
                });
            }
            ["FLAGGED", mb, uid, k] => {
                let mb: usize = mb.parse().unwrap();
                let id = who[mb][&uid.parse::<u32>().unwrap()];
                flags.insert(id, flags_for(k.parse().unwrap()));
                in_flight = None;
                acknowledged += 1;
            }
            _ => {} // READY, the test harness's own lines
        }
    }
    // The messages a MOVE in flight may or may not have moved, with their source UIDs.
    let moving: BTreeMap<u64, (usize, u32)> = match &in_flight {
        Some(InFlight::Move { from, uids }) => uids
            .iter()
            .filter_map(|u| who[*from].get(u).map(|&id| (id, (*from, *u))))
            .collect(),
        _ => BTreeMap::new(),
    };

    let account = account(dir);
    let mut found: BTreeMap<u64, (usize, Seen)> = BTreeMap::new();
    let mut statuses = Vec::new();
    for (i, name) in BOXES.iter().enumerate() {
        let (status, seen) = contents(dir, &account.mailbox(name).unwrap(), round);
        if ledger.validity[i] != 0 {
            assert_eq!(status.uid_validity, ledger.validity[i], "round {round}");
        }
        assert!(
            status.highest_modseq >= ledger.highest_modseq[i],
            "round {round}: HIGHESTMODSEQ of {name} went back"
        );
        for (id, s) in seen {
            match ledger.owner[i].get(&s.uid) {
                Some(&owner) => assert_eq!(owner, id, "round {round}: {name} UID {} reused", s.uid),
                None => assert!(
                    s.uid > ledger.high_water[i],
                    "round {round}: new UID {} of {name} not above {}",
                    s.uid,
                    ledger.high_water[i]
                ),
            }
            assert!(!ledger.gone[i].contains(&s.uid), "round {round}: came back");
            if let Some((other, _)) = found.insert(id, (i, s)) {
                panic!("round {round}: message {id} in {} and {name}", BOXES[other]);
            }
        }
        statuses.push(status);
    }
    if round == 0 {
        // The first look: what the parent put there is what there is.
        for (&id, (mb, s)) in &found {
            at.insert(id, (*mb, s.uid));
            flags.insert(id, s.flags.clone());
        }
    }
    let all: BTreeSet<u64> = at.keys().copied().collect();
    let here: BTreeSet<u64> = found.keys().copied().collect();
    assert_eq!(here, all, "round {round}: messages lost or made up");
    for (&id, (mb, s)) in &found {
        match moving.get(&id) {
            Some(&(from, uid)) => assert!(
                (*mb == from && s.uid == uid) || *mb == 1 - from,
                "round {round}: message {id} of the MOVE in flight is at {mb}/{}",
                s.uid
            ),
            None => assert_eq!(
                (*mb, s.uid),
                at[&id],
                "round {round}: message {id} is not where its last move put it"
            ),
        }
        let acked = flags.get(&id).cloned().unwrap_or_default();
        let maybe = match &in_flight {
            Some(InFlight::Flags { id: f, k }) if *f == id => Some(flags_for(*k)),
            _ => None,
        };
        assert!(
            s.flags == acked || Some(&s.flags) == maybe.as_ref(),
            "round {round}: message {id} has {:?}, expected {acked:?} or {maybe:?}",
            s.flags
        );
        // A message new to its mailbox, or whose flags changed, was numbered after
        // everything the last check saw there.
        let new_here = ledger.at.get(&id) != Some(&(*mb, s.uid));
        let changed = ledger.flags.get(&id) != Some(&s.flags);
        if new_here || changed {
            assert!(
                s.modseq > ledger.highest_modseq[*mb],
                "round {round}: message {id} has modseq {} <= {}",
                s.modseq,
                ledger.highest_modseq[*mb]
            );
        }
    }
    for (i, status) in statuses.iter().enumerate() {
        for &uid in ledger.owner[i].keys() {
            if !found.values().any(|(mb, s)| *mb == i && s.uid == uid) {
                ledger.gone[i].insert(uid);
            }
        }
        ledger.validity[i] = status.uid_validity;
        ledger.highest_modseq[i] = status.highest_modseq;
        ledger.high_water[i] = ledger.high_water[i].max(status.uid_next - 1);
    }
    ledger.at.clear();
    ledger.flags.clear();
    for (id, (mb, s)) in found {
        ledger.owner[mb].insert(s.uid, id);
        ledger.at.insert(id, (mb, s.uid));
        ledger.flags.insert(id, s.flags);
    }
    acknowledged
}

/// The MOVE a round left in flight, for the next child to retry.
fn retry_of(lines: &[String]) -> Option<String> {
    let mut pending = None;
    for line in lines {
        if let Some(rest) = line.strip_prefix("TRY MOVE ") {
            pending = Some(rest.to_owned());
        } else if line.starts_with("MOVED ") || line.starts_with("TRY FLAGS ") {
            pending = None;
        }
    }
    pending
}

#[test]
fn sigkill_during_moves_leaves_every_message_in_exactly_one_mailbox() {
    let dir = tempfile::tempdir().unwrap();
    {
        let account = account(dir.path());
        account.create("Archive").unwrap();
        let inbox = account.mailbox("INBOX").unwrap();
        for id in 1..=24 {
            inbox.append(&message(id), &flags_for(id), None).unwrap();
        }
    }
    let mut ledger = MoveLedger::default();
    check_moves(dir.path(), &mut ledger, &[], 0);
    let seed = time_seed();
    let mut rng = Rng::new(seed);
    let (mut acknowledged, mut retries) = (0, 0);
    let mut retry = None;
    for round in 1..=30 {
        let mut env = Vec::new();
        if let Some(r) = retry.take() {
            env.push((RETRY, r));
            retries += 1;
        }
        let lines = run_child(
            Run {
                mode: "move",
                dir: dir.path(),
                seed: seed % 1000 * 1000 + round as u64,
                wait_ready: round % 5 != 4,
                max_delay: Duration::from_millis(100),
                env,
            },
            &mut rng,
        );
        acknowledged += check_moves(dir.path(), &mut ledger, &lines, round);
        retry = retry_of(&lines);
    }
    eprintln!("move: 30 kills, {acknowledged} acknowledged operations, {retries} retried moves");
    assert!(
        acknowledged > 30,
        "the children did too little to test anything ({acknowledged})"
    );
}

// ---- RENAME of a hierarchy ----

fn child_renames_tree(account: &Account, rng: &mut Rng, seed: u64) {
    let mut root = std::env::var(ROOT).unwrap();
    let mut n: u64 = std::env::var(NEXT).unwrap().parse().unwrap();
    let mut id = seed * 1_000_000;
    loop {
        if rng.below(2) == 0 {
            id += 1;
            let rel = TREE[rng.below(4) as usize];
            say(&format!("TRY DELIVER {rel} {id}"));
            account
                .mailbox(&path(&root, rel))
                .unwrap()
                .append(&message(id), &Flags::new(), None)
                .unwrap();
            say(&format!("DELIVERED {rel} {id}"));
        }
        n += 1;
        let target = if n.is_multiple_of(3) {
            format!("Deep{n}/R{n}")
        } else {
            format!("R{n}")
        };
        say(&format!("TRY RENAME {target}"));
        account.rename(&root, &target).unwrap();
        say(&format!("RENAMED {target}"));
        root = target;
    }
}

#[derive(Default)]
struct TreeLedger {
    root: String,
    /// The messages of each mailbox of the tree.
    ids: BTreeMap<&'static str, BTreeSet<u64>>,
    validity: BTreeMap<&'static str, u32>,
    owner: BTreeMap<&'static str, BTreeMap<u32, u64>>,
}

fn check_tree(dir: &Path, ledger: &mut TreeLedger, lines: &[String], round: usize) -> usize {
    let mut root = ledger.root.clone();
    let mut ids = ledger.ids.clone();
    let (mut renaming, mut delivering) = (None, None);
    let mut acknowledged = 0;
    for line in lines {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["TRY", "DELIVER", rel, id] => {
                delivering = Some((rel.to_string(), id.parse().unwrap()))
            }
            ["DELIVERED", rel, id] => {
                let rel = TREE.iter().find(|r| *r == rel).unwrap();
                ids.get_mut(rel).unwrap().insert(id.parse().unwrap());
                delivering = None;
                acknowledged += 1;
            }
            ["TRY", "RENAME", target] => renaming = Some(target.to_string()),
            ["RENAMED", target] => {
                root = target.to_string();
                renaming = None;
                acknowledged += 1;
            }
            _ => {}
        }
    }
    let account = account(dir);
    let names = selectable(&account);
    let has = |r: &str| {
        TREE.iter()
            .filter(|rel| names.contains(&path(r, rel)))
            .count()
    };
    let actual = match &renaming {
        Some(target) => {
            // Whole: one of the two has the whole tree, the other none of it.
            match (has(&root), has(target)) {
                (4, 0) => root.clone(),
                (0, 4) => target.clone(),
                other => {
                    panic!("round {round}: RENAME {root} {target} half done: {other:?} {names:?}")
                }
            }
        }
        None => {
            assert_eq!(has(&root), 4, "round {round}: {root} not whole: {names:?}");
            root.clone()
        }
    };
    for name in &names {
        let ours = TREE.iter().any(|rel| *name == path(&actual, rel));
        let other = name == "INBOX"
            || SPECIAL.contains(&name.as_str())
            || (name.starts_with("Deep") && !name.contains('/'));
        assert!(ours || other, "round {round}: {name} left over: {names:?}");
    }
    for rel in TREE {
        let mailbox = account.mailbox(&path(&actual, rel)).unwrap();
        let (status, seen) = contents(dir, &mailbox, round);
        if let Some(&v) = ledger.validity.get(rel) {
            assert_eq!(
                status.uid_validity, v,
                "round {round}: {rel} is a new mailbox"
            );
        }
        let got: BTreeSet<u64> = seen.keys().copied().collect();
        let mut want = ids[rel].clone();
        if let Some((r, id)) = &delivering
            && r == rel
            && got.contains(id)
        {
            want.insert(*id);
        }
        assert_eq!(got, want, "round {round}: messages of {rel}");
        let owner = ledger.owner.entry(rel).or_default();
        for (id, s) in seen {
            assert_eq!(
                *owner.entry(s.uid).or_insert(id),
                id,
                "round {round}: reused"
            );
        }
        ledger.validity.insert(rel, status.uid_validity);
        ledger.ids.insert(rel, got);
    }
    let subscribed: Vec<String> = account
        .list()
        .unwrap()
        .into_iter()
        .filter(|i| i.subscribed && i.name.ends_with("/a"))
        .map(|i| i.name)
        .collect();
    assert_eq!(
        subscribed,
        [path(&actual, "a")],
        "round {round}: subscriptions"
    );
    let md = maildir(dir);
    assert!(
        !md.join("yubin-rename").exists(),
        "round {round}: journal left"
    );
    ledger.root = actual;
    acknowledged
}

#[test]
fn sigkill_during_renames_leaves_the_hierarchy_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = TreeLedger {
        root: "R0".into(),
        ..TreeLedger::default()
    };
    {
        let account = account(dir.path());
        account.create("R0/a/b").unwrap();
        account.create("R0/c").unwrap();
        account.subscribe("R0/a").unwrap();
        for (n, rel) in TREE.iter().enumerate() {
            let id = n as u64 + 1;
            account
                .mailbox(&path("R0", rel))
                .unwrap()
                .append(&message(id), &flags_for(id), None)
                .unwrap();
            ledger.ids.insert(rel, BTreeSet::from([id]));
        }
    }
    check_tree(dir.path(), &mut ledger, &[], 0);
    let seed = time_seed();
    let mut rng = Rng::new(seed);
    let mut acknowledged = 0;
    for round in 1..=30 {
        let next = ledger
            .root
            .rsplit_once("/R")
            .map_or(&ledger.root[1..], |(_, n)| n)
            .to_owned();
        let lines = run_child(
            Run {
                mode: "rename-tree",
                dir: dir.path(),
                seed: seed % 1000 * 1000 + round as u64,
                wait_ready: round % 5 != 4,
                max_delay: Duration::from_millis(100),
                env: vec![(ROOT, ledger.root.clone()), (NEXT, next)],
            },
            &mut rng,
        );
        acknowledged += check_tree(dir.path(), &mut ledger, &lines, round);
    }
    eprintln!("rename-tree: 30 kills, {acknowledged} acknowledged operations");
    assert!(
        acknowledged > 30,
        "the children did too little to test anything ({acknowledged})"
    );
}

// ---- RENAME INBOX ----

fn child_renames_inbox(account: &Account, rng: &mut Rng, seed: u64) {
    let inbox = account.mailbox("INBOX").unwrap();
    let mut n: u64 = std::env::var(NEXT).unwrap().parse().unwrap();
    let mut id = seed * 1_000_000;
    loop {
        for _ in 0..1 + rng.below(3) {
            id += 1;
            say(&format!("TRY DELIVER {id}"));
            let uid = inbox.append(&message(id), &flags_for(id), None).unwrap();
            say(&format!("DELIVERED {id} {uid}"));
        }
        let target = if n.is_multiple_of(2) {
            format!("Old{n}")
        } else {
            format!("Arch/Old{n}")
        };
        n += 1;
        say(&format!("TRY RENAME-INBOX {target}"));
        account.rename("INBOX", &target).unwrap();
        say(&format!("RENAMED-INBOX {target}"));
    }
}

#[derive(Default)]
struct InboxLedger {
    /// The messages of every mailbox, INBOX and those renamed from it.
    ids: BTreeMap<String, BTreeSet<u64>>,
    validity: u32,
    owner: BTreeMap<u32, u64>,
    high_water: u32,
    /// The number of the next new mailbox's name.
    next: u64,
}

fn check_inbox(dir: &Path, ledger: &mut InboxLedger, lines: &[String], round: usize) -> usize {
    let mut ids = ledger.ids.clone();
    let (mut renaming, mut delivering) = (None, None);
    let mut acknowledged = 0;
    for line in lines {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["TRY", "DELIVER", id] => delivering = Some(id.parse::<u64>().unwrap()),
            ["DELIVERED", id, _uid] => {
                ids.entry("INBOX".into())
                    .or_default()
                    .insert(id.parse().unwrap());
                delivering = None;
                acknowledged += 1;
            }
            ["TRY", "RENAME-INBOX", target] => renaming = Some(target.to_string()),
            ["RENAMED-INBOX", target] => {
                let moved = std::mem::take(ids.entry("INBOX".into()).or_default());
                ids.insert(target.to_string(), moved);
                renaming = None;
                acknowledged += 1;
            }
            _ => {}
        }
    }
    let account = account(dir);
    let names = selectable(&account);
    let mut found: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut everywhere = BTreeSet::new();
    for name in &names {
        let mailbox = account.mailbox(name).unwrap();
        let (status, seen) = contents(dir, &mailbox, round);
        for (&id, s) in &seen {
            assert!(everywhere.insert(id), "round {round}: message {id} twice");
            if name == "INBOX" {
                assert_eq!(
                    *ledger.owner.entry(s.uid).or_insert(id),
                    id,
                    "round {round}: INBOX UID {} reused",
                    s.uid
                );
            }
        }
        if name == "INBOX" {
            if ledger.validity != 0 {
                assert_eq!(status.uid_validity, ledger.validity, "round {round}");
            }
            assert!(
                status.uid_next > ledger.high_water,
                "round {round}: UIDNEXT"
            );
            ledger.validity = status.uid_validity;
            ledger.high_water = status.uid_next - 1;
        }
        if !seen.is_empty() || ids.contains_key(name) {
            found.insert(name.clone(), seen.keys().copied().collect());
        }
    }
    // The delivery in flight may have happened.
    if let Some(id) = delivering
        && found.get("INBOX").is_some_and(|s| s.contains(&id))
    {
        ids.entry("INBOX".into()).or_default().insert(id);
    }
    if let Some(target) = &renaming {
        let inbox = ids.get("INBOX").cloned().unwrap_or_default();
        let there = found.get(target);
        if names.contains(target) {
            // Finished: every message of INBOX is in the new mailbox, none in INBOX.
            assert_eq!(
                there.cloned().unwrap_or_default(),
                inbox,
                "round {round}: RENAME INBOX {target} partial"
            );
            ids.insert(target.clone(), inbox);
            ids.insert("INBOX".into(), BTreeSet::new());
        }
        // Else undone: INBOX keeps them all (checked below).
    }
    for (name, want) in &ids {
        let got = found.get(name).cloned().unwrap_or_default();
        assert_eq!(&got, want, "round {round}: messages of {name}");
    }
    for name in found.keys() {
        assert!(ids.contains_key(name), "round {round}: {name} made up");
    }
    let md = maildir(dir);
    for entry in std::fs::read_dir(&md).unwrap() {
        let marker = entry.unwrap().path().join("yubin-renaming-inbox");
        assert!(!marker.exists(), "round {round}: {} left", marker.display());
    }
    ledger.next += lines
        .iter()
        .filter(|l| l.starts_with("TRY RENAME-INBOX"))
        .count() as u64;
    ledger.ids = ids;
    acknowledged
}

#[test]
fn sigkill_during_rename_inbox_moves_all_of_inbox_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = InboxLedger::default();
    check_inbox(dir.path(), &mut ledger, &[], 0);
    let seed = time_seed();
    let mut rng = Rng::new(seed);
    let mut acknowledged = 0;
    for round in 1..=30 {
        let lines = run_child(
            Run {
                mode: "rename-inbox",
                dir: dir.path(),
                seed: seed % 1000 * 1000 + round as u64,
                wait_ready: round % 5 != 4,
                max_delay: Duration::from_millis(100),
                env: vec![(NEXT, ledger.next.to_string())],
            },
            &mut rng,
        );
        acknowledged += check_inbox(dir.path(), &mut ledger, &lines, round);
    }
    eprintln!(
        "rename-inbox: 30 kills, {acknowledged} acknowledged operations, {} mailboxes",
        ledger.ids.len()
    );
    assert!(
        acknowledged > 30,
        "the children did too little to test anything ({acknowledged})"
    );
}
