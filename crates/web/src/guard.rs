//! Who may use the HTTP server, and from which page: one middleware in front of every
//! route.
//!
//! The web inbox changes mail (deletes, marks read, sends, relays), so it must not be
//! usable by some other web site the user happens to have open:
//! - A request that may change something (anything but GET, HEAD, OPTIONS) with an
//!   `Origin` header must come from this server's own origin (RFC 6454 §7.3; browsers
//!   send `Origin` on every cross-origin request that is not a GET) — else 403.
//! - Such a request with a body must say `Content-Type: application/json`. A cross-site
//!   form can only send `text/plain`, form data or multipart without asking the server
//!   first (a CORS preflight, which this server never grants) — else 415.
//! - On loopback, the `Host` must be `localhost` or an IP address: a name an attacker
//!   controls, pointed at 127.0.0.1 by DNS ("DNS rebinding"), would otherwise be a
//!   same-origin page that can read mail — else 403.
//! - With [`BasicAuth`] (RFC 7617) every request must carry the credentials — else 401.

use std::str::FromStr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use yubin_core::Secret;

/// What the guard requires.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Credentials every request must carry; `None`: no login (loopback, or
    /// `--http-insecure`).
    pub auth: Option<BasicAuth>,
    /// Refuse `Host` names other than `localhost`, IP addresses and [`Self::host_names`]
    /// (DNS rebinding protection: a page whose own name was rebound to this server's
    /// address is not served). On by default; the CLI turns it off only where a password
    /// is asked (`--http-auth`), which a browser never sends to another site's page.
    pub local_hosts_only: bool,
    /// Further host names to serve under `local_hosts_only` (lower case, no port): the
    /// machine's own name, when serving beyond loopback.
    pub host_names: Vec<String>,
}

impl Default for GuardConfig {
    fn default() -> Self {
        GuardConfig {
            auth: None,
            local_hosts_only: true,
            host_names: Vec::new(),
        }
    }
}

/// A user name and password for HTTP basic authentication (`--http-auth user:password`).
#[derive(Debug, Clone)]
pub struct BasicAuth {
    user: String,
    password: Secret,
}

impl BasicAuth {
    /// Credentials `user` / `password`.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        BasicAuth {
            user: user.into(),
            password: Secret::new(password),
        }
    }

    /// The user name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Whether an `Authorization` header value carries these credentials.
    fn admits(&self, header: Option<&HeaderValue>) -> bool {
        let Some(value) = header.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        // RFC 7617 §2: `Basic base64(user-id ":" password)`; the scheme is
        // case-insensitive (RFC 7235 §2.1).
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let expected = format!("{}:{}", self.user, self.password.expose());
        same_bytes(&decoded, expected.as_bytes())
    }
}

/// Equal, comparing every byte whatever the first difference, so the time taken does not
/// say how much of a guess was right.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `--http-auth` is `user:password`, both non-empty.
#[derive(Debug, thiserror::Error)]
#[error("expected user:password (both non-empty), as in --http-auth admin:s3cret")]
pub struct BadCredentials;

impl FromStr for BasicAuth {
    type Err = BadCredentials;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // RFC 7617 §2: the user-id cannot contain a colon; the password may.
        match s.split_once(':') {
            Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                Ok(BasicAuth::new(user, password))
            }
            _ => Err(BadCredentials),
        }
    }
}

/// `router` behind the guard.
pub fn apply<S>(router: Router<S>, guard: GuardConfig) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(middleware::from_fn_with_state(Arc::new(guard), check))
}

async fn check(State(guard): State<Arc<GuardConfig>>, request: Request, next: Next) -> Response {
    match refusal(&guard, request.method(), request.headers()) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "Error": why }))).into_response()
}

/// Why a request is refused, if it is.
fn refusal(guard: &GuardConfig, method: &Method, headers: &HeaderMap) -> Option<Response> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    if guard.local_hosts_only
        && let Some(host) = host
        && !is_local_host(host)
        && !guard
            .host_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(host_name(host)))
    {
        return Some(refuse(
            StatusCode::FORBIDDEN,
            &format!(
                "host name {host:?} refused: without a password only localhost, IP \
                 addresses and this machine's name are served (a protection against DNS \
                 rebinding); open http://127.0.0.1 with the port, or serve with --http-auth"
            ),
        ));
    }
    if let Some(auth) = &guard.auth
        && !auth.admits(headers.get(header::AUTHORIZATION))
    {
        let mut refused = refuse(
            StatusCode::UNAUTHORIZED,
            "this server needs a user name and password (--http-auth)",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"yubin\", charset=\"UTF-8\""),
        );
        return Some(refused);
    }
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let own = host.map(|h| format!("http://{h}"));
        let same = match (origin.to_str(), own) {
            (Ok(origin), Some(own)) => origin.eq_ignore_ascii_case(&own),
            _ => false,
        };
        if !same {
            return Some(refuse(
                StatusCode::FORBIDDEN,
                &format!(
                    "cross-origin request refused: {} may not change mail on this server",
                    origin.to_str().unwrap_or("that origin")
                ),
            ));
        }
    }
    // A browser says where a request comes from (`Origin`, `Sec-Fetch-Site`); only a
    // browser's request can be made by another site, so only it must prove it is not a
    // form post by being JSON. Mailpit's API clients and `curl -d` send no such header
    // and may send JSON under any Content-Type, as Mailpit accepts it.
    let from_browser =
        headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site");
    if from_browser && has_body(headers) && !is_json(headers.get(header::CONTENT_TYPE)) {
        return Some(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON, sent as Content-Type: application/json (with \
             curl: -H 'Content-Type: application/json')",
        ));
    }
    None
}

/// A `Host` header's name, without its port.
fn host_name(host: &str) -> &str {
    host.rsplit_once(':').map_or(host, |(name, _port)| name)
}

/// `localhost` (and RFC 6761 §6.3's `*.localhost`) or an IP address, with any port.
fn is_local_host(host: &str) -> bool {
    if let Some(bracketed) = host.strip_prefix('[') {
        // An IPv6 literal: `[::1]:2080`.
        let literal = bracketed.split(']').next().unwrap_or("");
        return literal.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _port)| name);
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

/// Whether the request carries a body (RFC 9112 §6.3: a length, or chunked).
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > 0)
}

/// `application/json`, with any parameters (`; charset=utf-8`).
fn is_json(value: Option<&HeaderValue>) -> bool {
    value
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim())
        .is_some_and(|essence| essence.eq_ignore_ascii_case("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_are_localhost_and_ip_literals() {
        for ok in [
            "localhost",
            "LOCALHOST:2080",
            "app.localhost:80",
            "127.0.0.1:2080",
            "10.0.0.5",
            "[::1]:2080",
            "[::1]",
        ] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:2080",
            "localhost.evil.example",
            "127.0.0.1.nip.io:2080",
            "[evil]:80",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }

    #[test]
    fn credentials_parse_as_user_colon_password() {
        let auth: BasicAuth = "admin:pa:ss".parse().unwrap();
        assert_eq!(auth.user(), "admin");
        let header = HeaderValue::from_str(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:pa:ss")
        ))
        .unwrap();
        assert!(auth.admits(Some(&header)));
        let wrong = HeaderValue::from_str(&format!(
            "basic {}",
            base64::engine::general_purpose::STANDARD.encode("admin:pa:sS")
        ))
        .unwrap();
        assert!(!auth.admits(Some(&wrong)));
        assert!(!auth.admits(None));
        assert!("admin".parse::<BasicAuth>().is_err());
        assert!(":x".parse::<BasicAuth>().is_err());
        assert!("x:".parse::<BasicAuth>().is_err());
    }
}
