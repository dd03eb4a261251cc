//! Store options shared by every command that serves mail.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use yubin_store::{Secret, Store};

/// Which store to serve, and who may log in.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Data directory (Maildir per user) [default: the platform's data directory, e.g.
    /// ~/.local/share/yubin].
    #[arg(long, value_name = "DIR", conflicts_with = "ephemeral")]
    data: Option<PathBuf>,
    /// Keep everything in memory; nothing touches the disk, and it is gone at exit.
    #[arg(long)]
    ephemeral: bool,
    /// An account, as NAME:PASSWORD (repeatable). With none given: alice:secret.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// A TOML file of accounts: `[users]` then `name = "password"` lines.
    #[arg(long)]
    users_file: Option<PathBuf>,
    /// Accept any user name and password, creating the account on first login; mail to
    /// any domain is then delivered too (a catch-all test server).
    #[arg(long)]
    accept_any_login: bool,
    /// A domain whose mail is delivered here (repeatable). `localhost` (and its address
    /// literals) and this machine's host name always are; mail to any other domain is
    /// refused with `550 5.7.1 relaying denied`, unless --accept-any-login.
    #[arg(long = "domain", value_name = "DOMAIN")]
    domains: Vec<String>,
    /// With --accept-any-login: the most accounts logins and deliveries may create
    /// (accounts given with --user do not count).
    #[arg(long, value_name = "N", default_value_t = yubin_store::DEFAULT_MAX_ACCOUNTS)]
    max_accounts: usize,
    /// With --accept-any-login: how many accounts may be created per second, after a
    /// first burst of 100.
    #[arg(long, value_name = "N", default_value_t = yubin_store::DEFAULT_CREATIONS_PER_SECOND)]
    accounts_per_second: f64,
}

impl StoreArgs {
    /// Opens the store and adds the accounts.
    pub fn open(&self) -> anyhow::Result<Store> {
        let store = if self.ephemeral {
            Store::memory()
        } else {
            // The store creates the data directory (0700: mail is private).
            let dir = self.data_dir()?;
            if dir.exists() && !dir.is_dir() {
                anyhow::bail!(
                    "--data {}: is a file, not a directory (the data directory holds one \
                     Maildir per account)",
                    dir.display()
                );
            }
            let store = Store::maildir(&dir)
                .with_context(|| format!("cannot open the data directory {}", dir.display()))?;
            warn_if_unwritable(&dir);
            store
        };
        store.set_accept_any_login(self.accept_any_login);
        if let Some(host) = machine_name() {
            store.add_local_domain(&host);
        }
        for domain in &self.domains {
            store.add_local_domain(domain);
        }
        store.set_max_accounts(self.max_accounts);
        store.set_account_creation_rate(
            self.accounts_per_second,
            yubin_store::DEFAULT_CREATION_BURST,
        );
        // A test server that takes any login takes mail for any domain too (README).
        store.set_catch_all_domains(self.accept_any_login);
        if let Some(file) = &self.users_file {
            // The store's error names the file and the line already.
            store.load_users_file(file)?;
        }
        for spec in &self.users {
            let (name, password) = spec.split_once(':').with_context(|| {
                format!(
                    "--user {:?}: expected NAME:PASSWORD",
                    spec.split(':').next().unwrap_or("")
                )
            })?;
            store
                .add_account(name, Secret::from(password))
                .with_context(|| format!("cannot add user {name}"))?;
        }
        if let Some((name, password)) = self.default_account() {
            store.add_account(name, Secret::from(password))?;
        }
        Ok(store)
    }

    fn data_dir(&self) -> anyhow::Result<PathBuf> {
        match &self.data {
            Some(dir) => Ok(dir.clone()),
            None => {
                Store::default_data_dir().context("no platform data directory; pass --data DIR")
            }
        }
    }

    /// Where the local CA and server certificate live: [`tls_dir_of`] the data directory,
    /// or for an ephemeral store a fixed directory under the system's temp dir, so a CA
    /// trusted once keeps working across runs.
    pub fn tls_dir(&self) -> anyhow::Result<PathBuf> {
        if self.ephemeral {
            Ok(ephemeral_tls_dir())
        } else {
            Ok(tls_dir_of(&self.data_dir()?))
        }
    }

    /// The account made when none is given (`alice` / `secret`): a local test server's
    /// password is no secret, so the banner shows it.
    pub fn default_account(&self) -> Option<(&'static str, &'static str)> {
        (self.users.is_empty() && self.users_file.is_none() && !self.accept_any_login)
            .then_some(("alice", "secret"))
    }

    /// Prints where the mail is kept and who may log in.
    pub fn describe(&self, store: &Store) {
        match store.root() {
            Some(root) => println!("data: {}", root.display()),
            None => println!("data: in memory (--ephemeral), gone at exit"),
        }
        if store.accept_any_login() {
            println!("users: any name and password is accepted (--accept-any-login)");
        } else {
            println!("users: {}", store.account_names().join(", "));
        }
    }
}

/// The local CA's directory in the data directory `data`: `<data>/.yubin/tls`, in the
/// server's own state directory, out of the accounts' name space. A CA an older yubin
/// made in `<data>/tls` is moved there first (only its three files: an account named
/// `tls` keeps its mail).
pub fn tls_dir_of(data: &std::path::Path) -> PathBuf {
    let dir = yubin_store::name::state_dir(data).join("tls");
    if let Err(e) = yubin_core::tls::adopt_local_ca(&data.join("tls"), &dir) {
        tracing::warn!("cannot move the old local CA: {e}");
    }
    dir
}

/// Says at start-up, not at the first delivery, when the data directory cannot be
/// written: mail can then be read (POP3 and IMAP log in) but not delivered, flagged or
/// removed, and each of those will fail saying so.
fn warn_if_unwritable(dir: &std::path::Path) {
    let state = yubin_store::name::state_dir(dir);
    let probe = state.join(format!(".write-test.{}", std::process::id()));
    let mut private = std::fs::DirBuilder::new();
    private.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut private, 0o700);
    let written = private
        .create(&state)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe));
    if let Err(e) = written {
        eprintln!(
            "warning: the data directory {} cannot be written ({e}): mail can be read, \
             but not delivered, flagged or removed",
            dir.display()
        );
    }
}

/// The local CA's directory for an ephemeral store: fixed, under the system's temp dir, so
/// a CA trusted once keeps working across runs (and the clients find it by default).
pub fn ephemeral_tls_dir() -> PathBuf {
    std::env::temp_dir().join("yubin-ephemeral-tls")
}

/// This machine's host name (Linux: `/proc/sys/kernel/hostname`; elsewhere `HOSTNAME`),
/// a local domain: mail to `user@<this machine>` is for this server.
pub(crate) fn machine_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())?;
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_ascii_lowercase())
}
