//! Incidents: at most one open per rule. Opening and resolving one write its event into the outbox in the
//! same transaction.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::events::insert_event;
use super::{AlertRepo, to_json};
use crate::alerts::model::*;
use crate::alerts::rules::RuleKind;
use crate::state::{StateDbError, time_of_ms as ms_time};

const INCIDENT_COLUMNS: &str = "id, rule_id, rule_name, kind, status, opened_at, resolved_at, last_evaluated_at, \
     opened_value, peak_value, last_value, details";

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

impl AlertRepo {
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
}
