//! `GET /api/v1/message/{ID}` and its `headers`, `raw`, `part/{PartID}`, and the checks
//! yubin does not offer.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde_json::{Map, Value};
use yubin_store::{Flag, FlagOp, Flags};

use super::{blocking, resolve};
use crate::decode::Parsed;
use crate::error::{ApiError, ApiResult};
use crate::scope::ScopeQuery;
use crate::shape::Message;
use crate::state::WebState;
use crate::tag;

/// A part served on its own is sandboxed: an HTML attachment opened from here runs no
/// script and loads nothing (it would otherwise run with this origin's rights).
pub(crate) const PART_CSP: &str =
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// `GET /api/v1/message/{ID}`: decoded; marks it read, as Mailpit does.
pub(crate) async fn get(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Message>> {
    let message = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q)?;
        let meta = o
            .view
            .get(uid)
            .ok_or_else(|| ApiError::NotFound("message not found".into()))?;
        // Mailpit marks a message read when the API hands it out; tests written for
        // Mailpit count on that. It is \Seen, so IMAP sessions see it too.
        let read = meta.flags.contains(&Flag::Seen)
            || o.mailbox
                .set_flags(&[uid], FlagOp::Add, &Flags::from([Flag::Seen]))?
                .iter()
                .any(|(_, f)| f.contains(&Flag::Seen));
        let raw = o.mailbox.read(uid)?;
        let parsed = Parsed::new(&raw);
        let content = parsed.content();
        let (inline, attachments) = parsed.attachments();
        Ok(Message {
            id: o.id(uid).encode(),
            message_id: content.message_id,
            read,
            from: content.from,
            to: content.to,
            cc: content.cc,
            bcc: content.bcc,
            reply_to: content.reply_to,
            return_path: parsed.return_path(),
            subject: content.subject,
            list_unsubscribe: parsed.list_unsubscribe(),
            date: parsed.date().unwrap_or_else(|| {
                meta.internal_date
                    .to_rfc3339_opts(SecondsFormat::Secs, true)
            }),
            tags: tag::tags_of(&meta.flags),
            username: String::new(),
            text: parsed.text(),
            html: parsed.html(),
            size: meta.size,
            inline,
            attachments,
            account: o.account.clone(),
            mailbox: o.name.clone(),
        })
    })
    .await?;
    Ok(Json(message))
}

/// `GET /api/v1/message/{ID}/headers`: `{"Name": ["value", ...]}`, unfolded, not decoded.
/// Names are written as Mailpit (Go's `textproto`) writes them, `Message-Id`,
/// `Mime-Version`, `X-Custom`, and fields whose names differ only in case are one entry,
/// so a Mailpit client that reads `headers["Message-Id"]` finds it.
pub(crate) async fn headers(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Map<String, Value>>> {
    let map = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q)?;
        let header = o.mailbox.header(uid)?;
        let mut map = Map::new();
        for (name, value) in Parsed::new(&header).headers() {
            if let Value::Array(values) = map
                .entry(canonical_key(&name))
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                values.push(Value::String(value));
            }
        }
        Ok(map)
    })
    .await?;
    Ok(Json(map))
}

/// `GET /api/v1/message/{ID}/raw`: the message as stored.
pub(crate) async fn raw(
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Response> {
    let bytes = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q)?;
        Ok(o.mailbox.read(uid)?)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response())
}

/// `GET /api/v1/message/{ID}/part/{PartID}`: one part, decoded.
pub(crate) async fn part(
    State(state): State<WebState>,
    Path((id, part)): Path<(String, String)>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Response> {
    let (ctype, name, bytes) = blocking(move || {
        let (o, uid) = resolve(&state, &id, &q)?;
        let raw = o.mailbox.read(uid)?;
        Parsed::new(&raw)
            .part(&part)
            .ok_or_else(|| ApiError::NotFound(format!("no part {part:?} in this message")))
    })
    .await?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ctype)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PART_CSP),
    );
    if let Some(name) = name {
        // RFC 6266 §4.3: filename* carries any character; the quoted form an ASCII copy.
        let ascii: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        if let Ok(v) = HeaderValue::from_str(&format!(
            "inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
        )) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(response)
}

/// `GET /api/v1/message/{ID}/part/{PartID}/thumb`.
pub(crate) async fn thumb() -> ApiError {
    ApiError::NotImplemented(
        "thumbnails are not made by yubin (no image decoder): use part/{PartID} for the image itself".into(),
    )
}

/// `GET /api/v1/message/{ID}/html-check`.
pub(crate) async fn html_check() -> ApiError {
    ApiError::NotImplemented(
        "html-check is not available in yubin: it needs the caniemail.com data, which yubin does not download".into(),
    )
}

/// `GET /api/v1/message/{ID}/link-check`.
pub(crate) async fn link_check() -> ApiError {
    ApiError::NotImplemented(
        "link-check is not available in yubin: it would fetch every link over the network".into(),
    )
}

/// `GET /api/v1/message/{ID}/sa-check`.
pub(crate) async fn sa_check() -> ApiError {
    ApiError::NotImplemented(
        "sa-check is not available in yubin: it needs a SpamAssassin server".into(),
    )
}

/// A header name as Go's `textproto.CanonicalMIMEHeaderKey` writes it: the first letter
/// and each letter after a hyphen upper case, the rest lower case; a name with a
/// character outside letters, digits and hyphen is left as it is, as Go leaves it.
fn canonical_key(name: &str) -> String {
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return name.to_owned();
    }
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_names_are_written_as_go_writes_them() {
        for (name, want) in [
            ("Message-ID", "Message-Id"),
            ("MIME-Version", "Mime-Version"),
            ("x-custom", "X-Custom"),
            ("DKIM-Signature", "Dkim-Signature"),
            ("X_Odd", "X_Odd"),
        ] {
            assert_eq!(super::canonical_key(name), want);
        }
    }
}
