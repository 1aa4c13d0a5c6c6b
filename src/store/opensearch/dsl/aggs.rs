//! Aggregation requests (top, timeline, summary, visit times, geo): the DSL each sends and how its answer
//! becomes the model's result. Every request has `size: 0`, is built in a fixed order (same request →
//! same bytes) and is answered with zeros when no index matches yet (the answer then has no
//! `aggregations` at all, which every parser here treats as empty).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};

use super::fields::{Field, FieldMap, absent};
use super::filters::{filter_dsl, status_class_query};
use crate::query::model::{
    CityCount, CountryCount, Dimension, GeoRequest, GeoResult, HourCount, KeyCount, MAX_TOP_LIMIT, Query, Split,
    SummaryResult, TimeRange, TimelineBucket, TimelineRequest, TimelineResult, TopRequest, TopResult,
    VisitTimesRequest, VisitTimesResult,
};
use crate::store::StoreError;

/// Exact below this many distinct values (the largest `precision_threshold` OpenSearch accepts).
pub const PRECISION_THRESHOLD: u32 = 40_000;

/// Significant decimal digits of the HDR histogram behind the response-size percentiles: the answer
/// is within 0.1% of the exact nearest-rank value. The t-digest OpenSearch uses by default lands 1-2%
/// off on heavy-tailed sizes with gaps (the real test log); at the compression that kept it within 1%
/// (500) it took 1.7-3.6 s of a 1,000,000-document summary, where HDR takes 0.07-0.4 s.
pub const HDR_DIGITS: u32 = 3;

/// How many countries a geo answer may list (there are fewer than 250).
pub const MAX_COUNTRIES: u32 = 300;

/// Terms each shard returns for the final top `size`: generous, so that counts are exact on realistic
/// data spread over daily indices (a value must be outside the top `shard_size` of some shard to be
/// miscounted). 20× the size, at least 1,000, at most 10,000 (and never below the size).
pub fn shard_size(size: u32) -> u32 {
    size.saturating_mul(20).clamp(1_000, 10_000).max(size)
}

/// Most requests first, ties by key ascending (the field's own order: numeric for status codes,
/// address order for IPs, lexicographic for keywords).
fn terms(field: &str, size: u32) -> Value {
    json!({ "terms": {
        "field": field,
        "size": size,
        "shard_size": shard_size(size),
        "order": [{ "_count": "desc" }, { "_key": "asc" }]
    }})
}

fn status_classes(field: &str, classes: impl IntoIterator<Item = u8>) -> Value {
    let filters: Map<String, Value> =
        classes.into_iter().map(|c| (format!("{c}xx"), status_class_query(field, c))).collect();
    json!({ "filters": { "filters": filters } })
}

// ---------------------------------------------------------------------------------------------------
// Answer helpers

pub fn aggregation<'a>(answer: &'a Value, name: &str) -> Option<&'a Value> {
    answer.get("aggregations")?.get(name)
}

/// A count or a sum: integers as they are, floats rounded, anything else 0.
pub fn as_count(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or_else(|| n.as_f64().map_or(0, |f| f.max(0.0).round() as u64)),
        _ => 0,
    }
}

pub fn total_hits(answer: &Value) -> u64 {
    let total = answer.pointer("/hits/total");
    match total {
        Some(Value::Object(o)) => as_count(o.get("value")),
        other => as_count(other),
    }
}

pub fn doc_count(bucket: &Value) -> u64 {
    as_count(bucket.get("doc_count"))
}

pub fn buckets(agg: Option<&Value>) -> &[Value] {
    agg.and_then(|a| a.get("buckets")).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// A terms bucket's key as text: strings as they are (keywords, IPs), integers without a fraction
/// (status codes `404`), booleans and dates through `key_as_string`.
pub fn key_text(bucket: &Value) -> Option<String> {
    match bucket.get("key")? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => {
            if let Some(s) = bucket.get("key_as_string").and_then(Value::as_str) {
                return Some(s.to_owned());
            }
            if let Some(i) = n.as_i64() {
                Some(i.to_string())
            } else if let Some(u) = n.as_u64() {
                Some(u.to_string())
            } else {
                let f = n.as_f64()?;
                Some(if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", f as i64) } else { f.to_string() })
            }
        }
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub fn key_millis(bucket: &Value) -> Option<i64> {
    let key = bucket.get("key")?;
    key.as_i64().or_else(|| key.as_f64().map(|f| f as i64)).or_else(|| key.as_str()?.parse().ok())
}

fn key_counts(agg: Option<&Value>) -> Vec<KeyCount> {
    buckets(agg).iter().filter_map(|b| Some(KeyCount { key: key_text(b)?, count: doc_count(b) })).collect()
}

pub fn millis_to_utc(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Protocol(format!("bucket key {ms} is not a valid time").into()))
}

// ---------------------------------------------------------------------------------------------------
// top

pub fn top_dsl(request: &TopRequest, fields: &FieldMap) -> Result<Value, StoreError> {
    if !(1..=MAX_TOP_LIMIT).contains(&request.limit) {
        return Err(StoreError::BadRequest(format!("limit must be 1..={MAX_TOP_LIMIT}")));
    }
    let field = fields.require(Field::of(request.dimension))?;
    Ok(json!({
        "size": 0,
        "track_total_hits": true,
        "query": filter_dsl(&request.query, fields)?,
        "aggs": {
            "top": terms(field, request.limit),
            "missing": { "missing": { "field": field } },
            "distinct": { "cardinality": { "field": field, "precision_threshold": PRECISION_THRESHOLD } }
        }
    }))
}

pub fn parse_top(answer: &Value) -> TopResult {
    let top = aggregation(answer, "top");
    TopResult {
        total: total_hits(answer),
        buckets: key_counts(top),
        other: as_count(top.and_then(|t| t.get("sum_other_doc_count"))),
        missing: as_count(aggregation(answer, "missing").and_then(|m| m.get("doc_count"))),
        distinct: Some(as_count(aggregation(answer, "distinct").and_then(|d| d.get("value")))),
        // -1 means "unknown", which count-ordered terms never report; clamp rather than fail.
        count_error_bound: top
            .and_then(|t| t.get("doc_count_error_upper_bound"))
            .and_then(Value::as_i64)
            .map_or(0, |e| e.max(0) as u64),
    }
}

// ---------------------------------------------------------------------------------------------------
// timeline

/// Start (epoch ms) of every bucket of the timeline grid ([`crate::store::bucket_grid`]).
pub fn bucket_starts(range: &TimeRange, interval_secs: u64) -> Result<Vec<i64>, StoreError> {
    let (first, interval, count) = crate::store::bucket_grid(range, interval_secs)?;
    Ok((0..count as i64).map(|i| first + i * interval).collect())
}

/// The first step of a dimension split: the top `n` values over the whole range.
pub fn split_keys_dsl(query: &Query, dimension: Dimension, n: u32, fields: &FieldMap) -> Result<Value, StoreError> {
    let field = fields.require(Field::of(dimension))?;
    Ok(json!({
        "size": 0,
        "query": filter_dsl(query, fields)?,
        "aggs": { "top": terms(field, n) }
    }))
}

pub fn parse_split_keys(answer: &Value) -> Vec<String> {
    key_counts(aggregation(answer, "top")).into_iter().map(|k| k.key).collect()
}

/// The timeline request; `split_keys` are the dimension split's keys from [`split_keys_dsl`].
pub fn timeline_dsl(
    request: &TimelineRequest,
    starts: &[i64],
    split_keys: &[String],
    fields: &FieldMap,
) -> Result<Value, StoreError> {
    let ts = fields.require(Field::Timestamp)?;
    let (Some(first), Some(last)) = (starts.first(), starts.last()) else {
        return Err(StoreError::BadRequest("the time range is empty".into()));
    };
    let mut sub = Map::new();
    if let Some(bytes) = fields.get(Field::Bytes) {
        sub.insert("bytes".into(), json!({ "sum": { "field": bytes } }));
    }
    match request.split {
        Split::None => {}
        Split::StatusClass => {
            sub.insert("split".into(), status_classes(fields.require(Field::Status)?, 1..=5));
        }
        Split::Dimension(dimension, _) => {
            let field = fields.require(Field::of(dimension))?;
            if !split_keys.is_empty() {
                let filters: Map<String, Value> =
                    split_keys.iter().map(|k| (k.clone(), json!({ "term": { field: k } }))).collect();
                sub.insert("split".into(), json!({ "filters": { "filters": filters } }));
            }
        }
    }
    let mut histogram = json!({ "date_histogram": {
        "field": ts,
        "fixed_interval": format!("{}s", request.interval_secs),
        "min_doc_count": 0,
        "extended_bounds": { "min": first, "max": last },
        "format": "epoch_millis"
    }});
    if !sub.is_empty() {
        histogram["aggs"] = Value::Object(sub);
    }
    Ok(json!({
        "size": 0,
        "query": filter_dsl(&request.query, fields)?,
        "aggs": { "timeline": histogram }
    }))
}

pub fn parse_timeline(
    answer: &Value,
    request: &TimelineRequest,
    starts: &[i64],
    split_keys: &[String],
) -> Result<TimelineResult, StoreError> {
    let found: BTreeMap<i64, &Value> =
        buckets(aggregation(answer, "timeline")).iter().filter_map(|b| Some((key_millis(b)?, b))).collect();
    let mut out = Vec::with_capacity(starts.len());
    for &start in starts {
        let bucket = found.get(&start).copied();
        let count = bucket.map_or(0, doc_count);
        let bytes = as_count(bucket.and_then(|b| b.pointer("/bytes/value")));
        let split_counts =
            |key: &str| as_count(bucket.and_then(|b| b.get("split")?.get("buckets")?.get(key)?.get("doc_count")));
        let mut split = BTreeMap::new();
        match request.split {
            Split::None => {}
            Split::StatusClass => {
                for class in 1..=5 {
                    let key = format!("{class}xx");
                    let n = split_counts(&key);
                    split.insert(key, n);
                }
            }
            Split::Dimension(..) => {
                let mut top_sum = 0;
                for key in split_keys {
                    let n = split_counts(key);
                    top_sum += n;
                    split.insert(key.clone(), n);
                }
                split.insert("other".to_owned(), count.saturating_sub(top_sum));
            }
        }
        out.push(TimelineBucket { start: millis_to_utc(start)?, count, bytes, split });
    }
    Ok(TimelineResult { buckets: out })
}

// ---------------------------------------------------------------------------------------------------
// summary

/// HDR percentiles of a numeric field ([`HDR_DIGITS`]: within 0.1% of the nearest-rank value).
pub fn hdr_percentiles(field: &str, percents: &[f64]) -> Value {
    json!({ "percentiles": {
        "field": field,
        "percents": percents,
        "keyed": false,
        "hdr": { "number_of_significant_value_digits": HDR_DIGITS }
    }})
}

/// One value of a `percentiles` answer (`keyed: false`); `None` without values. Whole units: HDR
/// answers with a point inside the value's bucket (10575.97 for 10576).
pub fn percentile_value(agg: Option<&Value>, p: f64) -> Option<f64> {
    agg?.get("values")?
        .as_array()?
        .iter()
        .find(|v| v.get("key").and_then(Value::as_f64) == Some(p))?
        .get("value")?
        .as_f64()
        .map(f64::round)
}

/// Nanoseconds (`event.duration`) as milliseconds.
pub fn ns_to_ms(ns: f64) -> f64 {
    ns / 1e6
}

/// Exclude the per-day and per-hour buckets from the answer: only their pipeline results are read.
pub const SUMMARY_FILTER_PATH: &str = "-aggregations.days,-aggregations.hours";

pub fn summary_dsl(query: &Query, fields: &FieldMap) -> Result<Value, StoreError> {
    let ts = fields.require(Field::Timestamp)?;
    let mut aggs = Map::new();
    if let Some(bytes) = fields.get(Field::Bytes) {
        aggs.insert("bytes".into(), json!({ "sum": { "field": bytes } }));
        aggs.insert("bytes_percentiles".into(), hdr_percentiles(bytes, &[50.0, 95.0, 99.0]));
    }
    if let Some(duration) = fields.get(Field::Duration) {
        aggs.insert("duration_percentiles".into(), hdr_percentiles(duration, &[50.0, 90.0, 95.0, 99.0]));
        aggs.insert("duration_max".into(), json!({ "max": { "field": duration } }));
        aggs.insert("duration_count".into(), json!({ "value_count": { "field": duration } }));
    }
    if let Some(ip) = fields.get(Field::ClientIp) {
        aggs.insert(
            "client_ips".into(),
            json!({ "cardinality": { "field": ip, "precision_threshold": PRECISION_THRESHOLD } }),
        );
    }
    // Unique visitors: distinct visitor keys per UTC day (fixed 1d buckets are aligned to the epoch, i.e.
    // to UTC midnight), summed; client IPs stand in where the index has no visitor key.
    if let Some(visitor) = fields.get(Field::Visitor).or(fields.get(Field::ClientIp)) {
        aggs.insert(
            "days".into(),
            json!({
                "date_histogram": { "field": ts, "fixed_interval": "1d", "min_doc_count": 1, "format": "epoch_millis" },
                "aggs": { "visitors": { "cardinality": { "field": visitor, "precision_threshold": PRECISION_THRESHOLD } } }
            }),
        );
        aggs.insert("visitors".into(), json!({ "sum_bucket": { "buckets_path": "days>visitors" } }));
    }
    aggs.insert(
        "hours".into(),
        json!({ "date_histogram": { "field": ts, "fixed_interval": "1h", "min_doc_count": 1, "format": "epoch_millis" } }),
    );
    aggs.insert("busiest_hour".into(), json!({ "max_bucket": { "buckets_path": "hours>_count" } }));
    if let Some(status) = fields.get(Field::Status) {
        aggs.insert("status".into(), status_classes(status, 2..=5));
    }
    if let Some(bot) = fields.get(Field::Bot) {
        aggs.insert("bots".into(), json!({ "filter": { "term": { bot: true } } }));
    }
    Ok(json!({
        "size": 0,
        "track_total_hits": true,
        "query": filter_dsl(query, fields)?,
        "aggs": aggs
    }))
}

pub fn parse_summary(answer: &Value) -> Result<SummaryResult, StoreError> {
    let status = |class: &str| {
        as_count(aggregation(answer, "status").and_then(|s| s.pointer(&format!("/buckets/{class}/doc_count"))))
    };
    let percentile = |p: f64| percentile_value(aggregation(answer, "bytes_percentiles"), p);
    let duration = |p: f64| percentile_value(aggregation(answer, "duration_percentiles"), p).map(ns_to_ms);
    let busiest_hour = match aggregation(answer, "busiest_hour") {
        Some(max) if max.get("value").is_some_and(|v| !v.is_null()) => max
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str()?.parse::<i64>().ok())
            .min()
            .map(|ms| Ok::<_, StoreError>(HourCount { start: millis_to_utc(ms)?, count: as_count(max.get("value")) }))
            .transpose()?,
        _ => None,
    };
    Ok(SummaryResult {
        requests: total_hits(answer),
        unique_visitors: as_count(aggregation(answer, "visitors").and_then(|v| v.get("value"))),
        unique_client_ips: as_count(aggregation(answer, "client_ips").and_then(|v| v.get("value"))),
        bytes: as_count(aggregation(answer, "bytes").and_then(|v| v.get("value"))),
        status_2xx: status("2xx"),
        status_3xx: status("3xx"),
        status_4xx: status("4xx"),
        status_5xx: status("5xx"),
        bot_requests: as_count(aggregation(answer, "bots").and_then(|v| v.get("doc_count"))),
        bytes_p50: percentile(50.0),
        bytes_p95: percentile(95.0),
        bytes_p99: percentile(99.0),
        duration_p50_ms: duration(50.0),
        duration_p90_ms: duration(90.0),
        duration_p95_ms: duration(95.0),
        timed_requests: as_count(aggregation(answer, "duration_count").and_then(|v| v.get("value"))),
        duration_p99_ms: duration(99.0),
        duration_max_ms: aggregation(answer, "duration_max").and_then(|m| m.get("value")?.as_f64()).map(ns_to_ms),
        busiest_hour,
    })
}

// ---------------------------------------------------------------------------------------------------
// visit times

pub fn time_zone(name: &str) -> Result<Tz, StoreError> {
    name.parse::<Tz>().map_err(|_| {
        StoreError::BadRequest(format!("unknown time zone '{name}' (use an IANA name such as Europe/Paris)"))
    })
}

pub fn visit_times_dsl(request: &VisitTimesRequest, fields: &FieldMap) -> Result<Value, StoreError> {
    let tz = time_zone(&request.time_zone)?;
    let ts = fields.require(Field::Timestamp)?;
    Ok(json!({
        "size": 0,
        "query": filter_dsl(&request.query, fields)?,
        "aggs": { "hours": { "date_histogram": {
            "field": ts,
            "calendar_interval": "1h",
            "time_zone": tz.name(),
            "min_doc_count": 1,
            "format": "epoch_millis"
        }}}
    }))
}

/// Folds local hours into `counts[weekday][hour]` in the request's zone. Each bucket key is the UTC
/// instant its local hour starts, so chrono-tz gives the weekday and hour (DST's repeated hour lands in
/// the same cell twice, as it should).
pub fn parse_visit_times(answer: &Value, request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
    let tz = time_zone(&request.time_zone)?;
    let mut counts = vec![vec![0u64; 24]; 7];
    for bucket in buckets(aggregation(answer, "hours")) {
        let Some(ms) = key_millis(bucket) else { continue };
        let local = tz.from_utc_datetime(&millis_to_utc(ms)?.naive_utc());
        counts[local.weekday().num_days_from_monday() as usize][local.hour() as usize] += doc_count(bucket);
    }
    Ok(VisitTimesResult { counts })
}

// ---------------------------------------------------------------------------------------------------
// geo

pub fn geo_dsl(request: &GeoRequest, fields: &FieldMap) -> Result<Value, StoreError> {
    let country = fields.get(Field::Country);
    let city = fields.get(Field::City);
    if country.is_none() && city.is_none() {
        return Err(absent(Field::Country));
    }
    let mut aggs = Map::new();
    if let Some(country) = country {
        let mut agg = terms(country, MAX_COUNTRIES);
        if let Some(name) = fields.get(Field::CountryName) {
            agg["aggs"] = json!({ "name": { "terms": { "field": name, "size": 1 } } });
        }
        aggs.insert("countries".into(), agg);
    }
    if let (Some(city), true) = (city, request.city_limit > 0) {
        let mut sub = Map::new();
        if let Some(country) = country {
            sub.insert("country".into(), json!({ "terms": { "field": country, "size": 1 } }));
        }
        if let Some(location) = fields.get(Field::Location) {
            sub.insert("centroid".into(), json!({ "geo_centroid": { "field": location } }));
        }
        let mut agg = terms(city, request.city_limit.min(MAX_TOP_LIMIT));
        if !sub.is_empty() {
            agg["aggs"] = Value::Object(sub);
        }
        aggs.insert("cities".into(), agg);
    }
    Ok(json!({
        "size": 0,
        "query": filter_dsl(&request.query, fields)?,
        "aggs": aggs
    }))
}

pub fn parse_geo(answer: &Value) -> GeoResult {
    let first_key = |bucket: &Value, sub: &str| buckets(bucket.get(sub)).first().and_then(key_text);
    let countries = buckets(aggregation(answer, "countries"))
        .iter()
        .filter_map(|b| Some(CountryCount { iso_code: key_text(b)?, name: first_key(b, "name"), count: doc_count(b) }))
        .collect();
    let cities = buckets(aggregation(answer, "cities"))
        .iter()
        .filter_map(|b| {
            let location = b.pointer("/centroid/location");
            Some(CityCount {
                name: key_text(b)?,
                country_iso_code: first_key(b, "country"),
                lat: location.and_then(|l| l.get("lat")).and_then(Value::as_f64),
                lon: location.and_then(|l| l.get("lon")).and_then(Value::as_f64),
                count: doc_count(b),
            })
        })
        .collect();
    GeoResult { countries, cities }
}
