//! Alerts in the state database: webhooks, rules, incidents, and the outbox (events, their deliveries
//! and every attempt). SQL written once for SQLite and PostgreSQL, except the claim of due deliveries,
//! which uses `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas never claim the same row.
//!
//! Uniqueness across replicas comes from the database, not from timing: one open incident per rule (a
//! partial unique index), a cooldown gate updated in the transaction that opens an incident, a resolve
//! that only one replica's `UPDATE ... WHERE status = 'open'` can win, and claims with a lease.

use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::model::*;
use super::rules::RuleKind;
use crate::duration::format as format_duration;
use crate::state::{DbBackend, StateDb, StateDbError, time_of_ms as ms_time};

/// A webhook as stored, with its secret.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// A rule as the evaluator needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub rule: Rule,
    pub window_secs: u64,
    pub cooldown_secs: u64,
}

/// Filters of a rule, stored as one JSON column.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct RuleFilters {
    #[serde(default)]
    streams: Vec<String>,
    #[serde(default)]
    codes: Vec<String>,
    #[serde(default)]
    families: Vec<String>,
    #[serde(default)]
    min_requests: Option<u64>,
}

/// A delivery claimed by this dispatcher.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub event_id: String,
    pub webhook_id: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt ended, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_ms: i64,
    pub latency_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub success: bool,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("alert values serialise")
}

#[derive(Clone)]
pub struct AlertRepo {
    db: StateDb,
}

const WEBHOOK_COLUMNS: &str = "id, url, description, enabled, events, format, secret, created_at, updated_at";
const RULE_COLUMNS: &str =
    "id, name, kind, threshold, window_secs, cooldown_secs, filters, enabled, last_fired_at, created_at, updated_at";
const INCIDENT_COLUMNS: &str = "id, rule_id, rule_name, kind, status, opened_at, resolved_at, last_evaluated_at, \
     opened_value, peak_value, last_value, details";
const ATTEMPT_COLUMNS: &str =
    "id, delivery_id, event_id, webhook_id, attempt, started_at, latency_ms, status_code, error, success";
const DELIVERY_COLUMNS: &str = "id, event_id, webhook_id, status, attempts, next_attempt_at, last_error";

fn webhook_row(row: &AnyRow) -> StoredWebhook {
    StoredWebhook {
        webhook: Webhook {
            id: row.get(0),
            url: row.get(1),
            description: row.get(2),
            enabled: row.get::<i64, _>(3) != 0,
            events: json_list(&row.get::<String, _>(4)),
            format: PayloadFormat::parse(&row.get::<String, _>(5)).unwrap_or_default(),
            created_at: ms_time(row.get(7)),
            updated_at: ms_time(row.get(8)),
        },
        secret: row.get(6),
    }
}

fn rule_row(row: &AnyRow) -> StoredRule {
    let filters: RuleFilters = serde_json::from_str(&row.get::<String, _>(6)).unwrap_or_default();
    let window_secs = row.get::<i64, _>(4) as u64;
    let cooldown_secs = row.get::<i64, _>(5) as u64;
    StoredRule {
        rule: Rule {
            id: row.get(0),
            name: row.get(1),
            kind: RuleKind::parse(&row.get::<String, _>(2)).unwrap_or(RuleKind::DeliveryErrors),
            threshold: row.get(3),
            window: format_duration(window_secs),
            cooldown: format_duration(cooldown_secs),
            enabled: row.get::<i64, _>(7) != 0,
            streams: filters.streams,
            codes: filters.codes,
            families: filters.families,
            min_requests: filters.min_requests,
            last_fired_at: row.get::<Option<i64>, _>(8).map(ms_time),
            created_at: ms_time(row.get(9)),
            updated_at: ms_time(row.get(10)),
        },
        window_secs,
        cooldown_secs,
    }
}

fn incident_row(row: &AnyRow) -> Result<Incident, StateDbError> {
    let findings: Findings = serde_json::from_str(&row.get::<String, _>(11))
        .map_err(|e| StateDbError::Query(sqlx::Error::Decode(Box::new(e))))?;
    Ok(Incident {
        id: row.get(0),
        rule_id: row.get(1),
        rule_name: row.get(2),
        kind: RuleKind::parse(&row.get::<String, _>(3)).unwrap_or(RuleKind::DeliveryErrors),
        status: if row.get::<String, _>(4) == "open" { IncidentStatus::Open } else { IncidentStatus::Resolved },
        opened_at: ms_time(row.get(5)),
        resolved_at: row.get::<Option<i64>, _>(6).map(ms_time),
        last_evaluated_at: ms_time(row.get(7)),
        opened_value: row.get(8),
        peak_value: row.get(9),
        last_value: row.get(10),
        findings,
    })
}

fn attempt_row(row: &AnyRow) -> Attempt {
    Attempt {
        id: row.get(0),
        delivery_id: row.get(1),
        event_id: row.get(2),
        webhook_id: row.get(3),
        attempt: row.get::<i64, _>(4) as u32,
        started_at: ms_time(row.get(5)),
        latency_ms: row.get::<i64, _>(6) as u64,
        status_code: row.get::<Option<i64>, _>(7).map(|s| s as u16),
        error: row.get(8),
        success: row.get::<i64, _>(9) != 0,
    }
}

fn delivery_row(row: &AnyRow) -> WebhookDelivery {
    let status = DeliveryStatus::parse(&row.get::<String, _>(3));
    WebhookDelivery {
        id: row.get(0),
        event_id: row.get(1),
        webhook_id: row.get(2),
        status,
        attempts: row.get::<i64, _>(4) as u32,
        next_attempt_at: (status == DeliveryStatus::Pending).then(|| ms_time(row.get(5))),
        last_error: row.get(6),
    }
}

impl AlertRepo {
    pub fn new(db: StateDb) -> Self {
        Self { db }
    }

    fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    // ---- webhooks ----

    pub async fn insert_webhook(&self, hook: &Webhook, secret: &str) -> Result<(), StateDbError> {
        sqlx::query(
            "INSERT INTO alert_webhooks (id, url, description, enabled, events, format, secret, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(&hook.description)
        .bind(i64::from(hook.enabled))
        .bind(to_json(&hook.events))
        .bind(hook.format.as_str())
        .bind(secret)
        .bind(hook.created_at.timestamp_millis())
        .bind(hook.updated_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<StoredWebhook>, StateDbError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(webhook_row))
    }

    /// Oldest first, after the id `after`.
    pub async fn webhooks(&self, after: Option<&str>, limit: u32) -> Result<Vec<Webhook>, StateDbError> {
        let sql =
            format!("SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE id > $1 ORDER BY id LIMIT {}", limit.min(1001));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.unwrap_or("")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(|r| webhook_row(r).webhook).collect())
    }

    pub async fn update_webhook(&self, hook: &Webhook) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "UPDATE alert_webhooks SET url = $2, description = $3, enabled = $4, events = $5, format = $6, \
             updated_at = $7 WHERE id = $1",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(&hook.description)
        .bind(i64::from(hook.enabled))
        .bind(to_json(&hook.events))
        .bind(hook.format.as_str())
        .bind(hook.updated_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a webhook with its queued deliveries; its attempt history goes too.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM alert_webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM alert_deliveries WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM alert_attempts WHERE webhook_id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- rules ----

    pub async fn insert_rule(&self, rule: &StoredRule) -> Result<(), StateDbError> {
        let r = &rule.rule;
        sqlx::query(
            "INSERT INTO alert_rules (id, name, kind, threshold, window_secs, cooldown_secs, filters, enabled, \
             last_fired_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.kind.as_str())
        .bind(r.threshold)
        .bind(rule.window_secs as i64)
        .bind(rule.cooldown_secs as i64)
        .bind(filters_json(r))
        .bind(i64::from(r.enabled))
        .bind(r.created_at.timestamp_millis())
        .bind(r.updated_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn rule(&self, id: &str) -> Result<Option<StoredRule>, StateDbError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        Ok(row.as_ref().map(rule_row))
    }

    pub async fn rules(&self, after: Option<&str>, limit: u32) -> Result<Vec<StoredRule>, StateDbError> {
        let sql = format!("SELECT {RULE_COLUMNS} FROM alert_rules WHERE id > $1 ORDER BY id LIMIT {}", limit.min(1001));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.unwrap_or("")).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(rule_row).collect())
    }

    pub async fn update_rule(&self, rule: &StoredRule) -> Result<bool, StateDbError> {
        let r = &rule.rule;
        let done = sqlx::query(
            "UPDATE alert_rules SET name = $2, threshold = $3, window_secs = $4, cooldown_secs = $5, filters = $6, \
             enabled = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(&r.name)
        .bind(r.threshold)
        .bind(rule.window_secs as i64)
        .bind(rule.cooldown_secs as i64)
        .bind(filters_json(r))
        .bind(i64::from(r.enabled))
        .bind(r.updated_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes a rule. Its open incident is closed without an event; its history stays.
    pub async fn delete_rule(&self, id: &str, now_ms: i64) -> Result<bool, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query("DELETE FROM alert_rules WHERE id = $1").bind(id).execute(&mut *tx).await?;
        sqlx::query(
            "UPDATE alert_incidents SET status = 'resolved', resolved_at = $2 WHERE rule_id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- incidents ----

    pub async fn open_incident(&self, rule_id: &str) -> Result<Option<Incident>, StateDbError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM alert_incidents WHERE rule_id = $1 AND status = 'open'");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(rule_id).fetch_optional(self.pool()).await?;
        row.as_ref().map(incident_row).transpose()
    }

    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, StateDbError> {
        let sql = format!("SELECT {INCIDENT_COLUMNS} FROM alert_incidents WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(incident_row).transpose()
    }

    /// Newest first, before the id `before`.
    pub async fn incidents(
        &self,
        status: Option<IncidentStatus>,
        rule_id: Option<&str>,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Incident>, StateDbError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM alert_incidents WHERE id < $1 AND ($2 = '' OR status = $2) \
             AND ($3 = '' OR rule_id = $3) ORDER BY id DESC LIMIT {}",
            limit.min(1001)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(before.unwrap_or("~"))
            .bind(status.map(IncidentStatus::as_str).unwrap_or(""))
            .bind(rule_id.unwrap_or(""))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(incident_row).collect()
    }

    /// Opens an incident and writes its `alert.firing` event for every subscribed webhook, in one
    /// transaction, if the rule has no open incident and its cooldown has passed. Returns the event id
    /// when this call opened it.
    pub async fn open(
        &self,
        incident: &Incident,
        cooldown_ms: i64,
        event: &AlertEvent,
    ) -> Result<Option<String>, StateDbError> {
        let now_ms = incident.opened_at.timestamp_millis();
        let mut tx = self.pool().begin().await?;
        // The cooldown gate: only one transaction can move `last_fired_at` forward.
        let gate = sqlx::query(
            "UPDATE alert_rules SET last_fired_at = $2 WHERE id = $1 AND (last_fired_at IS NULL OR last_fired_at <= $3)",
        )
        .bind(&incident.rule_id)
        .bind(now_ms)
        .bind(now_ms - cooldown_ms)
        .execute(&mut *tx)
        .await?;
        if gate.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let inserted = sqlx::query(
            "INSERT INTO alert_incidents (id, rule_id, rule_name, kind, status, opened_at, resolved_at, \
             last_evaluated_at, opened_value, peak_value, last_value, details) \
             VALUES ($1, $2, $3, $4, 'open', $5, NULL, $5, $6, $6, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(&incident.id)
        .bind(&incident.rule_id)
        .bind(&incident.rule_name)
        .bind(incident.kind.as_str())
        .bind(now_ms)
        .bind(incident.opened_value)
        .bind(to_json(&incident.findings))
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let event_id = insert_event(&mut tx, event, Some(&incident.id), now_ms).await?;
        tx.commit().await?;
        Ok(Some(event_id))
    }

    /// Records a later evaluation of an open incident.
    pub async fn touch(&self, id: &str, value: f64, findings: &Findings, now_ms: i64) -> Result<(), StateDbError> {
        sqlx::query(
            "UPDATE alert_incidents SET last_evaluated_at = $2, last_value = $3, \
             peak_value = CASE WHEN peak_value < $3 THEN $3 ELSE peak_value END, details = $4 \
             WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(now_ms)
        .bind(value)
        .bind(to_json(findings))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Resolves an open incident and writes its `alert.resolved` event, in one transaction. Returns the
    /// event id when this call resolved it (another replica may have been first).
    pub async fn resolve(
        &self,
        id: &str,
        value: f64,
        findings: &Findings,
        now_ms: i64,
        event: &AlertEvent,
    ) -> Result<Option<String>, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(
            "UPDATE alert_incidents SET status = 'resolved', resolved_at = $2, last_evaluated_at = $2, \
             last_value = $3, details = $4 WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(now_ms)
        .bind(value)
        .bind(to_json(findings))
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let event_id = insert_event(&mut tx, event, Some(id), now_ms).await?;
        tx.commit().await?;
        Ok(Some(event_id))
    }

    // ---- events and deliveries ----

    /// Writes an event for one webhook only (a test send), already marked as being sent by `instance`.
    pub async fn insert_test_event(
        &self,
        event: &AlertEvent,
        webhook_id: &str,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claimed, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let event_id = new_id("msg");
        sqlx::query(
            "INSERT INTO alert_events (id, type, incident_id, payload, created_at) VALUES ($1, $2, NULL, $3, $4)",
        )
        .bind(&event_id)
        .bind(&event.kind)
        .bind(to_json(event))
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        let delivery_id = new_id("dlv");
        sqlx::query(
            "INSERT INTO alert_deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at, locked_by, \
             locked_until, last_error, created_at, updated_at) VALUES ($1, $2, $3, 'sending', 0, $4, $5, $6, NULL, $4, $4)",
        )
        .bind(&delivery_id)
        .bind(&event_id)
        .bind(webhook_id)
        .bind(now_ms)
        .bind(instance)
        .bind(now_ms + lease_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Claimed { delivery_id, event_id, webhook_id: webhook_id.to_owned(), attempts: 0 })
    }

    /// The stored body of an event.
    pub async fn event(&self, id: &str) -> Result<Option<(String, Option<String>, i64, AlertEvent)>, StateDbError> {
        let row = sqlx::query("SELECT type, incident_id, created_at, payload FROM alert_events WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else { return Ok(None) };
        let payload: AlertEvent = serde_json::from_str(&row.get::<String, _>(3))
            .map_err(|e| StateDbError::Query(sqlx::Error::Decode(Box::new(e))))?;
        Ok(Some((row.get(0), row.get(1), row.get(2), payload)))
    }

    pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<WebhookDelivery>, StateDbError> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE event_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(delivery_row).collect())
    }

    /// Queues an event again for the given webhooks.
    pub async fn redeliver(&self, event_id: &str, webhook_ids: &[String], now_ms: i64) -> Result<(), StateDbError> {
        let mut tx = self.pool().begin().await?;
        for webhook_id in webhook_ids {
            insert_delivery(&mut tx, event_id, webhook_id, now_ms).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` due deliveries (pending and due, or sending with a lapsed claim) for
    /// `instance` until `now + lease`.
    pub async fn claim(
        &self,
        instance: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>, StateDbError> {
        let lock = match self.db.backend() {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            DbBackend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE alert_deliveries SET status = 'sending', locked_by = $1, locked_until = $2, updated_at = $3 \
             WHERE id IN (SELECT id FROM alert_deliveries WHERE (status = 'pending' AND next_attempt_at <= $3) \
             OR (status = 'sending' AND locked_until < $3) ORDER BY next_attempt_at LIMIT {}{lock}) \
             RETURNING id, event_id, webhook_id, attempts",
            limit.clamp(1, 100)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(instance)
            .bind(now_ms + lease_ms)
            .bind(now_ms)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| Claimed {
                delivery_id: r.get(0),
                event_id: r.get(1),
                webhook_id: r.get(2),
                attempts: r.get::<i64, _>(3) as u32,
            })
            .collect())
    }

    /// Records an attempt and moves its delivery on, if this instance still holds it. Returns the
    /// attempt's id, or `None` when the claim had lapsed (it belongs to someone else now).
    pub async fn finish(
        &self,
        claimed: &Claimed,
        instance: &str,
        attempt: &AttemptRecord,
        next: Next,
        now_ms: i64,
    ) -> Result<Option<String>, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let (status, next_at) = match next {
            Next::Delivered => ("delivered", now_ms),
            Next::RetryAt(at) => ("pending", at),
            Next::GiveUp => ("failed", now_ms),
        };
        let moved = sqlx::query(
            "UPDATE alert_deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4, locked_by = NULL, \
             locked_until = NULL, last_error = $5, updated_at = $6 WHERE id = $1 AND locked_by = $2 AND status = 'sending'",
        )
        .bind(&claimed.delivery_id)
        .bind(instance)
        .bind(status)
        .bind(next_at)
        .bind(attempt.error.as_deref())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let attempt_id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO alert_attempts (id, delivery_id, event_id, webhook_id, attempt, started_at, latency_ms, \
             status_code, error, success, instance_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&attempt_id)
        .bind(&claimed.delivery_id)
        .bind(&claimed.event_id)
        .bind(&claimed.webhook_id)
        .bind(i64::from(claimed.attempts) + 1)
        .bind(attempt.started_ms)
        .bind(attempt.latency_ms as i64)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.as_deref())
        .bind(i64::from(attempt.success))
        .bind(instance)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(attempt_id))
    }

    /// Marks a claimed delivery failed without an attempt (its webhook is gone or disabled).
    pub async fn abandon(
        &self,
        claimed: &Claimed,
        instance: &str,
        reason: &str,
        now_ms: i64,
    ) -> Result<(), StateDbError> {
        sqlx::query(
            "UPDATE alert_deliveries SET status = 'failed', locked_by = NULL, locked_until = NULL, last_error = $3, \
             updated_at = $4 WHERE id = $1 AND locked_by = $2",
        )
        .bind(&claimed.delivery_id)
        .bind(instance)
        .bind(reason)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Deletes history older than `before_ms`: finished deliveries with their attempts, events left
    /// without deliveries, resolved incidents. Pending and in-flight deliveries and open incidents stay.
    /// Returns the rows deleted.
    pub async fn prune(&self, before_ms: i64) -> Result<u64, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let mut deleted = 0;
        for sql in [
            "DELETE FROM alert_attempts WHERE started_at < $1 AND delivery_id IN \
             (SELECT id FROM alert_deliveries WHERE status IN ('delivered', 'failed') AND updated_at < $1)",
            "DELETE FROM alert_deliveries WHERE status IN ('delivered', 'failed') AND updated_at < $1",
            "DELETE FROM alert_events WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM alert_deliveries d WHERE d.event_id = alert_events.id)",
            "DELETE FROM alert_incidents WHERE status = 'resolved' AND resolved_at < $1",
        ] {
            deleted += sqlx::query(sql).bind(before_ms).execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(deleted)
    }

    /// A webhook's attempts, newest first, before the id `before`.
    pub async fn attempts(
        &self,
        webhook_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Attempt>, StateDbError> {
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM alert_attempts WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT {}",
            limit.min(1001)
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(webhook_id)
            .bind(before.unwrap_or("~"))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(attempt_row).collect())
    }
}

fn filters_json(r: &Rule) -> String {
    to_json(&RuleFilters {
        streams: r.streams.clone(),
        codes: r.codes.clone(),
        families: r.families.clone(),
        min_requests: r.min_requests,
    })
}

/// Writes an event and one pending delivery per enabled webhook subscribed to its type.
async fn insert_event(
    tx: &mut Transaction<'static, Any>,
    event: &AlertEvent,
    incident_id: Option<&str>,
    now_ms: i64,
) -> Result<String, StateDbError> {
    let event_id = new_id("msg");
    sqlx::query("INSERT INTO alert_events (id, type, incident_id, payload, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&event_id)
        .bind(&event.kind)
        .bind(incident_id)
        .bind(to_json(event))
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    let hooks =
        sqlx::query("SELECT id, events FROM alert_webhooks WHERE enabled = 1 ORDER BY id").fetch_all(&mut **tx).await?;
    for hook in hooks {
        let events = json_list(&hook.get::<String, _>(1));
        if events.contains(&event.kind) {
            insert_delivery(tx, &event_id, &hook.get::<String, _>(0), now_ms).await?;
        }
    }
    Ok(event_id)
}

async fn insert_delivery(
    tx: &mut Transaction<'static, Any>,
    event_id: &str,
    webhook_id: &str,
    now_ms: i64,
) -> Result<(), StateDbError> {
    sqlx::query(
        "INSERT INTO alert_deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at, locked_by, \
         locked_until, last_error, created_at, updated_at) VALUES ($1, $2, $3, 'pending', 0, $4, NULL, NULL, NULL, $4, $4)",
    )
    .bind(new_id("dlv"))
    .bind(event_id)
    .bind(webhook_id)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    async fn repo() -> (AlertRepo, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        (AlertRepo::new(db), dir)
    }

    #[tokio::test]
    async fn pruning_keeps_what_is_still_on_its_way() {
        let (repo, _dir) = repo().await;
        let now = Utc::now();
        let hook = Webhook {
            id: new_id("hook"),
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            enabled: true,
            events: vec![EVENT_FIRING.to_owned()],
            format: PayloadFormat::Json,
            created_at: now,
            updated_at: now,
        };
        repo.insert_webhook(&hook, &crate::alerts::signing::new_secret()).await.unwrap();
        let event = crate::alerts::payload::sample_event(now);
        let t = now.timestamp_millis();
        // One delivered (with its attempt), one still pending.
        let done = repo.insert_test_event(&event, &hook.id, "me", t, 60_000).await.unwrap();
        let record = AttemptRecord { started_ms: t, latency_ms: 3, status_code: Some(204), error: None, success: true };
        assert!(repo.finish(&done, "me", &record, Next::Delivered, t).await.unwrap().is_some());
        let waiting = repo.insert_test_event(&event, &hook.id, "me", t, 60_000).await.unwrap();
        let record =
            AttemptRecord { started_ms: t, latency_ms: 3, status_code: Some(500), error: None, success: false };
        assert!(repo.finish(&waiting, "me", &record, Next::RetryAt(t + 3_600_000), t).await.unwrap().is_some());

        assert_eq!(repo.prune(t - 1).await.unwrap(), 0, "nothing is old yet");
        // An attempt, a delivery and an event of the delivered one; the pending one stays whole.
        assert_eq!(repo.prune(t + 1).await.unwrap(), 3);
        assert!(repo.event(&done.event_id).await.unwrap().is_none());
        assert!(repo.event(&waiting.event_id).await.unwrap().is_some());
        assert_eq!(repo.deliveries_of(&waiting.event_id).await.unwrap().len(), 1);
        assert_eq!(repo.attempts(&hook.id, None, 10).await.unwrap().len(), 1);
    }
}
