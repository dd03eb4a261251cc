//! A version number that grows with every change, and the receivers that wait on it: the
//! one mechanism behind [`crate::MailboxWatch`] and [`crate::AccountWatch`].

use std::sync::Arc;

use tokio::sync::watch;

/// A receiver of a version number, keeping its sender's owner alive. A clone has seen
/// what the original has seen.
#[derive(Clone)]
pub(crate) struct Versions {
    rx: watch::Receiver<u64>,
    /// Holds the sender, so `changed` never sees a closed channel.
    _owner: Arc<dyn Send + Sync>,
}

impl Versions {
    pub(crate) fn new(rx: watch::Receiver<u64>, owner: Arc<dyn Send + Sync>) -> Versions {
        Versions { rx, _owner: owner }
    }

    /// Resolves when the version changed since the last call (or since the receiver was
    /// made). Cancel-safe: dropping the future loses nothing.
    pub(crate) async fn changed(&mut self) {
        if self.rx.changed().await.is_err() {
            // Unreachable while `_owner` holds the sender; never resolve rather than spin.
            std::future::pending::<()>().await;
        }
    }

    /// The version now.
    pub(crate) fn version(&self) -> u64 {
        *self.rx.borrow()
    }
}
