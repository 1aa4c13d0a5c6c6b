//! The shape every background worker shares: a loop around a `run_once()` step that reports what it
//! did, sleeping according to the outcome, until the shutdown token is cancelled. Steps are public so
//! tests can drive them by hand.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// What one step of a worker achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Did work and may have more: step again at once.
    Progress,
    /// Nothing left to do: wait the idle interval.
    CaughtUp,
    /// Failed: back off before the next try.
    Failed,
}

/// When to step again.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub idle: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl Pacing {
    /// Full-jitter exponential backoff after `failures` consecutive failures.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self.backoff_base.saturating_mul(1u32 << failures.min(16));
        let cap = exp.min(self.backoff_cap);
        cap.mul_f64(jitter())
    }
}

/// A number in [0.5, 1): half fixed, half random, so retries spread without collapsing to zero.
fn jitter() -> f64 {
    0.5 + (uuid::Uuid::new_v4().as_u128() % 1000) as f64 / 2000.0
}

/// Runs `step` until `shutdown` is cancelled.
pub async fn run<F, Fut>(name: &'static str, pacing: Pacing, shutdown: CancellationToken, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Outcome>,
{
    let mut failures = 0u32;
    tracing::debug!(worker = name, "worker started");
    loop {
        let outcome = tokio::select! {
            _ = shutdown.cancelled() => break,
            outcome = step() => outcome,
        };
        let pause = match outcome {
            Outcome::Progress => {
                failures = 0;
                Duration::ZERO
            }
            Outcome::CaughtUp => {
                failures = 0;
                pacing.idle
            }
            Outcome::Failed => {
                failures = failures.saturating_add(1);
                pacing.backoff(failures - 1)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    tracing::debug!(worker = name, "worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = Pacing {
            idle: Duration::from_secs(1),
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(2),
        };
        for failures in 0..20 {
            let d = p.backoff(failures);
            assert!(d <= Duration::from_secs(2), "{failures}: {d:?}");
            let floor =
                Duration::from_millis(100).saturating_mul(1 << failures.min(16)).min(Duration::from_secs(2)) / 2;
            assert!(d >= floor, "{failures}: {d:?} < {floor:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stops_on_cancel() {
        let token = CancellationToken::new();
        let mut steps = 0;
        let t = token.clone();
        run(
            "test",
            Pacing {
                idle: Duration::from_secs(10),
                backoff_base: Duration::from_secs(1),
                backoff_cap: Duration::from_secs(1),
            },
            token,
            || {
                steps += 1;
                if steps == 3 {
                    t.cancel();
                }
                async { Outcome::CaughtUp }
            },
        )
        .await;
        assert_eq!(steps, 3);
    }
}
