//! `/v1/stats/*`: aggregate endpoints. Each handler parses and validates its parameters, calls one
//! `QueryService` method and answers the cached JSON with `ETag` and `Cache-Control` (304 on a matching
//! `If-None-Match`).
//!
//! Cached answers are these endpoints' common case, so the handlers take only what they use: the query
//! service as state and the one request header they read.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::IntoParams;

use super::problem::{ApiError, Problem};
use crate::query::model::{
    Dimension, GeoRequest, MAX_TIMELINE_BUCKETS, MAX_TOP_LIMIT, Split, TimelineRequest, TopRequest, VisitTimesRequest,
};
use crate::query::params::{self, Params, Resolve};
use crate::read::cache::CachedBody;
use crate::read::response::{GeoResponse, SummaryResponse, TimelineResponse, TopResponse, VisitTimesResponse};
use crate::read::service::QueryService;

/// The filters every `/v1/logs` and `/v1/stats` endpoint takes. Values of one parameter are ORed
/// (repeat it or separate with commas), different parameters are ANDed.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the parameters; parsing is strict and lives in `query::params`
pub struct FilterParams {
    /// Start, inclusive: RFC 3339 or relative (`now-24h`; units s, m, h, d, w). Default: `to` minus 24 h.
    from: Option<String>,
    /// End, exclusive: RFC 3339 or relative. Default `now`. Relative times are aligned to
    /// `FIRESIGHT_QUERY__ALIGN_SECS`. The range may span at most `FIRESIGHT_QUERY__MAX_RANGE_DAYS`.
    to: Option<String>,
    /// Status code (`404`) or class (`4xx`); repeatable.
    status: Option<Vec<String>>,
    /// HTTP method; repeatable.
    method: Option<Vec<String>>,
    /// Exact request path; repeatable.
    path: Option<Vec<String>>,
    /// Request path prefix.
    path_prefix: Option<String>,
    /// Client country, ISO 3166-1 alpha-2; repeatable.
    country: Option<Vec<String>>,
    /// Client city name; repeatable.
    city: Option<Vec<String>>,
    /// Browser family (e.g. `Chrome`); repeatable.
    browser: Option<Vec<String>>,
    /// Operating-system family (e.g. `Windows`); repeatable.
    os: Option<Vec<String>>,
    /// Device family (e.g. `iPhone`, `Spider`); repeatable.
    device: Option<Vec<String>>,
    /// Only bots (`true`) or only non-bots (`false`).
    bot: Option<bool>,
    /// Client address or CIDR block; repeatable.
    client_ip: Option<Vec<String>>,
    /// Referrer host (e.g. `www.google.com`); repeatable.
    referrer_host: Option<Vec<String>>,
    /// Free text over the path and the user agent.
    q: Option<String>,
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    /// Aggregate endpoints only.
    compare: Option<String>,
}

pub(crate) fn resolve(query: &QueryService) -> Resolve {
    let q = query.config();
    Resolve {
        now: chrono::Utc::now(),
        align_secs: i64::from(q.align_secs),
        max_span: chrono::Duration::days(i64::from(q.max_range_days)),
        default_span: chrono::Duration::hours(24),
    }
}

/// The request's `If-None-Match` header; extracting the whole `HeaderMap` would copy it per request.
pub struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(IfNoneMatch(parts.headers.get(header::IF_NONE_MATCH).cloned()))
    }
}

/// The cached JSON, or 304 when the client already has it.
fn answer(body: Arc<CachedBody>, if_none_match: Option<&HeaderValue>) -> Response {
    let etag = body.etag.to_str().expect("etags are ASCII");
    let not_modified = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(Body::from(body.body.clone()));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    };
    response.headers_mut().insert(header::ETAG, body.etag.clone());
    response.headers_mut().insert(header::CACHE_CONTROL, body.cache_control.clone());
    response
}

/// Top values of a dimension.
///
/// Buckets (most requests first, ties by key) with their count and share of all matching requests,
/// plus `other` (requests with a value beyond the returned buckets) and `missing` (requests without a
/// value, e.g. no geolocation). Dimensions: `country`, `city`, `browser`, `os`, `device`, `path`,
/// `referrer_host`, `status`, `method`, `client_ip`.
#[utoipa::path(get, path = "/v1/stats/top/{dimension}", tag = "stats", security(("api_key" = [])),
    params(
        ("dimension" = Dimension, Path, description = "What to group by"),
        ("limit" = Option<u32>, Query, description = "Buckets to return, 1-1000 (default 10)"),
        FilterParams,
    ),
    responses(
        (status = 200, description = "Top values", body = TopResponse),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn top(
    State(query_service): State<Arc<QueryService>>,
    Path(dimension): Path<String>,
    RawQuery(raw): RawQuery,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let dimension = params::dimension("dimension", &dimension)?;
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = params::query(&mut p, &resolve(&query_service))?;
    let compare = params::compare(&mut p)?;
    let limit = p.u32_in("limit", 10, 1, MAX_TOP_LIMIT)?;
    p.finish()?;
    let body = query_service.top(TopRequest { query, dimension, limit }, compare).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// Requests over time.
///
/// Request counts and response bytes per interval, every interval of the range included (empty ones
/// as 0). `split=status_class` splits each interval by `2xx`..`5xx`; `split=<dimension>` by the top
/// `split_limit` values of that dimension over the whole range, with the rest as `other`.
#[utoipa::path(get, path = "/v1/stats/timeline", tag = "stats", security(("api_key" = [])),
    params(
        ("interval" = Option<String>, Query, description = "`auto` (default, about 100 buckets) or a width: `30s`, `5m`, `1h`, `1d`. At most 2000 buckets."),
        ("split" = Option<String>, Query, description = "`status_class` or a dimension name"),
        ("split_limit" = Option<u32>, Query, description = "With a dimension split: values to keep, 1-20 (default 5)"),
        FilterParams,
    ),
    responses(
        (status = 200, description = "Timeline", body = TimelineResponse),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn timeline(
    State(query_service): State<Arc<QueryService>>,
    RawQuery(raw): RawQuery,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = params::query(&mut p, &resolve(&query_service))?;
    let compare = params::compare(&mut p)?;
    let interval_secs = params::interval(&mut p, &query.range, 100, MAX_TIMELINE_BUCKETS)?;
    let split_limit = p.u32_in("split_limit", 5, 1, 20)?;
    let split = match p.one("split")?.as_deref() {
        None => Split::None,
        Some("status_class") => Split::StatusClass,
        Some(name) => Split::Dimension(
            Dimension::parse(name).ok_or_else(|| {
                let names: Vec<&str> = Dimension::ALL.iter().map(|d| d.name()).collect();
                ApiError::validation("split", format!("must be status_class or one of: {}", names.join(", ")))
            })?,
            split_limit,
        ),
    };
    p.finish()?;
    let body = query_service.timeline(TimelineRequest { query, interval_secs, split }, compare).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// Headline figures.
///
/// Requests, unique visitors (distinct client IP + user agent per UTC day, summed over the days, as
/// GoAccess counts them; exact below 40,000 per day, within about 2% above), unique client IPs, bytes,
/// status classes and 4xx/5xx rates, bot share, response-size percentiles (within 0.1%) and the busiest hour.
#[utoipa::path(get, path = "/v1/stats/summary", tag = "stats", security(("api_key" = [])),
    params(FilterParams),
    responses(
        (status = 200, description = "Summary", body = SummaryResponse),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn summary(
    State(query_service): State<Arc<QueryService>>,
    RawQuery(raw): RawQuery,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = params::query(&mut p, &resolve(&query_service))?;
    let compare = params::compare(&mut p)?;
    p.finish()?;
    let body = query_service.summary(query, compare).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// When visitors come: requests by hour of day and day of week.
///
/// Counted in the requested IANA time zone (default UTC); `counts[weekday][hour]` (Monday first) is the
/// heatmap, `by_hour` and `by_weekday` its sums.
#[utoipa::path(get, path = "/v1/stats/visit-times", tag = "stats", security(("api_key" = [])),
    params(
        ("tz" = Option<String>, Query, description = "IANA time zone, e.g. `Europe/Berlin` (default `UTC`)"),
        FilterParams,
    ),
    responses(
        (status = 200, description = "Visit-time distribution", body = VisitTimesResponse),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn visit_times(
    State(query_service): State<Arc<QueryService>>,
    RawQuery(raw): RawQuery,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = params::query(&mut p, &resolve(&query_service))?;
    let compare = params::compare(&mut p)?;
    let time_zone = p.one("tz")?.unwrap_or_else(|| "UTC".to_owned());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::validation("tz", "must be an IANA time zone such as Europe/Berlin or UTC"));
    }
    p.finish()?;
    let body = query_service.visit_times(VisitTimesRequest { query, time_zone }, compare).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// Requests per country and top cities, for maps.
///
/// Every country with requests (ISO 3166-1 alpha-2 codes, ready for a choropleth) and the top cities
/// with a representative location.
#[utoipa::path(get, path = "/v1/stats/geo", tag = "stats", security(("api_key" = [])),
    params(
        ("city_limit" = Option<u32>, Query, description = "Cities to return, 1-1000 (default 50)"),
        FilterParams,
    ),
    responses(
        (status = 200, description = "Geography", body = GeoResponse),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 400, description = "Invalid parameter", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong API key", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Log store unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn geo(
    State(query_service): State<Arc<QueryService>>,
    RawQuery(raw): RawQuery,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let mut p = Params::parse_query_string(raw.as_deref());
    let query = params::query(&mut p, &resolve(&query_service))?;
    let compare = params::compare(&mut p)?;
    let city_limit = p.u32_in("city_limit", 50, 1, 1000)?;
    p.finish()?;
    let body = query_service.geo(GeoRequest { query, city_limit }, compare).await?;
    Ok(answer(body, if_none_match.as_ref()))
}
