//! Request durations beyond the summary. Request-duration percentiles per timeline interval
//! ([`DurationTimelineRequest`]): the timeline's `date_histogram` with HDR percentiles of the duration
//! in each bucket.
//!
//! "Slowest endpoints" ([`SlowestRequest`]): a `terms` aggregation over the path, ordered by a
//! sub-aggregation of the request durations (the HDR p95, or their sum), then by path; requests without
//! a duration are left out, as are paths with fewer than `min_requests` timed requests
//! (`min_doc_count`). Each daily index returns its best `shard_size` paths (as a top asks) by the same
//! order, so a path could be missed only if it ranked below that many paths in every index it appears in.

use serde_json::{Value, json};

use super::aggs::{
    aggregation, as_count, buckets, doc_count, hdr_percentiles, key_text, ns_to_ms, percentile_value, shard_size,
    total_hits,
};
use super::aggs::{key_millis, millis_to_utc};
use super::fields::{Field, FieldMap};
use super::filters::filter_dsl;
use crate::query::model::{DurationBucket, DurationTimelineRequest, DurationTimelineResult};
use crate::query::model::{
    DurationRank, MAX_MIN_REQUESTS, MAX_TOP_LIMIT, PathDurations, SlowestRequest, SlowestResult,
};
use crate::store::StoreError;

/// Significant digits of the per-path HDR histograms: within 1% of the nearest-rank p95. Every path
/// bucket a daily index returns holds one histogram while the request runs; at 3 digits (the summary's
/// 0.1%) one takes about 100 KB over durations from milliseconds to seconds, at 2 about an eighth of that.
pub const SLOWEST_HDR_DIGITS: u32 = 2;

pub fn slowest_dsl(request: &SlowestRequest, fields: &FieldMap) -> Result<Value, StoreError> {
    if !(1..=MAX_TOP_LIMIT).contains(&request.limit) {
        return Err(StoreError::BadRequest(format!("limit must be 1..={MAX_TOP_LIMIT}")));
    }
    if !(1..=MAX_MIN_REQUESTS).contains(&request.min_requests) {
        return Err(StoreError::BadRequest(format!("min_requests must be 1..={MAX_MIN_REQUESTS}")));
    }
    let path = fields.require(Field::Path)?;
    let duration = fields.require(Field::Duration)?;
    let order = match request.rank_by {
        DurationRank::P95 => "p95[95.0]",
        DurationRank::Total => "total",
    };
    let mut query = filter_dsl(&request.query, fields)?;
    let timed = json!({ "exists": { "field": duration } });
    query = json!({ "bool": { "filter": [query, timed] } });
    Ok(json!({
        "size": 0,
        "track_total_hits": true,
        "query": query,
        "aggs": {
            "missing": { "missing": { "field": path } },
            "slowest": {
                "terms": {
                    "field": path,
                    "size": request.limit,
                    "shard_size": shard_size(request.limit),
                    "min_doc_count": request.min_requests,
                    "order": [{ order: "desc" }, { "_key": "asc" }]
                },
                "aggs": {
                    "p95": { "percentiles": {
                        "field": duration,
                        "percents": [95.0],
                        "keyed": false,
                        "hdr": { "number_of_significant_value_digits": SLOWEST_HDR_DIGITS }
                    }},
                    "total": { "sum": { "field": duration } }
                }
            }
        }
    }))
}

pub fn parse_slowest(answer: &Value) -> SlowestResult {
    let buckets = buckets(aggregation(answer, "slowest"))
        .iter()
        .filter_map(|b| {
            Some(PathDurations {
                key: key_text(b)?,
                count: doc_count(b),
                duration_p95_ms: ns_to_ms(percentile_value(b.get("p95"), 95.0)?),
                duration_total_ms: ns_to_ms(b.pointer("/total/value")?.as_f64()?),
            })
        })
        .collect();
    SlowestResult {
        total: total_hits(answer),
        missing: as_count(aggregation(answer, "missing").and_then(|m| m.get("doc_count"))),
        buckets,
    }
}

pub fn duration_timeline_dsl(
    request: &DurationTimelineRequest,
    starts: &[i64],
    fields: &FieldMap,
) -> Result<Value, StoreError> {
    let ts = fields.require(Field::Timestamp)?;
    let duration = fields.require(Field::Duration)?;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Err(StoreError::BadRequest("the time range is empty".into()));
    };
    Ok(json!({
        "size": 0,
        "query": filter_dsl(&request.query, fields)?,
        "aggs": { "timeline": {
            "date_histogram": {
                "field": ts,
                "fixed_interval": format!("{}s", request.interval_secs),
                "min_doc_count": 0,
                "extended_bounds": { "min": first, "max": last },
                "format": "epoch_millis"
            },
            "aggs": { "durations": hdr_percentiles(duration, &[50.0, 95.0, 99.0]) }
        }}
    }))
}

pub fn parse_duration_timeline(answer: &Value, starts: &[i64]) -> Result<DurationTimelineResult, StoreError> {
    let found: std::collections::BTreeMap<i64, &Value> =
        buckets(aggregation(answer, "timeline")).iter().filter_map(|b| Some((key_millis(b)?, b))).collect();
    let mut out = Vec::with_capacity(starts.len());
    for &start in starts {
        let agg = found.get(&start).and_then(|b| b.get("durations"));
        let p = |q: f64| percentile_value(agg, q).map(ns_to_ms);
        out.push(DurationBucket { start: millis_to_utc(start)?, p50_ms: p(50.0), p95_ms: p(95.0), p99_ms: p(99.0) });
    }
    Ok(DurationTimelineResult { buckets: out })
}
