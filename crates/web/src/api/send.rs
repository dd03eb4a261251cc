//! `POST /api/v1/send`: Mailpit's send, delivered through the store's one delivery path.

use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use serde::Serialize;
use yubin_store::{Flag, FlagOp, Flags};

use super::{blocking, json_body};
use crate::compose::{SendRequest, compose};
use crate::error::{ApiError, ApiResult};
use crate::id::MessageId;
use crate::scope::INBOX;
use crate::state::WebState;
use crate::tag;

/// The answer: the ID of the copy in the first recipient's account.
#[derive(Debug, Serialize)]
pub(crate) struct Sent {
    #[serde(rename = "ID")]
    id: String,
}

/// `POST /api/v1/send`.
pub(crate) async fn send(State(state): State<WebState>, body: Bytes) -> ApiResult<Json<Sent>> {
    let req: SendRequest = json_body(&body)?;
    let mut keywords = Flags::new();
    for t in &req.tags {
        let k =
            tag::keyword(t).ok_or_else(|| ApiError::BadRequest(format!("invalid tag {t:?}")))?;
        keywords.insert(Flag::Keyword(k));
    }
    let composed = compose(&req, chrono::Utc::now(), state.config().max_recipients)?;
    let id = blocking(move || {
        let store = state.store();
        let recipients: Vec<&str> = composed.recipients.iter().map(String::as_str).collect();
        // The same call SMTP's DATA ends in (Store::incoming + deliver).
        let delivered = store.deliver(&recipients, &composed.raw)?;
        let mut first = None;
        for copy in &delivered.copies {
            let inbox = store.account(&copy.account)?.mailbox(INBOX)?;
            if !keywords.is_empty() {
                inbox.set_flags(&[copy.uid], FlagOp::Add, &keywords)?;
            }
            if first.is_none() {
                first = Some(MessageId {
                    account: copy.account.clone(),
                    mailbox: INBOX.to_owned(),
                    uid_validity: inbox.status()?.uid_validity,
                    uid: copy.uid,
                });
            }
        }
        first.ok_or_else(|| ApiError::BadRequest("no recipient is an account here".into()))
    })
    .await?;
    Ok(Json(Sent { id: id.encode() }))
}
