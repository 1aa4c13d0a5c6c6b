//! The real 10,000-line log indexed once per test run (with the GeoLite2-City 2019 database) into a
//! shared index prefix, plus an independent reading of the same lines: a plain regex and the committed
//! reference tables (per-IP country, per-UA browser), not firesight's parser or enricher. Query tests
//! compare firesight's answers with counts computed from this reading.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firesight::config::OpenSearchConfig;
use firesight::enrich::{Enricher, GeoIp, UserAgentParser};
use firesight::ingest::{Ingestor, SourceLine, ids};
use firesight::store::LogStore;
use firesight::store::opensearch::OpenSearchStore;
use tokio::sync::OnceCell;

use crate::harness;

/// One line as the test reads it.
#[derive(Debug, Clone)]
pub struct Line {
    pub ip: String,
    pub time: DateTime<Utc>,
    pub method: String,
    pub path: String,
    pub status: u16,
    pub bytes: u64,
    pub user_agent: String,
    pub country: Option<String>,
    /// uap-core's family; none when the line's user agent is `-` (firesight stores no user agent then).
    pub browser: Option<String>,
}

pub struct Dataset {
    pub prefix: String,
    pub lines: Vec<Line>,
}

static DATASET: OnceCell<Dataset> = OnceCell::const_new();

pub fn geolite2_city() -> PathBuf {
    let path = std::env::var_os("FIRESIGHT_TEST_GEOLITE2_CITY")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.dev/fixtures/GeoLite2-City.mmdb")));
    assert!(path.is_file(), "GeoLite2-City not found at {}: run dev/fixtures.sh", path.display());
    path
}

/// Indexes the real log once and returns it with the test's own reading of it.
pub async fn dataset() -> &'static Dataset {
    DATASET.get_or_init(load).await
}

async fn load() -> Dataset {
    let os = harness::require_opensearch().await;
    // Shared prefixes of earlier runs are dead weight in the dev cluster.
    let _ = harness::http().delete(format!("{os}/it-shared-*")).send().await;
    let prefix = harness::unique("it-shared-");
    let config =
        OpenSearchConfig { url: os.clone(), index_prefix: prefix.clone(), replicas: 0, ..OpenSearchConfig::default() };
    let store: Arc<dyn LogStore> = Arc::new(OpenSearchStore::new(&config).unwrap());
    store.prepare().await.unwrap();
    let geo = GeoIp::open(&geolite2_city(), None).unwrap();
    let enricher = Arc::new(Enricher::new(Some(geo), UserAgentParser::new().unwrap()));
    let ingestor = Ingestor::new(store.clone(), enricher, Arc::new(firesight::metrics::Metrics::new()));
    let raw = harness::real_log_lines();
    let source: Vec<SourceLine> = raw
        .iter()
        .enumerate()
        .map(|(i, l)| SourceLine {
            id: ids::backfill_id(b"dataset", i as u64 + 1),
            text: l.clone(),
            fallback_time: None,
            firehose: None,
            reject: None,
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let report = ingestor.ingest(source, "backfill", deadline).await.unwrap();
    assert_eq!(report.indexed + report.duplicates, 9_999);
    store.refresh().await.unwrap();
    Dataset { prefix, lines: read_independently(&raw) }
}

fn read_independently(raw: &[String]) -> Vec<Line> {
    let re = regex::Regex::new(
        r#"^(\S+) \S+ \S+ \[([^\]]+)\] "(\S+) (\S+)[^"]*" (\d{3}) (\S+) "(?:[^"\\]|\\.)*" "((?:[^"\\]|\\.)*)"$"#,
    )
    .unwrap();
    let countries: HashMap<String, String> = reference("geoip/elastic_examples_apache_logs.ip_geo_reference.csv")
        .into_iter()
        .map(|r| (r["client_host"].clone(), r["geolite2_2019_country_iso"].clone()))
        .collect();
    let browsers: HashMap<String, String> =
        reference("user_agents/elastic_examples_apache_logs.user_agent_reference.csv")
            .into_iter()
            .map(|r| (r["user_agent"].clone(), r["ua_family"].clone()))
            .collect();
    let lines: Vec<Line> = raw
        .iter()
        .filter_map(|l| re.captures(l))
        .map(|c| {
            let ip = c[1].to_owned();
            let ua = c[7].to_owned();
            Line {
                time: DateTime::parse_from_str(&c[2], "%d/%b/%Y:%H:%M:%S %z").unwrap().to_utc(),
                method: c[3].to_owned(),
                path: c[4].split('?').next().unwrap().to_owned(),
                status: c[5].parse().unwrap(),
                bytes: c[6].parse().unwrap_or(0),
                country: countries.get(&ip).filter(|c| !c.is_empty()).cloned(),
                browser: (ua != "-").then(|| browser_of(&ua, &browsers)),
                user_agent: ua,
                ip,
            }
        })
        .collect();
    assert_eq!(lines.len(), 9_999, "the independent reading sees every well-formed line");
    lines
}

/// uap-core's family from the reference table, except where firesight's parser knowingly differs: the
/// reference applies uap-core's 100-character window to bot tokens, ua-parser does not, so an agent
/// ending in `360Spider` is that spider rather than IE (listed in `enrich::user_agent`'s tests).
fn browser_of(ua: &str, browsers: &HashMap<String, String>) -> String {
    if ua.ends_with("; 360Spider") {
        return "360Spider".to_owned();
    }
    browsers.get(ua).cloned().unwrap_or_else(|| "Other".to_owned())
}

/// A committed reference CSV as rows of column → value.
fn reference(path: &str) -> Vec<HashMap<String, String>> {
    harness::csv_rows(&std::fs::read_to_string(harness::fixture(path)).unwrap())
}

/// `(key, count)` sorted like firesight's top-N: count descending, then key ascending.
pub fn top<F: Fn(&Line) -> Option<String>>(lines: &[Line], key: F, limit: usize) -> Vec<(String, u64)> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for l in lines {
        if let Some(k) = key(l) {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}
