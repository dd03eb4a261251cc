//! Which mailboxes a request sees (`?account=`, `?mailbox=`), and the messages in them,
//! newest first. Blocking: call from `spawn_blocking`.

use std::sync::Arc;

use chrono::SecondsFormat;
use serde::Deserialize;
use yubin_store::{Flag, Mailbox, MessageMeta, Store, StoreError, View};

use crate::decode::Parsed;
use crate::error::{ApiError, ApiResult};
use crate::id::MessageId;
use crate::shape::Summary;
use crate::state::WebState;
use crate::tag;

/// The mailbox every request sees unless it names another.
pub const INBOX: &str = "INBOX";

/// The scope parameters of a request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ScopeQuery {
    /// One account (matched as logins are); all when absent.
    pub account: Option<String>,
    /// The mailbox, INBOX when absent.
    pub mailbox: Option<String>,
}

impl ScopeQuery {
    /// Whether an event about this account and mailbox is in scope.
    pub fn covers(&self, store: &Store, account: &str, mailbox: &str) -> bool {
        let wanted_box = self.mailbox.as_deref().unwrap_or(INBOX);
        let box_ok = yubin_store::name::canonical_mailbox(wanted_box).is_ok_and(|m| m == mailbox);
        let account_ok = match &self.account {
            Some(a) => store.login_name(a).eq_ignore_ascii_case(account),
            None => true,
        };
        box_ok && account_ok
    }
}

/// One mailbox in scope, with a snapshot of it.
pub struct Opened {
    /// The account's name.
    pub account: String,
    /// The mailbox.
    pub mailbox: Mailbox,
    /// Its name.
    pub name: String,
    /// The snapshot every message of this request is read against.
    pub view: Arc<View>,
}

impl Opened {
    /// The ID of a message here.
    pub fn id(&self, uid: u32) -> MessageId {
        MessageId {
            account: self.account.clone(),
            mailbox: self.name.clone(),
            uid_validity: self.view.status().uid_validity,
            uid,
        }
    }
}

/// The existing account a name means (as a login would), without creating one.
pub fn find_account(store: &Store, name: &str) -> Option<String> {
    let wanted = store.login_name(name);
    let names = store.account_names();
    names
        .iter()
        .find(|n| n.as_str() == wanted)
        .or_else(|| names.iter().find(|n| n.eq_ignore_ascii_case(wanted)))
        .cloned()
}

/// Opens the mailboxes of a scope. With an account named, a missing account or mailbox
/// is 404; over all accounts, accounts without that mailbox are left out.
pub fn open(store: &Store, q: &ScopeQuery) -> ApiResult<Vec<Opened>> {
    let mailbox = q.mailbox.as_deref().unwrap_or(INBOX);
    let mailbox = yubin_store::name::canonical_mailbox(mailbox)?;
    let accounts = match &q.account {
        Some(name) => vec![
            find_account(store, name)
                .ok_or_else(|| ApiError::NotFound(format!("no such account: {name}")))?,
        ],
        None => store.account_names(),
    };
    let mut out = Vec::new();
    for account in accounts {
        let opened = store
            .account(&account)
            .and_then(|a| a.mailbox(&mailbox))
            .and_then(|m| Ok((m.view()?, m)));
        match opened {
            Ok((view, m)) => out.push(Opened {
                account,
                name: mailbox.clone(),
                mailbox: m,
                view,
            }),
            Err(StoreError::NoSuchMailbox(_) | StoreError::NoSuchAccount(_))
                if q.account.is_none() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// Opens the mailbox an ID names and checks the message is there (same UIDVALIDITY,
/// UID present). The account must exist: an ID never creates one.
pub fn open_id(store: &Store, id: &MessageId) -> ApiResult<Opened> {
    let gone = || ApiError::NotFound(format!("message not found: {}", id.encode()));
    let account = find_account(store, &id.account)
        .filter(|a| *a == id.account)
        .ok_or_else(gone)?;
    let mailbox = store
        .account(&account)
        .and_then(|a| a.mailbox(&id.mailbox))
        .map_err(|_| gone())?;
    let view = mailbox.view().map_err(|_| gone())?;
    if view.status().uid_validity != id.uid_validity || !view.contains(id.uid) {
        return Err(gone());
    }
    Ok(Opened {
        account,
        name: id.mailbox.clone(),
        mailbox,
        view,
    })
}

/// A message in scope: which opened mailbox, and its metadata.
pub struct Entry {
    /// Index into the opened mailboxes.
    pub at: usize,
    /// The store's metadata.
    pub meta: MessageMeta,
}

impl Entry {
    /// `\Seen`.
    pub fn read(&self) -> bool {
        self.meta.flags.contains(&Flag::Seen)
    }
}

/// Every message in the opened mailboxes, newest first (internal date, then account,
/// then UID), from the snapshots: no message is read.
pub fn entries(opened: &[Opened]) -> Vec<Entry> {
    let mut all: Vec<Entry> = opened
        .iter()
        .enumerate()
        .flat_map(|(at, o)| o.view.iter().map(move |meta| Entry { at, meta }))
        .collect();
    all.sort_by(|a, b| {
        (b.meta.internal_date, &opened[b.at].account, b.meta.uid).cmp(&(
            a.meta.internal_date,
            &opened[a.at].account,
            a.meta.uid,
        ))
    });
    all
}

/// The summary of one message: the decoded part from the cache or from its bytes, the
/// flags from the snapshot. `None` if it went away meanwhile.
pub fn summary(state: &WebState, o: &Opened, meta: &MessageMeta) -> Option<Summary> {
    let id = o.id(meta.uid);
    let content = match state.cached(&id) {
        Some(c) => c,
        None => {
            let raw = o.mailbox.read(meta.uid).ok()?;
            let content = Parsed::new(&raw).content();
            state.cache(id.clone(), content.clone());
            content
        }
    };
    Some(Summary {
        id: id.encode(),
        read: meta.flags.contains(&Flag::Seen),
        content,
        created: meta
            .internal_date
            .to_utc()
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        username: String::new(),
        tags: tag::tags_of(&meta.flags),
        size: meta.size,
        account: o.account.clone(),
        mailbox: o.name.clone(),
    })
}

/// Every tag in the opened mailboxes, sorted, once each.
pub fn tags(opened: &[Opened]) -> Vec<String> {
    let mut all: Vec<String> = opened
        .iter()
        .flat_map(|o| {
            o.view
                .iter()
                .flat_map(|m| tag::tags_of(&m.flags))
                .collect::<Vec<_>>()
        })
        .collect();
    all.sort();
    all.dedup();
    all
}
