//! The built-in dashboard as a user meets it: the real binary serving the demo, the page driven in
//! headless Chromium by `tests/browser/dashboard.mjs` (playwright-core). The script checks the panels
//! against the demo log's numbers, filters by a country (from the table and the world map), changes the
//! time range, pages, exports CSV, renders on a phone-sized screen, and turns Live on while it delivers
//! new requests through the Firehose endpoint; it checks the crawler panels against the API, and the
//! latency panels and host selector empty on the demo, then filled by timed deliveries from two hosts to
//! a stream with its own log format. Its screenshots land in `target/dashboard-artifacts/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::dataset::geolite2_city;
use crate::embedded_default::Process;
use crate::firehose_client::ACCESS_KEY;
use crate::harness::{API_KEY, http};

/// The log format of the delivery stream `timed`: nginx's with the virtual host and the request time.
const TIMED_FORMAT: &str = r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" $request_time"#;

const SETUP: &str = "run dev/browser.sh (or everything with dev/test.sh)";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Debian's Chromium, or `FIRESIGHT_TEST_CHROMIUM`; fails with the setup command when it is missing.
fn chromium() -> PathBuf {
    let path =
        std::env::var_os("FIRESIGHT_TEST_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| "/usr/bin/chromium".into());
    assert!(path.is_file(), "Chromium not found at {}: {SETUP}", path.display());
    path
}

/// Node.js with the browser test's npm packages installed; fails with the setup command otherwise.
fn require_node() {
    let version = Command::new("node").arg("--version").output();
    assert!(version.is_ok_and(|o| o.status.success()), "Node.js (`node`) not found: {SETUP}");
    let playwright = repo().join("tests/browser/node_modules/playwright-core/package.json");
    assert!(playwright.is_file(), "playwright-core is not installed in tests/browser: {SETUP}");
}

fn artifacts() -> PathBuf {
    std::env::var_os("FIRESIGHT_TEST_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/dashboard-artifacts"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_demo_in_a_real_browser() {
    let chromium = chromium();
    require_node();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("API_KEYS", API_KEY.to_owned()),
        ("GEOIP__CITY_DB", geolite2_city().display().to_string()),
        ("ALERTS__EVALUATION_INTERVAL_SECS", "1".to_owned()),
        ("FIREHOSE__ACCESS_KEYS", ACCESS_KEY.to_owned()),
        // The script's timed deliveries (the demo and the other deliveries are recognised per line).
        ("PARSE__SOURCES__timed", TIMED_FORMAT.to_owned()),
        // The script's LIVE_RATE: a burst of twelve is more than a live stream sends in a second.
        ("TAIL__MAX_EVENTS_PER_SECOND", "5".to_owned()),
    ];
    let mut service = Process::start(dir.path(), &["--demo"], &env);
    service.wait_live().await;
    let mut loaded = serde_json::Value::Null;
    for _ in 0..600 {
        loaded = service.get(API_KEY, "/v1/stats/summary?from=now-7d").await;
        if loaded["requests"] == 9_999 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(loaded["requests"], 9_999, "the demo did not load: {loaded}");
    // An alert rule the demo keeps firing (three 5xx answers in the week), for the delivery-health panel.
    let created = http()
        .post(format!("{}/v1/alerts/rules", service.base))
        .bearer_auth(API_KEY)
        .json(&serde_json::json!({"name": "any 5xx this week", "kind": "error_rate", "threshold": 0, "window": "7d",
                                  "min_requests": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let mut open = serde_json::Value::Null;
    for _ in 0..300 {
        open = service.get(API_KEY, "/v1/alerts/incidents?status=open").await;
        if open["items"].as_array().is_some_and(|i| i.len() == 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open["items"][0]["findings"]["counts"]["errors_5xx"], 3, "{open}");

    // The page needs no key (it asks for one); the API behind it still does.
    let page = http().get(format!("{}/", service.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("/dashboard/app.js"));
    let script = http().get(format!("{}/dashboard/app.js", service.base)).send().await.unwrap();
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    // The world map's shapes are a module of the page's own: no map data from anywhere else.
    let map = http().get(format!("{}/dashboard/worldmap.js", service.base)).send().await.unwrap();
    assert_eq!(map.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(map.headers()["content-security-policy"].to_str().unwrap().contains("connect-src 'self'"));
    assert!(map.text().await.unwrap().contains("FR:'m"), "the map has France's shape");
    assert_eq!(http().get(format!("{}/v1/info", service.base)).send().await.unwrap().status(), 401);

    let artifact_dir = artifacts();
    let base = service.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .current_dir(repo())
            .arg("tests/browser/dashboard.mjs")
            .arg(&base)
            .arg(API_KEY)
            .arg(&artifact_dir)
            .env("FIRESIGHT_TEST_CHROMIUM", chromium)
            .env("FIRESIGHT_TEST_FIREHOSE_KEY", ACCESS_KEY)
            .output()
            .expect("run node")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser test failed ({}); screenshots in {}\n--- stdout\n{stdout}--- stderr\n{stderr}",
        output.status,
        artifacts().display()
    );
    println!("{stdout}");
}
