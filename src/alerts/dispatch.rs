//! The dispatcher: claims due deliveries from the outbox, sends each signed event to its webhook with a
//! timeout, records the attempt, and schedules the next one from the retry schedule (with jitter) or
//! gives up after it. Claims carry a lease longer than the request timeout, so a replica never sends
//! an attempt another one holds, and a killed process's claims lapse and are picked up again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::model::*;
use super::repo::{AlertRepo, AttemptRecord, Claimed, DisablePolicy, Next, StoredWebhook};
use super::signing;
use super::target::{TargetPolicy, literal_permitted};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::state::StateDbError;
use crate::worker::Outcome;

/// Deliveries claimed per step.
const BATCH: u32 = 16;
/// Longest error text kept per attempt.
const MAX_ERROR_LEN: usize = 500;

#[derive(Clone)]
pub struct Dispatcher {
    repo: AlertRepo,
    client: reqwest::Client,
    policy: TargetPolicy,
    schedule: Vec<Duration>,
    timeout: Duration,
    instance: String,
    metrics: Arc<Metrics>,
    disable: Option<DisablePolicy>,
}

impl Dispatcher {
    pub fn new(
        repo: AlertRepo,
        policy: TargetPolicy,
        schedule: Vec<Duration>,
        timeout: Duration,
        instance: impl Into<String>,
        metrics: Arc<Metrics>,
        disable_after: Duration,
    ) -> Self {
        let client = reqwest::Client::builder()
            .dns_resolver(policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("firesight/", env!("CARGO_PKG_VERSION"), " (webhooks)"))
            .build()
            .expect("the webhook HTTP client builds");
        let disable =
            (!disable_after.is_zero()).then_some(DisablePolicy { after_ms: disable_after.as_millis() as i64 });
        Self { repo, client, policy, schedule, timeout, instance: instance.into(), metrics, disable }
    }

    /// How long a claim lasts: twice the request timeout (connect and answer) with room to record the
    /// outcome. A killed sender's claims lapse after it.
    fn lease_ms(&self) -> i64 {
        (self.timeout * 2 + Duration::from_secs(5)).as_millis() as i64
    }

    /// Claims and sends one batch of due deliveries.
    pub async fn run_once(&self) -> Outcome {
        let now_ms = Utc::now().timestamp_millis();
        let claimed = match self.repo.claim(&self.instance, now_ms, self.lease_ms(), BATCH).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = crate::telemetry::chain(&e), "alert dispatcher could not claim deliveries");
                return Outcome::Failed;
            }
        };
        if claimed.is_empty() {
            return Outcome::CaughtUp;
        }
        let results = futures::future::join_all(claimed.iter().map(|c| self.deliver(c))).await;
        if let Some(e) = results.into_iter().find_map(Result::err) {
            tracing::warn!(error = crate::telemetry::chain(&e), "alert dispatcher could not record a delivery");
            return Outcome::Failed;
        }
        Outcome::Progress
    }

    /// Sends one claimed delivery and records how it went.
    async fn deliver(&self, claimed: &Claimed) -> Result<(), StateDbError> {
        let now_ms = Utc::now().timestamp_millis();
        let Some(hook) = self.repo.webhook(&claimed.webhook_id).await? else {
            return self.repo.abandon(claimed, &self.instance, "the webhook was deleted", now_ms).await;
        };
        if !hook.webhook.enabled {
            return self.repo.abandon(claimed, &self.instance, "the webhook is disabled", now_ms).await;
        }
        let Some((_, _, _, event)) = self.repo.event(&claimed.event_id).await? else {
            return self.repo.abandon(claimed, &self.instance, "the event no longer exists", now_ms).await;
        };
        let record = self.send(&hook, &claimed.event_id, &event).await;
        let next = if record.success {
            Next::Delivered
        } else {
            match self.schedule.get(claimed.attempts as usize) {
                Some(pause) => Next::RetryAt(Utc::now().timestamp_millis() + jittered(*pause).as_millis() as i64),
                None => Next::GiveUp,
            }
        };
        let outcome = match next {
            Next::Delivered => "delivered",
            Next::RetryAt(_) => "retry",
            Next::GiveUp => "failed",
        };
        self.metrics.webhook_attempts.get_or_create(&OutcomeLabels { outcome }).inc();
        match next {
            Next::GiveUp => tracing::warn!(
                webhook = %hook.webhook.id, event = %claimed.event_id, attempts = claimed.attempts + 1,
                "webhook delivery failed for good after the retry schedule"
            ),
            Next::RetryAt(_) => tracing::info!(
                webhook = %hook.webhook.id, event = %claimed.event_id, error = record.error.as_deref().unwrap_or(""),
                "webhook delivery failed; will retry"
            ),
            Next::Delivered => {
                tracing::debug!(webhook = %hook.webhook.id, event = %claimed.event_id, "webhook delivered")
            }
        }
        let finished = self.repo.finish(
            claimed,
            &self.instance,
            &record,
            next,
            Utc::now().timestamp_millis(),
            self.disable.as_ref(),
        );
        if finished.await?.is_none() {
            tracing::warn!(delivery = %claimed.delivery_id, "a webhook claim lapsed before its outcome was recorded");
        }
        Ok(())
    }

    /// Sends a test event to one webhook now, once, and records the attempt.
    pub async fn send_test(&self, hook: &StoredWebhook, event: &AlertEvent) -> Result<TestResult, StateDbError> {
        let now_ms = Utc::now().timestamp_millis();
        let claimed =
            self.repo.insert_test_event(event, &hook.webhook.id, &self.instance, now_ms, self.lease_ms()).await?;
        let record = self.send(hook, &claimed.event_id, event).await;
        let next = if record.success { Next::Delivered } else { Next::GiveUp };
        // The claim is this call's own and outlasts the request timeout: the attempt is recorded.
        let id = self.repo.finish(&claimed, &self.instance, &record, next, Utc::now().timestamp_millis(), None).await?;
        let attempt = Attempt {
            id: id.unwrap_or_default(),
            delivery_id: claimed.delivery_id,
            event_id: claimed.event_id.clone(),
            webhook_id: claimed.webhook_id,
            attempt: 1,
            started_at: crate::state::time_of_ms(record.started_ms),
            latency_ms: record.latency_ms,
            status_code: record.status_code,
            error: record.error,
            success: record.success,
        };
        Ok(TestResult { event_id: claimed.event_id, attempt })
    }

    /// One signed POST of an event to a webhook.
    pub async fn send(&self, hook: &StoredWebhook, msg_id: &str, event: &AlertEvent) -> AttemptRecord {
        let started_ms = Utc::now().timestamp_millis();
        let started = Instant::now();
        let failed = |error: String| AttemptRecord {
            started_ms,
            latency_ms: started.elapsed().as_millis() as u64,
            status_code: None,
            error: Some(truncate(error)),
            success: false,
        };
        let url =
            match self.policy.parse(&hook.webhook.url).and_then(|u| literal_permitted(&self.policy, &u).map(|_| u)) {
                Ok(url) => url,
                Err(e) => return failed(e.to_string()),
            };
        let body = super::payload::body(hook.webhook.format, event);
        let timestamp = Utc::now().timestamp();
        let Some(signature) = signing::sign(&hook.secret, msg_id, timestamp, &body) else {
            return failed("the webhook's signing secret is unreadable".to_owned());
        };
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", msg_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status();
                AttemptRecord {
                    started_ms,
                    latency_ms: started.elapsed().as_millis() as u64,
                    status_code: Some(status.as_u16()),
                    error: (!status.is_success()).then(|| format!("the receiver answered {status}")),
                    success: status.is_success(),
                }
            }
            Err(e) if e.is_timeout() => failed(format!("no answer within {} s", self.timeout.as_secs())),
            // Without the URL: its path may be the receiver's credential.
            Err(e) => failed(crate::telemetry::chain(&e.without_url())),
        }
    }
}

/// A pause of the schedule, ±20%.
fn jittered(pause: Duration) -> Duration {
    pause.mul_f64(0.8 + 0.4 * crate::worker::random_fraction())
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..200 {
            let d = jittered(Duration::from_secs(100));
            assert!(d >= Duration::from_secs(80) && d <= Duration::from_secs(120), "{d:?}");
        }
    }

    #[test]
    fn long_errors_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(400));
        assert!(s.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(s.ends_with('…'));
    }
}
