//! Delivery errors end to end: Firehose's real and documented error events seeded into moto's
//! CloudWatch Logs, polled into the state database exactly once (across restarts, a CloudWatch outage
//! and two replicas on PostgreSQL), then read back through `/v1/delivery-errors/*` next to real access
//! logs ingested through the Firehose endpoint.
//!
//! moto ignores JSON filter patterns (and may ignore other filters), so firesight filters on its side;
//! these tests seed events it must leave out. Each test uses its own log groups: moto is shared.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use chrono::{DateTime, Timelike, Utc};
use firesight::cloudwatch::{CloudWatch, Poller, RateLimiter, StepReport};
use firesight::config::{CloudWatchConfig, Secret};
use firesight::delivery_errors::event::Family;
use firesight::delivery_errors::repo::{DeliveryRepo, ErrorFilter, ListPosition, Rejection, StatsColumn, StoredError};
use firesight::metrics::Metrics;
use firesight::state::StateDb;
use firesight::worker::Outcome;
use serde_json::{Value, json};

use crate::firehose_client::FirehoseClient;
use crate::harness::{self, TcpProxy, TestApp};

const ACCOUNT_ARN: &str = "arn:aws:firehose:us-east-1:123456789012:deliverystream";

fn config(endpoint: &str, groups: &[String]) -> CloudWatchConfig {
    CloudWatchConfig {
        enabled: true,
        endpoint_url: Some(endpoint.to_owned()),
        region: Some("us-east-1".to_owned()),
        access_key_id: Some("testing".to_owned()),
        secret_access_key: Some(Secret::new("testing")),
        log_groups: groups.to_vec(),
        page_size: 10,
        requests_per_second: 50.0,
        start_lookback_secs: 2 * 86_400,
        settle_secs: 0,
        lease_secs: 30,
        poll_interval_secs: 1,
        ..CloudWatchConfig::default()
    }
}

async fn sqlite_repo() -> (DeliveryRepo, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let db = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
    db.migrate().await.unwrap();
    (DeliveryRepo::new(db), dir)
}

async fn poller(config: &CloudWatchConfig, repo: &DeliveryRepo, holder: &str) -> (Poller, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::new());
    let source = Arc::new(CloudWatch::from_config(config).await);
    let limiter = Arc::new(RateLimiter::per_second(config.requests_per_second));
    (Poller::new(source, repo.clone(), config.clone(), limiter, metrics.clone(), holder), metrics)
}

/// Steps until a step is caught up and found nothing new (a completed pass may leave events written
/// meanwhile to the next one); no step may fail.
async fn drain(poller: &mut Poller) -> Vec<StepReport> {
    let mut reports = Vec::new();
    for _ in 0..500 {
        let report = poller.run_once().await;
        assert_ne!(report.outcome, Outcome::Failed, "{report:?}");
        let done = report.outcome == Outcome::CaughtUp && report.stored == 0;
        reports.push(report);
        if done {
            return reports;
        }
    }
    panic!("the poller did not catch up");
}

fn stored(reports: &[StepReport]) -> u64 {
    reports.iter().map(|r| r.stored).sum()
}

async fn all_errors(repo: &DeliveryRepo) -> Vec<StoredError> {
    let filter = ErrorFilter { from_ms: 0, to_ms: i64::MAX, ..Default::default() };
    repo.list(&filter, None, 100_000).await.unwrap()
}

/// A CloudWatch Logs client on moto for seeding.
pub(crate) async fn moto_client(endpoint: &str) -> Client {
    CloudWatch::from_config(&config(endpoint, &[])).await.client().clone()
}

/// Creates the group and stream (if needed) and writes `events` (time ms, message).
pub(crate) async fn seed(client: &Client, group: &str, stream: &str, events: &[(i64, String)]) {
    let _ = client.create_log_group().log_group_name(group).send().await;
    let _ = client.create_log_stream().log_group_name(group).log_stream_name(stream).send().await;
    let mut events = events.to_vec();
    events.sort_by_key(|(t, _)| *t);
    for chunk in events.chunks(500) {
        let batch: Vec<InputLogEvent> =
            chunk.iter().map(|(t, m)| InputLogEvent::builder().timestamp(*t).message(m).build().unwrap()).collect();
        client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_log_events(Some(batch))
            .send()
            .await
            .unwrap_or_else(|e| {
                panic!("seeding {group}/{stream}: {}", aws_sdk_cloudwatchlogs::error::DisplayErrorContext(e))
            });
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A delivery-error event as Firehose writes it.
pub(crate) fn firehose_event(stream: &str, destination: &str, code: &str, message: &str) -> String {
    json!({
        "deliveryStreamARN": format!("{ACCOUNT_ARN}/{stream}"),
        "destination": destination,
        "deliveryStreamVersionId": 1,
        "message": message,
        "errorCode": code,
    })
    .to_string()
}

/// What the test expects of one seeded event, worked out from the fixture, not by firesight's parser.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    stream: String,
    code: Option<String>,
    family: String,
    http_status: Option<i64>,
    error_type: Option<String>,
}

fn family_of(code: &str) -> &'static str {
    match code.split('.').next().unwrap() {
        "HttpEndpoint" => "http_endpoint",
        "Lambda" => "lambda",
        "S3" => "s3",
        "Redshift" => "redshift",
        "Splunk" => "splunk",
        "InternalError" => "internal",
        c if c.len() == 3 && c.chars().all(|ch| ch.is_ascii_digit()) => "http_status",
        other => panic!("no family for {other}"),
    }
}

fn fixture_text(path: &str) -> String {
    std::fs::read_to_string(harness::fixture(&format!("firehose/{path}"))).unwrap()
}

/// The seeded corpus: every documented code (61, from the Firehose guide's tables), the two documented
/// HTTP-endpoint events verbatim, the two real messages quoted in public issues, OpenSearch answers,
/// and shapes that are not delivery errors. Spread over `streams`; `(stream, log group message, expected)`.
fn corpus(streams: &[&str]) -> Vec<(String, String, Expected)> {
    let mut out = Vec::new();
    let table = fixture_text("aws-docs/examples/delivery_error_codes_from_docs.tsv");
    for (i, line) in table.lines().skip(1).enumerate() {
        let (code, message) = line.split_once('\t').unwrap();
        let stream = streams[i % streams.len()];
        let raw = firehose_event(stream, "https://logs.example.com/v1/firehose", code, message.trim_matches('"'));
        let exp = Expected {
            stream: stream.into(),
            code: Some(code.into()),
            family: family_of(code).into(),
            http_status: None,
            error_type: None,
        };
        out.push((stream.to_owned(), raw, exp));
    }
    for (file, status) in [
        ("delivery_error_HttpEndpoint.DestinationException.json", 413),
        ("delivery_error_HttpEndpoint.InvalidResponseFromDestination.json", 200),
    ] {
        let raw = fixture_text(&format!("aws-docs/examples/{file}"));
        let v: Value = serde_json::from_str(&raw).unwrap();
        let code = v["errorCode"].as_str().unwrap().to_owned();
        // Verbatim: its ARN names the stream `ronald-test`, whatever group it is logged in.
        let exp = Expected {
            stream: "ronald-test".into(),
            family: family_of(&code).into(),
            code: Some(code),
            http_status: Some(status),
            error_type: None,
        };
        out.push((streams[0].to_owned(), raw, exp));
    }
    let quoted = fixture_text("real-world/firehose_error_messages_quoted_in_github_issues.txt");
    for (i, message) in quoted.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).enumerate() {
        let stream = streams[(i + 1) % streams.len()];
        let raw = firehose_event(stream, "https://logs.example.com", "HttpEndpoint.DestinationException", message);
        let exp = Expected {
            stream: stream.into(),
            code: Some("HttpEndpoint.DestinationException".into()),
            family: "http_endpoint".into(),
            http_status: Some(400),
            error_type: None,
        };
        out.push((stream.to_owned(), raw, exp));
    }
    for (status, kind) in [("400", "mapper_parsing_exception"), ("429", "es_rejected_execution_exception")] {
        let body = json!({"error": {"root_cause": [{"type": kind, "reason": "r"}], "type": kind, "reason": "r"}, "status": status.parse::<u16>().unwrap()});
        let stream = streams[streams.len() - 1];
        let raw = firehose_event(stream, "arn:aws:es:us-east-1:123456789012:domain/logs", status, &body.to_string());
        let exp = Expected {
            stream: stream.into(),
            code: Some(status.into()),
            family: "http_status".into(),
            http_status: Some(status.parse().unwrap()),
            error_type: Some(kind.into()),
        };
        out.push((stream.to_owned(), raw, exp));
    }
    for raw in ["Delivery stream paused by operator", r#"{"level":"info","msg":"not an error event"}"#] {
        let stream = streams[0];
        let exp = Expected {
            stream: stream.into(),
            code: None,
            family: "unknown".into(),
            http_status: None,
            error_type: None,
        };
        out.push((stream.to_owned(), raw.to_owned(), exp));
    }
    out
}

fn actual(e: &StoredError) -> Expected {
    Expected {
        stream: e.stream.clone(),
        code: e.error_code.clone(),
        family: e.family.clone(),
        http_status: e.http_status,
        error_type: e.error_type.clone(),
    }
}

fn multiset<T: Ord>(items: impl IntoIterator<Item = T>) -> BTreeMap<T, usize> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_insert(0) += 1;
    }
    m
}

#[tokio::test]
async fn every_seeded_event_is_stored_once_with_its_classification() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let prefix = format!("/aws/kinesisfirehose/{}-", harness::unique("it"));
    let streams = ["weblogs", "clicks", "search"];
    let corpus = corpus(&streams);
    let base = now_ms() - 3 * 3_600_000;
    let mut by_group: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut expected = Vec::new();
    for (i, (stream, raw, exp)) in corpus.iter().enumerate() {
        by_group.entry(format!("{prefix}{stream}")).or_default().push((base + i as i64 * 1000, raw.clone()));
        let group = format!("{prefix}{stream}");
        let mut exp = exp.clone();
        if exp.family == "unknown" {
            // Without an ARN the stream name is the log group's last segment.
            exp.stream = group.rsplit('/').next().unwrap().to_owned();
        }
        expected.push((group, raw.clone(), exp));
    }
    for (group, events) in &by_group {
        seed(&client, group, "HttpEndpointDelivery", events).await;
    }
    assert!(expected.len() >= 60 && by_group.values().all(|e| e.len() > 10), "several pages per group");

    // Groups discovered by prefix (DescribeLogGroups), nothing configured.
    let (repo, _dir) = sqlite_repo().await;
    let mut cfg = config(&moto, &[]);
    cfg.log_group_prefix = prefix.clone();
    let (mut poller, metrics) = poller(&cfg, &repo, "replica-a").await;
    let reports = drain(&mut poller).await;
    let groups: BTreeSet<&String> = poller.groups().iter().collect();
    assert_eq!(groups, by_group.keys().collect(), "discovered groups");
    assert!(reports.len() > 3, "more than one page: {}", reports.len());
    assert_eq!(stored(&reports), expected.len() as u64);

    let rows = all_errors(&repo).await;
    assert_eq!(rows.len(), expected.len(), "each event once");
    let ids: BTreeSet<&str> = rows.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(ids.len(), rows.len());
    let got = multiset(rows.iter().map(|r| (r.log_group.clone(), r.raw.clone(), actual(r))));
    let want = multiset(expected.iter().cloned());
    assert_eq!(got, want);
    let unknown = expected.iter().filter(|(_, _, e)| e.family == "unknown").count() as u64;
    assert_eq!(reports.iter().map(|r| r.unknown).sum::<u64>(), unknown);
    let text = metrics.render();
    assert!(text.contains(&format!("firesight_cloudwatch_events_stored_total {}", expected.len())), "{text}");
    assert!(text.contains(&format!("firesight_cloudwatch_unknown_shapes_total {unknown}")), "{text}");

    // Caught up: another poll stores nothing; new events are picked up, once.
    assert_eq!(stored(&drain(&mut poller).await), 0);
    let later: Vec<(i64, String)> = (0..5)
        .map(|i| (now_ms() + i, firehose_event("clicks", "d", "Lambda.InvokeLimitExceeded", &format!("late {i}"))))
        .collect();
    seed(&client, &format!("{prefix}clicks"), "HttpEndpointDelivery", &later).await;
    assert_eq!(stored(&drain(&mut poller).await), 5);
    assert_eq!(stored(&drain(&mut poller).await), 0);
    assert_eq!(all_errors(&repo).await.len(), expected.len() + 5);
}

#[tokio::test]
async fn a_restart_mid_pagination_leaves_no_gap_and_no_duplicate() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let group = format!("/aws/kinesisfirehose/{}", harness::unique("it-restart-"));
    let base = now_ms() - 3_600_000;
    let events: Vec<(i64, String)> = (0..45)
        .map(|i| {
            (base + i * 500, firehose_event("weblogs", "d", "HttpEndpoint.ConnectionFailed", &format!("attempt {i}")))
        })
        .collect();
    seed(&client, &group, "HttpEndpointDelivery", &events).await;
    // Another log stream of the group that the configuration leaves out.
    let backup: Vec<(i64, String)> =
        (0..7).map(|i| (base + i * 700, firehose_event("weblogs", "d", "S3.AccessDenied", "backup"))).collect();
    seed(&client, &group, "BackupDelivery", &backup).await;

    let (repo, _dir) = sqlite_repo().await;
    let mut cfg = config(&moto, std::slice::from_ref(&group));
    cfg.log_streams = vec!["HttpEndpointDelivery".to_owned()];
    let (mut first, _) = poller(&cfg, &repo, "process-1").await;
    for _ in 0..2 {
        let r = first.run_once().await;
        assert_eq!((r.outcome, r.stored), (Outcome::Progress, 10), "{r:?}");
    }
    first.release().await; // stopped: SIGTERM hands the lease back
    drop(first);

    let (mut second, _) = poller(&cfg, &repo, "process-2").await;
    let reports = drain(&mut second).await;
    assert_eq!(reports[0].stored, 10, "continued the pagination where the first process stopped");
    assert_eq!(reports.iter().map(|r| r.already_stored).sum::<u64>(), 0, "nothing read twice");
    assert_eq!(stored(&reports), 25);
    let rows = all_errors(&repo).await;
    let messages: BTreeSet<String> = rows.iter().map(|r| r.message.clone().unwrap()).collect();
    let want: BTreeSet<String> = (0..45).map(|i| format!("attempt {i}")).collect();
    assert_eq!(messages, want, "no gap");
    assert_eq!(rows.len(), 45, "no duplicate, nothing from BackupDelivery");

    // A third start finds the checkpoint caught up.
    let (mut third, _) = poller(&cfg, &repo, "process-3").await;
    assert_eq!(stored(&drain(&mut third).await), 0);
}

#[tokio::test]
async fn an_outage_mid_poll_is_survived_and_caught_up() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let group = format!("/aws/kinesisfirehose/{}", harness::unique("it-outage-"));
    let base = now_ms() - 3_600_000;
    let events: Vec<(i64, String)> = (0..30)
        .map(|i| {
            (base + i * 1000, firehose_event("weblogs", "d", "HttpEndpoint.RequestTimeout", &format!("before {i}")))
        })
        .collect();
    seed(&client, &group, "HttpEndpointDelivery", &events).await;

    let mut proxy = TcpProxy::start(moto.trim_start_matches("http://")).await;
    let (repo, _dir) = sqlite_repo().await;
    let cfg = config(&proxy.url(), std::slice::from_ref(&group));
    let (mut poller, metrics) = poller(&cfg, &repo, "replica-a").await;
    let r = poller.run_once().await;
    assert_eq!((r.outcome, r.stored), (Outcome::Progress, 10));

    proxy.stop(); // moto goes away mid-pagination
    for _ in 0..2 {
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored), (Outcome::Failed, 0), "{r:?}");
    }
    assert!(metrics.render().contains("firesight_cloudwatch_poll_errors_total 2"), "{}", metrics.render());
    // Errors keep happening meanwhile.
    let during: Vec<(i64, String)> = (0..6)
        .map(|i| {
            (now_ms() + i, firehose_event("weblogs", "d", "HttpEndpoint.ConnectionFailed", &format!("during {i}")))
        })
        .collect();
    seed(&client, &group, "HttpEndpointDelivery", &during).await;

    proxy.resume().await;
    let reports = drain(&mut poller).await;
    assert_eq!(stored(&reports), 26);
    let rows = all_errors(&repo).await;
    assert_eq!(rows.len(), 36);
    let messages: BTreeSet<String> = rows.iter().map(|r| r.message.clone().unwrap()).collect();
    assert_eq!(messages.len(), 36);
}

#[tokio::test]
async fn on_postgres_one_replica_polls_a_group_and_another_takes_over() {
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let group = format!("/aws/kinesisfirehose/{}", harness::unique("it-lease-"));
    let base = now_ms() - 3_600_000;
    let events: Vec<(i64, String)> = (0..25)
        .map(|i| (base + i * 1000, firehose_event("weblogs", "d", "Splunk.AckTimeout", &format!("event {i}"))))
        .collect();
    seed(&client, &group, "SplunkDelivery", &events).await;

    let (url, _schema) = harness::postgres_schema_url().await;
    let connect = || async {
        let db = StateDb::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        DeliveryRepo::new(db)
    };
    let (repo_a, repo_b) = (connect().await, connect().await);
    let mut cfg = config(&moto, std::slice::from_ref(&group));
    cfg.lease_secs = 2;
    let (mut a, _) = poller(&cfg, &repo_a, "replica-a").await;
    let (mut b, _) = poller(&cfg, &repo_b, "replica-b").await;

    for _ in 0..2 {
        let ra = a.run_once().await;
        assert_eq!((ra.polled.len(), ra.stored), (1, 10), "{ra:?}");
        let rb = b.run_once().await;
        assert_eq!((rb.polled.len(), rb.stored), (0, 0), "replica-b must wait: {rb:?}");
    }

    // replica-a dies without releasing; its lease runs out and replica-b continues from its checkpoint.
    drop(a);
    let rb = b.run_once().await;
    assert!(rb.polled.is_empty(), "the lease has not expired yet");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let reports = drain(&mut b).await;
    assert_eq!(reports[0].polled, std::slice::from_ref(&group));
    assert_eq!(stored(&reports), 5);
    assert_eq!(reports.iter().map(|r| r.already_stored).sum::<u64>(), 0);
    let rows = all_errors(&repo_b).await;
    assert_eq!(rows.len(), 25);
    assert_eq!(rows.iter().map(|r| r.message.clone().unwrap()).collect::<BTreeSet<_>>().len(), 25);

    // A replica that comes back finds the group taken.
    let (mut a2, _) = poller(&cfg, &repo_a, "replica-a").await;
    assert!(a2.run_once().await.polled.is_empty());

    // The read side speaks PostgreSQL too.
    let all = ErrorFilter { from_ms: 0, to_ms: i64::MAX, ..Default::default() };
    let codes = repo_a.stats_by(&all, StatsColumn::Code).await.unwrap();
    assert_eq!((codes[0].key.as_str(), codes[0].count), ("Splunk.AckTimeout", 25));
    assert_eq!((codes[0].first_ms, codes[0].last_ms), (base, base + 24_000));
    let splunk = ErrorFilter { families: vec![Family::Splunk], streams: vec!["weblogs".into()], ..all.clone() };
    let buckets = repo_a.buckets(&splunk, 10_000).await.unwrap();
    assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), 25);
    assert!(buckets.iter().all(|b| b.bucket_ms % 10_000 == 0));
    let first = repo_a.list(&all, None, 10).await.unwrap();
    let position = ListPosition { event_time: first[9].event_time, event_id: first[9].event_id.clone() };
    let rest = repo_a.list(&all, Some(&position), 100).await.unwrap();
    assert_eq!(first.len() + rest.len(), 25);
    let r = |status| Rejection { bucket_ms: 60_000, status, reason: "unauthorized".into(), count: 2 };
    repo_a.add_rejections(&[r(401)]).await.unwrap();
    repo_b.add_rejections(&[r(401), r(503)]).await.unwrap();
    let got = repo_a.rejections(0, 3_600_000, 3_600_000).await.unwrap();
    assert_eq!(got.iter().map(|r| (r.status, r.count)).collect::<Vec<_>>(), [(401, 4), (503, 2)]);
}

/// Rewrites the time of a combined-format line.
fn at(line: &str, time: DateTime<Utc>) -> String {
    let start = line.find('[').unwrap();
    let end = line.find(']').unwrap();
    format!("{}[{}]{}", &line[..start], time.format("%d/%b/%Y:%H:%M:%S +0000"), &line[end + 1..])
}

async fn get(app: &TestApp, path: &str) -> (u16, Value) {
    let r = app.get(path).send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body: Value = r.json().await.unwrap();
    if status != 200 {
        assert_eq!(content_type, "application/problem+json", "{path}: {body}");
    }
    (status, body)
}

#[tokio::test]
async fn correlation_and_incidents_find_the_injected_window() {
    let os = harness::require_opensearch().await;
    let moto = harness::require_moto().await;
    let client = moto_client(&moto).await;
    let stream = harness::unique("weblogs-");
    let group = format!("/aws/kinesisfirehose/{stream}");

    // Eight hours of real traffic ending at the current hour, 120 lines an hour, except hours 4 and 5
    // when delivery broke: 10 lines arrived, and Firehose logged 20 errors an hour.
    let now = Utc::now();
    let hour = now.with_minute(0).unwrap().with_second(0).unwrap().with_nanosecond(0).unwrap();
    let t0 = hour - chrono::Duration::hours(8);
    let broken = [4, 5];
    let lines = harness::real_log_lines();
    let mut source = lines.iter().filter(|l| l.contains('[') && l.ends_with('"'));
    let mut records = Vec::new();
    for h in 0..8 {
        let n = if broken.contains(&h) { 10 } else { 120 };
        for i in 0..n {
            let time = t0 + chrono::Duration::hours(h) + chrono::Duration::seconds(i * 3600 / n);
            records.push(at(source.next().unwrap(), time).into_bytes());
        }
    }
    let codes = ["HttpEndpoint.ConnectionFailed", "HttpEndpoint.RequestTimeout"];
    let mut errors = Vec::new();
    for h in broken {
        for i in 0..20 {
            let time = t0 + chrono::Duration::hours(h) + chrono::Duration::minutes(i * 3);
            let code = codes[(i % 2) as usize];
            errors.push((
                time.timestamp_millis(),
                firehose_event(&stream, "https://logs.example.com", code, "Unable to connect"),
            ));
        }
    }
    seed(&client, &group, "HttpEndpointDelivery", &errors).await;

    let app = TestApp::builder()
        .set("CLOUDWATCH__ENABLED", "true")
        .set("CLOUDWATCH__ENDPOINT_URL", moto)
        .set("CLOUDWATCH__REGION", "us-east-1")
        .set("CLOUDWATCH__ACCESS_KEY_ID", "testing")
        .set("CLOUDWATCH__SECRET_ACCESS_KEY", "testing")
        .set("CLOUDWATCH__LOG_GROUPS", group.clone())
        .set("CLOUDWATCH__POLL_INTERVAL_SECS", "1")
        .set("CLOUDWATCH__START_LOOKBACK_SECS", "86400")
        .spawn()
        .await;
    app.wait_ready(Duration::from_secs(30)).await;
    let firehose = FirehoseClient::new(&app.base);
    for (i, chunk) in records.chunks(200).enumerate() {
        let reply = firehose.deliver(&format!("corr-{stream}-{i}"), chunk).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
    // firesight's own refusals: three deliveries with a wrong access key.
    let mut intruder = FirehoseClient::new(&app.base);
    intruder.access_key = "wrong-key".to_owned();
    for i in 0..3 {
        assert_eq!(intruder.deliver(&format!("bad-{i}"), &[b"x".to_vec()]).await.status, 401);
    }
    assert_eq!(harness::count(&os, &format!("{}-*", app.index_prefix)).await, records.len() as u64);

    // The worker loop polls the group on its own.
    let range =
        format!("from={}&to={}", t0.to_rfc3339(), (hour + chrono::Duration::hours(1)).to_rfc3339()).replace('+', "%2B");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (_, summary) = get(&app, &format!("/v1/delivery-errors/summary?{range}&interval=1h")).await;
        if summary["total"] == 40 {
            assert_eq!(summary["by_stream"][0]["key"], stream.as_str());
            let by_code: BTreeMap<String, u64> = summary["by_code"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| (s["key"].as_str().unwrap().to_owned(), s["count"].as_u64().unwrap()))
                .collect();
            assert_eq!(by_code, BTreeMap::from([(codes[0].to_owned(), 20), (codes[1].to_owned(), 20)]));
            assert_eq!(
                summary["first_seen"],
                json!((t0 + chrono::Duration::hours(4)).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            );
            let timeline: Vec<u64> =
                summary["timeline"].as_array().unwrap().iter().map(|b| b["count"].as_u64().unwrap()).collect();
            assert_eq!(timeline, [0, 0, 0, 0, 20, 20, 0, 0, 0]);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the poller did not store the errors: {summary}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The refusals are flushed every two seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let correlation = loop {
        let (status, c) = get(&app, &format!("/v1/delivery-errors/correlation?{range}&interval=1h&baseline=3")).await;
        assert_eq!(status, 200, "{c}");
        let rejected: u64 =
            c["buckets"].as_array().unwrap().iter().map(|b| b["rejected_requests"].as_u64().unwrap()).sum();
        if rejected == 3 {
            break c;
        }
        assert!(tokio::time::Instant::now() < deadline, "rejections not recorded: {c}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let buckets = correlation["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 9);
    let ingested: Vec<u64> = buckets.iter().map(|b| b["records_ingested"].as_u64().unwrap()).collect();
    assert_eq!(ingested, [120, 120, 120, 120, 10, 10, 120, 120, 0]);
    let errors_per_bucket: Vec<u64> = buckets.iter().map(|b| b["delivery_errors"].as_u64().unwrap()).collect();
    assert_eq!(errors_per_bucket, [0, 0, 0, 0, 20, 20, 0, 0, 0]);
    let flagged: Vec<usize> = (0..9).filter(|&i| buckets[i]["flagged"] == true).collect();
    assert_eq!(flagged, broken.iter().map(|&h| h as usize).collect::<Vec<_>>(), "{correlation:#}");
    assert_eq!(correlation["flagged_buckets"], 2);
    assert_eq!(buckets[8]["rejected_requests"], 3, "refused just now: {correlation:#}");
    assert_eq!(buckets[8]["rejected_by_status"], json!({"401": 3}));

    let (status, incidents) = get(&app, &format!("/v1/delivery-errors/incidents?{range}&interval=1h&baseline=3")).await;
    assert_eq!(status, 200, "{incidents}");
    let list = incidents["incidents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{incidents:#}");
    let incident = &list[0];
    let ts = |t: DateTime<Utc>| json!(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
    assert_eq!(incident["stream"], stream.as_str());
    assert_eq!(incident["start"], ts(t0 + chrono::Duration::hours(4)));
    assert_eq!(incident["end"], ts(t0 + chrono::Duration::hours(6)));
    assert_eq!(incident["ongoing"], false);
    assert_eq!(incident["error_count"], 40);
    assert_eq!(incident["codes"], json!([{"code": codes[0], "count": 20}, {"code": codes[1], "count": 20}]));
    assert_eq!(incident["ingest_baseline"], 120.0);
    assert_eq!(incident["estimated_missing_records"], 2 * (120 - 10));

    // The list pages through all 40 with a cursor, filters narrow it, bad input is refused.
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let cursor_param = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (status, page) = get(&app, &format!("/v1/delivery-errors?{range}&size=7{cursor_param}")).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["family"], "http_endpoint");
            assert!(ids.insert(item["id"].as_str().unwrap().to_owned()), "an item came twice");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!((ids.len(), pages), (40, 6));
    let (_, page) = get(&app, &format!("/v1/delivery-errors?{range}&code={}&stream={stream}", codes[1])).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 20);
    let (_, page) = get(&app, &format!("/v1/delivery-errors?{range}&family=lambda")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 0);
    for (query, field) in [
        ("family=kafka", "family"),
        ("size=0", "size"),
        ("cursor=bm9wZQ", "cursor"),
        ("from=now-400d", "from"),
        ("colour=red", "colour"),
    ] {
        let (status, problem) = get(&app, &format!("/v1/delivery-errors?{query}")).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{query}: {problem}");
        assert_eq!(problem["code"], "invalid_parameter");
    }
    for (path, field) in [
        ("/v1/delivery-errors/correlation?interval=90s", "interval"),
        ("/v1/delivery-errors/correlation?from=now-30d&interval=1m", "interval"),
        ("/v1/delivery-errors/correlation?baseline=500", "baseline"),
        ("/v1/delivery-errors/correlation?min_drop=2", "min_drop"),
        ("/v1/delivery-errors/incidents?min_drop=0.5", "min_drop"),
        ("/v1/delivery-errors/summary?interval=1s&from=now-7d", "interval"),
    ] {
        let (status, problem) = get(&app, path).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some(field)), "{path}: {problem}");
    }
    let r = app.client.get(app.url("/v1/delivery-errors")).send().await.unwrap();
    assert_eq!(r.status(), 401);

    let prefix = app.index_prefix.clone();
    app.stop().await;
    harness::drop_prefix(&os, &prefix).await;
}
