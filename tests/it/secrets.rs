//! Webhook signing secrets at rest: sealed with `FIRESIGHT_SECRETS_KEY` in the state database, still
//! signing (checked by the `standardwebhooks` crate) after the key rotates, and no webhook without a key
//! when the service listens beyond loopback.

use std::time::Duration;

use serde_json::{Value, json};

use crate::alerts::Receiver;
use crate::harness::{API_KEY, TestApp, TestAppBuilder};

const KEY_1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const KEY_2: &str = "HxwdHhscGhkYFxYVFBMSERAPDg0MCwoJCAcGBQQDAgE=";

async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(API_KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// The secret column as stored, read from the SQLite file directly.
async fn stored_secret(dir: &std::path::Path, id: &str) -> String {
    let url = format!("sqlite://{}", dir.join("firesight.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let secret: String =
        sqlx::query_scalar("SELECT secret FROM alert_webhooks WHERE id = ?").bind(id).fetch_one(&pool).await.unwrap();
    pool.close().await;
    secret
}

fn app(dir: &std::path::Path) -> TestAppBuilder {
    TestApp::builder()
        .set("STORE", "embedded")
        .set("DATA_DIR", dir.display().to_string())
        .set("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.1/32")
}

/// Sends a test event and waits until the receiver has one more request that verifies.
async fn test_delivery_verifies(app: &TestApp, receiver: &Receiver, id: &str) {
    let before = receiver.received().len();
    let (status, result) = call(app, reqwest::Method::POST, &format!("/v1/alerts/webhooks/{id}/test"), None).await;
    assert_eq!(status, 200, "{result}");
    let got = receiver.wait_for("the test event", Duration::from_secs(10), |got| got.len() > before).await;
    assert_eq!(got[before].verified, Ok(()), "{:?}", got[before]);
}

#[tokio::test]
async fn webhook_secrets_are_sealed_at_rest_and_survive_a_key_rotation() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();

    let first = app(dir.path()).set("SECRETS_KEY", KEY_1).spawn().await;
    let (status, hook) =
        call(&first, reqwest::Method::POST, "/v1/alerts/webhooks", Some(json!({"url": receiver.url("/sealed")}))).await;
    assert_eq!(status, 201, "{hook}");
    let (id, secret) = (hook["id"].as_str().unwrap().to_owned(), hook["secret"].as_str().unwrap().to_owned());
    receiver.register("/sealed", &secret);
    let sealed = stored_secret(dir.path(), &id).await;
    let secret_bytes = secret.strip_prefix("whsec_").unwrap();
    assert!(sealed.starts_with("enc:v1:") && !sealed.contains(secret_bytes), "stored as {sealed}");
    test_delivery_verifies(&first, &receiver, &id).await;
    first.stop().await;

    // Rotation: the new key seals, the old one still opens what it sealed, and the start re-seals it.
    let second = app(dir.path()).set("SECRETS_KEY", KEY_2).set("SECRETS_OLD_KEYS", KEY_1).spawn().await;
    let resealed = stored_secret(dir.path(), &id).await;
    assert!(resealed.starts_with("enc:v1:") && resealed != sealed, "{resealed} after {sealed}");
    assert_ne!(resealed.split(':').nth(2), sealed.split(':').nth(2), "sealed under another key id");
    test_delivery_verifies(&second, &receiver, &id).await;
    second.stop().await;

    // The old key can go now: everything is sealed under the new one.
    let third = app(dir.path()).set("SECRETS_KEY", KEY_2).spawn().await;
    test_delivery_verifies(&third, &receiver, &id).await;
    third.stop().await;
}

#[tokio::test]
async fn without_a_key_no_webhook_on_a_listener_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let open = app(dir.path()).set("LISTEN", "0.0.0.0:0").spawn().await;
    let (status, problem) = call(
        &open,
        reqwest::Method::POST,
        "/v1/alerts/webhooks",
        Some(json!({"url": "https://hooks.example.com/firesight"})),
    )
    .await;
    assert_eq!((status, problem["code"].as_str()), (501, Some("not_supported")), "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("FIRESIGHT_SECRETS_KEY"), "{problem}");
    open.stop().await;
}
