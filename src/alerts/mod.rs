//! Alert hooks (control path): rules over delivery errors and access logs, the incidents they open
//! and resolve ([`evaluate`]), and signed webhook delivery through an outbox in the state database
//! ([`repo`], [`dispatch`], [`signing`]) to targets the SSRF guard allows ([`target`]). [`Alerts`] is
//! what the `/v1/alerts` handlers call; it checks their input (`validate`) and its background loops
//! (`workers`) are spawned by [`crate::run`].

mod bounds;
pub mod dispatch;
mod error;
pub mod evaluate;
pub mod model;
pub mod payload;
pub mod repo;
pub mod rules;
mod schema;
pub mod secrets;
pub mod signing;
pub mod target;
mod validate;
mod workers;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::config::AlertsConfig;
use crate::delivery_errors::repo::DeliveryRepo;
use crate::duration::format as format_duration;
use crate::metrics::Metrics;
use crate::state::StateDb;
use crate::store::LogStore;
use dispatch::Dispatcher;
pub use error::AlertError;
use error::invalid;
use evaluate::Evaluator;
use model::*;
use repo::{AlertRepo, StoredRule, StoredWebhook, new_id};
use rules::RuleKind;
use target::TargetPolicy;
use validate::{
    MIN_WINDOW_SECS, check_description, check_events, check_families, check_name, check_rule, check_span, check_values,
};

/// The alerting service: CRUD for hooks and rules, incidents, tests and redeliveries, plus the
/// background loops (evaluator, dispatcher, pruner).
#[derive(Clone)]
pub struct Alerts {
    repo: AlertRepo,
    policy: TargetPolicy,
    dispatcher: Dispatcher,
    evaluator: Evaluator,
    config: AlertsConfig,
    /// Whether the service listens on loopback only (webhooks may then keep unsealed secrets).
    loopback_only: bool,
}

/// Where alerts keep their state, and how they keep secrets there.
pub struct AlertStorage {
    pub db: StateDb,
    pub secrets: Arc<secrets::SecretBox>,
    pub loopback_only: bool,
}

impl Alerts {
    pub fn new(
        config: &AlertsConfig,
        storage: AlertStorage,
        delivery: DeliveryRepo,
        store: Arc<dyn LogStore>,
        instance: &str,
        metrics: Arc<Metrics>,
    ) -> Self {
        let repo = AlertRepo::with_secrets(storage.db, storage.secrets);
        let policy = TargetPolicy::new(config.allow_private_targets.clone());
        let schedule = config.retry_pauses().expect("the retry schedule was validated with the configuration");
        let dispatcher = Dispatcher::new(
            repo.clone(),
            policy.clone(),
            schedule,
            Duration::from_secs(config.timeout_secs),
            instance,
            metrics.clone(),
            Duration::from_secs(config.disable_after_secs),
        );
        let evaluator = Evaluator::new(repo.clone(), delivery, store, config.public_url.clone(), metrics);
        Self { repo, policy, dispatcher, evaluator, config: config.clone(), loopback_only: storage.loopback_only }
    }

    pub fn repo(&self) -> &AlertRepo {
        &self.repo
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    // ---- webhooks ----

    pub async fn create_webhook(&self, input: WebhookCreate) -> Result<CreatedWebhook, AlertError> {
        if !self.repo.seals_secrets() && !self.loopback_only {
            return Err(AlertError::NoSecretsKey);
        }
        let now = Utc::now();
        let webhook = Webhook {
            id: new_id("hook"),
            url: self.check_url(&input.url).await?,
            description: check_description(input.description)?,
            enabled: input.enabled,
            events: check_events(input.events)?,
            format: input.format,
            created_at: now,
            updated_at: now,
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
        };
        let secret = signing::new_secret();
        self.repo.insert_webhook(&webhook, &secret).await?;
        // Only the host: a webhook URL's path is often its credential (Slack's are).
        let host = url::Url::parse(&webhook.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
        tracing::info!(webhook = %webhook.id, %host, "webhook created");
        Ok(CreatedWebhook { webhook, secret })
    }

    pub async fn webhook(&self, id: &str) -> Result<Webhook, AlertError> {
        Ok(self.stored_webhook(id).await?.webhook)
    }

    async fn stored_webhook(&self, id: &str) -> Result<StoredWebhook, AlertError> {
        self.repo.webhook(id).await?.ok_or_else(|| AlertError::NotFound { what: "webhook", id: id.to_owned() })
    }

    pub async fn webhooks(&self, cursor: Option<&str>, size: u32) -> Result<WebhookPage, AlertError> {
        let mut items = self.repo.webhooks(cursor, size + 1).await?;
        let next_cursor = next_cursor(&mut items, size, |w| w.id.clone());
        Ok(WebhookPage { items, next_cursor })
    }

    pub async fn update_webhook(&self, id: &str, input: WebhookUpdate) -> Result<Webhook, AlertError> {
        let mut hook = self.webhook(id).await?;
        if let Some(url) = input.url {
            hook.url = self.check_url(&url).await?;
        }
        if let Some(description) = input.description {
            hook.description = check_description(description)?;
        }
        if let Some(events) = input.events {
            hook.events = check_events(events)?;
        }
        if let Some(format) = input.format {
            hook.format = format;
        }
        if let Some(enabled) = input.enabled {
            if enabled && !hook.enabled {
                // Enabled again: its failures start counting afresh.
                (hook.failing_since, hook.disabled_at, hook.disabled_reason) = (None, None, None);
            }
            hook.enabled = enabled;
        }
        hook.updated_at = Utc::now();
        if !self.repo.update_webhook(&hook).await? {
            return Err(AlertError::NotFound { what: "webhook", id: id.to_owned() });
        }
        Ok(hook)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<(), AlertError> {
        match self.repo.delete_webhook(id).await? {
            true => Ok(()),
            false => Err(AlertError::NotFound { what: "webhook", id: id.to_owned() }),
        }
    }

    /// Sends a sample `alert.test` event to one webhook now and returns the attempt.
    pub async fn test_webhook(&self, id: &str) -> Result<TestResult, AlertError> {
        let hook = self.stored_webhook(id).await?;
        let event = payload::sample_event(Utc::now());
        Ok(self.dispatcher.send_test(&hook, &event).await?)
    }

    pub async fn attempts(&self, webhook_id: &str, cursor: Option<&str>, size: u32) -> Result<AttemptPage, AlertError> {
        self.stored_webhook(webhook_id).await?;
        let mut items = self.repo.attempts(webhook_id, cursor, size + 1).await?;
        let next_cursor = next_cursor(&mut items, size, |a| a.id.clone());
        Ok(AttemptPage { items, next_cursor })
    }

    // ---- events ----

    pub async fn event(&self, id: &str) -> Result<EventView, AlertError> {
        let (kind, incident_id, created_ms, payload) =
            self.repo.event(id).await?.ok_or_else(|| AlertError::NotFound { what: "event", id: id.to_owned() })?;
        let deliveries = self.repo.deliveries_of(id).await?;
        Ok(EventView {
            id: id.to_owned(),
            kind,
            created_at: crate::state::time_of_ms(created_ms),
            incident_id,
            payload,
            deliveries,
        })
    }

    /// Queues a past event again: for one webhook, or for every webhook it went to before.
    pub async fn redeliver(&self, event_id: &str, webhook_id: Option<&str>) -> Result<Redelivery, AlertError> {
        let before = self.event(event_id).await?;
        let targets: Vec<String> = match webhook_id {
            Some(id) => vec![self.webhook(id).await?.id],
            None => {
                let mut ids: Vec<String> = before.deliveries.iter().map(|d| d.webhook_id.clone()).collect();
                ids.sort();
                ids.dedup();
                ids
            }
        };
        if targets.is_empty() {
            // A well-formed request the event's history cannot serve: a conflict, not a bad request.
            let reason = "the event went to no webhook; name one to send it to".to_owned();
            return Err(AlertError::Conflict { field: "webhook_id", reason });
        }
        self.repo.redeliver(event_id, &targets, Utc::now().timestamp_millis()).await?;
        let known: std::collections::HashSet<String> = before.deliveries.iter().map(|d| d.id.clone()).collect();
        let deliveries =
            self.repo.deliveries_of(event_id).await?.into_iter().filter(|d| !known.contains(&d.id)).collect();
        Ok(Redelivery { event_id: event_id.to_owned(), deliveries })
    }

    // ---- rules ----

    pub async fn create_rule(&self, input: RuleCreate) -> Result<Rule, AlertError> {
        let now = Utc::now();
        let filtered = input.streams.is_some() || input.codes.is_some() || input.families.is_some();
        if input.kind != RuleKind::DeliveryErrors && filtered {
            return Err(invalid("streams", "streams, codes and families apply to delivery_errors rules only"));
        }
        let window_secs = check_span("window", &input.window, MIN_WINDOW_SECS)?;
        let cooldown_secs = check_span("cooldown", &input.cooldown, 0)?;
        let threshold = match (input.kind, input.threshold, input.threshold_ms) {
            (RuleKind::Latency, None, Some(ms)) => ms,
            (RuleKind::Latency, _, _) => {
                return Err(invalid("threshold_ms", "latency rules take threshold_ms (and no threshold)"));
            }
            (_, Some(t), None) => t,
            (_, _, Some(_)) => return Err(invalid("threshold_ms", "applies to latency rules only")),
            (_, None, None) => return Err(invalid("threshold", "is required")),
        };
        let rule = Rule {
            id: new_id("rule"),
            name: check_name(input.name)?,
            kind: input.kind,
            threshold,
            window: format_duration(window_secs),
            cooldown: format_duration(cooldown_secs),
            enabled: input.enabled,
            streams: check_values("streams", input.streams.unwrap_or_default())?,
            codes: check_values("codes", input.codes.unwrap_or_default())?,
            families: check_families(input.families.unwrap_or_default())?,
            min_requests: input.min_requests,
            percentile: input.percentile,
            threshold_ms: (input.kind == RuleKind::Latency).then_some(threshold),
            last_fired_at: None,
            created_at: now,
            updated_at: now,
        };
        check_rule(&rule)?;
        let stored = StoredRule { rule, window_secs, cooldown_secs };
        self.repo.insert_rule(&stored).await?;
        tracing::info!(rule = %stored.rule.id, kind = stored.rule.kind.as_str(), "alert rule created");
        Ok(stored.rule)
    }

    pub async fn rule(&self, id: &str) -> Result<Rule, AlertError> {
        Ok(self.stored_rule(id).await?.rule)
    }

    async fn stored_rule(&self, id: &str) -> Result<StoredRule, AlertError> {
        self.repo.rule(id).await?.ok_or_else(|| AlertError::NotFound { what: "rule", id: id.to_owned() })
    }

    pub async fn rules(&self, cursor: Option<&str>, size: u32) -> Result<RulePage, AlertError> {
        let mut items: Vec<Rule> = self.repo.rules(cursor, size + 1).await?.into_iter().map(|r| r.rule).collect();
        let next_cursor = next_cursor(&mut items, size, |r| r.id.clone());
        Ok(RulePage { items, next_cursor })
    }

    pub async fn update_rule(&self, id: &str, input: RuleUpdate) -> Result<Rule, AlertError> {
        let mut stored = self.stored_rule(id).await?;
        let rule = &mut stored.rule;
        if let Some(name) = input.name {
            rule.name = check_name(name)?;
        }
        if let Some(threshold) = input.threshold {
            if rule.kind == RuleKind::Latency {
                // As at creation: a latency rule's threshold is `threshold_ms`.
                return Err(AlertError::into_conflict(invalid("threshold", "latency rules take threshold_ms")));
            }
            rule.threshold = threshold;
        }
        if let Some(window) = input.window {
            stored.window_secs = check_span("window", &window, MIN_WINDOW_SECS)?;
            rule.window = format_duration(stored.window_secs);
        }
        if let Some(cooldown) = input.cooldown {
            stored.cooldown_secs = check_span("cooldown", &cooldown, 0)?;
            rule.cooldown = format_duration(stored.cooldown_secs);
        }
        if let Some(enabled) = input.enabled {
            rule.enabled = enabled;
        }
        if let Some(streams) = input.streams {
            rule.streams = check_values("streams", streams)?;
        }
        if let Some(codes) = input.codes {
            rule.codes = check_values("codes", codes)?;
        }
        if let Some(families) = input.families {
            rule.families = check_families(families)?;
        }
        if input.min_requests.is_some() {
            rule.min_requests = input.min_requests;
        }
        if let Some(ms) = input.threshold_ms {
            if rule.kind != RuleKind::Latency {
                return Err(AlertError::into_conflict(invalid("threshold_ms", "applies to latency rules only")));
            }
            rule.threshold = ms;
            rule.threshold_ms = Some(ms);
        }
        if input.percentile.is_some() {
            rule.percentile = input.percentile;
        }
        rule.updated_at = Utc::now();
        // What the body may say depends on the rule it changes: a conflict with its kind, not a malformed body.
        check_rule(rule).map_err(AlertError::into_conflict)?;
        if !self.repo.update_rule(&stored).await? {
            return Err(AlertError::NotFound { what: "rule", id: id.to_owned() });
        }
        Ok(stored.rule)
    }

    pub async fn delete_rule(&self, id: &str) -> Result<(), AlertError> {
        match self.repo.delete_rule(id, Utc::now().timestamp_millis()).await? {
            true => Ok(()),
            false => Err(AlertError::NotFound { what: "rule", id: id.to_owned() }),
        }
    }

    // ---- incidents ----

    pub async fn incidents(
        &self,
        status: Option<IncidentStatus>,
        rule_id: Option<&str>,
        cursor: Option<&str>,
        size: u32,
    ) -> Result<IncidentPage, AlertError> {
        let mut items = self.repo.incidents(status, rule_id, cursor, size + 1).await?;
        let next_cursor = next_cursor(&mut items, size, |i| i.id.clone());
        Ok(IncidentPage { items, next_cursor })
    }

    pub async fn incident(&self, id: &str) -> Result<Incident, AlertError> {
        self.repo.incident(id).await?.ok_or_else(|| AlertError::NotFound { what: "incident", id: id.to_owned() })
    }

    async fn check_url(&self, url: &str) -> Result<String, AlertError> {
        self.policy.check(url).await.map(|u| u.to_string()).map_err(|e| match e {
            target::TargetError::Private { .. } => AlertError::Forbidden { field: "url", reason: e.to_string() },
            e => invalid("url", e.to_string()),
        })
    }
}

/// Cuts a page of `size + 1` rows to `size` and names the cursor of the next page.
fn next_cursor<T>(items: &mut Vec<T>, size: u32, id: impl Fn(&T) -> String) -> Option<String> {
    if items.len() <= size as usize {
        return None;
    }
    items.truncate(size as usize);
    items.last().map(id)
}
