//! The memory backend: the same semantics as Maildir, nothing on disk. For tests and
//! `yubin serve --ephemeral`. Messages are kept in wire form as `Bytes`, so reading one
//! is a reference-count increment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::backend::{
    AccountBackend, Body, BodyReader, Header, Loaded, MailboxBackend, Record, Synced, Taken,
    new_uid_validity,
};
use crate::{MessageMeta, Result};

/// An account whose mailboxes live only in this process. The store's account layer
/// keeps the names and subscriptions; there is nothing more to keep.
pub(crate) struct MemoryAccount;

impl AccountBackend for MemoryAccount {
    fn mailbox_names(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn create(&self, _name: &str) -> Result<()> {
        Ok(())
    }
    fn delete(&self, _name: &str) -> Result<()> {
        Ok(())
    }
    fn rename(&self, _from: &str, _to: &str) -> Result<()> {
        Ok(())
    }
    fn open(&self, _name: &str) -> Result<Box<dyn MailboxBackend>> {
        Ok(Box::new(MemoryMailbox::default()))
    }
    fn load_subscriptions(&self) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    fn save_subscriptions(&self, _names: &BTreeSet<String>) -> Result<()> {
        Ok(())
    }
    fn lock_maildrop(&self) -> Result<Option<Box<dyn Send + Sync>>> {
        Ok(None)
    }
}

/// One mailbox's message bytes, by UID, shared with its readers.
#[derive(Default)]
pub(crate) struct MemoryMailbox {
    bodies: Arc<Bodies>,
}

#[derive(Default)]
struct Bodies(RwLock<BTreeMap<u32, Bytes>>);

impl Bodies {
    fn map(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<u32, Bytes>> {
        self.0.write().unwrap_or_else(|p| p.into_inner())
    }
}

impl BodyReader for Bodies {
    fn body(&self, uid: u32) -> Option<Body> {
        let map = self.0.read().unwrap_or_else(|p| p.into_inner());
        map.get(&uid).cloned().map(Body::Bytes)
    }
}

impl MailboxBackend for MemoryMailbox {
    fn load(&mut self) -> Result<Loaded> {
        Ok(Loaded {
            header: Header {
                uid_validity: new_uid_validity(),
                uid_next: 1,
                recent_from: 1,
                highest_modseq: 0,
            },
            ..Loaded::default()
        })
    }
    fn poll(&mut self) -> Result<Option<Synced>> {
        Ok(None)
    }
    fn begin(&mut self) -> Result<Option<Synced>> {
        Ok(None)
    }
    fn end(&mut self) {}
    fn stage(&mut self, meta: &MessageMeta, wire: &[u8]) -> Result<()> {
        self.bodies
            .map()
            .insert(meta.uid, Bytes::copy_from_slice(wire));
        Ok(())
    }
    fn stage_copy(&mut self, meta: &MessageMeta, from: &Body) -> Result<bool> {
        match from {
            Body::Bytes(b) => {
                self.bodies.map().insert(meta.uid, b.clone());
                Ok(true)
            }
            Body::File { .. } => Ok(false),
        }
    }
    fn stage_move(&mut self, meta: &MessageMeta, from: &Body) -> Result<Taken> {
        // The bytes are shared, not copied; the source drops its reference when the
        // store calls its `given` (after this mailbox's commit), all under both
        // mailboxes' writer locks, so no session sees the message in both or neither.
        match from {
            Body::Bytes(b) => {
                self.bodies.map().insert(meta.uid, b.clone());
                Ok(Taken::Moved)
            }
            Body::File { .. } => Ok(Taken::Unsupported),
        }
    }
    fn discard(&mut self, uid: u32) {
        self.bodies.map().remove(&uid);
    }
    fn remove(&mut self, uid: u32) -> Result<()> {
        self.bodies.map().remove(&uid);
        Ok(())
    }
    fn commit(&mut self, _header: &Header, _records: &[Record]) -> Result<()> {
        Ok(())
    }
    fn save_header(&mut self, _header: &Header) -> Result<()> {
        Ok(())
    }
    fn reader(&self) -> Arc<dyn BodyReader> {
        self.bodies.clone()
    }
    fn find(&mut self, uid: u32) -> Option<Body> {
        self.bodies.body(uid)
    }
    fn relocate(&mut self, _name: &str) {}
}

/// The memory backend: every account and message lives in this process only, and is
/// gone when the store is dropped. [`crate::Store::memory`] is
/// `Store::with_backend(MemoryBackend)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

impl crate::backend::StoreBackend for MemoryBackend {
    fn open_account(&self, _name: &str) -> Result<Box<dyn AccountBackend>> {
        Ok(Box::new(MemoryAccount))
    }
}
