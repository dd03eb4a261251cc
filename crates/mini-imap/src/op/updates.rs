//! Telling a selected session what other sessions changed (RFC 3501 §5.2, §7.3.1, §7.4.1).
//!
//! There is one mechanism: the selected state keeps the store's view as of the last
//! report (a shared snapshot, not a copy) and the UIDs in sequence order, what the client
//! has been told; [`report`] asks the view for the changes since that snapshot's modseq
//! ([`yubin_store::View::changes_since`]), so it costs what changed, not the size of the
//! mailbox. Every kind of change ends up here, whoever made it: another IMAP session's
//! APPEND, STORE or EXPUNGE, an SMTP delivery, a POP3 commit, this session's own EXPUNGE
//! or MOVE, another program writing the Maildir. The store's
//! [`yubin_store::MailboxWatch`] only says *that* something changed; IDLE uses it to know
//! when to look.
//!
//! Sequence numbers stay consistent because the numbering only changes as the client is
//! told: a message removed from the store stays in it (a "ghost") until its `EXPUNGE` is
//! sent, so while EXPUNGE is withheld the numbers the client uses still mean what it
//! thinks they mean.
//!
//! When (RFC 3501 §7.4.1): EXPUNGE never while no command is in progress (IDLE excepted)
//! and never during FETCH, STORE or SEARCH; yubin also withholds it during their UID
//! forms, which RFC 3501 would allow, because a client that pipelines a sequence-number
//! command right behind one could misread it. EXISTS, RECENT and FETCH FLAGS may go
//! out with any command. The session adds the report to the end of every command in the
//! selected state, after the command's own data and before its tagged completion
//! ([`crate::response::Responses`]), so a command's own sequence numbers are read
//! against the state the client knew.

use std::collections::BTreeSet;

use yubin_store::ChangeKind;

use crate::capability::Enabled;
use crate::command::SequenceSet;
use crate::response::{Data, FetchItem, Responses};
use crate::selected::Selected;

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

/// What a report may say: RFC 3501 §7.4.1 withholds EXPUNGE during some commands, and a
/// NOTIFY push tells only the events the client asked for (RFC 5465 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow {
    /// EXPUNGE (or VANISHED); without it vanished messages stay as ghosts.
    pub expunge: bool,
    /// FETCH FLAGS of changed messages; without it they wait in
    /// [`Selected::deferred_flags`] for a report that may say them.
    pub flags: bool,
    /// Every FETCH update carries the UID (NOTIFY, RFC 5465 §5.1: the FETCH "MUST
    /// include UID and FLAGS").
    pub uid: bool,
}

impl Allow {
    /// Everything (the end of most commands, NOOP, IDLE).
    pub const ALL: Allow = Allow {
        expunge: true,
        flags: true,
        uid: false,
    };
    /// Everything but EXPUNGE (FETCH, STORE, SEARCH and their UID forms).
    pub const NO_EXPUNGE: Allow = Allow {
        expunge: false,
        flags: true,
        uid: false,
    };
}

/// Appends the untagged responses that bring the client from what it was told to the
/// store's current state, and moves the session's view forward. What `allow` withholds
/// is kept for a later report. Returns the UIDs of the messages new to the client.
///
/// Order: EXPUNGE, highest number first so that each number is right when it is read
/// (with QRESYNC one `VANISHED` listing their UIDs, RFC 7162 §3.2.10); then FLAGS and
/// PERMANENTFLAGS if a keyword is new to the client; then FETCH FLAGS of changed
/// messages (with CONDSTORE also their UID and MODSEQ, §3.1); then EXISTS and RECENT for
/// new ones.
pub fn report(sel: &mut Selected, allow: Allow, enabled: Enabled, out: &mut Responses) -> Vec<u32> {
    let expunge = allow.expunge;
    let Ok(now) = sel.mailbox.view() else {
        // Deleted under us: nothing sensible to compare with; commands will say NO.
        return Vec::new();
    };
    let since = sel.view.highest_modseq();
    let mut vanished: Vec<u32> = Vec::new();
    let mut flagged: BTreeSet<u32> = BTreeSet::new();
    if now.highest_modseq() != since {
        match now.changes_since(since) {
            Some(changes) => {
                for c in changes {
                    match c.kind {
                        ChangeKind::Expunged => vanished.push(c.uid),
                        ChangeKind::Flags if sel.own.get(&c.uid) != Some(&c.modseq) => {
                            flagged.insert(c.uid);
                        }
                        ChangeKind::Flags | ChangeKind::Added => {}
                    }
                }
            }
            // Too far behind for the change list: compare UIDs and modseqs instead.
            None => {
                for uid in sel.uids.iter() {
                    match now.modseq(uid) {
                        None => vanished.push(uid),
                        Some(m) if m > since && sel.own.get(&uid) != Some(&m) => {
                            flagged.insert(uid);
                        }
                        Some(_) => {}
                    }
                }
            }
        }
    }
    // Messages the client knows of that left the store become ghosts.
    for uid in vanished {
        if sel.uids.position(uid).is_ok() && !sel.ghosts.contains_key(&uid) {
            let meta = sel.view.get(uid).unwrap_or(yubin_store::MessageMeta {
                uid,
                flags: Default::default(),
                internal_date: Default::default(),
                size: 0,
                modseq: 0,
            });
            sel.ghosts.insert(uid, meta);
        }
    }
    if expunge && !sel.ghosts.is_empty() {
        // RFC 5267 §4.3.4: an update context's REMOVEFROM goes before the EXPUNGE that
        // renumbers what follows.
        let gone: std::collections::BTreeSet<u32> = sel.ghosts.keys().copied().collect();
        super::context::before_expunge(sel, &gone, out);
        let mut positions: Vec<usize> = sel
            .ghosts
            .keys()
            .filter_map(|&uid| sel.uids.position(uid).ok())
            .collect();
        positions.sort_unstable();
        if enabled.qresync() {
            // RFC 7162 §3.2.10: once QRESYNC is enabled, VANISHED replaces EXPUNGE.
            let uids = SequenceSet::from_sorted(sel.ghosts.keys().copied());
            if !positions.is_empty() {
                out.data(Data::Vanished {
                    earlier: false,
                    uids,
                });
            }
        } else {
            for &pos in positions.iter().rev() {
                out.data(Data::Expunge(pos as u32 + 1));
            }
        }
        let ghosts = std::mem::take(&mut sel.ghosts);
        sel.uids.retain(|uid| !ghosts.contains_key(uid));
        for uid in ghosts.keys() {
            sel.recent.remove(uid);
        }
    }
    if allow.flags {
        flagged.extend(std::mem::take(&mut sel.deferred_flags));
        // Keywords set by others (on changed or new messages) are announced before a
        // FETCH shows them (RFC 3501 §7.2.6); the view knows every keyword any message
        // has had.
        sel.announce(now.keywords(), out);
    } else {
        sel.deferred_flags.append(&mut flagged);
    }
    for uid in flagged {
        if sel.ghosts.contains_key(&uid) {
            continue;
        }
        let (Ok(pos), Some(flags)) = (sel.uids.position(uid), now.flags(uid)) else {
            continue;
        };
        let flags = FetchItem::Flags(sel.flag_list(uid, flags));
        let items = match now.modseq(uid) {
            Some(modseq) if enabled.condstore() => {
                vec![FetchItem::Uid(uid), flags, FetchItem::ModSeq(modseq)]
            }
            // RFC 9051 Appendix E item 21: "All unsolicited FETCH updates are required
            // to include UID."
            _ if enabled.imap4rev2() || allow.uid => vec![FetchItem::Uid(uid), flags],
            _ => vec![flags],
        };
        out.data(Data::Fetch {
            seq: pos as u32 + 1,
            items,
        });
    }
    let new: Vec<u32> = now.uids_after(sel.largest_uid()).collect();
    if !new.is_empty() {
        if !sel.read_only {
            let first = sel.mailbox.claim_recent();
            sel.recent.extend(new.iter().filter(|&&u| u >= first));
        }
        for &uid in &new {
            sel.uids.insert(uid);
        }
        out.data(Data::Exists(sel.uids.len() as u32));
        if !sel.hide_recent {
            out.data(Data::Recent(sel.recent.len() as u32));
        }
    }
    let highest = now.highest_modseq();
    sel.own.retain(|_, m| *m > highest);
    // A report that changes nothing (ghosts withheld by SELECTED-DELAYED stay as they
    // were) leaves the contexts as they are: their searches are not run again.
    let changed = sel.view.highest_modseq() != highest;
    sel.view = now;
    // RFC 5267 §4.3.3: ADDTO after the EXISTS that makes new numbers valid.
    if changed {
        super::context::refresh(sel, &new, out);
    }
    new
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use yubin_core::Secret;
    use yubin_store::{Flag, FlagOp, Flags, Store};

    use crate::session::{After, Session};

    fn say(s: &mut Session, line: &str) -> String {
        String::from_utf8(s.handle_frame(line.as_bytes()).bytes.to_vec()).unwrap()
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
        let mut s = Session::new(store.clone(), Arc::default(), Default::default()).0;
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
        assert_eq!(&out.bytes[..], b"+ idling\r\n");
        assert!(s.idle_poll().is_empty());
        let inbox = store.account("alice").unwrap().mailbox("INBOX").unwrap();
        inbox.expunge(&[1]).unwrap();
        assert_eq!(s.idle_poll(), b"* 1 EXPUNGE\r\n");
        let out = s.handle_frame(b"DONE\r\n");
        assert_eq!(&out.bytes[..], b"i OK IDLE terminated\r\n");
        assert_eq!(out.after, After::Continue);
        assert!(s.idle_poll().is_empty(), "no pushes once IDLE has ended");
    }
}
