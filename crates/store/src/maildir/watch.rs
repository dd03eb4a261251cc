//! One inotify watcher for every open Maildir mailbox of the process.
//!
//! A watcher per mailbox would cost a thread and an inotify instance each, and an
//! account-creating client could open thousands. Instead one watcher watches `new/`,
//! `cur/` and the directory of every open mailbox, and routes each event to its mailbox
//! by path. Two locks, never held together: the route table (taken by the event thread)
//! and the watcher (taken to add or remove watches, which waits for the event thread).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::backend::Wake;

/// Bounds the names a mailbox expects to hear about for its own changes (a burst of
/// renames larger than this costs one needless scan, nothing else).
const MAX_EXPECTED: usize = 1 << 18;

/// What the watcher shares with one mailbox's backend.
#[derive(Default)]
pub(crate) struct Watched {
    /// File names this process is about to create, rename or remove in `new/`/`cur/`:
    /// their events are ours, not news.
    expected: Mutex<HashSet<String>>,
    /// An event under a name we did not expect arrived: scan before trusting mtimes.
    dirty: AtomicBool,
    /// A watcher is on: only then are names worth remembering.
    active: AtomicBool,
}

impl Watched {
    /// Notes names whose events will be this process's own doing.
    pub(crate) fn expect(&self, names: impl IntoIterator<Item = String>) {
        if !self.active.load(Ordering::SeqCst) {
            return;
        }
        let mut expected = self.expected.lock().unwrap_or_else(|p| p.into_inner());
        for name in names {
            if expected.len() >= MAX_EXPECTED {
                // Forget them all: their events will look foreign and cost a scan.
                expected.clear();
                self.dirty.store(true, Ordering::SeqCst);
            }
            expected.insert(name);
        }
    }

    /// Whether something else happened since the last call (and clears it).
    pub(crate) fn take_dirty(&self) -> bool {
        self.dirty.swap(false, Ordering::SeqCst)
    }

    fn saw(&self, event: &notify::Event) {
        use notify::event::{ModifyKind, RenameMode};
        // A rename arrives as `From`, `To` and then `Both` with the two paths again:
        // the names are counted once, from the first two.
        let names_changed = matches!(
            event.kind,
            EventKind::Create(_)
                | EventKind::Remove(_)
                | EventKind::Modify(ModifyKind::Name(
                    RenameMode::From | RenameMode::To | RenameMode::Any | RenameMode::Other
                ))
        );
        if matches!(event.kind, EventKind::Any | EventKind::Other) {
            self.dirty.store(true, Ordering::SeqCst);
        }
        if !names_changed {
            return;
        }
        let mut expected = self.expected.lock().unwrap_or_else(|p| p.into_inner());
        for path in &event.paths {
            let in_mail_dir = path
                .parent()
                .and_then(|p| p.file_name())
                .is_some_and(|d| d == "new" || d == "cur");
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if in_mail_dir && !expected.remove(name) {
                self.dirty.store(true, Ordering::SeqCst);
            }
        }
    }
}

struct Route {
    /// Tells this route from another mailbox's at the same path (one deleted and
    /// created again, or renamed into its place).
    id: u64,
    watched: Arc<Watched>,
    wake: Wake,
}

struct Hub {
    routes: RwLock<HashMap<PathBuf, Vec<Route>>>,
    watcher: Mutex<Option<RecommendedWatcher>>,
}

fn hub() -> &'static Hub {
    static HUB: OnceLock<Hub> = OnceLock::new();
    HUB.get_or_init(|| {
        let watcher = notify::recommended_watcher(dispatch)
            .map_err(|e| tracing::debug!("no file watcher ({e}); checks per command"))
            .ok();
        Hub {
            routes: RwLock::new(HashMap::new()),
            watcher: Mutex::new(watcher),
        }
    })
}

/// The mailbox directory an event path belongs to: the directory itself (the index log)
/// or its `new/` and `cur/` (message files).
fn mailbox_of(path: &Path) -> Vec<&Path> {
    let mut out = Vec::new();
    if let Some(parent) = path.parent() {
        out.push(parent);
        if let Some(grand) = parent.parent() {
            out.push(grand);
        }
    }
    out
}

fn dispatch(event: notify::Result<notify::Event>) {
    let routes = hub().routes.read().unwrap_or_else(|p| p.into_inner());
    let Ok(event) = event else {
        // Overflow or a watcher error: anything may have changed anywhere.
        for route in routes.values().flatten() {
            route.watched.dirty.store(true, Ordering::SeqCst);
            (route.wake)();
        }
        return;
    };
    if matches!(event.kind, EventKind::Access(_)) {
        return;
    }
    let mut woken: Vec<&Route> = Vec::new();
    for path in &event.paths {
        for dir in mailbox_of(path) {
            for route in routes.get(dir).into_iter().flatten() {
                if !woken.iter().any(|r| r.id == route.id) {
                    route.watched.saw(&event);
                    woken.push(route);
                }
            }
        }
    }
    for route in woken {
        (route.wake)();
    }
}

/// Watches the mailbox in `dir` until the returned guard is dropped; `None` if this
/// system cannot (then the checks at each read are all there is).
pub(crate) fn watch(dir: &Path, watched: Arc<Watched>, wake: Wake) -> Option<Guard> {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let hub = hub();
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    watched.active.store(true, Ordering::SeqCst);
    hub.routes
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(dir.to_path_buf())
        .or_default()
        .push(Route {
            id,
            watched: watched.clone(),
            wake,
        });
    let guard = Guard {
        dir: dir.to_path_buf(),
        id,
    };
    // Adding an inotify watch makes the kernel walk the directory's cached entries: on a
    // large mailbox that is milliseconds the first SELECT after a start should not wait
    // for. The watches are added on a thread of their own; until they are, the checks at
    // each read are all there is, and a wake-up when they are in place covers the gap.
    let dir = dir.to_path_buf();
    let spawned = std::thread::Builder::new()
        .name("yubin-store-watch".into())
        .spawn(move || {
            {
                let mut watcher = hub.watcher.lock().unwrap_or_else(|p| p.into_inner());
                let Some(watcher) = watcher.as_mut() else {
                    watched.active.store(false, Ordering::SeqCst);
                    return;
                };
                for d in [dir.clone(), dir.join("new"), dir.join("cur")] {
                    if let Err(e) = watcher.watch(&d, RecursiveMode::NonRecursive) {
                        tracing::debug!("{}: cannot watch ({e}); checks per command", d.display());
                        watched.active.store(false, Ordering::SeqCst);
                        return;
                    }
                }
            }
            if let Some(route) = hub
                .routes
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&dir)
                .and_then(|routes| routes.iter().find(|r| r.id == id))
            {
                (route.wake)();
            }
        });
    if spawned.is_err() {
        return None;
    }
    Some(guard)
}

/// Stops watching a mailbox when dropped.
pub(crate) struct Guard {
    dir: PathBuf,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        let hub = hub();
        let last = {
            let mut routes = hub.routes.write().unwrap_or_else(|p| p.into_inner());
            let list = routes.entry(self.dir.clone()).or_default();
            list.retain(|r| r.id != self.id);
            let last = list.is_empty();
            if last {
                routes.remove(&self.dir);
            }
            last
        };
        // Another mailbox at the same path still needs the watches.
        if !last {
            return;
        }
        let mut watcher = hub.watcher.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = watcher.as_mut() {
            for d in [self.dir.clone(), self.dir.join("new"), self.dir.join("cur")] {
                let _ = w.unwatch(&d);
            }
        }
    }
}
