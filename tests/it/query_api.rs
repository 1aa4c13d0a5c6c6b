//! The query API over HTTP against the real OpenSearch holding the real log: every count compared with
//! the test's own counting, pagination and export walked to the end, the cache observed through its
//! metrics, and every validation error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use crate::dataset::{self, Line};
use crate::harness::{self, API_KEY, TestApp};

const RANGE: &str = "from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z";

async fn app() -> (TestApp, &'static dataset::Dataset) {
    let data = dataset::dataset().await;
    let app = TestApp::builder().set("OPENSEARCH__INDEX_PREFIX", data.prefix.clone()).spawn().await;
    (app, data)
}

async fn get_json(app: &TestApp, path: &str) -> Value {
    let r = app.get(path).send().await.unwrap();
    let status = r.status();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn buckets(v: &Value) -> Vec<(String, u64)> {
    v["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["key"].as_str().unwrap().to_owned(), b["count"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn top_n_counts_equal_independent_counting() {
    let (app, data) = app().await;
    let lines = &data.lines;
    type KeyFn = fn(&Line) -> Option<String>;
    let cases: [(&str, KeyFn); 7] = [
        ("status", |l| Some(l.status.to_string())),
        ("method", |l| Some(l.method.clone())),
        ("path", |l| Some(l.path.clone())),
        ("client_ip", |l| Some(l.ip.clone())),
        ("country", |l| l.country.clone()),
        ("browser", |l| l.browser.clone()),
        ("status", |l| Some(l.status.to_string())),
    ];
    for (dimension, key) in cases {
        let v = get_json(&app, &format!("/v1/stats/top/{dimension}?{RANGE}&limit=10")).await;
        let expected = dataset::top(lines, key, 10);
        assert_eq!(buckets(&v), expected, "{dimension}");
        assert_eq!(v["total"], 9_999);
        assert_eq!(v["count_error_bound"], 0, "{dimension}");
        let with_value = lines.iter().filter(|l| key(l).is_some()).count() as u64;
        let in_buckets: u64 = expected.iter().map(|(_, c)| c).sum();
        assert_eq!(v["other"], with_value - in_buckets, "{dimension}");
        assert_eq!(v["missing"], 9_999 - with_value, "{dimension}");
        let share = v["buckets"][0]["share"].as_f64().unwrap();
        assert!((share - expected[0].1 as f64 / 9_999.0).abs() < 1e-4, "{dimension}");
        assert_eq!(v["from"], "2015-05-17T00:00:00Z");
        assert_eq!(v["to"], "2015-05-21T00:00:00Z");
    }
    let v = get_json(&app, &format!("/v1/stats/top/client_ip?{RANGE}&limit=1")).await;
    assert_eq!(v["distinct"], lines.iter().map(|l| &l.ip).collect::<HashSet<_>>().len());
    app.stop().await;
}

#[tokio::test]
async fn filters_narrow_every_count_exactly() {
    let (app, data) = app().await;
    let lines = &data.lines;
    let count = |f: &dyn Fn(&Line) -> bool| lines.iter().filter(|l| f(l)).count() as u64;
    let cases: Vec<(&str, u64)> = vec![
        ("status=404", count(&|l| l.status == 404)),
        ("status=4xx&status=5xx", count(&|l| l.status >= 400)),
        ("method=HEAD", count(&|l| l.method == "HEAD")),
        ("country=FR&country=DE", count(&|l| matches!(l.country.as_deref(), Some("FR" | "DE")))),
        ("browser=Firefox", count(&|l| l.browser.as_deref() == Some("Firefox"))),
        ("path=/favicon.ico", count(&|l| l.path == "/favicon.ico")),
        ("path_prefix=/blog/", count(&|l| l.path.starts_with("/blog/"))),
        ("client_ip=66.249.73.0/24", count(&|l| l.ip.starts_with("66.249.73."))),
        ("client_ip=83.149.9.216", count(&|l| l.ip == "83.149.9.216")),
        (
            "status=200&country=US&method=GET",
            count(&|l| l.status == 200 && l.country.as_deref() == Some("US") && l.method == "GET"),
        ),
    ];
    for (filter, expected) in cases {
        assert!(expected > 0, "{filter} should match something");
        let v = get_json(&app, &format!("/v1/stats/summary?{RANGE}&{filter}")).await;
        assert_eq!(v["requests"], expected, "{filter}");
    }
    app.stop().await;
}

#[tokio::test]
async fn summary_timeline_visit_times_and_geo_equal_independent_counting() {
    let (app, data) = app().await;
    let lines = &data.lines;

    let s = get_json(&app, &format!("/v1/stats/summary?{RANGE}")).await;
    assert_eq!(s["requests"], 9_999);
    assert_eq!(s["bytes"], lines.iter().map(|l| l.bytes).sum::<u64>());
    for class in 2..=5u16 {
        let n = lines.iter().filter(|l| l.status / 100 == class).count() as u64;
        assert_eq!(s[format!("status_{class}xx")], n, "{class}xx");
    }
    assert_eq!(s["unique_client_ips"], lines.iter().map(|l| &l.ip).collect::<HashSet<_>>().len());
    // GoAccess's visitor: distinct (IP, user agent) per day, summed over days. Exact at this size.
    let visitors: HashSet<(String, String, chrono::NaiveDate)> =
        lines.iter().map(|l| (l.ip.clone(), l.user_agent.clone(), l.time.date_naive())).collect();
    assert_eq!(s["unique_visitors"], visitors.len());
    let mut sizes: Vec<u64> = lines.iter().map(|l| l.bytes).collect();
    sizes.sort();
    let exact_p50 = sizes[sizes.len() / 2] as f64;
    let p50 = s["bytes_p50"].as_f64().unwrap();
    assert!((p50 - exact_p50).abs() <= exact_p50 * 0.02 + 1.0, "p50 {p50} vs {exact_p50}");
    let by_hour = {
        let mut m: BTreeMap<String, u64> = BTreeMap::new();
        for l in lines {
            *m.entry(l.time.format("%Y-%m-%dT%H:00:00Z").to_string()).or_default() += 1;
        }
        m
    };
    let (busiest, n) = by_hour.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).unwrap();
    assert_eq!(s["busiest_hour"]["start"], *busiest);
    assert_eq!(s["busiest_hour"]["requests"], *n);

    let t = get_json(&app, &format!("/v1/stats/timeline?{RANGE}&interval=1h")).await;
    let got: BTreeMap<String, u64> = t["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["count"].as_u64().unwrap() > 0)
        .map(|b| (b["start"].as_str().unwrap().to_owned(), b["count"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, by_hour);
    assert_eq!(t["buckets"].as_array().unwrap().len(), 96, "every hour of the 4 days, empty ones included");

    let t = get_json(&app, &format!("/v1/stats/timeline?{RANGE}&interval=1d&split=status_class")).await;
    let day = &t["buckets"][1];
    let day_lines: Vec<&Line> = lines.iter().filter(|l| l.time.format("%d").to_string() == "18").collect();
    assert_eq!(day["count"], day_lines.len());
    assert_eq!(day["split"]["4xx"], day_lines.iter().filter(|l| l.status / 100 == 4).count());

    let v = get_json(&app, &format!("/v1/stats/visit-times?{RANGE}&tz=America/New_York")).await;
    let tz: chrono_tz::Tz = "America/New_York".parse().unwrap();
    let mut expected = vec![vec![0u64; 24]; 7];
    for l in lines {
        let local = l.time.with_timezone(&tz);
        use chrono::{Datelike, Timelike};
        expected[local.weekday().num_days_from_monday() as usize][local.hour() as usize] += 1;
    }
    let got: Vec<Vec<u64>> = serde_json::from_value(v["counts"].clone()).unwrap();
    assert_eq!(got, expected);
    assert_eq!(v["by_hour"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).sum::<u64>(), 9_999);

    let g = get_json(&app, &format!("/v1/stats/geo?{RANGE}&city_limit=5")).await;
    let mut by_country: HashMap<String, u64> = HashMap::new();
    for l in lines {
        if let Some(c) = &l.country {
            *by_country.entry(c.clone()).or_default() += 1;
        }
    }
    let countries = g["countries"].as_array().unwrap();
    assert_eq!(countries.len(), by_country.len());
    for c in countries {
        assert_eq!(c["count"], by_country[c["iso_code"].as_str().unwrap()], "{c}");
    }
    assert_eq!(countries[0]["iso_code"], "US");
    assert_eq!(g["cities"].as_array().unwrap().len(), 5);
    assert!(g["cities"][0]["lat"].is_number());
    app.stop().await;
}

#[tokio::test]
async fn comparison_with_the_previous_period() {
    let (app, data) = app().await;
    // 18 May against 17 May.
    let day = |d: u32| data.lines.iter().filter(|l| l.time.format("%d").to_string() == format!("{d}")).count() as u64;
    let s =
        get_json(&app, "/v1/stats/summary?from=2015-05-18T00:00:00Z&to=2015-05-19T00:00:00Z&compare=previous_period")
            .await;
    assert_eq!(s["requests"], day(18));
    assert_eq!(s["previous"]["requests"], day(17));
    assert_eq!(s["previous"]["from"], "2015-05-17T00:00:00Z");
    let change = s["change"]["requests"].as_f64().unwrap();
    let expected = (day(18) as f64 - day(17) as f64) / day(17) as f64;
    assert!((change - expected).abs() < 1e-3, "{change} vs {expected}");
    let t = get_json(
        &app,
        "/v1/stats/top/status?from=2015-05-18T00:00:00Z&to=2015-05-19T00:00:00Z&compare=previous_period",
    )
    .await;
    assert_eq!(t["previous"]["total"], day(17));
    let ok_17 = data.lines.iter().filter(|l| l.status == 200 && l.time.format("%d").to_string() == "17").count();
    assert_eq!(t["buckets"][0]["key"], "200");
    assert_eq!(t["buckets"][0]["previous_count"], ok_17);
    app.stop().await;
}

#[tokio::test]
async fn pagination_and_export_return_every_document_once() {
    let (app, _) = app().await;
    for order in ["desc", "asc"] {
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut last_time: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut path = format!("/v1/logs?{RANGE}&size=700&order={order}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", urlencode(c)));
            }
            let page = get_json(&app, &path).await;
            pages += 1;
            for item in page["items"].as_array().unwrap() {
                assert!(seen.insert(item["id"].as_str().unwrap().to_owned()), "duplicate {}", item["id"]);
                let t = item["@timestamp"].as_str().unwrap().to_owned();
                if let Some(prev) = &last_time {
                    if order == "desc" { assert!(&t <= prev) } else { assert!(&t >= prev) }
                }
                last_time = Some(t);
            }
            match page.get("next_cursor").and_then(Value::as_str) {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(pages < 100);
        }
        assert_eq!(seen.len(), 9_999, "{order}");
    }

    let csv = app.get(&format!("/v1/logs/export?{RANGE}&format=csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let text = csv.text().await.unwrap();
    assert!(text.ends_with("\r\n"), "every CSV record ends with CRLF");
    let mut rows = harness::csv_records(&text).into_iter();
    let header = rows.next().unwrap();
    assert_eq!(header[..4], ["id", "timestamp", "client_ip", "country"]);
    let ids: HashSet<String> = rows
        .map(|mut r| {
            assert_eq!(r.len(), header.len(), "{r:?}");
            r.swap_remove(0)
        })
        .collect();
    assert_eq!(ids.len(), 9_999);

    let nd = app
        .client
        .get(app.url(&format!("/v1/logs/export?{RANGE}&status=404")))
        .bearer_auth(API_KEY)
        .header("accept", "application/x-ndjson")
        .send()
        .await
        .unwrap();
    assert_eq!(nd.headers()["content-type"], "application/x-ndjson");
    let text = nd.text().await.unwrap();
    let docs: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let expected_404 = dataset::dataset().await.lines.iter().filter(|l| l.status == 404).count();
    assert_eq!(docs.len(), expected_404);
    assert!(docs.iter().all(|d| d["http"]["response"]["status_code"] == 404));
    app.stop().await;
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse::<f64>().unwrap() as u64)
        .unwrap_or(0)
}

#[tokio::test]
async fn the_cache_answers_repeats_coalesces_misses_and_expires() {
    let os = harness::require_opensearch().await;
    let app = TestApp::builder()
        .set("QUERY__CACHE_TTL_CLOSED_SECS", "10")
        .set("QUERY__CACHE_TTL_LIVE_SECS", "10")
        .spawn()
        .await;
    assert_eq!(app.wait_ready(Duration::from_secs(60)).await["status"], "ready");
    let client = crate::firehose_client::FirehoseClient::new(&app.base);
    let lines = harness::real_log_lines();
    let first: Vec<Vec<u8>> = lines[..100].iter().map(|l| l.as_bytes().to_vec()).collect();
    assert_eq!(client.deliver("cache-1", &first).await.status, 200);
    firesight_refresh(&os, &app.index_prefix).await;
    let path = format!("/v1/stats/summary?{RANGE}");
    let metrics = |app: &TestApp| {
        let app_url = app.url("/metrics");
        let c = app.client.clone();
        async move { c.get(app_url).send().await.unwrap().text().await.unwrap() }
    };

    // Sixteen identical concurrent misses: one store query.
    let before = metrics(&app).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let req = app.get(&path);
        tasks.push(tokio::spawn(async move { req.send().await.unwrap().json::<Value>().await.unwrap() }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap()["requests"], 100);
    }
    let after = metrics(&app).await;
    assert_eq!(
        metric(&after, "firesight_query_cache_misses_total") - metric(&before, "firesight_query_cache_misses_total"),
        1
    );
    assert_eq!(
        metric(&after, "firesight_query_cache_hits_total") - metric(&before, "firesight_query_cache_hits_total"),
        15
    );

    // A repeat is a hit with validators; If-None-Match gets 304.
    let r = app.get(&path).send().await.unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    assert!(r.headers()["cache-control"].to_str().unwrap().starts_with("private, max-age="));
    let r = app.get(&path).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), 304);

    // New data of the range's days (late: older than a minute) is visible at once: the cached answer
    // over its days is not served again.
    let more: Vec<Vec<u8>> = lines[100..150].iter().map(|l| l.as_bytes().to_vec()).collect();
    assert_eq!(client.deliver("cache-2", &more).await.status, 200);
    firesight_refresh(&os, &app.index_prefix).await;
    let fresh = app.get(&path).send().await.unwrap();
    assert_ne!(fresh.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(fresh.json::<Value>().await.unwrap()["requests"], 150);

    // An answer lives for its TTL (10 s here), then is loaded again. (Answers built within 5 s of a
    // late write are loaded again anyway, the store may not have shown it yet: wait that out first.)
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let misses = |text: &str| metric(text, "firesight_query_cache_misses_total");
    let m0 = misses(&metrics(&app).await);
    assert_eq!(get_json(&app, &path).await["requests"], 150);
    assert_eq!(get_json(&app, &path).await["requests"], 150);
    let m1 = misses(&metrics(&app).await);
    assert_eq!(m1 - m0, 1, "loaded once, then a hit");
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert_eq!(get_json(&app, &path).await["requests"], 150);
    assert_eq!(misses(&metrics(&app).await) - m1, 1, "expired, loaded again");
    harness::drop_prefix(&os, &app.index_prefix).await;
    app.stop().await;
}

async fn firesight_refresh(os: &str, prefix: &str) {
    harness::http().post(format!("{os}/{prefix}-*/_refresh")).send().await.unwrap();
}

#[tokio::test]
async fn every_bad_parameter_is_a_problem_naming_it() {
    let app = TestApp::builder().set("OPENSEARCH__URL", "http://127.0.0.1:9").spawn().await;
    let cases = [
        ("/v1/stats/top/planet", "dimension", "country, city"),
        ("/v1/stats/top/country?limit=0", "limit", "1 to 1000"),
        ("/v1/stats/top/country?limit=5000", "limit", "1 to 1000"),
        ("/v1/stats/top/country?colour=red", "colour", "accepts"),
        ("/v1/stats/summary?status=999", "status", "4xx"),
        ("/v1/stats/summary?from=now-2000d", "from", "at most"),
        ("/v1/stats/summary?from=tomorrow", "from", "RFC 3339"),
        ("/v1/stats/summary?client_ip=not-an-ip", "client_ip", "CIDR"),
        ("/v1/stats/summary?bot=yes", "bot", "true, false"),
        ("/v1/stats/timeline?interval=1s&from=now-30d", "interval", "at most 2000"),
        ("/v1/stats/timeline?split=weather", "split", "status_class"),
        ("/v1/stats/visit-times?tz=Mars/Olympus", "tz", "IANA"),
        ("/v1/stats/geo?city_limit=-1", "city_limit", "1 to 1000"),
        ("/v1/logs?size=100000", "size", "1 to 1000"),
        ("/v1/logs?order=sideways", "order", "desc, asc"),
        ("/v1/logs/export?format=xlsx", "format", "csv, ndjson"),
    ];
    for (path, field, hint) in cases {
        let r = app.get(path).send().await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert_eq!(r.headers()["content-type"], "application/problem+json", "{path}");
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["code"], "invalid_parameter", "{path}");
        assert_eq!(p["field"], field, "{path}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(hint), "{path}: {p}");
    }
    for path in [
        "/v1/logs",
        "/v1/logs/export",
        "/v1/stats/top/country",
        "/v1/stats/timeline",
        "/v1/stats/summary",
        "/v1/stats/visit-times",
        "/v1/stats/geo",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    // The store is down: a valid query gets 503, not a stack trace.
    let r = app.get("/v1/stats/summary").send().await.unwrap();
    assert_eq!(r.status(), 503);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["code"], "unavailable");
    assert!(!p["detail"].as_str().unwrap().contains("127.0.0.1"));
    app.stop().await;
}
