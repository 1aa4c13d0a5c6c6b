//! `/v1/delivery-errors/replays`: replays of the records Firehose gave up on and backed up to S3.
//! Handlers check the parameters and call one [`Replays`](crate::replay::Replays) method.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::params::Params;
use super::params::replays::{ReplayListParams, ReplayStartParams};
use super::problem::{
    ApiError, BadRequestResponse, NotFoundResponse, Problem, UnauthorizedResponse, UnavailableResponse,
};
use super::stats::resolve;
use crate::app::App;
use crate::replay::ReplayError;
use crate::replay::repo::{Replay, ReplayList};

/// Start a replay.
///
/// Reads the objects Firehose wrote to the S3 backup bucket when it gave up on records
/// (`processing-failed`, `http-endpoint-failed`, `AmazonOpenSearchService-failed`, ...) in the configured
/// locations (`FIRESIGHT_S3_REPLAY__BUCKETS`), or in `location` within one of them, and sends the
/// records whose attempts ended within `from`-`to` through the parse, enrich and index path. Document
/// ids come from the failed records, so replaying again adds nothing. Answers at once with the replay
/// (one per location) as `running`; follow it with `GET /v1/delivery-errors/replays/{id}`. One replay
/// runs at a time (409 while one does, when no location is configured, and for a `location` outside
/// them); its end is sent to the webhooks subscribed to `replay.completed`.
#[utoipa::path(post, path = "/v1/delivery-errors/replays", operation_id = "start_replay", tag = "delivery-errors", security(("api_key" = [])),
    params(ReplayStartParams),
    responses(
        (status = 202, description = "Started", body = ReplayList),
        BadRequestResponse, UnauthorizedResponse, ReplayConflictResponse, UnavailableResponse,
    ))]
pub async fn start(
    State(app): State<App>,
    Params(params): Params<ReplayStartParams>,
) -> Result<impl IntoResponse, ApiError> {
    let range = params.range(&resolve(&app.query))?;
    let items = app.replays.start(params.location.as_deref(), range, params.dry_run.unwrap_or(false)).await?;
    Ok((StatusCode::ACCEPTED, Json(ReplayList { items })))
}

/// List replays.
///
/// The newest replays first (from `firesight replay`, the API and the background job), each with its
/// counts: failed records read, their access-log lines, lines indexed, already present and still
/// unparseable (dead-lettered with Firehose's error code and message), in all and per error code.
#[utoipa::path(get, path = "/v1/delivery-errors/replays", operation_id = "list_replays", tag = "delivery-errors", security(("api_key" = [])),
    params(ReplayListParams),
    responses(
        (status = 200, description = "Replays, newest first", body = ReplayList),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn list(
    State(app): State<App>,
    Params(params): Params<ReplayListParams>,
) -> Result<Json<ReplayList>, ApiError> {
    Ok(Json(ReplayList { items: app.replays.list(params.size.unwrap_or(20)).await? }))
}

/// Get a replay.
#[utoipa::path(get, path = "/v1/delivery-errors/replays/{id}", operation_id = "get_replay", tag = "delivery-errors", security(("api_key" = [])),
    params(("id" = String, Path, description = "Replay id (`rpl_...`)", max_length = 64)),
    responses(
        (status = 200, description = "The replay", body = Replay),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn get(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Replay>, ApiError> {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ApiError::Missing("no replay with this id".into()));
    }
    Ok(Json(app.replays.get(&id).await?))
}

/// 409 `conflict` of a replay.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 409,
    description = "No S3 location is configured (`FIRESIGHT_S3_REPLAY__BUCKETS`), a replay is still running, or \
`location` is not within a configured location; `field` is `location`",
    content_type = "application/problem+json"
)]
#[allow(dead_code)] // documentation only
pub struct ReplayConflictResponse(Problem);

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            // A well-formed request the service's configuration or state cannot serve now.
            e @ (ReplayError::NotConfigured | ReplayError::AlreadyRunning(_) | ReplayError::OutsideLocations(_)) => {
                ApiError::Conflict { field: "location".into(), detail: e.to_string() }
            }
            e @ ReplayError::NotFound(_) => ApiError::Missing(e.to_string()),
            ReplayError::Db(e) => e.into(),
            e @ (ReplayError::S3(_) | ReplayError::Ingest(_) | ReplayError::Store(_)) => {
                ApiError::Unavailable(anyhow::Error::new(e))
            }
        }
    }
}
