//! The event hub: turns the store's change notifications into events for the streams
//! at `/api/v1/events` and the waits of `?wait=`.
//!
//! Each mailbox has a [`yubin_store::MailboxWatch`] (the notification IMAP IDLE uses);
//! a small task per mailbox forwards "this one changed" to the hub, which reads what
//! changed from the mailbox's view ([`yubin_store::View::changes_since`]) and sends
//! `new`, `update`, `delete` and `stats`. Nothing polls the disk here. Accounts and
//! mailboxes created since are found by looking at the store's in-memory lists every
//! [`crate::WebConfig::account_rescan`].

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};

use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use yubin_store::{Flag, Mailbox, View};

use crate::scope::Opened;
use crate::state::{Shared, WebEvent, WebState};
use crate::tag;

/// The default of [`crate::WebConfig::max_new_events`]: the most `new` events one batch
/// of changes sends; past it, the streams get one `reset` (reload) instead of the hub
/// reading thousands of messages (a bulk import).
pub const MAX_NEW_PER_BATCH: usize = 200;

type Key = (String, String);

struct Watched {
    mailbox: Mailbox,
    /// What the streams were last told about; `None`: nothing yet (a mailbox found
    /// after the start, whose messages are all news).
    seen: Option<Arc<View>>,
    forward: JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

/// Starts the hub for a state; it ends when the state is dropped or shut down.
pub(crate) fn start(state: &WebState) {
    let weak = Arc::downgrade(&state.shared);
    tokio::spawn(run(weak));
}

async fn run(weak: Weak<Shared>) {
    let (tx, mut rx) = mpsc::channel::<Key>(256);
    let mut watched: HashMap<Key, Watched> = HashMap::new();
    let Some((rescan, shutdown)) = weak
        .upgrade()
        .map(|s| (s.config.account_rescan, s.shutdown.clone()))
    else {
        return;
    };
    let mut tick = tokio::time::interval(rescan);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first = true;
    loop {
        tokio::select! {
            // Shut down: the streams end with the server.
            _ = shutdown.cancelled() => return,
            // A mailbox changed.
            Some(key) = rx.recv() => {
                let Some(shared) = weak.upgrade() else { return };
                changed(WebState { shared }, &mut watched, key).await;
            }
            // Time to look for accounts and mailboxes created since.
            _ = tick.tick() => {
                let Some(shared) = weak.upgrade() else { return };
                let state = WebState { shared };
                rescan_all(state.clone(), &mut watched, &tx, first).await;
                if first {
                    state.shared.hub_ready.send_replace(true);
                }
                first = false;
            }
        }
    }
}

async fn rescan_all(
    state: WebState,
    watched: &mut HashMap<Key, Watched>,
    tx: &mpsc::Sender<Key>,
    first: bool,
) {
    let store = state.store().clone();
    let known: BTreeSet<Key> = watched.keys().cloned().collect();
    // Watches are made before the views, so a change in between still wakes the hub.
    let found = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        let mut names = BTreeSet::new();
        for account in store.account_names() {
            let Ok(a) = store.account(&account) else {
                continue;
            };
            for info in a.list().unwrap_or_default() {
                if !info.selectable {
                    continue;
                }
                let key = (account.clone(), info.name.clone());
                names.insert(key.clone());
                if known.contains(&key) {
                    continue;
                }
                let Ok(mailbox) = a.mailbox(&info.name) else {
                    continue;
                };
                let watch = mailbox.watch();
                let view = mailbox.view().ok();
                found.push((key, mailbox, watch, view));
            }
        }
        (found, names)
    })
    .await;
    let Ok((found, names)) = found else { return };
    let gone: Vec<Key> = watched
        .keys()
        .filter(|k| !names.contains(*k))
        .cloned()
        .collect();
    for key in gone {
        if let Some(w) = watched.remove(&key)
            && let Some(view) = &w.seen
        {
            // A deleted (or renamed) mailbox: its messages are gone from this name.
            for uid in view.uids() {
                send(&state, &key, "delete", json!({ "ID": id(&key, view, uid) }));
            }
            stats(&state, &key, None);
        }
    }
    for (key, mailbox, mut watch, view) in found {
        let tx = tx.clone();
        let k = key.clone();
        let forward = tokio::spawn(async move {
            loop {
                watch.changed().await;
                if tx.send(k.clone()).await.is_err() {
                    return;
                }
            }
        });
        let fresh = !first;
        watched.insert(
            key.clone(),
            Watched {
                mailbox,
                seen: if fresh { None } else { view },
                forward,
            },
        );
        if fresh {
            changed(state.clone(), watched, key).await;
        }
    }
}

async fn changed(state: WebState, watched: &mut HashMap<Key, Watched>, key: Key) {
    let Some(w) = watched.get_mut(&key) else {
        return;
    };
    let mailbox = w.mailbox.clone();
    let seen = w.seen.clone();
    let listening = state.shared.events.receiver_count() > 0;
    let st = state.clone();
    let k = key.clone();
    let done = tokio::task::spawn_blocking(move || {
        let view = mailbox.view().ok()?;
        let diff = diff(seen.as_deref(), &view);
        let mut events = Vec::new();
        if !listening {
            return Some((view, events));
        }
        let opened = Opened {
            account: k.0.clone(),
            mailbox,
            name: k.1.clone(),
            view: view.clone(),
        };
        if diff.added.len() > st.config().max_new_events {
            events.push(("reset", json!({})));
        } else {
            for uid in &diff.added {
                if let Some(meta) = view.get(*uid)
                    && let Some(summary) = crate::scope::summary(&st, &opened, &meta)
                {
                    events.push(("new", serde_json::to_value(summary).unwrap_or_default()));
                }
            }
        }
        for uid in &diff.flagged {
            if let Some(flags) = view.flags(*uid) {
                events.push((
                    "update",
                    json!({ "ID": id(&k, &view, *uid), "Read": flags.contains(&Flag::Seen), "Tags": tag::tags_of(flags) }),
                ));
            }
        }
        if let Some(old) = &seen {
            for uid in &diff.expunged {
                events.push(("delete", json!({ "ID": id(&k, old, *uid) })));
            }
        }
        Some((view, events))
    })
    .await;
    let Ok(Some((view, events))) = done else {
        return;
    };
    let any = !events.is_empty();
    for (name, data) in events {
        send(&state, &key, name, data);
    }
    if any {
        stats(&state, &key, Some(&view));
    }
    if let Some(w) = watched.get_mut(&key) {
        w.seen = Some(view);
    }
}

fn id(key: &Key, view: &View, uid: u32) -> String {
    crate::id::MessageId {
        account: key.0.clone(),
        mailbox: key.1.clone(),
        uid_validity: view.status().uid_validity,
        uid,
    }
    .encode()
}

fn send(state: &WebState, key: &Key, name: &str, data: serde_json::Value) {
    // No receiver is not an error: nobody is listening.
    let _ = state.shared.events.send(WebEvent {
        name: name.to_owned(),
        data,
        scope: Some(key.clone()),
    });
}

/// Tells the streams that counts changed in this mailbox; each stream answers its
/// client with the counts of its own scope.
fn stats(state: &WebState, key: &Key, view: Option<&View>) {
    let (total, unread) = view.map_or((0, 0), |v| {
        let s = v.status();
        (s.messages, s.unseen)
    });
    send(
        state,
        key,
        "stats",
        json!({ "Total": total, "Unread": unread }),
    );
}

/// What changed between two snapshots of one mailbox.
#[derive(Debug, Default, PartialEq, Eq)]
struct Diff {
    added: Vec<u32>,
    flagged: Vec<u32>,
    expunged: Vec<u32>,
}

fn diff(old: Option<&View>, new: &View) -> Diff {
    let mut d = Diff::default();
    let Some(old) = old.filter(|o| o.status().uid_validity == new.status().uid_validity) else {
        // Nothing known, or a new UIDVALIDITY (RFC 3501 §2.3.1.1): every message is new,
        // and the old ones (under the old IDs) are gone.
        d.added = new.uids().collect();
        if let Some(o) = old {
            d.expunged = o.uids().collect();
        }
        return d;
    };
    let since = old.highest_modseq();
    let mut touched: BTreeSet<u32> = BTreeSet::new();
    match new.changes_since(since) {
        Some(changes) => touched.extend(changes.map(|c| c.uid)),
        // The change log does not reach back that far: compare the snapshots.
        None => {
            touched.extend(old.uids().filter(|u| !new.contains(*u)));
            touched.extend(
                new.uids()
                    .filter(|u| new.modseq(*u).is_some_and(|m| m > since)),
            );
        }
    }
    for uid in touched {
        match (old.contains(uid), new.contains(uid)) {
            (false, true) => d.added.push(uid),
            (true, true) => d.flagged.push(uid),
            (true, false) => d.expunged.push(uid),
            (false, false) => {}
        }
    }
    d
}
