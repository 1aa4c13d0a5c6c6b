//! The outbox's events: written with one pending delivery per subscribed webhook, or for a single webhook
//! (a test send), and read back whole.

use sqlx::{Any, Row, Transaction};

use super::{AlertRepo, Claimed, json_list, new_id, to_json};
use crate::alerts::model::*;
use crate::state::StateDbError;

impl AlertRepo {
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

    /// Writes an event that belongs to no incident, for every webhook subscribed to its type.
    pub async fn insert_standalone_event(&self, event: &AlertEvent, now_ms: i64) -> Result<String, StateDbError> {
        let mut tx = self.pool().begin().await?;
        let id = insert_event(&mut tx, event, None, now_ms).await?;
        tx.commit().await?;
        Ok(id)
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
}

/// Writes an event and one pending delivery per enabled webhook subscribed to its type.
pub(super) async fn insert_event(
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

/// Queues one pending delivery of an event to a webhook.
pub(super) async fn insert_delivery(
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
