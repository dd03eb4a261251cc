//! Connection slots: how many connections a listener serves, and who gives way when full.
//!
//! A listener serves at most `max` connections and at most `per_peer` from one address.
//! Silent connections that never log in must not lock everyone else out (a "slowloris"
//! flood), so when the listener is full a newcomer takes the slot of the *oldest
//! connection that has not authenticated*, which is told the server is busy and closed —
//! what Dovecot's login processes do too. Connections that logged in are never evicted.
//! Only when every slot belongs to an authenticated connection (or the newcomer's own
//! address is at its cap) is the newcomer refused.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// Why a connection was not given a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Every slot is held by an authenticated connection.
    Full,
    /// The peer's address holds its share of the slots already.
    PeerLimit,
}

#[derive(Debug)]
struct Entry {
    peer: IpAddr,
    authenticated: bool,
    /// Told to leave; its slot is already counted as free.
    evicted: bool,
    evict: CancellationToken,
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    /// Ordered by arrival: the first unauthenticated entry is the oldest.
    conns: BTreeMap<u64, Entry>,
    per_peer: HashMap<IpAddr, usize>,
    evicted: usize,
}

/// The slots of one listener.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    per_peer: usize,
    table: Mutex<Table>,
}

impl Slots {
    /// `max` connections in all, `per_peer` from any one address.
    pub fn new(max: usize, per_peer: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max,
            per_peer: per_peer.max(1),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a connection from `peer`, evicting the oldest unauthenticated
    /// connection if the listener is full.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, Refused> {
        let mut t = self.table();
        if t.per_peer.get(&peer).copied().unwrap_or(0) >= self.per_peer {
            return Err(Refused::PeerLimit);
        }
        if t.conns.len() - t.evicted >= self.max {
            let victim = t
                .conns
                .values_mut()
                .find(|e| !e.authenticated && !e.evicted)
                .ok_or(Refused::Full)?;
            victim.evicted = true;
            victim.evict.cancel();
            let peer = victim.peer;
            t.evicted += 1;
            tracing::info!(
                victim = %peer,
                "listener full: evicting the oldest connection that has not logged in"
            );
        }
        let id = t.next_id;
        t.next_id += 1;
        let evict = CancellationToken::new();
        t.conns.insert(
            id,
            Entry {
                peer,
                authenticated: false,
                evicted: false,
                evict: evict.clone(),
            },
        );
        *t.per_peer.entry(peer).or_insert(0) += 1;
        Ok(Slot {
            slots: self.clone(),
            id,
            evict,
        })
    }

    /// Connections holding a slot now (evicted ones still closing included).
    pub fn len(&self) -> usize {
        self.table().conns.len()
    }

    /// Whether no connection holds a slot.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn release(&self, id: u64) {
        let mut t = self.table();
        if let Some(e) = t.conns.remove(&id) {
            if e.evicted {
                t.evicted -= 1;
            }
            if let Some(n) = t.per_peer.get_mut(&e.peer) {
                *n -= 1;
                if *n == 0 {
                    t.per_peer.remove(&e.peer);
                }
            }
        }
    }

    fn authenticate(&self, id: u64) {
        if let Some(e) = self.table().conns.get_mut(&id) {
            e.authenticated = true;
        }
    }
}

/// One connection's slot; released when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    id: u64,
    evict: CancellationToken,
}

impl Slot {
    /// A handle the session uses to mark itself authenticated and to hear of eviction.
    pub fn handle(&self) -> SlotHandle {
        SlotHandle {
            slots: Some(self.slots.clone()),
            id: self.id,
            evict: self.evict.clone(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self.id);
    }
}

/// What a session knows of its slot.
#[derive(Debug, Clone)]
pub struct SlotHandle {
    slots: Option<Arc<Slots>>,
    id: u64,
    evict: CancellationToken,
}

impl SlotHandle {
    /// A handle that belongs to no listener (a session driven outside `server::spawn`).
    pub fn detached() -> SlotHandle {
        SlotHandle {
            slots: None,
            id: 0,
            evict: CancellationToken::new(),
        }
    }

    /// The connection logged in: it keeps its slot when the listener is full.
    pub fn authenticated(&self) {
        if let Some(slots) = &self.slots {
            slots.authenticate(self.id);
        }
    }

    /// Cancelled when a newcomer took this connection's slot.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn full_listener_evicts_the_oldest_unauthenticated_connection() {
        let slots = Slots::new(3, 10);
        let a = slots.admit(ip(1)).unwrap();
        let b = slots.admit(ip(2)).unwrap();
        let c = slots.admit(ip(3)).unwrap();
        a.handle().authenticated();
        let d = slots.admit(ip(4)).unwrap();
        assert!(!a.handle().evicted().is_cancelled(), "logged in: kept");
        assert!(
            b.handle().evicted().is_cancelled(),
            "oldest not logged in: evicted"
        );
        assert!(!c.handle().evicted().is_cancelled());
        drop(b);
        c.handle().authenticated();
        d.handle().authenticated();
        assert_eq!(slots.admit(ip(5)).unwrap_err(), Refused::Full);
        drop(c);
        assert!(slots.admit(ip(5)).is_ok());
    }

    #[test]
    fn one_address_cannot_take_every_slot() {
        let slots = Slots::new(10, 2);
        let _a = slots.admit(ip(1)).unwrap();
        let b = slots.admit(ip(1)).unwrap();
        assert_eq!(slots.admit(ip(1)).unwrap_err(), Refused::PeerLimit);
        assert!(slots.admit(ip(2)).is_ok());
        drop(b);
        assert!(slots.admit(ip(1)).is_ok());
    }
}
