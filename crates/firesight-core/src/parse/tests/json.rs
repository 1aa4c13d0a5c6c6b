//! JSON records: the Kinesis Agent's `LOGTOJSON` output and Lambda JSON with nested, dotted and flat
//! field names, and the errors a malformed record gets.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Value, json};

use super::*;
use crate::document::{Device, Geo, GeoPoint, Os, Source, User, UserAgent};

#[test]
fn kinesis_agent_records() {
    // The agent's documented example (COMMONAPACHELOG with referrer and agent added as `-`).
    let record = r#"{"host":"64.242.88.10","ident":null,"authuser":null,"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET /mailman/listinfo/hsdivision HTTP/1.1","response":"200","bytes":"6291","referrer":"-","agent":"-"}"#;
    let doc = parsed(record);
    assert_eq!(doc.timestamp, utc("2004-03-08T00:10:02Z"));
    assert_eq!(doc.event.original, record);
    assert_eq!(doc.source.ip, Some(ip("64.242.88.10")));
    assert_eq!(doc.source.address.as_deref(), Some("64.242.88.10"));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.url.path.as_deref(), Some("/mailman/listinfo/hsdivision"));
    assert_eq!(doc.http.version.as_deref(), Some("1.1"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(200), Some(6291)));
    assert_eq!((doc.http.request.referrer.as_ref(), doc.user_agent.as_ref(), doc.user.as_ref()), (None, None, None));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("kinesis_agent_json"));
    assert_eq!(doc.firesight.status_class.as_deref(), Some("2xx"));
    assert!(doc.extra.is_empty());

    // COMBINEDAPACHELOG as the agent's parser names it (`referer`), `-` written as strings, a user.
    let record = r#"{"host":"81.2.69.142","ident":"-","authuser":"bob","datetime":"17/May/2015:10:05:03 +0000","request":"POST /login HTTP/1.0","response":"302","bytes":null,"referer":"https://www.example.com/","agent":"Mozilla/5.0 (X11; Linux x86_64)"}"#;
    let doc = parsed(record);
    assert_eq!(doc.user, Some(User { name: Some("bob".into()) }));
    assert_eq!(doc.http.response.body.bytes, Some(0), "`-` size, nulled by the agent, is 0");
    assert_eq!(doc.http.request.referrer.as_deref(), Some("https://www.example.com/"));
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("www.example.com"));
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("Mozilla/5.0 (X11; Linux x86_64)"));
    assert_eq!(doc.firesight.status_class.as_deref(), Some("3xx"));

    let cases: &[(&str, &str)] = &[
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02","request":"GET / HTTP/1.1","response":"200"}"#,
            "bad timestamp '07/Mar/2004:16:10:02'",
        ),
        (r#"{"host":"1.2.3.4","datetime":null,"request":"GET / HTTP/1.1","response":"200"}"#, "missing datetime"),
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"OK"}"#,
            "status is not a number: 'OK'",
        ),
        (
            r#"{"host":"1.2.3.4","datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1","response":"200","bytes":"12b"}"#,
            "response size is not a number: '12b'",
        ),
        (
            r#"{"host":["1.2.3.4"],"datetime":"07/Mar/2004:16:10:02 -0800","request":"GET / HTTP/1.1"}"#,
            "field 'host' is not a string",
        ),
    ];
    for (record, reason) in cases {
        assert_eq!(parse_line(record).expect_err(record).to_string(), *reason, "{record}");
    }
}

#[test]
fn lambda_json_with_ecs_nested_fields() {
    let record = json!({
        "@timestamp": "2024-03-01T12:00:00.250Z",
        "source": {
            "ip": "81.2.69.142",
            "geo": { "country_iso_code": "GB", "city_name": "London", "location": { "lat": 51.5142, "lon": -0.0931 } },
            "as": { "number": 20712, "organization": { "name": "Andrews & Arnold Ltd" } },
            "port": 51234
        },
        "http": {
            "request": { "method": "get", "referrer": "https://www.google.com/" },
            "response": { "status_code": 404, "body": { "bytes": 512 } },
            "version": "2.0"
        },
        "url": { "original": "/missing/page.HTML?utm_source=x", "domain": "www.example.com" },
        "user_agent": { "original": "Mozilla/5.0 (iPhone)", "name": "Mobile Safari", "os": { "name": "iOS" }, "device": { "name": "iPhone" } },
        "event": { "dataset": "nginx.access", "module": "nginx" },
        "lambda": { "version": "3" }
    })
    .to_string();
    let doc = parsed(&record);
    assert_eq!(doc.timestamp, utc("2024-03-01T12:00:00.250Z"));
    assert_eq!(doc.event.original, record);
    assert_eq!(doc.event.dataset.as_deref(), Some("nginx.access"));
    assert_eq!(doc.source.ip, Some(ip("81.2.69.142")));
    assert_eq!(doc.source.address.as_deref(), Some("81.2.69.142"));
    let geo = doc.source.geo.clone().expect("geo kept");
    assert_eq!(geo.country_iso_code.as_deref(), Some("GB"));
    assert_eq!(geo.city_name.as_deref(), Some("London"));
    assert_eq!(geo.location, Some(GeoPoint { lat: 51.5142, lon: -0.0931 }));
    assert_eq!(doc.source.asn.as_ref().and_then(|a| a.number), Some(20712));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.http.version.as_deref(), Some("2.0"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(404), Some(512)));
    assert_eq!(doc.url.path.as_deref(), Some("/missing/page.HTML"));
    assert_eq!(doc.url.query.as_deref(), Some("utm_source=x"));
    assert_eq!(doc.url.extension.as_deref(), Some("html"));
    assert_eq!(
        doc.user_agent,
        Some(UserAgent {
            original: Some("Mozilla/5.0 (iPhone)".into()),
            name: Some("Mobile Safari".into()),
            version: None,
            os: Some(Arc::new(Os { name: Some("iOS".into()), ..Os::default() })),
            device: Some(Arc::new(Device { name: Some("iPhone".into()) })),
        })
    );
    assert_eq!(doc.firesight.status_class.as_deref(), Some("4xx"));
    assert_eq!(doc.firesight.referrer_host.as_deref(), Some("www.google.com"));
    assert_eq!(doc.firesight.record_format.as_deref(), Some("json"));
    // Unmapped fields under the document's own names become dotted keys; the rest stays as it came.
    let extra: BTreeSet<&str> = doc.extra.keys().map(String::as_str).collect();
    assert_eq!(extra, BTreeSet::from(["event.module", "lambda", "source.port", "url.domain"]));
    assert_eq!(doc.extra["lambda"], json!({ "version": "3" }));
    assert_eq!(doc.extra["source.port"], json!(51234));

    // The document serialises without writing a top-level name twice.
    let text = serde_json::to_string(&doc).expect("serialises");
    let keys = serde_json::from_str::<TopLevelKeys>(&text).expect("JSON object").0;
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "{keys:?}");
}

/// Every top-level key of a JSON object in order, duplicates included (a `Map` would merge them).
struct TopLevelKeys(Vec<String>);

impl<'de> serde::Deserialize<'de> for TopLevelKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = TopLevelKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<TopLevelKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(TopLevelKeys(keys))
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// Filebeat's own output is an ECS document with dotted keys: read back, it gives the same fields as
/// the line it came from.
#[test]
fn lambda_json_with_dotted_ecs_keys() {
    let lines = fixture("edge_cases/elastic-beats/nginx_access_test.log");
    let expected: Vec<Value> =
        serde_json::from_str(&fixture("edge_cases/elastic-beats/nginx_access_test.log-expected.json"))
            .expect("expected JSON");
    for (line, filebeat) in lines.lines().zip(&expected) {
        let from_line = parsed(line);
        let from_json = parsed(&filebeat.to_string());
        assert_eq!(from_json.timestamp, from_line.timestamp, "{line}");
        assert_eq!(from_json.source.ip, from_line.source.ip, "{line}");
        assert_eq!(from_json.source.address, from_line.source.address, "{line}");
        assert_eq!(from_json.http, from_line.http, "{line}");
        assert_eq!(from_json.url, from_line.url, "{line}");
        assert_eq!(from_json.user, from_line.user, "{line}");
        assert_eq!(
            from_json.user_agent.as_ref().and_then(|ua| ua.original.as_ref()),
            from_line.user_agent.as_ref().and_then(|ua| ua.original.as_ref()),
            "{line}"
        );
        assert_eq!(from_json.event.dataset.as_deref(), Some("nginx.access"));
        assert_eq!(from_json.extra["nginx.access.remote_ip_list"], filebeat["nginx.access.remote_ip_list"]);
        assert!(!from_json.extra.contains_key("source.geo.city_name"));
        assert!(!from_json.extra.keys().any(|k| k.starts_with("user_agent.")));
    }
    let berlin = parsed(&expected[2].to_string());
    assert_eq!(
        berlin.source.geo,
        Some(Arc::new(Geo {
            continent_name: Some("Europe".into()),
            country_iso_code: Some("DE".into()),
            region_iso_code: Some("DE-BE".into()),
            region_name: Some("Land Berlin".into()),
            city_name: Some("Berlin".into()),
            location: Some(GeoPoint { lat: 52.4908, lon: 13.3275 }),
            ..Geo::default()
        }))
    );
    assert_eq!(
        berlin.user_agent.and_then(|ua| ua.os).and_then(|os| os.full.clone()).as_deref(),
        Some("Mac OS X 10.12")
    );
}

#[test]
fn lambda_json_with_flat_fields() {
    let record = json!({
        "time": 1715337296123u64,
        "remote_addr": "10.0.3.7",
        "x_forwarded_for": "203.0.113.9, 10.0.0.5",
        "method": "POST",
        "uri": "/api/v1/orders?id=7",
        "protocol": "HTTP/1.1",
        "status": "201",
        "body_bytes_sent": 88,
        "http_referer": "-",
        "http_user_agent": "okhttp/4.9.0",
        "request_time": 0.042,
        "country": "US",
        "city": "Ashburn",
        "browser": "okhttp",
        "os": "Android",
        "device": "Other",
        "geoip": { "country_code2": "US", "location": { "lat": 39.0, "lon": -77.5 } },
        "host": "api.example.com"
    });
    let doc = parsed(&record.to_string());
    assert_eq!(doc.timestamp, utc("2024-05-10T10:34:56.123Z"));
    assert_eq!(doc.source.ip, Some(ip("203.0.113.9")));
    assert_eq!(doc.source.address.as_deref(), Some("203.0.113.9"));
    assert_eq!(doc.firesight.forwarded_for, ["203.0.113.9", "10.0.0.5", "10.0.3.7"]);
    assert_eq!(doc.http.request.method.as_deref(), Some("POST"));
    assert_eq!(doc.http.version.as_deref(), Some("1.1"));
    assert_eq!(doc.url.original.as_deref(), Some("/api/v1/orders?id=7"));
    assert_eq!(doc.url.path.as_deref(), Some("/api/v1/orders"));
    assert_eq!(doc.url.query.as_deref(), Some("id=7"));
    assert_eq!((doc.http.response.status_code, doc.http.response.body.bytes), (Some(201), Some(88)));
    assert_eq!(doc.http.request.referrer, None);
    assert_eq!(doc.user_agent.and_then(|ua| ua.original).as_deref(), Some("okhttp/4.9.0"));
    assert_eq!(doc.source.geo, None, "a Lambda's flat geo is not ECS: kept in extra");
    let mut want = record.as_object().cloned().expect("object");
    for mapped in [
        "time",
        "remote_addr",
        "x_forwarded_for",
        "method",
        "uri",
        "protocol",
        "status",
        "body_bytes_sent",
        "http_referer",
        "http_user_agent",
    ] {
        want.remove(mapped);
    }
    assert_eq!(doc.extra, want);

    // A request line instead of separate fields, epoch seconds, a host name as client.
    let doc = parsed(
        &json!({"timestamp": 1431857103, "ip": "crawler.example.net", "request": "GET /feed.xml HTTP/1.0", "response": 200, "bytes": "-", "user_agent": "Feedly/1.0"})
            .to_string(),
    );
    assert_eq!(doc.timestamp, utc("2015-05-17T10:05:03Z"));
    assert_eq!((doc.source.ip, doc.source.domain.as_deref()), (None, Some("crawler.example.net")));
    assert_eq!(doc.http.request.method.as_deref(), Some("GET"));
    assert_eq!(doc.url.extension.as_deref(), Some("xml"));
    assert_eq!(doc.http.version.as_deref(), Some("1.0"));
    assert_eq!(doc.http.response.body.bytes, Some(0));
    assert!(doc.extra.is_empty(), "{:?}", doc.extra);

    // Path and query given apart; a `source` that is not ECS.
    let doc = parsed(&json!({"date": "2024-01-02 03:04:05", "path": "/a/b.css", "query_string": "v=2", "status": 200, "source": "cloudfront"}).to_string());
    assert_eq!(doc.timestamp, utc("2024-01-02T03:04:05Z"));
    assert_eq!(doc.url.original.as_deref(), Some("/a/b.css?v=2"));
    assert_eq!(doc.url.extension.as_deref(), Some("css"));
    assert_eq!(doc.extra["source_value"], json!("cloudfront"));
    assert_eq!(doc.source, Source::default());
}

#[test]
fn json_errors_say_what_is_wrong() {
    let cases: &[(&str, &str)] = &[
        (r#"{"status": 200, "path": "/"}"#, "no timestamp field"),
        (r#"{"time": "soon", "status": 200}"#, "bad timestamp 'soon'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": "OK"}"#, "status is not a number: 'OK'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": 70000}"#, "status is not a number: '70000'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "status": -1}"#, "status is not a number: '-1'"),
        (r#"{"@timestamp": "2024-01-02T03:04:05Z", "bytes": "lots"}"#, "response size is not a number: 'lots'"),
        (
            r#"{"@timestamp": "2024-01-02T03:04:05Z", "server_port": "http"}"#,
            "field 'destination.port' is not a port number",
        ),
        ("[1, 2]", "no [timestamp] found"),
        ("{", "invalid JSON: EOF while parsing an object at line 1 column 1"),
    ];
    for (record, reason) in cases {
        assert_eq!(parse_line(record).expect_err(record).to_string(), *reason, "{record}");
    }
    assert_eq!(parse_json_record("[1, 2]").expect_err("array").to_string(), "JSON record is not an object");
    assert_eq!(parse_json_record(" ").expect_err("blank").to_string(), "empty line");
}
