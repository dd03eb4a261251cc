//! Crash safety with real processes: a child process works on a Maildir in a loop and is
//! killed with SIGKILL at a random moment; the parent reopens the Maildir and checks
//! that nothing acknowledged was lost, nothing is partial or doubled, and no UID was
//! ever reused.
//!
//! The child is this test binary itself, re-run with `--exact child_process` and an
//! environment variable saying what to do. It prints a line after each operation has
//! returned, so the parent knows exactly which ones succeeded.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use support::{DIR, MODE, Rng, Run, SEED, flags_for, id_of, message, run_child, say, time_seed};
use yubin_store::{FlagOp, Flags, Mailbox, MaildirBackend, Store};

fn open_store(dir: &Path) -> Store {
    // A tiny compaction threshold: the index is folded into new snapshots many times a
    // round, so kills land during compactions too.
    let backend = MaildirBackend::new(dir).unwrap().with_compaction_at(1024);
    let store = Store::with_backend(backend);
    store.set_accept_any_login(true);
    store
}

fn open(dir: &Path) -> Mailbox {
    open_store(dir)
        .account("crash")
        .unwrap()
        .mailbox("INBOX")
        .unwrap()
}

/// The child's loop; does nothing in a normal test run.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(MODE) else {
        return;
    };
    let dir = std::env::var(DIR).unwrap();
    let seed: u64 = std::env::var(SEED).unwrap().parse().unwrap();
    let store = open_store(Path::new(&dir));
    let inbox = store.account("crash").unwrap().mailbox("INBOX").unwrap();
    say("READY");
    if mode == "stream" {
        // Messages received a piece at a time, as SMTP DATA (a delivery) and IMAP APPEND
        // (an append) receive them: kills land while a message is half in tmp/, while it
        // is linked into new/, and while it is recorded.
        let mut rng = Rng::new(seed);
        let mut id = seed * 1_000_000;
        loop {
            id += 1;
            let bytes = message(id);
            let piece = 1 + rng.below(4096) as usize;
            let uid = if id.is_multiple_of(2) {
                let mut incoming = store.incoming(&["crash"]).unwrap();
                for p in bytes.chunks(piece) {
                    incoming.write(p).unwrap();
                }
                incoming.deliver().unwrap().uid("crash").unwrap()
            } else {
                let mut append = inbox.incoming(&Flags::new(), None).unwrap();
                for p in bytes.chunks(piece) {
                    append.write(p).unwrap();
                }
                append.finish().unwrap()
            };
            say(&format!("DELIVERED {id} {uid}"));
        }
    }
    if mode == "deliver-group" {
        // Eight threads deliver at once, so appends meet in group commits.
        for t in 0..8u64 {
            let inbox = inbox.clone();
            std::thread::spawn(move || {
                let mut id = seed * 1_000_000 + t * 100_000;
                loop {
                    id += 1;
                    let uid = inbox.append(&message(id), &Flags::new(), None).unwrap();
                    say(&format!("DELIVERED {id} {uid}"));
                }
            });
        }
        // The threads deliver until the parent kills the process.
        loop {
            std::thread::park();
        }
    }
    let mut rng = Rng::new(seed);
    let mut id = seed * 1_000_000;
    loop {
        let op = if mode == "deliver" { 0 } else { rng.below(4) };
        match op {
            0 => {
                id += 1;
                let uid = inbox.append(&message(id), &Flags::new(), None).unwrap();
                say(&format!("DELIVERED {id} {uid}"));
            }
            1 | 2 => {
                let uids: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
                if uids.is_empty() {
                    continue;
                }
                let uid = uids[rng.below(uids.len() as u64) as usize];
                let k = rng.next() >> 8;
                say(&format!("TRY FLAGS {uid} {k}"));
                inbox
                    .set_flags(&[uid], FlagOp::Replace, &flags_for(k))
                    .unwrap();
                say(&format!("FLAGGED {uid} {k}"));
            }
            _ => {
                let uids: Vec<u32> = inbox.messages().unwrap().iter().map(|m| m.uid).collect();
                if uids.len() < 5 {
                    continue;
                }
                let uid = uids[rng.below(uids.len() as u64) as usize];
                say(&format!("TRY EXPUNGE {uid}"));
                assert_eq!(inbox.expunge(&[uid]).unwrap(), [uid]);
                say(&format!("EXPUNGED {uid}"));
            }
        }
    }
}

/// What the parent knows for sure about the mailbox between rounds.
#[derive(Default)]
struct Ledger {
    /// Every UID ever seen, with the id of the message it held: a UID never changes hands.
    uid_owner: BTreeMap<u32, u64>,
    /// UIDs seen once and gone since: they must never come back.
    gone: BTreeSet<u32>,
    /// The highest UID seen before the current round; new messages must be above it.
    high_water: u32,
    /// The flags each present message had at the last check.
    flags: BTreeMap<u32, Flags>,
    /// HIGHESTMODSEQ at the last check: it never goes backwards, and every change made
    /// since is numbered above it (RFC 7162 §3.1: a modseq is never reused).
    highest_modseq: u64,
    /// Each present message's modseq at the last check.
    modseqs: BTreeMap<u32, u64>,
}

struct Round {
    delivered: BTreeMap<u64, u32>,
    flagged: BTreeMap<u32, u64>,
    pending_flags: Option<(u32, u64)>,
    expunged: BTreeSet<u32>,
    pending_expunge: Option<u32>,
}

fn parse(lines: &[String]) -> Round {
    let mut r = Round {
        delivered: BTreeMap::new(),
        flagged: BTreeMap::new(),
        pending_flags: None,
        expunged: BTreeSet::new(),
        pending_expunge: None,
    };
    for line in lines {
        let w: Vec<&str> = line.split(' ').collect();
        match w.as_slice() {
            ["READY"] => {}
            ["DELIVERED", id, uid] => {
                r.delivered
                    .insert(id.parse().unwrap(), uid.parse().unwrap());
            }
            ["TRY", "FLAGS", uid, k] => {
                r.pending_flags = Some((uid.parse().unwrap(), k.parse().unwrap()))
            }
            ["FLAGGED", uid, k] => {
                r.flagged.insert(uid.parse().unwrap(), k.parse().unwrap());
                r.pending_flags = None;
            }
            ["TRY", "EXPUNGE", uid] => r.pending_expunge = Some(uid.parse().unwrap()),
            ["EXPUNGED", uid] => {
                r.expunged.insert(uid.parse().unwrap());
                r.pending_expunge = None;
            }
            _ => {} // the test harness's own lines
        }
    }
    r
}

/// Reopens the Maildir as a restarted server would and checks every invariant.
fn check(dir: &Path, ledger: &mut Ledger, round: &Round, round_no: usize) {
    let inbox = open(dir);
    let metas = inbox.messages().unwrap();
    let status = inbox.status().unwrap();
    let mut ids = BTreeSet::new();
    let mut present = BTreeMap::new();
    for m in &metas {
        assert!(
            m.uid < status.uid_next,
            "round {round_no}: UID {} >= UIDNEXT",
            m.uid
        );
        let bytes = inbox.read(m.uid).unwrap();
        let id = id_of(&bytes)
            .unwrap_or_else(|| panic!("round {round_no}: UID {} is not a whole message", m.uid));
        assert!(
            bytes[..] == message(id)[..],
            "round {round_no}: UID {} (id {id}) is partial or damaged",
            m.uid
        );
        assert_eq!(m.size, bytes.len() as u64);
        assert!(
            ids.insert(id),
            "round {round_no}: message {id} is present twice"
        );
        match ledger.uid_owner.get(&m.uid) {
            Some(&owner) => assert_eq!(owner, id, "round {round_no}: UID {} reused", m.uid),
            None => assert!(
                m.uid > ledger.high_water,
                "round {round_no}: new UID {} not above every earlier UID {}",
                m.uid,
                ledger.high_water
            ),
        }
        assert!(
            !ledger.gone.contains(&m.uid),
            "round {round_no}: UID {} came back",
            m.uid
        );
        present.insert(m.uid, m.flags.clone());
    }
    for (&id, &uid) in &round.delivered {
        if round.expunged.contains(&uid) || round.pending_expunge == Some(uid) {
            continue;
        }
        assert_eq!(
            metas
                .iter()
                .find(|m| m.uid == uid)
                .map(|m| id_of(&inbox.read(m.uid).unwrap())),
            Some(Some(id)),
            "round {round_no}: acknowledged message {id} (UID {uid}) missing"
        );
    }
    for uid in &round.expunged {
        assert!(
            !present.contains_key(uid),
            "round {round_no}: expunged UID {uid} still there"
        );
    }
    for (uid, was) in &ledger.flags {
        if present.contains_key(uid) {
            continue;
        }
        // Only an acknowledged or in-flight expunge may remove a message.
        assert!(
            round.expunged.contains(uid) || round.pending_expunge == Some(*uid),
            "round {round_no}: UID {uid} ({was:?}) vanished without an expunge"
        );
    }
    assert!(
        status.highest_modseq >= ledger.highest_modseq,
        "round {round_no}: HIGHESTMODSEQ went back from {} to {}",
        ledger.highest_modseq,
        status.highest_modseq
    );
    for m in &metas {
        assert!(
            m.modseq <= status.highest_modseq,
            "round {round_no}: UID {} has modseq {} above HIGHESTMODSEQ {}",
            m.uid,
            m.modseq,
            status.highest_modseq
        );
        match ledger.modseqs.get(&m.uid) {
            // A message that arrived, or whose flags changed, since the last check was
            // numbered after everything that check saw.
            None => assert!(
                m.modseq > ledger.highest_modseq,
                "round {round_no}: new UID {} got modseq {} <= {}",
                m.uid,
                m.modseq,
                ledger.highest_modseq
            ),
            Some(&was) if ledger.flags.get(&m.uid) != present.get(&m.uid) => assert!(
                m.modseq > ledger.highest_modseq && m.modseq > was,
                "round {round_no}: UID {}'s flags changed but its modseq {} is not new",
                m.uid,
                m.modseq
            ),
            Some(&was) => assert!(
                m.modseq >= was,
                "round {round_no}: UID {}'s modseq went back",
                m.uid
            ),
        }
    }
    for (uid, flags) in &present {
        let acked = match round.flagged.get(uid) {
            Some(&k) => flags_for(k),
            None => ledger.flags.get(uid).cloned().unwrap_or_default(),
        };
        let in_flight = match round.pending_flags {
            Some((u, k)) if u == *uid => Some(flags_for(k)),
            _ => None,
        };
        assert!(
            *flags == acked || Some(flags) == in_flight.as_ref(),
            "round {round_no}: UID {uid} has {flags:?}, expected {acked:?} or {in_flight:?}"
        );
    }
    // Every file in new/ and cur/ is a message the store shows: nothing hidden, nothing half.
    let md = dir.join("crash/Maildir");
    let files = ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(md.join(d)).unwrap().count())
        .sum::<usize>();
    assert_eq!(
        files,
        metas.len(),
        "round {round_no}: files and messages disagree"
    );

    for uid in ledger.flags.keys() {
        if !present.contains_key(uid) {
            ledger.gone.insert(*uid);
        }
    }
    for m in &metas {
        ledger
            .uid_owner
            .insert(m.uid, id_of(&inbox.read(m.uid).unwrap()).unwrap());
    }
    ledger.high_water = ledger.high_water.max(status.uid_next - 1);
    ledger.highest_modseq = status.highest_modseq;
    ledger.modseqs = metas.iter().map(|m| (m.uid, m.modseq)).collect();
    ledger.flags = present;
}

fn rounds(mode: &str, dir: &Path, ledger: &mut Ledger, count: usize, seed: u64) -> usize {
    let mut rng = Rng::new(seed);
    let mut acknowledged = 0;
    for round_no in 0..count {
        // Most rounds are killed while working; some while starting up (during the
        // reconcile that an open does).
        let wait_ready = round_no % 5 != 4;
        let lines = run_child(
            Run {
                mode,
                dir,
                seed: seed % 1000 * 1000 + round_no as u64 + 1,
                wait_ready,
                max_delay: Duration::from_millis(40),
                env: Vec::new(),
            },
            &mut rng,
        );
        let round = parse(&lines);
        acknowledged += round.delivered.len() + round.flagged.len() + round.expunged.len();
        check(dir, ledger, &round, round_no);
    }
    eprintln!(
        "{mode}: {count} kills, {acknowledged} acknowledged operations, {} UIDs seen, {} gone",
        ledger.uid_owner.len(),
        ledger.gone.len()
    );
    acknowledged
}

#[test]
fn sigkill_during_delivery_loses_nothing_and_reuses_no_uid() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let acknowledged = rounds("deliver", dir.path(), &mut ledger, 50, time_seed());
    assert!(
        acknowledged > 50,
        "the children delivered too little to test anything ({acknowledged})"
    );
}

#[test]
fn sigkill_while_messages_stream_in_loses_nothing_and_leaves_nothing_half() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let acknowledged = rounds("stream", dir.path(), &mut ledger, 40, time_seed());
    assert!(
        acknowledged > 40,
        "the children delivered too little to test anything ({acknowledged})"
    );
}

#[test]
fn sigkill_during_group_commits_loses_nothing_and_reuses_no_uid() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let acknowledged = rounds("deliver-group", dir.path(), &mut ledger, 30, time_seed());
    assert!(
        acknowledged > 30,
        "the children delivered too little to test anything ({acknowledged})"
    );
}

#[test]
fn sigkill_during_flag_changes_and_expunges_keeps_the_mailbox_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::default();
    let seed = time_seed();
    // Fill the mailbox first (also under kills), then mix flag changes, expunges and
    // deliveries.
    rounds("deliver", dir.path(), &mut ledger, 5, seed);
    let acknowledged = rounds("mutate", dir.path(), &mut ledger, 25, seed.wrapping_add(7));
    assert!(
        acknowledged > 25,
        "the children did too little to test anything ({acknowledged})"
    );
}
