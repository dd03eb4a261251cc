//! `/view/{ID}.html` and `/view/{ID}.txt`: a message's bodies for the page's iframe.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{blocking, resolve};
use crate::decode::Parsed;
use crate::error::{ApiError, ApiResult};
use crate::scope::ScopeQuery;
use crate::state::WebState;

/// The HTML view loads nothing and runs nothing: styles inline, images from the
/// message itself (`cid:` parts, inlined as `data:`). CSP `sandbox` sandboxes it even
/// when opened outside the page's `<iframe sandbox>`.
pub const HTML_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: cid:; base-uri 'none'; form-action 'none'";

/// [`HTML_CSP`] with remote images allowed, when the user asked (`?remote=1`).
pub const HTML_CSP_REMOTE: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: cid: https: http:; base-uri 'none'; form-action 'none'";

/// The query of a view.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ViewQuery {
    remote: Option<String>,
    #[serde(flatten)]
    scope: ScopeQuery,
}

/// `GET /view/{ID}.html` or `GET /view/{ID}.txt`.
pub(crate) async fn view(
    State(state): State<WebState>,
    Path(file): Path<String>,
    Query(q): Query<ViewQuery>,
) -> ApiResult<Response> {
    let (id, html) = if let Some(id) = file.strip_suffix(".html") {
        (id.to_owned(), true)
    } else if let Some(id) = file.strip_suffix(".txt") {
        (id.to_owned(), false)
    } else {
        return Err(ApiError::NotFound(format!(
            "no view {file:?}: ask for ID.html or ID.txt"
        )));
    };
    let remote = matches!(q.remote.as_deref(), Some("1" | "true"));
    let max_inline = state.config().max_inline_images;
    let body = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q.scope)?;
        let raw = o.mailbox.read(uid)?;
        let parsed = Parsed::new(&raw);
        Ok(if html {
            parsed.html_for_view(max_inline)
        } else {
            parsed.text()
        })
    })
    .await?;
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if html {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(if remote { HTML_CSP_REMOTE } else { HTML_CSP }),
        );
    } else {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("sandbox; default-src 'none'"),
        );
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The browser's own DNS prefetching of the links a mail holds would tell the
    // sender's DNS the mail was opened; the CSP does not cover it.
    headers.insert(
        header::X_DNS_PREFETCH_CONTROL,
        HeaderValue::from_static("off"),
    );
    Ok(response)
}
