//! Telling a selected session what other sessions changed (RFC 3501 §5.2, §7.3.1, §7.4.1).
//!
//! There is one mechanism: the selected state keeps a snapshot of the mailbox (UIDs and
//! flags in sequence order, what the client has been told), and [`report`] diffs it
//! against [`yubin_store::Mailbox::messages`]. Every kind of change ends up here, whoever
//! made it: another IMAP session's APPEND, STORE or EXPUNGE, an SMTP delivery, a POP3
//! commit, this session's own EXPUNGE or MOVE. The store's [`yubin_store::MailboxWatch`]
//! only says *that* something changed; IDLE uses it to know when to diff.
//!
//! Sequence numbers stay consistent because the snapshot only changes as the client is
//! told: a message removed from the store stays in the snapshot (a "ghost") until its
//! `EXPUNGE` is sent, so while EXPUNGE is withheld the numbers the client uses still
//! mean what it thinks they mean.
//!
//! When (RFC 3501 §7.4.1): EXPUNGE never while no command is in progress (IDLE excepted)
//! and never during FETCH, STORE or SEARCH; yubin also withholds it during their UID
//! forms, which RFC 3501 would allow, because a client that pipelines a sequence-number
//! command right behind one could misread it. EXISTS, RECENT and FETCH FLAGS may go
//! out with any command. The session adds the report to the end of every command in the
//! selected state, just before the tagged completion ([`insert_before_completion`]), so
//! a command's own sequence numbers are read against the state the client knew.

use std::collections::BTreeSet;

use yubin_store::MessageMeta;

use crate::response::untagged;
use crate::session::Selected;

/// Which updates a command may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Updates {
    /// None: the command reports on its own (NOOP, SELECT) or leaves the selected state.
    None,
    /// EXISTS, RECENT and FETCH FLAGS, but no EXPUNGE (FETCH, STORE, SEARCH, UID forms).
    NoExpunge,
    /// Everything.
    All,
}

/// Appends the untagged responses that bring the client from the snapshot to the
/// store's current state, and updates the snapshot to match. With `expunge` false,
/// vanished messages stay in the snapshot and nothing about them is said.
///
/// Order: EXPUNGE, highest number first so that each number is right when it is read;
/// then FETCH FLAGS of changed messages; then EXISTS and RECENT for new ones.
pub fn report(sel: &mut Selected, expunge: bool, b: &mut Vec<u8>) {
    let Ok(now) = sel.mailbox.messages() else {
        // Deleted under us: nothing sensible to diff against; commands will say NO.
        return;
    };
    if expunge {
        let present: BTreeSet<u32> = now.iter().map(|m| m.uid).collect();
        for seq in (1..=sel.messages.len()).rev() {
            if !present.contains(&sel.messages[seq - 1].uid) {
                untagged(b, &format!("{seq} EXPUNGE"));
                let gone = sel.messages.remove(seq - 1);
                sel.recent.remove(&gone.uid);
            }
        }
    }
    // Both lists ascend by UID: walk them together.
    let last_uid = sel.messages.last().map_or(0, |m| m.uid);
    let mut by_uid = now.iter().peekable();
    for i in 0..sel.messages.len() {
        let uid = sel.messages[i].uid;
        while by_uid.peek().is_some_and(|n| n.uid < uid) {
            by_uid.next();
        }
        if let Some(n) = by_uid.peek()
            && n.uid == uid
            && n.flags != sel.messages[i].flags
        {
            sel.messages[i].flags = n.flags.clone();
            let flags = sel.flag_list(&sel.messages[i]);
            untagged(b, &format!("{} FETCH (FLAGS {flags})", i + 1));
        }
    }
    let new: Vec<MessageMeta> = now.into_iter().filter(|m| m.uid > last_uid).collect();
    if !new.is_empty() {
        if !sel.read_only {
            let first = sel.mailbox.claim_recent();
            sel.recent
                .extend(new.iter().filter(|m| m.uid >= first).map(|m| m.uid));
        }
        sel.messages.extend(new);
        untagged(b, &format!("{} EXISTS", sel.messages.len()));
        untagged(b, &format!("{} RECENT", sel.recent.len()));
    }
}

/// Inserts `updates` before the last line of `b`, the command's tagged completion
/// (a tagged line never contains CRLF, and everything before it ends with one).
pub fn insert_before_completion(b: &mut Vec<u8>, updates: &[u8]) {
    if updates.is_empty() {
        return;
    }
    let body = b.strip_suffix(b"\r\n").unwrap_or(b);
    let start = memchr::memmem::rfind(body, b"\r\n").map_or(0, |i| i + 2);
    b.splice(start..start, updates.iter().copied());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use yubin_core::{Secret, Transcript};
    use yubin_store::{Flag, FlagOp, Flags, Store};

    use super::*;
    use crate::session::{After, Session};

    fn say(s: &mut Session, line: &str) -> String {
        String::from_utf8(s.handle_frame(line.as_bytes()).bytes).unwrap()
    }

    /// A store with three messages in alice's INBOX, and a session that selected it.
    fn selected() -> (Store, Session) {
        let store = Store::memory();
        store.add_account("alice", Secret::from("secret")).unwrap();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        for s in ["one", "two", "three"] {
            let m = format!("Subject: {s}\r\n\r\n{s}\r\n");
            inbox.append(m.as_bytes(), &Flags::new(), None).unwrap();
        }
        let mut s = Session::new(
            store.clone(),
            Arc::default(),
            Default::default(),
            Transcript::disabled(),
        )
        .0;
        say(&mut s, "a LOGIN alice secret\r\n");
        say(&mut s, "b SELECT INBOX\r\n");
        (store, s)
    }

    #[test]
    fn changes_by_others_are_reported_when_rfc_3501_allows() {
        let (store, mut s) = selected();
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        inbox.expunge(&[2]).unwrap();
        inbox
            .set_flags(&[3], FlagOp::Add, &Flags::from([Flag::Flagged]))
            .unwrap();
        inbox
            .append(b"Subject: four\r\n\r\n", &Flags::new(), None)
            .unwrap();
        // FETCH: flags and the new message, no EXPUNGE; the ghost keeps number 2.
        let r = say(&mut s, "c FETCH 2:3 (UID)\r\n");
        assert_eq!(
            r,
            "* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\n\
             * 3 FETCH (FLAGS (\\Flagged \\Recent))\r\n* 4 EXISTS\r\n* 4 RECENT\r\n\
             c OK FETCH completed\r\n"
        );
        // Any other command may carry the EXPUNGE; the numbers then shift.
        let r = say(&mut s, "d CAPABILITY\r\n");
        assert!(r.contains("* 2 EXPUNGE\r\nd OK"), "{r}");
        let r = say(&mut s, "e FETCH 3 (UID)\r\n");
        assert_eq!(r, "* 3 FETCH (UID 4)\r\ne OK FETCH completed\r\n");
    }

    #[test]
    fn idle_pushes_updates_and_done_ends_it() {
        let (store, mut s) = selected();
        let out = s.handle_frame(b"i IDLE\r\n");
        assert_eq!(out.after, After::Idle);
        assert_eq!(out.bytes, b"+ idling\r\n");
        assert!(s.idle_poll().is_empty());
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        inbox.expunge(&[1]).unwrap();
        assert_eq!(s.idle_poll(), b"* 1 EXPUNGE\r\n");
        let out = s.handle_frame(b"DONE\r\n");
        assert_eq!(out.bytes, b"i OK IDLE terminated\r\n");
        assert_eq!(out.after, After::Continue);
        assert!(s.idle_poll().is_empty(), "no pushes once IDLE has ended");
    }

    #[test]
    fn updates_go_before_the_tagged_line() {
        let mut b = b"* 1 FETCH (BODY[] {2}\r\n\r\n)\r\na OK done\r\n".to_vec();
        insert_before_completion(&mut b, b"* 3 EXISTS\r\n");
        assert_eq!(
            b,
            b"* 1 FETCH (BODY[] {2}\r\n\r\n)\r\n* 3 EXISTS\r\na OK done\r\n"
        );
        let mut b = b"a OK done\r\n".to_vec();
        insert_before_completion(&mut b, b"* 1 EXPUNGE\r\n");
        assert_eq!(b, b"* 1 EXPUNGE\r\na OK done\r\n");
    }
}
