//! A JSON body whose every failure is a problem document that says what and where:
//! not JSON (with line and column), a wrong field (with its path), too large (413).

use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use crate::app::App;
use crate::ServerError;

/// A JSON body of type `T`.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<App> for Body<T> {
    type Rejection = ServerError;

    async fn from_request(request: Request, app: &App) -> Result<Body<T>, ServerError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                let essence = v.split(';').next().unwrap_or("").trim();
                essence.eq_ignore_ascii_case("application/json")
            });
        if !json {
            return Err(ServerError::BadInput(
                "the body must be JSON, sent with `Content-Type: application/json`".to_owned(),
            ));
        }
        let too_large = || {
            ServerError::TooLarge(format!(
                "the body is larger than the {} bytes this call accepts",
                crate::JSON_LIMIT
            ))
        };
        // Refused from its announced length, before any of it is read.
        let announced = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if announced.is_some_and(|n| n > crate::JSON_LIMIT as u64) {
            return Err(too_large());
        }
        let bytes = axum::body::Bytes::from_request(request, app)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ServerError::BadInput(format!("the body could not be read: {rejection}"))
                }
            })?;
        let deserializer = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(deserializer)
            .map(Body)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    ServerError::BadInput(format!("the body: {inner}"))
                } else {
                    ServerError::BadInput(format!("the body at `{path}`: {inner}"))
                }
            })
    }
}
