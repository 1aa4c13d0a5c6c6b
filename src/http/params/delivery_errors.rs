//! The parameters of the `/v1/delivery-errors` endpoints: their own filters and the bucketed views'.

use serde::Deserialize;
use utoipa::IntoParams;

use super::{ParamError, err, forms, param_set};
use crate::delivery_errors::correlate::Rules;
use crate::delivery_errors::event::Family;
use crate::delivery_errors::{BucketRequest, ErrorQuery};
use crate::query::model::MAX_TIMELINE_BUCKETS;
use crate::query::params::{self as values, Resolve};

/// The filters every delivery-error endpoint takes. Values of one parameter are ORed (repeat the
/// name), different parameters are ANDed.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorFilterParams {
    /// Start, inclusive: RFC 3339 or relative (`now-24h`; units s, m, h, d, w). Default: `to` minus 24 h. Must be before `to`.
    #[param(schema_with = forms::time)]
    pub from: Option<String>,
    /// End, exclusive: RFC 3339 or relative. Default `now`. At most `FIRESIGHT_QUERY__MAX_RANGE_DAYS`.
    #[param(schema_with = forms::time)]
    pub to: Option<String>,
    /// Delivery stream name (e.g. `weblogs`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024, pattern = "^[^\\x00]+$")]
    pub stream: Vec<String>,
    /// Destination as Firehose logs it; repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024, pattern = "^[^\\x00]+$")]
    pub destination: Vec<String>,
    /// Error code (e.g. `HttpEndpoint.DestinationException`, `400`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024, pattern = "^[^\\x00]+$")]
    pub code: Vec<String>,
    /// Family: which part of the pipeline failed; repeatable.
    #[serde(default)]
    #[param(max_items = 100, inline)]
    pub family: Vec<Family>,
}

impl ErrorFilterParams {
    pub fn query(self, resolve: &Resolve) -> Result<ErrorQuery, ParamError> {
        let range = values::range(self.from.as_deref(), self.to.as_deref(), resolve)?;
        let mut families = self.family;
        families.sort();
        families.dedup();
        Ok(ErrorQuery { range, streams: self.stream, destinations: self.destination, codes: self.code, families })
    }
}

/// A page of delivery errors.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ErrorPageParams {
    /// Errors per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub size: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 2048)]
    pub cursor: Option<String>,
}

/// The summary's timeline.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IntervalParams {
    /// Timeline bucket: `auto` (default, about 100 buckets) or a width such as `5m`, `1h`, `1d`. At most
    /// 2000 buckets.
    #[param(schema_with = forms::interval)]
    pub interval: Option<String>,
}

/// The correlation view.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CorrelationParams {
    /// `auto` (default, about 100 buckets, at least 1m) or whole minutes such as `5m`, `1h`, `1d`. At
    /// most 2000 buckets.
    #[param(schema_with = forms::minutes_interval)]
    pub interval: Option<String>,
    /// Buckets before each bucket that make its baseline (default 6).
    #[param(minimum = 1, maximum = 100)]
    pub baseline: Option<u32>,
    /// Fraction ingest must fall below the baseline to flag a bucket (default 0.3).
    #[param(minimum = 0.05, maximum = 1)]
    pub min_drop: Option<f64>,
}

/// The incidents view.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentParams {
    /// `auto` (default, about 100 buckets, at least 1m) or whole minutes such as `5m`, `1h`. At most 2000
    /// buckets.
    #[param(schema_with = forms::minutes_interval)]
    pub interval: Option<String>,
    /// Buckets before an incident that make its baseline (default 6).
    #[param(minimum = 1, maximum = 100)]
    pub baseline: Option<u32>,
}

param_set!(ErrorFilterParams, ErrorPageParams, IntervalParams, CorrelationParams, IncidentParams);

const _: () = assert!(crate::query::model::MAX_PAGE_SIZE == 1000, "the page sizes documented here go up to 1000");

impl CorrelationParams {
    pub fn request(&self, query: ErrorQuery) -> Result<BucketRequest, ParamError> {
        bucket_request(query, self.interval.as_deref(), self.baseline, self.min_drop.unwrap_or(0.3))
    }
}

impl IncidentParams {
    pub fn request(&self, query: ErrorQuery) -> Result<BucketRequest, ParamError> {
        bucket_request(query, self.interval.as_deref(), self.baseline, 0.3)
    }
}

/// Intervals are whole minutes (firesight's own refusals are counted per minute).
fn bucket_request(
    query: ErrorQuery,
    interval: Option<&str>,
    baseline: Option<u32>,
    min_drop: f64,
) -> Result<BucketRequest, ParamError> {
    let interval_secs = values::interval(interval, &query.range, 100, MAX_TIMELINE_BUCKETS)?.max(60);
    if interval_secs % 60 != 0 {
        return Err(err("interval", "must be whole minutes (1m, 5m, 1h, 1d) or auto"));
    }
    let rules = Rules { baseline_buckets: baseline.unwrap_or(6) as usize, min_drop };
    Ok(BucketRequest { query, interval_secs, rules })
}
