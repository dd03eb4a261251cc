//! The web inbox: one page, its script and its style, built into the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page may load its own script, style and frames (the message views), and images
/// from itself or `data:`; no inline script, nothing from elsewhere, and no one may
/// frame it.
pub const PAGE_CSP: &str = "default-src 'self'; frame-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`.
pub(crate) async fn index() -> Response {
    asset(
        "text/html; charset=utf-8",
        include_str!("../../assets/index.html"),
    )
}

/// `GET /assets/app.js`.
pub(crate) async fn app_js() -> Response {
    asset(
        "text/javascript; charset=utf-8",
        include_str!("../../assets/app.js"),
    )
}

/// `GET /assets/style.css`.
pub(crate) async fn style_css() -> Response {
    asset(
        "text/css; charset=utf-8",
        include_str!("../../assets/style.css"),
    )
}
