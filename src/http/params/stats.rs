//! The parameters of the `/v1/stats` aggregates beside the shared filters.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{ParamError, err, forms, param_set};
use crate::query::model::{Dimension, DurationRank, MAX_MIN_REQUESTS, MAX_TOP_LIMIT, Split};

/// `compare`: also answer for the period of the same length just before, with the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    PreviousPeriod,
}

/// `/v1/stats/summary`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SummaryParams {
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    #[param(inline)]
    pub compare: Option<Compare>,
}

/// `rank_by`: what `top/path` orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    #[default]
    Count,
    DurationP95,
    DurationTotal,
}

impl RankBy {
    /// The duration ranking, `None` for `count`.
    pub fn duration(self) -> Option<DurationRank> {
        match self {
            RankBy::Count => None,
            RankBy::DurationP95 => Some(DurationRank::P95),
            RankBy::DurationTotal => Some(DurationRank::Total),
        }
    }
}

/// `/v1/stats/top/{dimension}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TopParams {
    /// Buckets to return (default 10).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `count` (default): most requests first. `duration_p95` or `duration_total` ("slowest
    /// endpoints", dimension `path` only, without `compare`; 400 otherwise): paths ranked by the p95
    /// or the sum of their request durations, highest first, ties by path; only requests with a
    /// duration count, and buckets gain `duration_p95_ms` and `duration_total_ms`.
    #[param(inline)]
    pub rank_by: Option<RankBy>,
    /// With a duration `rank_by`: leave out paths with fewer requests than this (default 1).
    #[param(minimum = 1, maximum = 1000000)]
    pub min_requests: Option<u64>,
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    #[param(inline)]
    pub compare: Option<Compare>,
}

/// `metric`: what a timeline plots beside the request counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineMetric {
    #[default]
    Requests,
    Duration,
}

/// `/v1/stats/timeline`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// `auto` (default, about 100 buckets) or a width: `30s`, `5m`, `1h`, `1d`. At most 2000 buckets.
    #[param(schema_with = forms::interval)]
    pub interval: Option<String>,
    /// `status_class` or a dimension name.
    #[param(schema_with = split_names)]
    pub split: Option<String>,
    /// With a dimension split: values to keep (default 5).
    #[param(minimum = 1, maximum = 20)]
    pub split_limit: Option<u32>,
    /// `requests` (default) or `duration`: each bucket also gains `duration_p50_ms`, `duration_p95_ms`
    /// and `duration_p99_ms` (request-duration percentiles in milliseconds, `null` in buckets without
    /// durations). `duration` takes neither `split` nor `compare` (400).
    #[param(inline)]
    pub metric: Option<TimelineMetric>,
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    #[param(inline)]
    pub compare: Option<Compare>,
}

impl TimelineParams {
    pub fn split(&self) -> Split {
        match self.split.as_deref() {
            None => Split::None,
            Some(STATUS_CLASS) => Split::StatusClass,
            Some(name) => Split::Dimension(
                Dimension::parse(name).expect("checked against the documented names"),
                self.split_limit.unwrap_or(5),
            ),
        }
    }
}

const STATUS_CLASS: &str = "status_class";

/// `split`'s names: `status_class` and every dimension.
fn split_names() -> utoipa::openapi::Object {
    let names = std::iter::once(STATUS_CLASS).chain(Dimension::ALL.iter().map(|d| d.name()));
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(names))
        .build()
}

/// `/v1/stats/visit-times`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VisitTimesParams {
    /// IANA time zone, e.g. `Europe/Berlin` (default `UTC`).
    #[param(schema_with = forms::time_zone)]
    pub tz: Option<String>,
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    #[param(inline)]
    pub compare: Option<Compare>,
}

impl VisitTimesParams {
    pub fn time_zone(&self) -> Result<String, ParamError> {
        let tz = self.tz.clone().unwrap_or_else(|| "UTC".to_owned());
        if tz.parse::<chrono_tz::Tz>().is_err() {
            return Err(err("tz", "must be an IANA time zone such as Europe/Berlin or UTC"));
        }
        Ok(tz)
    }
}

/// `/v1/stats/geo`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GeoParams {
    /// Cities to return (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub city_limit: Option<u32>,
    /// `previous_period`: also answer for the period of the same length just before, with the change.
    #[param(inline)]
    pub compare: Option<Compare>,
}

param_set!(SummaryParams, TopParams, TimelineParams, VisitTimesParams, GeoParams);

const _: () = assert!(MAX_TOP_LIMIT == 1000, "TopParams documents limit up to 1000");
const _: () = assert!(MAX_MIN_REQUESTS == 1_000_000, "TopParams documents min_requests up to 1000000");
