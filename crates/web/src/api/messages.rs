//! `GET/PUT/DELETE /api/v1/messages`, `GET/DELETE /api/v1/search`.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use yubin_store::{Flag, FlagOp, Flags};

use super::{blocking, by_mailbox, json_body, ok, parse_ids};
use crate::error::{ApiError, ApiResult};
use crate::scope::{self, Opened, ScopeQuery};
use crate::search::Query as Search;
use crate::shape::MessagesSummary;
use crate::state::WebState;

/// The query of a listing or search.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    start: Option<String>,
    limit: Option<String>,
    wait: Option<String>,
    query: Option<String>,
    #[serde(flatten)]
    scope: ScopeQuery,
}

impl ListQuery {
    fn page(&self, state: &WebState) -> ApiResult<(usize, usize)> {
        let num = |name: &str, v: &Option<String>, default: usize| match v.as_deref().map(str::trim)
        {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| ApiError::BadRequest(format!("{name} must be a number, not {v:?}"))),
        };
        let start = num("start", &self.start, 0)?;
        let limit = num("limit", &self.limit, state.config().default_page)?;
        // Mailpit reads limit=0 as "the default".
        let limit = if limit == 0 {
            state.config().default_page
        } else {
            limit
        };
        Ok((start, limit.min(state.config().max_page)))
    }

    fn wait(&self, state: &WebState) -> ApiResult<Option<Duration>> {
        match self.wait.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => {
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s >= 0.0)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!("wait must be seconds, not {v:?}"))
                    })?;
                Ok(Some(Duration::from_secs_f64(
                    secs.min(state.config().max_wait.as_secs_f64()),
                )))
            }
        }
    }
}

/// One page of the scope, filtered by a search. Blocking.
fn page(
    state: &WebState,
    q: &ScopeQuery,
    search: Option<&Search>,
    start: usize,
    limit: usize,
) -> ApiResult<MessagesSummary> {
    let opened = scope::open(state.store(), q)?;
    let entries = scope::entries(&opened);
    let total = entries.len() as u64;
    let unread = entries.iter().filter(|e| !e.read()).count() as u64;
    let matched: Vec<_> = match search {
        None => entries,
        Some(s) => entries
            .into_iter()
            .filter(|e| s.matches(state, &opened[e.at], e))
            .collect(),
    };
    let messages: Vec<_> = matched
        .iter()
        .skip(start)
        .take(limit)
        .filter_map(|e| scope::summary(state, &opened[e.at], &e.meta))
        .collect();
    Ok(MessagesSummary {
        total,
        unread,
        count: messages.len() as u64,
        messages_count: matched.len() as u64,
        messages_unread: matched.iter().filter(|e| !e.read()).count() as u64,
        start,
        tags: scope::tags(&opened),
        messages,
    })
}

/// `GET /api/v1/messages`, with yubin's `wait`.
pub(crate) async fn list(
    State(state): State<WebState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<MessagesSummary>> {
    let (start, limit) = q.page(&state)?;
    let wait = q.wait(&state)?;
    // Subscribed (with the hub watching) before the first look, so a message arriving
    // in between wakes us.
    if wait.is_some() {
        state.hub_ready().await;
    }
    let mut events = state.events().subscribe();
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    let mut waiting = deadline.is_some();
    loop {
        let (st, scope) = (state.clone(), q.scope.clone());
        match blocking(move || page(&st, &scope, None, start, limit)).await {
            Ok(summary) if !waiting || !summary.messages.is_empty() => return Ok(Json(summary)),
            Ok(_) => {}
            // An account that does not exist yet may be made by the delivery waited for
            // (accept-any-login): while waiting it is an empty listing.
            Err(ApiError::NotFound(_)) if waiting => {}
            Err(e) => return Err(e),
        }
        let Some(deadline) = deadline else { continue };
        // Wait for a change in scope (or lost events: look again), the end of the wait
        // (look a last time), or the server's shutdown (which must not wait for us).
        loop {
            let next = tokio::select! {
                _ = state.shared.shutdown.cancelled() => None,
                next = tokio::time::timeout_at(deadline, events.recv()) => next.ok(),
            };
            match next {
                None | Some(Err(RecvError::Closed)) => {
                    waiting = false;
                    break;
                }
                Some(Err(RecvError::Lagged(_))) => break,
                Some(Ok(ev)) => match &ev.scope {
                    Some((account, mailbox)) if q.scope.covers(state.store(), account, mailbox) => {
                        break;
                    }
                    _ => {}
                },
            }
        }
    }
}

/// `GET /api/v1/search`.
pub(crate) async fn search(
    State(state): State<WebState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<MessagesSummary>> {
    let (start, limit) = q.page(&state)?;
    let search = Search::parse(
        q.query.as_deref().unwrap_or_default(),
        state.search_limits(),
    )?;
    let summary = blocking(move || page(&state, &q.scope, Some(&search), start, limit)).await?;
    Ok(Json(summary))
}

// Bodies of bulk changes refuse fields they do not know: without IDs a request means
// "every message", so a misspelt `IDs` must be an error, not a change to everything.
// Go (Mailpit) matches field names without regard to case; the usual spellings are
// accepted here as aliases.

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ReadBody {
    #[serde(rename = "IDs", alias = "ids", alias = "Ids")]
    ids: Vec<String>,
    #[serde(rename = "Read", alias = "read")]
    read: bool,
    #[serde(rename = "Search", alias = "search")]
    search: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct IdsBody {
    #[serde(rename = "IDs", alias = "ids", alias = "Ids")]
    ids: Vec<String>,
}

/// The messages a bulk request names: its IDs, or the hits of a search, or (neither)
/// every message in scope; grouped by mailbox. Blocking.
fn targets(
    state: &WebState,
    q: &ScopeQuery,
    ids: &[String],
    search: Option<&Search>,
) -> ApiResult<Vec<(Opened, Vec<u32>)>> {
    if !ids.is_empty() {
        let ids = parse_ids(ids)?;
        return Ok(by_mailbox(state, ids));
    }
    let opened = scope::open(state.store(), q)?;
    let mut uids: Vec<Vec<u32>> = vec![Vec::new(); opened.len()];
    for e in scope::entries(&opened) {
        if search.is_none_or(|s| s.matches(state, &opened[e.at], &e)) {
            uids[e.at].push(e.meta.uid);
        }
    }
    Ok(opened
        .into_iter()
        .zip(uids)
        .filter(|(_, u)| !u.is_empty())
        .collect())
}

/// `PUT /api/v1/messages`: `\Seen` on or off.
pub(crate) async fn set_read(
    State(state): State<WebState>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: ReadBody = json_body(&body)?;
    let search = match body.search.trim() {
        "" => None,
        s => Some(Search::parse(s, state.search_limits())?),
    };
    blocking(move || {
        let op = if body.read {
            FlagOp::Add
        } else {
            FlagOp::Remove
        };
        let seen = Flags::from([Flag::Seen]);
        for (o, uids) in targets(&state, &q, &body.ids, search.as_ref())? {
            o.mailbox.set_flags(&uids, op, &seen)?;
        }
        Ok(())
    })
    .await?;
    Ok(ok())
}

/// Expunges (RFC 3501 §7.4.1: selected IMAP sessions are told). Blocking.
fn expunge(state: &WebState, groups: Vec<(Opened, Vec<u32>)>) -> ApiResult<()> {
    for (o, uids) in groups {
        let gone = o.mailbox.expunge(&uids)?;
        state.count_deleted(gone.len());
    }
    Ok(())
}

/// `DELETE /api/v1/messages`: the IDs given, or every message in scope.
pub(crate) async fn delete(
    State(state): State<WebState>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: IdsBody = json_body(&body)?;
    blocking(move || {
        let groups = targets(&state, &q, &body.ids, None)?;
        expunge(&state, groups)
    })
    .await?;
    Ok(ok())
}

/// `DELETE /api/v1/search?query=`: the hits.
pub(crate) async fn delete_search(
    State(state): State<WebState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Response> {
    let text = q.query.as_deref().unwrap_or_default();
    if text.trim().is_empty() {
        // Mailpit refuses an empty query here: it would delete everything.
        return Err(ApiError::BadRequest("no search query".into()));
    }
    let search = Search::parse(text, state.search_limits())?;
    blocking(move || {
        let groups = targets(&state, &q.scope, &[], Some(&search))?;
        expunge(&state, groups)
    })
    .await?;
    Ok(ok())
}
