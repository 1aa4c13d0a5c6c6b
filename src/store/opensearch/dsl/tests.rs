//! DSL snapshots (insta) of representative requests and parsing of recorded answers.

use chrono::{DateTime, TimeZone, Utc};
use insta::assert_json_snapshot;
use serde_json::json;

use super::aggs::*;
use super::fields::{Field, FieldMap};
use super::filters::filter_dsl;
use super::search::{Cursor, Tiebreak, search_dsl, stored_doc, without_event_id_dsl};
use crate::config::FieldMapConfig;
use crate::query::model::*;
use crate::store::StoreError;

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn query(filters: Filters) -> Query {
    Query { range: TimeRange { from: at(2015, 5, 17, 10, 0), to: at(2015, 5, 20, 0, 0) }, filters }
}

fn ecs() -> FieldMap {
    FieldMap::ecs()
}

/// Kinesis Agent-shaped documents: `{host, response, request, datetime, bytes, referrer, agent}`.
fn agent_fields() -> FieldMap {
    FieldMap::from_config(&FieldMapConfig {
        timestamp: Some("datetime".into()),
        client_ip: Some("host".into()),
        status: Some("response".into()),
        method: Some(String::new()),
        path: Some("request".into()),
        bytes: Some("bytes".into()),
        referrer_host: Some(String::new()),
        country: Some(String::new()),
        country_name: Some(String::new()),
        city: Some(String::new()),
        location: Some(String::new()),
        browser: Some(String::new()),
        os: Some(String::new()),
        device: Some(String::new()),
        user_agent: Some("agent".into()),
        bot: Some(String::new()),
        visitor: Some(String::new()),
        crawler: Some(String::new()),
        crawler_category: Some(String::new()),
        vhost: Some(String::new()),
        duration: Some(String::new()),
    })
}

fn every_filter() -> Filters {
    let mut f = Filters {
        status: vec![StatusFilter::Code(404), StatusFilter::Class(5), StatusFilter::Code(200)],
        method: vec!["POST".into(), "GET".into()],
        path: vec!["/index.html".into()],
        path_prefix: Some("/blog/".into()),
        country: vec!["US".into(), "FR".into()],
        city: vec!["Paris".into()],
        browser: vec!["Chrome".into()],
        os: vec!["Windows".into()],
        device: vec!["iPhone".into()],
        bot: Some(false),
        crawler: vec!["GPTBot".into(), "Googlebot".into()],
        crawler_category: vec!["ai".into()],
        client_ip: vec!["10.0.0.0/8".parse().unwrap(), "2001:db8::1/128".parse().unwrap()],
        referrer_host: vec!["www.google.com".into()],
        vhost: vec!["shop.example".into()],
        q: Some("kibana \"OR\" *:* -x".into()),
    };
    f.normalise();
    f
}

// ------------------------------------------------------------------------------------------------
// filters

#[test]
fn filters_time_range_only() {
    assert_json_snapshot!(filter_dsl(&query(Filters::default()), &ecs()).unwrap());
}

#[test]
fn filters_every_kind() {
    assert_json_snapshot!(filter_dsl(&query(every_filter()), &ecs()).unwrap());
}

#[test]
fn filters_single_status_class_and_bot_true() {
    let f = Filters { status: vec![StatusFilter::Class(4)], bot: Some(true), ..Filters::default() };
    assert_json_snapshot!(filter_dsl(&query(f), &ecs()).unwrap());
}

#[test]
fn filters_on_a_foreign_index() {
    let f = Filters {
        status: vec![StatusFilter::Class(4), StatusFilter::Code(503)],
        path_prefix: Some("GET /blog".into()),
        client_ip: vec!["83.149.9.216/32".parse().unwrap()],
        q: Some("Googlebot*?".into()),
        ..Filters::default()
    };
    assert_json_snapshot!(filter_dsl(&query(f), &agent_fields()).unwrap());
}

#[test]
fn filters_sub_millisecond_bounds_round_up() {
    let mut q = query(Filters::default());
    q.range.from += chrono::Duration::microseconds(1);
    let dsl = filter_dsl(&q, &ecs()).unwrap();
    assert_eq!(
        dsl["bool"]["filter"][0]["range"]["@timestamp"]["gte"],
        json!(at(2015, 5, 17, 10, 0).timestamp_millis() + 1)
    );
}

#[test]
fn filters_on_absent_fields_are_bad_requests() {
    for f in [
        Filters { country: vec!["US".into()], ..Filters::default() },
        Filters { method: vec!["GET".into()], ..Filters::default() },
        Filters { bot: Some(false), ..Filters::default() },
    ] {
        let err = filter_dsl(&query(f), &agent_fields()).unwrap_err();
        assert!(matches!(&err, StoreError::BadRequest(m) if m.contains("not available in this index")), "{err}");
    }
    let no_text = agent_fields().with(Field::Path, None).with(Field::UserAgent, None);
    let f = Filters { q: Some("x".into()), ..Filters::default() };
    assert!(matches!(filter_dsl(&query(f), &no_text), Err(StoreError::BadRequest(_))));
}

#[test]
fn blank_free_text_is_no_filter() {
    let f = Filters { q: Some("   ".into()), ..Filters::default() };
    assert_eq!(filter_dsl(&query(f), &ecs()).unwrap(), filter_dsl(&query(Filters::default()), &ecs()).unwrap());
}

#[test]
fn requests_are_deterministic() {
    let a = serde_json::to_vec(&filter_dsl(&query(every_filter()), &ecs()).unwrap()).unwrap();
    let b = serde_json::to_vec(&filter_dsl(&query(every_filter()), &ecs()).unwrap()).unwrap();
    assert_eq!(a, b);
    let r = TimelineRequest { query: query(every_filter()), interval_secs: 3600, split: Split::StatusClass };
    let starts = bucket_starts(&r.query.range, r.interval_secs).unwrap();
    let a = serde_json::to_vec(&timeline_dsl(&r, &starts, &[], &ecs()).unwrap()).unwrap();
    let b = serde_json::to_vec(&timeline_dsl(&r, &starts, &[], &ecs()).unwrap()).unwrap();
    assert_eq!(a, b);
}

// ------------------------------------------------------------------------------------------------
// top

fn top_request(dimension: Dimension, limit: u32) -> TopRequest {
    TopRequest { query: query(Filters { method: vec!["GET".into()], ..Filters::default() }), dimension, limit }
}

#[test]
fn top_dsl_snapshot() {
    assert_json_snapshot!(top_dsl(&top_request(Dimension::Path, 10), &ecs()).unwrap());
}

#[test]
fn top_shard_size_is_generous_and_capped() {
    assert_eq!(shard_size(1), 1_000);
    assert_eq!(shard_size(10), 1_000);
    assert_eq!(shard_size(100), 2_000);
    assert_eq!(shard_size(1_000), 10_000);
    assert!(matches!(top_dsl(&top_request(Dimension::Path, 0), &ecs()), Err(StoreError::BadRequest(_))));
    assert!(matches!(top_dsl(&top_request(Dimension::Path, 1001), &ecs()), Err(StoreError::BadRequest(_))));
    assert!(matches!(top_dsl(&top_request(Dimension::Country, 10), &agent_fields()), Err(StoreError::BadRequest(_))));
}

#[test]
fn top_parses_numeric_ip_and_keyword_keys() {
    let answer = json!({
        "_shards": { "total": 3, "successful": 3, "skipped": 0, "failed": 0 },
        "hits": { "total": { "value": 10000, "relation": "eq" }, "max_score": null, "hits": [] },
        "aggregations": {
            "distinct": { "value": 8 },
            "missing": { "doc_count": 3 },
            "top": {
                "doc_count_error_upper_bound": 2,
                "sum_other_doc_count": 17,
                "buckets": [
                    { "key": 200, "doc_count": 9126 },
                    { "key": 304, "doc_count": 445 },
                    { "key": "10.0.0.1", "doc_count": 400 },
                    { "key": 404.0, "doc_count": 213 },
                    { "key": 1, "key_as_string": "true", "doc_count": 200 }
                ]
            }
        }
    });
    let r = parse_top(&answer);
    assert_eq!(r.total, 10_000);
    let keys: Vec<&str> = r.buckets.iter().map(|b| b.key.as_str()).collect();
    assert_eq!(keys, ["200", "304", "10.0.0.1", "404", "true"]);
    assert_eq!(r.buckets[0].count, 9126);
    assert_eq!((r.other, r.missing, r.distinct, r.count_error_bound), (17, 3, Some(8), 2));
}

#[test]
fn no_index_answers_zeros() {
    // What OpenSearch answers with allow_no_indices and no matching index: no `aggregations` at all.
    let answer = json!({
        "took": 0, "timed_out": false,
        "_shards": { "total": 0, "successful": 0, "skipped": 0, "failed": 0 },
        "hits": { "total": { "value": 0, "relation": "eq" }, "max_score": 0.0, "hits": [] }
    });
    let top = parse_top(&answer);
    assert_eq!((top.total, top.buckets.len(), top.other, top.missing, top.distinct), (0, 0, 0, 0, Some(0)));
    let s = parse_summary(&answer).unwrap();
    assert_eq!((s.requests, s.bytes, s.unique_visitors, s.bytes_p50, s.busiest_hour), (0, 0, 0, None, None));
    let r = TimelineRequest { query: query(Filters::default()), interval_secs: 86_400, split: Split::StatusClass };
    let starts = bucket_starts(&r.query.range, r.interval_secs).unwrap();
    let t = parse_timeline(&answer, &r, &starts, &[]).unwrap();
    assert_eq!(t.buckets.len(), 3);
    assert!(t.buckets.iter().all(|b| b.count == 0 && b.split.len() == 5 && b.split.values().all(|v| *v == 0)));
    let g = parse_geo(&answer);
    assert!(g.countries.is_empty() && g.cities.is_empty());
}

// ------------------------------------------------------------------------------------------------
// timeline

#[test]
fn bucket_starts_align_to_epoch_multiples() {
    let range = TimeRange { from: at(2015, 5, 17, 10, 5), to: at(2015, 5, 17, 13, 0) };
    let starts = bucket_starts(&range, 3600).unwrap();
    let hours: Vec<DateTime<Utc>> = starts.iter().map(|ms| DateTime::from_timestamp_millis(*ms).unwrap()).collect();
    assert_eq!(hours, [at(2015, 5, 17, 10, 0), at(2015, 5, 17, 11, 0), at(2015, 5, 17, 12, 0)]);
    // 7 h buckets are aligned to multiples of 7 h since 1970-01-01T00:00Z, not to the day.
    let starts = bucket_starts(&range, 7 * 3600).unwrap();
    assert!(starts.iter().all(|s| s % (7 * 3_600_000) == 0));
    assert!(starts[0] <= range.from.timestamp_millis() && starts[0] + 7 * 3_600_000 > range.from.timestamp_millis());
    let empty = TimeRange { from: range.to, to: range.to };
    assert!(bucket_starts(&empty, 60).unwrap().is_empty());
    assert!(matches!(bucket_starts(&range, 0), Err(StoreError::BadRequest(_))));
    let long = TimeRange { from: at(2015, 1, 1, 0, 0), to: at(2016, 1, 1, 0, 0) };
    assert!(matches!(bucket_starts(&long, 60), Err(StoreError::BadRequest(_))));
}

fn timeline_request(split: Split) -> TimelineRequest {
    TimelineRequest {
        query: Query {
            range: TimeRange { from: at(2015, 5, 17, 10, 30), to: at(2015, 5, 17, 13, 0) },
            filters: Filters { bot: Some(false), ..Filters::default() },
        },
        interval_secs: 3600,
        split,
    }
}

#[test]
fn timeline_dsl_snapshots() {
    let r = timeline_request(Split::None);
    let starts = bucket_starts(&r.query.range, r.interval_secs).unwrap();
    assert_json_snapshot!("timeline_plain", timeline_dsl(&r, &starts, &[], &ecs()).unwrap());
    let r = timeline_request(Split::StatusClass);
    assert_json_snapshot!("timeline_status_class", timeline_dsl(&r, &starts, &[], &ecs()).unwrap());
    let r = timeline_request(Split::Dimension(Dimension::Browser, 2));
    assert_json_snapshot!("timeline_split_keys", split_keys_dsl(&r.query, Dimension::Browser, 2, &ecs()).unwrap());
    let keys = ["Chrome".to_owned(), "Firefox".to_owned()];
    assert_json_snapshot!("timeline_dimension", timeline_dsl(&r, &starts, &keys, &ecs()).unwrap());
}

#[test]
fn timeline_parses_and_fills_empty_buckets() {
    let h10 = at(2015, 5, 17, 10, 0).timestamp_millis();
    let h12 = at(2015, 5, 17, 12, 0).timestamp_millis();
    let answer = json!({
        "hits": { "total": { "value": 15, "relation": "eq" }, "hits": [] },
        "aggregations": { "timeline": { "buckets": [
            { "key_as_string": h10.to_string(), "key": h10, "doc_count": 10, "bytes": { "value": 12345.0 },
              "split": { "buckets": { "Chrome": { "doc_count": 6 }, "Firefox": { "doc_count": 1 } } } },
            { "key_as_string": h12.to_string(), "key": h12, "doc_count": 5, "bytes": { "value": 0.0 },
              "split": { "buckets": { "Chrome": { "doc_count": 0 }, "Firefox": { "doc_count": 5 } } } }
        ]}}
    });
    let r = timeline_request(Split::Dimension(Dimension::Browser, 2));
    let starts = bucket_starts(&r.query.range, r.interval_secs).unwrap();
    let keys = ["Chrome".to_owned(), "Firefox".to_owned()];
    let t = parse_timeline(&answer, &r, &starts, &keys).unwrap();
    assert_json_snapshot!("timeline_parsed", t);
}

// ------------------------------------------------------------------------------------------------
// summary, visit times, geo

#[test]
fn summary_dsl_snapshots() {
    assert_json_snapshot!("summary_ecs", summary_dsl(&query(Filters::default()), &ecs()).unwrap());
    // Without a visitor key, unique visitors count client IPs per day; without a bot flag, no bot count.
    assert_json_snapshot!("summary_agent", summary_dsl(&query(Filters::default()), &agent_fields()).unwrap());
}

#[test]
fn summary_parses_a_recorded_answer() {
    let answer = json!({
        "took": 23, "timed_out": false,
        "_shards": { "total": 4, "successful": 4, "skipped": 0, "failed": 0 },
        "hits": { "total": { "value": 10000, "relation": "eq" }, "max_score": null, "hits": [] },
        "aggregations": {
            "bots": { "doc_count": 1517 },
            "bytes": { "value": 2.1958713e9 },
            "bytes_percentiles": { "values": [
                { "key": 50.0, "value": 4379.5 }, { "key": 95.0, "value": 171717.0 }, { "key": 99.0, "value": 1265093.0 }
            ]},
            "client_ips": { "value": 1753 },
            "status": { "buckets": {
                "2xx": { "doc_count": 9126 }, "3xx": { "doc_count": 445 }, "4xx": { "doc_count": 426 }, "5xx": { "doc_count": 3 }
            }},
            "visitors": { "value": 2640.0 },
            "busiest_hour": { "value": 477.0, "keys": ["1431946800000", "1431860400000"] }
        }
    });
    let s = parse_summary(&answer).unwrap();
    assert_json_snapshot!(s);
    assert_eq!(s.busiest_hour.unwrap().start, DateTime::from_timestamp_millis(1_431_860_400_000).unwrap());
}

#[test]
fn visit_times_dsl_and_folding() {
    let r = VisitTimesRequest { query: query(Filters::default()), time_zone: "America/New_York".into() };
    assert_json_snapshot!(visit_times_dsl(&r, &ecs()).unwrap());
    // 2015-05-17 is a Sunday. 14:00Z is 10:00 EDT (Sunday); 03:00Z on Monday is 23:00 EDT Sunday.
    let answer = json!({ "aggregations": { "hours": { "buckets": [
        { "key": at(2015, 5, 17, 14, 0).timestamp_millis(), "doc_count": 4 },
        { "key": at(2015, 5, 18, 3, 0).timestamp_millis(), "doc_count": 2 },
        { "key": at(2015, 5, 18, 4, 0).timestamp_millis(), "doc_count": 1 }
    ]}}});
    let v = parse_visit_times(&answer, &r).unwrap();
    assert_eq!(v.counts.len(), 7);
    assert!(v.counts.iter().all(|d| d.len() == 24));
    assert_eq!(v.counts[6][10], 4);
    assert_eq!(v.counts[6][23], 2);
    assert_eq!(v.counts[0][0], 1);
    assert_eq!(v.counts.iter().flatten().sum::<u64>(), 7);
    let bad = VisitTimesRequest { time_zone: "Mars/Olympus".into(), ..r };
    assert!(matches!(visit_times_dsl(&bad, &ecs()), Err(StoreError::BadRequest(_))));
}

#[test]
fn geo_dsl_and_parsing() {
    let r = GeoRequest { query: query(Filters::default()), city_limit: 20 };
    assert_json_snapshot!(geo_dsl(&r, &ecs()).unwrap());
    assert!(matches!(geo_dsl(&r, &agent_fields()), Err(StoreError::BadRequest(_))));
    let answer = json!({ "aggregations": {
        "countries": { "buckets": [
            { "key": "US", "doc_count": 7, "name": { "buckets": [{ "key": "United States", "doc_count": 7 }] } },
            { "key": "FR", "doc_count": 2, "name": { "buckets": [] } }
        ]},
        "cities": { "buckets": [
            { "key": "Ephrata", "doc_count": 5,
              "country": { "buckets": [{ "key": "US", "doc_count": 5 }] },
              "centroid": { "location": { "lat": 40.17, "lon": -76.17 }, "count": 5 } },
            { "key": "Nowhere", "doc_count": 1, "country": { "buckets": [] }, "centroid": { "count": 0 } }
        ]}
    }});
    assert_json_snapshot!("geo_parsed", parse_geo(&answer));
}

// ------------------------------------------------------------------------------------------------
// search

#[test]
fn search_dsl_snapshots() {
    let q = query(Filters { status: vec![StatusFilter::Class(4)], ..Filters::default() });
    assert_json_snapshot!("search_first_page", search_dsl(&q, Order::Desc, 100, None, Tiebreak::Id, &ecs()).unwrap());
    let cursor =
        Cursor { search_after: vec![json!(1_431_857_103_000i64), json!("abc")], order: Order::Asc, tie: Tiebreak::Id };
    assert_json_snapshot!(
        "search_next_page",
        search_dsl(&q, Order::Asc, 100, Some(&cursor), Tiebreak::Id, &ecs()).unwrap()
    );
}

#[test]
fn ties_by_event_id_sort_on_its_doc_values_and_the_check_looks_for_one_document_without() {
    let q = query(Filters::default());
    let page = search_dsl(&q, Order::Desc, 10, None, Tiebreak::EventId, &ecs()).unwrap();
    assert_eq!(page["sort"][1], json!({ "event.id": { "order": "desc" } }));
    let check = without_event_id_dsl(&q, &ecs()).unwrap();
    assert_eq!(check["size"], 0);
    assert_eq!(check["terminate_after"], 1);
    assert_eq!(check["query"]["bool"]["filter"][0], filter_dsl(&q, &ecs()).unwrap());
    assert_eq!(check["query"]["bool"]["must_not"], json!([{ "exists": { "field": "event.id" } }]));
}

#[test]
fn an_id_written_beside_id_for_the_order_is_not_part_of_the_document() {
    let hit = |id: &str, event_id: &str| {
        json!({ "_id": id, "_source": {
            "@timestamp": "2015-05-17T10:05:03Z", "event": { "id": event_id, "original": "x" },
            "http": { "request": {}, "response": { "body": {} } }, "url": {}, "source": {}, "firesight": {}
        }})
    };
    let own = stored_doc(&hit("abc", "abc"), &ecs()).unwrap();
    assert_eq!((own.id.as_str(), own.doc.event.id.as_deref()), ("abc", None));
    // Written by the Lambda under Firehose's id, or on a time-series collection: the id is the document's.
    let lambda = stored_doc(&hit("firehose-id", "abc"), &ecs()).unwrap();
    assert_eq!((lambda.id.as_str(), lambda.doc.event.id.as_deref()), ("abc", Some("abc")));
}

#[test]
fn firesight_hits_deserialise_and_foreign_hits_are_mapped() {
    let own = json!({
        "_index": "fs-2015.05.17", "_id": "id-1", "sort": [1_431_857_103_000i64, "id-1"],
        "_source": {
            "@timestamp": "2015-05-17T10:05:03Z",
            "event": { "original": "83.149.9.216 - - ..." },
            "source": { "ip": "83.149.9.216" },
            "http": { "request": { "method": "GET" }, "response": { "status_code": 200, "body": { "bytes": 203023 } } },
            "url": { "path": "/a.png" },
            "firesight": { "bot": false },
            "lambda_added": 1
        }
    });
    let doc = stored_doc(&own, &ecs()).unwrap();
    assert_eq!(doc.id, "id-1");
    assert_eq!(doc.doc.http.response.status_code, Some(200));
    assert_eq!(doc.doc.extra.get("lambda_added"), Some(&json!(1)));
    assert!(!doc.doc.extra.contains_key("_source"));

    let foreign = json!({
        "_index": "weblogs-2026-11-25", "_id": "f-1", "sort": [1_795_000_000_000i64, "f-1"],
        "_source": {
            "host": "83.149.9.216", "datetime": "25/Nov/2026:10:00:00 +0000", "request": "GET /a.png HTTP/1.1",
            "response": "404", "bytes": "-", "referrer": "-", "agent": "Mozilla/5.0"
        }
    });
    let doc = stored_doc(&foreign, &agent_fields()).unwrap();
    assert_eq!(doc.doc.timestamp, DateTime::from_timestamp_millis(1_795_000_000_000).unwrap());
    assert_eq!(doc.doc.source.ip, Some("83.149.9.216".parse().unwrap()));
    assert_eq!(doc.doc.http.response.status_code, Some(404));
    assert_eq!(doc.doc.firesight.status_class.as_deref(), Some("4xx"));
    assert_eq!(doc.doc.http.response.body.bytes, Some(0));
    assert_eq!(doc.doc.url.path.as_deref(), Some("GET /a.png HTTP/1.1"));
    assert_eq!(doc.doc.user_agent.as_ref().and_then(|u| u.original.as_deref()), Some("Mozilla/5.0"));
    assert_eq!(doc.doc.extra["_source"], foreign["_source"]);

    // No sort values and a garbage document: still a document, timestamp from the field if it parses.
    let odd = json!({ "_id": "x", "_source": { "datetime": "2026-11-25T10:00:00Z", "response": { "nested": true } } });
    let doc = stored_doc(&odd, &agent_fields()).unwrap();
    assert_eq!(doc.doc.timestamp, at(2026, 11, 25, 10, 0));
    assert_eq!(doc.doc.http.response.status_code, None);
}
