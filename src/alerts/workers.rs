//! The alerting background loops, each a [`crate::worker::run`] loop that [`crate::run`] spawns when
//! alerts are switched on: the evaluator (every `evaluation_interval_secs`), the dispatcher (every
//! `dispatch_interval_secs`) and the pruner of old history (hourly, when `history_days` is not 0).

use std::time::Duration;

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use super::Alerts;

impl Alerts {
    /// The evaluation loop.
    pub async fn run_evaluator(self, shutdown: CancellationToken) {
        let pacing = crate::worker::Pacing {
            idle: Duration::from_secs(self.config.evaluation_interval_secs),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        };
        crate::worker::run("alert_evaluator", pacing, shutdown, || async {
            match self.evaluator.run_once(Utc::now()).await {
                Ok(report) if report.failed == 0 => crate::worker::Outcome::CaughtUp,
                Ok(_) => crate::worker::Outcome::Failed,
                Err(e) => {
                    tracing::warn!(error = crate::telemetry::chain(&e), "alert evaluation failed; retrying");
                    crate::worker::Outcome::Failed
                }
            }
        })
        .await;
    }

    /// Prunes alert history older than `history_days`, hourly (nothing when it is 0).
    pub async fn run_pruner(self, shutdown: CancellationToken) {
        let days = self.config.history_days;
        if days == 0 {
            return;
        }
        let pacing = crate::worker::Pacing {
            idle: Duration::from_secs(3600),
            backoff_base: Duration::from_secs(5),
            backoff_cap: Duration::from_secs(300),
        };
        crate::worker::run("alert_pruner", pacing, shutdown, || async {
            let before = Utc::now() - chrono::TimeDelta::days(i64::from(days));
            match self.repo.prune(before.timestamp_millis()).await {
                Ok(deleted) => {
                    if deleted > 0 {
                        tracing::info!(deleted, history_days = days, "pruned alert history");
                    }
                    crate::worker::Outcome::CaughtUp
                }
                Err(e) => {
                    tracing::warn!(error = crate::telemetry::chain(&e), "alert history pruning failed; retrying");
                    crate::worker::Outcome::Failed
                }
            }
        })
        .await;
    }

    /// The delivery loop.
    pub async fn run_dispatcher(self, shutdown: CancellationToken) {
        let pacing = crate::worker::Pacing {
            idle: Duration::from_secs(self.config.dispatch_interval_secs),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(30),
        };
        crate::worker::run("alert_dispatcher", pacing, shutdown, || self.dispatcher.run_once()).await;
    }
}
