//! Alert rules, with their filters in one JSON column.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AlertRepo, StoredRule, to_json};
use crate::alerts::model::*;
use crate::alerts::rules::RuleKind;
use crate::duration::format as format_duration;
use crate::state::{StateDbError, time_of_ms as ms_time};

const RULE_COLUMNS: &str =
    "id, name, kind, threshold, window_secs, cooldown_secs, filters, enabled, last_fired_at, created_at, updated_at";

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    percentile: Option<u8>,
}

fn rule_row(row: &AnyRow) -> StoredRule {
    let filters: RuleFilters = serde_json::from_str(&row.get::<String, _>(6)).unwrap_or_default();
    let window_secs = row.get::<i64, _>(4) as u64;
    let cooldown_secs = row.get::<i64, _>(5) as u64;
    let kind = RuleKind::parse(&row.get::<String, _>(2)).unwrap_or(RuleKind::DeliveryErrors);
    let threshold: f64 = row.get(3);
    StoredRule {
        rule: Rule {
            id: row.get(0),
            name: row.get(1),
            kind,
            threshold,
            window: format_duration(window_secs),
            cooldown: format_duration(cooldown_secs),
            enabled: row.get::<i64, _>(7) != 0,
            streams: filters.streams,
            codes: filters.codes,
            families: filters.families,
            min_requests: filters.min_requests,
            percentile: filters.percentile,
            threshold_ms: (kind == RuleKind::Latency).then_some(threshold),
            last_fired_at: row.get::<Option<i64>, _>(8).map(ms_time),
            created_at: ms_time(row.get(9)),
            updated_at: ms_time(row.get(10)),
        },
        window_secs,
        cooldown_secs,
    }
}

fn filters_json(r: &Rule) -> String {
    to_json(&RuleFilters {
        streams: r.streams.clone(),
        codes: r.codes.clone(),
        families: r.families.clone(),
        min_requests: r.min_requests,
        percentile: r.percentile,
    })
}

impl AlertRepo {
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
}
