//! What the SMTP server has done since it started: the counters Mailpit's API reports
//! as `RuntimeStats` (`SMTPAccepted`, `SMTPAcceptedSize`, `SMTPRejected`), shared by
//! clone between the SMTP sessions and whoever reads them (the HTTP API's `info`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The SMTP counters; every clone counts into the same ones.
#[derive(Debug, Clone, Default)]
pub struct SmtpStats(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    accepted_size: AtomicU64,
    rejected: AtomicU64,
}

/// The counters as read at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmtpCounts {
    /// Messages delivered (a 250 after DATA), whatever their number of recipients.
    pub accepted: u64,
    /// Their sizes in octets, summed.
    pub accepted_size: u64,
    /// Recipients refused at RCPT (unknown, relaying denied, an injected fault) and
    /// messages refused after DATA (too large, a recipient gone).
    pub rejected: u64,
}

impl SmtpStats {
    /// Counts a delivered message of `size` octets.
    pub fn accepted(&self, size: u64) {
        self.0.accepted.fetch_add(1, Ordering::Relaxed);
        self.0.accepted_size.fetch_add(size, Ordering::Relaxed);
    }

    /// Counts a refused recipient or message.
    pub fn rejected(&self) {
        self.0.rejected.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn counts(&self) -> SmtpCounts {
        SmtpCounts {
            accepted: self.0.accepted.load(Ordering::Relaxed),
            accepted_size: self.0.accepted_size.load(Ordering::Relaxed),
            rejected: self.0.rejected.load(Ordering::Relaxed),
        }
    }
}
