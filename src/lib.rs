//! firesight turns web access logs delivered by Amazon Kinesis Data Firehose into answers.
//!
//! The code follows three paths:
//!
//! - **Write path**: Firehose HTTP endpoint deliveries ([`firehose`]), records read from Kinesis Data
//!   Streams ([`kinesis`]), records Firehose gave up on and backed up to S3 ([`replay`]) or
//!   `firesight ingest` files are
//!   decoded, [`parse`]d into one canonical ECS document per access-log line, [`enrich`]ed (GeoIP, user
//!   agent) and indexed by [`ingest`] into the log [`store`], idempotently; what is newly indexed also
//!   goes to the live [`tail`] that `/v1/logs/tail` streams.
//! - **Read path**: `/v1` queries (search, top-N, timelines, summaries) are expressed in the [`query`]
//!   model, answered by the [`read`] service with hot aggregates cached, and translated by each store.
//! - **Control path**: Firehose's delivery-error events are polled from [`cloudwatch`] Logs into the
//!   [`state`] database, understood and correlated with ingest volume by [`delivery_errors`]; [`alerts`]
//!   evaluates rules over them and over the access logs, opens and resolves incidents, and delivers
//!   signed webhooks through an outbox.
//!
//! [`run`] starts the HTTP edge ([`http`]) and every background [`worker`] switched on by [`config`];
//! `main` and the tests both call it. `docs/ARCHITECTURE.md` says which way imports go and where each
//! kind of change belongs.

pub mod alerts;
pub mod app;
pub mod aws;
pub mod cloudwatch;
pub mod config;
pub mod delivery_errors;
pub mod demo;
pub mod duration;
pub mod firehose;
pub mod forms;
pub mod http;
pub mod ingest;
pub mod keys;
pub mod kinesis;
pub mod metrics;
pub mod query;
pub mod read;
pub mod replay;
pub mod state;
pub mod store;
pub mod tail;
pub mod telemetry;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use app::App;
pub use config::Config;
pub use firesight_core::{document, enrich, kpl, line, net, parse, record};

/// Runs the service on `listener` until `shutdown` is cancelled: the HTTP API plus every background
/// worker the configuration enables. Returns after in-flight requests finished (or the grace period
/// ran out) and the workers stopped.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    announce(&config, &listener);
    let app = App::start(config, shutdown.clone()).await?;

    let mut workers = JoinSet::new();
    workers.spawn(store_preparer(app.clone(), shutdown.child_token()));
    if app.config.demo {
        workers.spawn(demo_loader(app.clone(), shutdown.child_token()));
    }
    if app.config.store == config::StoreKind::Embedded && app.config.embedded.retention_days > 0 {
        workers.spawn(retention(app.clone(), shutdown.child_token()));
    }
    workers.spawn(app.rejections.clone().run(
        app.delivery_errors.repo().clone(),
        Duration::from_secs(2),
        shutdown.child_token(),
    ));
    if app.config.alerts.enabled {
        workers.spawn(app.alerts.clone().run_evaluator(shutdown.child_token()));
        workers.spawn(app.alerts.clone().run_dispatcher(shutdown.child_token()));
        workers.spawn(app.alerts.clone().run_pruner(shutdown.child_token()));
    }
    if let Some(poller) = cloudwatch_poller(&app) {
        workers.spawn(poller.run(shutdown.child_token()));
    }
    if let Some(consumer) = kinesis_consumer(&app)? {
        workers.spawn(consumer.run(shutdown.child_token()));
    }
    if let Some(replayer) = app.replays.replayer() {
        let job = replay::job::Job::new(replayer.clone(), app.config.s3_replay.clone(), app.instance.id.clone());
        workers.spawn(job.run(shutdown.child_token()));
    }

    let router = http::router(app.clone());
    let server = axum::serve(listener, router).with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server = tokio::spawn(async move { server.await });
    let served = tokio::select! {
        result = server => result.context("HTTP server task failed")?.context("HTTP server failed"),
        () = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "in-flight requests did not finish within the grace period");
            Ok(())
        }
    };
    shutdown.cancel();
    while let Some(joined) = workers.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "worker panicked");
        }
    }
    if let Err(e) = app.store.flush().await {
        tracing::warn!(
            error = telemetry::chain(&e),
            "could not commit the log store's pending documents; the next start will"
        );
    }
    app.db.close().await;
    tracing::info!("firesight stopped");
    served
}

fn announce(config: &Config, listener: &TcpListener) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%addr, store = config.store.as_str(), data_dir = %config.data_dir.display(), "firesight starting");
    if config.store == config::StoreKind::Embedded {
        let data_dir = std::path::absolute(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        tracing::info!(
            "access logs and state live in {} (embedded store and SQLite, one machine); for scale and several \
             replicas set FIRESIGHT_STORE=opensearch and FIRESIGHT_DATABASE_URL=postgres://...",
            data_dir.display()
        );
    }
    if config.auth.disabled {
        tracing::warn!("API keys are disabled (auth.disabled = true): anyone who can reach {addr} can read the logs");
    } else if config.api_keys.is_empty() {
        tracing::warn!("no API keys configured: every /v1 request will be refused; set FIRESIGHT_API_KEYS");
    }
}

/// Loads the demo sample once the store answers (`serve --demo`), then stops.
async fn demo_loader(app: App, shutdown: CancellationToken) {
    let pacing = worker::Pacing {
        idle: Duration::ZERO,
        backoff_base: Duration::from_millis(500),
        backoff_cap: Duration::from_secs(10),
    };
    // Stops the loop after the first success, or with the service.
    let done = shutdown.child_token();
    worker::run("demo_loader", pacing, done.clone(), || {
        let app = app.clone();
        let done = done.clone();
        async move {
            match demo::load(&app.ingestor, chrono::Utc::now()).await {
                Ok(demo::DemoLoad::Skipped { recent_requests }) => {
                    tracing::info!(recent_requests, "demo: the store already has traffic from the last 24 hours");
                }
                Ok(demo::DemoLoad::Loaded { indexed, duplicates, dead_lettered, ends }) => tracing::info!(
                    indexed,
                    duplicates,
                    dead_lettered,
                    %ends,
                    "demo: loaded {} shifted to end now",
                    demo::SAMPLE_ORIGIN
                ),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "demo: could not load the sample yet; retrying");
                    return worker::Outcome::Failed;
                }
            }
            done.cancel();
            worker::Outcome::CaughtUp
        }
    })
    .await;
}

/// Drops the embedded store's days older than `embedded.retention_days`, hourly.
async fn retention(app: App, shutdown: CancellationToken) {
    let days = app.config.embedded.retention_days;
    let pacing = worker::Pacing {
        idle: Duration::from_secs(3600),
        backoff_base: Duration::from_secs(5),
        backoff_cap: Duration::from_secs(300),
    };
    worker::run("retention", pacing, shutdown, || {
        let store = app.store.clone();
        async move {
            let keep_from = chrono::Utc::now().date_naive() - chrono::TimeDelta::days(i64::from(days) - 1);
            match store.drop_days_before(keep_from).await {
                Ok(dropped) => {
                    if !dropped.is_empty() {
                        tracing::info!(?dropped, retention_days = days, "retention: dropped old days");
                    }
                    worker::Outcome::CaughtUp
                }
                Err(e) => {
                    tracing::warn!(error = telemetry::chain(&e), "retention failed; retrying");
                    worker::Outcome::Failed
                }
            }
        }
    })
    .await;
}

/// The delivery-error poller, when CloudWatch is enabled.
fn cloudwatch_poller(app: &App) -> Option<cloudwatch::Poller> {
    let cloudwatch = app.cloudwatch.clone()?;
    let config = app.config.cloudwatch.clone();
    let limiter = std::sync::Arc::new(cloudwatch::RateLimiter::per_second(config.requests_per_second));
    Some(cloudwatch::Poller::new(
        std::sync::Arc::new(cloudwatch),
        app.delivery_errors.repo().clone(),
        config,
        limiter,
        app.metrics.clone(),
        app.instance.id.clone(),
    ))
}

/// The Kinesis Data Streams consumer, when streams are configured.
fn kinesis_consumer(app: &App) -> anyhow::Result<Option<kinesis::Consumer>> {
    let Some(client) = app.kinesis.clone() else { return Ok(None) };
    let consumer = kinesis::Consumer::new(
        client,
        kinesis::leases::LeaseRepo::new(app.db.clone()),
        app.ingestor.clone(),
        app.config.kinesis.clone(),
        app.instance.id.clone(),
        app.kinesis_streams.clone(),
    )
    .context("FIRESIGHT_KINESIS__START")?;
    Ok(Some(consumer))
}

/// Keeps the log store's schema installed: retries with backoff while the backend is down, then
/// re-applies it periodically (a recreated cluster gets its template back without a restart).
async fn store_preparer(app: App, shutdown: CancellationToken) {
    let pacing = worker::Pacing {
        idle: Duration::from_secs(300),
        backoff_base: Duration::from_millis(500),
        backoff_cap: Duration::from_secs(30),
    };
    worker::run("store_preparer", pacing, shutdown, || {
        let store = app.store.clone();
        async move {
            match store.prepare().await {
                Ok(status) => {
                    tracing::debug!(kind = status.kind, version = ?status.version, "log store prepared");
                    worker::Outcome::CaughtUp
                }
                Err(e) => {
                    tracing::warn!(kind = store.kind(), error = telemetry::chain(&e), "log store not ready; retrying");
                    worker::Outcome::Failed
                }
            }
        }
    })
    .await;
}
