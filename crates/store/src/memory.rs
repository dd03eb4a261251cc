//! The memory backend: the same semantics as Maildir, nothing on disk. For tests and
//! `yubin serve --ephemeral`. Messages are kept in wire form as `Bytes`, so reading one
//! is a reference-count increment.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use chrono::{DateTime, FixedOffset};

use crate::backend::{AccountBackend, Body, Header, Loaded, MailboxBackend, new_uid_validity};
use crate::{Flags, Result};

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

/// One mailbox's message bytes, by UID.
#[derive(Default)]
pub(crate) struct MemoryMailbox {
    bodies: BTreeMap<u32, Bytes>,
}

impl MailboxBackend for MemoryMailbox {
    fn load(&mut self) -> Result<Loaded> {
        Ok(Loaded {
            header: Header {
                uid_validity: new_uid_validity(),
                uid_next: 1,
                recent_from: 1,
            },
            messages: Vec::new(),
        })
    }
    fn rescan(&mut self) -> Result<Option<Loaded>> {
        Ok(None)
    }
    fn begin(&mut self) -> Result<Option<Loaded>> {
        Ok(None)
    }
    fn end(&mut self) {}
    fn write(
        &mut self,
        uid: u32,
        wire: &[u8],
        _flags: &Flags,
        _date: DateTime<FixedOffset>,
    ) -> Result<()> {
        self.bodies.insert(uid, Bytes::copy_from_slice(wire));
        Ok(())
    }
    fn discard(&mut self, uid: u32) {
        self.bodies.remove(&uid);
    }
    fn commit(&mut self, _header: &Header) -> Result<()> {
        Ok(())
    }
    fn body(&self, uid: u32) -> Option<Body> {
        self.bodies.get(&uid).cloned().map(Body::Bytes)
    }
    fn find(&mut self, uid: u32) -> Option<Body> {
        self.body(uid)
    }
    fn set_flags(&mut self, _uid: u32, _flags: &Flags) -> Result<()> {
        Ok(())
    }
    fn remove(&mut self, uid: u32) -> Result<()> {
        self.bodies.remove(&uid);
        Ok(())
    }
    fn relocate(&mut self, _name: &str) {}
}
