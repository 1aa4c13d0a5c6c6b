//! Deleting a webhook while the dispatcher records an attempt for it, on PostgreSQL. Both lock rows of
//! the deliveries and the webhooks tables; unless they lock them in one order, PostgreSQL aborts one
//! of them as a deadlock (the delete then answered 503).

use std::time::Duration;

use serde_json::json;

use crate::alerts::{call, post};
use crate::harness::{self, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_webhook_while_an_attempt_is_recorded_does_not_deadlock_on_postgres() {
    let (db_url, schema) = harness::postgres_schema_url().await;
    let app = TestApp::builder()
        .set("STORE", "embedded")
        .set("DATABASE_URL", db_url)
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8")
        .spawn()
        .await;
    let (status, created) =
        post(&app.base, "/v1/alerts/webhooks", json!({"url": "http://127.0.0.1:9/hook", "events": ["alert.firing"]}))
            .await;
    assert_eq!(status, 201, "{created}");
    let hook = created["id"].as_str().unwrap().to_owned();

    // A finished delivery to the hook (the dispatcher leaves it alone).
    let pool = sqlx::PgPool::connect(&harness::postgres_url()).await.unwrap();
    let sql = |s: &str| sqlx::AssertSqlSafe(s.replace("{schema}", &schema));
    sqlx::query(sql(
        "INSERT INTO {schema}.alert_deliveries (id, event_id, webhook_id, status, attempts, next_attempt_at, \
         created_at, updated_at) VALUES ('dlv_locks', 'evt_locks', $1, 'delivered', 1, 0, 0, 0)",
    ))
    .bind(&hook)
    .execute(&pool)
    .await
    .unwrap();

    // What recording an attempt does, held open: the delivery's row first...
    let mut recording = pool.begin().await.unwrap();
    sqlx::query(sql("UPDATE {schema}.alert_deliveries SET updated_at = 1 WHERE id = 'dlv_locks'"))
        .execute(&mut *recording)
        .await
        .unwrap();
    // ...while the webhook is deleted...
    let base = app.base.clone();
    let path = format!("/v1/alerts/webhooks/{hook}");
    let delete = tokio::spawn(async move { call(&base, reqwest::Method::DELETE, &path, None).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    // ...then the webhook's failure state, and commit.
    let update = sqlx::query(sql("UPDATE {schema}.alert_webhooks SET failing_since = 1 WHERE id = $1"))
        .bind(&hook)
        .execute(&mut *recording);
    let updated = tokio::time::timeout(Duration::from_secs(30), update).await.expect("the update is not left waiting");
    assert_eq!(updated.expect("recording the attempt is not aborted").rows_affected(), 1);
    recording.commit().await.unwrap();

    let (status, body) = delete.await.unwrap();
    assert_eq!(status, 204, "the delete waited for the attempt, then went through: {body}");
    let left: i64 = sqlx::query_scalar(sql("SELECT (SELECT count(*) FROM {schema}.alert_webhooks WHERE id = $1) \
         + (SELECT count(*) FROM {schema}.alert_deliveries WHERE webhook_id = $1)"))
    .bind(&hook)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0, "the webhook and its delivery are gone");
    app.stop().await;
}
