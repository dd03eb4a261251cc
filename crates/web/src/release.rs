//! `POST /api/v1/message/{ID}/release` (Mailpit's): sends a stored message on to real
//! recipients through an SMTP server configured at start ([`Relay`], `--relay`).
//!
//! The body is `{"To": ["user@example.com", ...]}`. The message goes out as stored, less
//! the header fields that must not travel: `Bcc` (RFC 5322 §3.6.3: its addresses are
//! not shown to the other recipients) and `Return-Path` (RFC 5321 §4.4: added at final
//! delivery, never sent on). The envelope sender is the message's `Sender`, else its
//! `From`, as Mailpit does.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use lettre::address::Envelope;
use lettre::message::Mailbox;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use crate::api::{blocking, json_body, ok, resolve};
use crate::error::{ApiError, ApiResult};
use crate::scope::ScopeQuery;
use crate::state::WebState;

/// How long one release may take with the relay (connect, dialogue, data) before it is
/// given up: long enough for a slow server, short enough that a request does not hang.
pub const DEFAULT_RELAY_TIMEOUT: Duration = Duration::from_secs(30);

/// Recipients one release may name (RFC 5321 §4.5.3.1.8: a server takes at least 100
/// per transaction).
pub const DEFAULT_MAX_RECIPIENTS: usize = 100;

/// The release route.
pub(crate) fn routes(state: WebState) -> Router {
    Router::new()
        .route("/api/v1/message/{id}/release", post(release))
        .with_state(state)
}

/// The SMTP server messages are released through: a URL as lettre reads it,
/// `smtp://host:port` (plain), `smtp://host:port?tls=required` (STARTTLS),
/// `smtps://user:password@host:465` (implicit TLS, with login).
#[derive(Clone)]
pub struct Relay {
    url: String,
    /// The URL without its credentials, for the page and the logs.
    shown: String,
    /// See [`DEFAULT_RELAY_TIMEOUT`].
    pub timeout: Duration,
    /// See [`DEFAULT_MAX_RECIPIENTS`].
    pub max_recipients: usize,
}

impl fmt::Display for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for Relay {
    /// Never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Relay").field("url", &self.shown).finish()
    }
}

/// A `--relay` that is not an SMTP URL.
#[derive(Debug, thiserror::Error)]
#[error(
    "not an SMTP server URL: {0} (expected smtp://host:port, smtp://host:port?tls=required \
     or smtps://user:password@host:465)"
)]
pub struct BadRelay(String);

impl FromStr for Relay {
    type Err = BadRelay;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let shown = without_credentials(url);
        let (scheme, _) = url
            .split_once("://")
            .ok_or_else(|| BadRelay(shown.clone()))?;
        if !matches!(scheme, "smtp" | "smtps") {
            return Err(BadRelay(shown));
        }
        AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| BadRelay(format!("{shown}: {e}")))?;
        Ok(Relay {
            url: url.to_owned(),
            shown,
            timeout: DEFAULT_RELAY_TIMEOUT,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
        })
    }
}

/// `smtps://user:pw@host:465` shown as `smtps://host:465`.
fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Mailpit's release body.
#[derive(Debug, Default, Deserialize)]
struct ReleaseRequest {
    #[serde(rename = "To", alias = "to", default)]
    to: Vec<String>,
}

async fn release(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let Some(relay) = state.config().relay.clone() else {
        return Err(ApiError::BadRequest(
            "message relay is not configured: start yubin with --relay smtp://host:port".into(),
        ));
    };
    let asked: ReleaseRequest = json_body(&body)?;
    let to = recipients(&asked.to, relay.max_recipients)?;
    let (from, message) = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q)?;
        let raw = o.mailbox.read(uid)?;
        let from = envelope_sender(&raw).ok_or_else(|| {
            ApiError::BadRequest("the message has no Sender or From address to send it from".into())
        })?;
        Ok((from, without_fields(&raw, &["bcc", "return-path"])))
    })
    .await?;
    let envelope = Envelope::new(Some(from), to)
        .map_err(|e| ApiError::BadRequest(format!("cannot relay: {e}")))?;
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&relay.url)
        .map_err(|e| ApiError::BadRequest(format!("relay {relay}: {e}")))?
        .timeout(Some(relay.timeout))
        .build();
    match transport.send_raw(&envelope, &message).await {
        Ok(_) => Ok(ok()),
        Err(e) => {
            tracing::warn!(%relay, error = %e, "release failed");
            // The relay, not this server, failed: 502 (RFC 9110 §15.6.3).
            Ok((
                StatusCode::BAD_GATEWAY,
                axum::Json(serde_json::json!({ "Error": format!("relay {relay}: {e}") })),
            )
                .into_response())
        }
    }
}

/// The addresses of `To` (`user@example.com` or `Name <user@example.com>`); one that does
/// not parse refuses the request.
fn recipients(to: &[String], max: usize) -> ApiResult<Vec<Address>> {
    if to.is_empty() {
        return Err(ApiError::BadRequest(
            "no recipients: give {\"To\": [\"user@example.com\"]}".into(),
        ));
    }
    if to.len() > max {
        return Err(ApiError::BadRequest(format!(
            "{} recipients; at most {max} per release",
            to.len()
        )));
    }
    to.iter()
        .map(|t| {
            t.parse::<Mailbox>()
                .map(|m| m.email)
                .map_err(|_| ApiError::BadRequest(format!("invalid email address: {t:?}")))
        })
        .collect()
}

/// The envelope sender: the `Sender` address, else the first `From` address.
fn envelope_sender(raw: &[u8]) -> Option<Address> {
    let message = mail_parser::MessageParser::new().parse_headers(raw)?;
    let first = |value: &mail_parser::HeaderValue<'_>| {
        value
            .as_address()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .and_then(|a| a.parse::<Address>().ok())
    };
    message
        .header("Sender")
        .and_then(first)
        .or_else(|| message.header("From").and_then(first))
}

/// `raw` without the header fields named (lower case), each with its folded lines (RFC
/// 5322 §2.2.3); everything else byte for byte.
fn without_fields(raw: &[u8], names: &[&str]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    let mut dropping = false;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (line, after) = rest.split_at(end);
        if line == b"\r\n" || line == b"\n" {
            // The end of the header section: the body follows untouched.
            out.extend_from_slice(rest);
            return out;
        }
        let continuation = matches!(line.first(), Some(b' ' | b'\t'));
        if !continuation {
            let name = line.split(|&b| b == b':').next().unwrap_or(b"");
            dropping = names
                .iter()
                .any(|n| name.trim_ascii().eq_ignore_ascii_case(n.as_bytes()));
        }
        if !dropping {
            out.extend_from_slice(line);
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bcc_and_return_path_are_removed_with_their_folded_lines() {
        let raw = b"Return-Path: <bob@example.com>\r\nFrom: bob@example.com\r\nBcc: secret@example.com,\r\n  other@example.com\r\nTo: alice@example.com\r\n\r\nBcc: in the body stays\r\n";
        let out = without_fields(raw, &["bcc", "return-path"]);
        assert_eq!(
            out,
            b"From: bob@example.com\r\nTo: alice@example.com\r\n\r\nBcc: in the body stays\r\n"
        );
    }

    #[test]
    fn the_shown_relay_url_has_no_password() {
        let relay: Relay = "smtps://user:pw@mail.example.com:465".parse().unwrap();
        assert_eq!(relay.to_string(), "smtps://mail.example.com:465");
        assert!(!format!("{relay:?}").contains("pw"));
        assert!("http://example.com".parse::<Relay>().is_err());
        assert!("mail.example.com".parse::<Relay>().is_err());
    }

    #[test]
    fn the_sender_comes_from_sender_then_from() {
        let both = b"From: Bob <bob@example.com>\r\nSender: list@example.com\r\n\r\nx";
        assert_eq!(
            envelope_sender(both).unwrap().to_string(),
            "list@example.com"
        );
        let from = b"From: Bob <bob@example.com>\r\n\r\nx";
        assert_eq!(
            envelope_sender(from).unwrap().to_string(),
            "bob@example.com"
        );
        assert!(envelope_sender(b"Subject: none\r\n\r\nx").is_none());
    }
}
