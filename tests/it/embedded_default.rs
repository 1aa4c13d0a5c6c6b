//! The default mode as a newcomer meets it: the `firesight` binary itself, no configuration but a data
//! directory, on the embedded store. `serve --demo` answers every dashboard panel with the sample, and a
//! process killed (SIGKILL) in the middle of a Firehose delivery stream keeps every acknowledged record,
//! once; old records delivered late refresh the cached answers over their days.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::dataset::geolite2_city;
use crate::firehose_client::{ACCESS_KEY, FirehoseClient};
use crate::harness::{API_KEY, http};

/// The real binary, started in `dir` (its default data directory `./firesight-data` lands there) with
/// no `FIRESIGHT_*` setting but `env`.
pub(crate) struct Process {
    pub child: Child,
    pub base: String,
    /// What the process printed on standard output.
    pub stdout: std::sync::mpsc::Receiver<String>,
}

impl Process {
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, String)]) -> Process {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_firesight"));
        command.current_dir(dir).arg("serve").arg("--listen").arg(format!("127.0.0.1:{port}")).args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("FIRESIGHT_") {
                command.env_remove(key);
            }
        }
        command.env("FIRESIGHT_LOG__LEVEL", "warn");
        for (key, value) in env {
            command.env(format!("FIRESIGHT_{key}"), value);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start firesight");
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Process { child, base: format!("http://127.0.0.1:{port}"), stdout }
    }

    pub async fn wait_live(&mut self) {
        for _ in 0..600 {
            assert!(self.child.try_wait().unwrap().is_none(), "firesight exited during start");
            if http().get(format!("{}/health/live", self.base)).send().await.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("firesight did not become live");
    }

    pub async fn get(&self, key: &str, path: &str) -> Value {
        let response = http().get(format!("{}{path}", self.base)).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    pub fn sigterm(&mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "graceful stop: {exit:?}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_run_command_serves_the_demo_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut service =
        Process::start(dir.path(), &["--demo"], &[("GEOIP__CITY_DB", geolite2_city().display().to_string())]);
    // No key configured: the demo prints one for this run.
    let banner = service.stdout.recv_timeout(Duration::from_secs(120)).expect("the demo prints its API key");
    let key = banner.rsplit(' ').next().unwrap().to_owned();
    assert!(banner.contains("API key") && key.starts_with("demo-") && key.len() > 30, "{banner}");
    service.wait_live().await;

    // The demo loads in batches, each visible once committed: wait for the whole sample.
    let mut week = Value::Null;
    for _ in 0..600 {
        week = service.get(&key, "/v1/stats/summary?from=now-7d").await;
        if week["requests"] == 9_999 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(week["requests"], 9_999, "every parsable line of the sample: {week}");
    // The sample spans four days and ends now: the last 24 hours hold part of it.
    let summary = service.get(&key, "/v1/stats/summary?from=now-24h").await;
    let last_day = summary["requests"].as_u64().unwrap();
    assert!((1_000..10_000).contains(&last_day), "{summary}");
    assert!(summary["unique_visitors"].as_u64().unwrap() > 100, "{summary}");

    let countries = service.get(&key, "/v1/stats/top/country?from=now-7d&limit=5").await;
    assert_eq!(countries["buckets"][0]["key"], "US", "{countries}");
    assert!(countries["buckets"][0]["count"].as_u64().unwrap() > 1_000, "{countries}");
    let browsers = service.get(&key, "/v1/stats/top/browser?from=now-7d&limit=5").await;
    assert_eq!(browsers["buckets"].as_array().unwrap().len(), 5, "{browsers}");
    let paths = service.get(&key, "/v1/stats/top/path?from=now-7d&limit=5").await;
    assert_eq!(paths["buckets"].as_array().unwrap().len(), 5, "{paths}");
    let timeline = service.get(&key, "/v1/stats/timeline?from=now-24h&interval=1h").await;
    let counted: u64 = timeline["buckets"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, last_day, "{timeline}");

    let info = service.get(&key, "/v1/info").await;
    assert_eq!(info["store"], "embedded", "{info}");
    assert!(dir.path().join("firesight-data/firesight.db").is_file());
    assert!(dir.path().join("firesight-data/logs").is_dir());

    // A restart with --demo finds the sample and does not load it again.
    service.sigterm();
    let mut again = Process::start(dir.path(), &["--demo"], &[("API_KEYS", API_KEY.to_owned())]);
    again.wait_live().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let week = again.get(API_KEY, "/v1/stats/summary?from=now-7d").await;
    assert_eq!(week["requests"], 9_999, "{week}");
}

/// Records of delivery `d`: distinct paths under `/kill/<d>/`, at `time` (Apache format).
fn delivery(d: usize, records: usize, time: &str) -> Vec<Vec<u8>> {
    (0..records)
        .map(|n| {
            format!(
                "203.0.113.{} - - [{time}] \"GET /kill/{d}/{n} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"",
                n % 250,
                100 + n
            )
            .into_bytes()
        })
        .collect()
}

async fn count_delivery(service: &Process, d: usize) -> u64 {
    let summary = service.get(API_KEY, &format!("/v1/stats/summary?from=now-2h&path_prefix=/kill/{d}/")).await;
    summary["requests"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_deliveries_keeps_every_acknowledged_record_once() {
    const RECORDS: usize = 500;
    const DELIVERIES: usize = 40;
    let time = (chrono::Utc::now() - chrono::TimeDelta::minutes(30)).format("%d/%b/%Y:%H:%M:%S +0000").to_string();
    let dir = tempfile::tempdir().unwrap();
    let env = [("API_KEYS", API_KEY.to_owned()), ("FIREHOSE__ACCESS_KEYS", ACCESS_KEY.to_owned())];
    let mut service = Process::start(dir.path(), &[], &env);
    service.wait_live().await;

    // Two deliveries in flight at a time, as Firehose does; the process is killed after the 6th answer.
    let client = std::sync::Arc::new(FirehoseClient::new(&service.base));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut senders = Vec::new();
    for lane in 0..2 {
        let client = client.clone();
        let tx = tx.clone();
        let time = time.clone();
        senders.push(tokio::spawn(async move {
            for d in (lane..DELIVERIES).step_by(2) {
                let request_id = format!("kill-{d}");
                let records = delivery(d, RECORDS, &time);
                let body = FirehoseClient::body(&request_id, &records);
                // A connection reset (the kill) is an unacknowledged delivery, like a timeout for Firehose.
                let ok = client.try_send(&request_id, body).await.is_some_and(|status| status == 200);
                if tx.send((d, ok)).is_err() || !ok {
                    return;
                }
            }
        }));
    }
    drop(tx);
    let mut acknowledged = Vec::new();
    while let Some((d, ok)) = rx.recv().await {
        if ok {
            acknowledged.push(d);
        }
        if acknowledged.len() == 6 {
            service.child.kill().unwrap(); // SIGKILL
            service.child.wait().unwrap();
            break;
        }
    }
    for sender in senders {
        sender.await.unwrap();
    }
    while let Ok((d, true)) = rx.try_recv() {
        acknowledged.push(d);
    }
    assert!(acknowledged.len() >= 6, "{acknowledged:?}");
    assert!(acknowledged.len() < DELIVERIES, "killed mid-stream: {acknowledged:?}");
    // Acknowledged deliveries wait in the write-ahead log until enough documents or a read commit
    // them: the restart has to replay it.
    let wal = std::fs::metadata(dir.path().join("firesight-data/wal")).unwrap().len();
    assert!(wal > 0, "the acknowledged deliveries are in the write-ahead log");

    let mut service = Process::start(dir.path(), &[], &env);
    service.wait_live().await;
    for &d in &acknowledged {
        assert_eq!(count_delivery(&service, d).await, RECORDS as u64, "acknowledged delivery {d}");
    }
    // Firehose retries what was not acknowledged (same request ids), then everything is there once.
    let client = FirehoseClient::new(&service.base);
    for d in 0..DELIVERIES {
        let request_id = format!("kill-{d}");
        let reply = client.deliver(&request_id, &delivery(d, RECORDS, &time)).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    for d in 0..DELIVERIES {
        assert_eq!(count_delivery(&service, d).await, RECORDS as u64, "delivery {d} after the retries");
    }
    let total = service.get(API_KEY, "/v1/stats/summary?from=now-2h").await;
    assert_eq!(total["requests"], (RECORDS * DELIVERIES) as u64, "{total}");
}

/// A backfill of old logs arriving after a dashboard asked about their days: the cached answer over
/// that closed range (fresh for ten minutes) is not served again once the late documents are indexed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_documents_refresh_cached_answers_over_their_range() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("API_KEYS", API_KEY.to_owned()), ("FIREHOSE__ACCESS_KEYS", ACCESS_KEY.to_owned())];
    let mut service = Process::start(dir.path(), &[], &env);
    service.wait_live().await;
    let may = "/v1/stats/summary?from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z";
    let june = "/v1/stats/summary?from=2015-06-01T00:00:00Z&to=2015-06-02T00:00:00Z";
    assert_eq!(service.get(API_KEY, may).await["requests"], 0);
    assert_eq!(service.get(API_KEY, june).await["requests"], 0);

    let client = FirehoseClient::new(&service.base);
    let reply = client.deliver("late-1", &delivery(1, 25, "18/May/2015:10:00:00 +0000")).await;
    reply.assert_firehose_shape("late-1");
    assert_eq!(reply.status, 200);
    assert_eq!(service.get(API_KEY, may).await["requests"], 25, "the cached 0 is not served again");
    assert_eq!(service.get(API_KEY, june).await["requests"], 0);
    let reply = client.deliver("late-2", &delivery(2, 5, "20/May/2015:23:59:59 +0000")).await;
    reply.assert_firehose_shape("late-2");
    assert_eq!(reply.status, 200);
    assert_eq!(service.get(API_KEY, may).await["requests"], 30);
    service.sigterm();
}
