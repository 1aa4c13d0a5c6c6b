//! `/v1/delivery-errors`: Firehose's delivery errors (polled from CloudWatch Logs), their summary, their
//! correlation with ingest volume and the incidents they form. Handlers parse and bound the parameters
//! and call one [`DeliveryErrors`](crate::delivery_errors::DeliveryErrors) method.

use axum::Json;
use axum::extract::{RawQuery, State};
use utoipa::IntoParams;

use super::problem::{ApiError, Problem};
use super::stats::resolve;
use crate::app::App;
use crate::delivery_errors::correlate::Rules;
use crate::delivery_errors::event::Family;
use crate::delivery_errors::model::{Correlation, DeliveryErrorPage, DeliveryErrorSummary, Incidents};
use crate::delivery_errors::{BucketRequest, DeliveryError, ErrorQuery};
use crate::query::model::{MAX_PAGE_SIZE, MAX_TIMELINE_BUCKETS};
use crate::query::params::{self, Params};

/// The filters every delivery-error endpoint takes. Values of one parameter are ORed (repeat it or
/// separate with commas), different parameters are ANDed.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters; parsing is strict and lives in `error_query`
pub struct DeliveryErrorFilters {
    /// Start, inclusive: RFC 3339 or relative (`now-24h`; units s, m, h, d, w). Default: `to` minus 24 h.
    from: Option<String>,
    /// End, exclusive: RFC 3339 or relative. Default `now`. At most `FIRESIGHT_QUERY__MAX_RANGE_DAYS`.
    to: Option<String>,
    /// Delivery stream name (e.g. `weblogs`); repeatable.
    stream: Option<Vec<String>>,
    /// Destination as Firehose logs it; repeatable.
    destination: Option<Vec<String>>,
    /// Error code (e.g. `HttpEndpoint.DestinationException`, `400`); repeatable.
    code: Option<Vec<String>>,
    /// Family: `http_endpoint`, `lambda`, `s3`, `opensearch`, `splunk`, `redshift`, `http_status`,
    /// `internal`, `other` or `unknown`; repeatable.
    family: Option<Vec<String>>,
}

fn error_query(p: &mut Params, app: &App) -> Result<ErrorQuery, ApiError> {
    let range = params::range(p, &resolve(&app.query))?;
    let mut families = Vec::new();
    for name in p.all("family") {
        let family = Family::parse(&name).ok_or_else(|| {
            let names: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
            ApiError::validation("family", format!("must be one of: {}", names.join(", ")))
        })?;
        families.push(family);
    }
    families.sort();
    families.dedup();
    Ok(ErrorQuery {
        range,
        streams: params::bounded(p.all("stream"), "stream")?,
        destinations: params::bounded(p.all("destination"), "destination")?,
        codes: params::bounded(p.all("code"), "code")?,
        families,
    })
}

/// `interval`, `baseline` and (for the correlation) `min_drop` of the bucketed views. Intervals are
/// whole minutes (firesight's own refusals are counted per minute).
fn bucket_request(p: &mut Params, query: ErrorQuery, with_min_drop: bool) -> Result<BucketRequest, ApiError> {
    let baseline = p.u32_in("baseline", 6, 1, 100)?;
    let interval = params::interval(p, &query.range, 100, MAX_TIMELINE_BUCKETS)?.max(60);
    if interval % 60 != 0 {
        return Err(ApiError::validation("interval", "must be whole minutes (1m, 5m, 1h, 1d) or auto"));
    }
    let min_drop = match with_min_drop.then(|| p.one("min_drop")).transpose()?.flatten() {
        None => 0.3,
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|d| (0.05..=1.0).contains(d))
            .ok_or_else(|| ApiError::validation("min_drop", "must be a fraction from 0.05 to 1"))?,
    };
    Ok(BucketRequest { query, interval_secs: interval, rules: Rules { baseline_buckets: baseline as usize, min_drop } })
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> Self {
        use crate::store::StoreError;
        match e {
            DeliveryError::BadCursor => ApiError::validation("cursor", "is not a cursor this service issued"),
            DeliveryError::Db(e) => ApiError::Unavailable(anyhow::anyhow!(crate::telemetry::chain(&e))),
            DeliveryError::Store(StoreError::BadRequest(msg)) => ApiError::BadRequest(msg),
            DeliveryError::Store(StoreError::Unsupported(what)) => {
                ApiError::NotSupported(format!("this log store cannot answer {what} yet"))
            }
            DeliveryError::Store(e) if e.is_retryable() => {
                ApiError::Unavailable(anyhow::anyhow!(crate::telemetry::chain(&e)))
            }
            DeliveryError::Store(e) => ApiError::Internal(anyhow::anyhow!(crate::telemetry::chain(&e))),
        }
    }
}

/// List delivery errors.
///
/// Firehose's delivery errors as CloudWatch Logs recorded them, newest first, `size` per page: the
/// stream, destination, error code and its family, the HTTP status the destination answered and the
/// OpenSearch error type when the message holds them. Events that are not Firehose delivery errors
/// are listed with family `unknown` and their raw text. Pass `next_cursor` back as `cursor` to
/// continue; keep the other parameters the same while paging.
#[utoipa::path(get, path = "/v1/delivery-errors", tag = "delivery-errors", security(("api_key" = [])),
    params(
        ("size" = Option<u32>, Query, description = "Errors per page, 1-1000 (default 100)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        DeliveryErrorFilters,
    ),
    responses(
        (status = 200, description = "A page of delivery errors", body = DeliveryErrorPage),
        (status = 400, description = "Invalid parameter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "State database unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Json<DeliveryErrorPage>, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = error_query(&mut p, &app)?;
    let size = p.u32_in("size", 100, 1, MAX_PAGE_SIZE)?;
    let cursor = p.one("cursor")?;
    if cursor.as_ref().is_some_and(|c| c.len() > 2048) {
        return Err(ApiError::validation("cursor", "is not a cursor this service issued"));
    }
    p.finish()?;
    Ok(Json(app.delivery_errors.list(&query, cursor.as_deref(), size).await?))
}

/// Summarise delivery errors.
///
/// Counts by error code, by family and by delivery stream, each with its first and last occurrence,
/// the first and last error overall, and a timeline with every bucket of the range (empty ones as 0).
#[utoipa::path(get, path = "/v1/delivery-errors/summary", tag = "delivery-errors", security(("api_key" = [])),
    params(
        ("interval" = Option<String>, Query, description = "Timeline bucket: `auto` (default, about 100 buckets) or a width such as `5m`, `1h`, `1d`. At most 2000 buckets."),
        DeliveryErrorFilters,
    ),
    responses(
        (status = 200, description = "Summary", body = DeliveryErrorSummary),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "State database unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn summary(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Json<DeliveryErrorSummary>, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = error_query(&mut p, &app)?;
    let interval = params::interval(&mut p, &query.range, 100, MAX_TIMELINE_BUCKETS)?;
    p.finish()?;
    Ok(Json(app.delivery_errors.summary(&query, interval).await?))
}

/// Correlate delivery errors with ingest.
///
/// Per bucket: the delivery errors Firehose logged, the access-log records the log store holds, and
/// the Firehose deliveries firesight itself refused (non-200 answers, by status). A bucket is flagged
/// when records ingested fell at least `min_drop` below the baseline (the median of the `baseline`
/// buckets before it) while delivery errors rose above theirs. Stream, destination, code and family
/// filters apply to the errors; ingest counts every stream.
#[utoipa::path(get, path = "/v1/delivery-errors/correlation", tag = "delivery-errors", security(("api_key" = [])),
    params(
        ("interval" = Option<String>, Query, description = "`auto` (default, about 100 buckets, at least 1m) or whole minutes such as `5m`, `1h`, `1d`. At most 2000 buckets."),
        ("baseline" = Option<u32>, Query, description = "Buckets before each bucket that make its baseline, 1-100 (default 6)"),
        ("min_drop" = Option<f64>, Query, description = "Fraction ingest must fall below the baseline to flag a bucket, 0.05-1 (default 0.3)"),
        DeliveryErrorFilters,
    ),
    responses(
        (status = 200, description = "Correlation", body = Correlation),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "State database or log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn correlation(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Json<Correlation>, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = error_query(&mut p, &app)?;
    let request = bucket_request(&mut p, query, true)?;
    p.finish()?;
    Ok(Json(app.delivery_errors.correlation(&request).await?))
}

/// Delivery-error incidents.
///
/// Runs of consecutive buckets with delivery errors, per delivery stream: start, end (absent while the
/// run reaches the present bucket: `ongoing`), the error codes with their counts, the error count, and
/// the records missing against the ingest baseline before the run (the median of the `baseline`
/// buckets before it; ingest counts every stream). Runs that began before `from` are reported from
/// their start within the baseline window.
#[utoipa::path(get, path = "/v1/delivery-errors/incidents", tag = "delivery-errors", security(("api_key" = [])),
    params(
        ("interval" = Option<String>, Query, description = "`auto` (default, about 100 buckets, at least 1m) or whole minutes such as `5m`, `1h`. At most 2000 buckets."),
        ("baseline" = Option<u32>, Query, description = "Buckets before an incident that make its baseline, 1-100 (default 6)"),
        DeliveryErrorFilters,
    ),
    responses(
        (status = 200, description = "Incidents", body = Incidents),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "State database or log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn incidents(State(app): State<App>, RawQuery(raw): RawQuery) -> Result<Json<Incidents>, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = error_query(&mut p, &app)?;
    let request = bucket_request(&mut p, query, false)?;
    p.finish()?;
    Ok(Json(app.delivery_errors.incidents(&request, chrono::Utc::now()).await?))
}
