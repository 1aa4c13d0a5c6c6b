//! The outbox's deliveries: claimed with a lease, finished with their attempt, abandoned or queued again,
//! and pruned with the rest of the history once finished.

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{AlertRepo, AttemptRecord, Claimed, Next};
use crate::alerts::model::*;
use crate::state::{DbBackend, StateDbError, time_of_ms as ms_time};

const ATTEMPT_COLUMNS: &str =
    "id, delivery_id, event_id, webhook_id, attempt, started_at, latency_ms, status_code, error, success";
const DELIVERY_COLUMNS: &str = "id, event_id, webhook_id, status, attempts, next_attempt_at, last_error";

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
    pub async fn deliveries_of(&self, event_id: &str) -> Result<Vec<WebhookDelivery>, StateDbError> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM alert_deliveries WHERE event_id = $1 ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(event_id).fetch_all(self.pool()).await?;
        Ok(rows.iter().map(delivery_row).collect())
    }

    /// Queues an event again for the given webhooks.
    pub async fn redeliver(&self, event_id: &str, webhook_ids: &[String], now_ms: i64) -> Result<(), StateDbError> {
        let mut tx = self.pool().begin().await?;
        for webhook_id in webhook_ids {
            super::events::insert_delivery(&mut tx, event_id, webhook_id, now_ms).await?;
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
        disable: Option<&DisablePolicy>,
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
        track_failures(&mut tx, &claimed.webhook_id, attempt, now_ms, disable).await?;
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

/// When a webhook that keeps failing is disabled.
#[derive(Debug, Clone)]
pub struct DisablePolicy {
    /// Failing for at least this long at a failed attempt disables it.
    pub after_ms: i64,
}

/// Keeps the webhook's failure streak: cleared by a success, started by the first failure. A failure
/// when the streak is older than the policy's limit disables the webhook and writes an
/// `alert.endpoint_disabled` event for the others, in the attempt's transaction: one replica wins
/// the `UPDATE ... WHERE enabled = 1`, so the event is written once.
async fn track_failures(
    tx: &mut Transaction<'static, Any>,
    webhook_id: &str,
    attempt: &AttemptRecord,
    now_ms: i64,
    disable: Option<&DisablePolicy>,
) -> Result<(), StateDbError> {
    if attempt.success {
        sqlx::query("UPDATE alert_webhooks SET failing_since = NULL WHERE id = $1")
            .bind(webhook_id)
            .execute(&mut **tx)
            .await?;
        return Ok(());
    }
    sqlx::query("UPDATE alert_webhooks SET failing_since = COALESCE(failing_since, $2) WHERE id = $1")
        .bind(webhook_id)
        .bind(now_ms)
        .execute(&mut **tx)
        .await?;
    let Some(policy) = disable else { return Ok(()) };
    let reason = attempt.error.clone().unwrap_or_else(|| "the attempt failed".to_owned());
    let disabled = sqlx::query(
        "UPDATE alert_webhooks SET enabled = 0, disabled_at = $2, disabled_reason = $3, updated_at = $2 \
         WHERE id = $1 AND enabled = 1 AND failing_since IS NOT NULL AND failing_since <= $4",
    )
    .bind(webhook_id)
    .bind(now_ms)
    .bind(&reason)
    .bind(now_ms - policy.after_ms)
    .execute(&mut **tx)
    .await?;
    if disabled.rows_affected() != 1 {
        return Ok(());
    }
    let row = sqlx::query("SELECT url, failing_since FROM alert_webhooks WHERE id = $1")
        .bind(webhook_id)
        .fetch_one(&mut **tx)
        .await?;
    let url: String = row.get(0);
    let host = url::Url::parse(&url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default();
    let event = AlertEvent {
        kind: EVENT_ENDPOINT_DISABLED.to_owned(),
        timestamp: ms_time(now_ms),
        data: EventData::EndpointDisabled(EndpointDisabled {
            webhook_id: webhook_id.to_owned(),
            host,
            failing_since: ms_time(row.get(1)),
            disabled_at: ms_time(now_ms),
            reason,
        }),
    };
    tracing::warn!(webhook = webhook_id, "webhook disabled: every attempt failed for the configured time");
    super::events::insert_event(tx, &event, None, now_ms).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::repo::new_id;
    use crate::state::StateDb;
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
            failing_since: None,
            disabled_at: None,
            disabled_reason: None,
        };
        repo.insert_webhook(&hook, &crate::alerts::signing::new_secret()).await.unwrap();
        let event = crate::alerts::payload::sample_event(now);
        let t = now.timestamp_millis();
        // One delivered (with its attempt), one still pending.
        let done = repo.insert_test_event(&event, &hook.id, "me", t, 60_000).await.unwrap();
        let record = AttemptRecord { started_ms: t, latency_ms: 3, status_code: Some(204), error: None, success: true };
        assert!(repo.finish(&done, "me", &record, Next::Delivered, t, None).await.unwrap().is_some());
        let waiting = repo.insert_test_event(&event, &hook.id, "me", t, 60_000).await.unwrap();
        let record =
            AttemptRecord { started_ms: t, latency_ms: 3, status_code: Some(500), error: None, success: false };
        assert!(repo.finish(&waiting, "me", &record, Next::RetryAt(t + 3_600_000), t, None).await.unwrap().is_some());

        assert_eq!(repo.prune(t - 1).await.unwrap(), 0, "nothing is old yet");
        // An attempt, a delivery and an event of the delivered one; the pending one stays whole.
        assert_eq!(repo.prune(t + 1).await.unwrap(), 3);
        assert!(repo.event(&done.event_id).await.unwrap().is_none());
        assert!(repo.event(&waiting.event_id).await.unwrap().is_some());
        assert_eq!(repo.deliveries_of(&waiting.event_id).await.unwrap().len(), 1);
        assert_eq!(repo.attempts(&hook.id, None, 10).await.unwrap().len(), 1);
    }
}
