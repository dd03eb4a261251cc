//! One account: its mailbox hierarchy, subscriptions and POP3 maildrop lock.
//!
//! The rules of RFC 3501 §6.3 (CREATE, DELETE, RENAME, SUBSCRIBE) are implemented here
//! once; a backend only creates, removes and renames one mailbox's storage at a time.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{AccountBackend, RenamePlan};
use crate::mailbox::{Mailbox, MailboxShared};
use crate::name::{self, INBOX, canonical_mailbox, is_within};
use crate::name_events::{AccountWatch, NameEvent, NameEvents, NameLog};
use crate::{Result, StoreError};

/// The special-use mailboxes of RFC 6154 that every account gets on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecialUse {
    /// `\Sent`: copies of sent mail.
    Sent,
    /// `\Drafts`: unfinished messages.
    Drafts,
    /// `\Trash`: deleted messages kept for a while.
    Trash,
    /// `\Junk`: suspected spam.
    Junk,
}

impl SpecialUse {
    /// Every special use, in the order the mailboxes are created.
    pub const ALL: [SpecialUse; 4] = [
        SpecialUse::Sent,
        SpecialUse::Drafts,
        SpecialUse::Trash,
        SpecialUse::Junk,
    ];

    /// The LIST attribute (RFC 6154 §2): `\Sent`, `\Drafts`, `\Trash`, `\Junk`.
    pub fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
        }
    }

    /// The name of the mailbox created for this use.
    pub fn mailbox_name(self) -> &'static str {
        match self {
            SpecialUse::Sent => "Sent",
            SpecialUse::Drafts => "Drafts",
            SpecialUse::Trash => "Trash",
            SpecialUse::Junk => "Junk",
        }
    }

    /// The special use of a mailbox, by its name.
    pub fn of(mailbox: &str) -> Option<SpecialUse> {
        SpecialUse::ALL
            .into_iter()
            .find(|u| u.mailbox_name() == mailbox)
    }
}

/// One line of IMAP `LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// "INBOX", "Archive/2024" (delimiter '/').
    pub name: String,
    /// False for a parent that exists only because a child does (`\Noselect`).
    pub selectable: bool,
    /// RFC 6154 attribute, if any.
    pub special_use: Option<SpecialUse>,
    /// Whether the name is subscribed (IMAP `LSUB`, `LIST (SUBSCRIBED)`).
    pub subscribed: bool,
}

/// The state every handle to one account shares.
pub(crate) struct AccountShared {
    name: String,
    backend: Box<dyn AccountBackend>,
    /// Lock order: this, then a mailbox's own lock; never the other way.
    state: Mutex<AccountState>,
    /// Held by at most one POP3 session of this process.
    maildrop: AtomicBool,
}

struct AccountState {
    /// Every existing (selectable) mailbox, INBOX included.
    names: BTreeSet<String>,
    subscriptions: BTreeSet<String>,
    /// Mailboxes opened so far: one shared state per name, for every handle.
    open: HashMap<String, Arc<MailboxShared>>,
    /// What happened to the names and subscriptions, for sessions that report it.
    events: NameLog,
}

impl AccountShared {
    /// Opens an account over its backend, creating INBOX and the special-use mailboxes
    /// it does not have yet (subscribed, as Dovecot's `auto = subscribe` does).
    pub(crate) fn open(name: &str, backend: Box<dyn AccountBackend>) -> Result<Arc<Self>> {
        let mut names: BTreeSet<String> = backend.mailbox_names()?.into_iter().collect();
        names.insert(INBOX.to_owned());
        let mut subscriptions: BTreeSet<String> =
            backend.load_subscriptions()?.into_iter().collect();
        // A fresh account (never subscribed to anything) starts with INBOX subscribed.
        let mut changed = subscriptions.is_empty() && subscriptions.insert(INBOX.to_owned());
        for use_ in SpecialUse::ALL {
            let n = use_.mailbox_name();
            if !names.contains(n) {
                backend.create(n)?;
                names.insert(n.to_owned());
                subscriptions.insert(n.to_owned());
                changed = true;
            }
        }
        if changed {
            backend.save_subscriptions(&subscriptions)?;
        }
        Ok(Arc::new(AccountShared {
            name: name.to_owned(),
            backend,
            state: Mutex::new(AccountState {
                names,
                subscriptions,
                open: HashMap::new(),
                events: NameLog::new(),
            }),
            maildrop: AtomicBool::new(false),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, AccountState> {
        // Names are changed only after the backend succeeded, so the state is valid
        // even if a panic interrupted a later step.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle to one account. Cheap to clone; all handles for one name share one state.
#[derive(Clone)]
pub struct Account {
    pub(crate) shared: Arc<AccountShared>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Account").field(&self.shared.name).finish()
    }
}

impl Account {
    /// The account's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Every mailbox, including parents that exist only because a child does
    /// (not selectable); INBOX first, then sorted by name.
    pub fn list(&self) -> Result<Vec<MailboxInfo>> {
        let state = self.shared.lock();
        let mut all: BTreeSet<&str> = BTreeSet::new();
        for n in &state.names {
            all.insert(n);
            all.extend(name::ancestors(n));
        }
        let info = |n: &str| MailboxInfo {
            name: n.to_owned(),
            selectable: state.names.contains(n),
            special_use: SpecialUse::of(n),
            subscribed: state.subscriptions.contains(n),
        };
        let mut out = vec![info(INBOX)];
        out.extend(all.into_iter().filter(|n| *n != INBOX).map(info));
        Ok(out)
    }

    /// Creates a mailbox and any missing parents (RFC 3501 §6.3.3).
    pub fn create(&self, name: &str) -> Result<()> {
        let name = canonical_mailbox(name)?;
        check_new_name(&name)?;
        let mut state = self.shared.lock();
        if state.names.contains(&name) {
            return Err(StoreError::MailboxExists(name));
        }
        // Every name the backend would create is checked first, so a refusal changes
        // nothing (a parent made and then the child refused would be half a CREATE).
        for n in name::ancestors(&name).chain(std::iter::once(name.as_str())) {
            self.shared.backend.check_name(n)?;
        }
        self.create_with_parents(&mut state, &name)
    }

    fn create_with_parents(&self, state: &mut AccountState, name: &str) -> Result<()> {
        let made = Self::create_parents(&*self.shared.backend, state, name);
        let done = made.and_then(|()| self.shared.backend.create(name));
        if done.is_ok() {
            state.names.insert(name.to_owned());
            state.events.record([NameEvent::Created(name.to_owned())]);
        }
        done
    }

    /// Creates the missing parents of `name`, each recorded as created (a parent made
    /// before a later step failed stays, and is told).
    fn create_parents(
        backend: &dyn AccountBackend,
        state: &mut AccountState,
        name: &str,
    ) -> Result<()> {
        for parent in name::ancestors(name) {
            if !state.names.contains(parent) {
                backend.create(parent)?;
                state.names.insert(parent.to_owned());
                state.events.record([NameEvent::Created(parent.to_owned())]);
            }
        }
        Ok(())
    }

    /// Deletes a mailbox and its messages (RFC 3501 §6.3.4). INBOX cannot be deleted; a
    /// mailbox with children is refused (delete the children first). Handles to the
    /// deleted mailbox fail from now on with [`StoreError::NoSuchMailbox`]. The
    /// subscription stays (RFC 3501 §6.3.6: the server must not remove it unilaterally).
    pub fn delete(&self, name: &str) -> Result<()> {
        let name = canonical_mailbox(name)?;
        if name == INBOX {
            return Err(StoreError::CannotDeleteInbox);
        }
        let mut state = self.shared.lock();
        if state
            .names
            .iter()
            .any(|n| n != &name && is_within(n, &name))
        {
            return Err(StoreError::HasChildren(name));
        }
        if !state.names.contains(&name) {
            return Err(StoreError::NoSuchMailbox(name));
        }
        let backend = &self.shared.backend;
        match state.open.get(&name) {
            Some(open) => open.delete(|| backend.delete(&name))?,
            None => backend.delete(&name)?,
        }
        state.open.remove(&name);
        state.names.remove(&name);
        state.events.record([NameEvent::Deleted(name)]);
        Ok(())
    }

    /// Renames a mailbox and its inferiors (RFC 3501 §6.3.5), creating missing parents
    /// of the new name. Open handles follow the mailbox to its new name, and so do
    /// subscriptions. Renaming INBOX moves its messages to a new mailbox and leaves INBOX
    /// there, empty.
    ///
    /// Whole or not at all: every name it would store is checked first (a valid name
    /// that is too long once stored is [`StoreError::NameTooLong`], and nothing has
    /// changed), then the backend renames the whole hierarchy as one change
    /// ([`AccountBackend::rename_all`]; Maildir keeps a journal, so a crash midway is
    /// finished by the next start). RENAME INBOX is one step as well where the backend
    /// can ([`crate::backend::MailboxBackend::hand_over`]; Maildir renames INBOX's
    /// `cur/` into the new folder); elsewhere it is one [`Mailbox::move_to`] batch under
    /// both mailboxes' locks. A crash can leave the missing parents of the new name
    /// created (empty mailboxes), never a message in both mailboxes or in neither.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        let from = canonical_mailbox(from)?;
        let to = canonical_mailbox(to)?;
        if to == INBOX {
            return Err(StoreError::MailboxExists(to));
        }
        if from == INBOX {
            return self.rename_inbox(&to);
        }
        if is_within(&to, &from) {
            return Err(StoreError::InvalidName {
                name: to,
                reason: "cannot rename a mailbox into itself",
            });
        }
        let mut state = self.shared.lock();
        let moving: Vec<String> = state
            .names
            .iter()
            .filter(|n| is_within(n, &from))
            .cloned()
            .collect();
        if moving.is_empty() {
            return Err(StoreError::NoSuchMailbox(from));
        }
        // Every new name first, so a refusal changes nothing.
        check_new_name(&to)?;
        let mut plan = RenamePlan::default();
        for old in moving {
            let new = format!("{to}{}", &old[from.len()..]);
            canonical_mailbox(&new)?;
            if state.names.contains(&new) {
                return Err(StoreError::MailboxExists(new));
            }
            plan.renames.push((old, new));
        }
        plan.create = name::ancestors(&to)
            .filter(|parent| !state.names.contains(*parent))
            .map(str::to_owned)
            .collect();
        for stored in plan
            .create
            .iter()
            .chain(plan.renames.iter().map(|(_, new)| new))
        {
            self.shared.backend.check_name(stored)?;
        }
        let mut subscriptions = state.subscriptions.clone();
        let mut subscriptions_changed = false;
        for (old, new) in &plan.renames {
            if subscriptions.remove(old) {
                subscriptions.insert(new.clone());
                subscriptions_changed = true;
            }
        }
        plan.subscriptions = subscriptions_changed.then(|| subscriptions.clone());
        let open: Vec<(Arc<MailboxShared>, String)> = plan
            .renames
            .iter()
            .filter_map(|(old, new)| state.open.get(old).map(|o| (o.clone(), new.clone())))
            .collect();
        let backend = &self.shared.backend;
        MailboxShared::rename_all(&open, || backend.rename_all(&plan))?;
        state.names.extend(plan.create.iter().cloned());
        let created = plan.create.iter().cloned().map(NameEvent::Created);
        state.events.record(created.chain([NameEvent::Renamed {
            from: from.clone(),
            to: to.clone(),
        }]));
        for (old, new) in &plan.renames {
            state.names.remove(old);
            state.names.insert(new.clone());
            if let Some(open) = state.open.remove(old) {
                state.open.insert(new.clone(), open);
            }
        }
        if subscriptions_changed {
            state.subscriptions = subscriptions;
        }
        Ok(())
    }

    /// RFC 3501 §6.3.5: "Renaming INBOX is permitted, and has special behavior. It moves
    /// all messages in INBOX to a new mailbox with the given name, leaving INBOX empty."
    /// Children of INBOX stay where they are; INBOX keeps its UIDVALIDITY and UIDNEXT.
    fn rename_inbox(&self, to: &str) -> Result<()> {
        check_new_name(to)?;
        let mut state = self.shared.lock();
        if state.names.contains(to) {
            return Err(StoreError::MailboxExists(to.to_owned()));
        }
        for stored in name::ancestors(to).chain(std::iter::once(to)) {
            self.shared.backend.check_name(stored)?;
        }
        // The missing parents first, as CREATE makes them: a crash after them leaves
        // empty mailboxes, which a retried RENAME finds in place.
        Self::create_parents(&*self.shared.backend, &mut state, to)?;
        let inbox = self.open_locked(&mut state, INBOX)?;
        // RFC 5465 §5.4: "When INBOX is renamed, a new INBOX is assumed to be created.
        // No MailboxName event is sent for INBOX in this case": the new name is created.
        let created = NameEvent::Created(to.to_owned());
        if inbox.shared.hand_over(to)? {
            state.names.insert(to.to_owned());
            state.events.record([created]);
            return Ok(());
        }
        // The backend cannot in one step: a new mailbox, and every message moved in one
        // batch with both mailboxes locked.
        self.shared.backend.create(to)?;
        state.names.insert(to.to_owned());
        state.events.record([created]);
        let dest = self.open_locked(&mut state, to)?;
        let uids: Vec<u32> = inbox.view()?.uids().collect();
        inbox.shared.move_batch(&dest.shared, &uids)?;
        Ok(())
    }

    /// Every subscribed name, sorted, including names whose mailbox has since been
    /// deleted (IMAP `LIST (SUBSCRIBED)` shows those as `\NonExistent`, RFC 5258 §3).
    pub fn subscriptions(&self) -> Vec<String> {
        self.shared.lock().subscriptions.iter().cloned().collect()
    }

    /// Adds a mailbox to the subscriptions (RFC 3501 §6.3.6). The mailbox must exist.
    pub fn subscribe(&self, name: &str) -> Result<()> {
        let name = canonical_mailbox(name)?;
        let mut state = self.shared.lock();
        if !state.names.contains(&name) {
            return Err(StoreError::NoSuchMailbox(name));
        }
        if state.subscriptions.insert(name.clone()) {
            if let Err(e) = self.shared.backend.save_subscriptions(&state.subscriptions) {
                state.subscriptions.remove(&name);
                return Err(e);
            }
            state.events.record([NameEvent::Subscribed(name)]);
        }
        Ok(())
    }

    /// Removes a name from the subscriptions (RFC 3501 §6.3.7); a name that was not
    /// subscribed is not an error.
    pub fn unsubscribe(&self, name: &str) -> Result<()> {
        let name = canonical_mailbox(name)?;
        let mut state = self.shared.lock();
        if state.subscriptions.remove(&name) {
            if let Err(e) = self.shared.backend.save_subscriptions(&state.subscriptions) {
                state.subscriptions.insert(name);
                return Err(e);
            }
            state.events.record([NameEvent::Unsubscribed(name)]);
        }
        Ok(())
    }

    /// A receiver of name events: CREATE, DELETE, RENAME, SUBSCRIBE and UNSUBSCRIBE in
    /// this account, by any session ([`Account::name_events_since`] says which).
    pub fn watch(&self) -> AccountWatch {
        let rx = self.shared.lock().events.subscribe();
        AccountWatch(crate::versions::Versions::new(rx, self.shared.clone()))
    }

    /// The account's name version now: the point to ask
    /// [`Account::name_events_since`] from.
    pub fn name_version(&self) -> u64 {
        self.shared.lock().events.version()
    }

    /// The name events since `version` (one [`Account::name_version`] returned, or the
    /// version the last answer brought the caller to).
    pub fn name_events_since(&self, version: u64) -> NameEvents {
        self.shared.lock().events.since(version)
    }

    /// A handle to a mailbox; `inbox` in any case means INBOX.
    pub fn mailbox(&self, name: &str) -> Result<Mailbox> {
        let name = canonical_mailbox(name)?;
        let mut state = self.shared.lock();
        self.open_locked(&mut state, &name)
    }

    /// [`Account::mailbox`] of a canonical name, the account's state locked.
    fn open_locked(&self, state: &mut AccountState, name: &str) -> Result<Mailbox> {
        if !state.names.contains(name) {
            return Err(StoreError::NoSuchMailbox(name.to_owned()));
        }
        if let Some(shared) = state.open.get(name) {
            return Ok(Mailbox {
                shared: shared.clone(),
            });
        }
        let backend = self.shared.backend.open(name)?;
        let shared = MailboxShared::open(name.to_owned(), backend)?;
        state.open.insert(name.to_owned(), shared.clone());
        Ok(Mailbox { shared })
    }

    /// Does the deferred work of every open mailbox now ([`Mailbox::flush`]).
    pub(crate) fn flush(&self) -> Result<()> {
        let open: Vec<Arc<MailboxShared>> = self.shared.lock().open.values().cloned().collect();
        for shared in open {
            match (Mailbox { shared }).flush() {
                Ok(()) | Err(StoreError::NoSuchMailbox(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Takes the account's POP3 maildrop lock (RFC 1939 §8: one session per maildrop).
    /// [`StoreError::Locked`] if another session holds it; released when the returned
    /// guard is dropped, however the session ends. With Maildir the lock is also a file
    /// lock, so two yubin processes on one data directory exclude each other as well.
    pub fn lock_maildrop(&self) -> Result<MaildropLock> {
        if self
            .shared
            .maildrop
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(StoreError::Locked(self.shared.name.clone()));
        }
        match self.shared.backend.lock_maildrop() {
            Ok(os) => Ok(MaildropLock {
                account: self.shared.clone(),
                _os: os,
            }),
            Err(e) => {
                self.shared.maildrop.store(false, Ordering::Release);
                Err(e)
            }
        }
    }
}

/// Proof that this session holds the account's POP3 maildrop; dropping it releases it.
pub struct MaildropLock {
    account: Arc<AccountShared>,
    /// The backend's cross-process lock (a locked file), released on drop.
    _os: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for MaildropLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MaildropLock")
            .field(&self.account.name)
            .finish()
    }
}

impl Drop for MaildropLock {
    fn drop(&mut self) {
        self.account.maildrop.store(false, Ordering::Release);
    }
}

/// A name a client may give a new mailbox: not only a valid name, but one without IMAP's
/// LIST wildcards `*` and `%` (RFC 3501 §6.3.8), which no LIST pattern could name alone.
fn check_new_name(name: &str) -> Result<()> {
    if name.contains(['*', '%']) {
        return Err(StoreError::InvalidName {
            name: name.to_owned(),
            reason: "contains a LIST wildcard (* or %)",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Secret, Store};

    #[test]
    fn subscriptions_keep_names_whose_mailbox_is_gone() {
        let store = Store::memory();
        store.add_account("a", Secret::from("x")).unwrap();
        let account = store.account("a").unwrap();
        account.create("Old").unwrap();
        account.subscribe("Old").unwrap();
        account.delete("Old").unwrap();
        let subs = account.subscriptions();
        assert!(subs.iter().any(|n| n == "Old"), "{subs:?}");
        assert!(subs.iter().any(|n| n == "INBOX"), "{subs:?}");
        assert!(subs.windows(2).all(|w| w[0] < w[1]), "{subs:?}");
        assert!(account.list().unwrap().iter().all(|i| i.name != "Old"));
    }
}
