//! The recent sessions of a server, kept in memory for a live view (the web inbox's
//! protocol tab, `GET /api/v1/sessions`).
//!
//! A [`SessionLog`] is fed by a transcript ([`SessionLog::transcript`]), so what it holds
//! is exactly what `--trace` prints: credentials are masked before a line gets here
//! ([`crate::transcript::Redaction`]), and long messages are shortened. The server
//! runtime tells it when a connection opens and closes ([`crate::ServerConfig::sessions`]),
//! which is where the client's address comes from.
//!
//! Memory is bounded by two named limits ([`SessionLimits`]): the oldest session is
//! forgotten when one more opens, and a session's oldest lines when it has too many.
//! Each new line is also broadcast ([`SessionLog::subscribe`]) through a bounded channel
//! that a slow listener falls behind on rather than grows.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::broadcast;

use crate::transcript::{Direction, Transcript};

/// Sessions kept by default: enough to find the one a test just ran among its
/// neighbours, small enough to list in one response.
pub const DEFAULT_MAX_SESSIONS: usize = 100;
/// Lines kept per session by default: a whole ordinary SMTP, POP3 or IMAP conversation
/// (the transcript already shortens message bodies), not an endless IDLE.
pub const DEFAULT_MAX_LINES: usize = 200;
/// Line events a subscriber may fall behind by before it misses some (it is told how
/// many it missed).
pub const EVENT_BACKLOG: usize = 1024;

/// How much a [`SessionLog`] keeps. The worst case is `max_sessions × max_lines` lines
/// of at most 2.4 KB each (the transcript cuts a line at 400 bytes, and an escaped
/// control character takes at most 6): about 48 MB with the defaults, a few hundred KB
/// for ordinary sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions kept; the oldest is forgotten when one more opens.
    pub max_sessions: usize,
    /// Lines kept per session; its oldest lines are dropped (and counted) past this.
    pub max_lines: usize,
}

impl Default for SessionLimits {
    fn default() -> Self {
        SessionLimits {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_lines: DEFAULT_MAX_LINES,
        }
    }
}

/// One line of a session, as the transcript shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedLine {
    /// When it was sent or received.
    pub at: SystemTime,
    /// Who sent it.
    pub direction: Direction,
    /// The line, credentials masked, without its line end (shared by the log and the
    /// events: one allocation per line).
    pub text: Arc<str>,
}

/// A session as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedSession {
    /// The session's label, as `--trace` shows it: `smtp#3`.
    pub id: Arc<str>,
    /// The protocol: `smtp`, `pop3` or `imap`.
    pub protocol: Arc<str>,
    /// The client's address, when the server runtime told it.
    pub peer: Option<SocketAddr>,
    /// When the connection was accepted (or its first line was seen).
    pub started: SystemTime,
    /// When it closed; `None` while it is open.
    pub ended: Option<SystemTime>,
    /// Its most recent lines, oldest first.
    pub lines: VecDeque<LoggedLine>,
    /// Older lines no longer kept ([`SessionLimits::max_lines`]).
    pub lines_dropped: u64,
}

/// A new line of a session, as broadcast to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEvent {
    /// The session's label (`smtp#3`).
    pub id: Arc<str>,
    /// Its protocol.
    pub protocol: Arc<str>,
    /// Its client's address, if known.
    pub peer: Option<SocketAddr>,
    /// The line.
    pub line: LoggedLine,
}

/// The recent sessions of a server: a cheap `Clone` handle.
///
/// A `std` mutex, held only to push or copy a few values and never across an `.await`:
/// transcript lines come from async tasks and from the blocking pool alike.
#[derive(Clone)]
pub struct SessionLog {
    shared: Arc<Shared>,
}

struct Shared {
    limits: SessionLimits,
    sessions: Mutex<VecDeque<LoggedSession>>,
    events: broadcast::Sender<SessionEvent>,
}

impl std::fmt::Debug for SessionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLog")
            .field("limits", &self.shared.limits)
            .finish()
    }
}

impl Default for SessionLog {
    fn default() -> Self {
        SessionLog::new(SessionLimits::default())
    }
}

impl SessionLog {
    /// An empty log that keeps what `limits` allow.
    pub fn new(limits: SessionLimits) -> Self {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        SessionLog {
            shared: Arc::new(Shared {
                limits,
                sessions: Mutex::new(VecDeque::new()),
                events,
            }),
        }
    }

    /// The limits it keeps to.
    pub fn limits(&self) -> SessionLimits {
        self.shared.limits
    }

    /// A transcript whose labelled lines land in this log (lines outside a session are
    /// not kept). Combine it with `--trace`'s with [`Transcript::tee`].
    pub fn transcript(&self) -> Transcript {
        let log = self.clone();
        Transcript::to_labelled_sink(move |label, direction, text| {
            if let Some(label) = label {
                log.line(label, direction, text);
            }
        })
    }

    /// A connection was accepted: its session (`label`, from
    /// [`crate::transcript::session_label`]) starts, from `peer`.
    pub fn opened(&self, label: &str, peer: SocketAddr) {
        let mut sessions = self.lock();
        self.push_session(&mut sessions, new_session(label, Some(peer)));
    }

    /// The connection of session `label` closed.
    pub fn closed(&self, label: &str) {
        let mut sessions = self.lock();
        if let Some(session) = newest_open(&mut sessions, label) {
            session.ended = Some(SystemTime::now());
        }
    }

    /// Records a line of session `label`, and broadcasts it.
    pub fn line(&self, label: &str, direction: Direction, text: &str) {
        let line = LoggedLine {
            at: SystemTime::now(),
            direction,
            text: text.into(),
        };
        let event = {
            let mut sessions = self.lock();
            if newest_open(&mut sessions, label).is_none() {
                // A line without an accepted connection (a session driven without the
                // server runtime, as in tests): the session starts here.
                self.push_session(&mut sessions, new_session(label, None));
            }
            let Some(session) = newest_open(&mut sessions, label) else {
                return;
            };
            if session.lines.len() >= self.shared.limits.max_lines {
                session.lines.pop_front();
                session.lines_dropped += 1;
            }
            if self.shared.limits.max_lines > 0 {
                session.lines.push_back(line.clone());
            } else {
                session.lines_dropped += 1;
            }
            SessionEvent {
                id: session.id.clone(),
                protocol: session.protocol.clone(),
                peer: session.peer,
                line,
            }
        };
        // Nobody subscribed: nothing to send (and no error).
        if self.shared.events.receiver_count() > 0 {
            let _ = self.shared.events.send(event);
        }
    }

    /// The sessions kept, oldest first.
    pub fn sessions(&self) -> Vec<LoggedSession> {
        self.lock().iter().cloned().collect()
    }

    /// The session `id` (the newest one of that label), if it is kept.
    pub fn session(&self, id: &str) -> Option<LoggedSession> {
        self.lock().iter().rev().find(|s| &*s.id == id).cloned()
    }

    /// New lines from now on. A subscriber that falls more than [`EVENT_BACKLOG`] lines
    /// behind misses the oldest ones (`RecvError::Lagged` says how many).
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.shared.events.subscribe()
    }

    fn push_session(&self, sessions: &mut VecDeque<LoggedSession>, session: LoggedSession) {
        if self.shared.limits.max_sessions == 0 {
            return;
        }
        while sessions.len() >= self.shared.limits.max_sessions {
            sessions.pop_front();
        }
        sessions.push_back(session);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<LoggedSession>> {
        // Each change is a push or a pop: a panic elsewhere cannot leave the log torn.
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

fn new_session(label: &str, peer: Option<SocketAddr>) -> LoggedSession {
    let protocol = label.split_once('#').map_or(label, |(p, _)| p);
    LoggedSession {
        id: label.into(),
        protocol: protocol.into(),
        peer,
        started: SystemTime::now(),
        ended: None,
        lines: VecDeque::new(),
        lines_dropped: 0,
    }
}

/// The newest session labelled `label` that is still open. Two listeners of one
/// protocol (SMTP and SMTPS) number their connections apart, so a label can come back;
/// its lines belong to the connection open now.
fn newest_open<'a>(
    sessions: &'a mut VecDeque<LoggedSession>,
    label: &str,
) -> Option<&'a mut LoggedSession> {
    sessions
        .iter_mut()
        .rev()
        .find(|s| &*s.id == label && s.ended.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> SocketAddr {
        ([127, 0, 0, 1], 40000).into()
    }

    #[test]
    fn keeps_at_most_max_sessions_dropping_the_oldest() {
        let log = SessionLog::new(SessionLimits {
            max_sessions: 3,
            max_lines: 10,
        });
        for n in 1..=5 {
            log.opened(&format!("smtp#{n}"), peer());
        }
        let ids: Vec<String> = log.sessions().iter().map(|s| s.id.to_string()).collect();
        assert_eq!(ids, ["smtp#3", "smtp#4", "smtp#5"]);
    }

    #[test]
    fn keeps_the_last_max_lines_and_counts_the_rest() {
        let log = SessionLog::new(SessionLimits {
            max_sessions: 3,
            max_lines: 4,
        });
        log.opened("imap#1", peer());
        for n in 0..10 {
            log.line("imap#1", Direction::Client, &format!("a{n} NOOP"));
        }
        let s = log.session("imap#1").unwrap();
        let texts: Vec<&str> = s.lines.iter().map(|l| &*l.text).collect();
        assert_eq!(texts, ["a6 NOOP", "a7 NOOP", "a8 NOOP", "a9 NOOP"]);
        assert_eq!(s.lines_dropped, 6);
        assert_eq!(s.peer, Some(peer()));
        assert_eq!(&*s.protocol, "imap");
    }

    #[test]
    fn a_reused_label_starts_a_new_session_after_the_old_closed() {
        let log = SessionLog::default();
        log.opened("smtp#1", peer());
        log.line("smtp#1", Direction::Server, "220 first");
        log.closed("smtp#1");
        log.opened("smtp#1", peer());
        log.line("smtp#1", Direction::Server, "220 second");
        let all = log.sessions();
        assert_eq!(all.len(), 2);
        assert!(all[0].ended.is_some());
        assert_eq!(&*all[0].lines[0].text, "220 first");
        assert_eq!(&*all[1].lines[0].text, "220 second");
        assert!(all[1].ended.is_none());
    }

    #[test]
    fn lines_reach_subscribers_masked_as_the_transcript_masks_them() {
        static RULES: crate::transcript::Redaction = crate::transcript::Redaction {
            name_within: 0,
            secret: &[crate::transcript::Masked::user("PASS", 0)],
        };
        let log = SessionLog::default();
        let mut events = log.subscribe();
        let transcript = log.transcript().labelled("pop3#1");
        transcript.client_input(
            b"PASS hunter2\r\n",
            crate::transcript::Shown::Command(&RULES),
        );
        let event = events.try_recv().unwrap();
        assert_eq!(&*event.id, "pop3#1");
        assert_eq!(&*event.line.text, "PASS ****");
        let kept = log.session("pop3#1").unwrap();
        assert!(kept.lines.iter().all(|l| !l.text.contains("hunter2")));
    }
}
