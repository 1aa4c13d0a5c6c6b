//! A request-rate limiter shared by everything in this process that calls CloudWatch Logs: calls are
//! spaced evenly at the configured rate (no bursts), so the account-wide FilterLogEvents quota is not
//! spent by one busy log group. Uses tokio's clock, so tests can run it on paused time.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    interval: Duration,
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// `rate` calls per second (positive).
    pub fn per_second(rate: f64) -> Self {
        Self { interval: Duration::from_secs_f64(1.0 / rate.max(0.001)), next: Mutex::new(None) }
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut next = self.next.lock().expect("rate limiter poisoned");
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_calls_at_the_rate() {
        let limiter = std::sync::Arc::new(RateLimiter::per_second(5.0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let l = limiter.clone();
            tasks.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        assert_eq!(times[0], Duration::ZERO);
        assert!(times[9] >= Duration::from_millis(1800), "{times:?}");
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(199), "{times:?}");
        }
        // Idle time is not banked into a burst.
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert!(Instant::now() - t >= Duration::from_millis(199));
    }
}
