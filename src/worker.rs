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
    /// Full-jitter exponential backoff after `failures` consecutive failures: a uniformly random pause
    /// between zero and `min(cap, base * 2^failures)`, so replicas that failed together spread out.
    pub fn backoff(&self, failures: u32) -> Duration {
        let exp = self.backoff_base.saturating_mul(1u32 << failures.min(16));
        let cap = exp.min(self.backoff_cap);
        cap.mul_f64(random_fraction())
    }
}

/// A uniformly random number in [0, 1) from the operating system's random source.
pub fn random_fraction() -> f64 {
    let bits = getrandom::u64().expect("the operating system's random source is available");
    // The top 53 bits make every double in [0, 1) with 2^-53 spacing equally likely.
    (bits >> 11) as f64 / (1u64 << 53) as f64
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
            let cap = Duration::from_millis(100).saturating_mul(1 << failures.min(16)).min(Duration::from_secs(2));
            let pauses: Vec<Duration> = (0..400).map(|_| p.backoff(failures)).collect();
            assert!(pauses.iter().all(|d| *d < cap), "{failures}: a pause reached {cap:?}");
            // Full jitter: the pauses cover the whole range, not only its upper half.
            let low = pauses.iter().filter(|d| **d < cap / 4).count();
            let high = pauses.iter().filter(|d| **d > cap * 3 / 4).count();
            assert!(low > 40 && high > 40, "{failures}: {low} below a quarter, {high} above three quarters");
        }
    }

    #[test]
    fn random_fractions_are_uniform_in_the_unit_interval() {
        let mut buckets = [0u32; 10];
        for _ in 0..10_000 {
            let r = random_fraction();
            assert!((0.0..1.0).contains(&r), "{r}");
            buckets[(r * 10.0) as usize] += 1;
        }
        // 1,000 expected per tenth; six standard deviations is about 180.
        assert!(buckets.iter().all(|b| (820..=1180).contains(b)), "{buckets:?}");
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
