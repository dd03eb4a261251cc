//! The state every request shares: the store, the settings, the event channel and the
//! cache of decoded summaries.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use yubin_store::Store;

use crate::id::MessageId;
use crate::shape::Content;

/// Settings of the web server. Every limit is named here, with the reason for its default.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mailpit's `Label` (shown by the page to tell instances apart).
    pub label: String,
    /// The largest page a listing or search returns: a client asking for more gets this
    /// many, so one request cannot decode a whole large mailbox.
    pub max_page: usize,
    /// The page size when `limit` is absent (Mailpit's default, 50).
    pub default_page: usize,
    /// The longest `?wait=` honoured: a long poll holds a connection, and a proxy in
    /// front usually closes idle ones after a minute or two.
    pub max_wait: Duration,
    /// The largest request body (`POST send` with its base64 attachments): SMTP's
    /// default message size cap plus base64's third.
    pub max_body: usize,
    /// How often the event hub looks for accounts and mailboxes created since (it reads
    /// the store's in-memory lists; message changes come from the store's watches, at
    /// once, without this).
    pub account_rescan: Duration,
    /// The SMTP server's fault injection, shared with it (`/api/v1/chaos`); Mailpit's
    /// `ChaosEnabled` is whether it is allowed (`--enable-chaos`).
    pub chaos: mini_smtp::Chaos,
    /// Where `release` sends messages (`--relay`); Mailpit's `MessageRelay.SMTPServer`,
    /// enabled when set.
    pub relay: Option<crate::release::Relay>,
    /// The SMTP server's counters, for `info`'s `RuntimeStats`; `None` (an HTTP server
    /// without SMTP beside it, `yubin web`): they are reported as 0.
    pub smtp_stats: Option<mini_smtp::SmtpStats>,
    /// The recent protocol sessions (`/api/v1/sessions`, `event: session`); `None`:
    /// none are kept.
    pub sessions: Option<yubin_core::session_log::SessionLog>,
    /// Who may use the server, and from which page ([`crate::guard`]).
    pub guard: crate::guard::GuardConfig,
    /// Session lines sent as `event: session` per second at most; the rest are counted
    /// (`event: session-missed`), so a busy server cannot crowd mail events out of the
    /// streams. 200: a person reading along sees every line of ordinary traffic.
    pub session_events_per_second: u32,
    /// How many events a slow event stream may fall behind before it is told to reload
    /// (`event: reset`) instead of the server buffering without bound.
    pub event_backlog: usize,
    /// How many decoded summaries are kept (a few hundred bytes each): a listing page
    /// then decodes only messages it has not shown before.
    pub summary_cache: usize,
    /// The most recipients one `send` may name (To, Cc and Bcc together).
    pub max_recipients: usize,
    /// The longest search query, in bytes.
    pub max_query: usize,
    /// The most terms in one search query (each is a test of every candidate).
    pub max_search_terms: usize,
    /// The most bytes of inline images one HTML view inlines as `data:` URIs.
    pub max_inline_images: usize,
    /// The most `new` events one batch of changes sends before a `reset` instead.
    pub max_new_events: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            label: String::new(),
            max_page: 1000,
            default_page: 50,
            max_wait: Duration::from_secs(60),
            max_body: 32 * 1024 * 1024,
            account_rescan: Duration::from_secs(1),
            chaos: mini_smtp::Chaos::disabled(),
            smtp_stats: None,
            relay: None,
            sessions: None,
            guard: crate::guard::GuardConfig::default(),
            session_events_per_second: 200,
            event_backlog: 1024,
            summary_cache: 10_000,
            max_recipients: crate::compose::MAX_RECIPIENTS,
            max_query: crate::search::MAX_QUERY,
            max_search_terms: crate::search::MAX_TERMS,
            max_inline_images: crate::decode::MAX_INLINE_DATA,
            max_new_events: crate::hub::MAX_NEW_PER_BATCH,
        }
    }
}

/// One server-sent event.
#[derive(Debug, Clone)]
pub struct WebEvent {
    /// The SSE event name (`new`, `update`, `delete`, `stats`, `session`, ...).
    pub name: String,
    /// The JSON data.
    pub data: serde_json::Value,
    /// The account and mailbox it is about; `None` goes to every stream.
    pub scope: Option<(String, String)>,
}

impl WebEvent {
    /// An event for every stream, whatever its scope (W1b's `session` events).
    pub fn global(name: &str, data: serde_json::Value) -> WebEvent {
        WebEvent {
            name: name.to_owned(),
            data,
            scope: None,
        }
    }
}

/// The state the routes share; a cheap clone.
#[derive(Clone)]
pub struct WebState {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Store,
    pub(crate) config: WebConfig,
    pub(crate) events: broadcast::Sender<WebEvent>,
    pub(crate) started: Instant,
    /// Messages deleted through this API (Mailpit's `RuntimeStats.MessagesDeleted`).
    pub(crate) deleted: AtomicU64,
    /// Decoded summaries by message (std Mutex: never held across an `.await`).
    summaries: Mutex<HashMap<MessageId, Content>>,
    /// Cancelled when the server shuts down: ends event streams and the hub.
    pub(crate) shutdown: CancellationToken,
    /// True once the event hub has taken its first look at the store: from then on every
    /// change becomes an event, so a stream (or a wait) that starts after it misses none.
    pub(crate) hub_ready: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl WebState {
    /// The state over a store; starts the event hub, which watches the store's
    /// mailboxes for as long as this state (or a clone) lives. Needs a tokio runtime.
    pub fn new(store: Store, config: WebConfig) -> WebState {
        WebState::with_shutdown(store, config, CancellationToken::new())
    }

    pub(crate) fn with_shutdown(
        store: Store,
        config: WebConfig,
        shutdown: CancellationToken,
    ) -> WebState {
        let (events, _) = broadcast::channel(config.event_backlog.max(1));
        let state = WebState {
            shared: Arc::new(Shared {
                store,
                config,
                events,
                started: Instant::now(),
                deleted: AtomicU64::new(0),
                summaries: Mutex::new(HashMap::new()),
                shutdown,
                hub_ready: tokio::sync::watch::Sender::new(false),
            }),
        };
        crate::hub::start(&state);
        if let Some(log) = &state.shared.config.sessions {
            crate::sessions::forward(
                log,
                state.events(),
                state.shared.config.session_events_per_second,
                state.shared.shutdown.clone(),
            );
        }
        state
    }

    /// The channel of events the stream at `/api/v1/events` sends: send a [`WebEvent`]
    /// here to have every open stream carry it.
    pub fn events(&self) -> broadcast::Sender<WebEvent> {
        self.shared.events.clone()
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The settings.
    pub fn config(&self) -> &WebConfig {
        &self.shared.config
    }

    /// Resolves once the event hub watches every mailbox (at once after the start), or
    /// the server shuts down (the hub may then never get there).
    pub(crate) async fn hub_ready(&self) {
        let mut ready = self.shared.hub_ready.subscribe();
        tokio::select! {
            // The sender lives in `shared`, which `self` holds: the wait cannot fail.
            _ = ready.wait_for(|r| *r) => {}
            _ = self.shared.shutdown.cancelled() => {}
        }
    }

    /// The search limits of this server.
    pub(crate) fn search_limits(&self) -> crate::search::Limits {
        crate::search::Limits {
            bytes: self.shared.config.max_query,
            terms: self.shared.config.max_search_terms,
        }
    }

    /// Counts messages deleted through the API.
    pub(crate) fn count_deleted(&self, n: usize) {
        self.shared.deleted.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn cached(&self, id: &MessageId) -> Option<Content> {
        self.summaries().get(id).cloned()
    }

    pub(crate) fn cache(&self, id: MessageId, content: Content) {
        let mut cache = self.summaries();
        if cache.len() >= self.shared.config.summary_cache {
            // Dropping everything is cheap and bounded; the next pages decode again.
            cache.clear();
        }
        cache.insert(id, content);
    }

    fn summaries(&self) -> MutexGuard<'_, HashMap<MessageId, Content>> {
        self.shared
            .summaries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}
