//! A budget of bytes held in memory across all connections.
//!
//! Each connection's input is bounded already (a line, a command), but a server with a
//! thousand connections each halfway through a large command holds a thousand of those
//! bounds. The budget bounds the sum: a codec reserves what it is about to hold (an IMAP
//! literal it will buffer) and, when the budget is spent, refuses that input at once
//! instead of holding it, so the server's memory stays bounded whatever the number of
//! connections. Reservations are returned when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The shared budget. Cheap to clone; clones share one total.
#[derive(Debug, Clone)]
pub struct Budget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limit: usize,
    held: AtomicUsize,
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget {
            inner: Arc::new(Inner {
                limit,
                held: AtomicUsize::new(0),
            }),
        }
    }

    /// Reserves `bytes`, or `None` when that would pass the limit.
    pub fn reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut held = self.inner.held.load(Ordering::Relaxed);
        loop {
            let next = held.checked_add(bytes).filter(|&n| n <= self.inner.limit)?;
            match self.inner.held.compare_exchange_weak(
                held,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Some(Reservation {
                        inner: self.inner.clone(),
                        bytes,
                    });
                }
                Err(now) => held = now,
            }
        }
    }

    /// Bytes reserved now.
    pub fn held(&self) -> usize {
        self.inner.held.load(Ordering::Relaxed)
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }
}

/// Bytes taken from a [`Budget`]; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    inner: Arc<Inner>,
    bytes: usize,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.inner.held.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_are_bounded_and_given_back() {
        let budget = Budget::new(100);
        let a = budget.reserve(60).unwrap();
        assert!(budget.reserve(50).is_none());
        let b = budget.reserve(40).unwrap();
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(budget.held(), 40);
        assert!(budget.reserve(60).is_some());
        drop(b);
        assert_eq!(budget.held(), 0);
        assert!(budget.reserve(usize::MAX).is_none());
    }
}
