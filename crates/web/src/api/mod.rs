//! The routes: Mailpit's API v1 and yubin's additions, the message views and the page.

mod assets;
mod events;
mod info;
mod message;
mod messages;
mod send;
mod tags;
mod view;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post, put};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ApiResult};
use crate::id::MessageId;
use crate::scope::{self, Opened, ScopeQuery};
use crate::state::WebState;

/// Every route over the state.
pub(crate) fn routes(state: WebState) -> Router {
    let max_body = state.config().max_body;
    Router::new()
        .route("/", get(assets::index))
        .route("/assets/app.js", get(assets::app_js))
        .route("/assets/style.css", get(assets::style_css))
        .route("/livez", get(info::alive))
        .route("/readyz", get(info::alive))
        .route("/api/v1/info", get(info::info))
        .route("/api/v1/webui", get(info::webui))
        .route("/api/v1/accounts", get(info::accounts))
        .route(
            "/api/v1/messages",
            get(messages::list)
                .put(messages::set_read)
                .delete(messages::delete),
        )
        .route(
            "/api/v1/search",
            get(messages::search).delete(messages::delete_search),
        )
        .route("/api/v1/message/{id}", get(message::get))
        .route("/api/v1/message/{id}/headers", get(message::headers))
        .route("/api/v1/message/{id}/raw", get(message::raw))
        .route("/api/v1/message/{id}/part/{part}", get(message::part))
        .route(
            "/api/v1/message/{id}/part/{part}/thumb",
            get(message::thumb),
        )
        .route("/api/v1/message/{id}/html-check", get(message::html_check))
        .route("/api/v1/message/{id}/link-check", get(message::link_check))
        .route("/api/v1/message/{id}/sa-check", get(message::sa_check))
        .route("/api/v1/send", post(send::send))
        .route("/api/v1/tags", get(tags::list).put(tags::set))
        .route("/api/v1/tags/{tag}", put(tags::rename).delete(tags::delete))
        .route("/api/v1/events", get(events::events))
        .route("/view/{file}", get(view::view))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(nosniff))
        .with_state(state)
}

/// Every answer: no content sniffing (a message part must never be read as HTML
/// because it looks like some).
async fn nosniff(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Runs store work on the blocking pool (the store's calls may touch the disk).
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await?
}

/// A JSON object body; an empty body is the default value (Mailpit's DELETE without a
/// body deletes everything). Parsed whatever the Content-Type says, as Mailpit does.
/// Anything but an object is refused: serde would read `[]` as a struct of defaults,
/// which for a bulk change means "every message".
pub(crate) fn json_body<T: DeserializeOwned + Default>(body: &Bytes) -> ApiResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let bad = |e: serde_json::Error| ApiError::BadRequest(format!("invalid JSON: {e}"));
    match serde_json::from_slice::<serde_json::Value>(body).map_err(bad)? {
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).map_err(bad),
        _ => Err(ApiError::BadRequest(
            "invalid JSON: the body must be an object".into(),
        )),
    }
}

/// Parses IDs given in a request; one malformed ID refuses the request.
pub(crate) fn parse_ids(ids: &[String]) -> ApiResult<Vec<MessageId>> {
    ids.iter()
        .map(|s| {
            MessageId::decode(s).ok_or_else(|| ApiError::BadRequest(format!("invalid ID {s:?}")))
        })
        .collect()
}

/// The message an `{ID}` names (or `latest`: the newest in the scope), opened.
/// Blocking.
pub(crate) fn resolve(state: &WebState, id: &str, q: &ScopeQuery) -> ApiResult<(Opened, u32)> {
    if id == "latest" {
        let opened = scope::open(state.store(), q)?;
        let newest = scope::entries(&opened)
            .into_iter()
            .next()
            .ok_or_else(|| ApiError::NotFound("no messages".into()))?;
        let uid = newest.meta.uid;
        let o = opened
            .into_iter()
            .nth(newest.at)
            .ok_or_else(|| ApiError::NotFound("no messages".into()))?;
        return Ok((o, uid));
    }
    let id =
        MessageId::decode(id).ok_or_else(|| ApiError::BadRequest(format!("invalid ID {id:?}")))?;
    let opened = scope::open_id(state.store(), &id)?;
    Ok((opened, id.uid))
}

/// Groups IDs by mailbox: the mailbox opened, and the UIDs in it that still exist
/// under the same UIDVALIDITY (others name nothing and are skipped). Blocking.
pub(crate) fn by_mailbox(state: &WebState, ids: Vec<MessageId>) -> Vec<(Opened, Vec<u32>)> {
    let mut groups: Vec<(Opened, Vec<u32>)> = Vec::new();
    for id in ids {
        if let Some((_, uids)) = groups.iter_mut().find(|(o, _)| {
            o.account == id.account
                && o.name == id.mailbox
                && o.view.status().uid_validity == id.uid_validity
        }) {
            uids.push(id.uid);
            continue;
        }
        if let Ok(o) = scope::open_id(state.store(), &id) {
            groups.push((o, vec![id.uid]));
        }
    }
    groups
}

/// Mailpit's plain `ok`.
pub(crate) fn ok() -> Response {
    use axum::response::IntoResponse;
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "ok").into_response()
}
