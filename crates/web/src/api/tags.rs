//! `GET/PUT /api/v1/tags`, `PUT/DELETE /api/v1/tags/{Tag}`: tags are IMAP keywords.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;
use yubin_store::{Flag, FlagOp, Flags};

use super::{blocking, by_mailbox, json_body, ok, parse_ids};
use crate::error::{ApiError, ApiResult};
use crate::scope::{self, ScopeQuery};
use crate::state::WebState;
use crate::tag;

/// `GET /api/v1/tags`: every tag in scope, sorted.
pub(crate) async fn list(
    State(state): State<WebState>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Json<Vec<String>>> {
    let tags = blocking(move || Ok(scope::tags(&scope::open(state.store(), &q)?))).await?;
    Ok(Json(tags))
}

/// Unknown fields are refused, as for the other bulk changes (see `messages.rs`).
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SetBody {
    #[serde(rename = "IDs", alias = "ids", alias = "Ids")]
    ids: Vec<String>,
    #[serde(rename = "Tags", alias = "tags")]
    tags: Vec<String>,
}

fn keywords(tags: &[String]) -> ApiResult<Flags> {
    tags.iter()
        .map(|t| {
            tag::keyword(t)
                .map(Flag::Keyword)
                .ok_or_else(|| ApiError::BadRequest(format!("invalid tag {t:?}")))
        })
        .collect()
}

/// `PUT /api/v1/tags`: the messages' tags become exactly the ones given.
pub(crate) async fn set(State(state): State<WebState>, body: Bytes) -> ApiResult<Response> {
    let body: SetBody = json_body(&body)?;
    let wanted = keywords(&body.tags)?;
    let ids = parse_ids(&body.ids)?;
    blocking(move || {
        for (o, uids) in by_mailbox(&state, ids) {
            // Keywords these messages have that are not wanted: removed, then the wanted
            // ones added; system flags (\Seen ...) stay as they are.
            let stale: Flags = uids
                .iter()
                .filter_map(|u| o.view.flags(*u))
                .flat_map(|f| f.iter().filter(|f| matches!(f, Flag::Keyword(_))).cloned())
                .filter(|f| !wanted.contains(f))
                .collect::<BTreeSet<_>>();
            if !stale.is_empty() {
                o.mailbox.set_flags(&uids, FlagOp::Remove, &stale)?;
            }
            if !wanted.is_empty() {
                o.mailbox.set_flags(&uids, FlagOp::Add, &wanted)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(ok())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RenameBody {
    #[serde(rename = "Name", alias = "name")]
    name: String,
}

/// Replaces (or with `to` empty, removes) a tag on every message in scope. Blocking.
fn retag(state: &WebState, q: &ScopeQuery, from: &str, to: Option<Flag>) -> ApiResult<()> {
    let old = Flag::Keyword(
        tag::keyword(from).ok_or_else(|| ApiError::BadRequest(format!("invalid tag {from:?}")))?,
    );
    for o in scope::open(state.store(), q)? {
        let uids: Vec<u32> = o
            .view
            .iter()
            .filter(|m| m.flags.contains(&old))
            .map(|m| m.uid)
            .collect();
        if uids.is_empty() {
            continue;
        }
        if let Some(new) = &to {
            o.mailbox
                .set_flags(&uids, FlagOp::Add, &Flags::from([new.clone()]))?;
        }
        if to.as_ref() != Some(&old) {
            o.mailbox
                .set_flags(&uids, FlagOp::Remove, &Flags::from([old.clone()]))?;
        }
    }
    Ok(())
}

/// `PUT /api/v1/tags/{Tag}`: renames a tag.
pub(crate) async fn rename(
    State(state): State<WebState>,
    Path(from): Path<String>,
    Query(q): Query<ScopeQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: RenameBody = json_body(&body)?;
    let to = Flag::Keyword(
        tag::keyword(&body.name)
            .ok_or_else(|| ApiError::BadRequest(format!("invalid tag name {:?}", body.name)))?,
    );
    blocking(move || retag(&state, &q, &from, Some(to))).await?;
    Ok(ok())
}

/// `DELETE /api/v1/tags/{Tag}`: removes a tag from every message.
pub(crate) async fn delete(
    State(state): State<WebState>,
    Path(from): Path<String>,
    Query(q): Query<ScopeQuery>,
) -> ApiResult<Response> {
    blocking(move || retag(&state, &q, &from, None)).await?;
    Ok(ok())
}
