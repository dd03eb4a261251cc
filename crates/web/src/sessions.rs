//! Live protocol transcripts: `GET /api/v1/sessions` (**yubin**) lists the recent SMTP,
//! POP3 and IMAP sessions with their lines, and each new line is an `event: session` on
//! the event stream.
//!
//! Both read the server's [`SessionLog`] ([`crate::WebConfig::sessions`]), which keeps
//! what `--trace` prints: passwords were masked before a line got there, and nothing here
//! can unmask them. Its limits bound the memory; without a log the list is empty.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;
use yubin_core::session_log::{LoggedLine, LoggedSession, SessionEvent, SessionLog};
use yubin_core::transcript::Direction;

use crate::state::{WebEvent, WebState};

/// The sessions route.
pub(crate) fn routes(state: WebState) -> Router {
    Router::new()
        .route("/api/v1/sessions", get(list))
        .with_state(state)
}

/// A session as the API shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionJson {
    /// `smtp#3`.
    #[serde(rename = "ID")]
    id: String,
    protocol: String,
    /// `127.0.0.1:51234`, or `null` when unknown.
    peer: Option<String>,
    started: String,
    /// `null` while open.
    ended: Option<String>,
    /// Older lines no longer kept.
    lines_dropped: u64,
    lines: Vec<LineJson>,
}

/// One line as the API and the `session` event show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LineJson {
    /// `client` or `server`.
    direction: &'static str,
    text: String,
    time: String,
}

/// The data of an `event: session`: one new line, with its session.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct EventJson {
    #[serde(rename = "ID")]
    id: String,
    protocol: String,
    peer: Option<String>,
    #[serde(flatten)]
    line: LineJson,
}

fn time(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn peer(p: Option<SocketAddr>) -> Option<String> {
    p.map(|p| p.to_string())
}

impl From<&LoggedLine> for LineJson {
    fn from(l: &LoggedLine) -> Self {
        LineJson {
            direction: match l.direction {
                Direction::Client => "client",
                Direction::Server => "server",
            },
            text: l.text.to_string(),
            time: time(l.at),
        }
    }
}

impl From<LoggedSession> for SessionJson {
    fn from(s: LoggedSession) -> Self {
        SessionJson {
            id: s.id.to_string(),
            protocol: s.protocol.to_string(),
            peer: peer(s.peer),
            started: time(s.started),
            ended: s.ended.map(time),
            lines_dropped: s.lines_dropped,
            lines: s.lines.iter().map(LineJson::from).collect(),
        }
    }
}

impl From<SessionEvent> for EventJson {
    fn from(e: SessionEvent) -> Self {
        EventJson {
            id: e.id.to_string(),
            protocol: e.protocol.to_string(),
            peer: peer(e.peer),
            line: LineJson::from(&e.line),
        }
    }
}

/// The recent sessions, oldest first.
async fn list(State(state): State<WebState>) -> Json<Vec<SessionJson>> {
    let sessions = match &state.config().sessions {
        Some(log) => log.sessions(),
        None => Vec::new(),
    };
    Json(sessions.into_iter().map(SessionJson::from).collect())
}

/// Carries each new line of `log` to the event stream as `event: session`, at most
/// `per_second` a second, until the log is gone or `shutdown` is cancelled.
///
/// The event stream is shared with the mail events (`new`, `delete` ...), and a busy
/// server (a load test) says thousands of lines a second: unthrottled, they would push
/// every open page past its backlog into `reset`s. Lines over the rate (or lost because
/// this task fell behind the log) are counted instead, and the count is sent once a
/// second as `event: session-missed` `{"Missed": n}`; `GET /api/v1/sessions` has them.
pub(crate) fn forward(
    log: &SessionLog,
    events: broadcast::Sender<WebEvent>,
    per_second: u32,
    shutdown: CancellationToken,
) {
    let mut lines = log.subscribe();
    tokio::spawn(async move {
        let mut throttle = Throttle::new(per_second, events);
        loop {
            let first = tokio::select! {
                _ = shutdown.cancelled() => break,
                // A count of missed lines waits at most a second to be sent.
                _ = tokio::time::sleep_until(throttle.window_end()), if throttle.missed > 0 => {
                    throttle.roll();
                    continue;
                }
                next = lines.recv() => next,
            };
            let mut next = first.map_err(|e| match e {
                RecvError::Lagged(n) => TryRecvError::Lagged(n),
                RecvError::Closed => TryRecvError::Closed,
            });
            // Everything queued behind it, then a pause: lines come in bursts (a session
            // says a dozen at once), and a wake-up per line is what a busy server would
            // feel.
            loop {
                match next {
                    Ok(event) => throttle.line(event),
                    Err(TryRecvError::Lagged(n)) => throttle.missed += n,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Closed) => return,
                }
                next = lines.try_recv();
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(FORWARD_BATCH) => {}
            }
        }
    });
}

/// At most `per_second` lines in each one-second window; the rest counted and reported
/// when the window ends.
struct Throttle {
    per_second: u32,
    events: broadcast::Sender<WebEvent>,
    window: tokio::time::Instant,
    sent: u32,
    missed: u64,
}

impl Throttle {
    fn new(per_second: u32, events: broadcast::Sender<WebEvent>) -> Self {
        Throttle {
            per_second,
            events,
            window: tokio::time::Instant::now(),
            sent: 0,
            missed: 0,
        }
    }

    fn window_end(&self) -> tokio::time::Instant {
        self.window + Duration::from_secs(1)
    }

    /// Starts a new window, first reporting what the last one missed.
    fn roll(&mut self) {
        if self.missed > 0 {
            let data = serde_json::json!({ "Missed": self.missed });
            // No open stream is not an error: nobody is watching.
            let _ = self.events.send(WebEvent::global("session-missed", data));
        }
        self.window = tokio::time::Instant::now();
        self.sent = 0;
        self.missed = 0;
    }

    fn line(&mut self, event: SessionEvent) {
        if tokio::time::Instant::now() >= self.window_end() {
            self.roll();
        }
        if self.sent >= self.per_second {
            self.missed += 1;
            return;
        }
        self.sent += 1;
        let data = serde_json::to_value(EventJson::from(event)).unwrap_or(serde_json::Value::Null);
        let _ = self.events.send(WebEvent::global("session", data));
    }
}

/// How long the forwarder lets lines gather before it takes them: at most this late on
/// the page, and a wake-up per batch rather than per line.
const FORWARD_BATCH: Duration = Duration::from_millis(25);
