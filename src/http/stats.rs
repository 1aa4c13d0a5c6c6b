//! `/v1/stats/*`: aggregate endpoints. Each handler takes its checked parameters, calls one
//! `QueryService` method and answers the cached JSON with `ETag` and `Cache-Control` (304 on a matching
//! `If-None-Match`).
//!
//! Cached answers are these endpoints' common case, so the handlers take only what they use: the query
//! service as state and the one request header they read.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::params::filters::FilterParams;
use super::params::stats::{
    Compare, GeoParams, SummaryParams, TimelineMetric, TimelineParams, TopParams, VisitTimesParams,
};
use super::params::{Params, err};
use super::problem::{ApiError, BadRequestResponse, NotModifiedResponse, UnauthorizedResponse, UnavailableResponse};
use crate::query::model::{
    Dimension, GeoRequest, MAX_TIMELINE_BUCKETS, SlowestRequest, TimelineRequest, TopRequest, VisitTimesRequest,
};
use crate::query::params::{self as values, Resolve};
use crate::read::cache::CachedBody;
use crate::read::response::{GeoResponse, SummaryResponse, TimelineResponse, TopResponse, VisitTimesResponse};
use crate::read::service::QueryService;

pub(crate) fn resolve(query: &QueryService) -> Resolve {
    let q = query.config();
    Resolve {
        now: chrono::Utc::now(),
        align_secs: i64::from(q.align_secs),
        max_span: chrono::Duration::days(i64::from(q.max_range_days)),
        default_span: chrono::Duration::hours(24),
    }
}

fn compare(compare: Option<Compare>) -> bool {
    compare == Some(Compare::PreviousPeriod)
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
    let not_modified = if_none_match.and_then(|v| v.to_str().ok()).is_some_and(|v| matches_any(v, etag));
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

/// `If-None-Match` uses the weak comparison (RFC 9110 section 13.1.2): `W/"x"` and `"x"` match, since
/// the client only wants to know whether its copy is still current.
fn matches_any(if_none_match: &str, etag: &str) -> bool {
    fn opaque(tag: &str) -> &str {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    let ours = opaque(etag);
    if_none_match.split(',').any(|t| t.trim() == "*" || opaque(t) == ours)
}

/// Top values of a dimension.
///
/// Buckets (most requests first, ties by key) with their count and share of all matching requests,
/// plus `other` (requests with a value beyond the returned buckets) and `missing` (requests without a
/// value, e.g. no geolocation). Dimensions: `country`, `city`, `browser`, `os`, `device`, `path`,
/// `referrer_host`, `status`, `method`, `client_ip`, `vhost`, `crawler` (the bot's name, e.g. `Googlebot`) and
/// `crawler_category` (`search`, `ai`, `monitor`, `seo`, `scanner`, `other`); requests from agents that
/// are no known crawler count as `missing` there. `rank_by=duration_p95|duration_total` ranks paths by
/// their request durations instead ("slowest endpoints", `path` only).
#[utoipa::path(get, path = "/v1/stats/top/{dimension}", tag = "stats", security(("api_key" = [])),
    params(
        ("dimension" = Dimension, Path, description = "What to group by"),
        FilterParams, TopParams,
    ),
    responses(
        (status = 200, description = "Top values", body = TopResponse),
        NotModifiedResponse, BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn top(
    State(query_service): State<Arc<QueryService>>,
    Path(dimension): Path<String>,
    Params((filters, params)): Params<(FilterParams, TopParams)>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let dimension = values::dimension("dimension", &dimension)?;
    let query = filters.query(&resolve(&query_service))?;
    let limit = params.limit.unwrap_or(10);
    let body = match params.rank_by.unwrap_or_default().duration() {
        None => query_service.top(TopRequest { query, dimension, limit }, compare(params.compare)).await?,
        Some(rank_by) => {
            if dimension != Dimension::Path {
                return Err(err("rank_by", "duration rankings apply to the path dimension only").into());
            }
            if params.compare.is_some() {
                return Err(err("compare", "is not available with a duration rank_by").into());
            }
            let min_requests = params.min_requests.unwrap_or(1);
            query_service.slowest(SlowestRequest { query, rank_by, limit, min_requests }).await?
        }
    };
    Ok(answer(body, if_none_match.as_ref()))
}

/// Requests over time.
///
/// Request counts and response bytes per interval, every interval of the range included (empty ones
/// as 0). `split=status_class` splits each interval by `2xx`..`5xx`; `split=<dimension>` by the top
/// `split_limit` values of that dimension over the whole range, with the rest as `other`.
/// `metric=duration` adds request-duration percentiles (`duration_p50_ms`, `duration_p95_ms`,
/// `duration_p99_ms`, `null` in buckets without durations) to each bucket; it takes no `split` and
/// no `compare` (400).
#[utoipa::path(get, path = "/v1/stats/timeline", tag = "stats", security(("api_key" = [])),
    params(
        FilterParams, TimelineParams,
    ),
    responses(
        (status = 200, description = "Timeline", body = TimelineResponse),
        NotModifiedResponse, BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn timeline(
    State(query_service): State<Arc<QueryService>>,
    Params((filters, params)): Params<(FilterParams, TimelineParams)>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let query = filters.query(&resolve(&query_service))?;
    let interval_secs = values::interval(params.interval.as_deref(), &query.range, 100, MAX_TIMELINE_BUCKETS)?;
    let request = TimelineRequest { query, interval_secs, split: params.split() };
    let body = match params.metric.unwrap_or_default() {
        TimelineMetric::Requests => query_service.timeline(request, compare(params.compare)).await?,
        TimelineMetric::Duration => {
            if params.split.is_some() {
                return Err(err("split", "is not available with metric=duration").into());
            }
            if params.compare.is_some() {
                return Err(err("compare", "is not available with metric=duration").into());
            }
            query_service.duration_timeline(request).await?
        }
    };
    Ok(answer(body, if_none_match.as_ref()))
}

/// Headline figures.
///
/// Requests, unique visitors (distinct client IP + user agent per UTC day, summed over the days, as
/// GoAccess counts them; exact below 40,000 per day, within about 2% above), unique client IPs, bytes,
/// status classes and 4xx/5xx rates, bot share, response-size percentiles (within 0.1%) and the busiest hour.
#[utoipa::path(get, path = "/v1/stats/summary", tag = "stats", security(("api_key" = [])),
    params(FilterParams, SummaryParams),
    responses(
        (status = 200, description = "Summary", body = SummaryResponse),
        NotModifiedResponse, BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn summary(
    State(query_service): State<Arc<QueryService>>,
    Params((filters, params)): Params<(FilterParams, SummaryParams)>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let query = filters.query(&resolve(&query_service))?;
    let body = query_service.summary(query, compare(params.compare)).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// When visitors come: requests by hour of day and day of week.
///
/// Counted in the requested IANA time zone (default UTC); `counts[weekday][hour]` (Monday first) is the
/// heatmap, `by_hour` and `by_weekday` its sums.
#[utoipa::path(get, path = "/v1/stats/visit-times", tag = "stats", security(("api_key" = [])),
    params(
        FilterParams, VisitTimesParams,
    ),
    responses(
        (status = 200, description = "Visit-time distribution", body = VisitTimesResponse),
        NotModifiedResponse, BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn visit_times(
    State(query_service): State<Arc<QueryService>>,
    Params((filters, params)): Params<(FilterParams, VisitTimesParams)>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let query = filters.query(&resolve(&query_service))?;
    let time_zone = params.time_zone()?;
    let body = query_service.visit_times(VisitTimesRequest { query, time_zone }, compare(params.compare)).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

/// Requests per country and top cities, for maps.
///
/// Every country with requests (ISO 3166-1 alpha-2 codes, ready for a choropleth) and the top cities
/// with a representative location.
#[utoipa::path(get, path = "/v1/stats/geo", tag = "stats", security(("api_key" = [])),
    params(
        FilterParams, GeoParams,
    ),
    responses(
        (status = 200, description = "Geography", body = GeoResponse),
        NotModifiedResponse, BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn geo(
    State(query_service): State<Arc<QueryService>>,
    Params((filters, params)): Params<(FilterParams, GeoParams)>,
    IfNoneMatch(if_none_match): IfNoneMatch,
) -> Result<Response, ApiError> {
    let query = filters.query(&resolve(&query_service))?;
    let city_limit = params.city_limit.unwrap_or(50);
    let body = query_service.geo(GeoRequest { query, city_limit }, compare(params.compare)).await?;
    Ok(answer(body, if_none_match.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_compares_weakly() {
        let body = Arc::new(CachedBody::new(bytes::Bytes::from_static(b"{}"), std::time::Duration::from_secs(10)));
        let etag = body.etag.to_str().unwrap().to_owned();
        for header in [etag.clone(), format!("W/{etag}"), format!("\"other\", W/{etag}"), "*".to_owned()] {
            let r = answer(body.clone(), Some(&HeaderValue::from_str(&header).unwrap()));
            assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{header}");
        }
        for header in ["\"other\"", "W/\"other\"", ""] {
            let r = answer(body.clone(), Some(&HeaderValue::from_str(header).unwrap()));
            assert_eq!(r.status(), StatusCode::OK, "{header}");
        }
    }
}
