//! `GET /api/v1/events` (yubin): the store's changes as Server-Sent Events.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use crate::scope::{self, ScopeQuery};
use crate::state::{WebEvent, WebState};

/// How often a comment line keeps an idle stream open through proxies.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /api/v1/events`.
pub(crate) async fn events(
    State(state): State<WebState>,
    Query(q): Query<ScopeQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Answered once the hub watches every mailbox, so any change after the client has
    // the response is an event.
    state.hub_ready().await;
    let rx = state.events().subscribe();
    let stream = futures::stream::unfold((rx, state, q), |(mut rx, state, q)| async move {
        loop {
            let next = tokio::select! {
                // The server is stopping: end the stream so the shutdown can finish.
                _ = state.shared.shutdown.cancelled() => return None,
                next = rx.recv() => next,
            };
            let event = match next {
                Ok(ev) => match in_scope(&state, &q, ev).await {
                    Some(event) => event,
                    None => continue,
                },
                // The client read too slowly and events were dropped: say so.
                Err(RecvError::Lagged(_)) => sse("reset", &json!({})),
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok(event), (rx, state, q)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// The event this stream sends for a hub event, if it is in the stream's scope. A
/// mailbox's `stats` becomes the counts of the stream's whole scope.
async fn in_scope(state: &WebState, q: &ScopeQuery, ev: WebEvent) -> Option<Event> {
    let Some((account, mailbox)) = &ev.scope else {
        return Some(sse(&ev.name, &ev.data));
    };
    if !q.covers(state.store(), account, mailbox) {
        return None;
    }
    if ev.name != "stats" {
        return Some(sse(&ev.name, &ev.data));
    }
    let (st, q) = (state.clone(), q.clone());
    let counts = tokio::task::spawn_blocking(move || {
        let opened = scope::open(st.store(), &q).ok()?;
        let (mut total, mut unread) = (0u64, 0u64);
        for o in &opened {
            let s = o.view.status();
            total += u64::from(s.messages);
            unread += u64::from(s.unseen);
        }
        Some((total, unread))
    })
    .await
    .ok()??;
    Some(sse(
        "stats",
        &json!({ "Total": counts.0, "Unread": counts.1 }),
    ))
}

fn sse(name: &str, data: &serde_json::Value) -> Event {
    Event::default().event(name).data(data.to_string())
}
