//! Why a call failed, as `application/problem+json` (RFC 9457): a status, a title for
//! the class of failure, and the detail — for a refusal, the same sentence the command
//! line prints.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_governance::Error as GovError;
use serde_json::json;

/// Why a call did not do what it asked. In every case nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No valid credential came with the call.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but may not do this (outside governance's permissions:
    /// a missing CSRF token, an agent calling an administrator's endpoint).
    #[error("{0}")]
    Forbidden(String),
    /// The call itself is malformed; the message says what and where.
    #[error("{0}")]
    BadInput(String),
    /// The body is larger than this endpoint accepts.
    #[error("{0}")]
    TooLarge(String),
    /// Nothing by that name.
    #[error("{0}")]
    NotFound(String),
    /// The call clashes with what exists.
    #[error("{0}")]
    Conflict(String),
    /// Too many failed attempts; try again after `retry_after` seconds.
    #[error("too many failed sign-ins; try again in {retry_after} seconds")]
    TooMany {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Governance refused or failed.
    #[error(transparent)]
    Governance(#[from] GovError),
    /// The server's own storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// Anything else on the server's side.
    #[error("{0}")]
    Internal(String),
}

impl ServerError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            ServerError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ServerError::Forbidden(_) => StatusCode::FORBIDDEN,
            ServerError::BadInput(_) => StatusCode::BAD_REQUEST,
            ServerError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServerError::NotFound(_) => StatusCode::NOT_FOUND,
            ServerError::Conflict(_) => StatusCode::CONFLICT,
            ServerError::TooMany { .. } => StatusCode::TOO_MANY_REQUESTS,
            ServerError::Governance(e) => governance_status(e),
            ServerError::Storage(_) | ServerError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn governance_status(error: &GovError) -> StatusCode {
    StatusCode::from_u16(error.kind().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A problem document with `status` and `detail`.
pub fn problem(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = json!({
        "type": "about:blank",
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    response
}

impl IntoResponse for ServerError {
    fn into_response(self) -> Response {
        let status = self.status();
        // What the server's own side failed on goes to the log, not to the caller.
        let detail = if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "request failed");
            "the server failed; its log says why".to_owned()
        } else {
            self.to_string()
        };
        let mut response = problem(status, &detail);
        if let ServerError::TooMany { retry_after } = self {
            if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"portcullis\""),
            );
        }
        response
    }
}
