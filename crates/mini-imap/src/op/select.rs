//! SELECT and EXAMINE (RFC 3501 §6.3.1, §6.3.2) with CONDSTORE's HIGHESTMODSEQ and
//! QRESYNC's resynchronization (RFC 7162 §3.1.2.1, §3.2.5), and CLOSE (§6.4.2). UNSELECT
//! (RFC 3691) only leaves the selected state, which the session does.

use std::collections::{BTreeMap, BTreeSet};

use yubin_store::{Account, ChangeKind, Flag};

use crate::capability::Enabled;
use crate::command::{QResync, SequenceSet};
use crate::mailbox_name::NameForm;
use crate::mime::InfoCache;
use crate::response::{Code, Completion, Data, FetchItem, Responses};
use crate::selected::Selected;

/// Opens `name` and tells the client what it needs (FLAGS, EXISTS, RECENT, UNSEEN,
/// UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, PERMANENTFLAGS), or says why it cannot.
///
/// HIGHESTMODSEQ goes out with every SELECT, CONDSTORE or not: RFC 7162 §3.1.2.1 asks it
/// of a server whose mailboxes keep modseqs, and a client that does not know the code
/// ignores it (RFC 3501 §7.1). With `qresync` (the session has checked it is enabled),
/// what changed since the client's HIGHESTMODSEQ follows: `* VANISHED (EARLIER)` and a
/// FETCH of each changed message.
///
/// Once IMAP4rev2 is `enabled` (RFC 9051 §6.3.2): no RECENT and no UNSEEN code
/// (Appendix E items 11 and 12, deprecated; Appendix A: a server that advertises both
/// revisions would never return removed responses "unless explicitly requested by an
/// IMAPrev1 client"), and the REQUIRED untagged LIST of the mailbox (item 10).
pub fn select(
    account: &Account,
    name: &str,
    examine: bool,
    qresync: Option<&QResync>,
    enabled: Enabled,
    out: &mut Responses,
) -> Result<(Box<Selected>, Completion), Completion> {
    let rev2 = enabled.imap4rev2();
    let command = if examine { "EXAMINE" } else { "SELECT" };
    let (mailbox, view) = account
        .mailbox(name)
        .and_then(|m| {
            let view = m.view()?;
            Ok((m, view))
        })
        .map_err(|e| Completion::store_failed(command, &e))?;
    // The view's own list, shared: SELECT copies nothing, whatever the mailbox's size.
    let uids = view.seq();
    // EXAMINE changes nothing, not even \Recent (§6.3.2): it only looks at which
    // messages are recent; SELECT claims them for this session.
    let first_recent = if examine {
        view.header().recent_from
    } else {
        mailbox.claim_recent()
    };
    let recent: BTreeSet<u32> = view.uids_after(first_recent.saturating_sub(1)).collect();
    let st = view.status();
    let keywords: BTreeSet<String> = view.keywords().map(str::to_owned).collect();
    let first_unseen = view.first_unseen().and_then(|u| uids.position(u).ok());
    let selected = Box::new(Selected {
        mailbox,
        read_only: examine,
        uid_validity: st.uid_validity,
        uids,
        view,
        ghosts: BTreeMap::new(),
        own: BTreeMap::new(),
        recent,
        hide_recent: rev2,
        keywords,
        cache: InfoCache::default(),
        saved: BTreeSet::new(),
        contexts: Vec::new(),
        deferred_flags: Default::default(),
        made_here: Default::default(),
        owed_fetch: BTreeMap::new(),
    });
    out.data(Data::Flags(&selected.keywords));
    out.data(Data::Exists(selected.len() as u32));
    if rev2 {
        // The canonical name: `inbox` is INBOX (RFC 3501 §5.1).
        let canonical = selected.mailbox.name();
        super::list::selected_mailbox(account, &canonical, NameForm::of(enabled), out);
    } else {
        out.data(Data::Recent(selected.recent.len() as u32));
        if let Some(pos) = first_unseen {
            out.info(Code::Unseen(pos as u32 + 1), "First unseen");
        }
    }
    out.info(Code::UidValidity(st.uid_validity), "UIDs valid");
    out.info(Code::UidNext(st.uid_next), "Predicted next UID");
    out.info(Code::HighestModSeq(st.highest_modseq), "Highest");
    let permanent = Code::PermanentFlags {
        keywords: selected.keywords.iter().cloned().collect(),
        writable: !examine,
    };
    if examine {
        out.info(permanent, "Read-only mailbox");
    } else {
        out.info(permanent, "Flags permitted");
    }
    if let Some(q) = qresync
        && q.uid_validity == st.uid_validity
    {
        resynchronize(&selected, q, out);
    }
    let code = if examine {
        Code::ReadOnly
    } else {
        Code::ReadWrite
    };
    Ok((selected, Completion::done(command).with_code(code)))
}

/// RFC 7162 §3.2.5.1: what the client missed since its HIGHESTMODSEQ, when its
/// UIDVALIDITY still holds: the UIDs expunged since (among those it says it knows), then
/// each message changed since with its UID, flags and MODSEQ.
fn resynchronize(sel: &Selected, q: &QResync, out: &mut Responses) {
    let all = SequenceSet::from_ranges(vec![(1, u32::MAX)]);
    let known = q.known_uids.as_ref().unwrap_or(&all);
    let gone = super::vanished(&sel.view, known, sel.largest_uid(), q.modseq);
    if !gone.0.is_empty() {
        out.data(Data::Vanished {
            earlier: true,
            uids: gone,
        });
    }
    // What changed, from the view's change list when it reaches back that far (the
    // cost is what changed), else by looking at every message's modseq.
    let changed: Vec<u32> = match sel.view.changes_since(q.modseq) {
        Some(changes) => changes
            .filter(|c| c.kind != ChangeKind::Expunged)
            .map(|c| c.uid)
            .collect::<BTreeSet<u32>>()
            .into_iter()
            .collect(),
        None => sel
            .view
            .iter()
            .filter(|m| m.modseq > q.modseq)
            .map(|m| m.uid)
            .collect(),
    };
    // §3.2.5.1: the answer is what `UID FETCH known-uids (FLAGS) (CHANGEDSINCE modseq
    // VANISHED)` would give, so the known UIDs bound the FETCHes too.
    for uid in changed.into_iter().filter(|&u| known.contains(u, u32::MAX)) {
        let (Ok(pos), Some(meta)) = (sel.uids.position(uid), sel.view.get(uid)) else {
            continue;
        };
        out.data(Data::Fetch {
            seq: pos as u32 + 1,
            items: vec![
                FetchItem::Uid(uid),
                FetchItem::Flags(sel.flag_list(uid, &meta.flags)),
                FetchItem::ModSeq(meta.modseq),
            ],
        });
    }
}

/// CLOSE: silently expunges the `\Deleted` messages, unless the mailbox is read-only
/// (RFC 3501 §6.4.2); no EXPUNGE responses are sent.
pub fn close(sel: &Selected) {
    if sel.read_only {
        return;
    }
    let now = sel.mailbox.view().unwrap_or_else(|_| sel.view.clone());
    let deleted: Vec<u32> = now
        .iter()
        .filter(|m| m.flags.contains(&Flag::Deleted))
        .map(|m| m.uid)
        .collect();
    if !deleted.is_empty()
        && let Err(e) = sel.mailbox.expunge(&deleted)
    {
        tracing::warn!(error = %e, "CLOSE could not expunge");
    }
}
