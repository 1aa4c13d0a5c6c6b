//! Amazon OpenSearch Service and Serverless, as AWS runs them: the real binary signs with SigV4 and
//! credentials from the AWS SDK's default chain, through a reverse proxy (`tests/sigv4/proxy.py`) that
//! recomputes every signature with botocore, independently of firesight's signer, and forwards to the
//! local OpenSearch only what it accepts. In `aoss` mode the proxy also refuses, as Serverless does,
//! every operation Serverless does not list. (The scenario suite runs through it too: `scenarios.rs`.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::firehose_client::FirehoseClient;
use crate::harness::{
    self, TestApp, count, drop_prefix, fixture, require_opensearch, run_firesight as firesight, unique,
};

pub const ACCESS_KEY: &str = "AKIAFIRESIGHTTEST001";
pub const SECRET_KEY: &str = "firesight/test/secret/0123456789abcdefghij";
pub const REGION: &str = "eu-west-1";

/// The signature-checking proxy, one per test.
pub struct SigV4Proxy {
    pub port: u16,
    child: Child,
}

impl SigV4Proxy {
    /// `service` is `es` or `aoss`; `collection` is `search` or `timeseries` (Serverless only).
    pub fn start(service: &str, collection: &str) -> Self {
        let python = std::env::var("FIRESIGHT_TEST_PYTHON")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.dev/venv/bin/python").to_owned());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sigv4/proxy.py");
        let keys = json!({ ACCESS_KEY: { "secret": SECRET_KEY } }).to_string();
        let mut child = Command::new(&python)
            .args(["-u", script, "--upstream", &harness::opensearch_url(), "--service", service])
            .args(["--region", REGION, "--collection-type", collection, "--keys-json", &keys])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run {python} (botocore comes with moto's venv): {e}; {}", harness::START_SERVICES)
            });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("listening on ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the proxy did not start: {line:?}"));
        SigV4Proxy { port, child }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub async fn stats(&self) -> Value {
        harness::http().get(format!("{}/__proxy/stats", self.url())).send().await.unwrap().json().await.unwrap()
    }

    pub async fn configure(&self, change: Value) {
        let r = harness::http().post(format!("{}/__proxy/config", self.url())).json(&change).send().await.unwrap();
        assert!(r.status().is_success());
    }

    /// Every request was signed as AWS wants and used only supported operations.
    pub async fn assert_clean(&self, what: &str) -> Value {
        let stats = self.stats().await;
        for counter in [
            "refused_signature",
            "refused_unknown_key",
            "refused_expired_key",
            "refused_clock",
            "refused_unsupported",
            "refused_custom_id",
        ] {
            assert_eq!(stats[counter], 0, "{what}: {counter} in {stats}");
        }
        assert!(stats["accepted"].as_u64().unwrap() > 0, "{what}: nothing went through the proxy: {stats}");
        stats
    }
}

impl Drop for SigV4Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A service on OpenSearch through `proxy`, signing with static keys from the environment.
pub fn through(proxy: &SigV4Proxy, service: &str, collection: &str) -> harness::TestAppBuilder {
    let builder = TestApp::builder()
        .set("OPENSEARCH__URL", proxy.url())
        .set("OPENSEARCH__AUTH", "sigv4")
        .set("OPENSEARCH__AWS_SERVICE", service)
        .process_env("AWS_REGION", REGION);
    let builder = if service == "aoss" { builder.set("OPENSEARCH__COLLECTION_TYPE", collection) } else { builder };
    builder.process_env("AWS_ACCESS_KEY_ID", ACCESS_KEY).process_env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
}

#[tokio::test]
async fn migrate_store_and_ingest_go_through_the_verifying_proxy_in_both_services() {
    let os = require_opensearch().await;
    let log = fixture("access_logs/elastic_examples_apache_logs.log");
    for (service, collection) in [("es", "search"), ("aoss", "search"), ("aoss", "timeseries")] {
        let proxy = SigV4Proxy::start(service, collection);
        let prefix = unique("it-sig-");
        let embedded = tempfile::tempdir().unwrap();
        let back = tempfile::tempdir().unwrap();
        let env = |dir: &std::path::Path| {
            let mut env = vec![
                ("FIRESIGHT_DATA_DIR", dir.display().to_string()),
                ("FIRESIGHT_OPENSEARCH__URL", proxy.url()),
                ("FIRESIGHT_OPENSEARCH__INDEX_PREFIX", prefix.clone()),
                ("FIRESIGHT_OPENSEARCH__REPLICAS", "0".to_owned()),
                ("FIRESIGHT_OPENSEARCH__AUTH", "sigv4".to_owned()),
                ("FIRESIGHT_OPENSEARCH__AWS_SERVICE", service.to_owned()),
                ("FIRESIGHT_OPENSEARCH__AWS_REGION", REGION.to_owned()),
                ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
                ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ];
            if service == "aoss" {
                env.push(("FIRESIGHT_OPENSEARCH__COLLECTION_TYPE", collection.to_owned()));
            }
            env
        };
        let what = format!("{service}/{collection}");
        let ingested = firesight(&["ingest", "--quiet", log.to_str().unwrap()], &env(embedded.path()));
        assert!(ingested.contains("9999 indexed"), "{what}: {ingested}");

        let moved = firesight(&["migrate-store", "--from", "embedded", "--to", "opensearch"], &env(embedded.path()));
        assert!(moved.starts_with("9999 documents read from embedded: 9999 copied to opensearch"), "{what}: {moved}");
        assert_eq!(count(&os, &format!("{prefix}-*")).await, 9_999, "{what}");
        // The same documents again add nothing: ids on a domain and a search collection, `event.id`
        // looked up on a time-series collection.
        let again = firesight(&["migrate-store", "--from", "embedded", "--to", "opensearch"], &env(embedded.path()));
        assert!(again.contains("0 copied to opensearch, 9999 already there"), "{what}: {again}");
        assert_eq!(count(&os, &format!("{prefix}-*")).await, 9_999, "{what}");

        // Back, paging through the whole store (search_after, signed).
        let all = firesight(&["migrate-store", "--from", "opensearch", "--to", "embedded"], &env(back.path()));
        assert!(all.starts_with("9999 documents read from opensearch: 9999 copied to embedded"), "{what}: {all}");

        let stats = proxy.assert_clean(&what).await;
        eprintln!("{what}: proxy {stats}");
        drop_prefix(&os, &prefix).await;
    }
}

#[tokio::test]
async fn credentials_that_rotate_are_renewed_before_they_expire() {
    require_opensearch().await;
    let proxy = SigV4Proxy::start("es", "search");
    // Each session key lives 66 s; firesight renews REFRESH_BEFORE (60 s) ahead, so about every 6 s.
    proxy.configure(json!({ "rotate_lifetime_secs": 66 })).await;
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", proxy.url())
        .set("OPENSEARCH__AUTH", "sigv4")
        .set("LOG__LEVEL", "debug")
        .process_env("AWS_REGION", REGION)
        .process_env("AWS_CONTAINER_CREDENTIALS_FULL_URI", format!("{}/__proxy/credentials", proxy.url()))
        .spawn()
        .await;
    let ready = app.wait_ready(Duration::from_secs(30)).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let client = FirehoseClient::new(&app.url(""));
    let lines = harness::real_log_lines();
    let started = tokio::time::Instant::now();
    let mut delivered = 0;
    for (n, chunk) in lines.chunks(100).enumerate() {
        if started.elapsed() > Duration::from_secs(25) {
            break;
        }
        let records: Vec<Vec<u8>> = chunk.iter().map(|l| l.as_bytes().to_vec()).collect();
        let reply = client.deliver(&format!("rotate-{n}"), &records).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        delivered += chunk.len();
        let summary =
            app.get("/v1/stats/summary?from=2015-05-17T00:00:00Z&to=2015-05-21T00:00:00Z").send().await.unwrap();
        assert_eq!(summary.status(), 200);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(delivered > 0);
    let stats = proxy.assert_clean("rotating credentials").await;
    let keys = stats["accepted_by_key"].as_object().unwrap();
    assert!(keys.len() >= 3, "expected at least 3 session keys in 25 s: {stats}");
    assert!(keys.keys().all(|k| k.starts_with("ASIAROTATING")), "{stats}");

    // Nothing secret in the log, even at debug level.
    let log = app.stderr();
    assert!(log.contains("renewed"), "the renewals are logged: {log}");
    for forbidden in ["rotating-secret", "rotating-token", "Signature=", "X-Amz-Security-Token", "x-amz-security-token"]
    {
        assert!(!log.contains(forbidden), "{forbidden} appears in the log");
    }
    let secrets: Vec<String> = (1..=keys.len() as u64 + 2)
        .map(|n| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(format!("rotating-secret-{n}")))[..40].to_owned()
        })
        .collect();
    assert!(secrets.iter().all(|s| !log.contains(s.as_str())), "a secret key appears in the log");
}

#[tokio::test]
async fn a_role_assumed_with_sts_signs_for_a_cross_account_domain() {
    require_opensearch().await;
    let proxy = SigV4Proxy::start("es", "search");
    let role = "arn:aws:iam::444455556666:role/firesight-weblogs";
    let app = through(&proxy, "es", "search")
        .set("OPENSEARCH__AWS_ROLE_ARN", role)
        .process_env("AWS_ENDPOINT_URL_STS", format!("{}/__proxy/sts", proxy.url()))
        .spawn()
        .await;
    let ready = app.wait_ready(Duration::from_secs(30)).await;
    assert_eq!(ready["status"], "ready", "{ready}\n{}", app.stderr());
    let summary = app.get("/v1/stats/summary").send().await.unwrap();
    assert_eq!(summary.status(), 200);
    let stats = proxy.assert_clean("assumed role").await;
    assert_eq!(stats["assumed"][0]["role"], role, "{stats}");
    assert_eq!(stats["assumed"][0]["caller"], ACCESS_KEY, "the role was assumed with the chain's own keys: {stats}");
    let keys = stats["accepted_by_key"].as_object().unwrap();
    assert!(
        !keys.is_empty() && keys.keys().all(|k| k.starts_with("ASIAASSUMED")),
        "only the role's keys sign: {stats}"
    );
}

#[tokio::test]
async fn a_wrong_secret_and_a_skewed_clock_are_told_apart_in_readiness() {
    require_opensearch().await;
    for service in ["es", "aoss"] {
        let proxy = SigV4Proxy::start(service, "search");
        let app =
            through(&proxy, service, "search").process_env("AWS_SECRET_ACCESS_KEY", "not-the-secret").spawn().await;
        let ready = app.wait_ready(Duration::from_secs(5)).await;
        let error = ready["checks"]["log_store"]["error"].as_str().unwrap_or_default().to_owned();
        assert_eq!(ready["status"], "not_ready", "{ready}");
        assert!(error.starts_with("signature refused (403)"), "{service}: {error}");
        assert!(!error.contains("not-the-secret"), "{error}");
        // A delivery meanwhile is not lost: Firehose is told to retry.
        let reply = FirehoseClient::new(&app.url("")).deliver("wrong-secret", &[b"x".to_vec()]).await;
        assert_eq!(reply.status, 503, "{service}: {:?}", reply.body);
        let stats = proxy.stats().await;
        assert!(stats["refused_signature"].as_u64().unwrap() > 0, "{stats}");
        assert_eq!(stats["accepted"], 0, "{stats}");
    }

    // AWS's clock 20 minutes ahead of this host's.
    let proxy = SigV4Proxy::start("es", "search");
    proxy.configure(json!({ "skew_secs": 1200 })).await;
    let app = through(&proxy, "es", "search").spawn().await;
    let ready = app.wait_ready(Duration::from_secs(5)).await;
    let error = ready["checks"]["log_store"]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("clock skew: this host's clock is -1"), "{error}");
    assert!(error.contains("Signature expired"), "{error}");

    // And an address where nothing answers.
    let unreachable = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let proxy_gone = TestApp::builder()
        .set("OPENSEARCH__URL", format!("http://127.0.0.1:{unreachable}"))
        .set("OPENSEARCH__AUTH", "sigv4")
        .process_env("AWS_REGION", REGION)
        .process_env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .process_env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .spawn()
        .await;
    let ready = proxy_gone.wait_ready(Duration::from_secs(3)).await;
    let error = ready["checks"]["log_store"]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("log store unreachable"), "{error}");
}

#[tokio::test]
async fn sigv4_without_credentials_fails_at_start_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    let mut command = harness::firesight_command(data.path());
    command
        .arg("serve")
        .env("AWS_REGION", REGION)
        .env("FIRESIGHT_DATA_DIR", data.path())
        .env("FIRESIGHT_LISTEN", "127.0.0.1:0")
        .env("FIRESIGHT_STORE", "opensearch")
        .env("FIRESIGHT_OPENSEARCH__AUTH", "sigv4");
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("AWS credentials missing"), "{stderr}");
}

#[tokio::test]
async fn configuration_mistakes_are_refused_with_the_setting_named() {
    for (pairs, field) in [
        (vec![("OPENSEARCH__AWS_SERVICE", "aoss")], "opensearch.aws_service"),
        (vec![("OPENSEARCH__AUTH", "basic")], "opensearch.auth"),
        (vec![("OPENSEARCH__COLLECTION_TYPE", "timeseries")], "opensearch.collection_type"),
        (vec![("OPENSEARCH__AUTH", "sigv4"), ("OPENSEARCH__AWS_ROLE_ARN", "role")], "opensearch.aws_role_arn"),
    ] {
        let pairs: Vec<(String, String)> = pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let error = firesight::Config::from_pairs(&pairs).unwrap_err().to_string();
        assert!(error.contains(field), "{pairs:?}: {error}");
    }
}
