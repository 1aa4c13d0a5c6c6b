//! firesight turns web access logs delivered by Amazon Kinesis Data Firehose into answers.
//!
//! The code follows three paths:
//!
//! - **Write path**: Firehose HTTP endpoint deliveries (or `firesight ingest` files) are decoded,
//!   parsed into one canonical ECS document per access-log line, enriched (GeoIP, user agent) and
//!   indexed into the log [`store`], idempotently.
//! - **Read path**: `/v1` queries (search, top-N, timelines, summaries) are translated for the log
//!   store, with hot aggregates cached.
//! - **Control path**: Firehose's delivery-error events are polled from [`cloudwatch`] Logs into the
//!   [`state`] database, understood and correlated with ingest volume by [`delivery`], and turned into
//!   signed alert webhooks.
//!
//! [`run`] starts the HTTP edge ([`http`]) and every background [`worker`] switched on by [`config`];
//! `main` and the tests both call it.

pub mod app;
pub mod cloudwatch;
pub mod config;
pub mod delivery;
pub mod document;
pub mod enrich;
pub mod firehose;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod parse;
pub mod query;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod worker;

use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use app::App;
pub use config::Config;

/// Runs the service on `listener` until `shutdown` is cancelled: the HTTP API plus every background
/// worker the configuration enables. Returns after in-flight requests finished (or the grace period
/// ran out) and the workers stopped.
pub async fn run(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    announce(&config, &listener);
    let app = App::start(config, shutdown.clone()).await?;

    let mut workers = JoinSet::new();
    workers.spawn(store_preparer(app.clone(), shutdown.child_token()));
    workers.spawn(app.rejections.clone().run(
        app.delivery.repo().clone(),
        Duration::from_secs(2),
        shutdown.child_token(),
    ));
    if let Some(poller) = cloudwatch_poller(&app) {
        workers.spawn(poller.run(shutdown.child_token()));
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
    app.db.close().await;
    tracing::info!("firesight stopped");
    served
}

fn announce(config: &Config, listener: &TcpListener) {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    tracing::info!(%addr, store = config.store.as_str(), data_dir = %config.data_dir.display(), "firesight starting");
    if config.auth.disabled {
        tracing::warn!("API keys are disabled (auth.disabled = true): anyone who can reach {addr} can read the logs");
    } else if config.api_keys.is_empty() {
        tracing::warn!("no API keys configured: every /v1 request will be refused; set FIRESIGHT_API_KEYS");
    }
}

/// The delivery-error poller, when CloudWatch is enabled.
fn cloudwatch_poller(app: &App) -> Option<cloudwatch::Poller> {
    let cloudwatch = app.cloudwatch.clone()?;
    let config = app.config.cloudwatch.clone();
    let limiter = std::sync::Arc::new(cloudwatch::RateLimiter::per_second(config.requests_per_second));
    Some(cloudwatch::Poller::new(
        std::sync::Arc::new(cloudwatch),
        app.delivery.repo().clone(),
        config,
        limiter,
        app.metrics.clone(),
        app.instance.id.clone(),
    ))
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
