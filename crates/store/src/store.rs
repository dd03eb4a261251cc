//! The store: the set of accounts, and which backend keeps their mail.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::account::{Account, AccountShared};
use crate::backend::StoreBackend;
use crate::deliver::{AMBIGUOUS, DeliverySettings, fold};
use crate::{MaildirBackend, MemoryBackend, Result, Secret, StoreError, name};

/// The mail store: accounts, their mailboxes and messages. Cheap to clone; all clones
/// share one state, and every handle obtained from them to the same mailbox sees the
/// same messages, flags and notifications.
#[derive(Clone)]
pub struct Store {
    shared: Arc<StoreShared>,
    /// The client this handle serves, if a server said so ([`Store::for_peer`]): accounts
    /// made on the fly are rate-limited per client address.
    peer: Option<IpAddr>,
}

struct StoreShared {
    /// Where the accounts' mail is kept.
    backend: Box<dyn StoreBackend>,
    accept_any: AtomicBool,
    /// Most accounts that accept-any-login and delivery may create ([`Store::set_max_accounts`]).
    max_accounts: AtomicUsize,
    /// How fast they may be created ([`Store::set_account_creation_rate`]): one bucket per
    /// client address (`None`: callers that named none, e.g. `yubin deliver`).
    creation: Mutex<Creation>,
    /// A `std` mutex, never held across an `.await` (the store has none).
    accounts: Mutex<BTreeMap<String, AccountEntry>>,
    /// Local domains and the postmaster (see `deliver.rs`). Never locked while
    /// `accounts` is held.
    delivery: Mutex<DeliverySettings>,
}

struct AccountEntry {
    /// `None` for an account created by accept-any-login or by delivery: it has no
    /// password of its own and accepts any while accept-any-login is on.
    password: Option<Secret>,
    /// Opened on first use.
    open: Option<Arc<AccountShared>>,
}

/// The default [`Store::set_max_accounts`]: plenty for a test or development server, and
/// a bound on what an anonymous client can make a server create under accept-any-login
/// (each account is a Maildir: four directories and their inodes).
pub const DEFAULT_MAX_ACCOUNTS: usize = 1000;

/// The default of [`Store::set_account_creation_rate`]: accounts created per second on
/// average...
pub const DEFAULT_CREATIONS_PER_SECOND: f64 = 10.0;
/// ...and at once.
pub const DEFAULT_CREATION_BURST: u32 = 100;

/// Client addresses whose creation rate is remembered at most; past it the fullest
/// buckets (those that have not created lately) are forgotten.
const MAX_RATE_PEERS: usize = 4096;

/// The creation rate, per client address.
#[derive(Debug)]
struct Creation {
    per_second: f64,
    burst: u32,
    peers: HashMap<Option<IpAddr>, CreationRate>,
}

impl Creation {
    /// Takes one creation for `peer` if its bucket allows it.
    fn take(&mut self, peer: Option<IpAddr>) -> bool {
        if self.peers.len() >= MAX_RATE_PEERS && !self.peers.contains_key(&peer) {
            let burst = f64::from(self.burst);
            self.peers.retain(|_, b| {
                b.refill();
                b.tokens < burst
            });
            if self.peers.len() >= MAX_RATE_PEERS {
                self.peers.clear();
            }
        }
        let (per_second, burst) = (self.per_second, self.burst);
        self.peers
            .entry(peer)
            .or_insert_with(|| CreationRate::new(per_second, burst))
            .take()
    }
}

/// A token bucket: `burst` creations at once, refilled at `per_second`.
#[derive(Debug)]
struct CreationRate {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: std::time::Instant,
}

impl CreationRate {
    fn new(per_second: f64, burst: u32) -> CreationRate {
        CreationRate {
            per_second: per_second.max(0.0),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            at: std::time::Instant::now(),
        }
    }

    fn refill(&mut self) {
        let now = std::time::Instant::now();
        let elapsed = now.duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
    }

    /// Takes one creation if the bucket allows it.
    fn take(&mut self) -> bool {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The `reason` of [`StoreError::InvalidName`] for a new account whose name differs from
/// an existing one only in case.
const SAME_BUT_CASE: &str =
    "another account has this name in another case; names are compared without regard to case";

/// The account `name` means among `names`: the exact name, or the only one equal ignoring
/// case; several in different cases and none exact are ambiguous.
pub(crate) fn find_in(names: &[String], name: &str) -> Result<Option<String>> {
    if names.iter().any(|n| n == name) {
        return Ok(Some(name.to_owned()));
    }
    let folded = fold(name);
    let mut matches = names.iter().filter(|n| fold(n) == folded);
    match (matches.next(), matches.next()) {
        (None, _) => Ok(None),
        (Some(only), None) => Ok(Some(only.clone())),
        (Some(_), Some(_)) => Err(StoreError::InvalidName {
            name: name.to_owned(),
            reason: AMBIGUOUS,
        }),
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("root", &self.root())
            .field("accounts", &self.account_names())
            .finish()
    }
}

impl Store {
    /// A store that keeps everything in memory (tests, `yubin serve --ephemeral`).
    pub fn memory() -> Store {
        Store::with_backend(MemoryBackend)
    }

    /// A Maildir store under the data directory `root`: each account lives at
    /// `<root>/<user>/Maildir`. The directory is created if missing.
    pub fn maildir(root: impl Into<PathBuf>) -> Result<Store> {
        Ok(Store::with_backend(MaildirBackend::new(root)?))
    }

    /// A store over any backend: [`MemoryBackend`], [`MaildirBackend`], or one of
    /// another crate (see [`crate::backend`], "Writing a backend"). It starts with no
    /// accounts; each account's storage is opened on its first use.
    pub fn with_backend(backend: impl StoreBackend) -> Store {
        Store {
            peer: None,
            shared: Arc::new(StoreShared {
                backend: Box::new(backend),
                accept_any: AtomicBool::new(false),
                max_accounts: AtomicUsize::new(DEFAULT_MAX_ACCOUNTS),
                creation: Mutex::new(Creation {
                    per_second: DEFAULT_CREATIONS_PER_SECOND,
                    burst: DEFAULT_CREATION_BURST,
                    peers: HashMap::new(),
                }),
                accounts: Mutex::new(BTreeMap::new()),
                delivery: Mutex::new(DeliverySettings::default()),
            }),
        }
    }

    /// The platform's data directory for yubin (`~/.local/share/yubin` on Linux), the
    /// default for `--data`.
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "yubin").map(|d| d.data_dir().to_path_buf())
    }

    /// The data directory of a Maildir store; `None` for memory (and for any backend
    /// without one: [`StoreBackend::root`]).
    pub fn root(&self) -> Option<&Path> {
        self.shared.backend.root()
    }

    fn accounts(&self) -> MutexGuard<'_, BTreeMap<String, AccountEntry>> {
        // The map is updated in single steps; a panic cannot leave it half-changed.
        self.shared
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The delivery settings (local domains, postmaster).
    pub(crate) fn delivery(&self) -> MutexGuard<'_, DeliverySettings> {
        // Every update is a single assignment; a panic cannot leave it half-changed.
        self.shared
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an account, or sets the password of an existing one. The name follows the one
    /// identity rule ([`Store::login_name`]): `alice@localhost` adds `alice`, and a name
    /// that differs from an existing account's only in case is refused, since both would
    /// be one identity at login and delivery.
    pub fn add_account(&self, name: &str, password: Secret) -> Result<()> {
        let name = self.login_name(name).to_owned();
        name::check_account(&name)?;
        {
            let mut accounts = self.accounts();
            let folded = fold(&name);
            if accounts.keys().any(|k| *k != name && fold(k) == folded) {
                return Err(StoreError::InvalidName {
                    name,
                    reason: SAME_BUT_CASE,
                });
            }
            accounts
                .entry(name.clone())
                .and_modify(|e| e.password = Some(password.clone()))
                .or_insert(AccountEntry {
                    password: Some(password),
                    open: None,
                });
        }
        // After `accounts` is unlocked: the two locks are never held together.
        self.delivery().note_password_account(&name);
        Ok(())
    }

    /// The one identity rule for a name given at login, to `yubin deliver` or in a users
    /// file: a name `user@domain` whose domain is local ([`Store::is_local_domain`], or
    /// any domain under [`Store::set_catch_all_domains`]) is the account `user`, as mail
    /// to that address is; other names are themselves. Accounts are then found without
    /// regard to case, so `alice`, `ALICE` and `alice@localhost` are one account for
    /// login and for delivery, and accounts created on the fly get the lower-case name.
    pub fn login_name<'a>(&self, name: &'a str) -> &'a str {
        match name.rsplit_once('@') {
            Some((local, domain))
                if !local.is_empty()
                    && !domain.is_empty()
                    && (self.catch_all_domains() || self.is_local_domain(domain)) =>
            {
                local
            }
            _ => name,
        }
    }

    /// Caps the accounts that accept-any-login and delivery create on the fly (accounts
    /// added with a password do not count against it); past it, such a login or
    /// delivery fails with [`StoreError::Limit`]. Default [`DEFAULT_MAX_ACCOUNTS`].
    pub fn set_max_accounts(&self, max: usize) {
        self.shared.max_accounts.store(max, Ordering::Relaxed);
    }

    /// Limits how fast accept-any-login and delivery create accounts for one client
    /// address ([`Store::for_peer`]): `burst` at once, then `per_second` on average. Past
    /// it, such a login or delivery fails with [`StoreError::Limit`] until the rate allows
    /// one more. Defaults [`DEFAULT_CREATIONS_PER_SECOND`], [`DEFAULT_CREATION_BURST`].
    pub fn set_account_creation_rate(&self, per_second: f64, burst: u32) {
        *self
            .shared
            .creation
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Creation {
            per_second: per_second.max(0.0),
            burst,
            peers: HashMap::new(),
        };
    }

    /// This store as seen by the client at `peer`: the same accounts and mail; what it
    /// makes this handle create on the fly counts against that address's rate. A server
    /// gives each connection's session such a handle.
    pub fn for_peer(&self, peer: IpAddr) -> Store {
        Store {
            shared: self.shared.clone(),
            peer: Some(peer),
        }
    }

    /// The name an account created on the fly for `name` gets, once the cap and the rate
    /// allow one more: the lower-case form, so that later logins in any case find it.
    fn new_account_name(
        &self,
        accounts: &BTreeMap<String, AccountEntry>,
        name: &str,
    ) -> Result<String> {
        let max = self.shared.max_accounts.load(Ordering::Relaxed);
        let created = accounts.values().filter(|e| e.password.is_none()).count();
        if created >= max {
            tracing::warn!(max, "account not created: the limit of accounts is reached");
            return Err(StoreError::Limit {
                what: "accounts created by accept-any-login",
                limit: max,
            });
        }
        let new = fold(name);
        name::check_account(&new)?;
        let mut rate = self
            .shared
            .creation
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !rate.take(self.peer) {
            tracing::warn!("account not created: accounts are being created too fast");
            return Err(StoreError::Limit {
                what: "accounts created per second",
                limit: rate.per_second.ceil() as usize,
            });
        }
        Ok(new)
    }

    /// Adds the accounts of a users file; returns how many it had. The file is TOML:
    ///
    /// ```toml
    /// [users]
    /// alice = "secret"
    /// ```
    ///
    /// Errors name the file and a line, never its text (which could be a password).
    pub fn load_users_file(&self, path: &Path) -> Result<usize> {
        let users = crate::users::read(path)?;
        for (name, password) in &users {
            self.add_account(name, password.clone())?;
        }
        Ok(users.len())
    }

    /// Accept-any-login (as test servers like GreenMail offer): any name logs in, and an
    /// account is created on first login. Accounts added with a password keep it.
    pub fn set_accept_any_login(&self, on: bool) {
        self.shared.accept_any.store(on, Ordering::Relaxed);
    }

    /// Whether accept-any-login is on.
    pub fn accept_any_login(&self) -> bool {
        self.shared.accept_any.load(Ordering::Relaxed)
    }

    /// Checks a name and password (POP3 USER/PASS, IMAP LOGIN). Any failure is
    /// [`StoreError::AuthFailed`], which says neither which part was wrong nor the
    /// password. With accept-any-login, an unknown name becomes an account.
    pub fn authenticate(&self, name: &str, password: &Secret) -> Result<Account> {
        self.authenticate_with(name, |expected| {
            same_secret(expected.expose(), password.expose())
        })
    }

    /// Like [`Store::authenticate`], for mechanisms that prove knowledge of the password
    /// without sending it (POP3 APOP, RFC 1939 §7): `check` receives the stored password
    /// and says whether the client's proof matches. With accept-any-login, an account
    /// without a password accepts any proof.
    pub fn authenticate_with(
        &self,
        name: &str,
        check: impl FnOnce(&Secret) -> bool,
    ) -> Result<Account> {
        let name = self.login_name(name);
        if name::check_account(name).is_err() {
            return Err(StoreError::AuthFailed);
        }
        let accept_any = self.accept_any_login();
        let mut accounts = self.accounts();
        let names: Vec<String> = accounts.keys().cloned().collect();
        let target = match find_in(&names, name) {
            Ok(Some(existing)) => existing,
            Ok(None) if accept_any => self.new_account_name(&accounts, name)?,
            Ok(None) | Err(_) => return Err(StoreError::AuthFailed),
        };
        let ok = match accounts.get(&target) {
            Some(AccountEntry {
                password: Some(expected),
                ..
            }) => check(expected),
            Some(AccountEntry { password: None, .. }) | None => accept_any,
        };
        if !ok {
            return Err(StoreError::AuthFailed);
        }
        self.open_locked(&mut accounts, &target)
    }

    /// The account of that name without a password check (SMTP delivery, `yubin
    /// deliver`). With accept-any-login an unknown name becomes an account; otherwise it
    /// is [`StoreError::NoSuchAccount`].
    ///
    /// The name follows the one identity rule ([`Store::login_name`]).
    pub fn account(&self, name: &str) -> Result<Account> {
        let name = self.login_name(name);
        name::check_account(name)?;
        let accept_any = self.accept_any_login();
        let mut accounts = self.accounts();
        let names: Vec<String> = accounts.keys().cloned().collect();
        let target = match find_in(&names, name)? {
            Some(existing) => existing,
            None if accept_any => self.new_account_name(&accounts, name)?,
            None => return Err(StoreError::NoSuchAccount(name.to_owned())),
        };
        self.open_locked(&mut accounts, &target)
    }

    /// Does now the deferred work of every open mailbox (Maildir: file names catch up
    /// with flags), for a clean shutdown: other programs then see every flag at once, and
    /// the next start need not look for lagging names. Flags are durable without it.
    pub fn flush(&self) -> Result<()> {
        let open: Vec<Arc<AccountShared>> = self
            .accounts()
            .values()
            .filter_map(|e| e.open.clone())
            .collect();
        for account in open {
            Account { shared: account }.flush()?;
        }
        Ok(())
    }

    /// The names of all accounts, sorted.
    pub fn account_names(&self) -> Vec<String> {
        self.accounts().keys().cloned().collect()
    }

    fn open_locked(
        &self,
        accounts: &mut BTreeMap<String, AccountEntry>,
        name: &str,
    ) -> Result<Account> {
        let entry = accounts.entry(name.to_owned()).or_insert(AccountEntry {
            password: None,
            open: None,
        });
        if let Some(shared) = &entry.open {
            return Ok(Account {
                shared: shared.clone(),
            });
        }
        let backend = self.shared.backend.open_account(name)?;
        let shared = AccountShared::open(name, backend)?;
        entry.open = Some(shared.clone());
        Ok(Account { shared })
    }
}

/// Compares two secrets in time that depends on their lengths only, not on where they
/// differ, so response times do not leak how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn accounts_are_created_no_faster_than_the_rate() {
        let store = crate::Store::memory();
        store.set_accept_any_login(true);
        store.set_account_creation_rate(0.0, 3);
        for name in ["a", "b", "c"] {
            store.authenticate(name, &"pw".into()).unwrap();
        }
        assert!(matches!(
            store.authenticate("d", &"pw".into()),
            Err(crate::StoreError::Limit { .. })
        ));
        // Existing accounts are not creations.
        store.authenticate("A", &"pw".into()).unwrap();
        // Another client address has a rate of its own.
        let other = store.for_peer([192, 0, 2, 1].into());
        other.authenticate("d", &"pw".into()).unwrap();
        store.set_max_accounts(4);
        store.set_account_creation_rate(1000.0, 10);
        assert!(matches!(
            store.account("e"),
            Err(crate::StoreError::Limit { limit: 4, .. })
        ));
    }

    #[test]
    fn secrets_compare_exactly() {
        assert!(same_secret("hunter2", "hunter2"));
        assert!(!same_secret("hunter2", "hunter3"));
        assert!(!same_secret("hunter2", "hunter"));
        assert!(!same_secret("", "x"));
        assert!(same_secret("", ""));
    }
}
