//! The skeleton: start, readiness per dependency, index template, API keys, problem+json, OpenAPI.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{self, API_KEY, TestApp};

const READY_WITHIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn starts_on_port_0_and_reports_opensearch_and_sqlite_ready() {
    harness::require_opensearch().await;
    let app = TestApp::spawn().await;
    let ready = app.wait_ready(READY_WITHIN).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    assert_eq!(ready["checks"]["state_db"]["status"], "up");
    assert_eq!(ready["checks"]["state_db"]["kind"], "sqlite");
    assert_eq!(ready["checks"]["log_store"]["status"], "up");
    assert_eq!(ready["checks"]["log_store"]["kind"], "opensearch");
    let version = ready["checks"]["log_store"]["version"].as_str().unwrap();
    assert!(version.starts_with("2.19."), "{version}");
    assert!(ready["checks"].get("cloudwatch").is_none(), "cloudwatch is off by default");
    app.stop().await;
}

#[tokio::test]
async fn state_db_on_postgres_migrates_and_registers_the_instance() {
    harness::require_opensearch().await;
    let (url, schema) = harness::postgres_schema_url().await;
    let app = TestApp::builder().set("DATABASE_URL", url.clone()).spawn().await;
    let ready = app.wait_ready(READY_WITHIN).await;
    assert_eq!(ready["checks"]["state_db"]["status"], "up", "{ready:#}");
    assert_eq!(ready["checks"]["state_db"]["kind"], "postgres");

    let info: Value = app.get("/v1/info").send().await.unwrap().json().await.unwrap();
    assert_eq!(info["state_db"], "postgres");
    let instance_id = info["instance_id"].as_str().unwrap().to_owned();

    // The migration created the table in this test's schema and the start registered this process.
    let pool = sqlx::PgPool::connect(&harness::postgres_url()).await.unwrap();
    let (hostname, version): (String, String) =
        sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT hostname, version FROM {schema}.instances WHERE id = $1")))
            .bind(&instance_id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!hostname.is_empty());
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    app.stop().await;
}

#[tokio::test]
async fn cloudwatch_readiness_talks_to_moto() {
    harness::require_opensearch().await;
    let moto = harness::require_moto().await;
    let app = TestApp::builder()
        .set("CLOUDWATCH__ENABLED", "true")
        .set("CLOUDWATCH__ENDPOINT_URL", moto)
        .set("CLOUDWATCH__REGION", "us-east-1")
        .set("CLOUDWATCH__ACCESS_KEY_ID", "testing")
        .set("CLOUDWATCH__SECRET_ACCESS_KEY", "testing")
        .spawn()
        .await;
    let ready = app.wait_ready(READY_WITHIN).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    assert_eq!(ready["checks"]["cloudwatch"]["status"], "up");
    assert_eq!(ready["checks"]["cloudwatch"]["kind"], "cloudwatch-logs");
    app.stop().await;
}

#[tokio::test]
async fn readiness_reports_each_dependency_separately() {
    // Nothing listens on port 9 of loopback: the log store is down, the state database is up.
    let moto = harness::require_moto().await;
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", "http://127.0.0.1:9")
        .set("OPENSEARCH__TIMEOUT_SECS", "1")
        .set("CLOUDWATCH__ENABLED", "true")
        .set("CLOUDWATCH__ENDPOINT_URL", moto)
        .set("CLOUDWATCH__REGION", "us-east-1")
        .set("CLOUDWATCH__ACCESS_KEY_ID", "testing")
        .set("CLOUDWATCH__SECRET_ACCESS_KEY", "testing")
        .spawn()
        .await;
    let r = app.client.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "not_ready");
    assert_eq!(ready["checks"]["log_store"]["status"], "down", "{ready:#}");
    assert!(ready["checks"]["log_store"]["error"].as_str().unwrap().contains("unreachable"), "{ready:#}");
    assert_eq!(ready["checks"]["state_db"]["status"], "up");
    assert_eq!(ready["checks"]["cloudwatch"]["status"], "up");
    // Liveness does not depend on dependencies.
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn index_template_is_installed_and_applies_to_daily_indices() {
    let os = harness::require_opensearch().await;
    let app = TestApp::spawn().await;
    let ready = app.wait_ready(READY_WITHIN).await;
    assert_eq!(ready["status"], "ready", "{ready:#}");
    let client = harness::http();
    let prefix = &app.index_prefix;

    let t: Value =
        client.get(format!("{os}/_index_template/{prefix}-template")).send().await.unwrap().json().await.unwrap();
    let template = &t["index_templates"][0]["index_template"];
    assert_eq!(template["index_patterns"][0], format!("{prefix}-*"));

    // A daily index created by writing one document gets the canonical mapping.
    let index = format!("{prefix}-2026.11.26");
    let doc = serde_json::json!({"@timestamp": "2026-11-26T10:00:00Z", "source": {"ip": "81.2.69.142",
        "geo": {"location": {"lat": 51.5, "lon": -0.09}}}, "http": {"response": {"status_code": 200}}});
    let put = client.put(format!("{os}/{index}/_doc/1?refresh=true")).json(&doc).send().await.unwrap();
    assert!(put.status().is_success(), "{}", put.text().await.unwrap());
    let mapping: Value = client.get(format!("{os}/{index}/_mapping")).send().await.unwrap().json().await.unwrap();
    let props = &mapping[&index]["mappings"]["properties"];
    assert_eq!(props["source"]["properties"]["geo"]["properties"]["location"]["type"], "geo_point");
    assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
    assert_eq!(props["user_agent"]["properties"]["os"]["properties"]["name"]["type"], "keyword");
    // A geo-distance query works only if `location` really is a geo_point.
    let hits: Value = client
        .post(format!("{os}/{index}/_search"))
        .json(&serde_json::json!({"query": {"geo_distance": {"distance": "10km",
            "source.geo.location": {"lat": 51.5, "lon": -0.1}}}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"]["total"]["value"], 1, "{hits:#}");

    client.delete(format!("{os}/{index}")).send().await.unwrap();
    client.delete(format!("{os}/_index_template/{prefix}-template")).send().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn v1_needs_an_api_key_and_answers_problem_json() {
    let app = TestApp::builder().set("OPENSEARCH__URL", "http://127.0.0.1:9").spawn().await;

    for auth in [None, Some("Bearer wrong-key"), Some("Basic dGVzdDp0ZXN0"), Some("Bearer ")] {
        let mut req = app.client.get(app.url("/v1/info"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["status"], 401);
        assert_eq!(p["code"], "unauthorized");
        assert_eq!(p["type"], "urn:firesight:problem:unauthorized");
        assert_eq!(p["request_id"], request_id);
    }
    // Unknown /v1 paths are refused before they reveal whether they exist.
    assert_eq!(app.client.get(app.url("/v1/nope")).send().await.unwrap().status(), 401);

    let r = app.get("/v1/info").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["name"], "firesight");
    assert_eq!(info["store"], "opensearch");
    assert_eq!(info["state_db"], "sqlite");

    // Public routes need no key.
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(app.url("/openapi.json")).send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn auth_can_be_disabled_on_loopback_only() {
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", "http://127.0.0.1:9")
        .set("API_KEYS", "")
        .set("AUTH__DISABLED", "true")
        .spawn()
        .await;
    assert_eq!(app.client.get(app.url("/v1/info")).send().await.unwrap().status(), 200);
    app.stop().await;

    let refused = firesight::Config::from_pairs(&[("LISTEN", "0.0.0.0:0"), ("AUTH__DISABLED", "true")]);
    assert!(refused.unwrap_err().to_string().contains("loopback"));
}

#[tokio::test]
async fn errors_are_problem_json_everywhere() {
    let app = TestApp::builder()
        .set("OPENSEARCH__URL", "http://127.0.0.1:9")
        .set("HTTP__BODY_LIMIT_BYTES", "1024")
        .spawn()
        .await;

    let r = app.client.get(app.url("/no/such/page")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");

    let r = app.client.post(app.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "method_not_allowed");

    let r = app.client.post(app.url("/v1/info")).bearer_auth(API_KEY).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "payload_too_large");
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let app = TestApp::builder().set("OPENSEARCH__URL", "http://127.0.0.1:9").spawn().await;
    for _ in 0..3 {
        app.client.get(app.url("/health/live")).send().await.unwrap();
    }
    let text = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("firesight_http_requests_total{") && l.contains(r#"route="/health/live""#))
        .unwrap_or_else(|| panic!("{text}"));
    // wait_live polls too, so at least our three.
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
    app.stop().await;
}

#[tokio::test]
async fn serves_its_spec_and_swagger_ui_offline() {
    let app = TestApp::builder().set("OPENSEARCH__URL", "http://127.0.0.1:9").spawn().await;
    let served: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(served, serde_json::to_value(firesight::http::openapi()).unwrap());
    assert!(served["paths"]["/v1/info"]["get"]["security"].is_array());

    let r = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The UI's assets are embedded in the binary, not fetched from a CDN.
    assert!(!html.contains("cdn") && !html.contains("unpkg"), "{html}");
    let js = app.client.get(app.url("/docs/swagger-ui-bundle.js")).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert!(js.bytes().await.unwrap().len() > 100_000);
    let init = app.client.get(app.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    app.stop().await;
}

#[test]
fn committed_openapi_spec_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let committed = std::fs::read_to_string(path).expect("openapi/openapi.json is committed");
    if let Some(drift) = firesight::http::openapi_drift(&committed) {
        panic!("{drift}");
    }
}

#[test]
fn spec_drift_check_catches_an_edited_file() {
    let generated = firesight::http::openapi_json();
    assert!(firesight::http::openapi_drift(&generated).is_none());
    let edited = generated.replacen("Describe this service", "Describe this servic", 1);
    assert_ne!(edited, generated);
    let drift = firesight::http::openapi_drift(&edited).expect("an edited spec is drift");
    assert!(drift.contains("cargo run -- openapi"), "{drift}");
    assert!(drift.contains("Describe this servic"), "{drift}");
}

#[tokio::test]
async fn the_binary_serves_with_no_configuration_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_firesight"));
    cmd.current_dir(dir.path()).args(["serve", "--listen", &format!("127.0.0.1:{port}")]);
    for (k, _) in std::env::vars() {
        if k.starts_with("FIRESIGHT_") || k == "RUST_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.kill_on_drop(true).spawn().unwrap();
    let client = harness::http();
    let base = format!("http://127.0.0.1:{port}");
    let mut live = false;
    for _ in 0..200 {
        if client.get(format!("{base}/health/live")).send().await.is_ok_and(|r| r.status() == 200) {
            live = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(live, "firesight serve did not come up");
    let html = client.get(format!("{base}/docs/")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    // The default data directory holds the SQLite state database.
    assert!(dir.path().join("firesight-data/firesight.db").exists());

    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.expect("stops after SIGTERM").unwrap();
    assert!(exit.success(), "{exit:?}");
}
