//! `/v1/delivery-errors`: Firehose's delivery errors (polled from CloudWatch Logs), their summary, their
//! correlation with ingest volume and the incidents they form. Handlers take the checked parameters
//! and call one [`DeliveryErrors`](crate::delivery_errors::DeliveryErrors) method.

use axum::Json;
use axum::extract::State;

use super::params::Params;
use super::params::delivery_errors::{
    CorrelationParams, ErrorFilterParams, ErrorPageParams, IncidentParams, IntervalParams,
};
use super::problem::{ApiError, BadRequestResponse, UnauthorizedResponse, UnavailableResponse};
use super::stats::resolve;
use crate::app::App;
use crate::delivery_errors::model::{Correlation, DeliveryErrorPage, DeliveryErrorSummary, Incidents};
use crate::query::model::MAX_TIMELINE_BUCKETS;
use crate::query::params as values;

/// List delivery errors.
///
/// Firehose's delivery errors as CloudWatch Logs recorded them, newest first, `size` per page: the
/// stream, destination, error code and its family, the HTTP status the destination answered and the
/// OpenSearch error type when the message holds them. Events that are not Firehose delivery errors
/// are listed with family `unknown` and their raw text. Pass `next_cursor` back as `cursor` to
/// continue; keep the other parameters the same while paging.
#[utoipa::path(get, path = "/v1/delivery-errors", operation_id = "list_delivery_errors", tag = "delivery-errors", security(("api_key" = [])),
    params(ErrorFilterParams, ErrorPageParams),
    responses(
        (status = 200, description = "A page of delivery errors", body = DeliveryErrorPage),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn list(
    State(app): State<App>,
    Params((filters, page)): Params<(ErrorFilterParams, ErrorPageParams)>,
) -> Result<Json<DeliveryErrorPage>, ApiError> {
    let query = filters.query(&resolve(&app.query))?;
    let size = page.size.unwrap_or(100);
    Ok(Json(app.delivery_errors.list(&query, page.cursor.as_deref(), size).await?))
}

/// Summarise delivery errors.
///
/// Counts by error code, by family and by delivery stream, each with its first and last occurrence,
/// the first and last error overall, and a timeline with every bucket of the range (empty ones as 0).
#[utoipa::path(get, path = "/v1/delivery-errors/summary", operation_id = "delivery_error_summary", tag = "delivery-errors", security(("api_key" = [])),
    params(ErrorFilterParams, IntervalParams),
    responses(
        (status = 200, description = "Summary", body = DeliveryErrorSummary),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn summary(
    State(app): State<App>,
    Params((filters, params)): Params<(ErrorFilterParams, IntervalParams)>,
) -> Result<Json<DeliveryErrorSummary>, ApiError> {
    let query = filters.query(&resolve(&app.query))?;
    let interval = values::interval(params.interval.as_deref(), &query.range, 100, MAX_TIMELINE_BUCKETS)?;
    Ok(Json(app.delivery_errors.summary(&query, interval).await?))
}

/// Correlate delivery errors with ingest.
///
/// Per bucket: the delivery errors Firehose logged, the access-log records the log store holds, and
/// the Firehose deliveries firesight itself refused (non-200 answers, by status). A bucket is flagged
/// when records ingested fell at least `min_drop` below the baseline (the median of the `baseline`
/// buckets before it) while delivery errors rose above theirs. Stream, destination, code and family
/// filters apply to the errors; ingest counts every stream.
#[utoipa::path(get, path = "/v1/delivery-errors/correlation", operation_id = "delivery_error_correlation", tag = "delivery-errors", security(("api_key" = [])),
    params(ErrorFilterParams, CorrelationParams),
    responses(
        (status = 200, description = "Correlation", body = Correlation),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn correlation(
    State(app): State<App>,
    Params((filters, params)): Params<(ErrorFilterParams, CorrelationParams)>,
) -> Result<Json<Correlation>, ApiError> {
    let request = params.request(filters.query(&resolve(&app.query))?)?;
    Ok(Json(app.delivery_errors.correlation(&request).await?))
}

/// Delivery-error incidents.
///
/// Runs of consecutive buckets with delivery errors, per delivery stream: start, end (absent while the
/// run reaches the present bucket: `ongoing`), the error codes with their counts, the error count, and
/// the records missing against the ingest baseline before the run (the median of the `baseline`
/// buckets before it; ingest counts every stream). Runs that began before `from` are reported from
/// their start within the baseline window.
#[utoipa::path(get, path = "/v1/delivery-errors/incidents", operation_id = "delivery_error_incidents", tag = "delivery-errors", security(("api_key" = [])),
    params(ErrorFilterParams, IncidentParams),
    responses(
        (status = 200, description = "Incidents", body = Incidents),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn incidents(
    State(app): State<App>,
    Params((filters, params)): Params<(ErrorFilterParams, IncidentParams)>,
) -> Result<Json<Incidents>, ApiError> {
    let request = params.request(filters.query(&resolve(&app.query))?)?;
    Ok(Json(app.delivery_errors.incidents(&request, chrono::Utc::now()).await?))
}
