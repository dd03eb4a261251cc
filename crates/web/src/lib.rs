//! `yubin-web`: a web inbox and a Mailpit-compatible HTTP API over the yubin store.
//!
//! The routes, JSON shapes, message IDs and events are described in `API.md` beside
//! this crate. Everything is live: the API reads the store the mail protocols use, and
//! writes through the same calls (flags are IMAP flags, tags IMAP keywords, a delete an
//! expunge, a send a delivery), so every session sees every change at once.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let store = yubin_store::Store::memory();
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8025").await?;
//! let shutdown = tokio_util::sync::CancellationToken::new();
//! yubin_web::serve(listener, store, yubin_web::WebConfig::default(), shutdown).await
//! # }
//! ```
#![forbid(unsafe_code)]

mod api;
mod chaos;
mod compose;
mod decode;
mod error;
pub mod guard;
mod hub;
mod id;
pub mod release;
mod scope;
mod search;
mod sessions;
mod shape;
mod state;
mod tag;

use std::io;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use yubin_store::Store;

pub use error::ApiError;
pub use id::MessageId;
pub use state::{WebConfig, WebEvent, WebState};

/// Every route of the web inbox and the API, over a state.
pub fn router(state: WebState) -> Router {
    let router = api::routes(state.clone());
    // --- Routes and layers of the other modules (chaos, release, sessions, guard) ---
    let router = router
        .merge(chaos::routes(state.clone()))
        .merge(release::routes(state.clone()))
        .merge(sessions::routes(state.clone()));
    // Outermost: every route, the page included, is behind the guard.
    let router = guard::apply(router, state.config().guard.clone());
    // --- end of the other modules' routes ---
    router
}

/// Serves the web inbox and API on `listener` until `shutdown` is cancelled; then stops
/// accepting, ends the event streams and returns once open requests have finished.
pub async fn serve(
    listener: TcpListener,
    store: Store,
    config: WebConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let state = WebState::with_shutdown(store, config, shutdown.child_token());
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
