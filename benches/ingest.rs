//! Write-path benchmarks on a fixed data set: the real 10,000-line log (tests/fixtures), replicated.
//!
//! `cargo bench --bench ingest -- parse [LINES]`: parse + enrich on one core (GeoLite2-City 2019 from
//!   `dev/fixtures.sh`), lines/s.
//! `cargo bench --bench ingest -- e2e [LINES]`: Firehose deliveries (10,000 gzip records each, two in
//!   flight) through the real service into the local OpenSearch, next to a direct `_bulk` of the same
//!   already-enriched documents (same chunking, two in flight) in the same run; records/s and the ratio.
//!   Needs `dev/services.sh up`.
//! `cargo bench --bench ingest -- sign [LINES]`: the same prepared documents through the OpenSearch
//!   store's `index` unsigned and signed with SigV4 (static keys; the local node ignores the signature,
//!   so the difference is the signing), alternating rounds in one run; records/s and the ratio.

mod common;
use common::{geolite, real_log};

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use firesight::config::OpenSearchConfig;
use firesight::enrich::{Enricher, GeoIp, UserAgentParser};
use firesight::ingest::{SourceLine, ids, prepare};
use firesight::store::LogStore;
use firesight::store::opensearch::{OpenSearchStore, encode_docs, static_credentials};

fn enricher() -> Enricher {
    Enricher::new(Some(GeoIp::open(&geolite(), None).unwrap()), UserAgentParser::new().unwrap())
}

fn replicated(n: usize) -> Vec<SourceLine> {
    let log = real_log();
    (0..n)
        .map(|i| SourceLine {
            id: ids::backfill_id(b"bench", i as u64),
            text: log[i % log.len()].clone(),
            fallback_time: None,
            firehose: None,
            reject: None,
        })
        .collect()
}

fn parse_bench(n: usize) {
    let enricher = enricher();
    // Batches as the pipeline makes them (a Firehose delivery, a backfill batch): 10,000 lines.
    let batches: Vec<Vec<SourceLine>> = {
        let mut all = replicated(n);
        let mut out = Vec::new();
        while !all.is_empty() {
            let rest = all.split_off(all.len().min(10_000));
            out.push(std::mem::replace(&mut all, rest));
        }
        out
    };
    // Warm the user-agent cache and the database pages, as in a running service.
    let _ = prepare(replicated(10_000), &enricher, "bench", chrono::Utc::now());
    let (mut docs, mut dead) = (0, 0);
    let started = Instant::now();
    for batch in batches {
        let prepared = prepare(batch, &enricher, "bench", chrono::Utc::now());
        docs += prepared.docs.len();
        dead += prepared.dead.len();
    }
    let elapsed = started.elapsed();
    assert_eq!(docs + dead, n);
    println!(
        "parse+enrich: {n} lines on one core in {:.3} s = {:.0} lines/s ({docs} docs, {dead} dead letters)",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
    );
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn e2e_bench(n: usize) {
    let os = std::env::var("FIRESIGHT_TEST_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".into());
    let http = reqwest::Client::new();
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let via_prefix = format!("bench-firehose-{suffix}");
    let direct_prefix = format!("bench-direct-{suffix}");
    let log = real_log();

    // The service, as deployed: its own runtime threads, the real HTTP endpoint.
    let dir = tempfile::tempdir().unwrap();
    let config = firesight::Config::from_pairs(&[
        ("LISTEN", "127.0.0.1:0".to_owned()),
        ("DATA_DIR", dir.path().display().to_string()),
        ("STORE", "opensearch".to_owned()),
        ("OPENSEARCH__URL", os.clone()),
        ("OPENSEARCH__INDEX_PREFIX", via_prefix.clone()),
        ("OPENSEARCH__REPLICAS", "0".to_owned()),
        ("FIREHOSE__ACCESS_KEYS", "bench-key".to_owned()),
        ("GEOIP__CITY_DB", geolite().display().to_string()),
        ("LOG__LEVEL", "warn".to_owned()),
    ])
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/firehose", listener.local_addr().unwrap());
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(firesight::run(config, listener, shutdown.clone()));
    let store = OpenSearchStore::new(&OpenSearchConfig {
        url: os.clone(),
        index_prefix: via_prefix.clone(),
        replicas: 0,
        ..Default::default()
    })
    .unwrap();
    store.prepare().await.unwrap();
    let direct = OpenSearchStore::new(&OpenSearchConfig {
        url: os.clone(),
        index_prefix: direct_prefix.clone(),
        replicas: 0,
        ..Default::default()
    })
    .unwrap();
    direct.prepare().await.unwrap();

    // Both runs start with their daily indices created and the node warm, so neither pays for index
    // creation or JIT warm-up the other skipped.
    for p in [&via_prefix, &direct_prefix] {
        for day in ["2015.05.17", "2015.05.18", "2015.05.19", "2015.05.20"] {
            http.put(format!("{os}/{p}-{day}")).send().await.unwrap();
        }
    }
    let warm = prepare(replicated(20_000), &enricher(), "bench", chrono::Utc::now());
    let warm_prefix = format!("bench-warm-{suffix}");
    for chunk in warm.docs.chunks(6_990) {
        http.post(format!("{os}/_bulk"))
            .header("content-type", "application/x-ndjson")
            .body(encode_docs(&warm_prefix, chunk))
            .send()
            .await
            .unwrap();
    }

    // Deliveries built up front so the client's own work is outside the timing.
    let b64 = base64::engine::general_purpose::STANDARD;
    let deliveries: Vec<(String, Vec<u8>)> = (0..n.div_ceil(10_000))
        .map(|d| {
            let id = format!("bench-{suffix}-{d}");
            let records: Vec<serde_json::Value> = (0..10_000.min(n - d * 10_000))
                .map(|i| serde_json::json!({"data": b64.encode(&log[(d * 10_000 + i) % log.len()])}))
                .collect();
            let body = serde_json::json!({"requestId": id, "timestamp": 1_764_115_200_000i64, "records": records});
            (id, gzip(body.to_string().as_bytes()))
        })
        .collect();
    // The same documents, parsed and enriched before the clock starts, sent straight to _bulk.
    let prepared = prepare(replicated(n), &enricher(), "bench", chrono::Utc::now());
    // The same bulk request sizes the endpoint sends: each 10,000-record delivery in store-sized chunks.
    let bodies: Vec<Vec<u8>> = prepared
        .docs
        .chunks(10_000)
        .flat_map(|delivery| delivery.chunks(6_990).map(|c| encode_docs(&direct_prefix, c)).collect::<Vec<_>>())
        .collect();
    // Four rounds, each a quarter of the deliveries and the same quarter sent directly, the order
    // alternating: neither side always runs first, after the other's merges or on a warmer node.
    let rounds = 4;
    let per_round = deliveries.len().div_ceil(rounds);
    let bodies_per_delivery = bodies.len().div_ceil(deliveries.len().max(1));
    let mut deliveries = deliveries;
    let mut bodies = bodies;
    let (mut via, mut direct_time) = (Duration::ZERO, Duration::ZERO);
    for round in 0..rounds {
        let d: Vec<(String, Vec<u8>)> = deliveries.drain(..per_round.min(deliveries.len())).collect();
        let b: Vec<Vec<u8>> = bodies.drain(..(per_round * bodies_per_delivery).min(bodies.len())).collect();
        if round % 2 == 0 {
            via += send_deliveries(&http, &url, d).await;
            direct_time += send_bulks(&http, &os, b).await;
        } else {
            direct_time += send_bulks(&http, &os, b).await;
            via += send_deliveries(&http, &url, d).await;
        }
    }

    store.refresh().await.unwrap();
    direct.refresh().await.unwrap();
    let count = |p: String| {
        let http = http.clone();
        let os = os.clone();
        async move {
            let v: serde_json::Value =
                http.get(format!("{os}/{p}-*/_count")).send().await.unwrap().json().await.unwrap();
            v["count"].as_u64().unwrap()
        }
    };
    let (a, b) = (count(via_prefix.clone()).await, count(direct_prefix.clone()).await);
    let via_rate = n as f64 / via.as_secs_f64();
    let direct_rate = n as f64 / direct_time.as_secs_f64();
    println!("firehose endpoint: {n} records in {:.2} s = {via_rate:.0} records/s ({a} docs)", via.as_secs_f64());
    println!(
        "direct _bulk:      {n} records in {:.2} s = {direct_rate:.0} records/s ({b} docs)",
        direct_time.as_secs_f64()
    );
    println!("ratio firehose/direct: {:.2}", via_rate / direct_rate);
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    for p in [via_prefix, direct_prefix, warm_prefix] {
        let _ = http
            .delete(format!("{os}/{p}-*,{p}_deadletter?ignore_unavailable=true&allow_no_indices=true"))
            .send()
            .await;
        let _ = http.delete(format!("{os}/_index_template/{p}-template,{p}_deadletter-template")).send().await;
    }
}

/// Sends Firehose deliveries to the endpoint, two in flight; the time it took.
async fn send_deliveries(http: &reqwest::Client, url: &str, deliveries: Vec<(String, Vec<u8>)>) -> Duration {
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(deliveries));
    let mut senders = Vec::new();
    for _ in 0..2 {
        let queue = queue.clone();
        let http = http.clone();
        let url = url.to_owned();
        senders.push(tokio::spawn(async move {
            loop {
                let Some((id, body)) = queue.lock().unwrap().pop() else { break };
                let r = http
                    .post(&url)
                    .header("X-Amz-Firehose-Protocol-Version", "1.0")
                    .header("X-Amz-Firehose-Request-Id", &id)
                    .header("X-Amz-Firehose-Access-Key", "bench-key")
                    .header("Content-Encoding", "gzip")
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    started.elapsed()
}

/// Sends `_bulk` bodies straight to OpenSearch, two in flight; the time it took.
async fn send_bulks(http: &reqwest::Client, os: &str, bodies: Vec<Vec<u8>>) -> Duration {
    let started = Instant::now();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let mut senders = Vec::new();
    // Two by default, as Firehose's two deliveries; BENCH_DIRECT_IN_FLIGHT=4 matches the endpoint's
    // most (two deliveries, each up to two chunks at once).
    let in_flight = std::env::var("BENCH_DIRECT_IN_FLIGHT").ok().and_then(|v| v.parse().ok()).unwrap_or(2);
    for _ in 0..in_flight {
        let queue = queue.clone();
        let http = http.clone();
        let os = os.to_owned();
        senders.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else { break };
                // Uncompressed answers, as firesight asks for them.
                let r = http
                    .post(format!("{os}/_bulk"))
                    .header("content-type", "application/x-ndjson")
                    .header("accept-encoding", "identity")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let v: serde_json::Value = r.json().await.unwrap();
                assert_eq!(v["errors"], false);
            }
        }));
    }
    for s in senders {
        s.await.unwrap();
    }
    started.elapsed()
}

async fn sign_bench(n: usize) {
    let os = std::env::var("FIRESIGHT_TEST_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned());
    let suffix = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let config = |prefix: &str| OpenSearchConfig {
        url: os.clone(),
        index_prefix: prefix.to_owned(),
        replicas: 0,
        ..Default::default()
    };
    let (plain_prefix, signed_prefix) = (format!("bench-plain-{suffix}"), format!("bench-signed-{suffix}"));
    let plain = OpenSearchStore::new(&config(&plain_prefix)).unwrap();
    let signing = static_credentials("AKIAFIRESIGHTBENCH01", "bench/secret/0123456789", "eu-west-1", "es");
    let signed = OpenSearchStore::with_signing(&config(&signed_prefix), signing).unwrap();
    plain.prepare().await.unwrap();
    signed.prepare().await.unwrap();
    let prepared = prepare(replicated(n), &enricher(), "bench", chrono::Utc::now());
    let docs: Vec<_> = prepared.docs;
    // Warm both (index creation, JIT) on the first 10,000 documents, outside the timing.
    let (warm, rest) = docs.split_at(10_000.min(docs.len()));
    plain.index(warm).await.unwrap();
    signed.index(warm).await.unwrap();
    let rounds = 4;
    let quarter = rest.len().div_ceil(rounds);
    let (mut plain_time, mut signed_time) = (Duration::ZERO, Duration::ZERO);
    for (round, part) in rest.chunks(quarter).enumerate() {
        let order = if round % 2 == 0 { [false, true] } else { [true, false] };
        for is_signed in order {
            let store = if is_signed { &signed } else { &plain };
            let started = Instant::now();
            for delivery in part.chunks(10_000) {
                store.index(delivery).await.unwrap();
            }
            *(if is_signed { &mut signed_time } else { &mut plain_time }) += started.elapsed();
        }
    }
    let rate = |t: Duration| rest.len() as f64 / t.as_secs_f64();
    println!(
        "_bulk of {} documents, {rounds} alternating rounds: unsigned {:.0} docs/s, SigV4-signed {:.0} docs/s, signed/unsigned {:.3}",
        rest.len(),
        rate(plain_time),
        rate(signed_time),
        rate(signed_time) / rate(plain_time)
    );
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let hwm = status.lines().find(|l| l.starts_with("VmHWM")).unwrap_or("VmHWM: ?");
    println!("peak RSS of the bench process: {}", hwm.trim_start_matches("VmHWM:").trim());
    let http = reqwest::Client::new();
    for p in [plain_prefix, signed_prefix] {
        let _ = http.delete(format!("{os}/{p}-*")).send().await;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let what = args.first().map(String::as_str).unwrap_or("parse");
    let n: Option<usize> = args.get(1).and_then(|a| a.parse().ok());
    match what {
        "parse" => parse_bench(n.unwrap_or(1_000_000)),
        "e2e" => tokio::runtime::Runtime::new().unwrap().block_on(e2e_bench(n.unwrap_or(200_000))),
        "sign" => tokio::runtime::Runtime::new().unwrap().block_on(sign_bench(n.unwrap_or(200_000))),
        other => panic!("unknown benchmark {other}: use parse, e2e or sign"),
    }
}
