//! Alert hooks (control path): rules over delivery errors and access logs, the incidents they open
//! and resolve ([`evaluate`]), and signed webhook delivery through an outbox in the state database
//! ([`dispatch`], [`signing`]) to targets the SSRF guard allows ([`target`]). [`Alerts`] is what the
//! `/v1/alerts` handlers call.

pub mod dispatch;
pub mod evaluate;
pub mod model;
pub mod payload;
pub mod repo;
pub mod rules;
pub mod signing;
pub mod target;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use crate::config::AlertsConfig;
use crate::delivery_errors::event::Family;
use crate::delivery_errors::repo::DeliveryRepo;
use crate::duration::format as format_duration;
use crate::metrics::Metrics;
use crate::state::{StateDb, StateDbError};
use crate::store::LogStore;
use dispatch::Dispatcher;
use evaluate::Evaluator;
use model::*;
use repo::{AlertRepo, StoredRule, StoredWebhook, new_id};
use rules::{RuleKind, check_threshold};
use target::TargetPolicy;

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 500;
const MAX_FILTER_VALUES: usize = 100;
const MIN_WINDOW_SECS: u64 = 10;
const MAX_SPAN_SECS: u64 = 7 * 86_400;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("state database failed")]
    Db(#[from] StateDbError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AlertError {
    AlertError::Invalid { field, reason: reason.into() }
}

/// The alerting service: CRUD for hooks and rules, incidents, tests and redeliveries, plus the two
/// background loops.
#[derive(Clone)]
pub struct Alerts {
    repo: AlertRepo,
    policy: TargetPolicy,
    dispatcher: Dispatcher,
    evaluator: Evaluator,
    config: AlertsConfig,
}

impl Alerts {
    pub fn new(
        config: &AlertsConfig,
        db: StateDb,
        delivery: DeliveryRepo,
        store: Arc<dyn LogStore>,
        instance: &str,
        metrics: Arc<Metrics>,
    ) -> Self {
        let repo = AlertRepo::new(db);
        let policy = TargetPolicy::new(config.allow_private_targets.clone());
        let schedule = config.retry_pauses().expect("the retry schedule was validated with the configuration");
        let dispatcher = Dispatcher::new(
            repo.clone(),
            policy.clone(),
            schedule,
            Duration::from_secs(config.timeout_secs),
            instance,
            metrics.clone(),
        );
        let evaluator = Evaluator::new(repo.clone(), delivery, store, config.public_url.clone(), metrics);
        Self { repo, policy, dispatcher, evaluator, config: config.clone() }
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
        let event = sample_event(Utc::now());
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
            return Err(invalid("webhook_id", "the event went to no webhook; name one to send it to"));
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
        let window_secs = check_span("window", &input.window, MIN_WINDOW_SECS)?;
        let cooldown_secs = check_span("cooldown", &input.cooldown, 0)?;
        let rule = Rule {
            id: new_id("rule"),
            name: check_name(input.name)?,
            kind: input.kind,
            threshold: input.threshold,
            window: format_duration(window_secs),
            cooldown: format_duration(cooldown_secs),
            enabled: input.enabled,
            streams: check_values("streams", input.streams)?,
            codes: check_values("codes", input.codes)?,
            families: check_families(input.families)?,
            min_requests: input.min_requests,
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
        rule.updated_at = Utc::now();
        check_rule(rule)?;
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
        self.policy.check(url.trim()).await.map(|u| u.to_string()).map_err(|e| invalid("url", e.to_string()))
    }

    // ---- background loops ----

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

/// Cuts a page of `size + 1` rows to `size` and names the cursor of the next page.
fn next_cursor<T>(items: &mut Vec<T>, size: u32, id: impl Fn(&T) -> String) -> Option<String> {
    if items.len() <= size as usize {
        return None;
    }
    items.truncate(size as usize);
    items.last().map(id)
}

fn check_name(name: String) -> Result<String, AlertError> {
    let name = name.trim().to_owned();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(invalid("name", format!("must be 1 to {MAX_NAME} characters")));
    }
    Ok(name)
}

fn check_description(description: String) -> Result<String, AlertError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(invalid("description", format!("must be at most {MAX_DESCRIPTION} characters")));
    }
    Ok(description)
}

fn check_events(mut events: Vec<String>) -> Result<Vec<String>, AlertError> {
    if events.is_empty() {
        return Err(invalid("events", format!("name at least one of: {}", SUBSCRIBABLE.join(", "))));
    }
    if let Some(bad) = events.iter().find(|e| !SUBSCRIBABLE.contains(&e.as_str())) {
        return Err(invalid("events", format!("{bad:?} is not one of: {}", SUBSCRIBABLE.join(", "))));
    }
    events.sort();
    events.dedup();
    Ok(events)
}

fn check_span(field: &'static str, text: &str, min_secs: u64) -> Result<u64, AlertError> {
    let secs = crate::duration::parse(text, crate::duration::UP_TO_DAYS)
        .map(|d| d.as_secs())
        .ok_or_else(|| invalid(field, format!("{text:?} is not a duration like 30s, 5m, 1h or 1d")))?;
    if secs < min_secs || secs > MAX_SPAN_SECS {
        return Err(invalid(field, format!("must be from {} to 7d", format_duration(min_secs))));
    }
    Ok(secs)
}

fn check_values(field: &'static str, values: Vec<String>) -> Result<Vec<String>, AlertError> {
    if values.len() > MAX_FILTER_VALUES || values.iter().any(|v| v.trim().is_empty() || v.len() > 512) {
        return Err(invalid(field, format!("at most {MAX_FILTER_VALUES} non-empty values of at most 512 bytes")));
    }
    let mut values: Vec<String> = values.into_iter().map(|v| v.trim().to_owned()).collect();
    values.sort();
    values.dedup();
    Ok(values)
}

fn check_families(families: Vec<String>) -> Result<Vec<String>, AlertError> {
    let families = check_values("families", families)?;
    if let Some(bad) = families.iter().find(|f| Family::parse(f).is_none()) {
        let names: Vec<&str> = Family::ALL.iter().map(|f| f.as_str()).collect();
        return Err(invalid("families", format!("{bad:?} is not one of: {}", names.join(", "))));
    }
    Ok(families)
}

/// The checks that depend on the kind.
fn check_rule(rule: &Rule) -> Result<(), AlertError> {
    check_threshold(rule.kind, rule.threshold).map_err(|reason| invalid("threshold", reason))?;
    let filtered = !(rule.streams.is_empty() && rule.codes.is_empty() && rule.families.is_empty());
    if rule.kind != RuleKind::DeliveryErrors && filtered {
        return Err(invalid("streams", "streams, codes and families apply to delivery_errors rules only"));
    }
    if rule.kind != RuleKind::ErrorRate && rule.min_requests.is_some() {
        return Err(invalid("min_requests", "applies to error_rate rules only"));
    }
    if rule.min_requests.is_some_and(|m| m > 1_000_000_000) {
        return Err(invalid("min_requests", "must be at most 1000000000"));
    }
    Ok(())
}

/// The `alert.test` event: the shape of a firing delivery-errors alert with sample values.
pub fn sample_event(now: DateTime<Utc>) -> AlertEvent {
    let from = now - chrono::TimeDelta::minutes(5);
    AlertEvent {
        kind: EVENT_TEST.to_owned(),
        timestamp: now,
        data: AlertData {
            rule: RuleRef {
                id: "rule_sample".into(),
                name: "Sample: delivery errors on weblogs".into(),
                kind: RuleKind::DeliveryErrors,
                threshold: 5.0,
                window: "5m".into(),
                cooldown: "10m".into(),
                streams: vec!["weblogs".into()],
                codes: Vec::new(),
                families: Vec::new(),
            },
            incident_id: "inc_sample".into(),
            status: IncidentStatus::Open,
            opened_at: now,
            resolved_at: None,
            findings: Findings {
                window: Window { from, to: now, duration: "5m".into() },
                value: 12.0,
                threshold: 5.0,
                counts: BTreeMap::from([("delivery_errors".to_owned(), 12)]),
                top_codes: vec![CodeCount { code: "HttpEndpoint.DestinationException".into(), count: 12 }],
                streams: vec![CodeCount { code: "weblogs".into(), count: 12 }],
                links: BTreeMap::new(),
            },
            test: true,
        },
    }
}
