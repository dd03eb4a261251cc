//! One Maildir mailbox: message files in `new/` and `cur/`, UIDs, flags and modseqs in
//! the index (`yubin-index` + `yubin-index.log`, see the `index` module).
//!
//! Why a crash never loses, duplicates, resurrects or renumbers a message:
//!
//! * Delivery writes a file in `tmp/` (as the message arrives: the `receive` module),
//!   fsyncs it, links it into `new/` or `cur/` (renames it, for a batch append) and
//!   fsyncs that directory (once for a group) before the log records it; the store shows
//!   a UID only after that record is durable. A crash in between leaves a file the index
//!   does not know, which the next look gives a UID at or above UIDNEXT: no one has seen
//!   a UID that high, so none is reused, and the file is counted once. A crash before the
//!   link leaves only a file in `tmp/`, which no one reads and the 36-hour cleanup
//!   removes.
//! * Expunge removes the files (and fsyncs the directory) before it logs the expunge. A
//!   crash in between leaves a record without a file, which the next look records as an
//!   expunge; UIDNEXT stays, so the UID is never given out again.
//! * A flag change is one log record, durable before the reply. File names are brought up
//!   to date afterwards (`tidy`, in the background, without an fsync each). The index
//!   records each file's name as last known (written by us, logged by another yubin, or
//!   seen by a scan): a file still under that name whose flags lag is a rename owed and is
//!   renamed again; a file whose name changed to other flags was renamed by another
//!   program (mutt marking mail read), and its flags are adopted. The `names` mark (all
//!   renames done up to a modseq) only spares a restart the scan when nothing lags.
//! * UIDNEXT and HIGHESTMODSEQ are never lowered: they only grow in the log, and an index
//!   that goes missing gives the mailbox a new UIDVALIDITY (RFC 3501 §2.3.1.1).
//!
//! MOVE (RFC 6851) from mailbox S to mailbox D of one account, with both mailboxes'
//! locks held throughout: each index first logs a mark that the next open must scan
//! (a group whose `names` and directory times are 0; written, not fsynced); then each
//! file is renamed from S's `new/` or `cur/` into D's `cur/` (one `rename(2)`, so the
//! file is in exactly one of the two directories whenever the process dies); then D logs
//! its records and S its expunges, each group durable, each taking the mark back. The
//! base name stays; the flag letters are D's (each folder has its own keyword letters,
//! saved durably before a file is named with them). A crash:
//!
//! 1. before a file's rename leaves it in S, where S's index has it: not moved;
//! 2. after the rename, before D's log group, leaves it in D's `cur/` unknown to D's
//!    index, and named in S's index but gone from S. Each mailbox's next look scans (the
//!    mark says so, and so do the directories' mtimes, unless a rename fell in the clock
//!    tick they were recorded in; another yubin's watcher sees names it did not expect):
//!    D adopts the file (a new UID at or above UIDNEXT, the flags its name shows, the
//!    date its mtime keeps) and S records it expunged. It is in D once, never in S too;
//! 3. after D's log group, before S's, leaves it recorded in D and still named in S's
//!    index, which S's scan records as expunged, as in 2;
//! 4. after S's log group: done.
//!
//! A retried MOVE of the same UIDs finds in S only the messages that did not move, so it
//! adds no copy. A MOVE that fails (not a crash) before D's records are durable renames
//! every file back (`discard`); a file that cannot go back is adopted by D's next scan and
//! expunged by S's, so even then it is in one mailbox only. Across file systems (a folder
//! mounted elsewhere) a rename cannot move a file: the store copies it and removes it
//! from S after D's log group, so a crash between those can leave it in both, never in
//! neither.
//!
//! RENAME INBOX (RFC 3501 §6.3.5) moves every message at once. Under INBOX's lock: every
//! file is first renamed into `cur/` under the name its flags call for; the new folder is
//! built in `tmp/` without a `cur/` (keyword letters, an index listing every message with
//! its flags and date under a new UIDVALIDITY, and a marker, `yubin-renaming-inbox`, that
//! says its messages are still to come) and renamed into place; then INBOX's `cur/` is
//! renamed into it (every message moves in that one step), INBOX gets a fresh `cur/`, the
//! marker goes, and INBOX logs the expunges (before all this, INBOX's index logs the mark
//! that makes its next open scan). At the account's next start a folder that
//! still has the marker is finished if it has its `cur/` (the messages arrived) and
//! removed if not (it holds no message yet), so a crash leaves all of INBOX's messages in
//! INBOX or all in the new mailbox: whole, never partial, never doubled. INBOX's own
//! scan records the expunges a crash kept it from logging. A message another program
//! delivers into INBOX's `new/` meanwhile stays in INBOX.
//!
//! Freshness: the index's header records the mtimes of `new/` and `cur/` after this
//! process's own changes. If they differ later, someone else changed the directories and
//! the files are scanned; so is everything an inotify watcher reports under a name this
//! process did not touch itself (mtimes alone have a clock tick's granularity). Another
//! yubin process's changes arrive through the log, read from where this one stopped. That
//! place is only good in the same log: it is known by its inode and by the generation its
//! first line names, since a compaction unlinks the old log and the file system may give
//! its inode number to a later one (taken for the same, a process would miss what others
//! logged, adopt their moved-in files again under new UIDs, and write over their groups).
//!
//! Between processes, changes are serialized by a lock on `yubin-index.lock`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};

use super::filename;
use super::index::{self, IndexHeader, Line, Snapshot, Stamp};
use super::keywords::{self, Keywords};
use super::receive::MaildirReceiving;
use super::uidlist::UidList;
use super::watch::Watched;
use super::{RENAMING_INBOX, ensure_maildir, folder_dir};
use crate::backend::{
    Body, BodyReader, Header, Loaded, MailboxBackend, Receiver, Receiving, Record, Synced, Taken,
    Wake, new_uid_validity, sync_dir, warn, write_atomic,
};
use crate::error::IoContext;
use crate::mailbox::normalize_date;
use crate::{Flag, Flags, MessageMeta, Result, StoreError};

/// Renames per [`MailboxBackend::tidy`] call: about 20 ms of work, after which the
/// writer lock is let go so waiting changes go first.
const TIDY_BATCH: usize = 1024;

/// Files in `tmp/` older than this are leftovers of a crash (the Maildir convention).
const STALE_TMP: Duration = Duration::from_secs(36 * 3600);
/// The lock file that serializes changes among processes.
const LOCK_FILE: &str = "yubin-index.lock";

/// One message as the backend knows it.
#[derive(Debug, Clone)]
struct Msg {
    /// The name up to `:2,`; fixed for the message's life.
    base: Arc<str>,
    /// In `new/` rather than `cur/`.
    in_new: bool,
    /// The letters after `:2,` as on disk (None: no `:2,` part).
    info: Option<Box<str>>,
    /// Size in wire form.
    size: u64,
    flags: Flags,
    modseq: u64,
    /// Internal date, seconds.
    date: i64,
}

impl Msg {
    fn file_name(&self) -> String {
        filename::join(&self.base, self.info.as_deref())
    }

    fn path(&self, dir: &Path) -> PathBuf {
        dir.join(if self.in_new { "new" } else { "cur" })
            .join(self.file_name())
    }

    fn place(&self) -> index::Place {
        index::Place {
            base: self.base.clone(),
            in_new: self.in_new,
            info: self.info.clone(),
        }
    }

    fn meta(&self, uid: u32) -> MessageMeta {
        MessageMeta {
            uid,
            flags: self.flags.clone(),
            internal_date: chrono::TimeZone::timestamp_opt(&Utc, self.date, 0)
                .single()
                .unwrap_or_default()
                .fixed_offset(),
            size: self.size,
            modseq: self.modseq,
        }
    }
}

/// The messages and the directory, shared with readers (who only look up paths).
struct Table {
    dir: PathBuf,
    msgs: BTreeMap<u32, Msg>,
}

struct Shared(RwLock<Table>);

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        self.0.read().unwrap_or_else(|p| p.into_inner())
    }
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl BodyReader for Shared {
    fn body(&self, uid: u32) -> Option<Body> {
        let t = self.read();
        let m = t.msgs.get(&uid)?;
        Some(Body::File {
            path: m.path(&t.dir),
            wire_size: m.size,
        })
    }
}

impl Receiver for Shared {
    fn receive(&self) -> Result<Box<dyn Receiving>> {
        // The directory as of now: a rename of the mailbox moves it.
        let tmp = self.read().dir.join("tmp");
        Ok(Box::new(MaildirReceiving::create(&tmp)?))
    }
}

/// Whether `file` is the log of `generation`, by its preamble. With the inode, this is
/// what identifies the log a cursor points into: inode numbers are reused once a
/// compaction has unlinked the old log, and a process that took a newer log of the same
/// inode for its own would read nothing new (missing what others logged) and write its
/// group at a stale offset, cutting off theirs.
fn is_log_of(file: &File, generation: u64) -> bool {
    let want = index::log_preamble(generation);
    let mut buf = vec![0; want.len()];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, 0).is_ok() && buf == want.as_bytes()
}

/// Where this process stopped reading the log.
#[derive(Debug, Clone, Copy, Default)]
struct Cursor {
    /// Identity of the log file (inode; with the generation's preamble, `is_log_of`), so
    /// a replacement is noticed.
    ino: u64,
    /// End of the last complete group read or written.
    offset: u64,
}

/// One Maildir mailbox's files and index.
pub(crate) struct MaildirMailbox {
    maildir: PathBuf,
    dir: PathBuf,
    shared: Arc<Shared>,
    vanished: Vec<(u32, u64)>,
    head: IndexHeader,
    /// The snapshot's generation; `None` until one is written.
    generation: Option<u64>,
    cursor: Option<Cursor>,
    keywords: Keywords,
    /// The cross-process lock, held between `begin` and `end`.
    lock: Option<File>,
    /// Messages staged for the next commit (written to disk, not yet in the index).
    staged: BTreeMap<u32, Msg>,
    /// Staged messages that a MOVE renamed in from another mailbox, with where each came
    /// from: a failed commit renames them back.
    moved_in: HashMap<u32, PathBuf>,
    /// Directories whose entries changed since the last commit, to fsync before it.
    unsynced: BTreeSet<PathBuf>,
    /// Messages whose file names lag behind their flags.
    pending: BTreeSet<u32>,
    /// Names as they were before a lookup found the files renamed (by another program):
    /// the next reconcile compares with these, so it still sees the flag change.
    relocated: HashMap<u32, Option<Box<str>>>,
    /// Renames done since the last log group, to record with the next one (so that a
    /// restarted or another process knows where every file is without a scan).
    moves: Vec<(u32, index::Place)>,
    /// This process changed `new/` or `cur/` since the last log group: record their
    /// mtimes with the next one, so its own changes do not look like someone else's.
    restamp: bool,
    /// Files are being renamed in or out (MOVE, RENAME INBOX) ahead of the records
    /// saying so: the log says the next open must scan, until a commit records them
    /// (see [`MaildirMailbox::scan_after_crash`]).
    scan_due: bool,
    /// Changes found while doing something else, for the next `poll`/`begin` to report.
    stash: Vec<Record>,
    watched: Arc<Watched>,
    /// The log has grown enough to be folded into a snapshot.
    compact: bool,
    /// The log is folded into a new snapshot once it is this large and larger than half
    /// the snapshot: compaction rewrites the snapshot, so its cost is amortized over at
    /// least that many bytes of log.
    compact_at: u64,
}

fn stamp(dir: &Path) -> Stamp {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i128)
}

impl MaildirMailbox {
    /// A mailbox of the Maildir `maildir`; nothing is read until `load`.
    pub(crate) fn new(maildir: PathBuf, name: &str) -> MaildirMailbox {
        let dir = folder_dir(&maildir, name);
        MaildirMailbox {
            maildir,
            shared: Arc::new(Shared(RwLock::new(Table {
                dir: dir.clone(),
                msgs: BTreeMap::new(),
            }))),
            dir,
            vanished: Vec::new(),
            head: IndexHeader::default(),
            generation: None,
            cursor: None,
            keywords: Keywords::default(),
            lock: None,
            staged: BTreeMap::new(),
            moved_in: HashMap::new(),
            unsynced: BTreeSet::new(),
            pending: BTreeSet::new(),
            relocated: HashMap::new(),
            moves: Vec::new(),
            restamp: false,
            scan_due: false,
            stash: Vec::new(),
            watched: Arc::new(Watched::default()),
            compact: false,
            compact_at: super::DEFAULT_COMPACT_AT,
        }
    }

    /// Sets when the log is compacted (see [`super::MaildirBackend::with_compaction_at`]).
    pub(crate) fn compact_at(mut self, bytes: u64) -> MaildirMailbox {
        self.compact_at = bytes;
        self
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join(index::LOG)
    }

    /// Takes the lock unless held; true if this call took it.
    fn acquire(&mut self) -> Result<bool> {
        if self.lock.is_some() {
            return Ok(false);
        }
        let path = self.dir.join(LOCK_FILE);
        let file = crate::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("opening {}", path.display()))?;
        file.lock().ctx(|| format!("locking {}", path.display()))?;
        self.lock = Some(file);
        Ok(true)
    }

    fn expect(&self, names: impl IntoIterator<Item = String>) {
        self.watched.expect(names);
    }

    /// Reads the snapshot and the log into memory, replacing what was there.
    fn read_index(&mut self) -> Result<bool> {
        self.keywords = Keywords::load(&self.dir)?;
        let mut needs_scan = false;
        // No snapshot of ours (a new mailbox, an earlier yubin's index, a damaged one):
        // the next write makes one. Kept apart from `compact` (the log is long), which
        // says nothing about whether the snapshot on disk and its log can be trusted.
        let mut ours = true;
        let snapshot = match Snapshot::read(&self.dir)? {
            Some(s) => Some(s),
            None => {
                needs_scan = true;
                ours = false;
                self.compact = true;
                // An index of an earlier yubin: UIDs and UIDVALIDITY are kept; flags and
                // dates come from the files by the scan that follows.
                match UidList::read(&self.dir) {
                    Ok(Some(list)) => Some(Snapshot {
                        generation: 0,
                        head: IndexHeader {
                            header: Header {
                                highest_modseq: 1,
                                ..list.header
                            },
                            ..IndexHeader::default()
                        },
                        messages: list
                            .entries
                            .into_iter()
                            .map(|e| {
                                (
                                    MessageMeta {
                                        uid: e.uid,
                                        flags: Flags::new(),
                                        internal_date: Utc::now().fixed_offset(),
                                        size: e.size,
                                        modseq: 1,
                                    },
                                    index::Place {
                                        base: e.base.into(),
                                        in_new: false,
                                        info: None,
                                    },
                                )
                            })
                            .collect(),
                        vanished: Vec::new(),
                    }),
                    Ok(None) => None,
                    Err(e) => {
                        warn(format_args!("{e}; rebuilt from the message files"));
                        None
                    }
                }
            }
        };
        let snapshot = snapshot.unwrap_or_else(|| Snapshot {
            generation: 0,
            head: IndexHeader {
                header: Header {
                    uid_validity: new_uid_validity(),
                    uid_next: 1,
                    recent_from: 1,
                    highest_modseq: 0,
                },
                ..IndexHeader::default()
            },
            ..Snapshot::default()
        });
        self.head = snapshot.head;
        self.generation = ours.then_some(snapshot.generation);
        self.vanished = snapshot.vanished;
        // Ascending UIDs (the snapshot is sorted): the map is built in one pass.
        let table: BTreeMap<u32, Msg> = snapshot
            .messages
            .into_iter()
            .map(|(meta, place)| {
                (
                    meta.uid,
                    Msg {
                        base: place.base,
                        in_new: place.in_new,
                        info: place.info,
                        size: meta.size,
                        flags: meta.flags,
                        modseq: meta.modseq,
                        date: meta.internal_date.timestamp(),
                    },
                )
            })
            .collect();
        self.shared.write().msgs = table;
        self.cursor = None;
        if let Some(generation) = self.generation {
            self.read_log_tail(generation)?;
        }
        // File names are known only from a scan (the index does not keep them): until one
        // runs, the table's names are guesses, so the first load always scans unless
        // every name is known to match (no lag, directories untouched).
        if self.head.names < self.head.header.highest_modseq
            || stamp(&self.dir.join("new")) != self.head.new
            || stamp(&self.dir.join("cur")) != self.head.cur
        {
            needs_scan = true;
        }
        Ok(needs_scan)
    }

    /// Applies the log from the cursor on (from its start if there is no cursor), for a
    /// log of `generation`. Returns the records, or `None` if the log was replaced by one
    /// of another generation (then the caller reloads).
    fn read_log_tail(&mut self, generation: u64) -> Result<Option<(Vec<Record>, bool)>> {
        let path = self.log_path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.cursor = None;
                return Ok(Some((Vec::new(), false)));
            }
            Err(e) => return Err(e).ctx(|| format!("opening {}", path.display())),
        };
        let meta = file
            .metadata()
            .ctx(|| format!("reading {}", path.display()))?;
        let ino = std::os::unix::fs::MetadataExt::ino(&meta);
        let mut cursor = match self.cursor {
            // The inode alone is not enough: a compaction unlinks the old log, and the
            // file system may give its inode number to the next one another process
            // writes; the generation in the preamble tells them apart.
            Some(c) if c.ino == ino && is_log_of(&file, generation) => c,
            Some(_) => return Ok(None),
            None => {
                let mut first = String::new();
                std::io::BufRead::read_line(&mut std::io::BufReader::new(&file), &mut first)
                    .ctx(|| format!("reading {}", path.display()))?;
                match index::parse_preamble(first.trim_end()) {
                    Some(g) if g == generation => Cursor {
                        ino,
                        offset: first.len() as u64,
                    },
                    // A stale log (a compaction stopped between its two renames) or a
                    // damaged one: what it held is in the snapshot or on disk.
                    _ => return Ok(Some((Vec::new(), false))),
                }
            }
        };
        if meta.len() <= cursor.offset {
            self.cursor = Some(cursor);
            return Ok(Some((Vec::new(), false)));
        }
        file.seek(SeekFrom::Start(cursor.offset))
            .ctx(|| format!("reading {}", path.display()))?;
        let mut text = Vec::with_capacity((meta.len() - cursor.offset) as usize);
        file.read_to_end(&mut text)
            .ctx(|| format!("reading {}", path.display()))?;
        let (groups, consumed) = index::parse_groups(&text, &path);
        cursor.offset += consumed as u64;
        self.cursor = Some(cursor);
        let mut records = Vec::new();
        for group in groups {
            for line in group {
                self.apply_line(line, &mut records);
            }
        }
        Ok(Some((records, consumed < text.len())))
    }

    /// Applies one logged line to memory (another process's change, or replay at load).
    fn apply_line(&mut self, line: Line, records: &mut Vec<Record>) {
        match line {
            Line::Moved { uid, place } => {
                if let Some(m) = self.shared.write().msgs.get_mut(&uid) {
                    m.in_new = place.in_new;
                    m.info = place.info;
                }
            }
            Line::Added { meta, place } => {
                let base: Arc<str> = place.base;
                let uid = meta.uid;
                self.shared.write().msgs.insert(
                    uid,
                    Msg {
                        base,
                        in_new: place.in_new,
                        info: place.info,
                        size: meta.size,
                        flags: meta.flags.clone(),
                        modseq: meta.modseq,
                        date: meta.internal_date.timestamp(),
                    },
                );
                records.push(Record::Added(meta));
            }
            Line::Flags { uid, modseq, flags } => {
                if let Some(m) = self.shared.write().msgs.get_mut(&uid) {
                    m.flags = flags.clone();
                    m.modseq = modseq;
                    // Until a scan shows the file renamed, its old name is a rename owed
                    // (by whoever logged this, or by us should they crash), never a
                    // change by another program; our tidy does it if no one else has.
                    self.pending.insert(uid);
                    records.push(Record::Flags { uid, modseq, flags });
                }
            }
            Line::Expunged { uid, modseq } => {
                if self.shared.write().msgs.remove(&uid).is_some() {
                    self.pending.remove(&uid);
                    records.push(Record::Expunged { uid, modseq });
                }
                self.vanished.push((uid, modseq));
            }
            Line::End(h) => {
                let uid_next = self.head.header.uid_next.max(h.header.uid_next);
                let modseq = self.head.header.highest_modseq.max(h.header.highest_modseq);
                let names = if self.pending.is_empty() {
                    h.names
                } else {
                    h.names.min(self.head.names)
                };
                self.head = h;
                self.head.names = names;
                self.head.header.uid_next = uid_next;
                self.head.header.highest_modseq = modseq;
            }
        }
    }

    /// Every message file in `new/` and `cur/`, by base name.
    fn scan(&self) -> Result<HashMap<String, Found>> {
        let mut found: HashMap<String, Found> = HashMap::new();
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
                let (base, info) = filename::split(name);
                if found.contains_key(base) {
                    warn(format_args!(
                        "{}: a second file for one message; skipped",
                        entry.path().display()
                    ));
                    continue;
                }
                found.insert(
                    base.to_owned(),
                    Found {
                        in_new,
                        info: info.map(Into::into),
                    },
                );
            }
        }
        Ok(found)
    }

    /// Compares the files with the index and returns what others changed, as records
    /// numbered with one new modseq, already applied to memory but not yet logged (the
    /// caller commits them). Lock held.
    fn reconcile(&mut self) -> Result<Vec<Record>> {
        // The folder itself gone means another process renamed or deleted it (it was
        // there when this one was opened): making it again would leave an empty mailbox
        // under the old name, beside the renamed one. Its subdirectories, yes (a tool
        // may remove an empty `cur/`; RENAME INBOX moves INBOX's away).
        if !self.dir.is_dir() {
            return Err(StoreError::NoSuchMailbox(self.dir.display().to_string()));
        }
        ensure_maildir(&self.dir)?;
        self.keywords = Keywords::load(&self.dir)?;
        let mut found = self.scan()?;
        let modseq = self.head.header.highest_modseq + 1;
        let mut records = Vec::new();
        {
            let mut table = self.shared.write();
            let mut gone = Vec::new();
            for (&uid, m) in table.msgs.iter_mut() {
                let Some(f) = found.remove(&*m.base) else {
                    gone.push(uid);
                    continue;
                };
                // What the name said when this process last knew it (its own rename,
                // another yubin's logged one, or the last scan), and what it says now.
                let letters = |info: &Option<Box<str>>| {
                    info.as_deref()
                        .map(|i| filename::parse_letters(i, &self.keywords))
                        .unwrap_or_default()
                };
                let before = match self.relocated.remove(&uid) {
                    Some(info) => letters(&info),
                    None => letters(&m.info),
                };
                let on_disk = letters(&f.info);
                m.in_new = f.in_new;
                m.info = f.info;
                let expected: Flags = m
                    .flags
                    .iter()
                    .filter(|f| match f {
                        Flag::Keyword(k) => self.keywords.letter(k).is_some(),
                        _ => true,
                    })
                    .cloned()
                    .collect();
                if on_disk == expected {
                    // Whoever owed the rename has done it.
                    if !m.in_new || m.flags.is_empty() {
                        self.pending.remove(&uid);
                    }
                    continue;
                }
                if on_disk == before {
                    // The name did not change (or only moved from new/ to cur/, as a mail
                    // reader does with mail it has listed): the flags changed here and the
                    // rename is owed, since before a crash or still queued. Deciding by
                    // the name as last known, never by a watermark, is what keeps an
                    // acknowledged change from being mistaken for another program's.
                    self.pending.insert(uid);
                    continue;
                }
                // Another program changed the flags (mutt marking mail read). Keywords
                // without a letter cannot be in a file name; they stay.
                let mut flags = on_disk;
                flags.extend(
                    m.flags
                        .iter()
                        .filter(
                            |f| matches!(f, Flag::Keyword(k) if self.keywords.letter(k).is_none()),
                        )
                        .cloned(),
                );
                m.flags = flags.clone();
                m.modseq = modseq;
                records.push(Record::Flags { uid, modseq, flags });
            }
            self.relocated.clear();
            for uid in gone {
                table.msgs.remove(&uid);
                self.pending.remove(&uid);
                self.vanished.push((uid, modseq));
                records.push(Record::Expunged { uid, modseq });
            }
        }
        // Files the index does not know: delivered by another program, or by us just
        // before a crash. They get fresh UIDs, in delivery order.
        let mut unknown: Vec<(String, Found, Option<std::fs::Metadata>)> = found
            .into_iter()
            .map(|(base, f)| {
                let path = self
                    .dir
                    .join(if f.in_new { "new" } else { "cur" })
                    .join(filename::join(&base, f.info.as_deref()));
                let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file());
                (base, f, meta)
            })
            .filter(|(_, _, m)| m.is_some())
            .collect();
        let date_of = |m: &Option<std::fs::Metadata>| {
            m.as_ref()
                .and_then(|m| m.modified().ok())
                .map(|t| normalize_date(DateTime::<Utc>::from(t).fixed_offset()))
                .unwrap_or_else(|| normalize_date(Utc::now().fixed_offset()))
        };
        unknown.sort_by(|a, b| (date_of(&a.2), &a.0).cmp(&(date_of(&b.2), &b.0)));
        for (base, f, meta) in unknown {
            let path = self
                .dir
                .join(if f.in_new { "new" } else { "cur" })
                .join(filename::join(&base, f.info.as_deref()));
            let size = match filename::wire_size(&base) {
                Some(size) => size,
                None => match std::fs::read(&path) {
                    Ok(raw) => crate::wire::wire_size(&raw),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e).ctx(|| format!("reading {}", path.display())),
                },
            };
            let uid = self.head.header.uid_next;
            if uid == u32::MAX {
                return Err(StoreError::Corrupt(format!(
                    "{}: UIDs exhausted",
                    self.dir.display()
                )));
            }
            self.head.header.uid_next += 1;
            let flags = f
                .info
                .as_deref()
                .map(|i| filename::parse_letters(i, &self.keywords))
                .unwrap_or_default();
            let msg = Msg {
                base: base.clone().into(),
                in_new: f.in_new,
                info: f.info,
                size,
                flags,
                modseq,
                date: date_of(&meta).timestamp(),
            };
            records.push(Record::Added(msg.meta(uid)));
            self.staged.insert(uid, msg);
        }
        if !records.is_empty() {
            self.head.header.highest_modseq = modseq;
        }
        Ok(records)
    }

    /// Everything others changed since we last looked; the lock is held or `locked` is
    /// false and it is taken only if the files must be scanned.
    fn sync(&mut self) -> Result<Option<Synced>> {
        let mut records = std::mem::take(&mut self.stash);
        // Without the lock only the cheap part: the log's tail. Anything else (another
        // process compacted the index, the directories changed) is done under the lock.
        let reload = match self.generation {
            Some(generation) => match self.read_log_tail(generation)? {
                Some((mut tail, _torn)) => {
                    records.append(&mut tail);
                    self.cursor.is_none()
                }
                None => true,
            },
            None => self.dir.join(index::SNAPSHOT).exists(),
        };
        let dirty = self.watched.take_dirty();
        let moved = stamp(&self.dir.join("new")) != self.head.new
            || stamp(&self.dir.join("cur")) != self.head.cur;
        if reload || dirty || moved {
            let took = self.acquire()?;
            let result = self.sync_locked(&mut records);
            if took {
                self.lock = None;
            }
            result?;
        }
        if records.is_empty() {
            return Ok(None);
        }
        Ok(Some(Synced {
            header: self.head.header,
            records,
        }))
    }

    /// The part of `sync` that needs the lock: catch up with the index, then scan.
    fn sync_locked(&mut self, records: &mut Vec<Record>) -> Result<()> {
        self.refresh_locked(records)?;
        let found = self.reconcile()?;
        // A scan puts right whatever a failed MOVE left behind: the mark that asked for
        // one goes, with real directory times.
        let was_due = std::mem::take(&mut self.scan_due);
        if !found.is_empty() || was_due {
            self.write_group(&found, !found.is_empty())?;
            records.extend(found);
        }
        Ok(())
    }

    /// Brings memory up to date with the index on disk, lock held: the log's tail, or,
    /// if another process folded the log into a new snapshot since, the whole index
    /// again (what changed is worked out by comparing). Every change under the lock
    /// starts here: a write after a stale read would lose what the other process logged.
    fn refresh_locked(&mut self, records: &mut Vec<Record>) -> Result<()> {
        let current = match self.generation {
            Some(generation) => match self.read_log_tail(generation)? {
                Some((mut tail, _)) => {
                    records.append(&mut tail);
                    // No log of our generation: either a compaction stopped between its
                    // two renames (the snapshot is still ours) or the snapshot moved on.
                    self.cursor.is_some()
                        || Snapshot::read(&self.dir)?.map(|s| s.generation) == Some(generation)
                }
                None => false,
            },
            None => !self.dir.join(index::SNAPSHOT).exists(),
        };
        if !current {
            let before: BTreeMap<u32, Msg> = self.shared.read().msgs.clone();
            self.read_index()?;
            let after = self.shared.read().msgs.clone();
            diff(&before, &after, &self.vanished, records);
        }
        Ok(())
    }

    /// Appends one group (the records and the header line) to the log; `durable`: and
    /// fdatasyncs it. Applies the records to memory once written. Lock held.
    fn write_group(&mut self, records: &[Record], durable: bool) -> Result<()> {
        if self.compact || self.generation.is_none() || self.cursor.is_none() {
            // No index of ours yet (a fresh or migrated mailbox, or a stale log): write
            // the snapshot first, so the log has a generation to belong to.
            self.apply_records(records);
            return self.write_snapshot();
        }
        let mut lines = Vec::with_capacity(records.len() + 1);
        for r in records {
            lines.push(match r {
                Record::Added(meta) => Line::Added {
                    meta: meta.clone(),
                    place: self
                        .staged
                        .get(&meta.uid)
                        .map(Msg::place)
                        .unwrap_or_default(),
                },
                Record::Flags { uid, modseq, flags } => Line::Flags {
                    uid: *uid,
                    modseq: *modseq,
                    flags: flags.clone(),
                },
                Record::Expunged { uid, modseq } => Line::Expunged {
                    uid: *uid,
                    modseq: *modseq,
                },
            });
        }
        let mut head = self.head;
        if std::mem::take(&mut self.restamp)
            || !self.unsynced.is_empty()
            || !self.moves.is_empty()
            || records.iter().any(|r| matches!(r, Record::Added(_)))
        {
            head.new = stamp(&self.dir.join("new"));
            head.cur = stamp(&self.dir.join("cur"));
        }
        let lagging = self.pending.len()
            + records
                .iter()
                .filter(|r| matches!(r, Record::Flags { .. }))
                .count();
        if lagging == 0 {
            head.names = head.header.highest_modseq;
        }
        if self.scan_due {
            // Unknown names and directory times: the next open scans.
            head.names = 0;
            head.new = 0;
            head.cur = 0;
            self.restamp = true;
        }
        let moves = std::mem::take(&mut self.moves);
        lines.extend(
            moves
                .iter()
                .cloned()
                .map(|(uid, place)| Line::Moved { uid, place }),
        );
        lines.push(Line::End(head));
        let mut text = String::new();
        index::render_group(&lines, &mut text);
        let path = self.log_path();
        let cursor = self.cursor.unwrap_or_default();
        let result = (|| {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .ctx(|| format!("opening {}", path.display()))?;
            // The log must be the one this process read to its end: writing into another
            // (a compaction this process missed) would cut its tail off.
            let ino = file
                .metadata()
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
                .ctx(|| format!("reading {}", path.display()))?;
            if ino != cursor.ino || !self.generation.is_some_and(|g| is_log_of(&file, g)) {
                return Err(StoreError::Corrupt(format!(
                    "{}: replaced by another process while locked",
                    path.display()
                )));
            }
            // Anything past the cursor is a group a crashed writer left half-written.
            file.set_len(cursor.offset)
                .ctx(|| format!("truncating {}", path.display()))?;
            file.seek(SeekFrom::Start(cursor.offset))
                .ctx(|| format!("writing {}", path.display()))?;
            file.write_all(text.as_bytes())
                .ctx(|| format!("writing {}", path.display()))?;
            if durable {
                file.sync_data()
                    .ctx(|| format!("syncing {}", path.display()))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            // Leave the log as it was: a reader must not see a group we did not finish.
            if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&path) {
                let _ = f.set_len(cursor.offset);
            }
            self.moves = moves;
            return Err(e);
        }
        self.cursor = Some(Cursor {
            offset: cursor.offset + text.len() as u64,
            ..cursor
        });
        self.head = head;
        self.apply_records(records);
        let log_len = self.cursor.map_or(0, |c| c.offset);
        let snapshot_len = self.shared.read().msgs.len() as u64 * 96;
        if log_len > self.compact_at && log_len > snapshot_len / 2 {
            self.compact = true;
        }
        Ok(())
    }

    /// Makes memory match records that were just written (our own or found by a scan).
    fn apply_records(&mut self, records: &[Record]) {
        let mut table = self.shared.write();
        for r in records {
            match r {
                Record::Added(meta) => {
                    if let Some(mut m) = self.staged.remove(&meta.uid) {
                        m.modseq = meta.modseq;
                        table.msgs.insert(meta.uid, m);
                    }
                }
                Record::Flags { uid, modseq, flags } => {
                    if let Some(m) = table.msgs.get_mut(uid) {
                        m.flags = flags.clone();
                        m.modseq = *modseq;
                        let on_disk = m
                            .info
                            .as_deref()
                            .map(|i| filename::parse_letters(i, &self.keywords))
                            .unwrap_or_default();
                        if on_disk != *flags || m.in_new {
                            self.pending.insert(*uid);
                        }
                    }
                }
                Record::Expunged { uid, modseq } => {
                    table.msgs.remove(uid);
                    self.pending.remove(uid);
                    self.vanished.push((*uid, *modseq));
                }
            }
        }
        drop(table);
        if self.pending.is_empty() && self.staged.is_empty() {
            self.head.names = self.head.header.highest_modseq;
        }
    }

    /// Folds everything into a new snapshot and starts an empty log. Lock held.
    fn write_snapshot(&mut self) -> Result<()> {
        let generation = self.generation.map_or(1, |g| g + 1);
        let mut head = self.head;
        head.new = stamp(&self.dir.join("new"));
        head.cur = stamp(&self.dir.join("cur"));
        if self.pending.is_empty() {
            head.names = head.header.highest_modseq;
        }
        if self.scan_due {
            // Unknown names and directory times: the next open scans.
            head.names = 0;
            head.new = 0;
            head.cur = 0;
            self.restamp = true;
        }
        let snapshot = Snapshot {
            generation,
            head,
            messages: self
                .shared
                .read()
                .msgs
                .iter()
                .map(|(&uid, m)| (m.meta(uid), m.place()))
                .collect(),
            vanished: {
                // The same bound as the view's: the most recent expunges.
                let keep = crate::view::MAX_VANISHED;
                if self.vanished.len() > keep {
                    self.vanished.sort_unstable_by_key(|&(_, m)| m);
                    let excess = self.vanished.len() - keep;
                    self.vanished.drain(..excess);
                    self.vanished.sort_unstable();
                }
                self.vanished.clone()
            },
        };
        let tmp = self.dir.join("tmp");
        write_atomic(
            &self.dir.join(index::SNAPSHOT),
            &tmp,
            snapshot.render().as_bytes(),
        )?;
        let preamble = index::log_preamble(generation);
        write_atomic(&self.log_path(), &tmp, preamble.as_bytes())?;
        let ino = std::fs::metadata(self.log_path())
            .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
            .ctx(|| format!("reading {}", self.log_path().display()))?;
        self.generation = Some(generation);
        self.cursor = Some(Cursor {
            ino,
            offset: preamble.len() as u64,
        });
        self.head = head;
        self.compact = false;
        // The snapshot holds every file's place.
        self.moves.clear();
        // The index of an earlier yubin is folded in now.
        let old = self.dir.join(super::uidlist::FILE);
        if old.exists() {
            let _ = std::fs::remove_file(old);
        }
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
    /// as needed. Keywords past the 26 letters are kept in the index only.
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
                if self.keywords.letter(k).is_none() && self.keywords.assign(k).is_some() {
                    added = true;
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
    ///
    /// One scan puts every file's place right, not only this one's: a restarted process
    /// whose index is behind on names pays for one scan, not one per message.
    fn relocate_file(&mut self, uid: u32) -> Option<()> {
        let mut found = self.scan().ok()?;
        let mut table = self.shared.write();
        for (&uid, m) in table.msgs.iter_mut() {
            if let Some(f) = found.remove(&*m.base) {
                if f.info != m.info {
                    // The next reconcile must still see this as a change of name.
                    self.relocated.entry(uid).or_insert_with(|| m.info.clone());
                }
                m.in_new = f.in_new;
                m.info = f.info;
            }
        }
        table.msgs.contains_key(&uid).then_some(())
    }

    /// Renames files whose names lag behind their flags. Lock held.
    ///
    /// At most `limit` at a time: the caller holds the mailbox's writer lock, and a
    /// hundred thousand renames must not keep every other change waiting.
    fn rename_pending(&mut self, limit: usize) -> Result<()> {
        let pending: Vec<u32> = if self.pending.len() <= limit {
            std::mem::take(&mut self.pending).into_iter().collect()
        } else {
            let batch: Vec<u32> = self.pending.iter().copied().take(limit).collect();
            for uid in &batch {
                self.pending.remove(uid);
            }
            batch
        };
        let mut renames = Vec::with_capacity(pending.len());
        for uid in pending {
            let Some(m) = self.shared.read().msgs.get(&uid).cloned() else {
                continue;
            };
            let info = self.info_for(&m.flags, m.info.as_deref())?;
            if !m.in_new && m.info.as_deref() == Some(info.as_str()) {
                continue;
            }
            renames.push((uid, m, info));
        }
        self.expect(
            renames
                .iter()
                .flat_map(|(_, m, info)| [m.file_name(), filename::join(&m.base, Some(info))]),
        );
        for (uid, m, info) in renames {
            let from = m.path(&self.dir);
            let to = self
                .dir
                .join("cur")
                .join(filename::join(&m.base, Some(&info)));
            let mut done = std::fs::rename(&from, &to);
            if matches!(&done, Err(e) if e.kind() == std::io::ErrorKind::NotFound)
                && self.relocate_file(uid).is_some()
                && let Some(m) = self.shared.read().msgs.get(&uid).cloned()
            {
                done = std::fs::rename(m.path(&self.dir), &to);
            }
            match done {
                Ok(()) => {
                    if let Some(m) = self.shared.write().msgs.get_mut(&uid) {
                        m.in_new = false;
                        m.info = Some(info.into());
                        self.moves.push((uid, m.place()));
                    }
                }
                // Gone: the next scan records the expunge.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.pending.insert(uid);
                    return Err(e).ctx(|| format!("renaming {}", from.display()));
                }
            }
        }
        Ok(())
    }
}

impl MaildirMailbox {
    /// Logs a group that makes the next open scan the files (its `names` mark and the
    /// directory times it records are 0), and keeps it so until a commit: done before a MOVE or RENAME INBOX renames files in or
    /// out, ahead of the records that will say so. A process killed in between leaves
    /// files this index does not know, or names that are gone, and the directories'
    /// mtimes would tell the next open only if the renames fell in a later clock tick
    /// than the mtimes the index recorded; this mark tells it whatever the clock. It is
    /// not fsynced: what a killed process wrote stays in the page cache, and the commit
    /// that follows makes it durable with its own group. Lock held.
    fn scan_after_crash(&mut self) -> Result<()> {
        if self.scan_due {
            return Ok(());
        }
        self.scan_due = true;
        let written = self.write_group(&[], false);
        if written.is_err() {
            self.scan_due = false;
        }
        written
    }

    /// RENAME INBOX in one step (see the module docs): every message of this mailbox
    /// becomes a message of the new folder `to`, by renaming this mailbox's `cur/` into
    /// it. Lock held. Once that rename is done this returns `Ok`: the messages are in
    /// `to`, and what follows only tidies up.
    fn hand_over_all(&mut self, to: &str) -> Result<()> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let target = folder_dir(&self.maildir, to);
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(StoreError::MailboxExists(to.to_owned()));
        }
        self.scan_after_crash()?;
        // 1. Every message into cur/, named after its flags: the file moves with cur/,
        //    and the new folder's index names it so. A message another program delivers
        //    into new/ from now on stays here, as it should: it came after the rename.
        let all: Vec<u32> = self.shared.read().msgs.keys().copied().collect();
        self.pending.extend(all);
        self.rename_pending(usize::MAX)?;
        // 2. The new folder, built in tmp/ (where no one looks) with everything but its
        //    messages: the marker that says its messages are still to come, the keyword
        //    letters the file names use, and an index that keeps every flag and date.
        let staging = self.maildir.join("tmp").join(format!(
            "yubin-rename.{}.{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let built = self.build_successor(&staging);
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
        // 3. Into place, still without messages (a crash from here until step 4 is undone
        //    by the next start: the marker without cur/).
        if let Err(e) = std::fs::rename(&staging, &target) {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e).ctx(|| format!("creating {}", target.display()));
        }
        // 4. Every message at once: one rename of the directory that holds them.
        let cur = self.dir.join("cur");
        if let Err(e) = std::fs::rename(&cur, target.join("cur")) {
            let _ = std::fs::remove_dir_all(&target);
            return Err(e).ctx(|| format!("moving {} into {}", cur.display(), target.display()));
        }
        // 5. The messages are in `to` now, whatever happens next: a fresh cur/ here (the
        //    next open makes it if this fails), the renames made durable, and the marker
        //    removed, durably, so that the next start does not undo an answered RENAME.
        if let Err(e) = crate::private::create_dir_all(&cur) {
            warn(format_args!("cannot create {}: {e}", cur.display()));
        }
        let done = sync_dir(&self.maildir)
            .and_then(|()| {
                std::fs::remove_file(target.join(RENAMING_INBOX))
                    .ctx(|| format!("finishing {}", target.display()))
            })
            .and_then(|()| sync_dir(&target));
        if let Err(e) = done {
            warn(format_args!("{e} (the next start finishes the rename)"));
        }
        self.restamp = true;
        // The renames of step 1 are of files that are gone from here.
        self.moves.clear();
        Ok(())
    }

    /// Step 2 of [`MaildirMailbox::hand_over_all`]: the successor folder in `staging`,
    /// without `cur/`, with an index listing this mailbox's messages as UIDs 1, 2, ...
    /// under a new UIDVALIDITY (a new mailbox for IMAP), flags, dates and file names
    /// kept. Its first open scans the files anyway (its index records no directory
    /// times), so a file that went missing or turned up meanwhile is put right then.
    fn build_successor(&self, staging: &Path) -> Result<()> {
        let write = |name: &str, contents: &[u8], durable: bool| -> Result<()> {
            let path = staging.join(name);
            let mut f = crate::private::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .ctx(|| format!("creating {}", path.display()))?;
            f.write_all(contents)
                .ctx(|| format!("writing {}", path.display()))?;
            if durable {
                f.sync_all().ctx(|| format!("syncing {}", path.display()))?;
            }
            Ok(())
        };
        for sub in ["tmp", "new"] {
            let p = staging.join(sub);
            crate::private::create_dir_all(&p).ctx(|| format!("creating {}", p.display()))?;
        }
        write("maildirfolder", b"", false)?;
        write(RENAMING_INBOX, b"", false)?;
        let letters = self.keywords.render();
        if !letters.is_empty() {
            write(keywords::FILE, letters.as_bytes(), true)?;
        }
        let messages: Vec<(MessageMeta, index::Place)> = self
            .shared
            .read()
            .msgs
            .values()
            .zip(1u32..)
            .map(|(m, uid)| {
                let mut meta = m.meta(uid);
                meta.modseq = 1;
                (meta, m.place())
            })
            .collect();
        let modseq = u64::from(!messages.is_empty());
        let snapshot = Snapshot {
            generation: 1,
            head: IndexHeader {
                header: Header {
                    uid_validity: new_uid_validity(),
                    uid_next: messages.len() as u32 + 1,
                    recent_from: 1,
                    highest_modseq: modseq,
                },
                names: modseq,
                new: 0,
                cur: 0,
            },
            messages,
            vanished: Vec::new(),
        };
        write(index::SNAPSHOT, snapshot.render().as_bytes(), true)?;
        write(index::LOG, index::log_preamble(1).as_bytes(), true)?;
        sync_dir(staging)
    }
}

/// A message file found by a scan.
struct Found {
    in_new: bool,
    info: Option<Box<str>>,
}

/// The records that turn `before` into `after` (a reload after another process compacted
/// the index), using the modseqs `after` carries.
fn diff(
    before: &BTreeMap<u32, Msg>,
    after: &BTreeMap<u32, Msg>,
    vanished: &[(u32, u64)],
    records: &mut Vec<Record>,
) {
    let expunged_at: HashMap<u32, u64> = vanished.iter().copied().collect();
    for uid in before.keys() {
        if !after.contains_key(uid) {
            records.push(Record::Expunged {
                uid: *uid,
                modseq: expunged_at.get(uid).copied().unwrap_or(0),
            });
        }
    }
    for (uid, m) in after {
        match before.get(uid) {
            None => records.push(Record::Added(m.meta(*uid))),
            Some(old) if old.flags != m.flags || old.modseq != m.modseq => {
                records.push(Record::Flags {
                    uid: *uid,
                    modseq: m.modseq,
                    flags: m.flags.clone(),
                })
            }
            Some(_) => {}
        }
    }
    records.sort_by_key(Record::modseq);
}

/// Writes a message file the Maildir way: `tmp` created (0600) and filled by `fill`,
/// dated `date` (the mtime is the internal date), fsynced, renamed to `dest` in `new/` or
/// `cur/`. On failure nothing is left behind: no partial file, no stale temporary file,
/// no message whose delivery reported failure. The rename is durable at the commit's
/// fsync of `dest`'s directory.
fn write_message(
    tmp: &Path,
    dest: &Path,
    date: DateTime<chrono::FixedOffset>,
    fill: impl FnOnce(&mut File) -> Result<()>,
) -> Result<()> {
    let result = (|| {
        let mut f = crate::private::options()
            .write(true)
            .create_new(true)
            .open(tmp)
            .ctx(|| format!("creating {}", tmp.display()))?;
        fill(&mut f)?;
        f.set_modified(SystemTime::from(date))
            .ctx(|| format!("setting the date of {}", tmp.display()))?;
        f.sync_all().ctx(|| format!("syncing {}", tmp.display()))?;
        drop(f);
        std::fs::rename(tmp, dest).ctx(|| format!("moving {} to {}", tmp.display(), dest.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result
}

impl MailboxBackend for MaildirMailbox {
    fn load(&mut self) -> Result<Loaded> {
        ensure_maildir(&self.dir)?;
        self.acquire()?;
        let result = (|| {
            let needs_scan = self.read_index()?;
            if needs_scan {
                let found = self.reconcile()?;
                self.write_group(&found, true)?;
            } else if self.compact {
                self.write_snapshot()?;
            }
            if !self.pending.is_empty() {
                self.rename_pending(usize::MAX)?;
                self.write_group(&[], false)?;
            }
            self.clean_tmp();
            Ok(())
        })();
        self.lock = None;
        self.stash.clear();
        result?;
        let table = self.shared.read();
        let mut vanished = self.vanished.clone();
        vanished.sort_unstable();
        Ok(Loaded {
            header: self.head.header,
            messages: table.msgs.iter().map(|(&uid, m)| m.meta(uid)).collect(),
            vanished,
        })
    }

    fn poll(&mut self) -> Result<Option<Synced>> {
        self.sync()
    }

    fn begin(&mut self) -> Result<Option<Synced>> {
        self.acquire()?;
        self.sync()
    }

    fn end(&mut self) {
        // Closing the file releases the lock.
        self.lock = None;
    }

    fn stage(&mut self, meta: &MessageMeta, wire: &[u8]) -> Result<()> {
        let info = if meta.flags.is_empty() {
            None
        } else {
            Some(self.info_for(&meta.flags, None)?)
        };
        let base = filename::unique_base(wire.len() as u64);
        let tmp = self.dir.join("tmp").join(&base);
        let msg = Msg {
            base: base.into(),
            // A message without flags goes to new/, as an MDA would put it: mail readers
            // show it as new.
            in_new: info.is_none(),
            info: info.map(Into::into),
            size: wire.len() as u64,
            flags: meta.flags.clone(),
            modseq: meta.modseq,
            date: meta.internal_date.timestamp(),
        };
        let dest = msg.path(&self.dir);
        self.expect([msg.file_name()]);
        write_message(&tmp, &dest, meta.internal_date, |f| {
            f.write_all(wire)
                .ctx(|| format!("writing {}", tmp.display()))
        })?;
        self.unsynced
            .insert(dest.parent().unwrap_or(&self.dir).to_path_buf());
        self.staged.insert(meta.uid, msg);
        Ok(())
    }

    fn stage_copy(&mut self, meta: &MessageMeta, from: &Body) -> Result<bool> {
        let Body::File { path, wire_size } = from else {
            return Ok(false);
        };
        let disk_size = match std::fs::metadata(path) {
            Ok(m) => m.len(),
            Err(_) => return Ok(false),
        };
        let info = if meta.flags.is_empty() {
            None
        } else {
            Some(self.info_for(&meta.flags, None)?)
        };
        let base = filename::unique_base_sized(disk_size, *wire_size);
        let msg = Msg {
            base: base.into(),
            in_new: info.is_none(),
            info: info.map(Into::into),
            size: *wire_size,
            flags: meta.flags.clone(),
            modseq: meta.modseq,
            date: meta.internal_date.timestamp(),
        };
        let dest = msg.path(&self.dir);
        self.expect([msg.file_name()]);
        // A hard link shares the bytes, which are durable already; only the new
        // directory entry is, at the commit's fsync of its directory.
        if std::fs::hard_link(path, &dest).is_err() {
            // Another file system (a folder mounted elsewhere) or one without hard links:
            // copy through a small buffer (the kernel's, where it can), never reading the
            // whole message into memory. A source renamed meanwhile (another program
            // marking it read) is the store's to find: it reads it again by UID.
            let Ok(mut source) = File::open(path) else {
                return Ok(false);
            };
            let tmp = self.dir.join("tmp").join(&*msg.base);
            write_message(&tmp, &dest, meta.internal_date, |f| {
                std::io::copy(&mut source, f)
                    .map(drop)
                    .ctx(|| format!("copying {} to {}", path.display(), tmp.display()))
            })?;
        }
        self.unsynced
            .insert(dest.parent().unwrap_or(&self.dir).to_path_buf());
        self.staged.insert(meta.uid, msg);
        Ok(true)
    }

    fn give(&mut self, uid: u32) -> Result<Option<Body>> {
        let Some((path, wire_size, name)) = self
            .shared
            .read()
            .msgs
            .get(&uid)
            .map(|m| (m.path(&self.dir), m.size, m.file_name()))
        else {
            return Ok(None);
        };
        self.scan_after_crash()?;
        // The rename out is ours, not another program's; and the directory it leaves is
        // fsynced before the expunge is logged (rule 3 of the backend seam).
        self.expect([name]);
        if let Some(parent) = path.parent() {
            self.unsynced.insert(parent.to_path_buf());
        }
        Ok(Some(Body::File { path, wire_size }))
    }

    fn stage_move(&mut self, meta: &MessageMeta, from: &Body) -> Result<Taken> {
        let Body::File { path, wire_size } = from else {
            return Ok(Taken::Unsupported);
        };
        let Some(base) = path
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| filename::split(n).0)
        else {
            return Ok(Taken::Unsupported);
        };
        // Into cur/ under this mailbox's keyword letters (each mailbox has its own
        // table, saved durably before the file is named with it), so the name says the
        // flags here: a reconcile after a crash reads them from it.
        let info = self.info_for(&meta.flags, None)?;
        let mut msg = Msg {
            base: base.into(),
            in_new: false,
            info: Some(info.into()),
            size: *wire_size,
            flags: meta.flags.clone(),
            modseq: meta.modseq,
            date: meta.internal_date.timestamp(),
        };
        let mut dest = msg.path(&self.dir);
        // rename(2) replaces what is there. A base name is unique to one delivery, so a
        // file under it here is one another program put here (its own copy, under the
        // same name): keep both, under a new name for ours.
        if std::fs::symlink_metadata(&dest).is_ok() {
            let disk = std::fs::metadata(path).map_or(*wire_size, |m| m.len());
            msg.base = filename::unique_base_sized(disk, *wire_size).into();
            dest = msg.path(&self.dir);
        }
        self.scan_after_crash()?;
        self.expect([msg.file_name()]);
        // The one step of a move: the file is in the source's directory or in ours, never
        // in both nor in neither, whenever the process dies. The file keeps its mtime,
        // which is the internal date.
        match std::fs::rename(path, &dest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Taken::Missing),
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => {
                return Ok(Taken::Unsupported);
            }
            Err(e) => {
                return Err(e).ctx(|| format!("moving {} to {}", path.display(), dest.display()));
            }
        }
        self.unsynced.insert(self.dir.join("cur"));
        self.staged.insert(meta.uid, msg);
        self.moved_in.insert(meta.uid, path.clone());
        Ok(Taken::Moved)
    }

    fn given(&mut self, _uid: u32) -> Result<()> {
        // The file left at the destination's `stage_move`; its directory is in
        // `unsynced` since `give`.
        Ok(())
    }

    fn hand_over(&mut self, to: &str) -> Result<bool> {
        self.hand_over_all(to)?;
        Ok(true)
    }

    fn discard(&mut self, uid: u32) {
        if let Some(m) = self.staged.remove(&uid) {
            let path = m.path(&self.dir);
            match self.moved_in.remove(&uid) {
                // A move whose commit failed: the file goes back where it came from.
                // Should that fail too, it stays here unknown to the index, and the next
                // scans put it right: this mailbox adopts it, the source records it gone.
                Some(origin) => {
                    if let Err(e) = std::fs::rename(&path, &origin) {
                        warn(format_args!(
                            "cannot move {} back to {}: {e}",
                            path.display(),
                            origin.display()
                        ));
                    }
                    if let Some(parent) = origin.parent() {
                        let _ = sync_dir(parent);
                    }
                }
                None => {
                    if let Err(e) = std::fs::remove_file(&path) {
                        warn(format_args!("cannot remove {}: {e}", path.display()));
                    }
                }
            }
            if let Some(parent) = path.parent() {
                let _ = sync_dir(parent);
            }
        }
    }

    fn remove(&mut self, uid: u32) -> Result<()> {
        for attempt in 0..2 {
            let Some(m) = self.shared.read().msgs.get(&uid).cloned() else {
                return Ok(());
            };
            let path = m.path(&self.dir);
            self.expect([m.file_name()]);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    self.unsynced
                        .insert(path.parent().unwrap_or(&self.dir).to_path_buf());
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
        Ok(())
    }

    fn commit(&mut self, header: &Header, records: &[Record]) -> Result<()> {
        // The renames and removals of this group are durable before the log names them.
        for dir in std::mem::take(&mut self.unsynced) {
            if let Err(e) = sync_dir(&dir) {
                self.unsynced.insert(dir);
                return Err(e);
            }
            self.restamp = true;
        }
        let previous = self.head;
        self.head.header = *header;
        // This group records what the renames of a MOVE did: no scan needed for them.
        let scan_due = std::mem::take(&mut self.scan_due);
        let result = self.write_group(records, true);
        match &result {
            Ok(()) => self.moved_in.clear(),
            Err(_) => {
                self.head = previous;
                self.scan_due = scan_due;
            }
        }
        result
    }

    fn save_header(&mut self, header: &Header) -> Result<()> {
        let took = self.acquire()?;
        let result = (|| {
            // Whatever others logged since we looked goes to the next poll, so the
            // cursor can move past it.
            let mut found = Vec::new();
            self.refresh_locked(&mut found)?;
            self.stash.append(&mut found);
            self.head.header.recent_from = header.recent_from;
            self.write_group(&[], false)
        })();
        if took {
            self.lock = None;
        }
        result
    }

    fn needs_tidy(&self) -> bool {
        !self.pending.is_empty() || self.compact
    }

    fn tidy(&mut self) -> Result<()> {
        let took = self.acquire()?;
        let result = (|| {
            if let Some(synced) = self.sync()? {
                self.stash.extend(synced.records);
            }
            if !self.pending.is_empty() {
                self.rename_pending(TIDY_BATCH)?;
                self.write_group(&[], false)?;
            }
            if self.compact && self.pending.is_empty() {
                self.write_snapshot()?;
            }
            Ok(())
        })();
        if took {
            self.lock = None;
        }
        result
    }

    fn reader(&self) -> Arc<dyn BodyReader> {
        self.shared.clone()
    }

    fn receiver(&self) -> Arc<dyn Receiver> {
        self.shared.clone()
    }

    fn find(&mut self, uid: u32) -> Option<Body> {
        // Our own rename is already recorded; only another program's needs a scan.
        let path = self.shared.read().msgs.get(&uid)?.path(&self.dir);
        if !path.exists() {
            self.relocate_file(uid)?;
        }
        self.shared.body(uid)
    }

    fn relocate(&mut self, name: &str) {
        self.dir = folder_dir(&self.maildir, name);
        self.shared.write().dir = self.dir.clone();
    }

    fn watch(&self, wake: Wake) -> Option<Box<dyn Send + Sync>> {
        let guard = super::watch::watch(&self.dir, self.watched.clone(), wake)?;
        Some(Box::new(guard))
    }
}
