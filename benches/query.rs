//! Read-path benchmark on a fixed data set: the real 10,000-line log replicated to N documents
//! (default 1,000,000) spread over its four days, in the local OpenSearch.
//!
//! `cargo bench --bench query -- [DOCS]`: for each panel of a dashboard (summary, timeline, top
//! countries, top browsers, top paths), the uncached latency through firesight's HTTP API next to the
//! same DSL sent directly to OpenSearch, interleaved in one run; medians and their ratio. Twice: with
//! OpenSearch's shard request cache off on the data set's indices (every request aggregates the
//! documents: the uncached latency), then on (repeats of a closed range answered from that cache).
//! Needs `dev/services.sh up` and `dev/fixtures.sh`. The data set stays in the `bench-query-<N>` indices
//! so later runs skip loading it.

mod common;
use common::{geolite, real_log};

use std::sync::Arc;
use std::time::{Duration, Instant};

use firesight::config::OpenSearchConfig;
use firesight::enrich::{Enricher, GeoIp, UserAgentParser};
use firesight::ingest::{SourceLine, ids, prepare};
use firesight::query::model::{Dimension, Filters, Query, Split, TimeRange, TimelineRequest, TopRequest};
use firesight::store::LogStore;
use firesight::store::opensearch::dsl::aggs;
use firesight::store::opensearch::dsl::fields::FieldMap;
use firesight::store::opensearch::{OpenSearchStore, encode_docs};
use serde_json::Value;

const FROM: &str = "2015-05-17T00:00:00Z";
const TO: &str = "2015-05-21T00:00:00Z";
/// Timed rounds per measurement, after three warm-up rounds.
const ROUNDS: usize = 30;

async fn load(os: &str, prefix: &str, n: usize, http: &reqwest::Client) {
    let count: Value =
        http.get(format!("{os}/{prefix}-*/_count?allow_no_indices=true")).send().await.unwrap().json().await.unwrap();
    // One line of the real log in 10,000 does not parse (it goes to the dead letters).
    if count["count"].as_u64().is_some_and(|c| c <= n as u64 && c >= (n - n / 1000) as u64) {
        println!("data set present: {n} documents in {prefix}-*");
        return;
    }
    let _ = http.delete(format!("{os}/{prefix}-*")).send().await;
    let store = OpenSearchStore::new(&OpenSearchConfig {
        url: os.to_owned(),
        index_prefix: prefix.to_owned(),
        replicas: 0,
        ..Default::default()
    })
    .unwrap();
    store.prepare().await.unwrap();
    let enricher = Enricher::new(Some(GeoIp::open(&geolite(), None).unwrap()), UserAgentParser::new().unwrap());
    let log = real_log();
    let started = Instant::now();
    let mut i = 0usize;
    while i < n {
        let end = (i + 50_000).min(n);
        let lines: Vec<SourceLine> = (i..end)
            .map(|k| SourceLine {
                id: ids::backfill_id(b"bench-query", k as u64),
                text: log[k % log.len()].clone(),
                fallback_time: None,
                firehose: None,
                reject: None,
            })
            .collect();
        let prepared = prepare(lines, &enricher, "bench", chrono::Utc::now());
        for chunk in prepared.docs.chunks(6_990) {
            let r = http
                .post(format!("{os}/_bulk"))
                .header("content-type", "application/x-ndjson")
                .body(encode_docs(prefix, chunk))
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["errors"], false);
        }
        i = end;
    }
    store.refresh().await.unwrap();
    let _ = http.post(format!("{os}/{prefix}-*/_forcemerge?max_num_segments=1")).send().await;
    println!("loaded {n} documents in {:.1} s", started.elapsed().as_secs_f64());
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn run(n: usize) {
    let os = std::env::var("FIRESIGHT_TEST_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".into());
    let http = reqwest::Client::new();
    let prefix = format!("bench-query-{n}");
    load(&os, &prefix, n, &http).await;

    let dir = tempfile::tempdir().unwrap();
    let config = firesight::Config::from_pairs(&[
        ("LISTEN", "127.0.0.1:0".to_owned()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("STORE", "opensearch".to_owned()),
        ("OPENSEARCH__URL", os.clone()),
        ("OPENSEARCH__INDEX_PREFIX", prefix.clone()),
        ("OPENSEARCH__REPLICAS", "0".to_owned()),
        ("API_KEYS", "bench".to_owned()),
        // Every request goes to the store: this measures firesight's overhead, not its cache.
        ("QUERY__CACHE_TTL_CLOSED_SECS", "0".to_owned()),
        ("QUERY__CACHE_TTL_LIVE_SECS", "0".to_owned()),
        ("LOG__LEVEL", "warn".to_owned()),
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(firesight::run(config, listener, shutdown.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;

    let range = TimeRange {
        from: chrono::DateTime::parse_from_rfc3339(FROM).unwrap().to_utc(),
        to: chrono::DateTime::parse_from_rfc3339(TO).unwrap().to_utc(),
    };
    let query = Query { range, filters: Filters::default() };
    let fields = FieldMap::ecs();
    let top =
        |d: Dimension| aggs::top_dsl(&TopRequest { query: query.clone(), dimension: d, limit: 10 }, &fields).unwrap();
    let panels: Vec<(&str, String, Value)> = vec![
        ("summary", format!("/v1/stats/summary?from={FROM}&to={TO}"), aggs::summary_dsl(&query, &fields).unwrap()),
        (
            "timeline",
            format!("/v1/stats/timeline?from={FROM}&to={TO}&interval=1h"),
            aggs::timeline_dsl(
                &TimelineRequest { query: query.clone(), interval_secs: 3600, split: Split::None },
                &aggs::bucket_starts(&range, 3600).unwrap(),
                &[],
                &fields,
            )
            .unwrap(),
        ),
        ("top country", format!("/v1/stats/top/country?from={FROM}&to={TO}"), top(Dimension::Country)),
        ("top browser", format!("/v1/stats/top/browser?from={FROM}&to={TO}"), top(Dimension::Browser)),
        ("top path", format!("/v1/stats/top/path?from={FROM}&to={TO}"), top(Dimension::Path)),
    ];
    let search_url = format!("{os}/{prefix}-*/_search?ignore_unavailable=true&allow_no_indices=true");
    // The floor of any answer through firesight: one loopback HTTP exchange with a handler that does
    // nothing (no store), next to OpenSearch's cheapest answer.
    let (mut live, mut root) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS + 3 {
        let t = Instant::now();
        let r = http.get(format!("{base}/health/live")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        let a = t.elapsed();
        let t = Instant::now();
        let r = http.get(&os).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let _ = r.bytes().await.unwrap();
        if round >= 3 {
            live.push(a);
            root.push(t.elapsed());
        }
    }
    println!(
        "floor        firesight /health/live {:>5.2} ms   OpenSearch GET / {:>5.2} ms",
        median(live).as_secs_f64() * 1e3,
        median(root).as_secs_f64() * 1e3
    );
    // Uncached on both sides first: OpenSearch's shard request cache would otherwise answer every
    // round after the first from memory, without aggregating the documents at all. Then with it, as
    // a dashboard refreshing one closed range gets.
    // BENCH_REQUEST_CACHE=off|on: only that half.
    let only = std::env::var("BENCH_REQUEST_CACHE").ok();
    for cache in [false, true] {
        if only.as_deref().is_some_and(|o| o != if cache { "on" } else { "off" }) {
            continue;
        }
        set_request_cache(&http, &os, &prefix, cache).await;
        println!("OpenSearch shard request cache {}:", if cache { "on" } else { "off" });
        measure(&http, &base, &search_url, &panels).await;
    }
    set_request_cache(&http, &os, &prefix, true).await;
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
}

/// Turns the shard request cache of the data set's indices on or off, and empties it.
async fn set_request_cache(http: &reqwest::Client, os: &str, prefix: &str, on: bool) {
    let r = http
        .put(format!("{os}/{prefix}-*/_settings"))
        .json(&serde_json::json!({ "index.requests.cache.enable": on }))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let r = http.post(format!("{os}/{prefix}-*/_cache/clear?request=true")).send().await.unwrap();
    assert!(r.status().is_success());
}

/// Each panel through firesight and directly, interleaved; medians and their ratio.
async fn measure(http: &reqwest::Client, base: &str, search_url: &str, panels: &[(&str, String, Value)]) {
    let mut total_fs = Duration::ZERO;
    let mut total_os = Duration::ZERO;
    for (name, path, dsl) in panels {
        let body = Arc::new(serde_json::to_vec(dsl).unwrap());
        let (mut via, mut direct) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS + 3 {
            let t = Instant::now();
            let r = http.get(format!("{base}{path}")).bearer_auth("bench").send().await.unwrap();
            assert_eq!(r.status(), 200);
            let _ = r.bytes().await.unwrap();
            let a = t.elapsed();
            let t = Instant::now();
            // Uncompressed, as firesight asks for it: the same bytes on the wire either way.
            let r = http
                .post(search_url)
                .header("content-type", "application/json")
                .header("accept-encoding", "identity")
                .body(body.as_ref().clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let _ = r.bytes().await.unwrap();
            let b = t.elapsed();
            if round >= 3 {
                via.push(a);
                direct.push(b);
            }
        }
        let (a, b) = (median(via), median(direct));
        total_fs += a;
        total_os += b;
        println!(
            "  {name:<12} firesight {:>7.2} ms   direct {:>7.2} ms   ratio {:.2}",
            a.as_secs_f64() * 1e3,
            b.as_secs_f64() * 1e3,
            a.as_secs_f64() / b.as_secs_f64()
        );
    }
    println!(
        "  five panels  firesight {:>7.2} ms   direct {:>7.2} ms   ratio {:.2}",
        total_fs.as_secs_f64() * 1e3,
        total_os.as_secs_f64() * 1e3,
        total_fs.as_secs_f64() / total_os.as_secs_f64()
    );
}

fn main() {
    let n = std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    tokio::runtime::Runtime::new().unwrap().block_on(run(n));
}
