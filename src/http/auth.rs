//! API keys on the REST API under `/v1`: `Authorization: Bearer <key>`, checked against the
//! [`KeySet`] by a layer on the REST router (the Firehose endpoint has its own access key and its own
//! answer format, and is not behind this layer). Unknown paths under `/v1` are behind it too, so they
//! are refused before they reveal whether they exist.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use crate::keys::KeySet;

/// Middleware: the request needs a valid key unless authentication is disabled.
pub async fn require_api_key(State(keys): State<KeySet>, request: Request, next: Next) -> Response {
    if keys.is_disabled() {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    match presented {
        Some(key) if !key.is_empty() && keys.accepts(key) => next.run(request).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}
