//! One scenario suite, two stores (and OpenSearch three more ways: signed with SigV4 for Amazon OpenSearch
//! Service, and as a Serverless search and time-series collection, each through the verifying proxy): every file in `tests/scenarios/` is a list of requests to the `/v1`
//! API with the expected response. The same real log (10,000 lines, GeoLite2-City) goes through the
//! Firehose endpoint of a service on OpenSearch and of a service on the embedded store, with the same
//! request ids (so the same document ids), and every scenario must pass on both.
//!
//! Matching: every key of an expected object must be present and match (keys the file leaves out are not
//! checked); arrays match element by element and have the expected length; strings, booleans and nulls
//! exactly; numbers exactly, except at the JSON pointers a scenario lists under `approx` (relative
//! tolerance, for the metrics the API documents as approximate); pointers under `ignore` are skipped
//! (store-specific cursors; `event.ingested`, the time each store indexed a document, always). Pointers may use `*` for any array index. A problem's `request_id` is
//! never part of the expectation.
//!
//! `FIRESIGHT_TEST_RECORD_SCENARIOS=1` rewrites each file's `expect` with what the OpenSearch service
//! answered (for a new scenario); the suite then still checks both stores against the recorded answer.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::dataset::geolite2_city;
use crate::firehose_client::FirehoseClient;
use crate::harness::{TestApp, TestAppBuilder, real_log_lines};
use crate::sigv4::{self, SigV4Proxy};

/// When each store indexed a document differs by nature.
const ALWAYS_IGNORED: [&str; 2] = ["/items/*/event/ingested", "/*/event/ingested"];

fn scenario_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios"))
}

/// The real log through the Firehose endpoint, 1,000 records per delivery.
async fn load(app: &TestApp) {
    let client = FirehoseClient::new(&app.url(""));
    let lines = real_log_lines();
    for (n, chunk) in lines.chunks(1_000).enumerate() {
        let records: Vec<Vec<u8>> = chunk.iter().map(|l| l.as_bytes().to_vec()).collect();
        let reply = client.deliver(&format!("scenario-load-{n}"), &records).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

async fn start(store: &str) -> TestApp {
    start_with(TestApp::builder().set("STORE", store), store == "opensearch").await
}

/// A service on OpenSearch through the SigV4-verifying proxy (`sigv4.rs`), as on AWS.
async fn start_signed(proxy: &SigV4Proxy, service: &str, collection: &str) -> TestApp {
    start_with(sigv4::through(proxy, service, collection), true).await
}

async fn start_with(builder: TestAppBuilder, opensearch: bool) -> TestApp {
    let app = builder
        .set("GEOIP__CITY_DB", geolite2_city().display().to_string())
        .set("QUERY__CACHE_TTL_CLOSED_SECS", "0")
        .set("QUERY__CACHE_TTL_LIVE_SECS", "0")
        .spawn()
        .await;
    if opensearch {
        // Templates first, as a delivery right after the start would otherwise create the day's index
        // without them.
        let ready = app.wait_ready(std::time::Duration::from_secs(60)).await;
        assert_eq!(ready["status"], "ready", "{ready}");
    }
    load(&app).await;
    if opensearch {
        // Durable is not yet searchable: OpenSearch shows new documents at its next refresh (on AWS,
        // Serverless refreshes by itself; here the test does it on the cluster behind the proxy).
        let url = format!("{}/{}-*/_refresh", crate::harness::opensearch_url(), app.index_prefix);
        let refreshed = crate::harness::http().post(url).send().await.unwrap();
        assert!(refreshed.status().is_success());
    }
    app
}

async fn call(app: &TestApp, request: &Value) -> (u16, Value) {
    let path = request["path"].as_str().expect("request.path");
    let mut query: Vec<(String, String)> = Vec::new();
    if let Some(params) = request.get("query").and_then(Value::as_object) {
        for (k, v) in params {
            match v {
                Value::Array(values) => query.extend(values.iter().map(|v| (k.clone(), plain(v)))),
                v => query.push((k.clone(), plain(v))),
            }
        }
    }
    let response = app.get(path).query(&query).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = response.text().await.unwrap();
    let body = if content_type.contains("ndjson") {
        Value::Array(text.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
    } else if content_type.contains("json") {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    } else {
        Value::String(text)
    };
    (status, body)
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Whether `pointer` (with `*` for any index) names `at`.
fn pointer_matches(pointer: &str, at: &str) -> bool {
    let (p, a): (Vec<&str>, Vec<&str>) = (pointer.split('/').collect(), at.split('/').collect());
    p.len() == a.len() && p.iter().zip(&a).all(|(p, a)| *p == "*" || p == a)
}

struct Rules<'a> {
    approx: Vec<(&'a str, f64)>,
    ignore: Vec<&'a str>,
}

fn compare(expected: &Value, found: &Value, at: &str, rules: &Rules, errors: &mut Vec<String>) {
    if rules.ignore.iter().any(|p| pointer_matches(p, at)) {
        return;
    }
    match (expected, found) {
        (Value::Object(e), Value::Object(f)) => {
            for (k, ev) in e {
                let child = format!("{at}/{k}");
                match f.get(k) {
                    Some(fv) => compare(ev, fv, &child, rules, errors),
                    None => errors.push(format!("{child}: missing (expected {ev})")),
                }
            }
        }
        (Value::Array(e), Value::Array(f)) => {
            if e.len() != f.len() {
                errors.push(format!("{at}: {} elements, expected {}", f.len(), e.len()));
            }
            for (i, (ev, fv)) in e.iter().zip(f).enumerate() {
                compare(ev, fv, &format!("{at}/{i}"), rules, errors);
            }
        }
        (Value::Number(e), Value::Number(f)) => {
            let (e, f) = (e.as_f64().unwrap(), f.as_f64().unwrap());
            let tolerance = rules.approx.iter().find(|(p, _)| pointer_matches(p, at)).map_or(0.0, |(_, t)| *t);
            if (e - f).abs() > tolerance * e.abs().max(1.0) {
                errors.push(format!("{at}: {f}, expected {e} (tolerance {tolerance})"));
            }
        }
        (e, f) if e == f => {}
        (e, f) => errors.push(format!("{at}: {f}, expected {e}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_scenario_passes_on_opensearch_and_on_the_embedded_store() {
    crate::harness::require_opensearch().await;
    let (es_proxy, search_proxy, timeseries_proxy) = (
        SigV4Proxy::start("es", "search"),
        SigV4Proxy::start("aoss", "search"),
        SigV4Proxy::start("aoss", "timeseries"),
    );
    let (opensearch, embedded) = tokio::join!(start("opensearch"), start("embedded"));
    let (signed_es, serverless_search, serverless_timeseries) = tokio::join!(
        start_signed(&es_proxy, "es", "search"),
        start_signed(&search_proxy, "aoss", "search"),
        start_signed(&timeseries_proxy, "aoss", "timeseries"),
    );
    let stores = [
        ("opensearch", &opensearch),
        ("embedded", &embedded),
        ("opensearch via SigV4 (es)", &signed_es),
        ("serverless search collection (aoss)", &serverless_search),
        ("serverless time-series collection (aoss)", &serverless_timeseries),
    ];
    let record = std::env::var_os("FIRESIGHT_TEST_RECORD_SCENARIOS").is_some();

    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no scenario in {}", scenario_dir().display());
    let mut failures = Vec::new();
    let mut covered = std::collections::BTreeSet::new();
    let mut count = 0;
    for file in files {
        let mut scenarios: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for scenario in &mut scenarios {
            let name = format!("{}: {}", file.file_name().unwrap().to_string_lossy(), scenario["name"]);
            let request = scenario["request"].clone();
            covered.insert(route(request["path"].as_str().unwrap()));
            count += 1;
            if record {
                let (status, body) = call(&opensearch, &request).await;
                scenario["status"] = json!(status);
                scenario["expect"] = body;
                if let Some(problem) = scenario["expect"].as_object_mut() {
                    problem.remove("request_id");
                }
            }
            let rules = Rules {
                approx: scenario["approx"]
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_f64().unwrap())).collect())
                    .unwrap_or_default(),
                ignore: scenario["ignore"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .chain(ALWAYS_IGNORED)
                    .collect(),
            };
            for (store, app) in stores {
                let (status, body) = call(app, &request).await;
                let mut errors = Vec::new();
                if Some(u64::from(status)) != scenario["status"].as_u64() {
                    errors.push(format!("status {status}, expected {}", scenario["status"]));
                }
                compare(&scenario["expect"], &body, "", &rules, &mut errors);
                if !errors.is_empty() {
                    failures.push(format!("[{store}] {name}\n    {}", errors.join("\n    ")));
                }
            }
        }
        if record {
            let mut text = serde_json::to_string_pretty(&scenarios).unwrap();
            text.push('\n');
            std::fs::write(&file, text).unwrap();
        }
    }
    assert!(failures.is_empty(), "{} of {count} scenarios failed:\n{}", failures.len(), failures.join("\n"));
    // Every request of those services was signed as AWS wants, with Serverless operations only.
    es_proxy.assert_clean("scenarios, es").await;
    search_proxy.assert_clean("scenarios, aoss search").await;
    timeseries_proxy.assert_clean("scenarios, aoss timeseries").await;
    // Every read endpoint of the query API has at least one scenario.
    for endpoint in [
        "/v1/logs",
        "/v1/logs/export",
        "/v1/stats/summary",
        "/v1/stats/timeline",
        "/v1/stats/top/{dimension}",
        "/v1/stats/visit-times",
        "/v1/stats/geo",
    ] {
        assert!(covered.contains(endpoint), "no scenario for {endpoint}: {covered:?}");
    }
}

fn route(path: &str) -> String {
    match path.strip_prefix("/v1/stats/top/") {
        Some(_) => "/v1/stats/top/{dimension}".to_owned(),
        None => path.to_owned(),
    }
}
