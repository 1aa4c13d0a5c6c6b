//! A configured log format honoured through the Firehose endpoint on the embedded store: the format of
//! the delivery stream (`parse.sources`, by the stream name of the `X-Amz-Firehose-Source-Arn`) wins
//! over the default, a line of another format is a parse failure (dead-lettered, the delivery still
//! acknowledged), and the request duration, upstream times and virtual host land in the stored
//! document; `firesight ingest --log-format` does the same for a file. No service is needed: `cargo
//! test --test it log_formats`.

use chrono::{TimeZone, Utc};
use firesight::query::model::{Filters, Order, Query, SearchRequest, TimeRange};
use firesight::store::LogStore;
use firesight::store::embedded::{EmbeddedOptions, EmbeddedStore};
use serde_json::Value;

use crate::firehose_client::FirehoseClient;
use crate::harness::TestApp;

/// NGINX's admin guide, "Configuring Logging" (https://docs.nginx.com/nginx/admin-guide/monitoring/logging/),
/// `log_format upstream_time`, with `$host` in front.
const UPSTREAM_TIME: &str = r#"$host $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time""#;

#[tokio::test]
async fn the_configured_format_reaches_the_stored_document() {
    let app = TestApp::builder()
        .set("STORE", "embedded")
        // Every other source would be read as nginx's `main`; `weblogs` (FirehoseClient's stream) has its own.
        .set("PARSE__LOG_FORMAT", "nginx_main")
        .set("PARSE__SOURCES__weblogs", UPSTREAM_TIME)
        .spawn()
        .await;
    let lines = [
        r#"shop.example 203.0.113.5 - - [01/Dec/2026:13:55:36 +0000] "GET /api/items?page=2 HTTP/1.1" 200 512 "-" "curl/8.5.0" rt=0.052 uct="0.001" uht="0.050" urt="0.010, 0.040""#,
        r#"blog.example 198.51.100.7 - - [01/Dec/2026:13:55:37 +0000] "GET /feed.xml HTTP/1.1" 304 0 "-" "Feedly/1.0" rt=0.000 uct="-" uht="-" urt="-""#,
        // Combined, not this stream's format: dead-lettered, not guessed.
        r#"127.0.0.1 - frank [01/Dec/2026:13:55:38 +0000] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "Mozilla/4.08 [en] (Win98; I ;Nav)""#,
    ];
    let records: Vec<Vec<u8>> = lines.iter().map(|l| format!("{l}\n").into_bytes()).collect();
    let reply = FirehoseClient::new(&app.base).deliver("formats-1", &records).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);

    let response =
        app.get("/v1/logs?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&order=asc").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page: Value = response.json().await.unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let first = &items[0];
    assert_eq!(first["event"]["duration"], 52_000_000, "{first}");
    assert_eq!(first["destination"]["domain"], "shop.example");
    assert_eq!(first["firesight"]["upstream"]["response_duration"], 50_000_000);
    assert_eq!(first["firesight"]["upstream"]["attempts"], 2);
    assert_eq!(first["firesight"]["record_format"], "nginx_log_format");
    assert_eq!(first["url"]["query"], "page=2");
    let second = &items[1];
    assert_eq!(
        (second["event"]["duration"].as_u64(), &second["destination"]["domain"]),
        (Some(0), &Value::from("blog.example"))
    );
    assert!(second["firesight"]["upstream"].get("response_duration").is_none(), "{second}");

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let failures = metrics
        .lines()
        .find(|l| l.starts_with("firesight_ingest_parse_failures_total{source=\"firehose\"}"))
        .unwrap_or_else(|| panic!("no parse failure counter:\n{metrics}"));
    assert!(failures.ends_with(" 1"), "{failures}");
    app.stop().await;
}

#[tokio::test]
async fn a_format_that_does_not_compile_stops_the_start() {
    let config = firesight::config::Config::from_pairs(&[("PARSE__LOG_FORMAT", "apache")]).unwrap();
    let err = firesight::app::build_formats(&config).unwrap_err();
    assert!(format!("{err:#}").contains("parse.log_format: unknown log format preset 'apache'"), "{err:#}");
    let config = firesight::config::Config::from_pairs(&[("PARSE__SOURCES__edge", "$remote_addr$status")]).unwrap();
    let err = firesight::app::build_formats(&config).unwrap_err();
    assert!(format!("{err:#}").contains("parse.sources.\"edge\""), "{err:#}");
}

#[tokio::test]
async fn backfill_reads_a_file_in_the_format_given_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    // Debian's `vhost_combined` on Apache's documentation example (https://httpd.apache.org/docs/current/logs.html).
    let log = dir.path().join("other_vhosts_access.log");
    std::fs::write(
        &log,
        concat!(
            "www.example.com:80 127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326 \"http://www.example.com/start.html\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\"\n",
            "shop.example:443 192.0.2.9 - - [10/Oct/2000:13:55:37 -0700] \"GET /cart HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\"\n",
            "192.0.2.9 - - [10/Oct/2000:13:55:38 -0700] \"GET / HTTP/1.1\" 200 512 \"-\" \"curl/8.5.0\"\n",
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let env =
        [("FIRESIGHT_DATA_DIR", data.display().to_string()), ("FIRESIGHT_PARSE__LOG_FORMAT", "nginx_main".to_owned())];
    let summary = crate::harness::run_firesight(
        &["ingest", "--quiet", "--log-format", "vhost_combined", log.to_str().unwrap()],
        &env,
    );
    assert!(summary.starts_with("3 lines read: 2 indexed, 0 already present, 1 dead-lettered"), "{summary}");

    let store = EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap();
    let range = TimeRange {
        from: Utc.with_ymd_and_hms(2000, 10, 10, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2000, 10, 11, 0, 0, 0).unwrap(),
    };
    let request = SearchRequest {
        query: Query { range, filters: Filters::default() },
        order: Order::Asc,
        size: 10,
        cursor: None,
    };
    let page = store.search(&request).await.unwrap();
    let vhosts: Vec<_> = page
        .items
        .iter()
        .map(|i| {
            let d = i.doc.destination.as_ref().unwrap();
            (d.domain.clone().unwrap(), d.port, i.doc.http.response.bytes)
        })
        .collect();
    assert_eq!(
        vhosts,
        [("www.example.com".to_owned(), Some(80), Some(2326)), ("shop.example".to_owned(), Some(443), Some(512))]
    );
}

/// A daily index created under an earlier template gets the new fields when the service starts.
#[tokio::test]
async fn existing_daily_indices_get_the_new_fields() {
    let os = crate::harness::require_opensearch().await;
    let prefix = crate::harness::unique("it-");
    let index = format!("{os}/{prefix}-2020.10.10");
    let old = serde_json::json!({"mappings": {"dynamic": false, "properties": {"@timestamp": {"type": "date"}}}});
    let created = crate::harness::http().put(&index).json(&old).send().await.unwrap();
    assert!(created.status().is_success(), "{}", created.text().await.unwrap());
    let store = firesight::store::opensearch::OpenSearchStore::new(&firesight::config::OpenSearchConfig {
        url: os.clone(),
        index_prefix: prefix.clone(),
        replicas: 0,
        ..firesight::config::OpenSearchConfig::default()
    })
    .unwrap();
    store.prepare().await.unwrap();
    let mapping: Value =
        crate::harness::http().get(format!("{index}/_mapping")).send().await.unwrap().json().await.unwrap();
    let properties = &mapping[format!("{prefix}-2020.10.10")]["mappings"]["properties"];
    assert_eq!(properties["event"]["properties"]["duration"]["type"], "long", "{mapping}");
    assert_eq!(properties["destination"]["properties"]["domain"]["type"], "keyword");
    crate::harness::drop_prefix(&os, &prefix).await;
}
