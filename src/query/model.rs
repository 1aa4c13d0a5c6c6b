//! The read path's vocabulary: what a query asks (a time range, filters, one aggregate) and what a log
//! store answers, independent of any backend. The HTTP layer builds these from query parameters; each
//! log-store adapter translates them (OpenSearch DSL, tantivy queries) and fills the results.
//! Shares, comparisons and caching are computed above the store, once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::document::LogDocument;

/// Half-open interval `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl TimeRange {
    pub fn span(&self) -> chrono::Duration {
        self.to - self.from
    }

    /// The range of the same length just before this one.
    pub fn previous(&self) -> TimeRange {
        TimeRange { from: self.from - self.span(), to: self.from }
    }
}

/// A status filter: one code (`404`) or a class (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum StatusFilter {
    Code(u16),
    /// The hundreds digit: 4 for `4xx`.
    Class(u8),
}

/// Filters shared by every endpoint. Values within one field are ORed, fields are ANDed. Every list is
/// kept sorted and deduplicated so equal filters compare (and cache) equal.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Filters {
    pub status: Vec<StatusFilter>,
    /// Upper-case methods.
    pub method: Vec<String>,
    /// Exact paths.
    pub path: Vec<String>,
    pub path_prefix: Option<String>,
    /// ISO 3166-1 alpha-2 codes, upper case.
    pub country: Vec<String>,
    pub city: Vec<String>,
    /// Browser families (`user_agent.name`).
    pub browser: Vec<String>,
    /// OS families (`user_agent.os.name`).
    pub os: Vec<String>,
    /// Device families (`user_agent.device.name`).
    pub device: Vec<String>,
    pub bot: Option<bool>,
    /// Crawler names (`firesight.crawler.name`).
    pub crawler: Vec<String>,
    /// Crawler categories (`firesight.crawler.category`): `search`, `ai`, `monitor`, `seo`, `scanner`, `other`.
    pub crawler_category: Vec<String>,
    /// Addresses or CIDR blocks (a single address is a /32 or /128).
    pub client_ip: Vec<IpNet>,
    /// Lower-case referrer hosts.
    pub referrer_host: Vec<String>,
    /// Virtual hosts (`destination.domain`), exact.
    pub vhost: Vec<String>,
    /// Free text over the path and the user agent.
    pub q: Option<String>,
}

impl Filters {
    /// Sorts and deduplicates every list (the canonical form).
    pub fn normalise(&mut self) {
        fn tidy<T: Ord>(v: &mut Vec<T>) {
            v.sort();
            v.dedup();
        }
        tidy(&mut self.status);
        tidy(&mut self.method);
        tidy(&mut self.path);
        tidy(&mut self.country);
        tidy(&mut self.city);
        tidy(&mut self.browser);
        tidy(&mut self.os);
        tidy(&mut self.device);
        tidy(&mut self.crawler);
        tidy(&mut self.crawler_category);
        tidy(&mut self.client_ip);
        tidy(&mut self.referrer_host);
        tidy(&mut self.vhost);
    }
}

/// A time range plus filters: the part every request shares.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    pub range: TimeRange,
    pub filters: Filters,
}

impl Query {
    pub fn with_range(&self, range: TimeRange) -> Query {
        Query { range, filters: self.filters.clone() }
    }
}

/// What top-N and splits can group by. The wire names are the path segment of `/v1/stats/top/{dimension}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    Country,
    City,
    Browser,
    Os,
    Device,
    Path,
    ReferrerHost,
    Status,
    Method,
    ClientIp,
    Crawler,
    CrawlerCategory,
    Vhost,
}

impl Dimension {
    pub const ALL: [Dimension; 13] = [
        Dimension::Country,
        Dimension::City,
        Dimension::Browser,
        Dimension::Os,
        Dimension::Device,
        Dimension::Path,
        Dimension::ReferrerHost,
        Dimension::Status,
        Dimension::Method,
        Dimension::ClientIp,
        Dimension::Crawler,
        Dimension::CrawlerCategory,
        Dimension::Vhost,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dimension::Country => "country",
            Dimension::City => "city",
            Dimension::Browser => "browser",
            Dimension::Os => "os",
            Dimension::Device => "device",
            Dimension::Path => "path",
            Dimension::ReferrerHost => "referrer_host",
            Dimension::Status => "status",
            Dimension::Method => "method",
            Dimension::ClientIp => "client_ip",
            Dimension::Crawler => "crawler",
            Dimension::CrawlerCategory => "crawler_category",
            Dimension::Vhost => "vhost",
        }
    }

    pub fn parse(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The canonical document's field (ECS) holding this dimension.
    pub fn field(self) -> &'static str {
        match self {
            Dimension::Country => "source.geo.country_iso_code",
            Dimension::City => "source.geo.city_name",
            Dimension::Browser => "user_agent.name",
            Dimension::Os => "user_agent.os.name",
            Dimension::Device => "user_agent.device.name",
            Dimension::Path => "url.path",
            Dimension::ReferrerHost => "firesight.referrer_host",
            Dimension::Status => "http.response.status_code",
            Dimension::Method => "http.request.method",
            Dimension::ClientIp => "source.ip",
            Dimension::Crawler => "firesight.crawler.name",
            Dimension::CrawlerCategory => "firesight.crawler.category",
            Dimension::Vhost => "destination.domain",
        }
    }
}

/// Top values of one dimension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TopRequest {
    pub query: Query,
    pub dimension: Dimension,
    /// 1 ..= `MAX_TOP_LIMIT`.
    pub limit: u32,
}

pub const MAX_TOP_LIMIT: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopResult {
    /// Requests matching the query (with or without a value for the dimension).
    pub total: u64,
    /// Most frequent values first; ties broken by key ascending.
    pub buckets: Vec<KeyCount>,
    /// Requests with a value outside the returned buckets.
    pub other: u64,
    /// Requests without a value for the dimension (e.g. no geolocation).
    pub missing: u64,
    /// Distinct values, when computed: exact on the embedded store; a HyperLogLog++ estimate on
    /// OpenSearch, within about 1% below 40,000 distinct values and about 2% above.
    pub distinct: Option<u64>,
    /// Upper bound of the count error of any bucket (0 when exact).
    pub count_error_bound: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyCount {
    pub key: String,
    pub count: u64,
}

/// What "slowest endpoints" (`top/path` ranked by duration) orders paths by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DurationRank {
    /// The 95th percentile of the path's request durations.
    P95,
    /// The sum of the path's request durations.
    Total,
}

/// Paths ranked by their request durations, each with at least `min_requests` requests.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlowestRequest {
    pub query: Query,
    pub rank_by: DurationRank,
    /// 1 ..= `MAX_TOP_LIMIT`.
    pub limit: u32,
    /// 1 ..= `MAX_MIN_REQUESTS`.
    pub min_requests: u64,
}

pub const MAX_MIN_REQUESTS: u64 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowestResult {
    /// Requests matching the query that have a duration (only those are ranked).
    pub total: u64,
    /// Of those, requests without a path.
    pub missing: u64,
    /// Highest ranking value first, ties by path ascending; paths with fewer than `min_requests`
    /// requests or without any duration are left out.
    pub buckets: Vec<PathDurations>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathDurations {
    pub key: String,
    /// Requests for the path that have a duration.
    pub count: u64,
    /// Nearest-rank p95 of the path's durations, ms: exact on the embedded store, within 1% on
    /// OpenSearch.
    pub duration_p95_ms: f64,
    /// Sum of the path's durations, ms.
    pub duration_total_ms: f64,
}

/// How a timeline splits each interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Split {
    None,
    /// By `1xx` .. `5xx`.
    StatusClass,
    /// By the top `n` values of a dimension over the whole range (others summed as `other`).
    Dimension(Dimension, u32),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimelineRequest {
    pub query: Query,
    /// Bucket width in seconds; buckets are aligned to multiples of it since the epoch (UTC).
    pub interval_secs: u64,
    pub split: Split,
}

/// Request-duration percentiles per timeline interval (`metric=duration`), on the grid of [`TimelineRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DurationTimelineRequest {
    pub query: Query,
    pub interval_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationTimelineResult {
    /// Every interval of the grid, in order.
    pub buckets: Vec<DurationBucket>,
}

/// Nearest-rank percentiles of one interval's request durations in milliseconds, `None` without
/// durations: exact on the embedded store, within 0.1% on OpenSearch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DurationBucket {
    pub start: DateTime<Utc>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// Most buckets a timeline may have.
pub const MAX_TIMELINE_BUCKETS: u64 = 2000;
/// Widest timeline bucket, in seconds (366 days).
pub const MAX_INTERVAL_SECS: u64 = 366 * 86_400;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineResult {
    /// Every interval from the aligned start of the range to its end, empty ones included.
    pub buckets: Vec<TimelineBucket>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    pub start: DateTime<Utc>,
    pub count: u64,
    /// Sum of response bytes.
    pub bytes: u64,
    /// Per split key, when split (`other` holds the rest for dimension splits).
    pub split: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryResult {
    pub requests: u64,
    /// Distinct (client IP, user agent) pairs per UTC day, summed over the days of the range (GoAccess's
    /// definition). HyperLogLog++: exact below 40,000 per day, within about 2% above.
    pub unique_visitors: u64,
    /// Distinct client IPs over the whole range (same precision).
    pub unique_client_ips: u64,
    pub bytes: u64,
    pub status_2xx: u64,
    pub status_3xx: u64,
    pub status_4xx: u64,
    pub status_5xx: u64,
    pub bot_requests: u64,
    /// Response-size percentiles. Exact (nearest rank) on the embedded store; HDR histogram estimates on
    /// OpenSearch, within 0.1% of the nearest-rank value.
    pub bytes_p50: Option<f64>,
    pub bytes_p95: Option<f64>,
    pub bytes_p99: Option<f64>,
    /// Request-duration (`event.duration`) percentiles and maximum in milliseconds, `None` when no
    /// matching document has a duration. Exact (nearest rank) on the embedded store; HDR histogram
    /// estimates on OpenSearch, within 0.1% of the nearest-rank value (the maximum is exact on both).
    pub duration_p50_ms: Option<f64>,
    pub duration_p95_ms: Option<f64>,
    pub duration_p99_ms: Option<f64>,
    pub duration_max_ms: Option<f64>,
    /// The 90th percentile (same precision), for `latency` alert rules.
    pub duration_p90_ms: Option<f64>,
    /// Matching requests that have a duration.
    pub timed_requests: u64,
    /// The UTC hour with the most requests.
    pub busiest_hour: Option<HourCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourCount {
    pub start: DateTime<Utc>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VisitTimesRequest {
    pub query: Query,
    /// IANA time zone name, e.g. `Europe/Paris`.
    pub time_zone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitTimesResult {
    /// `counts[weekday][hour]`: weekday 0 = Monday, hour 0-23, both in the requested time zone.
    pub counts: Vec<Vec<u64>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GeoRequest {
    pub query: Query,
    /// How many cities (most requests first).
    pub city_limit: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeoResult {
    /// Every country with requests, most first.
    pub countries: Vec<CountryCount>,
    pub cities: Vec<CityCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountryCount {
    pub iso_code: String,
    pub name: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CityCount {
    pub name: String,
    pub country_iso_code: Option<String>,
    /// A representative location (the centroid of the city's requests).
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub count: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Order {
    /// Newest first.
    Desc,
    Asc,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SearchRequest {
    pub query: Query,
    pub order: Order,
    /// 1 ..= `MAX_PAGE_SIZE`.
    pub size: u32,
    /// Opaque continuation from the previous page, produced by the store.
    pub cursor: Option<String>,
}

pub use crate::config::MAX_PAGE_SIZE;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchPage {
    pub items: Vec<StoredDoc>,
    /// Absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDoc {
    pub id: String,
    pub doc: LogDocument,
}
