//! Alert hooks end to end: Firehose delivery errors seeded into moto's CloudWatch Logs and polled by
//! the service fire rules; the events reach a real HTTP receiver in this test, which verifies every
//! signature with the Standard Webhooks algorithm (written here from the specification, not taken from
//! firesight). Retries, a SIGKILL with deliveries pending, two processes on one PostgreSQL, the SSRF
//! guard, validation and secrets.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Utc;
use serde_json::{Value, json};

use crate::delivery_errors::{firehose_event, moto_client, seed};
use crate::embedded_default::Process;
use crate::harness::{self, API_KEY, TestApp, http};

// ---- the receiver ----

#[derive(Debug, Clone)]
pub(crate) struct Received {
    path: String,
    msg_id: String,
    pub(crate) body: Value,
    pub(crate) verified: Result<(), String>,
}

const ANSWER_OK: u8 = 0;
const ANSWER_500: u8 = 1;
const HANG: u8 = 2;

/// A webhook receiver: records every request and verifies its signature with the secret registered
/// for its path.
#[derive(Clone)]
pub(crate) struct Receiver {
    addr: SocketAddr,
    got: Arc<Mutex<Vec<Received>>>,
    secrets: Arc<Mutex<HashMap<String, String>>>,
    mode: Arc<AtomicU8>,
}

impl Receiver {
    pub(crate) async fn start() -> Receiver {
        Self::start_on(0).await
    }

    /// Listens on `port` (0 picks one).
    async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let receiver = Receiver {
            addr: listener.local_addr().unwrap(),
            got: Arc::default(),
            secrets: Arc::default(),
            mode: Arc::new(AtomicU8::new(ANSWER_OK)),
        };
        let state = receiver.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { state.handle(uri, headers, body).await }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        receiver
    }

    async fn handle(&self, uri: Uri, headers: HeaderMap, body: Bytes) -> StatusCode {
        let path = uri.path().to_owned();
        let secret = self.secrets.lock().unwrap().get(&path).cloned();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let verified = match secret {
            Some(secret) => verify(&secret, &headers, &body),
            None => Err(format!("no secret registered for {path}")),
        };
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        self.got.lock().unwrap().push(Received { path, msg_id: header("webhook-id"), body, verified });
        match self.mode.load(Ordering::SeqCst) {
            ANSWER_OK => StatusCode::NO_CONTENT,
            ANSWER_500 => StatusCode::INTERNAL_SERVER_ERROR,
            _ => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                StatusCode::NO_CONTENT
            }
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub(crate) fn register(&self, path: &str, secret: &str) {
        self.secrets.lock().unwrap().insert(path.to_owned(), secret.to_owned());
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `done` holds for what arrived.
    pub(crate) async fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&[Received]) -> bool,
    ) -> Vec<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}; received: {got:#?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The Standard Webhooks verification, by the `standardwebhooks` crate (an implementation independent of
/// firesight's): the signature over `{id}.{timestamp}.{body}` with the secret, and the timestamp within
/// five minutes of now.
fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    let hook = standardwebhooks::Webhook::new(secret).map_err(|e| format!("secret {e}"))?;
    hook.verify(body, headers).map_err(|e| e.to_string())
}

// ---- seeding delivery errors ----

/// Creates a stream's log group and log stream, empty.
async fn create_group(client: &Client, stream: &str) -> String {
    let group = format!("/aws/kinesisfirehose/{stream}");
    seed(client, &group, "HttpEndpointDelivery", &[]).await;
    group
}

/// Writes `n` Firehose HTTP-endpoint delivery errors for `stream`, `age` ago, into its log group.
async fn seed_errors(client: &Client, stream: &str, n: usize, age: Duration) -> String {
    let group = format!("/aws/kinesisfirehose/{stream}");
    let at = Utc::now().timestamp_millis() - age.as_millis() as i64;
    let codes = ["HttpEndpoint.ConnectionFailed", "HttpEndpoint.ConnectionFailed", "HttpEndpoint.RequestTimeout"];
    let message = "The delivery timed out before a response was received and will be retried.";
    let events: Vec<(i64, String)> = (0..n)
        .map(|i| (at + i as i64, firehose_event(stream, "https://logs.example.com", codes[i % codes.len()], message)))
        .collect();
    seed(client, &group, "HttpEndpointDelivery", &events).await;
    group
}

/// Settings for a service that polls `groups` every second and evaluates every second.
fn alerting(moto: &str, groups: &[String]) -> Vec<(&'static str, String)> {
    vec![
        ("CLOUDWATCH__ENABLED", "true".into()),
        ("CLOUDWATCH__ENDPOINT_URL", moto.to_owned()),
        ("CLOUDWATCH__REGION", "us-east-1".into()),
        ("CLOUDWATCH__ACCESS_KEY_ID", "testing".into()),
        ("CLOUDWATCH__SECRET_ACCESS_KEY", "testing".into()),
        ("CLOUDWATCH__LOG_GROUPS", groups.join(",")),
        ("CLOUDWATCH__POLL_INTERVAL_SECS", "1".into()),
        // Events are seeded with timestamps a few seconds back: the poller re-reads that far.
        ("CLOUDWATCH__SETTLE_SECS", "30".into()),
        ("CLOUDWATCH__LEASE_SECS", "10".into()),
        ("CLOUDWATCH__START_LOOKBACK_SECS", "3600".into()),
        ("ALERTS__EVALUATION_INTERVAL_SECS", "1".into()),
        ("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8".into()),
        ("ALERTS__RETRY_SCHEDULE", "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s".into()),
        ("ALERTS__TIMEOUT_SECS", "2".into()),
    ]
}

async fn spawn(settings: Vec<(&'static str, String)>) -> TestApp {
    let mut builder = TestApp::builder();
    for (k, v) in settings {
        builder = builder.set(k, v);
    }
    builder.spawn().await
}

// ---- API helpers ----

pub(crate) async fn call(base: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = http().request(method, format!("{base}{path}")).bearer_auth(API_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

pub(crate) async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    call(base, reqwest::Method::POST, path, Some(body)).await
}

pub(crate) async fn get(base: &str, path: &str) -> Value {
    let (status, body) = call(base, reqwest::Method::GET, path, None).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Creates a hook for `path` on the receiver and registers its secret there.
pub(crate) async fn hook(base: &str, receiver: &Receiver, path: &str, format: &str) -> String {
    let (status, created) = post(
        base,
        "/v1/alerts/webhooks",
        json!({"url": receiver.url(path), "description": "on-call", "events": ["alert.firing", "alert.resolved"], "format": format}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_") && STANDARD.decode(&secret[6..]).unwrap().len() >= 24, "{created}");
    receiver.register(path, secret);
    created["id"].as_str().unwrap().to_owned()
}

pub(crate) async fn rule(base: &str, body: Value) -> String {
    let (status, created) = post(base, "/v1/alerts/rules", body).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

/// Events of a type, in either format (Slack messages name it in their headline).
pub(crate) fn of_type<'a>(got: &'a [Received], kind: &str) -> Vec<&'a Received> {
    let headline = if kind == "alert.firing" { "*Firing*" } else { "*Resolved*" };
    got.iter()
        .filter(|r| r.body["type"] == kind || r.body["text"].as_str().is_some_and(|t| t.contains(headline)))
        .collect()
}

fn ids_by_count(got: &[Received]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in got {
        *counts.entry(r.msg_id.clone()).or_insert(0) += 1;
    }
    counts
}

// ---- tests ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_errors_fire_and_resolve_signed_events_on_sqlite() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let stream = harness::unique("weblogs-");
    let other = harness::unique("other-");
    let group = create_group(&client, &stream).await;
    let other_group = seed_errors(&client, &other, 10, Duration::from_secs(5)).await;
    let mut settings = alerting(&moto, &[group.clone(), other_group]);
    settings.push(("STORE", "embedded".into()));
    let app = spawn(settings).await;
    let receiver = Receiver::start().await;
    let json_hook = hook(&app.base, &receiver, "/json", "json").await;
    let slack_hook = hook(&app.base, &receiver, "/slack", "slack").await;
    let rule_id = rule(
        &app.base,
        json!({"name": "weblogs failing", "kind": "delivery_errors", "threshold": 3, "window": "20s", "cooldown": "0s",
               "streams": [stream]}),
    )
    .await;

    // Four errors eight seconds ago: inside the 20 s window for about twelve seconds.
    seed_errors(&client, &stream, 4, Duration::from_secs(8)).await;
    let got = receiver
        .wait_for("alert.firing on both hooks", Duration::from_secs(60), |g| {
            g.iter().filter(|r| r.path == "/json" && r.body["type"] == "alert.firing").count() == 1
                && g.iter().any(|r| r.path == "/slack")
        })
        .await;
    let firing = got.iter().find(|r| r.path == "/json" && r.body["type"] == "alert.firing").unwrap();
    let data = &firing.body["data"];
    assert_eq!(data["rule"]["id"], rule_id.as_str(), "{data}");
    assert_eq!(data["rule"]["window"], "20s");
    assert_eq!(data["status"], "open");
    assert_eq!(data["findings"]["counts"]["delivery_errors"], 4, "only this stream's errors: {data}");
    assert_eq!(data["findings"]["value"], 4.0);
    assert_eq!(data["findings"]["top_codes"][0], json!({"code": "HttpEndpoint.ConnectionFailed", "count": 3}));
    assert_eq!(data["findings"]["top_codes"][1], json!({"code": "HttpEndpoint.RequestTimeout", "count": 1}));
    let link = data["findings"]["links"]["delivery_errors"].as_str().unwrap();
    assert!(link.starts_with("/v1/delivery-errors?from=") && link.contains(&format!("stream={stream}")), "{link}");
    // The link answers with the errors that fired the rule.
    let listed = get(&app.base, link).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 4, "{listed}");
    let slack = got.iter().find(|r| r.path == "/slack").unwrap();
    let text = slack.body["text"].as_str().unwrap();
    assert!(text.contains("*Firing*: weblogs failing") && text.contains("HttpEndpoint.ConnectionFailed"), "{text}");

    // The incident is open while the errors are in the window, then resolves.
    let open = get(&app.base, "/v1/alerts/incidents?status=open").await;
    assert_eq!(open["items"][0]["rule_id"], rule_id.as_str(), "{open}");
    let got = receiver
        .wait_for("alert.resolved on both hooks", Duration::from_secs(60), |g| of_type(g, "alert.resolved").len() == 2)
        .await;
    let resolved = got.iter().find(|r| r.path == "/json" && r.body["type"] == "alert.resolved").unwrap();
    assert_eq!(resolved.body["data"]["incident_id"], firing.body["data"]["incident_id"]);
    assert!(resolved.body["data"]["resolved_at"].is_string());
    for r in &got {
        assert_eq!(r.verified, Ok(()), "{r:?}");
    }
    assert_eq!(got.len(), 4, "one firing and one resolved per hook, nothing twice: {got:#?}");
    let incidents = get(&app.base, &format!("/v1/alerts/incidents?rule_id={rule_id}")).await;
    assert_eq!(incidents["items"].as_array().unwrap().len(), 1, "{incidents}");
    assert_eq!(incidents["items"][0]["status"], "resolved");
    assert_eq!(incidents["items"][0]["peak_value"], 4.0);

    // Attempts are recorded per hook; the secret is never shown again.
    for id in [&json_hook, &slack_hook] {
        let attempts = get(&app.base, &format!("/v1/alerts/webhooks/{id}/attempts")).await;
        let items = attempts["items"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{attempts}");
        assert!(items.iter().all(|a| a["success"] == true && a["status_code"] == 204), "{attempts}");
    }
    let listed = get(&app.base, "/v1/alerts/webhooks").await;
    let one = get(&app.base, &format!("/v1/alerts/webhooks/{json_hook}")).await;
    for body in [listed.to_string(), one.to_string()] {
        assert!(!body.contains("whsec_") && !body.contains("secret"), "{body}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_the_event_once_with_its_history_on_postgres() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let (db_url, _schema) = harness::postgres_schema_url().await;
    let stream = harness::unique("weblogs-");
    let group = create_group(&client, &stream).await;
    let mut settings = alerting(&moto, std::slice::from_ref(&group));
    settings.push(("DATABASE_URL", db_url));
    settings.push(("STORE", "embedded".into()));
    let app = spawn(settings).await;

    // A port with nothing listening yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, created) = post(
        &app.base,
        "/v1/alerts/webhooks",
        json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["alert.firing"]}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let hook_id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    rule(
        &app.base,
        json!({"name": "any error", "kind": "delivery_errors", "threshold": 1, "window": "10m", "cooldown": "1h"}),
    )
    .await;
    seed_errors(&client, &stream, 2, Duration::from_secs(1)).await;

    // The dispatcher keeps trying while the receiver is down.
    let mut failures = 0;
    for _ in 0..300 {
        let attempts = get(&app.base, &format!("/v1/alerts/webhooks/{hook_id}/attempts")).await;
        failures = attempts["items"].as_array().unwrap().len();
        if failures >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(failures >= 3, "three failed attempts recorded");
    let receiver = Receiver::start_on(port).await;
    receiver.register("/hook", &secret);
    receiver.wait_for("the firing event", Duration::from_secs(30), |g| !g.is_empty()).await;
    tokio::time::sleep(Duration::from_secs(4)).await; // anything sent twice would arrive by now
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].verified, Ok(()));
    assert_eq!(got[0].body["type"], "alert.firing");

    let attempts = get(&app.base, &format!("/v1/alerts/webhooks/{hook_id}/attempts")).await;
    let items = attempts["items"].as_array().unwrap();
    assert_eq!(items[0]["success"], true, "newest first: {attempts}");
    assert!(items.len() > 3, "{attempts}");
    for failed in &items[1..] {
        assert_eq!(failed["success"], false);
        assert!(failed["status_code"].is_null(), "{failed}");
        let error = failed["error"].as_str().unwrap();
        assert!(error.to_lowercase().contains("connect"), "{failed}");
        assert!(!error.contains("/hook"), "the URL (often a credential) is left out: {error}");
    }
    let attempt_numbers: Vec<u64> = items.iter().rev().map(|a| a["attempt"].as_u64().unwrap()).collect();
    assert_eq!(attempt_numbers, (1..=items.len() as u64).collect::<Vec<_>>());
    let event = get(&app.base, &format!("/v1/alerts/events/{}", got[0].msg_id)).await;
    assert_eq!(event["deliveries"][0]["status"], "delivered", "{event}");
    assert_eq!(event["deliveries"][0]["attempts"], items.len() as u64);

    let metrics = http().get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    let counter = |line: &str| -> u64 {
        let found = metrics.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("{line} in {metrics}"));
        found.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(counter("firesight_webhook_attempts_total{outcome=\"delivered\"}"), 1);
    assert_eq!(counter("firesight_webhook_attempts_total{outcome=\"retry\"}"), items.len() as u64 - 1);
    assert_eq!(counter("firesight_alert_events_total{event=\"alert.firing\"}"), 1);

    // A redelivery sends the same event, under the same id, once more.
    let (status, redelivery) =
        call(&app.base, reqwest::Method::POST, &format!("/v1/alerts/events/{}/redeliver", got[0].msg_id), None).await;
    assert_eq!(status, 202, "{redelivery}");
    let again = receiver.wait_for("the redelivery", Duration::from_secs(30), |g| g.len() == 2).await;
    assert_eq!(again[1].msg_id, again[0].msg_id);
    assert_eq!(again[1].body, again[0].body);
    assert_eq!(again[1].verified, Ok(()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_pending_at_a_sigkill_are_delivered_after_restart() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let streams: Vec<String> = (0..3).map(|_| harness::unique("weblogs-")).collect();
    let mut groups = Vec::new();
    for stream in &streams {
        groups.push(create_group(&client, stream).await);
    }
    let receiver = Receiver::start().await;
    receiver.mode.store(ANSWER_500, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(&str, String)> = alerting(&moto, &groups);
    env.push(("API_KEYS", API_KEY.into()));
    env.push(("ALERTS__RETRY_SCHEDULE", "2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s".into()));
    let mut service = Process::start(dir.path(), &[], &env);
    service.wait_live().await;
    hook(&service.base, &receiver, "/hook", "json").await;
    for stream in &streams {
        rule(
            &service.base,
            json!({"name": format!("{stream} failing"), "kind": "delivery_errors", "threshold": 2, "window": "1h",
                   "cooldown": "1h", "streams": [stream]}),
        )
        .await;
        seed_errors(&client, stream, 3, Duration::from_secs(1)).await;
    }
    // Every event failed at least once; then the receiver stops answering, so attempts hang in flight.
    let got = receiver
        .wait_for("a failed attempt of every event", Duration::from_secs(60), |g| ids_by_count(g).len() == 3)
        .await;
    let ids: Vec<String> = ids_by_count(&got).into_keys().collect();
    receiver.mode.store(HANG, Ordering::SeqCst);
    let before = got.len();
    receiver.wait_for("an attempt in flight", Duration::from_secs(30), |g| g.len() > before).await;
    service.child.kill().unwrap(); // SIGKILL
    service.child.wait().unwrap();

    receiver.mode.store(ANSWER_OK, Ordering::SeqCst);
    let killed_at = receiver.received().len();
    let mut service = Process::start(dir.path(), &[], &env);
    service.wait_live().await;
    let got = receiver
        .wait_for("every event answered after the restart", Duration::from_secs(60), |g| {
            let after: Vec<&Received> = g[killed_at..].iter().collect();
            ids.iter().all(|id| after.iter().any(|r| &r.msg_id == id))
        })
        .await;
    assert!(got.iter().all(|r| r.verified.is_ok()), "{got:#?}");
    // No new events: the restart neither re-opened the incidents nor lost them.
    assert_eq!(ids_by_count(&got).len(), 3, "{got:#?}");
    let open = service.get(API_KEY, "/v1/alerts/incidents?status=open").await;
    assert_eq!(open["items"].as_array().unwrap().len(), 3, "{open}");
    for id in &ids {
        let event = service.get(API_KEY, &format!("/v1/alerts/events/{id}")).await;
        assert_eq!(event["deliveries"][0]["status"], "delivered", "{event}");
    }
    service.sigterm();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_postgres_deliver_each_event_once() {
    let moto = harness::require_moto().await;
    let os = harness::require_opensearch().await;
    let client = moto_client(&moto).await;
    let (db_url, _schema) = harness::postgres_schema_url().await;
    let stream = harness::unique("weblogs-");
    let group = create_group(&client, &stream).await;
    let receiver = Receiver::start().await;
    let prefix = harness::unique("it-");
    let mut env: Vec<(&str, String)> = alerting(&moto, std::slice::from_ref(&group));
    env.extend([
        ("API_KEYS", API_KEY.to_owned()),
        ("DATABASE_URL", db_url),
        ("STORE", "opensearch".into()),
        ("OPENSEARCH__URL", os.clone()),
        ("OPENSEARCH__INDEX_PREFIX", prefix.clone()),
        ("OPENSEARCH__REPLICAS", "0".into()),
    ]);
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let mut a = Process::start(dirs[0].path(), &[], &env);
    let mut b = Process::start(dirs[1].path(), &[], &env);
    a.wait_live().await;
    b.wait_live().await;
    hook(&a.base, &receiver, "/hook", "json").await;
    let rules = 6;
    for i in 0..rules {
        rule(
            &b.base,
            json!({"name": format!("rule {i}"), "kind": "delivery_errors", "threshold": 1 + i % 3, "window": "20s",
                   "cooldown": "1h", "streams": [stream]}),
        )
        .await;
    }
    seed_errors(&client, &stream, 3, Duration::from_secs(1)).await;
    // Each rule fires once and resolves once when the errors leave the window.
    receiver.wait_for("firing and resolved of every rule", Duration::from_secs(90), |g| g.len() >= 2 * rules).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = receiver.received();
    let counts = ids_by_count(&got);
    assert_eq!(counts.len(), 2 * rules, "{got:#?}");
    assert!(counts.values().all(|&n| n == 1), "every event exactly once: {counts:?}");
    assert_eq!(of_type(&got, "alert.firing").len(), rules);
    assert_eq!(of_type(&got, "alert.resolved").len(), rules);
    assert!(got.iter().all(|r| r.verified.is_ok()), "{got:#?}");
    a.sigterm();
    b.sigterm();
    harness::drop_prefix(&os, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_targets_bad_input_and_secrets_are_refused_or_hidden() {
    let receiver = Receiver::start().await;
    // The default policy: no private targets.
    let strict = TestApp::builder().set("STORE", "embedded").spawn().await;
    for url in [
        receiver.url("/hook"),
        "http://localhost:9/".to_owned(),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]:8080/".to_owned(),
        "http://10.0.0.7/hook".to_owned(),
    ] {
        let (status, problem) = post(&strict.base, "/v1/alerts/webhooks", json!({"url": url})).await;
        assert_eq!((status, problem["code"].as_str()), (403, Some("forbidden_target")), "{url}: {problem}");
        assert_eq!(problem["field"], "url", "{problem}");
        assert!(problem["detail"].as_str().unwrap().contains("ALLOW_PRIVATE_TARGETS"), "{problem}");
    }
    strict.stop().await;

    let app =
        TestApp::builder().set("STORE", "embedded").set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8").spawn().await;
    let base = app.base.clone();
    let (status, problem) = post(&base, "/v1/alerts/webhooks", json!({"url": "http://10.0.0.7/hook"})).await;
    assert_eq!((status, problem["field"].as_str()), (403, Some("url")), "{problem}");
    let cases = [
        (json!({"url": "ftp://example.com/"}), "url"),
        (json!({"url": "https://user:pw@example.com/"}), "url"),
        (json!({"url": receiver.url("/h"), "events": ["alert.exploded"]}), "events"),
        (json!({"url": receiver.url("/h"), "events": []}), "events"),
    ];
    for (body, field) in cases {
        let (status, problem) = post(&base, "/v1/alerts/webhooks", body.clone()).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{body}: {problem}");
    }
    for body in [json!({"url": receiver.url("/h"), "colour": "red"}), json!({"url": 7}), json!({"format": "json"})] {
        let (status, problem) = post(&base, "/v1/alerts/webhooks", body.clone()).await;
        assert_eq!(status, 400, "{body}: {problem}");
        assert_eq!(problem["code"], "bad_request");
        assert!(problem["detail"].as_str().unwrap().starts_with("invalid JSON body"), "{problem}");
    }
    let rule_cases = [
        (json!({"name": "x", "kind": "delivery_errors", "threshold": 0, "window": "5m"}), "threshold"),
        (json!({"name": "x", "kind": "error_rate", "threshold": 150, "window": "5m"}), "threshold"),
        (json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "5 minutes"}), "window"),
        (json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "1s"}), "window"),
        (json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "30d"}), "window"),
        (
            json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "5m", "cooldown": "soon"}),
            "cooldown",
        ),
        (json!({"name": "", "kind": "delivery_errors", "threshold": 1, "window": "5m"}), "name"),
        (json!({"name": "x", "kind": "ingest_silence", "threshold": 1, "window": "5m", "streams": ["a"]}), "streams"),
        (
            json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "5m", "families": ["dns"]}),
            "families",
        ),
        (
            json!({"name": "x", "kind": "delivery_errors", "threshold": 1, "window": "5m", "min_requests": 5}),
            "min_requests",
        ),
    ];
    for (body, field) in rule_cases {
        let (status, problem) = post(&base, "/v1/alerts/rules", body.clone()).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{body}: {problem}");
    }
    let (status, problem) =
        post(&base, "/v1/alerts/rules", json!({"name": "x", "kind": "disk_full", "threshold": 1, "window": "5m"}))
            .await;
    assert_eq!(status, 400, "{problem}");
    for path in [
        "/v1/alerts/webhooks/hook_nope",
        "/v1/alerts/rules/rule_nope",
        "/v1/alerts/incidents/inc_nope",
        "/v1/alerts/events/msg_nope",
    ] {
        let (status, problem) = call(&base, reqwest::Method::GET, path, None).await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["code"], "not_found");
    }
    let (status, _) = call(&base, reqwest::Method::GET, "/v1/alerts/incidents?status=burning", None).await;
    assert_eq!(status, 400);
    let unauthenticated = http().get(format!("{base}/v1/alerts/webhooks")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);

    // A test send reaches the receiver signed, and its attempt is listed.
    let id = hook(&base, &receiver, "/hook", "json").await;
    let (status, result) = call(&base, reqwest::Method::POST, &format!("/v1/alerts/webhooks/{id}/test"), None).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["attempt"]["success"], true, "{result}");
    assert_eq!(result["attempt"]["status_code"], 204);
    let got = receiver.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].verified, Ok(()));
    assert_eq!(got[0].msg_id, result["event_id"].as_str().unwrap());
    assert_eq!(got[0].body["type"], "alert.test");
    assert_eq!(got[0].body["data"]["test"], true);
    let attempts = get(&base, &format!("/v1/alerts/webhooks/{id}/attempts")).await;
    assert_eq!(attempts["items"][0]["id"], result["attempt"]["id"]);

    // Updates are checked like creation, and keep the secret.
    let (status, problem) = call(
        &base,
        reqwest::Method::PATCH,
        &format!("/v1/alerts/webhooks/{id}"),
        Some(json!({"url": "http://10.1.1.1/"})),
    )
    .await;
    assert_eq!((status, problem["field"].as_str()), (403, Some("url")), "{problem}");
    let (status, updated) = call(
        &base,
        reqwest::Method::PATCH,
        &format!("/v1/alerts/webhooks/{id}"),
        Some(json!({"enabled": false, "format": "slack"})),
    )
    .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!((updated["enabled"].as_bool(), updated["format"].as_str()), (Some(false), Some("slack")));
    assert!(updated.get("secret").is_none());
    let (status, _) = call(&base, reqwest::Method::DELETE, &format!("/v1/alerts/webhooks/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = call(&base, reqwest::Method::GET, &format!("/v1/alerts/webhooks/{id}"), None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// A combined-format line at `time` answering `status`.
fn access_line(i: usize, time: chrono::DateTime<Utc>, status: u16) -> Vec<u8> {
    format!(
        "203.0.113.{} - - [{}] \"GET /shop/item/{i} HTTP/1.1\" {status} 512 \"-\" \"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\"",
        i % 250,
        time.format("%d/%b/%Y:%H:%M:%S +0000")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_rules_fire_on_the_5xx_share_and_on_ingest_silence() {
    let app = TestApp::builder()
        .set("STORE", "embedded")
        .set("ALERTS__EVALUATION_INTERVAL_SECS", "1")
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8")
        .spawn()
        .await;
    let receiver = Receiver::start().await;
    hook(&app.base, &receiver, "/hook", "json").await;
    let firehose = crate::firehose_client::FirehoseClient::new(&app.base);

    // Forty requests half a minute ago, ten of them 5xx: a 25% error rate.
    let then = Utc::now() - chrono::TimeDelta::seconds(30);
    let records: Vec<Vec<u8>> = (0..40)
        .map(|i| {
            access_line(
                i,
                then,
                match i % 4 {
                    0 if i < 32 => 500,
                    0 => 503,
                    _ => 200,
                },
            )
        })
        .collect();
    let reply = firehose.deliver(&harness::unique("req-"), &records).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let rate_rule = rule(
        &app.base,
        json!({"name": "5xx above 20%", "kind": "error_rate", "threshold": 20, "window": "5m", "cooldown": "0s",
               "min_requests": 20}),
    )
    .await;
    // The forty requests are the baseline of a 15 s window that is quiet now.
    let silence_rule =
        rule(&app.base, json!({"name": "weblogs silent", "kind": "ingest_silence", "threshold": 1, "window": "15s"}))
            .await;

    let got = receiver
        .wait_for("both rules firing", Duration::from_secs(60), |g| of_type(g, "alert.firing").len() == 2)
        .await;
    let firing = |rule_id: &str| {
        got.iter()
            .find(|r| r.body["type"] == "alert.firing" && r.body["data"]["rule"]["id"] == rule_id)
            .unwrap()
            .clone()
    };
    let rate = firing(&rate_rule);
    let findings = &rate.body["data"]["findings"];
    assert_eq!(findings["counts"], json!({"requests": 40, "errors_5xx": 10}), "{findings}");
    assert_eq!(findings["value"], 25.0);
    assert_eq!(findings["top_codes"], json!([{"code": "500", "count": 8}, {"code": "503", "count": 2}]));
    let logs = findings["links"]["logs"].as_str().unwrap();
    assert!(logs.contains("status=5xx"), "{logs}");
    assert_eq!(get(&app.base, logs).await["items"].as_array().unwrap().len(), 10, "the link lists the 5xx requests");
    let silence = firing(&silence_rule);
    let findings = &silence.body["data"]["findings"];
    assert_eq!(findings["counts"], json!({"records": 0, "baseline_records": 40}), "{findings}");

    // Traffic is back: the silence resolves; the error rate stays open.
    let reply = firehose.deliver(&harness::unique("req-"), &[access_line(1, Utc::now(), 200)]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let got = receiver
        .wait_for("silence resolved", Duration::from_secs(60), |g| !of_type(g, "alert.resolved").is_empty())
        .await;
    let resolved = of_type(&got, "alert.resolved");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].body["data"]["rule"]["id"], silence_rule.as_str());
    assert_eq!(resolved[0].body["data"]["findings"]["counts"]["records"], 1);
    let open = get(&app.base, "/v1/alerts/incidents?status=open").await;
    let open_rules: Vec<&str> =
        open["items"].as_array().unwrap().iter().map(|i| i["rule_id"].as_str().unwrap()).collect();
    assert_eq!(open_rules, [rate_rule.as_str()]);
    assert!(got.iter().all(|r| r.verified.is_ok()), "{got:#?}");
    app.stop().await;
}

#[tokio::test]
async fn a_webhook_failing_every_attempt_is_disabled_and_the_others_are_told_once() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let stream = harness::unique("weblogs-");
    let group = create_group(&client, &stream).await;
    let mut settings = alerting(&moto, std::slice::from_ref(&group));
    settings.push(("STORE", "embedded".into()));
    settings.push(("ALERTS__DISABLE_AFTER_SECS", "3".into()));
    let app = spawn(settings).await;

    // A webhook that answers, told about disabled endpoints; one nobody answers, for firing alerts.
    let receiver = Receiver::start().await;
    let (status, healthy) = post(
        &app.base,
        "/v1/alerts/webhooks",
        json!({"url": receiver.url("/ops"), "events": ["alert.endpoint_disabled"]}),
    )
    .await;
    assert_eq!(status, 201, "{healthy}");
    receiver.register("/ops", healthy["secret"].as_str().unwrap());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (status, failing) = post(
        &app.base,
        "/v1/alerts/webhooks",
        json!({"url": format!("http://127.0.0.1:{port}/gone"), "events": ["alert.firing"]}),
    )
    .await;
    assert_eq!(status, 201, "{failing}");
    let failing_id = failing["id"].as_str().unwrap().to_owned();
    rule(&app.base, json!({"name": "any error", "kind": "delivery_errors", "threshold": 1, "window": "10m"})).await;
    seed_errors(&client, &stream, 2, Duration::from_secs(1)).await;

    // Every attempt fails (1 s apart); once the failures span 3 s the next failure disables it.
    let path = format!("/v1/alerts/webhooks/{failing_id}");
    let mut hook = get(&app.base, &path).await;
    for _ in 0..300 {
        if hook["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        hook = get(&app.base, &path).await;
    }
    assert_eq!(hook["enabled"], false, "{hook}");
    assert!(hook["disabled_reason"].as_str().is_some_and(|r| !r.is_empty()), "{hook}");
    let since = chrono::DateTime::parse_from_rfc3339(hook["failing_since"].as_str().unwrap()).unwrap();
    let at = chrono::DateTime::parse_from_rfc3339(hook["disabled_at"].as_str().unwrap()).unwrap();
    assert!(at - since >= chrono::Duration::seconds(3), "{hook}");

    // The other webhook hears of it once, signed.
    let disabled =
        |got: &[crate::alerts::Received]| got.iter().filter(|r| r.body["type"] == "alert.endpoint_disabled").count();
    let got = receiver.wait_for("alert.endpoint_disabled", Duration::from_secs(20), |got| disabled(got) >= 1).await;
    let event = got.iter().find(|r| r.body["type"] == "alert.endpoint_disabled").unwrap();
    assert_eq!(event.verified, Ok(()), "{event:?}");
    assert_eq!(event.body["data"]["webhook_id"], failing_id.as_str(), "{:?}", event.body);
    assert_eq!(event.body["data"]["host"], "127.0.0.1", "{:?}", event.body);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(disabled(&receiver.received()), 1, "told once");

    // Enabling it again clears the record; its failures count afresh.
    let (status, enabled) = call(&app.base, reqwest::Method::PATCH, &path, Some(json!({"enabled": true}))).await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["enabled"], true);
    assert!(enabled["disabled_at"].is_null() && enabled["disabled_reason"].is_null(), "{enabled}");
    assert!(enabled["failing_since"].is_null(), "{enabled}");
    app.stop().await;
}
