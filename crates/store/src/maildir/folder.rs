//! One Maildir mailbox: message files in `new/` and `cur/`, UIDs in `yubin-uidlist`.
//!
//! Why a crash never loses, duplicates, resurrects or renumbers a message:
//!
//! * Delivery writes `tmp/<base>`, fsyncs it, renames it into `new/` or `cur/` and fsyncs
//!   that directory (once for a batch, just before the UID list is written). Readers never
//!   look in `tmp/`, so a message is whole or absent.
//! * Only then is the UID list (with the new entry and UIDNEXT past it) replaced
//!   atomically, and only then does the store return the UID or show it to any session.
//!   A crash between the rename and the list leaves a file the list does not know; the
//!   next open gives it a UID at or above the list's UIDNEXT. No one has seen a UID that
//!   high yet — every UID ever shown was in a durable list whose UIDNEXT is above it —
//!   so no UID is reused, and the file is counted exactly once.
//! * Expunge removes the file (and fsyncs the directory) before it writes the list. A
//!   crash in between leaves a list entry without a file, which the next open drops; the
//!   list's UIDNEXT stays, so the UID is not given out again. (The other order could
//!   bring the message back under a new UID.)
//! * Flag changes are one rename of the file, which flags do not otherwise touch, and
//!   the list names files by their base, which a rename keeps.
//! * UIDNEXT is never lowered: a list that goes missing is the only way to lose it, and
//!   then the mailbox gets a new UIDVALIDITY, as RFC 3501 §2.3.1.1 requires.
//!
//! Between processes (a `yubin deliver` next to a `yubin serve`), changes are serialized
//! by a lock on `yubin-uidlist.lock`, and each change first checks the list's generation
//! and rereads the mailbox if another process changed it.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, FixedOffset, Utc};

use super::filename;
use super::keywords::{self, Keywords};
use super::uidlist::{self, Entry, UidList};
use super::{ensure_maildir, folder_dir};
use crate::backend::{
    Body, Header, Loaded, MailboxBackend, new_uid_validity, sync_dir, warn, write_atomic,
};
use crate::error::IoContext;
use crate::mailbox::normalize_date;
use crate::{Flag, Flags, MessageMeta, Result, StoreError};

/// Files in `tmp/` older than this are leftovers of a crash (the Maildir convention).
const STALE_TMP: Duration = Duration::from_secs(36 * 3600);

/// Where one message's file is.
#[derive(Debug, Clone)]
struct FileEntry {
    /// The name up to `:2,`; fixed for the message's life.
    base: String,
    /// In `new/` (not yet seen by a mail reader) rather than `cur/`.
    in_new: bool,
    /// The flag letters after `:2,`, as on disk (None: no `:2,` part).
    info: Option<String>,
    /// Size in wire form.
    size: u64,
    /// The file's mtime, which is the internal date.
    date: DateTime<FixedOffset>,
}

impl FileEntry {
    fn path(&self, dir: &Path) -> PathBuf {
        dir.join(if self.in_new { "new" } else { "cur" })
            .join(filename::join(&self.base, self.info.as_deref()))
    }
}

/// One Maildir mailbox's files.
pub(crate) struct MaildirMailbox {
    maildir: PathBuf,
    dir: PathBuf,
    files: BTreeMap<u32, FileEntry>,
    keywords: Keywords,
    /// The cross-process lock, held between `begin` and `end`.
    lock: Option<File>,
    /// The generation of the UID list this process last read or wrote.
    generation: u64,
    /// Directories a `write` renamed into since the last commit; the commit fsyncs them
    /// before it writes the UID list, so a batch of deliveries shares one fsync of `new/`.
    unsynced: Vec<PathBuf>,
}

impl MaildirMailbox {
    /// A mailbox of the Maildir `maildir`; nothing is read until `load`.
    pub(crate) fn new(maildir: PathBuf, name: &str) -> MaildirMailbox {
        let dir = folder_dir(&maildir, name);
        MaildirMailbox {
            maildir,
            dir,
            files: BTreeMap::new(),
            keywords: Keywords::default(),
            lock: None,
            generation: 0,
            unsynced: Vec::new(),
        }
    }

    /// Takes the lock unless held; true if this call took it.
    fn acquire(&mut self) -> Result<bool> {
        if self.lock.is_some() {
            return Ok(false);
        }
        let path = self.dir.join(uidlist::LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening {}", path.display()))?;
        file.lock().ctx(|| format!("locking {}", path.display()))?;
        self.lock = Some(file);
        Ok(true)
    }

    /// Reads the UID list and the files, gives unknown files UIDs, drops entries whose
    /// file is gone, and writes the list back if anything changed. Lock held.
    fn reconcile(&mut self) -> Result<Loaded> {
        ensure_maildir(&self.dir)?;
        self.keywords = Keywords::load(&self.dir)?;
        let list = UidList::read(&self.dir)?;
        let mut dirty = list.is_none();
        let (mut header, generation, known) = match list {
            Some(l) => (l.header, l.generation, l.entries),
            None => (
                Header {
                    uid_validity: new_uid_validity(),
                    uid_next: 1,
                    recent_from: 1,
                },
                0,
                Vec::new(),
            ),
        };
        self.generation = generation;

        let mut found = self.scan()?;
        let mut files = BTreeMap::new();
        for Entry { uid, size, base } in known {
            match found.remove(&base) {
                Some(mut f) => {
                    f.size = size;
                    files.insert(uid, f);
                }
                None => dirty = true, // vanished: expunged by another program
            }
        }
        // Files no list knows: delivered by another program, or by us just before a
        // crash. They get fresh UIDs, in delivery order.
        let mut unknown: Vec<FileEntry> = found.into_values().collect();
        unknown.sort_by(|a, b| (a.date, &a.base).cmp(&(b.date, &b.base)));
        for mut f in unknown {
            f.size = match filename::wire_size(&f.base) {
                Some(size) => size,
                None => match std::fs::read(f.path(&self.dir)) {
                    Ok(raw) => crate::wire::wire_size(&raw),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => {
                        return Err(e).ctx(|| format!("reading {}", f.path(&self.dir).display()));
                    }
                },
            };
            if header.uid_next == u32::MAX {
                return Err(StoreError::Corrupt(format!(
                    "{}: UIDs exhausted",
                    self.dir.display()
                )));
            }
            files.insert(header.uid_next, f);
            header.uid_next += 1;
            dirty = true;
        }
        self.files = files;
        if dirty {
            self.write_list(&header)?;
        }
        self.clean_tmp();
        let messages = self
            .files
            .iter()
            .map(|(&uid, f)| MessageMeta {
                uid,
                flags: f
                    .info
                    .as_deref()
                    .map(|i| filename::parse_letters(i, &self.keywords))
                    .unwrap_or_default(),
                internal_date: f.date,
                size: f.size,
            })
            .collect();
        Ok(Loaded { header, messages })
    }

    /// Every message file in `new/` and `cur/`, by base name.
    fn scan(&self) -> Result<HashMap<String, FileEntry>> {
        let mut found: HashMap<String, FileEntry> = HashMap::new();
        for (sub, in_new) in [("new", true), ("cur", false)] {
            let dir = self.dir.join(sub);
            let entries = std::fs::read_dir(&dir).ctx(|| format!("listing {}", dir.display()))?;
            for entry in entries {
                let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    warn(format_args!(
                        "{}: name is not UTF-8; skipped",
                        entry.path().display()
                    ));
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let meta = match entry.metadata() {
                    Ok(m) if m.is_file() => m,
                    Ok(_) => continue,
                    // Renamed or removed by another program since the listing.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e).ctx(|| format!("reading {}", entry.path().display())),
                };
                let (base, info) = filename::split(name);
                if found.contains_key(base) {
                    warn(format_args!(
                        "{}: a second file for one message; skipped",
                        entry.path().display()
                    ));
                    continue;
                }
                let date = meta
                    .modified()
                    .map(|t| normalize_date(DateTime::<Utc>::from(t).fixed_offset()))
                    .unwrap_or_else(|_| normalize_date(Utc::now().fixed_offset()));
                found.insert(
                    base.to_owned(),
                    FileEntry {
                        base: base.to_owned(),
                        in_new,
                        info: info.map(str::to_owned),
                        size: meta.len(),
                        date,
                    },
                );
            }
        }
        Ok(found)
    }

    /// Replaces the UID list. Lock held.
    fn write_list(&mut self, header: &Header) -> Result<()> {
        let list = UidList {
            header: *header,
            generation: self.generation + 1,
            entries: self
                .files
                .iter()
                .map(|(&uid, f)| Entry {
                    uid,
                    size: f.size,
                    base: f.base.clone(),
                })
                .collect(),
        };
        write_atomic(
            &self.dir.join(uidlist::FILE),
            &self.dir.join("tmp"),
            list.render().as_bytes(),
        )?;
        self.generation = list.generation;
        Ok(())
    }

    /// Removes what crashes left in `tmp/` more than 36 hours ago.
    fn clean_tmp(&self) {
        let tmp = self.dir.join("tmp");
        let Ok(entries) = std::fs::read_dir(&tmp) else {
            return;
        };
        let now = SystemTime::now();
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            let old = meta
                .modified()
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > STALE_TMP);
            if old {
                let path = entry.path();
                let removed = if meta.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                if let Err(e) = removed {
                    warn(format_args!("cannot remove stale {}: {e}", path.display()));
                }
            }
        }
    }

    /// The flag letters for `flags`, giving new keywords letters (and saving the table)
    /// as needed.
    fn info_for(&mut self, flags: &Flags, old: Option<&str>) -> Result<String> {
        let missing: Vec<&str> = flags
            .iter()
            .filter_map(|f| match f {
                Flag::Keyword(k) if self.keywords.letter(k).is_none() => Some(k.as_str()),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            // Another process may have added keywords since we read the table; we hold
            // the lock, so rereading now is safe.
            self.keywords = Keywords::load(&self.dir)?;
            let mut added = false;
            for k in missing {
                if self.keywords.letter(k).is_none() {
                    match self.keywords.assign(k) {
                        Some(_) => added = true,
                        None => warn(format_args!(
                            "{}: no keyword letter left for {k:?}; it is not kept on disk",
                            self.dir.display()
                        )),
                    }
                }
            }
            if added {
                write_atomic(
                    &self.dir.join(keywords::FILE),
                    &self.dir.join("tmp"),
                    self.keywords.render().as_bytes(),
                )?;
            }
        }
        let keywords = &self.keywords;
        Ok(filename::letters(flags, old, keywords, |k| {
            keywords.letter(k)
        }))
    }

    /// Looks for the file of `uid` again (another program renamed it).
    fn relocate_file(&mut self, uid: u32) -> Option<()> {
        let base = self.files.get(&uid)?.base.clone();
        let found = self.scan().ok()?.remove(&base)?;
        let entry = self.files.get_mut(&uid)?;
        entry.in_new = found.in_new;
        entry.info = found.info;
        Some(())
    }
}

impl MailboxBackend for MaildirMailbox {
    fn load(&mut self) -> Result<Loaded> {
        ensure_maildir(&self.dir)?;
        let took = self.acquire()?;
        let result = self.reconcile();
        if took {
            self.lock = None;
        }
        result
    }

    fn rescan(&mut self) -> Result<Option<Loaded>> {
        self.load().map(Some)
    }

    fn begin(&mut self) -> Result<Option<Loaded>> {
        self.acquire()?;
        if UidList::read_generation(&self.dir)? == Some(self.generation) {
            return Ok(None);
        }
        self.reconcile().map(Some)
    }

    fn end(&mut self) {
        // Closing the file releases the lock.
        self.lock = None;
    }

    fn write(
        &mut self,
        uid: u32,
        wire: &[u8],
        flags: &Flags,
        date: DateTime<FixedOffset>,
    ) -> Result<()> {
        let info = if flags.is_empty() {
            None
        } else {
            Some(self.info_for(flags, None)?)
        };
        let base = filename::unique_base(wire.len() as u64);
        let tmp = self.dir.join("tmp").join(&base);
        let entry = FileEntry {
            base,
            // A message without flags goes to new/, as an MDA would put it: mail readers
            // show it as new.
            in_new: info.is_none(),
            info,
            size: wire.len() as u64,
            date,
        };
        let dest = entry.path(&self.dir);
        let mut renamed = false;
        let result = (|| {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .ctx(|| format!("creating {}", tmp.display()))?;
            f.write_all(wire)
                .ctx(|| format!("writing {}", tmp.display()))?;
            f.set_modified(SystemTime::from(date))
                .ctx(|| format!("setting the date of {}", tmp.display()))?;
            f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
            drop(f);
            std::fs::rename(&tmp, &dest)
                .ctx(|| format!("moving {} to {}", tmp.display(), dest.display()))?;
            renamed = true;
            Ok(())
        })();
        if let Err(e) = result {
            // Leave nothing behind: no partial file, no stale temp file, no message whose
            // delivery reported failure.
            let _ = std::fs::remove_file(if renamed { &dest } else { &tmp });
            return Err(e);
        }
        let parent = dest.parent().unwrap_or(&self.dir).to_path_buf();
        if !self.unsynced.contains(&parent) {
            self.unsynced.push(parent);
        }
        self.files.insert(uid, entry);
        Ok(())
    }

    fn discard(&mut self, uid: u32) {
        if let Some(f) = self.files.remove(&uid) {
            let path = f.path(&self.dir);
            if let Err(e) = std::fs::remove_file(&path) {
                warn(format_args!("cannot remove {}: {e}", path.display()));
            }
            if let Some(parent) = path.parent() {
                let _ = sync_dir(parent);
            }
        }
    }

    fn commit(&mut self, header: &Header) -> Result<()> {
        // The renames of this batch's messages are durable before the list names them.
        for dir in std::mem::take(&mut self.unsynced) {
            if let Err(e) = sync_dir(&dir) {
                self.unsynced.push(dir);
                return Err(e);
            }
        }
        self.write_list(header)
    }

    fn body(&self, uid: u32) -> Option<Body> {
        let f = self.files.get(&uid)?;
        Some(Body::File {
            path: f.path(&self.dir),
            wire_size: f.size,
        })
    }

    fn find(&mut self, uid: u32) -> Option<Body> {
        // Our own rename (a flag change by another session of this process) is already
        // recorded; only a rename by another program needs a directory scan.
        let path = self.files.get(&uid)?.path(&self.dir);
        if !path.exists() {
            self.relocate_file(uid)?;
        }
        self.body(uid)
    }

    fn set_flags(&mut self, uid: u32, flags: &Flags) -> Result<()> {
        let old_info = match self.files.get(&uid) {
            Some(f) => f.info.clone(),
            None => return Err(StoreError::NoSuchMessage(uid)),
        };
        let info = self.info_for(flags, old_info.as_deref())?;
        for attempt in 0..2 {
            let Some(f) = self.files.get(&uid) else {
                return Err(StoreError::NoSuchMessage(uid));
            };
            if !f.in_new && f.info.as_deref() == Some(info.as_str()) {
                return Ok(());
            }
            let from = f.path(&self.dir);
            let was_new = f.in_new;
            let mut moved = f.clone();
            moved.in_new = false;
            moved.info = Some(info.clone());
            let to = moved.path(&self.dir);
            match std::fs::rename(&from, &to) {
                Ok(()) => {
                    sync_dir(&self.dir.join("cur"))?;
                    if was_new {
                        sync_dir(&self.dir.join("new"))?;
                    }
                    self.files.insert(uid, moved);
                    return Ok(());
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && attempt == 0 => {
                    if self.relocate_file(uid).is_none() {
                        return Err(StoreError::NoSuchMessage(uid));
                    }
                }
                Err(e) => {
                    return Err(e)
                        .ctx(|| format!("renaming {} to {}", from.display(), to.display()));
                }
            }
        }
        Err(StoreError::NoSuchMessage(uid))
    }

    fn remove(&mut self, uid: u32) -> Result<()> {
        for attempt in 0..2 {
            let Some(f) = self.files.get(&uid) else {
                return Ok(());
            };
            let path = f.path(&self.dir);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    sync_dir(path.parent().unwrap_or(&self.dir))?;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if attempt > 0 || self.relocate_file(uid).is_none() {
                        break; // already gone
                    }
                }
                Err(e) => return Err(e).ctx(|| format!("removing {}", path.display())),
            }
        }
        self.files.remove(&uid);
        Ok(())
    }

    fn relocate(&mut self, name: &str) {
        self.dir = folder_dir(&self.maildir, name);
    }
}
