//! The scenario log with request durations and virtual hosts, on both stores: every line of the real log
//! gets a virtual host in front and a request time at the end (deterministic per line), in a custom
//! nginx format. Every expectation is computed here from those lines: duration percentiles by nearest
//! rank (exact on the embedded store, within the 0.1% HDR bound on OpenSearch), the slowest paths by a
//! sort, the virtual hosts by counting.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::firehose_client::FirehoseClient;
use crate::harness::{TestApp, real_log_lines};

const FORMAT: &str = "$host $remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \
                      \"$http_referer\" \"$http_user_agent\" $request_time";
const RANGE: [(&str, &str); 2] = [("from", "2015-05-17T00:00:00Z"), ("to", "2015-05-21T00:00:00Z")];
const VHOSTS: [&str; 3] = ["a.example", "b.example", "shop.example"];
/// The HDR bound the OpenSearch adapter states for percentiles.
const HDR: f64 = 0.001;
/// The bound it states for the slowest paths' p95.
const SLOWEST_HDR: f64 = 0.01;

/// One timed line: (virtual host, path, milliseconds, the line in `FORMAT`).
fn timed_lines() -> Vec<(&'static str, String, u64, String)> {
    real_log_lines()
        .iter()
        // One line of the log leaves its user agent's quote open, which a log format does not read.
        .filter(|line| line.matches('"').count() == 6)
        .enumerate()
        .map(|(i, line)| {
            let vhost = VHOSTS[i % VHOSTS.len()];
            let ms = (i as u64 * 7919) % 5000 + 1;
            let request = line.split('"').nth(1).unwrap_or_default();
            let target = request.split(' ').nth(1).unwrap_or_default();
            let path = target.split('?').next().unwrap_or_default().to_owned();
            (vhost, path, ms, format!("{vhost} {line} {}.{:03}", ms / 1000, ms % 1000))
        })
        .collect()
}

/// The UTC day (`YYYY-MM-DD`) of a line's `[time_local]`.
fn utc_day(line: &str) -> String {
    let stamp = line.split('[').nth(1).and_then(|r| r.split(']').next()).unwrap();
    let t = chrono::DateTime::parse_from_str(stamp, "%d/%b/%Y:%H:%M:%S %z").unwrap();
    t.with_timezone(&chrono::Utc).format("%Y-%m-%d").to_string()
}

fn nearest_rank(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().clamp(1.0, sorted.len() as f64) as usize;
    sorted[rank - 1] as f64
}

async fn start(store: &str, lines: &[String]) -> TestApp {
    let app = TestApp::builder()
        .set("STORE", store)
        .set("PARSE__LOG_FORMAT", FORMAT)
        .set("QUERY__CACHE_TTL_CLOSED_SECS", "0")
        .set("QUERY__CACHE_TTL_LIVE_SECS", "0")
        .spawn()
        .await;
    if store == "opensearch" {
        let ready = app.wait_ready(std::time::Duration::from_secs(60)).await;
        assert_eq!(ready["status"], "ready", "{ready}");
    }
    let client = FirehoseClient::new(&app.url(""));
    for (n, chunk) in lines.chunks(1_000).enumerate() {
        let records: Vec<Vec<u8>> = chunk.iter().map(|l| l.as_bytes().to_vec()).collect();
        let reply = client.deliver(&format!("timed-load-{n}"), &records).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    if store == "opensearch" {
        let url = format!("{}/{}-*/_refresh", crate::harness::opensearch_url(), app.index_prefix);
        assert!(crate::harness::http().post(url).send().await.unwrap().status().is_success());
    }
    app
}

async fn get(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Value {
    let mut q: Vec<(&str, &str)> = RANGE.to_vec();
    q.extend_from_slice(query);
    let response = app.get(path).query(&q).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{path} {query:?}: {body}");
    body
}

fn close(found: &Value, expected: f64, tolerance: f64, what: &str) {
    let f = found.as_f64().unwrap_or_else(|| panic!("{what}: {found}, expected {expected}"));
    assert!((f - expected).abs() <= tolerance * expected.abs().max(1e-9), "{what}: {f}, expected {expected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn durations_and_virtual_hosts_answer_alike_on_both_stores() {
    crate::harness::require_opensearch().await;
    let timed = timed_lines();
    let lines: Vec<String> = timed.iter().map(|t| t.3.clone()).collect();
    let (opensearch, embedded) = tokio::join!(start("opensearch", &lines), start("embedded", &lines));

    let mut all: Vec<u64> = timed.iter().map(|t| t.2).collect();
    all.sort_unstable();
    let mut per_vhost: BTreeMap<&str, u64> = BTreeMap::new();
    let mut per_path: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (vhost, path, ms, _) in &timed {
        *per_vhost.entry(vhost).or_default() += 1;
        per_path.entry(path.clone()).or_default().push(*ms);
    }
    per_path.values_mut().for_each(|v| v.sort_unstable());

    for (store, app, tolerance) in [("opensearch", &opensearch, HDR), ("embedded", &embedded, 0.0)] {
        // Summary: nearest-rank percentiles and the maximum.
        let s = get(app, "/v1/stats/summary", &[]).await;
        assert_eq!(s["requests"], lines.len() as u64, "[{store}] every timed line is a request");
        for (field, p) in [("duration_p50_ms", 50.0), ("duration_p95_ms", 95.0), ("duration_p99_ms", 99.0)] {
            close(&s[field], nearest_rank(&all, p), tolerance, &format!("[{store}] {field}"));
        }
        close(&s["duration_max_ms"], *all.last().unwrap() as f64, 0.0, &format!("[{store}] duration_max_ms"));
        // No durations in the selection: null.
        let none = get(app, "/v1/stats/summary", &[("vhost", "none.example")]).await;
        assert_eq!((none["requests"].as_u64(), &none["duration_p95_ms"]), (Some(0), &Value::Null), "[{store}]");

        // Virtual hosts: top and filter.
        let top = get(app, "/v1/stats/top/vhost", &[]).await;
        let found: BTreeMap<&str, u64> = top["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].as_str().unwrap(), b["count"].as_u64().unwrap()))
            .collect();
        assert_eq!(found, per_vhost, "[{store}] top/vhost");
        for vhost in VHOSTS {
            let s = get(app, "/v1/stats/summary", &[("vhost", vhost)]).await;
            assert_eq!(s["requests"].as_u64(), Some(per_vhost[vhost]), "[{store}] vhost={vhost}");
        }

        // Slowest endpoints: a sort of the paths with at least 20 requests.
        for (rank_by, min) in [("duration_p95", "20"), ("duration_total", "5")] {
            let value = |v: &[u64]| match rank_by {
                "duration_p95" => nearest_rank(v, 95.0),
                _ => v.iter().sum::<u64>() as f64,
            };
            let mut expected: Vec<(&String, f64, u64)> = per_path
                .iter()
                .filter(|(_, v)| v.len() as u64 >= min.parse::<u64>().unwrap())
                .map(|(k, v)| (k, value(v), v.len() as u64))
                .collect();
            expected.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
            expected.truncate(10);
            let query = [("rank_by", rank_by), ("min_requests", min), ("limit", "10")];
            let found = get(app, "/v1/stats/top/path", &query).await;
            let buckets = found["buckets"].as_array().unwrap();
            assert_eq!(buckets.len(), expected.len(), "[{store}] {rank_by}: {found}");
            let field = format!("{rank_by}_ms");
            for (i, (b, (key, v, count))) in buckets.iter().zip(&expected).enumerate() {
                let what = format!("[{store}] {rank_by} #{i}");
                // The HDR estimate may order paths within its bound differently: the value at each
                // rank is checked within the bound, the path and count exactly where the store is exact.
                close(
                    &b[&field],
                    *v,
                    if rank_by == "duration_total" { 1e-12 } else { if tolerance == 0.0 { 0.0 } else { SLOWEST_HDR } },
                    &what,
                );
                if tolerance == 0.0 || rank_by == "duration_total" {
                    assert_eq!((b["key"].as_str(), b["count"].as_u64()), (Some(key.as_str()), Some(*count)), "{what}");
                }
            }
        }
        let refused = app.get("/v1/stats/top/country").query(&[("rank_by", "duration_p95")]).send().await.unwrap();
        assert_eq!(refused.status().as_u16(), 400, "[{store}] rank_by on another dimension");

        // Timeline: percentiles per day.
        let timeline = get(app, "/v1/stats/timeline", &[("metric", "duration"), ("interval", "1d")]).await;
        for b in timeline["buckets"].as_array().unwrap() {
            let day = &b["start"].as_str().unwrap()[..10];
            let mut values: Vec<u64> = timed.iter().filter(|t| utc_day(&t.3) == day).map(|t| t.2).collect();
            values.sort_unstable();
            if values.is_empty() {
                assert_eq!(b["duration_p50_ms"], Value::Null, "[{store}] {day}");
                continue;
            }
            for (field, p) in [("duration_p50_ms", 50.0), ("duration_p95_ms", 95.0), ("duration_p99_ms", 99.0)] {
                close(&b[field], nearest_rank(&values, p), tolerance, &format!("[{store}] {day} {field}"));
            }
        }
    }
}
