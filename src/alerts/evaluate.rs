//! The evaluator: every interval, reads each enabled rule's window (delivery errors from the state
//! database, access logs from the log store), judges it ([`super::rules::judge`]) and opens, keeps or
//! resolves the rule's incident. Opening and resolving write the event into the outbox in the same
//! transaction; the dispatcher sends it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};

use super::model::*;
use super::repo::{AlertRepo, StoredRule, new_id};
use super::rules::{Counts, RuleKind, SILENCE_BASELINE_WINDOWS, judge};
use crate::delivery_errors::event::Family;
use crate::delivery_errors::repo::{DeliveryRepo, ErrorFilter, StatsColumn};
use crate::metrics::{EventLabels, Metrics};
use crate::query::model::{Dimension, Filters, Query, Split, TimeRange, TimelineRequest, TopRequest};
use crate::state::StateDbError;
use crate::store::{LogStore, StoreError};

/// Codes listed in an event.
const TOP_CODES: usize = 5;
/// Default for `error_rate` and `latency` rules without `min_requests`.
pub const DEFAULT_MIN_REQUESTS: u64 = 10;

#[derive(Debug, thiserror::Error)]
pub enum EvaluateError {
    #[error("state database failed")]
    Db(#[from] StateDbError),
    #[error("log store failed")]
    Store(#[from] StoreError),
}

/// What one evaluation of one rule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Quiet,
    Opened {
        incident_id: String,
        event_id: String,
    },
    /// Breached, but the rule is in its cooldown (or another replica opened the incident first).
    Held,
    StillOpen {
        incident_id: String,
    },
    Resolved {
        incident_id: String,
        event_id: String,
    },
}

/// What one pass over the rules did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub rules: usize,
    pub transitions: Vec<(String, Transition)>,
    pub failed: usize,
}

#[derive(Clone)]
pub struct Evaluator {
    repo: AlertRepo,
    delivery: DeliveryRepo,
    store: Arc<dyn LogStore>,
    public_url: Option<String>,
    metrics: Arc<Metrics>,
}

impl Evaluator {
    pub fn new(
        repo: AlertRepo,
        delivery: DeliveryRepo,
        store: Arc<dyn LogStore>,
        public_url: Option<String>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { repo, delivery, store, public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()), metrics }
    }

    /// Evaluates every enabled rule at `now`. A rule that cannot be evaluated (its store is down) is
    /// counted in `failed` and left as it was.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Report, EvaluateError> {
        let mut report = Report::default();
        let mut after: Option<String> = None;
        loop {
            let page = self.repo.rules(after.as_deref(), 500).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.rule.id.clone());
            for rule in page.iter().filter(|r| r.rule.enabled) {
                report.rules += 1;
                match self.evaluate(rule, now).await {
                    Ok(t) => report.transitions.push((rule.rule.id.clone(), t)),
                    Err(e) => {
                        report.failed += 1;
                        tracing::warn!(rule = %rule.rule.id, error = crate::telemetry::chain(&e), "alert rule not evaluated");
                    }
                }
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(report)
    }

    /// Evaluates one rule at `now`.
    pub async fn evaluate(&self, stored: &StoredRule, now: DateTime<Utc>) -> Result<Transition, EvaluateError> {
        let rule = &stored.rule;
        let open = self.repo.open_incident(&rule.id).await?;
        let (counts, mut findings) = self.observe(stored, now).await?;
        let verdict = judge(rule.threshold, rule.min_requests.unwrap_or(DEFAULT_MIN_REQUESTS), &counts, open.is_some());
        findings.value = verdict.value;
        let now_ms = now.timestamp_millis();
        Ok(match (open, verdict.breached) {
            (None, false) => Transition::Quiet,
            (Some(incident), true) => {
                self.repo.touch(&incident.id, verdict.value, &findings, now_ms).await?;
                Transition::StillOpen { incident_id: incident.id }
            }
            (Some(incident), false) => {
                let event = event(EVENT_RESOLVED, stored, &incident.id, incident.opened_at, Some(now), &findings, now);
                match self.repo.resolve(&incident.id, verdict.value, &findings, now_ms, &event).await? {
                    Some(event_id) => {
                        self.metrics.alert_events.get_or_create(&EventLabels { event: EVENT_RESOLVED }).inc();
                        tracing::info!(rule = %rule.id, incident = %incident.id, "alert resolved");
                        Transition::Resolved { incident_id: incident.id, event_id }
                    }
                    None => Transition::Quiet,
                }
            }
            (None, true) => {
                let incident = Incident {
                    id: new_id("inc"),
                    rule_id: rule.id.clone(),
                    rule_name: rule.name.clone(),
                    kind: rule.kind,
                    status: IncidentStatus::Open,
                    opened_at: now,
                    resolved_at: None,
                    last_evaluated_at: now,
                    opened_value: verdict.value,
                    peak_value: verdict.value,
                    last_value: verdict.value,
                    findings: findings.clone(),
                };
                let event = event(EVENT_FIRING, stored, &incident.id, now, None, &findings, now);
                let cooldown_ms = stored.cooldown_secs as i64 * 1000;
                match self.repo.open(&incident, cooldown_ms, &event).await? {
                    Some(event_id) => {
                        self.metrics.alert_events.get_or_create(&EventLabels { event: EVENT_FIRING }).inc();
                        tracing::warn!(rule = %rule.id, incident = %incident.id, value = verdict.value, "alert firing");
                        Transition::Opened { incident_id: incident.id, event_id }
                    }
                    None => Transition::Held,
                }
            }
        })
    }

    /// Reads the counts of a rule's window ending at `now`.
    async fn observe(&self, stored: &StoredRule, now: DateTime<Utc>) -> Result<(Counts, Findings), EvaluateError> {
        let rule = &stored.rule;
        let window = TimeDelta::seconds(stored.window_secs as i64);
        let range = TimeRange { from: now - window, to: now };
        let mut findings = Findings {
            window: Window { from: range.from, to: range.to, duration: rule.window.clone() },
            value: 0.0,
            threshold: rule.threshold,
            counts: BTreeMap::new(),
            top_codes: Vec::new(),
            streams: Vec::new(),
            links: BTreeMap::new(),
        };
        let span = format!("from={}&to={}", stamp(range.from), stamp(range.to));
        let counts = match rule.kind {
            RuleKind::DeliveryErrors => {
                let filter = ErrorFilter {
                    from_ms: range.from.timestamp_millis(),
                    to_ms: range.to.timestamp_millis(),
                    streams: rule.streams.clone(),
                    destinations: Vec::new(),
                    codes: rule.codes.clone(),
                    families: rule.families.iter().filter_map(|f| Family::parse(f)).collect(),
                };
                let (by_code, by_stream) = tokio::try_join!(
                    self.delivery.stats_by(&filter, StatsColumn::Code),
                    self.delivery.stats_by(&filter, StatsColumn::Stream),
                )?;
                let errors = by_code.iter().map(|s| s.count).sum();
                findings.counts.insert("delivery_errors".into(), errors);
                findings.top_codes =
                    by_code.into_iter().take(TOP_CODES).map(|s| CodeCount { code: s.key, count: s.count }).collect();
                findings.streams =
                    by_stream.into_iter().take(20).map(|s| CodeCount { code: s.key, count: s.count }).collect();
                let mut filters = String::new();
                for (name, values) in [("stream", &rule.streams), ("code", &rule.codes), ("family", &rule.families)] {
                    for v in values {
                        filters.push_str(&format!("&{name}={}", encode(v)));
                    }
                }
                self.link(&mut findings, "delivery_errors", format!("/v1/delivery-errors?{span}{filters}"));
                self.link(
                    &mut findings,
                    "delivery_error_summary",
                    format!("/v1/delivery-errors/summary?{span}{filters}"),
                );
                self.link(&mut findings, "correlation", format!("/v1/delivery-errors/correlation?{span}"));
                Counts::DeliveryErrors { errors }
            }
            RuleKind::IngestSilence => {
                let baseline_from = range.from - window * SILENCE_BASELINE_WINDOWS as i32;
                let (records, baseline_records) = tokio::try_join!(
                    self.count(range, stored.window_secs),
                    self.count(TimeRange { from: baseline_from, to: range.from }, stored.window_secs),
                )?;
                findings.counts.insert("records".into(), records);
                findings.counts.insert("baseline_records".into(), baseline_records);
                let wide = format!("from={}&to={}", stamp(baseline_from), stamp(range.to));
                self.link(&mut findings, "timeline", format!("/v1/stats/timeline?{wide}"));
                self.link(&mut findings, "correlation", format!("/v1/delivery-errors/correlation?{wide}"));
                Counts::IngestSilence { records, baseline_records }
            }
            RuleKind::ErrorRate => {
                let top = self
                    .store
                    .top(&TopRequest {
                        query: Query { range, filters: Filters::default() },
                        dimension: Dimension::Status,
                        limit: 100,
                    })
                    .await?;
                let errors_5xx: u64 = top.buckets.iter().filter(|b| b.key.starts_with('5')).map(|b| b.count).sum();
                findings.counts.insert("requests".into(), top.total);
                findings.counts.insert("errors_5xx".into(), errors_5xx);
                findings.top_codes = top
                    .buckets
                    .iter()
                    .filter(|b| b.key.starts_with('5'))
                    .take(TOP_CODES)
                    .map(|b| CodeCount { code: b.key.clone(), count: b.count })
                    .collect();
                self.link(&mut findings, "summary", format!("/v1/stats/summary?{span}"));
                self.link(&mut findings, "timeline", format!("/v1/stats/timeline?{span}&split=status"));
                self.link(&mut findings, "logs", format!("/v1/logs?{span}&status=5xx"));
                self.link(&mut findings, "top_paths", format!("/v1/stats/top/path?{span}&status=5xx"));
                Counts::ErrorRate { requests: top.total, errors_5xx }
            }
            RuleKind::Latency => {
                let summary = self.store.summary(&Query { range, filters: Filters::default() }).await?;
                let percentile_ms = match stored.rule.percentile {
                    Some(50) => summary.duration_p50_ms,
                    Some(90) => summary.duration_p90_ms,
                    Some(95) => summary.duration_p95_ms,
                    _ => summary.duration_p99_ms,
                };
                findings.counts.insert("requests".into(), summary.requests);
                findings.counts.insert("timed_requests".into(), summary.timed_requests);
                self.link(&mut findings, "summary", format!("/v1/stats/summary?{span}"));
                self.link(&mut findings, "timeline", format!("/v1/stats/timeline?{span}&metric=duration"));
                self.link(&mut findings, "slowest_paths", format!("/v1/stats/top/path?{span}&rank_by=duration_p95"));
                Counts::Latency { timed_requests: summary.timed_requests, percentile_ms }
            }
        };
        Ok((counts, findings))
    }

    /// Access-log records in a range.
    async fn count(&self, range: TimeRange, interval_secs: u64) -> Result<u64, StoreError> {
        let timeline = self
            .store
            .timeline(&TimelineRequest {
                query: Query { range, filters: Filters::default() },
                interval_secs: interval_secs.max(1),
                split: Split::None,
            })
            .await?;
        Ok(timeline.buckets.iter().map(|b| b.count).sum())
    }

    fn link(&self, findings: &mut Findings, name: &str, path: String) {
        let url = match &self.public_url {
            Some(base) => format!("{base}{path}"),
            None => path,
        };
        findings.links.insert(name.to_owned(), url);
    }
}

/// An event about a rule's incident.
pub fn event(
    kind: &str,
    stored: &StoredRule,
    incident_id: &str,
    opened_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
    findings: &Findings,
    now: DateTime<Utc>,
) -> AlertEvent {
    let rule = &stored.rule;
    AlertEvent {
        kind: kind.to_owned(),
        timestamp: now,
        data: EventData::Incident(Box::new(AlertData {
            rule: RuleRef {
                id: rule.id.clone(),
                name: rule.name.clone(),
                kind: rule.kind,
                threshold: rule.threshold,
                window: rule.window.clone(),
                cooldown: rule.cooldown.clone(),
                streams: rule.streams.clone(),
                codes: rule.codes.clone(),
                families: rule.families.clone(),
            },
            incident_id: incident_id.to_owned(),
            status: if resolved_at.is_some() { IncidentStatus::Resolved } else { IncidentStatus::Open },
            opened_at,
            resolved_at,
            findings: findings.clone(),
            test: false,
        })),
    }
}

/// RFC 3339 with second precision and `Z`, as the query parameters take it.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}
