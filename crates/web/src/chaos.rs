//! `GET/PUT /api/v1/chaos`: Mailpit's SMTP fault injection, on the SMTP server's own
//! settings ([`mini_smtp::Chaos`], shared through [`crate::WebConfig::chaos`]).
//!
//! Both answer 400 unless the server was started with chaos allowed (`yubin serve
//! --enable-chaos`), as Mailpit's do. A `PUT` replaces all three triggers: one left out
//! is reset to its default code with probability 0, so `{}` turns every fault off.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use mini_smtp::chaos::{
    DEFAULT_AUTHENTICATION_CODE, DEFAULT_RECIPIENT_CODE, DEFAULT_SENDER_CODE, Trigger, Triggers,
};
use serde::{Deserialize, Serialize};

use crate::api::json_body;
use crate::error::{ApiError, ApiResult};
use crate::state::WebState;

/// The chaos routes.
pub(crate) fn routes(state: WebState) -> Router {
    Router::new()
        .route("/api/v1/chaos", get(read).put(write))
        .with_state(state)
}

/// One trigger as Mailpit writes it. Go reads JSON names without regard to case, so
/// Mailpit's clients may send the lower-case and camelCase spellings too.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TriggerJson {
    /// 400–599; 0 (or absent) means the default code.
    #[serde(alias = "errorCode", alias = "errorcode")]
    error_code: i64,
    /// 0–100.
    #[serde(alias = "probability")]
    probability: i64,
}

/// Mailpit's `ChaosTriggers`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct TriggersJson {
    #[serde(alias = "sender")]
    sender: TriggerJson,
    #[serde(alias = "recipient")]
    recipient: TriggerJson,
    #[serde(alias = "authentication")]
    authentication: TriggerJson,
}

impl From<Triggers> for TriggersJson {
    fn from(t: Triggers) -> Self {
        let one = |t: Trigger| TriggerJson {
            error_code: t.error_code.into(),
            probability: t.probability.into(),
        };
        TriggersJson {
            sender: one(t.sender),
            recipient: one(t.recipient),
            authentication: one(t.authentication),
        }
    }
}

impl TriggersJson {
    /// The triggers these numbers ask for; a number out of range is refused with the
    /// field it is in.
    fn parse(self) -> ApiResult<Triggers> {
        let one = |name: &str, t: TriggerJson, default: u16| -> ApiResult<Trigger> {
            let code = if t.error_code == 0 {
                default
            } else {
                u16::try_from(t.error_code)
                    .ok()
                    .filter(|c| (400..=599).contains(c))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{name}.ErrorCode {}: an SMTP error code must be 400 to 599",
                            t.error_code
                        ))
                    })?
            };
            let probability = u8::try_from(t.probability)
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "{name}.Probability {}: must be 0 to 100 (percent)",
                        t.probability
                    ))
                })?;
            Ok(Trigger {
                error_code: code,
                probability,
            })
        };
        Ok(Triggers {
            sender: one("Sender", self.sender, DEFAULT_SENDER_CODE)?,
            recipient: one("Recipient", self.recipient, DEFAULT_RECIPIENT_CODE)?,
            authentication: one(
                "Authentication",
                self.authentication,
                DEFAULT_AUTHENTICATION_CODE,
            )?,
        })
    }
}

fn not_enabled() -> ApiError {
    ApiError::BadRequest(mini_smtp::chaos::ChaosError::NotEnabled.to_string())
}

async fn read(State(state): State<WebState>) -> ApiResult<Json<TriggersJson>> {
    let chaos = &state.config().chaos;
    if !chaos.is_allowed() {
        return Err(not_enabled());
    }
    Ok(Json(chaos.triggers().into()))
}

async fn write(State(state): State<WebState>, body: Bytes) -> ApiResult<Json<TriggersJson>> {
    let chaos = &state.config().chaos;
    if !chaos.is_allowed() {
        return Err(not_enabled());
    }
    // An empty body is `{}`: every trigger back to its default, off.
    let asked: TriggersJson = json_body(&body)?;
    let triggers = asked.parse()?;
    chaos
        .set(triggers)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(Json(chaos.triggers().into()))
}
