//! What happened to an account's mailbox names and subscriptions, for sessions that
//! report it (IMAP NOTIFY's MailboxName and SubscriptionChange events, RFC 5465 §5.4,
//! §5.5).
//!
//! Like a mailbox's [`crate::MailboxWatch`], a session is woken by a version number,
//! then asks what happened since the version it last saw. The account keeps the latest
//! [`NAME_EVENTS_KEPT`] events; a session further behind than that is told so
//! ([`NameEvents::Lost`]) and compares the account's list with what it knew instead,
//! which loses only the pairing of a rename's two names.

use std::collections::VecDeque;

use tokio::sync::watch;

/// How many name events an account keeps for sessions that have not looked yet. A
/// session sees events after each command and whenever it waits, so only a burst of
/// more than this many CREATE/DELETE/RENAME/SUBSCRIBE while a session is busy with one
/// long command falls back to comparing lists.
pub const NAME_EVENTS_KEPT: usize = 256;

/// One change to an account's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameEvent {
    /// A mailbox was created (CREATE, a parent created for a child, a delivery's
    /// automatic mailbox, RENAME INBOX's new mailbox).
    Created(String),
    /// A mailbox was deleted.
    Deleted(String),
    /// A mailbox and every mailbox below it were renamed; one event for the whole
    /// hierarchy (RFC 5465 §5.4: "No additional MailboxName events are sent for
    /// children").
    Renamed {
        /// The old name of the top mailbox.
        from: String,
        /// Its new name.
        to: String,
    },
    /// A name was subscribed.
    Subscribed(String),
    /// A name was unsubscribed.
    Unsubscribed(String),
}

/// What happened since a version a session saw ([`crate::Account::name_events_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameEvents {
    /// Every event since, oldest first, and the version they bring the session to.
    Since {
        /// The events.
        events: Vec<NameEvent>,
        /// The version after the last of them.
        version: u64,
    },
    /// The events since were not kept: compare the current names with what was known.
    Lost {
        /// The current version.
        version: u64,
    },
}

/// The account's event log and its version.
pub(crate) struct NameLog {
    /// `(version, event)`, oldest first; the event made the account that version.
    events: VecDeque<(u64, NameEvent)>,
    version: watch::Sender<u64>,
}

impl NameLog {
    pub(crate) fn new() -> NameLog {
        NameLog {
            events: VecDeque::new(),
            version: watch::Sender::new(0),
        }
    }

    /// Records events made under the account's lock, and wakes the watchers once.
    pub(crate) fn record(&mut self, events: impl IntoIterator<Item = NameEvent>) {
        let mut version = *self.version.borrow();
        let before = version;
        for event in events {
            version += 1;
            if self.events.len() == NAME_EVENTS_KEPT {
                self.events.pop_front();
            }
            self.events.push_back((version, event));
        }
        if version != before {
            self.version.send_replace(version);
        }
    }

    pub(crate) fn version(&self) -> u64 {
        *self.version.borrow()
    }

    pub(crate) fn since(&self, seen: u64) -> NameEvents {
        let version = self.version();
        if seen >= version {
            return NameEvents::Since {
                events: Vec::new(),
                version,
            };
        }
        match self.events.front() {
            // The first event after `seen` is still kept.
            Some(&(first, _)) if first <= seen + 1 => NameEvents::Since {
                events: self
                    .events
                    .iter()
                    .filter(|(v, _)| *v > seen)
                    .map(|(_, e)| e.clone())
                    .collect(),
                version,
            },
            _ => NameEvents::Lost { version },
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// Tells a session that an account's names or subscriptions changed; it then asks
/// [`crate::Account::name_events_since`] what happened.
pub struct AccountWatch(pub(crate) crate::versions::Versions);

impl AccountWatch {
    /// Resolves when a name event happened since the last call (or since this watch was
    /// made). Cancel-safe.
    pub async fn changed(&mut self) {
        self.0.changed().await;
    }

    /// The account's current name version.
    pub fn version(&self) -> u64 {
        self.0.version()
    }
}

impl std::fmt::Debug for AccountWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountWatch")
            .field("version", &self.version())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_far_behind_is_told_the_events_are_lost() {
        let mut log = NameLog::new();
        log.record([NameEvent::Created("a".into())]);
        assert_eq!(
            log.since(0),
            NameEvents::Since {
                events: vec![NameEvent::Created("a".into())],
                version: 1
            }
        );
        log.record((0..NAME_EVENTS_KEPT).map(|i| NameEvent::Created(format!("m{i}"))));
        let v = log.version();
        assert_eq!(log.since(0), NameEvents::Lost { version: v });
        match log.since(1) {
            NameEvents::Since { events, version } => {
                assert_eq!(events.len(), NAME_EVENTS_KEPT);
                assert_eq!(version, v);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            log.since(v),
            NameEvents::Since {
                events: vec![],
                version: v
            }
        );
    }
}
