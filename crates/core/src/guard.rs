//! The login guard: how a server answers wrong passwords, for every protocol at once.
//!
//! Password guessing is fast when a wrong password is answered at once: a client that is
//! closed after three failures just reconnects. The guard makes the *failure reply itself*
//! wait, and the wait grows with the failures seen from the same peer address across all
//! connections and all protocols that share the guard:
//!
//! - the n-th recent failure from an address waits `base × 2^(n-1)`, at most `max_delay`;
//! - failure replies to one address are also spaced out one after the other, so opening
//!   many connections in parallel does not multiply the guessing rate;
//! - a failure that would have to wait longer than `max_wait` waits `max_wait` and its
//!   connection is closed: a flood of parallel guesses gets no faster answers, and holds
//!   its connections (which are not logged in, so a newcomer may evict them) no longer;
//! - a *correct* password from an address whose failure replies are still queued waits
//!   until they have gone out: otherwise a guesser that hangs up instead of waiting would
//!   learn from a prompt answer that it guessed right;
//! - after `forget_after` without a failure, an address starts afresh.
//!
//! Otherwise a correct password is never delayed. The guard remembers at most `max_peers`
//! addresses; past that the quietest are forgotten first, so its memory is bounded
//! whatever the number of peers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The guard's settings; every limit is named here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// Wait before the first failure reply from an address.
    pub base_delay: Duration,
    /// The longest wait for one failure (the doubling stops here).
    pub max_delay: Duration,
    /// A failure that would wait longer than this (many failures queued from one address)
    /// waits this long and its connection is closed.
    pub max_wait: Duration,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
    /// Failed logins allowed on one connection before it is closed.
    pub max_failures_per_connection: u32,
    /// Addresses remembered at most.
    pub max_peers: usize,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            // Dovecot's auth_failure_delay is 2 s flat; starting lower and doubling keeps a
            // mistyped password cheap for a person and guessing expensive for a program.
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_wait: Duration::from_secs(30),
            forget_after: Duration::from_secs(15 * 60),
            max_failures_per_connection: 3,
            max_peers: 65_536,
        }
    }
}

/// What to do with a failure reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// How long to hold the reply before sending it.
    pub delay: Duration,
    /// Close the connection after the reply.
    pub close: bool,
}

#[derive(Debug, Clone, Copy)]
struct Peer {
    /// Recent failures.
    failures: u32,
    /// When the last failure was recorded.
    last: Instant,
    /// When the latest scheduled failure reply goes out.
    busy_until: Instant,
}

/// The shared login guard. Cheap to clone; clones share their memory of peers.
#[derive(Debug, Clone)]
pub struct LoginGuard {
    config: GuardConfig,
    peers: Arc<Mutex<HashMap<IpAddr, Peer>>>,
}

impl Default for LoginGuard {
    fn default() -> Self {
        LoginGuard::new(GuardConfig::default())
    }
}

impl LoginGuard {
    /// A guard with `config`.
    pub fn new(config: GuardConfig) -> Self {
        LoginGuard {
            config,
            peers: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &GuardConfig {
        &self.config
    }

    /// Records a failed login from `peer`, the `on_connection`-th on its connection, and
    /// says how long to hold the reply and whether to close afterwards.
    pub fn failed(&self, peer: IpAddr, on_connection: u32) -> Verdict {
        let now = Instant::now();
        let c = &self.config;
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if peers.len() >= c.max_peers && !peers.contains_key(&peer) {
            forget_quietest(&mut peers, now, c.forget_after);
        }
        let entry = peers.entry(peer).or_insert(Peer {
            failures: 0,
            last: now,
            busy_until: now,
        });
        if now.saturating_duration_since(entry.last) > c.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last = now;
        let doubling = entry.failures.saturating_sub(1).min(20);
        let delay = c.base_delay.saturating_mul(1 << doubling).min(c.max_delay);
        let start = entry.busy_until.max(now);
        let at = start + delay;
        let wait = at.saturating_duration_since(now);
        let close = on_connection >= c.max_failures_per_connection;
        if wait > c.max_wait {
            // Too many failures queued from this address: the longest wait, then hang up.
            // The queue is not extended, so the flood cannot push it further out.
            return Verdict {
                delay: c.max_wait,
                close: true,
            };
        }
        entry.busy_until = at;
        Verdict { delay: wait, close }
    }

    /// A login from `peer` succeeded: how long to hold its reply so that it does not go
    /// out before the failure replies already queued for that address (zero when none
    /// are).
    pub fn succeeded(&self, peer: IpAddr) -> Duration {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.get(&peer).map_or(Duration::ZERO, |p| {
            p.busy_until
                .saturating_duration_since(Instant::now())
                .min(self.config.max_wait)
        })
    }

    /// Recent failures remembered for `peer` (for tests and diagnostics).
    pub fn failures(&self, peer: IpAddr) -> u32 {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        peers.get(&peer).map_or(0, |p| {
            if Instant::now().saturating_duration_since(p.last) > self.config.forget_after {
                0
            } else {
                p.failures
            }
        })
    }
}

/// Makes room: drops every expired entry, or else the one quiet for longest.
fn forget_quietest(peers: &mut HashMap<IpAddr, Peer>, now: Instant, forget_after: Duration) {
    let before = peers.len();
    peers.retain(|_, p| now.saturating_duration_since(p.last) <= forget_after);
    if peers.len() < before {
        return;
    }
    if let Some(oldest) = peers.iter().min_by_key(|(_, p)| p.last).map(|(ip, _)| *ip) {
        peers.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_per_address_and_are_forgotten() {
        let guard = LoginGuard::new(GuardConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_wait: Duration::from_secs(10),
            forget_after: Duration::from_secs(60),
            max_failures_per_connection: 3,
            max_peers: 10,
        });
        let mut delays = Vec::new();
        for n in 1..=4 {
            let v = guard.failed(ip(1), n);
            delays.push(v.delay.as_millis());
            tokio::time::advance(v.delay).await;
            assert_eq!(v.close, n >= 3);
        }
        assert_eq!(delays, [100, 200, 400, 400]);
        // Another address is not slowed by the first one's failures.
        assert_eq!(guard.failed(ip(2), 1).delay, Duration::from_millis(100));
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(guard.failures(ip(1)), 0);
        assert_eq!(guard.failed(ip(1), 1).delay, Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_failures_from_one_address_queue_up_then_are_cut_off() {
        let guard = LoginGuard::new(GuardConfig {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
            max_wait: Duration::from_millis(350),
            forget_after: Duration::from_secs(60),
            max_failures_per_connection: 3,
            max_peers: 10,
        });
        // Five connections fail at the same instant: replies are spaced out, and those
        // that would wait too long are answered at once with a close.
        let verdicts: Vec<Verdict> = (0..5).map(|_| guard.failed(ip(1), 1)).collect();
        let waits: Vec<u128> = verdicts.iter().map(|v| v.delay.as_millis()).collect();
        assert_eq!(waits, [100, 200, 300, 350, 350]);
        assert_eq!(
            verdicts.iter().map(|v| v.close).collect::<Vec<_>>(),
            [false, false, false, true, true]
        );
        // A right password now waits for the queued failures, no longer.
        assert_eq!(guard.succeeded(ip(1)), Duration::from_millis(300));
        assert_eq!(guard.succeeded(ip(2)), Duration::ZERO);
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(guard.succeeded(ip(1)), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_bounded() {
        let guard = LoginGuard::new(GuardConfig {
            max_peers: 4,
            ..GuardConfig::default()
        });
        for last in 0..50 {
            guard.failed(ip(last), 1);
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert!(guard.peers.lock().unwrap().len() <= 4);
        assert_eq!(guard.failures(ip(49)), 1);
    }
}
