//! The one API error type at the edge, rendered as RFC 9457 `application/problem+json` with a stable
//! machine-readable `code`. A single table (`ApiError::parts`) maps each error to its status and code.
//! 5xx bodies say nothing internal; their cause chain is logged once, at ERROR. 4xx are logged at DEBUG.

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::alerts::AlertError;
use crate::delivery_errors::DeliveryError;
use crate::read::service::QueryError;
use crate::state::StateDbError;
use crate::store::StoreError;
use crate::tail::TailError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:firesight:problem:unauthorized",
    "title": "Unauthorized",
    "status": 401,
    "detail": "send an API key as `Authorization: Bearer <key>`",
    "code": "unauthorized"
}))]
pub struct Problem {
    /// URI naming the problem kind: `urn:firesight:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem kind.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong in this request.
    pub detail: String,
    /// Stable machine-readable code; clients branch on this.
    pub code: String,
    /// For validation problems: the failing parameter or field path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Request id (also in the `x-request-id` header), to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

// The error responses operations document, each written once. `responses(...)` lists the ones an
// operation can answer beside its success.

/// 400 `invalid_parameter`: a parameter or body field is invalid; `field` names it.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 400,
    description = "Invalid parameter or body field; `field` names it",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct BadRequestResponse(Problem);

/// 401 `unauthorized`.
#[derive(utoipa::IntoResponses)]
#[response(status = 401, description = "Missing or wrong API key", content_type = "application/problem+json")]
#[allow(dead_code)] // documentation only
pub struct UnauthorizedResponse(Problem);

/// 404 `not_found`.
#[derive(utoipa::IntoResponses)]
#[response(status = 404, description = "No such resource", content_type = "application/problem+json")]
#[allow(dead_code)] // documentation only
pub struct NotFoundResponse(Problem);

/// 403 `forbidden_target`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 403,
    description = "The webhook URL resolves to a private, loopback or link-local address, which \
`FIRESIGHT_ALERTS__ALLOW_PRIVATE_TARGETS` does not allow",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct ForbiddenTargetResponse(Problem);

/// 409 `conflict`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "The change does not fit the resource it changes (a threshold outside its rule kind's range); \
`field` names it",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct ConflictResponse(Problem);

/// 413 `payload_too_large`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 413,
    description = "Request body over `FIRESIGHT_HTTP__BODY_LIMIT_BYTES`",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct PayloadTooLargeResponse(Problem);

/// 429 `too_many_tails`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 429,
    description = "`FIRESIGHT_TAIL__MAX_CLIENTS` live tails are open on this process already; retry after \
`Retry-After` seconds",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct TooManyTailsResponse(Problem);

/// 503 `unavailable` or `timeout`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "A dependency (log store or state database) is unavailable, or the request \
took longer than `FIRESIGHT_HTTP__REQUEST_TIMEOUT_SECS`; retry later",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct UnavailableResponse(Problem);

/// 304: the client's copy is current.
#[derive(utoipa::IntoResponses)]
#[response(status = 304, description = "Unchanged since the `If-None-Match` ETag")]
pub struct NotModifiedResponse;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("send an API key as `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("no route for this path")]
    NotFound,
    /// A named resource that does not exist (`no webhook with id ...`).
    #[error("{0}")]
    Missing(String),
    #[error("this path does not accept that method")]
    MethodNotAllowed,
    #[error("{detail}")]
    Validation { field: String, detail: String },
    #[error("{detail}")]
    Conflict { field: String, detail: String },
    #[error("{detail}")]
    Forbidden { field: String, detail: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotSupported(String),
    #[error("the request body exceeds the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("the request did not finish in time")]
    Timeout,
    #[error("at most {limit} live tails may be open at once; close one or retry later")]
    TooManyTails { limit: u32 },
    #[error("a dependency is unavailable; retry later")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        ApiError::Validation { field: field.into(), detail: detail.into() }
    }

    /// The single table from error to HTTP status, stable code and title.
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized"),
            ApiError::NotFound | ApiError::Missing(_) => (StatusCode::NOT_FOUND, "not_found", "Not Found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "Method Not Allowed"),
            ApiError::Validation { .. } => (StatusCode::BAD_REQUEST, "invalid_parameter", "Invalid Parameter"),
            ApiError::Conflict { .. } => (StatusCode::CONFLICT, "conflict", "Conflict"),
            ApiError::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden_target", "Forbidden Target"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request", "Bad Request"),
            ApiError::NotSupported(_) => (StatusCode::NOT_IMPLEMENTED, "not_supported", "Not Supported"),
            ApiError::PayloadTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "Payload Too Large")
            }
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "timeout", "Request Timed Out"),
            ApiError::TooManyTails { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_tails", "Too Many Live Tails"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service Unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal Server Error"),
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (status, code, title) = self.parts();
        Problem {
            kind: format!("urn:firesight:problem:{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.to_string(),
            code: code.to_owned(),
            field: match self {
                ApiError::Validation { field, .. }
                | ApiError::Conflict { field, .. }
                | ApiError::Forbidden { field, .. } => Some(field.clone()),
                _ => None,
            },
            request_id: None,
        }
    }
}

// The one table from domain errors to API errors. Causes stay typed (`anyhow::Error::new`), so the
// log line of a 5xx shows the whole chain and nothing is flattened into a string.

impl From<crate::query::params::ParamError> for ApiError {
    fn from(e: crate::query::params::ParamError) -> Self {
        ApiError::Validation { field: e.param, detail: e.reason }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Arc::new(e).into()
    }
}

/// A store error, possibly shared by every request that waited for the same cached answer.
impl From<Arc<StoreError>> for ApiError {
    fn from(e: Arc<StoreError>) -> Self {
        match &*e {
            StoreError::BadRequest(msg) => ApiError::BadRequest(msg.clone()),
            StoreError::Unsupported(what) => ApiError::NotSupported(format!("this log store cannot answer {what} yet")),
            err if err.is_retryable() => ApiError::Unavailable(anyhow::Error::new(e)),
            _ => ApiError::Internal(anyhow::Error::new(e)),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Store(e) => e.into(),
            QueryError::Shared(e) => e.into(),
        }
    }
}

impl From<StateDbError> for ApiError {
    fn from(e: StateDbError) -> Self {
        ApiError::Unavailable(anyhow::Error::new(e))
    }
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::BadCursor => ApiError::validation("cursor", "is not a cursor this service issued"),
            DeliveryError::Db(e) => e.into(),
            DeliveryError::Store(e) => e.into(),
        }
    }
}

impl From<TailError> for ApiError {
    fn from(e: TailError) -> Self {
        match e {
            TailError::TooManyClients { limit } => ApiError::TooManyTails { limit },
        }
    }
}

impl From<AlertError> for ApiError {
    fn from(e: AlertError) -> Self {
        match e {
            AlertError::Invalid { field, reason } => ApiError::validation(field, reason),
            AlertError::Conflict { field, reason } => ApiError::Conflict { field: field.to_owned(), detail: reason },
            AlertError::Forbidden { field, reason } => ApiError::Forbidden { field: field.to_owned(), detail: reason },
            e @ AlertError::NotFound { .. } => ApiError::Missing(e.to_string()),
            e @ AlertError::NoSecretsKey => ApiError::NotSupported(e.to_string()),
            AlertError::Db(e) => e.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, _) = self.parts();
        if status.is_server_error() {
            match &self {
                ApiError::Unavailable(cause) | ApiError::Internal(cause) => {
                    tracing::error!(code, error = format!("{cause:#}"), "request failed");
                }
                _ => tracing::warn!(code, "request failed"),
            }
        } else {
            tracing::debug!(code, detail = %self, "request refused");
        }
        problem_response(status, self.to_problem())
    }
}

pub fn problem_response(status: StatusCode, problem: Problem) -> Response {
    let mut response = (status, Json(problem)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

/// Turns a bare error response produced below the handlers (a layer or an axum rejection) into a
/// problem document, keeping its status.
pub fn problem_for_status(status: StatusCode) -> Problem {
    let err = match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized,
        StatusCode::NOT_FOUND => ApiError::NotFound,
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge { limit: 0 },
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ApiError::Timeout,
        _ => {
            let code = if status.is_server_error() { "internal" } else { "bad_request" };
            let title = status.canonical_reason().unwrap_or("Error").to_owned();
            return Problem {
                kind: format!("urn:firesight:problem:{code}"),
                detail: title.clone(),
                title,
                status: status.as_u16(),
                code: code.to_owned(),
                field: None,
                request_id: None,
            };
        }
    };
    let mut problem = err.to_problem();
    problem.status = status.as_u16();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        problem.detail = "the request body exceeds the configured limit".to_owned();
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let p = ApiError::validation("limit", "must be between 1 and 1000").to_problem();
        assert_eq!(p.status, 400);
        assert_eq!(p.code, "invalid_parameter");
        assert_eq!(p.field.as_deref(), Some("limit"));
        assert_eq!(p.kind, "urn:firesight:problem:invalid_parameter");
    }

    #[test]
    fn server_errors_reveal_nothing() {
        let p = ApiError::Internal(anyhow::anyhow!("password=hunter2 at db.internal:5432")).to_problem();
        assert_eq!(p.status, 500);
        assert!(!p.detail.contains("hunter2"));
        assert!(!p.detail.contains("db.internal"));
    }
}
