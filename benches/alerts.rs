//! Webhook outbox throughput: `N` incidents opened through the repository (each writing its event and
//! one delivery in the same transaction), then the dispatcher drains the outbox to a local receiver
//! that verifies nothing and answers 204. Reports the rate of both phases, on SQLite and on PostgreSQL
//! (`FIRESIGHT_TEST_POSTGRES_URL`, default the `dev/services.sh` server).
//!
//! `cargo bench --profile profiling --bench alerts -- [N]` (default 2000).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use firesight::alerts::dispatch::Dispatcher;
use firesight::alerts::model::*;
use firesight::alerts::repo::{AlertRepo, StoredRule, new_id};
use firesight::alerts::rules::RuleKind;
use firesight::alerts::target::TargetPolicy;
use firesight::alerts::{evaluate, payload, signing};
use firesight::config::PrivateTargets;
use firesight::metrics::Metrics;
use firesight::state::StateDb;
use firesight::worker::Outcome;

async fn receiver() -> (String, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let c = count.clone();
    let app = axum::Router::new().fallback(move || {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), count)
}

async fn run(label: &str, db: StateDb, n: usize) {
    db.migrate().await.unwrap();
    let repo = AlertRepo::new(db);
    let (url, received) = receiver().await;
    let now = Utc::now();
    let hook = Webhook {
        id: new_id("hook"),
        url,
        description: String::new(),
        enabled: true,
        events: vec![EVENT_FIRING.to_owned()],
        format: PayloadFormat::Json,
        created_at: now,
        updated_at: now,
        failing_since: None,
        disabled_at: None,
        disabled_reason: None,
    };
    repo.insert_webhook(&hook, &signing::new_secret()).await.unwrap();
    let mut rules = Vec::with_capacity(n);
    for i in 0..n {
        let rule = StoredRule {
            rule: Rule {
                id: new_id("rule"),
                name: format!("rule {i}"),
                kind: RuleKind::DeliveryErrors,
                threshold: 1.0,
                window: "5m".into(),
                cooldown: "0s".into(),
                enabled: true,
                streams: vec!["weblogs".into()],
                codes: Vec::new(),
                families: Vec::new(),
                min_requests: None,
                percentile: None,
                threshold_ms: None,
                last_fired_at: None,
                created_at: now,
                updated_at: now,
            },
            window_secs: 300,
            cooldown_secs: 0,
        };
        repo.insert_rule(&rule).await.unwrap();
        rules.push(rule);
    }
    let EventData::Incident(sample) = payload::sample_event(now).data else {
        unreachable!("the sample is an incident")
    };
    let sample = sample.findings;
    let started = Instant::now();
    for rule in &rules {
        let incident = Incident {
            id: new_id("inc"),
            rule_id: rule.rule.id.clone(),
            rule_name: rule.rule.name.clone(),
            kind: rule.rule.kind,
            status: IncidentStatus::Open,
            opened_at: Utc::now(),
            resolved_at: None,
            last_evaluated_at: Utc::now(),
            opened_value: 12.0,
            peak_value: 12.0,
            last_value: 12.0,
            findings: sample.clone(),
        };
        let event = evaluate::event(EVENT_FIRING, rule, &incident.id, incident.opened_at, None, &sample, Utc::now());
        repo.open(&incident, 0, &event).await.unwrap().expect("opened");
    }
    let opened = started.elapsed();

    let metrics = Arc::new(Metrics::new());
    let dispatcher = Dispatcher::new(
        repo,
        TargetPolicy::new(PrivateTargets::All),
        vec![Duration::from_secs(1)],
        Duration::from_secs(10),
        "bench",
        metrics,
        Duration::ZERO,
    );
    let started = Instant::now();
    while dispatcher.run_once().await == Outcome::Progress {}
    let drained = started.elapsed();
    assert_eq!(received.load(Ordering::Relaxed), n as u64, "every event delivered once");
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let mut row = BTreeMap::new();
    row.insert("open incident + event + delivery (one transaction each)", format!("{:.0}/s", rate(opened)));
    row.insert("dispatch: claim, sign, POST, record attempt", format!("{:.0}/s", rate(drained)));
    for (what, figure) in row {
        println!("{label:10} {n} events  {what:58} {figure}");
    }
}

fn main() {
    let n: usize = std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
        run("sqlite", sqlite, n).await;

        let base = std::env::var("FIRESIGHT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://firesight:firesight@127.0.0.1:5432/firesight_test".to_owned());
        let admin = sqlx::PgPool::connect(&base).await.expect("PostgreSQL (dev/services.sh up)");
        let schema = format!("bench_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&admin).await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let postgres = StateDb::connect(&format!("{base}{sep}options=-c%20search_path%3D{schema}")).await.unwrap();
        run("postgres", postgres.clone(), n).await;
        postgres.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin).await.unwrap();
    });
}
