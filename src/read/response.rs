//! What the `/v1/logs` and `/v1/stats` endpoints return: the store's results plus what is computed once
//! above any store (shares, rates, the previous period and the change). These types are the public
//! JSON shapes and appear in the OpenAPI document.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::document::LogDocument;
use crate::query::model::{
    Dimension, DurationTimelineResult, GeoResult, KeyCount, SlowestResult, SummaryResult, TimeRange, TimelineBucket,
    TimelineResult, TopResult, VisitTimesResult,
};

/// Relative change from `previous` to `current` (0.25 = +25%); absent when the previous value is 0.
pub fn change(current: f64, previous: f64) -> Option<f64> {
    (previous != 0.0).then(|| round4((current - previous) / previous))
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

fn share(count: u64, total: u64) -> f64 {
    if total == 0 { 0.0 } else { round4(count as f64 / total as f64) }
}

/// The resolved period an answer covers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Period {
    /// Inclusive start, UTC.
    pub from: DateTime<Utc>,
    /// Exclusive end, UTC.
    pub to: DateTime<Utc>,
}

impl From<TimeRange> for Period {
    fn from(r: TimeRange) -> Self {
        Period { from: r.from, to: r.to }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-25T10:00:00Z", "to": "2026-11-26T10:00:00Z", "dimension": "country",
    "total": 10000, "buckets": [{"key": "US", "count": 2890, "share": 0.289}], "other": 6110, "missing": 1000,
    "distinct": 90, "count_error_bound": 0}))]
pub struct TopResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub dimension: Dimension,
    /// Requests matching the filters.
    pub total: u64,
    /// Most frequent values first; `share` is of `total`.
    pub buckets: Vec<TopBucket>,
    /// Requests with a value beyond the returned buckets.
    pub other: u64,
    /// Requests with no value for this dimension (e.g. no geolocation for private addresses).
    pub missing: u64,
    /// Distinct values (exact below 40,000, HyperLogLog++ within about 2% above).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
    /// Largest possible count error of any bucket; 0 means the counts are exact.
    pub count_error_bound: u64,
    /// With `compare=previous_period`: the same figures over the period just before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<TopPrevious>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopBucket {
    pub key: String,
    pub count: u64,
    /// `count / total`, 4 decimals.
    pub share: f64,
    /// With `compare`: this key's count in the previous period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_count: Option<u64>,
    /// With `compare`: relative change from the previous count (absent when it was 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
    /// With a duration `rank_by`: the p95 of the path's request durations in milliseconds (nearest
    /// rank; exact on the embedded store, within 1% on OpenSearch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_p95_ms: Option<f64>,
    /// With a duration `rank_by`: the sum of the path's request durations in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_total_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TopPrevious {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub total: u64,
    /// Relative change of `total`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
}

impl TopResponse {
    /// "Slowest endpoints": paths ranked by duration; `total` counts the requests with a duration.
    pub fn slowest(range: TimeRange, result: SlowestResult) -> Self {
        let shown: u64 = result.buckets.iter().map(|b| b.count).sum();
        let buckets = result
            .buckets
            .into_iter()
            .map(|b| TopBucket {
                share: share(b.count, result.total),
                key: b.key,
                count: b.count,
                previous_count: None,
                change: None,
                duration_p95_ms: Some(b.duration_p95_ms),
                duration_total_ms: Some(b.duration_total_ms),
            })
            .collect();
        TopResponse {
            from: range.from,
            to: range.to,
            dimension: Dimension::Path,
            total: result.total,
            buckets,
            other: result.total.saturating_sub(result.missing + shown),
            missing: result.missing,
            distinct: None,
            count_error_bound: 0,
            previous: None,
        }
    }

    pub fn build(
        range: TimeRange,
        dimension: Dimension,
        current: TopResult,
        previous: Option<(TimeRange, TopResult)>,
    ) -> Self {
        let prev_counts: Option<BTreeMap<&str, u64>> =
            previous.as_ref().map(|(_, p)| p.buckets.iter().map(|b| (b.key.as_str(), b.count)).collect());
        let buckets = current
            .buckets
            .iter()
            .map(|KeyCount { key, count }| {
                let previous_count = prev_counts.as_ref().map(|m| m.get(key.as_str()).copied().unwrap_or(0));
                TopBucket {
                    key: key.clone(),
                    count: *count,
                    share: share(*count, current.total),
                    previous_count,
                    change: previous_count.and_then(|p| change(*count as f64, p as f64)),
                    duration_p95_ms: None,
                    duration_total_ms: None,
                }
            })
            .collect();
        TopResponse {
            from: range.from,
            to: range.to,
            dimension,
            total: current.total,
            buckets,
            other: current.other,
            missing: current.missing,
            distinct: current.distinct,
            count_error_bound: current.count_error_bound,
            previous: previous.map(|(r, p)| TopPrevious {
                from: r.from,
                to: r.to,
                total: p.total,
                change: change(current.total as f64, p.total as f64),
            }),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Bucket width in seconds; buckets start at multiples of it (UTC).
    pub interval_secs: u64,
    /// `status_class`, a dimension name, or absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    pub buckets: Vec<TimelineBucketOut>,
    /// With `compare=previous_period`: the previous period's buckets, same width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<TimelinePrevious>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineBucketOut {
    /// Bucket start, UTC.
    pub start: DateTime<Utc>,
    /// Requests in the bucket.
    pub count: u64,
    /// Response bytes in the bucket.
    pub bytes: u64,
    /// Per split key (`2xx`.. or dimension values plus `other`), when split.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub split: BTreeMap<String, u64>,
    /// With `metric=duration`: the bucket's request-duration percentiles.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub durations: Option<BucketDurations>,
}

/// Request-duration percentiles of a timeline bucket in milliseconds (nearest rank; exact on the
/// embedded store, within 0.1% on OpenSearch), `null` in a bucket without durations.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BucketDurations {
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelinePrevious {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub buckets: Vec<TimelineBucketOut>,
    /// Relative change of the total count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<f64>,
}

fn buckets_out(result: TimelineResult) -> Vec<TimelineBucketOut> {
    result
        .buckets
        .into_iter()
        .map(|TimelineBucket { start, count, bytes, split }| TimelineBucketOut {
            start,
            count,
            bytes,
            split,
            durations: None,
        })
        .collect()
}

impl TimelineResponse {
    /// Gives each bucket its duration percentiles (the same grid: buckets match by start).
    pub fn add_durations(&mut self, durations: DurationTimelineResult) {
        let by_start: BTreeMap<_, _> = durations.buckets.into_iter().map(|b| (b.start, b)).collect();
        for bucket in &mut self.buckets {
            let d = by_start.get(&bucket.start);
            bucket.durations = Some(BucketDurations {
                duration_p50_ms: d.and_then(|d| d.p50_ms),
                duration_p95_ms: d.and_then(|d| d.p95_ms),
                duration_p99_ms: d.and_then(|d| d.p99_ms),
            });
        }
    }

    pub fn build(
        range: TimeRange,
        interval_secs: u64,
        split: Option<String>,
        current: TimelineResult,
        previous: Option<(TimeRange, TimelineResult)>,
    ) -> Self {
        let total: u64 = current.buckets.iter().map(|b| b.count).sum();
        TimelineResponse {
            from: range.from,
            to: range.to,
            interval_secs,
            split,
            buckets: buckets_out(current),
            previous: previous.map(|(r, p)| {
                let prev_total: u64 = p.buckets.iter().map(|b| b.count).sum();
                TimelinePrevious {
                    from: r.from,
                    to: r.to,
                    buckets: buckets_out(p),
                    change: change(total as f64, prev_total as f64),
                }
            }),
        }
    }
}

/// Headline figures of a period.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryFigures {
    /// Requests matching the filters.
    pub requests: u64,
    /// Distinct (client IP, user agent) pairs per UTC day, summed over the range's days, as GoAccess
    /// counts visitors. Exact below 40,000 per day, HyperLogLog++ within about 2% above.
    pub unique_visitors: u64,
    /// Distinct client IPs over the range (same precision).
    pub unique_client_ips: u64,
    /// Response bytes.
    pub bytes: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// `status_4xx / requests`.
    pub error_rate_4xx: f64,
    /// `status_5xx / requests`.
    pub error_rate_5xx: f64,
    pub bot_requests: u64,
    /// `bot_requests / requests`.
    pub bot_share: f64,
    /// Response-size percentiles in bytes (nearest rank; within 0.1% on OpenSearch, exact on the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_p95: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_p99: Option<f64>,
    /// Request-duration percentiles in milliseconds (nearest rank; within 0.1% on OpenSearch, exact on
    /// the embedded store); `null` when no request of the selection has a duration.
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
    /// The longest request duration in milliseconds (exact), `null` without durations.
    pub duration_max_ms: Option<f64>,
    /// The UTC hour with the most requests (its start) and its count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busiest_hour: Option<BusiestHour>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BusiestHour {
    pub start: DateTime<Utc>,
    pub requests: u64,
}

impl From<SummaryResult> for SummaryFigures {
    fn from(s: SummaryResult) -> Self {
        SummaryFigures {
            requests: s.requests,
            unique_visitors: s.unique_visitors,
            unique_client_ips: s.unique_client_ips,
            bytes: s.bytes,
            status_2xx: s.status_2xx,
            status_3xx: s.status_3xx,
            status_4xx: s.status_4xx,
            status_5xx: s.status_5xx,
            error_rate_4xx: share(s.status_4xx, s.requests),
            error_rate_5xx: share(s.status_5xx, s.requests),
            bot_requests: s.bot_requests,
            bot_share: share(s.bot_requests, s.requests),
            bytes_p50: s.bytes_p50,
            bytes_p95: s.bytes_p95,
            bytes_p99: s.bytes_p99,
            duration_p50_ms: s.duration_p50_ms,
            duration_p95_ms: s.duration_p95_ms,
            duration_p99_ms: s.duration_p99_ms,
            duration_max_ms: s.duration_max_ms,
            busiest_hour: s.busiest_hour.map(|h| BusiestHour { start: h.start, requests: h.count }),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"from": "2026-11-25T10:00:00Z", "to": "2026-11-26T10:00:00Z", "requests": 10000,
    "unique_visitors": 2400, "unique_client_ips": 1753, "bytes": 2107000000u64, "status_2xx": 9126, "status_3xx": 445,
    "status_4xx": 416, "status_5xx": 13, "error_rate_4xx": 0.0416, "error_rate_5xx": 0.0013, "bot_requests": 1400,
    "bot_share": 0.14}))]
pub struct SummaryResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub current: SummaryFigures,
    /// With `compare=previous_period`: the previous period's figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<SummaryPrevious>,
    /// With `compare`: relative change of each count (absent where the previous value was 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SummaryPrevious {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: SummaryFigures,
}

impl SummaryResponse {
    pub fn build(range: TimeRange, current: SummaryResult, previous: Option<(TimeRange, SummaryResult)>) -> Self {
        let current = SummaryFigures::from(current);
        let (previous, change_map) = match previous {
            None => (None, None),
            Some((r, p)) => {
                let p = SummaryFigures::from(p);
                let pairs = [
                    ("requests", current.requests, p.requests),
                    ("unique_visitors", current.unique_visitors, p.unique_visitors),
                    ("unique_client_ips", current.unique_client_ips, p.unique_client_ips),
                    ("bytes", current.bytes, p.bytes),
                    ("status_4xx", current.status_4xx, p.status_4xx),
                    ("status_5xx", current.status_5xx, p.status_5xx),
                    ("bot_requests", current.bot_requests, p.bot_requests),
                ];
                let changes = pairs
                    .iter()
                    .filter_map(|(name, c, p)| change(*c as f64, *p as f64).map(|v| (name.to_string(), v)))
                    .collect();
                (Some(SummaryPrevious { from: r.from, to: r.to, figures: p }), Some(changes))
            }
        };
        SummaryResponse { from: range.from, to: range.to, current, previous, change: change_map }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VisitTimesResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The IANA time zone hours and weekdays are in.
    pub time_zone: String,
    /// Requests per hour of day 0-23.
    pub by_hour: Vec<u64>,
    /// Requests per weekday, Monday first.
    pub by_weekday: Vec<u64>,
    /// `counts[weekday][hour]`, Monday first: the heatmap.
    pub counts: Vec<Vec<u64>>,
    /// With `compare=previous_period`: the previous period's `counts`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_counts: Option<Vec<Vec<u64>>>,
}

impl VisitTimesResponse {
    pub fn build(
        range: TimeRange,
        time_zone: String,
        current: VisitTimesResult,
        previous: Option<VisitTimesResult>,
    ) -> Self {
        let counts = current.counts;
        let by_hour = (0..24).map(|h| counts.iter().map(|day| day.get(h).copied().unwrap_or(0)).sum()).collect();
        let by_weekday = counts.iter().map(|day| day.iter().sum()).collect();
        VisitTimesResponse {
            from: range.from,
            to: range.to,
            time_zone,
            by_hour,
            by_weekday,
            counts,
            previous_counts: previous.map(|p| p.counts),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GeoResponse {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Requests with a known country.
    pub located: u64,
    /// Every country with requests, most first (ready for a choropleth keyed by ISO code).
    pub countries: Vec<GeoCountry>,
    /// The top cities with a representative location.
    pub cities: Vec<GeoCity>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GeoCountry {
    /// ISO 3166-1 alpha-2.
    pub iso_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub count: u64,
    /// Share of located requests.
    pub share: f64,
    /// With `compare`: the previous period's count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_count: Option<u64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GeoCity {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_iso_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    pub count: u64,
}

impl GeoResponse {
    pub fn build(range: TimeRange, current: GeoResult, previous: Option<GeoResult>) -> Self {
        let located: u64 = current.countries.iter().map(|c| c.count).sum();
        let prev: Option<BTreeMap<String, u64>> =
            previous.map(|p| p.countries.into_iter().map(|c| (c.iso_code, c.count)).collect());
        GeoResponse {
            from: range.from,
            to: range.to,
            located,
            countries: current
                .countries
                .into_iter()
                .map(|c| GeoCountry {
                    previous_count: prev.as_ref().map(|m| m.get(&c.iso_code).copied().unwrap_or(0)),
                    share: share(c.count, located),
                    iso_code: c.iso_code,
                    name: c.name,
                    count: c.count,
                })
                .collect(),
            cities: current
                .cities
                .into_iter()
                .map(|c| GeoCity {
                    name: c.name,
                    country_iso_code: c.country_iso_code,
                    lat: c.lat,
                    lon: c.lon,
                    count: c.count,
                })
                .collect(),
        }
    }
}

/// One page of `/v1/logs`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogsPage {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub items: Vec<LogItem>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A stored access-log document (ECS fields) with its id.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LogItem {
    pub id: String,
    /// The document: `@timestamp`, `source.*`, `http.*`, `url.*`, `user_agent.*`, `firesight.*`, ...
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub document: LogDocument,
}
