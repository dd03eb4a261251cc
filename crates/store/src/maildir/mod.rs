//! The Maildir backend: `<data>/<user>/Maildir/{tmp,new,cur}` with Maildir++ subfolders,
//! so mutt, Dovecot and Python's `mailbox` module read what yubin writes, and yubin
//! serves what they write.
//!
//! Layout of one account:
//!
//! ```text
//! <data>/alice/Maildir/            INBOX: tmp/ new/ cur/, yubin-index (snapshot),
//!                                  yubin-index.log (changes since), yubin-index.lock,
//!                                  dovecot-keywords, subscriptions (account-wide),
//!                                  yubin-pop.lock, yubin-rename (a RENAME under way)
//! <data>/alice/Maildir/.Sent/      mailbox "Sent" (+ maildirfolder, as Courier marks it)
//! <data>/alice/Maildir/.Archive.2024/   mailbox "Archive/2024"
//! ```
//!
//! Maildir++ joins hierarchy levels with `.`, so a `.` inside a name component must be
//! written differently: it is escaped as `%2E`, and `%` itself as `%25` (a reversible
//! percent-encoding of exactly these two characters). `a.b/c` is stored as `.a%2Eb.c`.
//! Directories whose names do not decode to a valid mailbox name are left alone.
//!
//! RENAME of a mailbox with inferiors is several directory renames (`.a` and `.a.b`
//! both move), made one change by a journal, `yubin-rename` at the Maildir root: the
//! store checks every new name first (its length once escaped, too), then writes the
//! journal whole and durably (the parents to create, each `(old, new)` pair, the
//! subscriptions after), renames the directories, saves the subscriptions and removes
//! the journal durably. A failure renames back what was done; a crash leaves the
//! journal, and the account's next start finishes it (a pair whose old directory is gone
//! is done already), before anyone lists the mailboxes. So after any crash the whole
//! hierarchy has its old names or its new ones. MOVE and RENAME INBOX are in `folder`.
//!
//! Each mailbox's UIDs, flags, modseqs and file places are in its index (the `index`
//! module: format), kept by `folder` (crash safety, other programs' changes); one
//! inotify watcher for the process tells every open mailbox when its files change
//! (`watch`). A message being received is written to `tmp/` as it arrives, never held
//! whole in memory, then linked into every mailbox it goes to (`receive`).

pub(crate) mod filename;
mod folder;
mod index;
mod keywords;
mod receive;
mod uidlist;
mod watch;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

pub(crate) use folder::MaildirMailbox;

use crate::backend::{AccountBackend, MailboxBackend, RenamePlan, sync_dir, warn, write_atomic};
use crate::error::IoContext;
use crate::name::{DELIMITER, INBOX, canonical_mailbox};
use crate::{Result, StoreError};

/// The subscriptions file at the account's Maildir root: one mailbox name per line,
/// as Courier and Dovecot keep it.
const SUBSCRIPTIONS: &str = "subscriptions";
/// The longest directory name the file system takes (Linux `NAME_MAX`).
const MAX_DIR_NAME: usize = 255;
/// The POP3 maildrop lock file.
const POP_LOCK: &str = "yubin-pop.lock";
/// A RENAME in progress, at the account's Maildir root (see [`RenamePlan::render_journal`]).
const RENAME_JOURNAL: &str = "yubin-rename";
/// In a folder that RENAME INBOX is making: its messages are still to come.
pub(crate) const RENAMING_INBOX: &str = "yubin-renaming-inbox";
const JOURNAL_MAGIC: &str = "yubin-rename v1";

impl RenamePlan {
    /// The journal's text: a magic line, then one line per step, fields separated by a
    /// tab (shown as `→`; mailbox names hold no control characters):
    ///
    /// ```text
    /// yubin-rename v1
    /// create→Archive
    /// rename→Projects→Archive/Projects
    /// rename→Projects/yubin→Archive/Projects/yubin
    /// subscriptions
    /// subscribe→Archive/Projects/yubin
    /// ```
    fn render_journal(&self) -> String {
        let mut out = format!("{JOURNAL_MAGIC}\n");
        for name in &self.create {
            out.push_str(&format!("create\t{name}\n"));
        }
        for (from, to) in &self.renames {
            out.push_str(&format!("rename\t{from}\t{to}\n"));
        }
        if let Some(subscriptions) = &self.subscriptions {
            out.push_str("subscriptions\n");
            for name in subscriptions {
                out.push_str(&format!("subscribe\t{name}\n"));
            }
        }
        out
    }

    /// Reads a journal back; `None` if any line is not one [`RenamePlan::render_journal`]
    /// writes (the journal is written whole or not at all, so that means another
    /// version's).
    fn parse_journal(text: &str) -> Option<RenamePlan> {
        let mut lines = text.lines();
        if lines.next()? != JOURNAL_MAGIC {
            return None;
        }
        let name = |n: &str| canonical_mailbox(n).ok().filter(|c| c == n);
        let mut plan = RenamePlan::default();
        for line in lines {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.as_slice() {
                ["create", n] => plan.create.push(name(n)?),
                ["rename", a, b] => plan.renames.push((name(a)?, name(b)?)),
                ["subscriptions"] => plan.subscriptions = Some(BTreeSet::new()),
                ["subscribe", n] => {
                    plan.subscriptions.as_mut()?.insert(name(n)?);
                }
                _ => return None,
            }
        }
        Some(plan)
    }
}

/// The directory of a mailbox: INBOX is the Maildir itself, others are Maildir++
/// subfolders.
pub(crate) fn folder_dir(maildir: &Path, name: &str) -> PathBuf {
    if name == INBOX {
        maildir.to_path_buf()
    } else {
        maildir.join(encode(name))
    }
}

/// `a.b/c` → `.a%2Eb.c`.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for part in name.split(DELIMITER) {
        out.push('.');
        for c in part.chars() {
            match c {
                '%' => out.push_str("%25"),
                '.' => out.push_str("%2E"),
                c => out.push(c),
            }
        }
    }
    out
}

/// `.a%2Eb.c` → `a.b/c`; `None` for a directory name that is not one yubin would write.
fn decode(dir_name: &str) -> Option<String> {
    let rest = dir_name.strip_prefix('.')?;
    let mut parts = Vec::new();
    for part in rest.split('.') {
        let unescaped = part.replace("%2E", ".").replace("%25", "%");
        parts.push(unescaped);
    }
    let name = parts.join("/");
    let canonical = canonical_mailbox(&name).ok()?;
    (canonical == name && name != INBOX && encode(&name) == dir_name).then_some(name)
}

/// Creates `tmp/`, `new/` and `cur/` in `dir` if missing.
pub(crate) fn ensure_maildir(dir: &Path) -> Result<()> {
    for sub in ["tmp", "new", "cur"] {
        let p = dir.join(sub);
        crate::private::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
    }
    Ok(())
}

/// One account's Maildir.
pub(crate) struct MaildirAccount {
    user: String,
    maildir: PathBuf,
    compact_at: u64,
}

impl MaildirAccount {
    /// Opens (creating if needed) `<root>/<user>/Maildir`, compacting each mailbox's
    /// index log at `compact_at` bytes. `user` has been validated.
    fn open_with(root: &Path, user: &str, compact_at: u64) -> Result<MaildirAccount> {
        let maildir = root.join(user).join("Maildir");
        ensure_maildir(&maildir)?;
        let account = MaildirAccount {
            user: user.to_owned(),
            maildir,
            compact_at,
        };
        account.recover()?;
        Ok(account)
    }

    fn tmp(&self) -> PathBuf {
        self.maildir.join("tmp")
    }

    /// Finishes or undoes what a crash interrupted, before anyone lists the mailboxes: a
    /// RENAME whose journal is there is finished (its checks were all passed before the
    /// journal was written); a RENAME INBOX whose new folder still has its marker is
    /// finished if the messages are in it (its `cur/` is there) and undone if not (the
    /// folder holds no message yet).
    fn recover(&self) -> Result<()> {
        let journal = self.maildir.join(RENAME_JOURNAL);
        match std::fs::read_to_string(&journal) {
            Ok(text) => match RenamePlan::parse_journal(&text) {
                Some(plan) => {
                    self.apply_plan(&plan, true, &mut Vec::new(), &mut Vec::new())?;
                    self.finish_journal()?;
                }
                None => warn(format_args!(
                    "{}: not a rename journal this yubin reads; left alone",
                    journal.display()
                )),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx(|| format!("reading {}", journal.display())),
        }
        let entries = std::fs::read_dir(&self.maildir)
            .ctx(|| format!("listing {}", self.maildir.display()))?;
        for entry in entries.flatten() {
            let dir = entry.path();
            let named_like_a_folder = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n != "." && n != "..");
            if !named_like_a_folder || !dir.join(RENAMING_INBOX).exists() {
                continue;
            }
            if dir.join("cur").is_dir() {
                std::fs::remove_file(dir.join(RENAMING_INBOX))
                    .ctx(|| format!("finishing {}", dir.display()))?;
                sync_dir(&dir)?;
            } else {
                std::fs::remove_dir_all(&dir).ctx(|| format!("removing {}", dir.display()))?;
                sync_dir(&self.maildir)?;
            }
        }
        Ok(())
    }

    /// Makes a folder's directories and Courier's `maildirfolder` marker; durable once
    /// the Maildir is fsynced.
    fn make_folder(&self, name: &str) -> Result<PathBuf> {
        let dir = folder_dir(&self.maildir, name);
        ensure_maildir(&dir)?;
        // Courier's marker that this directory is a Maildir++ folder.
        let marker = dir.join("maildirfolder");
        crate::private::options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&marker)
            .ctx(|| format!("creating {}", marker.display()))?;
        Ok(dir)
    }

    /// Carries out a RENAME's plan, skipping what is done already, so that the next start
    /// can run it again after a crash. Records in `created` and `renamed` what this call
    /// did, for undoing it. A new name that exists on disk though the store checked it
    /// did not (another process made it) fails the plan; when `recovering`, that rename is
    /// skipped instead, with a warning.
    fn apply_plan(
        &self,
        plan: &RenamePlan,
        recovering: bool,
        created: &mut Vec<PathBuf>,
        renamed: &mut Vec<(PathBuf, PathBuf)>,
    ) -> Result<()> {
        for name in &plan.create {
            if !folder_dir(&self.maildir, name).is_dir() {
                created.push(self.make_folder(name)?);
            }
        }
        for (from, to) in &plan.renames {
            let (a, b) = (
                folder_dir(&self.maildir, from),
                folder_dir(&self.maildir, to),
            );
            if std::fs::symlink_metadata(&b).is_ok() {
                if !a.exists() {
                    continue; // renamed before the crash
                }
                if recovering {
                    warn(format_args!(
                        "{}: exists; {} not renamed to it",
                        b.display(),
                        a.display()
                    ));
                    continue;
                }
                return Err(StoreError::MailboxExists(to.clone()));
            }
            match std::fs::rename(&a, &b) {
                Ok(()) => renamed.push((a, b)),
                Err(e) if recovering && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).ctx(|| format!("renaming {} to {}", a.display(), b.display()));
                }
            }
        }
        sync_dir(&self.maildir)?;
        if let Some(subscriptions) = &plan.subscriptions {
            self.save_subscriptions(subscriptions)?;
        }
        Ok(())
    }

    /// Removes a carried-out rename journal, durably: a journal that came back after a
    /// crash would replay an old rename over later changes.
    fn finish_journal(&self) -> Result<()> {
        let journal = self.maildir.join(RENAME_JOURNAL);
        match std::fs::remove_file(&journal) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).ctx(|| format!("removing {}", journal.display())),
        }
        sync_dir(&self.maildir)
    }
}

impl AccountBackend for MaildirAccount {
    fn mailbox_names(&self) -> Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = std::fs::read_dir(&self.maildir)
            .ctx(|| format!("listing {}", self.maildir.display()))?;
        for entry in entries {
            let entry = entry.ctx(|| format!("listing {}", self.maildir.display()))?;
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !file_name.starts_with('.') || file_name == "." || file_name == ".." {
                continue;
            }
            if !entry.path().is_dir() {
                continue;
            }
            match decode(&file_name) {
                Some(name) => names.push(name),
                None => warn(format_args!(
                    "{}: not a mailbox name yubin can serve; left alone",
                    entry.path().display()
                )),
            }
        }
        Ok(names)
    }

    fn check_name(&self, name: &str) -> Result<()> {
        // Maildir++ keeps the whole hierarchy in one directory name, escaped: that name
        // must fit the file system's limit (255 bytes on Linux), not only the mailbox
        // name the client sent.
        if name != INBOX && encode(name).len() > MAX_DIR_NAME {
            return Err(StoreError::NameTooLong {
                name: name.to_owned(),
                reason: "longer than 255 bytes once stored as a Maildir++ folder",
            });
        }
        Ok(())
    }

    fn create(&self, name: &str) -> Result<()> {
        self.make_folder(name)?;
        sync_dir(&self.maildir)
    }

    fn delete(&self, name: &str) -> Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = folder_dir(&self.maildir, name);
        // Rename first, so the mailbox disappears at once and whole; then remove the
        // files at leisure. A crash in between leaves a directory in tmp/, which no
        // reader looks at and which the 36-hour tmp/ cleanup removes.
        let grave = self.tmp().join(format!(
            "yubin-deleted.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::rename(&dir, &grave).ctx(|| format!("removing {}", dir.display()))?;
        sync_dir(&self.maildir)?;
        if let Err(e) = std::fs::remove_dir_all(&grave) {
            warn(format_args!("cannot remove {}: {e}", grave.display()));
        }
        Ok(())
    }

    /// A journal first (written whole and durable), then the directories, then the
    /// subscriptions, then the journal removed: a crash anywhere in between is finished
    /// by the next start ([`MaildirAccount::recover`]), and a failure undoes the done
    /// steps. Maildir++ keeps every level of the hierarchy as a folder of its own
    /// (`.a`, `.a.b`), so a mailbox with inferiors is several renames, and only the
    /// journal makes them one.
    fn rename_all(&self, plan: &RenamePlan) -> Result<()> {
        let journal = self.maildir.join(RENAME_JOURNAL);
        write_atomic(&journal, &self.tmp(), plan.render_journal().as_bytes())?;
        let (mut created, mut renamed) = (Vec::new(), Vec::new());
        if let Err(e) = self.apply_plan(plan, false, &mut created, &mut renamed) {
            let mut undone = true;
            for (a, b) in renamed.iter().rev() {
                if let Err(e) = std::fs::rename(b, a) {
                    warn(format_args!(
                        "cannot undo renaming {} to {}: {e}",
                        a.display(),
                        b.display()
                    ));
                    undone = false;
                }
            }
            for dir in created.iter().rev() {
                if let Err(e) = std::fs::remove_dir_all(dir) {
                    warn(format_args!("cannot remove {}: {e}", dir.display()));
                }
            }
            if undone {
                self.finish_journal()?;
            } else {
                warn(format_args!(
                    "{}: kept; the next start finishes the rename",
                    journal.display()
                ));
            }
            return Err(e);
        }
        self.finish_journal()
    }

    fn rename(&self, from: &str, to: &str) -> Result<()> {
        let (a, b) = (
            folder_dir(&self.maildir, from),
            folder_dir(&self.maildir, to),
        );
        std::fs::rename(&a, &b).ctx(|| format!("renaming {} to {}", a.display(), b.display()))?;
        sync_dir(&self.maildir)
    }

    fn open(&self, name: &str) -> Result<Box<dyn MailboxBackend>> {
        Ok(Box::new(
            MaildirMailbox::new(self.maildir.clone(), name).compact_at(self.compact_at),
        ))
    }

    fn load_subscriptions(&self) -> Result<Vec<String>> {
        let path = self.maildir.join(SUBSCRIPTIONS);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
        };
        Ok(text
            .lines()
            .filter_map(|l| canonical_mailbox(l).ok())
            .collect())
    }

    fn save_subscriptions(&self, names: &BTreeSet<String>) -> Result<()> {
        let mut text = String::new();
        for n in names {
            text.push_str(n);
            text.push('\n');
        }
        write_atomic(
            &self.maildir.join(SUBSCRIPTIONS),
            &self.tmp(),
            text.as_bytes(),
        )
    }

    fn lock_maildrop(&self) -> Result<Option<Box<dyn Send + Sync>>> {
        let path = self.maildir.join(POP_LOCK);
        let opened = crate::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path);
        let file = match opened {
            Ok(file) => file,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ReadOnlyFilesystem | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                // A read-only store: a POP3 client may still log in and read its mail
                // (QUIT's removals then fail, and say why). The lock file is taken
                // read-only if it exists; if not, no other process can change this
                // maildrop either, and the in-process lock is enough.
                match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(_) => {
                        tracing::warn!(
                            "{} cannot be created ({e}): the maildrop is read-only",
                            path.display()
                        );
                        return Ok(None);
                    }
                }
            }
            Err(e) => return Err(e).ctx(|| format!("opening {}", path.display())),
        };
        // An advisory lock on an open file: the kernel releases it when the file is closed,
        // also when the process dies, so a crashed session never leaves the maildrop locked.
        match file.try_lock() {
            Ok(()) => Ok(Some(Box::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked(self.user.clone())),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).ctx(|| format!("locking {}", path.display()))
            }
        }
    }
}

/// The Maildir backend: each account at `<root>/<user>/Maildir` under one data
/// directory. [`crate::Store::maildir`] is `Store::with_backend(MaildirBackend::new(root)?)`.
#[derive(Debug, Clone)]
pub struct MaildirBackend {
    root: PathBuf,
    compact_at: u64,
}

/// The default of [`MaildirBackend::with_compaction_at`]: 256 KiB of change log.
pub(crate) const DEFAULT_COMPACT_AT: u64 = 256 << 10;

impl MaildirBackend {
    /// The Maildir backend over the data directory `root`, which is created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<MaildirBackend> {
        let root = root.into();
        crate::private::create_dir_all(&root).ctx(|| format!("creating {}", root.display()))?;
        Ok(MaildirBackend {
            root,
            compact_at: DEFAULT_COMPACT_AT,
        })
    }

    /// Folds a mailbox's change log (`yubin-index.log`) into a new snapshot once the log
    /// holds this many bytes and more than half the snapshot's size. Smaller means more
    /// rewrites of the snapshot and a faster start; the crash tests use a tiny value so
    /// that compactions happen under their kills.
    pub fn with_compaction_at(mut self, bytes: u64) -> MaildirBackend {
        self.compact_at = bytes;
        self
    }
}

impl crate::backend::StoreBackend for MaildirBackend {
    fn open_account(&self, name: &str) -> Result<Box<dyn AccountBackend>> {
        Ok(Box::new(MaildirAccount::open_with(
            &self.root,
            name,
            self.compact_at,
        )?))
    }

    fn root(&self) -> Option<&Path> {
        Some(&self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_escape_dots_reversibly() {
        for (name, dir) in [
            ("Sent", ".Sent"),
            ("Archive/2024", ".Archive.2024"),
            ("a.b/c", ".a%2Eb.c"),
            ("100%/x.y", ".100%25.x%2Ey"),
            ("INBOX/child", ".INBOX.child"),
            ("&ZeVnLIqe-", ".&ZeVnLIqe-"),
        ] {
            assert_eq!(encode(name), dir);
            assert_eq!(decode(dir).as_deref(), Some(name));
        }
        for foreign in [
            ".", "..", ".a..b", ".INBOX", ".inbox", ".a%zz", ".a%2e", "x",
        ] {
            assert_eq!(decode(foreign), None, "{foreign}");
        }
    }
}
