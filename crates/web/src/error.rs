//! API errors: Mailpit answers errors as JSON `{"Error": "..."}` with a status code.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use yubin_store::StoreError;

/// An error answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request was malformed; nothing changed.
    #[error("{0}")]
    BadRequest(String),
    /// 404: no such message, account or mailbox.
    #[error("{0}")]
    NotFound(String),
    /// 501: a feature this server does not offer.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: the store failed.
    #[error("{0}")]
    Store(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchAccount(_)
            | StoreError::NoSuchMailbox(_)
            | StoreError::NoSuchMessage(_) => ApiError::NotFound(e.to_string()),
            // A refused recipient or a bad name is the client's to fix.
            StoreError::InvalidName { .. }
            | StoreError::NameTooLong { .. }
            | StoreError::Limit { .. } => ApiError::BadRequest(e.to_string()),
            e => ApiError::Store(e.to_string()),
        }
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::Store(format!("internal: {e}"))
    }
}

#[derive(serde::Serialize)]
struct Body {
    #[serde(rename = "Error")]
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        (
            status,
            Json(Body {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;
