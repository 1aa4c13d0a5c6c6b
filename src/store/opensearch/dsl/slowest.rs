//! "Slowest endpoints" ([`SlowestRequest`]): a `terms` aggregation over the path, ordered by a
//! sub-aggregation of the request durations (the HDR p95, or their sum), then by path; requests without
//! a duration are left out, as are paths with fewer than `min_requests` timed requests
//! (`min_doc_count`). Each daily index returns its best `shard_size` paths by the same order, so a path
//! could be missed only if it ranked below that many paths in every index it appears in.

use serde_json::{Value, json};

use super::aggs::{
    aggregation, as_count, buckets, doc_count, hdr_percentiles, key_text, ns_to_ms, percentile_value, shard_size,
    total_hits,
};
use super::fields::{Field, FieldMap};
use super::filters::filter_dsl;
use crate::query::model::{
    DurationRank, MAX_MIN_REQUESTS, MAX_TOP_LIMIT, PathDurations, SlowestRequest, SlowestResult,
};
use crate::store::StoreError;

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
                    "p95": hdr_percentiles(duration, &[95.0]),
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
