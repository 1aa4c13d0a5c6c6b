//! Webhooks: their URL, subscriptions, format and signing secret.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{AlertRepo, StoredWebhook, json_list, to_json};
use crate::alerts::model::*;
use crate::alerts::secrets::SecretBox;
use crate::state::{StateDbError, time_of_ms as ms_time};

const WEBHOOK_COLUMNS: &str = "id, url, description, enabled, events, format, secret, created_at, updated_at, \
                               failing_since, disabled_at, disabled_reason";

fn webhook_row(row: &AnyRow, secrets: &SecretBox) -> Result<StoredWebhook, StateDbError> {
    let secret =
        secrets.open(&row.get::<String, _>(6)).map_err(|e| StateDbError::Query(sqlx::Error::Decode(Box::new(e))))?;
    Ok(StoredWebhook {
        webhook: Webhook {
            id: row.get(0),
            url: row.get(1),
            description: row.get(2),
            enabled: row.get::<i64, _>(3) != 0,
            events: json_list(&row.get::<String, _>(4)),
            format: PayloadFormat::parse(&row.get::<String, _>(5)).unwrap_or_default(),
            created_at: ms_time(row.get(7)),
            updated_at: ms_time(row.get(8)),
            failing_since: row.get::<Option<i64>, _>(9).map(ms_time),
            disabled_at: row.get::<Option<i64>, _>(10).map(ms_time),
            disabled_reason: row.get(11),
        },
        secret,
    })
}

impl AlertRepo {
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
        .bind(self.secrets.seal(secret))
        .bind(hook.created_at.timestamp_millis())
        .bind(hook.updated_at.timestamp_millis())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<StoredWebhook>, StateDbError> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(|r| webhook_row(r, &self.secrets)).transpose()
    }

    /// Oldest first, after the id `after`.
    pub async fn webhooks(&self, after: Option<&str>, limit: u32) -> Result<Vec<Webhook>, StateDbError> {
        let sql =
            format!("SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE id > $1 ORDER BY id LIMIT {}", limit.min(1001));
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.unwrap_or("")).fetch_all(self.pool()).await?;
        rows.iter().map(|r| webhook_row(r, &self.secrets).map(|w| w.webhook)).collect()
    }

    pub async fn update_webhook(&self, hook: &Webhook) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "UPDATE alert_webhooks SET url = $2, description = $3, enabled = $4, events = $5, format = $6, \
             updated_at = $7, failing_since = $8, disabled_at = $9, disabled_reason = $10 WHERE id = $1",
        )
        .bind(&hook.id)
        .bind(&hook.url)
        .bind(&hook.description)
        .bind(i64::from(hook.enabled))
        .bind(to_json(&hook.events))
        .bind(hook.format.as_str())
        .bind(hook.updated_at.timestamp_millis())
        .bind(hook.failing_since.map(|t| t.timestamp_millis()))
        .bind(hook.disabled_at.map(|t| t.timestamp_millis()))
        .bind(hook.disabled_reason.as_deref())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Whether secrets are sealed before they are stored.
    pub fn seals_secrets(&self) -> bool {
        self.secrets.seals()
    }

    /// Seals again every secret stored plain or under an old key; returns how many.
    pub async fn rewrap_secrets(&self) -> Result<u64, StateDbError> {
        let rows = sqlx::query("SELECT id, secret FROM alert_webhooks").fetch_all(self.pool()).await?;
        let mut done = 0;
        for row in rows {
            let (id, stored): (String, String) = (row.get(0), row.get(1));
            if !self.secrets.needs_rewrap(&stored) {
                continue;
            }
            let secret =
                self.secrets.open(&stored).map_err(|e| StateDbError::Query(sqlx::Error::Decode(Box::new(e))))?;
            sqlx::query("UPDATE alert_webhooks SET secret = $3 WHERE id = $1 AND secret = $2")
                .bind(&id)
                .bind(&stored)
                .bind(self.secrets.seal(&secret))
                .execute(self.pool())
                .await?;
            done += 1;
        }
        Ok(done)
    }

    /// Deletes a webhook with its queued deliveries; its attempt history goes too.
    ///
    /// Rows are locked in the order the other writers lock them, so that none of them deadlocks with
    /// this one on PostgreSQL (which would abort one side): attempts before deliveries, as the history
    /// cleanup does, and deliveries before the webhook, as recording an attempt does (it updates the
    /// delivery, then the webhook's failure state). An attempt recorded while this waited for its
    /// delivery is deleted by the second pass over attempts.
    pub async fn delete_webhook(&self, id: &str) -> Result<bool, StateDbError> {
        let mut tx = self.pool().begin().await?;
        for sql in [
            "DELETE FROM alert_attempts WHERE webhook_id = $1",
            "DELETE FROM alert_deliveries WHERE webhook_id = $1",
            "DELETE FROM alert_attempts WHERE webhook_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM alert_webhooks WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }
}
