//! CONDSTORE and QRESYNC (RFC 7162) over a real socket, checked against the RFC's text and
//! examples. Mod-sequences are the store's to choose, so they are never written down as
//! numbers: each is compared with the ones before it (a change gets a bigger one, the
//! mailbox's HIGHESTMODSEQ is the biggest of its messages', a search reports the biggest of
//! the messages found).
//!
//! Where the RFC says MUST, the tests assert it. Where it leaves a choice (SHOULD, MAY), a
//! test asserts nothing, unless the choice is what Dovecot does; each such place says so.

mod raw;

use std::path::Path;

use mini_imap::{ImapServerConfig, serve};
use raw::{Raw, message, start, tagged, untagged};
use tokio_util::sync::CancellationToken;
use yubin_core::ServerHandle;
use yubin_store::{Flag, Flags, Secret, Store};

/// An untagged FETCH response, with the data items these tests look at.
#[derive(Debug, Clone, PartialEq)]
struct Fetch {
    seq: u32,
    uid: Option<u32>,
    modseq: Option<u64>,
    flags: Option<Vec<String>>,
}

impl Fetch {
    /// Whether FLAGS was sent and holds `flag` (compared without regard to case).
    fn has(&self, flag: &str) -> bool {
        self.flags
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x.eq_ignore_ascii_case(flag)))
    }
}

/// Splits the inside of a FETCH's parentheses into (name, value) pairs; a value is an
/// atom or a parenthesized group (enough for UID, MODSEQ and FLAGS).
fn items(inner: &str) -> Vec<(String, String)> {
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let skip_spaces = |i: &mut usize| {
        while *i < b.len() && b[*i] == b' ' {
            *i += 1;
        }
    };
    while i < b.len() {
        skip_spaces(&mut i);
        let start = i;
        // A name such as BODY[HEADER.FIELDS (X)] has a bracketed part with spaces.
        let mut bracket = 0;
        while i < b.len() && (bracket > 0 || (b[i] != b' ' && b[i] != b'(')) {
            match b[i] {
                b'[' => bracket += 1,
                b']' => bracket -= 1,
                _ => {}
            }
            i += 1;
        }
        let name = inner[start..i].to_ascii_uppercase();
        skip_spaces(&mut i);
        let vstart = i;
        if i < b.len() && b[i] == b'(' {
            let mut depth = 0;
            while i < b.len() {
                match b[i] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        } else {
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
        }
        if !name.is_empty() {
            out.push((name, inner[vstart..i].to_owned()));
        }
    }
    out
}

/// Parses `* n FETCH (...)`; None for any other line.
fn parse_fetch(line: &str) -> Option<Fetch> {
    let rest = line.strip_prefix("* ")?;
    let (n, rest) = rest.split_once(' ')?;
    let seq: u32 = n.parse().ok()?;
    let inner = rest
        .strip_prefix("FETCH (")?
        .trim_end_matches("\r\n")
        .strip_suffix(')')?;
    let mut f = Fetch {
        seq,
        uid: None,
        modseq: None,
        flags: None,
    };
    for (name, value) in items(inner) {
        let unparen = value.trim_start_matches('(').trim_end_matches(')');
        match name.as_str() {
            "UID" => f.uid = Some(value.parse().expect("UID is a number")),
            "MODSEQ" => f.modseq = Some(unparen.parse().expect("MODSEQ (n)")),
            "FLAGS" => {
                f.flags = Some(unparen.split_whitespace().map(str::to_owned).collect());
            }
            _ => {}
        }
    }
    Some(f)
}

/// Every untagged FETCH in a response, in order.
fn fetches(response: &str) -> Vec<Fetch> {
    untagged(response)
        .into_iter()
        .filter_map(parse_fetch)
        .collect()
}

/// The number a response code `[CODE n ...]` carries, in the first line that has it.
fn code_num(text: &str, code: &str) -> Option<u64> {
    let at = text.find(&format!("[{code} "))? + code.len() + 2;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The HIGHESTMODSEQ of an untagged `* OK [HIGHESTMODSEQ n]` in a response.
fn untagged_highest(response: &str) -> Option<u64> {
    untagged(response)
        .into_iter()
        .filter(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .find_map(|l| code_num(l, "HIGHESTMODSEQ"))
}

/// The value of `item` in a `* STATUS mailbox (... item n ...)` response.
fn status_item(response: &str, item: &str) -> u64 {
    let line = untagged(response)
        .into_iter()
        .find(|l| l.starts_with("* STATUS "))
        .unwrap_or_else(|| panic!("no STATUS in {response}"));
    let words: Vec<&str> = line
        .split([' ', '(', ')'])
        .filter(|w| !w.is_empty())
        .collect();
    let at = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case(item))
        .unwrap_or_else(|| panic!("no {item} in {line}"));
    words[at + 1].parse().expect("a number")
}

/// A sequence set (`1:3,5`) as the numbers it names, ascending.
fn set(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in text.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.parse().unwrap(), b.parse().unwrap());
                out.extend(a.min(b)..=a.max(b));
            }
            None => out.push(part.parse().unwrap()),
        }
    }
    out.sort_unstable();
    out
}

/// The UIDs of every VANISHED response, as (those said EARLIER, those not), each
/// ascending; the RFC does not say how many lines a server splits them into.
fn vanished(response: &str) -> (Vec<u32>, Vec<u32>) {
    let (mut earlier, mut now) = (Vec::new(), Vec::new());
    for rest in untagged(response)
        .into_iter()
        .filter_map(|l| l.strip_prefix("* VANISHED "))
    {
        match rest.strip_prefix("(EARLIER) ") {
            Some(uids) => earlier.extend(set(uids)),
            None => now.extend(set(rest)),
        }
    }
    earlier.sort_unstable();
    now.sort_unstable();
    (earlier, now)
}

/// No VANISHED at all.
const NONE: (Vec<u32>, Vec<u32>) = (Vec::new(), Vec::new());

/// The flags the store holds for alice's INBOX message `uid`.
fn stored_flags(store: &Store, uid: u32) -> Flags {
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    let m = inbox
        .messages()
        .unwrap()
        .into_iter()
        .find(|m| m.uid == uid)
        .unwrap_or_else(|| panic!("no UID {uid}"));
    m.flags
}

fn stored_uids(store: &Store) -> Vec<u32> {
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox.messages().unwrap().iter().map(|m| m.uid).collect()
}

fn is_ok(response: &str) -> bool {
    tagged(response).split(' ').nth(1) == Some("OK")
}

fn is_bad(response: &str) -> bool {
    tagged(response).split(' ').nth(1) == Some("BAD")
}

/// The names an `* ENABLED ...` response lists.
fn enabled(response: &str) -> Vec<String> {
    let line = untagged(response)
        .into_iter()
        .find(|l| *l == "* ENABLED" || l.starts_with("* ENABLED "))
        .unwrap_or_else(|| panic!("no ENABLED in {response}"));
    line["* ENABLED".len()..]
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect()
}

#[tokio::test]
async fn capability_lists_condstore_and_qresync_and_enable_turns_them_on() {
    let (handle, _store) = start(&["a"]).await;
    let mut c = Raw::login(&handle).await;
    let before = c.cmd("CAPABILITY").await;
    let caps: Vec<&str> = untagged(&before)[0].split(' ').collect();
    // RFC 7162 §3.1.1 and §3.2.2: the capabilities; §3.2.3: a QRESYNC server MUST
    // advertise ENABLE. (CONDSTORE beside QRESYNC is a SHOULD, §3.2.2; Dovecot lists both.)
    for cap in ["ENABLE", "CONDSTORE", "QRESYNC"] {
        assert!(caps.contains(&cap), "{cap} missing: {before}");
    }
    // RFC 5161 §3.1's example, exactly.
    let r = c.cmd("ENABLE CONDSTORE").await;
    assert_eq!(untagged(&r), ["* ENABLED CONDSTORE"]);
    assert!(is_ok(&r), "{r}");
    // RFC 5161 §3.1: ENABLE MUST NOT change the CAPABILITY list.
    let after = c.cmd("CAPABILITY").await;
    assert_eq!(untagged(&after), untagged(&before));
    // RFC 5161 §3.1: an unknown name MUST be ignored; ENABLED MUST still be sent (§3.2:
    // it may list nothing).
    let r = c.cmd("ENABLE X-NO-SUCH-THING").await;
    assert_eq!(untagged(&r), ["* ENABLED"]);
    assert!(is_ok(&r), "{r}");
    c.logout().await;

    // RFC 7162 §3.2.3: ENABLE QRESYNC; the ENABLED response lists what was enabled of what
    // was asked (RFC 5161 §3.2). Whether CONDSTORE, implied, is listed too the RFCs leave
    // open (Dovecot lists only QRESYNC), so only QRESYNC is required.
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("ENABLE X-NO-SUCH-THING QRESYNC").await;
    let names = enabled(&r);
    assert!(names.contains(&"QRESYNC".to_owned()), "{r}");
    assert!(
        names.iter().all(|n| n == "QRESYNC" || n == "CONDSTORE"),
        "{r}"
    );
    // §3.2.3: ENABLE QRESYNC is a CONDSTORE enabling command, so §3.1.2: a SELECT after
    // it MUST answer HIGHESTMODSEQ, without the CONDSTORE parameter.
    let r = c.cmd("SELECT INBOX").await;
    assert!(untagged_highest(&r).is_some_and(|h| h > 0), "{r}");
    c.logout().await;

    // §3.2.3: "ENABLE QRESYNC CONDSTORE" is REQUIRED and has the same result.
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("ENABLE QRESYNC CONDSTORE").await;
    let names = enabled(&r);
    assert!(names.contains(&"QRESYNC".to_owned()), "{r}");
    assert!(
        names.iter().all(|n| n == "QRESYNC" || n == "CONDSTORE"),
        "{r}"
    );
    assert!(is_ok(&r), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn select_examine_status_report_highestmodseq_which_rises_with_another_sessions_store() {
    let (handle, _store) = start(&["a", "b", "c"]).await;
    let mut c = Raw::login(&handle).await;
    // RFC 7162 §3.1.7, Example 17. A mailbox with messages has positive mod-sequences;
    // 0 would mean "no persistent mod-sequences" (§3.1.2.2), and yubin's store keeps them.
    let r = c.cmd("STATUS INBOX (MESSAGES HIGHESTMODSEQ)").await;
    assert!(is_ok(&r), "{r}");
    assert_eq!(status_item(&r, "MESSAGES"), 3);
    let h0 = status_item(&r, "HIGHESTMODSEQ");
    assert!(h0 > 0, "{r}");

    // §3.1.8, Example 18: SELECT (CONDSTORE) answers everything SELECT does, and
    // `* OK [HIGHESTMODSEQ n]` (§3.1.2.1 MUST), the same value STATUS gave (§3.1.7).
    let r = c.cmd("SELECT INBOX (CONDSTORE)").await;
    assert!(untagged(&r).contains(&"* 3 EXISTS"), "{r}");
    assert!(r.contains("[UIDVALIDITY "), "{r}");
    assert_eq!(untagged_highest(&r), Some(h0), "{r}");
    assert!(tagged(&r).contains(" OK [READ-WRITE]"), "{r}");
    let r = c.cmd("EXAMINE INBOX (CONDSTORE)").await;
    assert_eq!(untagged_highest(&r), Some(h0), "{r}");
    assert!(tagged(&r).contains(" OK [READ-ONLY]"), "{r}");

    // Another session, not CONDSTORE-aware, changes a flag.
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT INBOX").await;
    let r = other.cmd("STORE 2 +FLAGS (\\Flagged)").await;
    assert!(is_ok(&r), "{r}");

    // §3.1: "updated whenever metadata ... is modified": STATUS from a third session sees
    // a bigger HIGHESTMODSEQ.
    let mut third = Raw::login(&handle).await;
    let r = third.cmd("STATUS INBOX (HIGHESTMODSEQ)").await;
    let h1 = status_item(&r, "HIGHESTMODSEQ");
    assert!(h1 > h0, "{h1} after {h0}");

    // §3.1 and §3.2.4: the CONDSTORE-aware session is told, with UID and MODSEQ; the
    // change is the newest in the mailbox, so its MODSEQ is the new HIGHESTMODSEQ.
    let r = c.cmd("NOOP").await;
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(
        (f[0].seq, f[0].uid, f[0].modseq),
        (2, Some(2), Some(h1)),
        "{r}"
    );
    assert!(f[0].has("\\Flagged"), "{r}");
    // §3.1.2.1: HIGHESTMODSEQ is the highest mod-sequence of all messages.
    let r = c.cmd("EXAMINE INBOX (CONDSTORE)").await;
    assert_eq!(untagged_highest(&r), Some(h1), "{r}");
    let r = c.cmd("FETCH 1:3 (MODSEQ)").await;
    let m: Vec<u64> = fetches(&r).iter().map(|f| f.modseq.unwrap()).collect();
    assert_eq!(m.len(), 3, "{r}");
    assert_eq!(m[1], h1, "{r}");
    assert!(m[0] < h1 && m[2] < h1, "{r}");
    for s in [c, other, third] {
        s.logout().await;
    }
    handle.stop().await;
}

#[tokio::test]
async fn fetch_modseq_and_changedsince_return_only_what_changed() {
    let (handle, _store) = start(&["a", "b", "c", "d"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX").await;
    assert!(is_ok(&r), "{r}");
    // RFC 7162 §3.1: the first CONDSTORE enabling command with a mailbox selected MUST
    // make the server send HIGHESTMODSEQ (Example 5); FETCH (MODSEQ) is one (Example 13).
    let r = c.cmd("FETCH 1:4 (MODSEQ)").await;
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    let f = fetches(&r);
    assert_eq!(f.iter().map(|f| f.seq).collect::<Vec<_>>(), [1, 2, 3, 4]);
    let m: Vec<u64> = f.iter().map(|f| f.modseq.expect("MODSEQ")).collect();
    // §3.1: each appended message gets a mod-sequence above every other in the mailbox.
    assert!(m.windows(2).all(|w| w[0] < w[1]), "{r}");
    assert_eq!(m[3], h0, "{r}");

    // §3.1: once CONDSTORE-aware, STORE's FETCH responses carry MODSEQ, and (§3.2.4,
    // since this server has QRESYNC) UID too; the STORE updates the mod-sequence (§3.1.3).
    let r = c.cmd("STORE 2 +FLAGS (\\Seen)").await;
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!((f[0].seq, f[0].uid), (2, Some(2)), "{r}");
    assert!(f[0].has("\\Seen"), "{r}");
    let s2 = f[0].modseq.unwrap_or_else(|| panic!("no MODSEQ: {r}"));
    assert!(s2 > h0, "{r}");
    let r = c.cmd("STORE 4 +FLAGS (\\Answered)").await;
    let f = fetches(&r);
    assert_eq!((f[0].seq, f[0].uid), (4, Some(4)), "{r}");
    // §3.1: the second STORE in a session MUST get a bigger mod-sequence.
    let s4 = f[0].modseq.unwrap_or_else(|| panic!("no MODSEQ: {r}"));
    assert!(s4 > s2, "{r}");

    // §3.1.4.1, Example 12: only messages whose mod-sequence is bigger than the argument,
    // with MODSEQ added implicitly.
    let r = c
        .cmd(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h0})"))
        .await;
    assert!(is_ok(&r), "{r}");
    let f = fetches(&r);
    assert_eq!(
        f.iter().map(|f| (f.seq, f.modseq)).collect::<Vec<_>>(),
        [(2, Some(s2)), (4, Some(s4))],
        "{r}"
    );
    assert!(f[0].has("\\Seen") && f[1].has("\\Answered"), "{r}");
    // Strictly bigger: CHANGEDSINCE s2 leaves message 2 out.
    let r = c
        .cmd(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {s2})"))
        .await;
    let f = fetches(&r);
    assert_eq!(
        f.iter()
            .map(|f| (f.seq, f.uid, f.modseq))
            .collect::<Vec<_>>(),
        [(4, Some(4), Some(s4))],
        "{r}"
    );
    // It subsets the sequence set, never widens it.
    let r = c
        .cmd(&format!("FETCH 1:3 (FLAGS) (CHANGEDSINCE {h0})"))
        .await;
    assert_eq!(
        fetches(&r).iter().map(|f| f.seq).collect::<Vec<_>>(),
        [2],
        "{r}"
    );
    let r = c
        .cmd(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {s4})"))
        .await;
    assert!(fetches(&r).is_empty() && is_ok(&r), "{r}");
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn another_sessions_change_reaches_a_condstore_session_with_uid_and_modseq() {
    let (handle, _store) = start(&["a", "b"]).await;
    let mut aware = Raw::login(&handle).await;
    aware.cmd("ENABLE CONDSTORE").await;
    let r = aware.cmd("SELECT INBOX").await;
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    let mut plain = Raw::login(&handle).await;
    plain.cmd("SELECT INBOX").await;
    let mut writer = Raw::login(&handle).await;
    writer.cmd("SELECT INBOX").await;
    let r = writer.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)").await;
    assert!(is_ok(&r), "{r}");

    // RFC 7162 §3.1.4.2 Example 14, §3.1 and §3.2.4: the unsolicited FETCH carries the
    // new flags, MODSEQ and UID.
    let r = aware.cmd("NOOP").await;
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!((f[0].seq, f[0].uid), (1, Some(1)), "{r}");
    assert!(f[0].has("\\Flagged"), "{r}");
    let m = f[0].modseq.unwrap_or_else(|| panic!("no MODSEQ: {r}"));
    assert!(m > h0, "{r}");
    let r = aware.cmd("FETCH 1 (MODSEQ)").await;
    assert_eq!(fetches(&r)[0].modseq, Some(m), "{r}");

    // A session that never issued a CONDSTORE enabling command gets the plain RFC 3501
    // FETCH: §3.1 makes MODSEQ the answer to the client announcing itself; sending none
    // before is what Dovecot does.
    let r = plain.cmd("NOOP").await;
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert!(f[0].has("\\Flagged") && f[0].modseq.is_none(), "{r}");
    for s in [aware, plain, writer] {
        s.logout().await;
    }
    handle.stop().await;
}

#[tokio::test]
async fn store_unchangedsince_leaves_changed_messages_alone_and_reports_them_modified() {
    let (handle, store) = start(&["a", "b", "c", "d", "e", "f"]).await;
    // UID 1 goes, so message n has UID n+1: MODIFIED's numbers tell which kind they are.
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    inbox.expunge(&[1]).unwrap();
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX (CONDSTORE)").await;
    assert!(untagged(&r).contains(&"* 5 EXISTS"), "{r}");
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT INBOX").await;
    other.cmd("STORE 2,4 +FLAGS.SILENT (\\Flagged)").await;

    // RFC 7162 §3.1.3, Example 6: messages modified since h0 are not touched and their
    // numbers are in MODIFIED on the tagged response; the others are stored and each gets
    // a FETCH with MODSEQ although .SILENT was asked. FLAGS (not +FLAGS) so that the
    // §3.1.12 way of avoiding MODIFIED cannot apply. (OK, not NO, as in Examples 6 and 8
    // and as Dovecot answers.)
    let r = c
        .cmd(&format!(
            "STORE 1:5 (UNCHANGEDSINCE {h0}) FLAGS.SILENT (\\Seen)"
        ))
        .await;
    assert!(tagged(&r).contains(" OK [MODIFIED 2,4]"), "{r}");
    let f = fetches(&r);
    for seq in [1, 3, 5] {
        let x = f.iter().find(|x| x.seq == seq);
        let m = x.and_then(|x| x.modseq);
        assert!(m.is_some_and(|m| m > h0), "message {seq}: {r}");
    }
    // A FETCH for a message that failed (RECOMMENDED, Example 10) shows it unchanged.
    assert!(
        f.iter()
            .filter(|x| x.seq == 2 || x.seq == 4)
            .all(|x| !x.has("\\Seen")),
        "{r}"
    );
    for uid in [2, 4, 6] {
        assert_eq!(
            stored_flags(&store, uid),
            Flags::from([Flag::Seen]),
            "UID {uid}"
        );
    }
    for uid in [3, 5] {
        assert_eq!(
            stored_flags(&store, uid),
            Flags::from([Flag::Flagged]),
            "UID {uid}"
        );
    }

    // UID STORE reports UIDs in MODIFIED (§3.1.3), its FETCHes carry UID (§3.2.4).
    let r = c.cmd("FETCH 1:5 (MODSEQ)").await;
    let hx = fetches(&r).iter().filter_map(|f| f.modseq).max().unwrap();
    other.cmd("STORE 3 +FLAGS.SILENT (\\Answered)").await; // UID 4
    let r = c
        .cmd(&format!(
            "UID STORE 2:6 (UNCHANGEDSINCE {hx}) FLAGS.SILENT (\\Draft)"
        ))
        .await;
    assert!(tagged(&r).contains(" OK [MODIFIED 4]"), "{r}");
    let f = fetches(&r);
    for uid in [2, 3, 5, 6] {
        let x = f.iter().find(|x| x.uid == Some(uid));
        assert!(
            x.and_then(|x| x.modseq).is_some_and(|m| m > hx),
            "UID {uid}: {r}"
        );
    }
    assert_eq!(
        stored_flags(&store, 4),
        Flags::from([Flag::Seen, Flag::Answered])
    );
    for uid in [2, 3, 5, 6] {
        assert_eq!(
            stored_flags(&store, uid),
            Flags::from([Flag::Draft]),
            "UID {uid}"
        );
    }

    // "equal to or less than the specified UNCHANGEDSINCE value" is performed; one less
    // fails.
    let r = c.cmd("FETCH 1 (MODSEQ)").await;
    let m = fetches(&r)[0].modseq.unwrap();
    let r = c
        .cmd(&format!(
            "STORE 1 (UNCHANGEDSINCE {}) FLAGS.SILENT (\\Flagged)",
            m - 1
        ))
        .await;
    assert!(tagged(&r).contains(" [MODIFIED 1]"), "{r}");
    assert_eq!(stored_flags(&store, 2), Flags::from([Flag::Draft]));
    let r = c
        .cmd(&format!(
            "STORE 1 (UNCHANGEDSINCE {m}) FLAGS.SILENT (\\Flagged)"
        ))
        .await;
    assert!(is_ok(&r) && !r.contains("MODIFIED"), "{r}");
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert!(f[0].seq == 1 && f[0].modseq.is_some_and(|n| n > m), "{r}");
    assert_eq!(stored_flags(&store, 2), Flags::from([Flag::Flagged]));

    // Example 8: UNCHANGEDSINCE 0 always fails for a system flag, set or not.
    let r = c
        .cmd("STORE 2 (UNCHANGEDSINCE 0) +FLAGS.SILENT (\\Flagged)")
        .await;
    assert!(tagged(&r).contains(" [MODIFIED 2]"), "{r}");
    let r = c
        .cmd("UID STORE 4 (UNCHANGEDSINCE 0) -FLAGS.SILENT (\\Answered)")
        .await;
    assert!(tagged(&r).contains(" [MODIFIED 4]"), "{r}");
    assert_eq!(stored_flags(&store, 3), Flags::from([Flag::Draft]));
    assert_eq!(
        stored_flags(&store, 4),
        Flags::from([Flag::Seen, Flag::Answered])
    );

    // §3.1.3's note: a message named twice MUST NOT fail the second time because the
    // first time changed it.
    let r = c.cmd("FETCH 1:5 (MODSEQ)").await;
    let hz = fetches(&r).iter().filter_map(|f| f.modseq).max().unwrap();
    let r = c
        .cmd(&format!(
            "STORE 3,1:3 (UNCHANGEDSINCE {hz}) FLAGS.SILENT (\\Answered)"
        ))
        .await;
    assert!(is_ok(&r) && !r.contains("MODIFIED"), "{r}");
    for uid in [2, 3, 4] {
        assert_eq!(
            stored_flags(&store, uid),
            Flags::from([Flag::Answered]),
            "UID {uid}"
        );
    }
    c.logout().await;
    other.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn search_modseq_appends_the_highest_found_and_esearch_reports_it() {
    let (handle, _store) = start(&["a", "b", "c", "d"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("SELECT INBOX (CONDSTORE)").await;
    assert!(is_ok(&r), "{r}");
    let r = c.cmd("FETCH 1:4 (MODSEQ)").await;
    let m: Vec<u64> = fetches(&r).iter().map(|f| f.modseq.unwrap()).collect();
    let r = c.cmd("STORE 2 +FLAGS (\\Seen)").await;
    let s2 = fetches(&r)[0].modseq.unwrap();
    let r = c.cmd("STORE 3 +FLAGS (\\Seen)").await;
    let s3 = fetches(&r)[0].modseq.unwrap();
    assert!(s3 > s2 && s2 > m[3], "{m:?} {s2} {s3}");

    // RFC 7162 §3.1.5 and §3.1.6: "equal to or greater than", and the highest
    // mod-sequence of the messages returned appended (Example 15).
    for (search, want) in [
        (
            format!("SEARCH MODSEQ {s2}"),
            format!("* SEARCH 2 3 (MODSEQ {s3})"),
        ),
        (
            format!("UID SEARCH MODSEQ {s3}"),
            format!("* SEARCH 3 (MODSEQ {s3})"),
        ),
        (
            "SEARCH MODSEQ 0".to_owned(),
            format!("* SEARCH 1 2 3 4 (MODSEQ {s3})"),
        ),
        (
            format!("SEARCH NOT MODSEQ {s2}"),
            format!("* SEARCH 1 4 (MODSEQ {})", m[3]),
        ),
        // A metadata item name is narrowed to or ignored (§3.1.5); \Seen changed on both.
        (
            format!("SEARCH MODSEQ \"/flags/\\\\seen\" all {s2}"),
            format!("* SEARCH 2 3 (MODSEQ {s3})"),
        ),
        // Nothing found: the MODSEQ part is omitted (§3.1.6, Example 16).
        (format!("SEARCH MODSEQ {}", s3 + 1), "* SEARCH".to_owned()),
    ] {
        let r = c.cmd(&search).await;
        assert_eq!(untagged(&r), [want.as_str()], "{search}");
        assert!(is_ok(&r), "{search}: {r}");
    }

    // §3.1.10, Example 19, and RFC 4731 §3.2: ESEARCH carries a MODSEQ result: the
    // found message's for a lone MIN or MAX, else the highest of those returned.
    for (ret, want) in [
        ("SEARCH RETURN (ALL)", format!("ALL 2:3 MODSEQ {s3}")),
        ("SEARCH RETURN (MIN)", format!("MIN 2 MODSEQ {s2}")),
        ("SEARCH RETURN (MAX)", format!("MAX 3 MODSEQ {s3}")),
        ("SEARCH RETURN (COUNT)", format!("COUNT 2 MODSEQ {s3}")),
        (
            "UID SEARCH RETURN (ALL)",
            format!("UID ALL 2:3 MODSEQ {s3}"),
        ),
    ] {
        let tag = c.next_tag();
        let r = c.cmd(&format!("{ret} MODSEQ {s2}")).await;
        assert_eq!(
            untagged(&r),
            [format!("* ESEARCH (TAG \"{tag}\") {want}").as_str()],
            "{ret}"
        );
    }
    // Nothing found: there is no mod-sequence of nothing to report.
    let tag = c.next_tag();
    let r = c
        .cmd(&format!("SEARCH RETURN (ALL) MODSEQ {}", s3 + 1))
        .await;
    assert_eq!(
        untagged(&r),
        [format!("* ESEARCH (TAG \"{tag}\")").as_str()]
    );
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn qresync_select_reports_vanished_earlier_then_changes_for_known_uids_only() {
    let (handle, _store) = start(&["a", "b", "c", "d", "e", "f"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    let r = c.cmd("SELECT INBOX").await;
    let validity = code_num(&r, "UIDVALIDITY").expect("UIDVALIDITY");
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    c.logout().await;

    // While the client is away, another session expunges UIDs 3 and 4 and changes the
    // flags of UIDs 2 and 6.
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT INBOX").await;
    other.cmd("STORE 3:4 +FLAGS.SILENT (\\Deleted)").await;
    other.cmd("EXPUNGE").await;
    other.cmd("UID STORE 2 +FLAGS.SILENT (\\Seen)").await;
    other.cmd("UID STORE 6 +FLAGS.SILENT (\\Flagged)").await;

    // RFC 7162 §3.2.5 (and §6's example): the usual SELECT responses, then VANISHED
    // (EARLIER) for what was expunged since h0, before (§3.2.6) FETCHes with UID, FLAGS
    // and MODSEQ for what changed since h0.
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("ENABLE QRESYNC").await;
    assert!(enabled(&r).contains(&"QRESYNC".to_owned()), "{r}");
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {h0}))"))
        .await;
    assert!(tagged(&r).contains(" OK [READ-WRITE]"), "{r}");
    let lines = untagged(&r);
    assert!(lines.contains(&"* 4 EXISTS"), "{r}");
    assert!(!r.contains("[CLOSED]"), "nothing was selected: {r}");
    let h1 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    assert!(h1 > h0, "{r}");
    assert_eq!(vanished(&r), (vec![3, 4], vec![]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");
    let f = fetches(&r);
    assert_eq!(
        f.iter().map(|f| (f.seq, f.uid)).collect::<Vec<_>>(),
        [(2, Some(2)), (4, Some(6))],
        "{r}"
    );
    assert!(f[0].has("\\Seen") && f[1].has("\\Flagged"), "{r}");
    assert!(
        f.iter()
            .all(|f| f.modseq.is_some_and(|m| m > h0 && m <= h1)),
        "{r}"
    );
    let at_vanished = lines.iter().position(|l| l.starts_with("* VANISHED"));
    let at_fetch = lines.iter().position(|l| l.contains(" FETCH ("));
    assert!(at_vanished < at_fetch, "{r}");

    // With known UIDs, only those are considered (§3.2.5.1: as `UID FETCH known-uids
    // (FLAGS) (CHANGEDSINCE m VANISHED)`, which reports only its set). Closing INBOX by
    // EXAMINE gives CLOSED first (§3.2.11).
    let r = c
        .cmd(&format!("EXAMINE INBOX (QRESYNC ({validity} {h0} 1:3))"))
        .await;
    assert!(untagged(&r)[0].starts_with("* OK [CLOSED]"), "{r}");
    assert_eq!(vanished(&r), (vec![3], vec![]), "{r}");
    let f = fetches(&r);
    assert_eq!(
        f.iter().map(|f| (f.seq, f.uid)).collect::<Vec<_>>(),
        [(2, Some(2))],
        "{r}"
    );

    // A UIDVALIDITY that does not match: the rest is ignored, as if nothing changed
    // (§3.2.5 MUST), the usual responses still sent.
    let wrong = if validity > 1 {
        validity - 1
    } else {
        validity + 1
    };
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({wrong} {h0}))"))
        .await;
    assert!(is_ok(&r), "{r}");
    assert!(untagged(&r).contains(&"* 4 EXISTS"), "{r}");
    assert!(vanished(&r) == NONE && fetches(&r).is_empty(), "{r}");
    assert_eq!(code_num(&r, "UIDVALIDITY"), Some(validity), "{r}");

    // Up to date: no FETCH (nothing changed since h1), and no VANISHED: a server that
    // remembers expunges' mod-sequences (§5.2, §5.3) reports none older; Dovecot doesn't.
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {h1}))"))
        .await;
    assert!(is_ok(&r), "{r}");
    assert!(vanished(&r) == NONE && fetches(&r).is_empty(), "{r}");
    c.logout().await;
    other.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn qresync_parameter_needs_enable_qresync_and_valid_syntax() {
    let (handle, _store) = start(&["a"]).await;
    let mut c = Raw::login(&handle).await;
    let r = c.cmd("STATUS INBOX (UIDVALIDITY HIGHESTMODSEQ)").await;
    let validity = status_item(&r, "UIDVALIDITY");
    let h = status_item(&r, "HIGHESTMODSEQ");
    // RFC 7162 §3.2.5 and §3.2.3: without ENABLE QRESYNC, the QRESYNC parameter MUST get
    // BAD, even after ENABLE CONDSTORE; and the mailbox is not selected.
    let select = format!("SELECT INBOX (QRESYNC ({validity} {h}))");
    let r = c.cmd(&select).await;
    assert!(is_bad(&r), "{r}");
    c.cmd("ENABLE CONDSTORE").await;
    let r = c.cmd(&select).await;
    assert!(is_bad(&r), "{r}");
    let r = c.cmd("FETCH 1 (UID)").await;
    assert!(!is_ok(&r), "no mailbox is selected: {r}");
    // §3.2.6: so does the VANISHED UID FETCH modifier.
    c.cmd("SELECT INBOX").await;
    let r = c
        .cmd(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)"
        ))
        .await;
    assert!(is_bad(&r), "{r}");
    c.logout().await;

    // §3.2.5: arguments are checked for syntax before the mailbox is opened; a bad one
    // gets BAD and the mailbox stays unselected. (§7: uidvalidity is nz-number; known-uids
    // allows no "*"; the mod-sequence is required.)
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    for bad in [
        format!("SELECT INBOX (QRESYNC (0 {h}))"),
        format!("SELECT INBOX (QRESYNC ({validity}))"),
        format!("SELECT INBOX (QRESYNC ({validity} {h} 1:*))"),
        format!("SELECT INBOX (QRESYNC ({validity} x))"),
        format!("EXAMINE INBOX (QRESYNC {validity} {h})"),
    ] {
        let r = c.cmd(&bad).await;
        assert!(is_bad(&r), "{bad}: {r}");
        let r = c.cmd("FETCH 1 (UID)").await;
        assert!(!is_ok(&r), "{bad} selected a mailbox: {r}");
    }
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn with_qresync_expunge_uid_expunge_move_and_others_expunges_answer_vanished() {
    let (handle, store) = start(&["a", "b", "c", "d", "e", "f", "g", "h"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    let r = c.cmd("SELECT INBOX").await;
    let validity = code_num(&r, "UIDVALIDITY").expect("UIDVALIDITY");
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));

    // RFC 7162 §3.2.7 and §3.2.10.2: VANISHED (without EARLIER) instead of EXPUNGE, and
    // the new HIGHESTMODSEQ on the tagged OK.
    c.cmd("STORE 2:3 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(vanished(&r), (vec![], vec![2, 3]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");
    let h1 = code_num(tagged(&r), "HIGHESTMODSEQ").unwrap_or_else(|| panic!("{r}"));
    assert!(h1 > h0, "{r}");

    // §3.2.9: UID EXPUNGE likewise, only for its set.
    c.cmd("UID STORE 1,4 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("UID EXPUNGE 4").await;
    assert_eq!(vanished(&r), (vec![], vec![4]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");
    let h2 = code_num(tagged(&r), "HIGHESTMODSEQ").unwrap_or_else(|| panic!("{r}"));
    assert!(h2 > h1, "{r}");
    assert_eq!(stored_uids(&store), [1, 5, 6, 7, 8]);

    // MOVE's source side (RFC 6851 §4.4 with RFC 7162 §3.2.10.2): VANISHED, and the new
    // HIGHESTMODSEQ on the tagged or an untagged OK.
    let r = c.cmd("UID MOVE 5 Trash").await;
    assert!(is_ok(&r), "{r}");
    assert_eq!(vanished(&r), (vec![], vec![5]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");
    let h3 = code_num(&r, "HIGHESTMODSEQ").unwrap_or_else(|| panic!("{r}"));
    assert!(h3 > h2, "{r}");
    // Message 2 is now UID 6.
    let r = c.cmd("MOVE 2 Trash").await;
    assert_eq!(vanished(&r), (vec![], vec![6]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");

    // §3.2.10.2: "as well as messages expunged in other connections".
    let mut other = Raw::login(&handle).await;
    other.cmd("SELECT INBOX").await;
    other.cmd("UID STORE 7 +FLAGS.SILENT (\\Deleted)").await;
    let r = other.cmd("UID EXPUNGE 7").await;
    assert!(is_ok(&r), "{r}");
    // §3.2.10.2: VANISHED MUST NOT be sent while answering FETCH, STORE or SEARCH.
    for busy in [
        "FETCH 1 (FLAGS)",
        "SEARCH ALL",
        "STORE 1 +FLAGS.SILENT (\\Seen)",
    ] {
        let r = c.cmd(busy).await;
        assert!(is_ok(&r), "{busy}: {r}");
        assert_eq!(vanished(&r), NONE, "{busy}: {r}");
        assert!(!r.contains(" EXPUNGE\r\n"), "{busy}: {r}");
    }
    let r = c.cmd("NOOP").await;
    assert_eq!(vanished(&r), (vec![], vec![7]), "{r}");
    assert!(!r.contains(" EXPUNGE\r\n"), "{r}");

    // §3.2.8: CLOSE expunges UID 1 silently and MUST NOT send HIGHESTMODSEQ.
    let r = c.cmd("CLOSE").await;
    assert!(is_ok(&r), "{r}");
    assert!(untagged(&r).is_empty(), "{r}");
    assert!(!r.contains("HIGHESTMODSEQ"), "{r}");
    assert_eq!(stored_uids(&store), [8]);

    // Every expunge was remembered with its mod-sequence (§3.2.7, §3.2.8, §3.2.9, RFC 6851
    // §4.4): resynchronizing from h0 reports all of them, and no FETCH, as UID 8 is
    // unchanged.
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {h0}))"))
        .await;
    assert_eq!(vanished(&r), ((1..=7).collect(), vec![]), "{r}");
    assert!(fetches(&r).is_empty(), "{r}");

    // §3.2.6: the same through UID FETCH (CHANGEDSINCE m VANISHED), VANISHED (EARLIER)
    // before any FETCH, and only for the UIDs asked.
    c.cmd("UID STORE 8 +FLAGS.SILENT (\\Seen)").await;
    let r = c
        .cmd(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h0} VANISHED)"
        ))
        .await;
    assert!(is_ok(&r), "{r}");
    assert_eq!(vanished(&r), ((1..=7).collect(), vec![]), "{r}");
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!((f[0].seq, f[0].uid), (1, Some(8)), "{r}");
    assert!(
        f[0].has("\\Seen") && f[0].modseq.is_some_and(|m| m > h3),
        "{r}"
    );
    let lines = untagged(&r);
    let at_vanished = lines.iter().position(|l| l.starts_with("* VANISHED"));
    let at_fetch = lines.iter().position(|l| l.contains(" FETCH ("));
    assert!(at_vanished < at_fetch, "{r}");
    let r = c
        .cmd(&format!(
            "UID FETCH 2:4 (FLAGS) (CHANGEDSINCE {h0} VANISHED)"
        ))
        .await;
    assert_eq!(vanished(&r), (vec![2, 3, 4], vec![]), "{r}");
    assert!(fetches(&r).is_empty(), "{r}");
    // Only expunges whose mod-sequence is larger than the one given: UIDs 2 to 4 went at
    // or before h2. (§5.1 lets a server that keeps no such record report them all; yubin
    // keeps it, §5.3, as Dovecot does.)
    let r = c
        .cmd(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {h2} VANISHED)"
        ))
        .await;
    assert_eq!(vanished(&r), (vec![1, 5, 6, 7], vec![]), "{r}");
    assert_eq!(fetches(&r).len(), 1, "{r}");
    c.logout().await;
    other.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn select_while_a_mailbox_is_selected_sends_closed_first() {
    let (handle, _store) = start(&["a"]).await;
    let mut c = Raw::login(&handle).await;
    // RFC 7162 §3.2.11: a server advertising CONDSTORE or QRESYNC MUST send CLOSED when
    // SELECT/EXAMINE closes the selected mailbox, whether or not CONDSTORE was enabled;
    // everything before it is about the old mailbox, everything after about the new.
    let r = c.cmd("SELECT INBOX").await;
    assert!(!r.contains("[CLOSED]"), "nothing was selected: {r}");
    for next in ["EXAMINE Trash", "SELECT INBOX", "SELECT INBOX"] {
        let r = c.cmd(next).await;
        let lines = untagged(&r);
        assert!(lines[0].starts_with("* OK [CLOSED]"), "{next}: {r}");
        assert_eq!(
            lines.iter().filter(|l| l.contains("[CLOSED]")).count(),
            1,
            "{next}: {r}"
        );
        assert!(is_ok(&r), "{next}: {r}");
    }
    // After UNSELECT (or CLOSE) nothing is selected, so the next SELECT closes nothing.
    for leave in ["UNSELECT", "CLOSE"] {
        let r = c.cmd(leave).await;
        assert!(!r.contains("[CLOSED]") && is_ok(&r), "{leave}: {r}");
        let r = c.cmd("SELECT INBOX").await;
        assert!(!r.contains("[CLOSED]"), "after {leave}: {r}");
    }
    c.logout().await;
    handle.stop().await;
}

#[tokio::test]
async fn malformed_modifiers_get_bad_and_change_nothing() {
    let (handle, store) = start(&["a", "b"]).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    let r = c.cmd("SELECT INBOX").await;
    let h = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    // RFC 7162 §7: mod-sequence-value is 1*DIGIT, at most 2^63-1; one UNCHANGEDSINCE per
    // STORE; VANISHED only in UID FETCH (§3.2.6 MUST), and only with CHANGEDSINCE.
    for bad in [
        "FETCH 1:* (FLAGS) (CHANGEDSINCE abc)".to_owned(),
        "FETCH 1:* (FLAGS) (CHANGEDSINCE -1)".to_owned(),
        "FETCH 1:* (FLAGS) (CHANGEDSINCE)".to_owned(),
        "FETCH 1:* (FLAGS) (CHANGEDSINCE 9223372036854775808)".to_owned(),
        "FETCH 1:* (FLAGS) (CHANGEDSINCE 99999999999999999999)".to_owned(),
        format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {h} VANISHED)"),
        "UID FETCH 1:* (FLAGS) (VANISHED)".to_owned(),
        "STORE 1 (UNCHANGEDSINCE abc) +FLAGS (\\Seen)".to_owned(),
        "STORE 1 (UNCHANGEDSINCE) +FLAGS (\\Seen)".to_owned(),
        format!("STORE 1 (UNCHANGEDSINCE {h} UNCHANGEDSINCE {h}) +FLAGS (\\Seen)"),
        "UID STORE 1 (UNCHANGEDSINCE 1x) +FLAGS (\\Seen)".to_owned(),
        "SEARCH MODSEQ abc".to_owned(),
        "SEARCH MODSEQ".to_owned(),
        format!("SEARCH MODSEQ \"/flags/\\\\seen\" bogus {h}"),
    ] {
        let r = c.cmd(&bad).await;
        assert!(is_bad(&r), "{bad}: {r}");
        assert!(fetches(&r).is_empty(), "{bad}: {r}");
    }
    assert!(stored_flags(&store, 1).is_empty());
    assert!(stored_flags(&store, 2).is_empty());
    // The session still works, and nothing moved the mailbox's mod-sequence.
    let r = c.cmd("FETCH 1:2 (MODSEQ)").await;
    let m: Vec<u64> = fetches(&r).iter().map(|f| f.modseq.unwrap()).collect();
    assert_eq!(m.iter().max(), Some(&h), "{r}");
    c.logout().await;
    handle.stop().await;
}

/// A server on the Maildir store under `root`, with the account alice.
async fn serve_maildir(root: &Path) -> (ServerHandle, Store) {
    let store = Store::maildir(root).unwrap();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let handle = serve(
        "127.0.0.1:0".parse().unwrap(),
        store.clone(),
        ImapServerConfig::default(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    (handle, store)
}

#[tokio::test]
async fn modseqs_and_expunges_outlive_a_restart_on_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let (handle, store) = serve_maildir(dir.path()).await;
    let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
    for s in ["a", "b", "c"] {
        inbox.append(&message(s), &Flags::new(), None).unwrap();
    }
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    let r = c.cmd("SELECT INBOX").await;
    let validity = code_num(&r, "UIDVALIDITY").expect("UIDVALIDITY");
    let h0 = untagged_highest(&r).unwrap_or_else(|| panic!("no HIGHESTMODSEQ: {r}"));
    let r = c.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    let m1 = fetches(&r)[0]
        .modseq
        .unwrap_or_else(|| panic!("no MODSEQ: {r}"));
    c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)").await;
    let r = c.cmd("EXPUNGE").await;
    assert_eq!(vanished(&r), (vec![], vec![2]), "{r}");
    let h1 = code_num(tagged(&r), "HIGHESTMODSEQ").unwrap_or_else(|| panic!("{r}"));
    assert!(h1 > m1 && m1 > h0, "{h0} {m1} {h1}");
    c.logout().await;
    handle.stop().await;
    drop((inbox, store));

    // RFC 7162 §3.1.2: HIGHESTMODSEQ is sent only for a mailbox whose mod-sequences are
    // stored persistently, so a restart keeps them: the same HIGHESTMODSEQ, the same
    // per-message MODSEQ.
    let (handle, _store) = serve_maildir(dir.path()).await;
    let mut c = Raw::login(&handle).await;
    c.cmd("ENABLE QRESYNC").await;
    let r = c
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {h0}))"))
        .await;
    assert_eq!(code_num(&r, "UIDVALIDITY"), Some(validity), "{r}");
    assert_eq!(untagged_highest(&r), Some(h1), "{r}");
    // §3.2.5.1 and §3.2.6's note: the expunge since h0 is reported whether the server
    // still remembers its mod-sequence or has to report every expunged UID.
    assert_eq!(vanished(&r), (vec![2], vec![]), "{r}");
    let f = fetches(&r);
    assert_eq!(f.len(), 1, "{r}");
    assert_eq!(
        (f[0].seq, f[0].uid, f[0].modseq),
        (1, Some(1), Some(m1)),
        "{r}"
    );
    assert!(f[0].has("\\Flagged"), "{r}");
    // §3.1: a change after the restart gets a mod-sequence above every one before it.
    let r = c.cmd("STORE 2 +FLAGS (\\Seen)").await;
    let f = fetches(&r);
    assert_eq!((f[0].seq, f[0].uid), (2, Some(3)), "{r}");
    assert!(f[0].modseq.is_some_and(|m| m > h1), "{r}");
    c.logout().await;
    handle.stop().await;
}
