//! The OpenSearch read path against the real node: the 10,000-line real Apache log is parsed, enriched
//! and indexed through `OpenSearchStore`, then every answer of the six read methods is compared with
//! counts computed here, in plain Rust over the parsed documents (never through the DSL translation).
//! A second dataset has Kinesis Agent's shape in an index firesight did not create, read through the
//! field map.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use firesight::config::{FieldMapConfig, OpenSearchConfig};
use firesight::document::{Geo, GeoPoint, LogDocument};
use firesight::enrich::{Enricher, UserAgentParser};
use firesight::query::model::*;
use firesight::store::opensearch::OpenSearchStore;
use firesight::store::{IndexDoc, ItemOutcome, LogStore, StoreError};
use serde_json::{Value, json};

use crate::harness;

// ------------------------------------------------------------------------------------------------
// fixtures

/// Deletes a test's indices and templates when it ends, passed or not.
pub(crate) struct Cleanup {
    pub(crate) os: String,
    pub(crate) prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (os, prefix) = (self.os.clone(), self.prefix.clone());
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(harness::drop_prefix(&os, &prefix));
        })
        .join();
    }
}

pub(crate) fn config(os: &str, prefix: &str) -> OpenSearchConfig {
    OpenSearchConfig { url: os.to_owned(), index_prefix: prefix.to_owned(), replicas: 0, ..OpenSearchConfig::default() }
}

/// A deterministic stand-in location per place (the test has no GeoIP database), a little apart per
/// client so that centroids are real means.
fn place(name: &str, ip: &IpAddr) -> GeoPoint {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let jitter = match ip {
        IpAddr::V4(v4) => f64::from(v4.octets()[3]),
        IpAddr::V6(v6) => f64::from(v6.octets()[15]),
    } / 1000.0;
    // Rounded so that the JSON text round-trips to the same f64.
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    GeoPoint {
        lat: round((h % 12_000) as f64 / 100.0 - 60.0 + jitter),
        lon: round((h / 12_000 % 34_000) as f64 / 100.0 - 170.0 + jitter),
    }
}

/// The real log, parsed and enriched; geolocation from the fixture's reference of the GeoLite2 answers.
pub fn parsed_real_log() -> Vec<(String, LogDocument)> {
    let enricher = Enricher::new(None, UserAgentParser::new().unwrap());
    let reference =
        std::fs::read_to_string(harness::fixture("geoip/elastic_examples_apache_logs.ip_geo_reference.csv")).unwrap();
    let geo: HashMap<String, (String, String)> = harness::csv_rows(&reference)
        .into_iter()
        .map(|mut row| {
            let mut column = |name: &str| row.remove(name).unwrap_or_else(|| panic!("no column {name}"));
            (column("client_host"), (column("geolite2_2019_country_iso"), column("geolite2_2019_city_en")))
        })
        .collect();
    let mut docs = Vec::new();
    for (n, line) in harness::real_log_lines().iter().enumerate() {
        let Ok(mut doc) = firesight::parse::parse_line(line) else { continue };
        enricher.enrich(&mut doc);
        if let (Some(ip), Some((country, city))) = (doc.source.ip, doc.source.address.as_ref().and_then(|a| geo.get(a)))
            && !country.is_empty()
        {
            let city = Some(city.clone()).filter(|c| !c.is_empty());
            doc.source.geo = Some(Arc::new(Geo {
                country_iso_code: Some(country.clone()),
                country_name: Some(format!("Country {country}")),
                location: Some(place(city.as_deref().unwrap_or(country), &ip)),
                city_name: city,
                ..Geo::default()
            }));
        }
        let id = firesight::ingest::ids::doc_id(&[b"store-queries", &(n as u64).to_le_bytes()]);
        docs.push((id, doc));
    }
    docs
}

pub(crate) async fn index_all(store: &OpenSearchStore, docs: &[(String, LogDocument)]) {
    let items: Vec<IndexDoc> = docs.iter().map(|(id, doc)| IndexDoc { id: id.clone(), doc: doc.clone() }).collect();
    let outcomes = store.index(&items).await.unwrap();
    assert!(
        outcomes.iter().all(|o| *o == ItemOutcome::Created),
        "{:?}",
        outcomes.iter().find(|o| **o != ItemOutcome::Created)
    );
    store.refresh().await.unwrap();
}

/// `[2015-05-17T00:00Z, 2015-05-21T00:00Z)`: the whole real log.
fn all_time() -> TimeRange {
    TimeRange {
        from: Utc.with_ymd_and_hms(2015, 5, 17, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2015, 5, 21, 0, 0, 0).unwrap(),
    }
}

fn query(filters: Filters) -> Query {
    Query { range: all_time(), filters }
}

// ------------------------------------------------------------------------------------------------
// independent counting

type Key = fn(&LogDocument) -> Option<String>;

fn status(d: &LogDocument) -> Option<String> {
    d.http.response.status_code.map(|s| s.to_string())
}
fn method(d: &LogDocument) -> Option<String> {
    d.http.request.method.as_deref().map(str::to_owned)
}
fn path(d: &LogDocument) -> Option<String> {
    d.url.path.clone()
}
fn browser(d: &LogDocument) -> Option<String> {
    d.user_agent.as_ref()?.name.as_deref().map(str::to_owned)
}
fn os_name(d: &LogDocument) -> Option<String> {
    d.user_agent.as_ref()?.os.as_ref()?.name.clone()
}
fn device(d: &LogDocument) -> Option<String> {
    d.user_agent.as_ref()?.device.as_ref()?.name.clone()
}
fn client_ip(d: &LogDocument) -> Option<String> {
    d.source.ip.map(|ip| ip.to_string())
}
fn country(d: &LogDocument) -> Option<String> {
    d.source.geo.as_ref()?.country_iso_code.clone()
}
fn city(d: &LogDocument) -> Option<String> {
    d.source.geo.as_ref()?.city_name.clone()
}
fn referrer_host(d: &LogDocument) -> Option<String> {
    d.firesight.referrer_host.clone()
}

/// Keys compare as the store documents: IP addresses in address order, everything else as text.
fn key_order(a: &str, b: &str) -> Ordering {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => a.cmp(b),
    }
}

fn ranked<'a>(docs: impl Iterator<Item = &'a LogDocument>, key: Key) -> Vec<KeyCount> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for d in docs {
        if let Some(k) = key(d) {
            *counts.entry(k).or_default() += 1;
        }
    }
    let mut ranked: Vec<KeyCount> = counts.into_iter().map(|(key, count)| KeyCount { key, count }).collect();
    ranked.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| key_order(&a.key, &b.key)));
    ranked
}

fn expected_top(docs: &[&LogDocument], key: Key, limit: usize) -> TopResult {
    let all = ranked(docs.iter().copied(), key);
    let with_value: u64 = all.iter().map(|k| k.count).sum();
    let buckets: Vec<KeyCount> = all.iter().take(limit).cloned().collect();
    let shown: u64 = buckets.iter().map(|k| k.count).sum();
    TopResult {
        total: docs.len() as u64,
        other: with_value - shown,
        missing: docs.len() as u64 - with_value,
        distinct: Some(all.len() as u64),
        buckets,
        count_error_bound: 0,
    }
}

/// The standard analyser's tokens, closely enough for the words the tests search: lower case, split on
/// anything but letters, digits, `_`, `'` and inner dots (`search.png` stays one token).
fn tokens(text: &str) -> HashSet<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '.' | '_' | '\'')))
        .map(|t| t.trim_matches('.').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn free_text_matches(d: &LogDocument, q: &str) -> bool {
    let mut have = HashSet::new();
    for text in
        [d.url.path.as_deref(), d.url.original.as_deref(), d.user_agent.as_ref().and_then(|u| u.original.as_deref())]
            .into_iter()
            .flatten()
    {
        have.extend(tokens(text));
    }
    tokens(q).iter().all(|t| have.contains(t))
}

fn hour_start(t: DateTime<Utc>, interval_secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(interval_secs) * interval_secs, 0).unwrap()
}

fn bytes(d: &LogDocument) -> u64 {
    d.http.response.body.bytes.unwrap_or(0)
}

/// Nearest-rank percentile.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1] as f64
}

fn within_one_percent(found: Option<f64>, exact: f64, what: &str) {
    let found = found.unwrap_or_else(|| panic!("{what}: no value"));
    assert!((found - exact).abs() <= exact.abs() * 0.01, "{what}: {found} is not within 1% of {exact}");
}

async fn count(store: &OpenSearchStore, filters: Filters) -> u64 {
    store.top(&TopRequest { query: query(filters), dimension: Dimension::Status, limit: 1 }).await.unwrap().total
}

// ------------------------------------------------------------------------------------------------
// the real log in firesight's own indices

#[tokio::test]
async fn answers_on_the_real_log_match_independent_counts() {
    let os = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os.clone(), prefix: prefix.clone() };
    let store = OpenSearchStore::new(&config(&os, &prefix)).unwrap();
    store.prepare().await.unwrap();
    let docs = parsed_real_log();
    assert!(docs.len() >= 9_990, "only {} lines parsed", docs.len());
    index_all(&store, &docs).await;
    assert!(docs.iter().all(|(_, d)| d.timestamp >= all_time().from && d.timestamp < all_time().to));
    let all: Vec<&LogDocument> = docs.iter().map(|(_, d)| d).collect();

    top(&store, &all).await;
    timeline(&store, &all).await;
    summary(&store, &all).await;
    visit_times(&store, &all).await;
    geo(&store, &all).await;
    filters(&store, &all).await;
    search(&store, &docs).await;
}

async fn top(store: &OpenSearchStore, all: &[&LogDocument]) {
    let cases: [(Dimension, Key, u32); 9] = [
        (Dimension::Status, status, 10),
        (Dimension::Method, method, 10),
        (Dimension::Path, path, 25),
        (Dimension::Browser, browser, 10),
        (Dimension::ClientIp, client_ip, 20),
        (Dimension::Os, os_name, 5),
        (Dimension::Device, device, 5),
        (Dimension::ReferrerHost, referrer_host, 10),
        (Dimension::Country, country, 10),
    ];
    for (dimension, key, limit) in cases {
        let found = store.top(&TopRequest { query: query(Filters::default()), dimension, limit }).await.unwrap();
        let expected = expected_top(all, key, limit as usize);
        assert_eq!(found.buckets, expected.buckets, "top {dimension:?}");
        assert_eq!(
            (found.total, found.other, found.missing, found.distinct),
            (expected.total, expected.other, expected.missing, expected.distinct),
            "top {dimension:?} total/other/missing/distinct"
        );
        if matches!(dimension, Dimension::Status | Dimension::Method | Dimension::Browser) {
            assert_eq!(found.count_error_bound, 0, "top {dimension:?}");
        }
    }
    // Status keys are the codes as text, client IPs their text form.
    let found = store
        .top(&TopRequest { query: query(Filters::default()), dimension: Dimension::Status, limit: 1 })
        .await
        .unwrap();
    assert_eq!(found.buckets[0].key, "200");
    // With a filter: the top of the 404s.
    let filters = Filters { status: vec![StatusFilter::Code(404)], ..Filters::default() };
    let found = store.top(&TopRequest { query: query(filters), dimension: Dimension::Path, limit: 5 }).await.unwrap();
    let subset: Vec<&LogDocument> = all.iter().copied().filter(|d| d.http.response.status_code == Some(404)).collect();
    let expected = expected_top(&subset, path, 5);
    assert_eq!((found.buckets, found.total, found.other), (expected.buckets, expected.total, expected.other));
}

async fn timeline(store: &OpenSearchStore, all: &[&LogDocument]) {
    for interval in [3600i64, 7 * 3600] {
        let request = TimelineRequest {
            query: query(Filters::default()),
            interval_secs: interval as u64,
            split: Split::StatusClass,
        };
        let found = store.timeline(&request).await.unwrap();
        let range = all_time();
        let mut expected: BTreeMap<DateTime<Utc>, TimelineBucket> = BTreeMap::new();
        let mut start = hour_start(range.from, interval);
        while start < range.to {
            let split = (1..=5).map(|c| (format!("{c}xx"), 0)).collect();
            expected.insert(start, TimelineBucket { start, count: 0, bytes: 0, split });
            start += chrono::Duration::seconds(interval);
        }
        for d in all {
            let e = expected.get_mut(&hour_start(d.timestamp, interval)).unwrap();
            e.count += 1;
            e.bytes += bytes(d);
            if let Some(s) = d.http.response.status_code {
                *e.split.get_mut(&format!("{}xx", s / 100)).unwrap() += 1;
            }
        }
        let expected: Vec<TimelineBucket> = expected.into_values().collect();
        assert_eq!(found.buckets.len(), expected.len(), "timeline {interval}s bucket count");
        assert_eq!(found.buckets, expected, "timeline {interval}s");
    }

    // Split by the top 3 browsers of a part of the range (the top is taken over that range only).
    let range = TimeRange {
        from: Utc.with_ymd_and_hms(2015, 5, 18, 6, 30, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2015, 5, 19, 6, 0, 0).unwrap(),
    };
    let request = TimelineRequest {
        query: Query { range, filters: Filters::default() },
        interval_secs: 3600,
        split: Split::Dimension(Dimension::Browser, 3),
    };
    let found = store.timeline(&request).await.unwrap();
    let inside: Vec<&LogDocument> =
        all.iter().copied().filter(|d| d.timestamp >= range.from && d.timestamp < range.to).collect();
    let keys: Vec<String> = ranked(inside.iter().copied(), browser).into_iter().take(3).map(|k| k.key).collect();
    assert_eq!(found.buckets.len(), 24, "06:00 (aligned down) .. 05:00 the next day");
    assert_eq!(found.buckets[0].start, Utc.with_ymd_and_hms(2015, 5, 18, 6, 0, 0).unwrap());
    for bucket in &found.buckets {
        let in_bucket: Vec<&LogDocument> =
            inside.iter().copied().filter(|d| hour_start(d.timestamp, 3600) == bucket.start).collect();
        let mut expected: BTreeMap<String, u64> = keys.iter().map(|k| (k.clone(), 0)).collect();
        for d in &in_bucket {
            if let Some(n) = browser(d).and_then(|b| expected.get_mut(&b)) {
                *n += 1;
            }
        }
        let top_sum: u64 = expected.values().sum();
        expected.insert("other".into(), in_bucket.len() as u64 - top_sum);
        assert_eq!(bucket.count, in_bucket.len() as u64, "{}", bucket.start);
        assert_eq!(bucket.split, expected, "{}", bucket.start);
    }
}

async fn summary(store: &OpenSearchStore, all: &[&LogDocument]) {
    let found = store.summary(&query(Filters::default())).await.unwrap();
    let class =
        |c: u16| all.iter().filter(|d| d.http.response.status_code.is_some_and(|s| s / 100 == c)).count() as u64;
    let ips: HashSet<IpAddr> = all.iter().filter_map(|d| d.source.ip).collect();
    let visitors: HashSet<(chrono::NaiveDate, &str)> =
        all.iter().filter_map(|d| Some((d.timestamp.date_naive(), d.firesight.visitor.as_deref()?))).collect();
    let mut per_hour: BTreeMap<DateTime<Utc>, u64> = BTreeMap::new();
    for d in all {
        *per_hour.entry(hour_start(d.timestamp, 3600)).or_default() += 1;
    }
    let max = per_hour.values().copied().max().unwrap();
    let busiest = per_hour.iter().find(|(_, n)| **n == max).map(|(h, n)| HourCount { start: *h, count: *n });
    assert_eq!(found.requests, all.len() as u64);
    assert_eq!(found.bytes, all.iter().map(|d| bytes(d)).sum::<u64>());
    assert_eq!(
        (found.status_2xx, found.status_3xx, found.status_4xx, found.status_5xx),
        (class(2), class(3), class(4), class(5))
    );
    assert_eq!(found.bot_requests, all.iter().filter(|d| d.firesight.bot == Some(true)).count() as u64);
    assert!(found.bot_requests > 0);
    assert_eq!(found.unique_client_ips, ips.len() as u64);
    assert_eq!(found.unique_visitors, visitors.len() as u64);
    assert_eq!(found.busiest_hour, busiest);
    let mut sizes: Vec<u64> = all.iter().filter_map(|d| d.http.response.body.bytes).collect();
    sizes.sort_unstable();
    within_one_percent(found.bytes_p50, percentile(&sizes, 50.0), "p50");
    within_one_percent(found.bytes_p95, percentile(&sizes, 95.0), "p95");
    within_one_percent(found.bytes_p99, percentile(&sizes, 99.0), "p99");
}

async fn visit_times(store: &OpenSearchStore, all: &[&LogDocument]) {
    for zone in ["UTC", "America/New_York", "Asia/Kolkata"] {
        let tz: Tz = zone.parse().unwrap();
        let found = store
            .visit_times(&VisitTimesRequest { query: query(Filters::default()), time_zone: zone.into() })
            .await
            .unwrap();
        let mut expected = vec![vec![0u64; 24]; 7];
        for d in all {
            let local = d.timestamp.with_timezone(&tz);
            expected[local.weekday().num_days_from_monday() as usize][local.hour() as usize] += 1;
        }
        assert_eq!(found.counts, expected, "visit times in {zone}");
    }
    let bad = VisitTimesRequest { query: query(Filters::default()), time_zone: "Europe/Atlantis".into() };
    assert!(matches!(store.visit_times(&bad).await, Err(StoreError::BadRequest(_))));
}

async fn geo(store: &OpenSearchStore, all: &[&LogDocument]) {
    let found = store.geo(&GeoRequest { query: query(Filters::default()), city_limit: 15 }).await.unwrap();
    let countries = ranked(all.iter().copied(), country);
    assert!(countries.len() > 20);
    let found_countries: Vec<(String, Option<String>, u64)> =
        found.countries.iter().map(|c| (c.iso_code.clone(), c.name.clone(), c.count)).collect();
    let expected: Vec<(String, Option<String>, u64)> =
        countries.iter().map(|k| (k.key.clone(), Some(format!("Country {}", k.key)), k.count)).collect();
    assert_eq!(found_countries, expected);
    let cities = ranked(all.iter().copied(), city);
    assert_eq!(found.cities.len(), 15);
    for (found, expected) in found.cities.iter().zip(&cities) {
        assert_eq!((&found.name, found.count), (&expected.key, expected.count));
        let points: Vec<(&str, GeoPoint)> = all
            .iter()
            .filter_map(|d| {
                let g = d.source.geo.as_ref()?;
                (g.city_name.as_deref() == Some(expected.key.as_str()))
                    .then(|| (g.country_iso_code.as_deref().unwrap(), g.location.unwrap()))
            })
            .collect();
        let n = points.len() as f64;
        let lat = points.iter().map(|(_, p)| p.lat).sum::<f64>() / n;
        let lon = points.iter().map(|(_, p)| p.lon).sum::<f64>() / n;
        assert!(
            (found.lat.unwrap() - lat).abs() < 1e-4 && (found.lon.unwrap() - lon).abs() < 1e-4,
            "{found:?} vs {lat},{lon}"
        );
        let mut by_country: HashMap<&str, u64> = HashMap::new();
        points.iter().for_each(|(c, _)| *by_country.entry(c).or_default() += 1);
        let max = by_country.values().max().unwrap();
        let majority: Vec<&str> = by_country.iter().filter(|(_, n)| *n == max).map(|(c, _)| *c).collect();
        assert!(majority.contains(&found.country_iso_code.as_deref().unwrap()), "{found:?}");
    }
}

/// A document's crawler name and category.
fn crawler(d: &LogDocument) -> (Option<&str>, Option<&str>) {
    let c = d.firesight.crawler.as_deref();
    (c.and_then(|c| c.name.as_deref()), c.and_then(|c| c.category.as_deref()))
}

async fn filters(store: &OpenSearchStore, all: &[&LogDocument]) {
    let ip = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    let top_ip: IpAddr = ranked(all.iter().copied(), client_ip)[0].key.parse().unwrap();
    let top_path = ranked(all.iter().copied(), path)[0].key.clone();
    let in_net = |net: ipnet::IpNet| move |d: &LogDocument| d.source.ip.is_some_and(|a| net.contains(&a));
    type Check = (&'static str, Filters, Box<dyn Fn(&LogDocument) -> bool>);
    let checks: Vec<Check> = vec![
        (
            "status code",
            Filters { status: vec![StatusFilter::Code(404), StatusFilter::Code(304)], ..Default::default() },
            Box::new(|d| matches!(d.http.response.status_code, Some(404 | 304))),
        ),
        (
            "status class",
            Filters { status: vec![StatusFilter::Class(4)], ..Default::default() },
            Box::new(|d| d.http.response.status_code.is_some_and(|s| (400..500).contains(&s))),
        ),
        (
            "status code or class",
            Filters { status: vec![StatusFilter::Code(206), StatusFilter::Class(3)], ..Default::default() },
            Box::new(|d| d.http.response.status_code.is_some_and(|s| s == 206 || (300..400).contains(&s))),
        ),
        (
            "method",
            Filters { method: vec!["HEAD".into(), "POST".into()], ..Default::default() },
            Box::new(|d| matches!(d.http.request.method.as_deref(), Some("HEAD" | "POST"))),
        ),
        (
            "path",
            Filters { path: vec![top_path.clone(), "/robots.txt".into()], ..Default::default() },
            Box::new(move |d| d.url.path.as_deref().is_some_and(|p| p == top_path || p == "/robots.txt")),
        ),
        (
            "path prefix",
            Filters { path_prefix: Some("/presentations/".into()), ..Default::default() },
            Box::new(|d| d.url.path.as_deref().is_some_and(|p| p.starts_with("/presentations/"))),
        ),
        (
            "country",
            Filters { country: vec!["FR".into(), "US".into()], ..Default::default() },
            Box::new(|d| matches!(country(d).as_deref(), Some("FR" | "US"))),
        ),
        (
            "city",
            Filters { city: vec!["Ephrata".into()], ..Default::default() },
            Box::new(|d| city(d).as_deref() == Some("Ephrata")),
        ),
        (
            "browser",
            Filters { browser: vec!["Firefox".into(), "Chrome".into()], ..Default::default() },
            Box::new(|d| matches!(browser(d).as_deref(), Some("Firefox" | "Chrome"))),
        ),
        (
            "os",
            Filters { os: vec!["Mac OS X".into()], ..Default::default() },
            Box::new(|d| os_name(d).as_deref() == Some("Mac OS X")),
        ),
        (
            "device",
            Filters { device: vec!["Spider".into()], ..Default::default() },
            Box::new(|d| device(d).as_deref() == Some("Spider")),
        ),
        (
            "referrer host",
            Filters { referrer_host: vec!["www.google.com".into(), "semicomplete.com".into()], ..Default::default() },
            Box::new(|d| matches!(referrer_host(d).as_deref(), Some("www.google.com" | "semicomplete.com"))),
        ),
        ("bot", Filters { bot: Some(true), ..Default::default() }, Box::new(|d| d.firesight.bot == Some(true))),
        ("not bot", Filters { bot: Some(false), ..Default::default() }, Box::new(|d| d.firesight.bot != Some(true))),
        (
            "crawler",
            Filters { crawler: vec!["Googlebot".into(), "msnbot".into()], ..Default::default() },
            Box::new(|d| matches!(crawler(d).0, Some("Googlebot" | "msnbot"))),
        ),
        (
            "crawler category",
            Filters { crawler_category: vec!["seo".into(), "scanner".into()], ..Default::default() },
            Box::new(|d| matches!(crawler(d).1, Some("seo" | "scanner"))),
        ),
        (
            "client ip",
            Filters { client_ip: vec![ip(&format!("{top_ip}/32"))], ..Default::default() },
            Box::new(move |d| d.source.ip == Some(top_ip)),
        ),
        (
            "client cidr",
            Filters { client_ip: vec![ip("66.249.0.0/16"), ip("83.149.9.216/32")], ..Default::default() },
            Box::new({
                let (a, b) = (in_net(ip("66.249.0.0/16")), in_net(ip("83.149.9.216/32")));
                move |d| a(d) || b(d)
            }),
        ),
        (
            "free text",
            Filters { q: Some("kibana".into()), ..Default::default() },
            Box::new(|d| free_text_matches(d, "kibana")),
        ),
        (
            "free text, two words",
            Filters { q: Some("Logstash monitorama".into()), ..Default::default() },
            Box::new(|d| free_text_matches(d, "Logstash monitorama")),
        ),
        (
            "free text, syntax is text",
            Filters { q: Some("googlebot OR *:* AND -x".into()), ..Default::default() },
            Box::new(|d| free_text_matches(d, "googlebot OR *:* AND -x")),
        ),
        (
            "combined",
            Filters {
                status: vec![StatusFilter::Class(2)],
                method: vec!["GET".into()],
                path_prefix: Some("/blog/".into()),
                bot: Some(false),
                ..Default::default()
            },
            Box::new(|d| {
                d.http.response.status_code.is_some_and(|s| (200..300).contains(&s))
                    && d.http.request.method.as_deref() == Some("GET")
                    && d.url.path.as_deref().is_some_and(|p| p.starts_with("/blog/"))
                    && d.firesight.bot != Some(true)
            }),
        ),
    ];
    for (name, mut f, predicate) in checks {
        f.normalise();
        let expected = all.iter().filter(|d| predicate(d)).count() as u64;
        assert!(expected > 0 || name.contains("syntax"), "{name}: the fixture has no match; pick another value");
        assert_eq!(count(store, f).await, expected, "filter: {name}");
    }
    // A time range inside the data: [from, to) exactly.
    let from = Utc.with_ymd_and_hms(2015, 5, 18, 12, 0, 0).unwrap();
    let to = Utc.with_ymd_and_hms(2015, 5, 18, 12, 30, 0).unwrap();
    let found = store
        .top(&TopRequest {
            query: Query { range: TimeRange { from, to }, filters: Filters::default() },
            dimension: Dimension::Status,
            limit: 1,
        })
        .await
        .unwrap()
        .total;
    assert_eq!(found, all.iter().filter(|d| d.timestamp >= from && d.timestamp < to).count() as u64);
}

async fn search(store: &OpenSearchStore, docs: &[(String, LogDocument)]) {
    let by_id: HashMap<&str, &LogDocument> = docs.iter().map(|(id, d)| (id.as_str(), d)).collect();
    for order in [Order::Desc, Order::Asc] {
        let mut seen: HashSet<String> = HashSet::new();
        let mut last: Option<DateTime<Utc>> = None;
        let mut cursor: Option<String> = None;
        let mut first_cursor: Option<String> = None;
        let mut second_page: Vec<String> = Vec::new();
        let mut pages = 0;
        loop {
            let page = store
                .search(&SearchRequest { query: query(Filters::default()), order, size: 1000, cursor: cursor.clone() })
                .await
                .unwrap();
            pages += 1;
            if pages == 2 {
                second_page = page.items.iter().map(|i| i.id.clone()).collect();
            }
            for item in &page.items {
                assert!(seen.insert(item.id.clone()), "{order:?}: {} twice", item.id);
                assert_eq!(
                    by_id.get(item.id.as_str()),
                    Some(&&item.doc),
                    "{order:?}: {} differs from what was indexed",
                    item.id
                );
                if let Some(prev) = last {
                    match order {
                        Order::Desc => assert!(item.doc.timestamp <= prev, "{order:?} out of order"),
                        Order::Asc => assert!(item.doc.timestamp >= prev, "{order:?} out of order"),
                    }
                }
                last = Some(item.doc.timestamp);
            }
            match page.next_cursor {
                Some(next) => {
                    assert_eq!(page.items.len(), 1000);
                    first_cursor.get_or_insert(next.clone());
                    cursor = Some(next);
                }
                None => break,
            }
            assert!(pages < 100);
        }
        assert_eq!(seen.len(), docs.len(), "{order:?}: every document once");
        assert_eq!(pages, docs.len().div_ceil(1000), "{order:?}: no cursor on the last page, and only there");
        // Nothing is held between pages: a cursor read again, after the last page, reads the same page.
        let again = store
            .search(&SearchRequest { query: query(Filters::default()), order, size: 1000, cursor: first_cursor })
            .await
            .unwrap();
        assert_eq!(again.items.iter().map(|i| i.id.clone()).collect::<Vec<_>>(), second_page, "{order:?}");
    }

    // Filtered, small pages whose total is not a multiple of the size.
    let filters = Filters { status: vec![StatusFilter::Class(4)], ..Filters::default() };
    let expected: HashSet<&str> = docs
        .iter()
        .filter(|(_, d)| d.http.response.status_code.is_some_and(|s| s / 100 == 4))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut seen = HashSet::new();
    let mut cursor = None;
    loop {
        let page = store
            .search(&SearchRequest { query: query(filters.clone()), order: Order::Asc, size: 7, cursor })
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|i| i.id.clone()));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.iter().map(String::as_str).collect::<HashSet<_>>(), expected);

    for bad in ["not-a-cursor", "eyJzZWFyY2hfYWZ0ZXIiOlsiYSIsMV0sIm9yZGVyIjoiRGVzYyJ9"] {
        let r = store
            .search(&SearchRequest {
                query: query(Filters::default()),
                order: Order::Desc,
                size: 10,
                cursor: Some(bad.into()),
            })
            .await;
        assert!(matches!(r, Err(StoreError::BadRequest(_))), "{bad}: {r:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// no index yet

#[tokio::test]
async fn a_range_without_any_index_answers_zeros() {
    let os = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os.clone(), prefix: prefix.clone() };
    let store = OpenSearchStore::new(&config(&os, &prefix)).unwrap();
    let q = query(Filters { status: vec![StatusFilter::Class(5)], ..Filters::default() });
    let top = store.top(&TopRequest { query: q.clone(), dimension: Dimension::ClientIp, limit: 10 }).await.unwrap();
    assert_eq!((top.total, top.buckets.len(), top.other, top.missing), (0, 0, 0, 0));
    let timeline = store
        .timeline(&TimelineRequest {
            query: q.clone(),
            interval_secs: 86_400,
            split: Split::Dimension(Dimension::Path, 5),
        })
        .await
        .unwrap();
    assert_eq!(timeline.buckets.len(), 4);
    assert!(timeline.buckets.iter().all(|b| b.count == 0 && b.split.get("other") == Some(&0)));
    let summary = store.summary(&q).await.unwrap();
    assert_eq!((summary.requests, summary.bytes, summary.busiest_hour, summary.bytes_p50), (0, 0, None, None));
    let visits =
        store.visit_times(&VisitTimesRequest { query: q.clone(), time_zone: "Europe/Paris".into() }).await.unwrap();
    assert_eq!(visits.counts.iter().flatten().sum::<u64>(), 0);
    let geo = store.geo(&GeoRequest { query: q.clone(), city_limit: 10 }).await.unwrap();
    assert!(geo.countries.is_empty() && geo.cities.is_empty());
    let page = store.search(&SearchRequest { query: q, order: Order::Desc, size: 10, cursor: None }).await.unwrap();
    assert!(page.items.is_empty() && page.next_cursor.is_none());
}

// ------------------------------------------------------------------------------------------------
// an index Firehose wrote itself, in Kinesis Agent's shape

/// One document as indexed, with what the test expects back.
struct AgentRow {
    id: String,
    time: DateTime<Utc>,
    status: String,
    bytes: u64,
    ip: String,
    body: Value,
}

#[tokio::test]
async fn a_kinesis_agent_index_is_read_through_the_field_map() {
    let os = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os.clone(), prefix: prefix.clone() };
    let index = format!("{prefix}-weblogs-2026-11-25");
    let http = harness::http();
    let created = http
        .put(format!("{os}/{index}"))
        .json(&json!({
            "settings": { "number_of_shards": 2, "number_of_replicas": 0 },
            "mappings": { "properties": {
                "host": { "type": "ip" },
                "response": { "type": "keyword" },
                "datetime": { "type": "date", "format": "dd/MMM/yyyy:HH:mm:ss Z" },
                "request": { "type": "keyword" },
                "bytes": { "type": "long" },
                "agent": { "type": "keyword" },
                "referrer": { "type": "keyword" }
            }}
        }))
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.text().await.unwrap());

    // 400 lines of the real log, moved to 2026-11-25 (same time of day), as Kinesis Agent sends them.
    let day = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let mut rows: Vec<AgentRow> = Vec::new();
    for (n, line) in harness::real_log_lines().iter().enumerate().step_by(25) {
        let Ok(doc) = firesight::parse::parse_line(line) else { continue };
        let t = day + chrono::Duration::seconds(i64::from(doc.timestamp.num_seconds_from_midnight()));
        let status = doc.http.response.status_code.unwrap().to_string();
        let body = json!({
            "host": doc.source.ip.unwrap().to_string(),
            "ident": null,
            "authuser": null,
            "datetime": t.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "request": format!("{} {} HTTP/1.1", doc.http.request.method.clone().unwrap(), doc.url.original.clone().unwrap()),
            "response": status,
            "bytes": doc.http.response.body.bytes.unwrap_or(0),
            "referrer": doc.http.request.referrer.clone().unwrap_or_else(|| "-".into()),
            "agent": doc.user_agent.as_ref().and_then(|u| u.original.clone()).unwrap_or_else(|| "-".into()),
        });
        rows.push(AgentRow {
            id: format!("ka-{n}"),
            time: t,
            status,
            bytes: doc.http.response.body.bytes.unwrap_or(0),
            ip: doc.source.ip.unwrap().to_string(),
            body,
        });
    }
    let mut bulk = String::new();
    for AgentRow { id, body, .. } in &rows {
        bulk.push_str(&json!({ "create": { "_index": index, "_id": id } }).to_string());
        bulk.push('\n');
        bulk.push_str(&body.to_string());
        bulk.push('\n');
    }
    harness::bulk(&os, bulk).await;

    let mut cfg = config(&os, &prefix);
    cfg.read_index = Some(format!("{prefix}-weblogs-*"));
    let absent = || Some(String::new());
    cfg.fields = FieldMapConfig {
        timestamp: Some("datetime".into()),
        client_ip: Some("host".into()),
        status: Some("response".into()),
        method: absent(),
        path: Some("request".into()),
        bytes: Some("bytes".into()),
        referrer_host: absent(),
        country: absent(),
        country_name: absent(),
        city: absent(),
        location: absent(),
        browser: absent(),
        os: absent(),
        device: absent(),
        user_agent: Some("agent".into()),
        bot: absent(),
        visitor: absent(),
        crawler: absent(),
        crawler_category: absent(),
        vhost: absent(),
        duration: absent(),
    };
    let store = OpenSearchStore::new(&cfg).unwrap();
    let range = TimeRange { from: day, to: day + chrono::Duration::days(1) };
    let q = |filters: Filters| Query { range, filters };

    // top status: keyword keys.
    let top =
        store.top(&TopRequest { query: q(Filters::default()), dimension: Dimension::Status, limit: 3 }).await.unwrap();
    let mut counts: HashMap<&str, u64> = HashMap::new();
    rows.iter().for_each(|r| *counts.entry(r.status.as_str()).or_default() += 1);
    let mut expected: Vec<KeyCount> = counts.iter().map(|(k, n)| KeyCount { key: k.to_string(), count: *n }).collect();
    expected.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    assert_eq!(top.total, rows.len() as u64);
    assert_eq!(top.buckets, expected[..3.min(expected.len())]);
    assert_eq!(top.missing, 0);

    // Status classes from a keyword status field: filters and timeline splits.
    let class = |c: u8| rows.iter().filter(|r| r.status.starts_with(char::from(b'0' + c))).count() as u64;
    let fours = Filters { status: vec![StatusFilter::Class(4)], ..Filters::default() };
    let found = store.top(&TopRequest { query: q(fours), dimension: Dimension::ClientIp, limit: 1 }).await.unwrap();
    assert_eq!(found.total, class(4));
    assert!(class(4) > 0);
    let timeline = store
        .timeline(&TimelineRequest { query: q(Filters::default()), interval_secs: 3600, split: Split::StatusClass })
        .await
        .unwrap();
    assert_eq!(timeline.buckets.len(), 24);
    for bucket in &timeline.buckets {
        let inside: Vec<_> = rows.iter().filter(|r| hour_start(r.time, 3600) == bucket.start).collect();
        assert_eq!(bucket.count, inside.len() as u64, "{}", bucket.start);
        assert_eq!(bucket.bytes, inside.iter().map(|r| r.bytes).sum::<u64>(), "{}", bucket.start);
        for c in 1..=5u8 {
            let n = inside.iter().filter(|r| r.status.starts_with(char::from(b'0' + c))).count() as u64;
            assert_eq!(bucket.split[&format!("{c}xx")], n, "{} {c}xx", bucket.start);
        }
    }

    // Summary: no visitor key (client IPs per day instead), no bot flag (0).
    let summary = store.summary(&q(Filters::default())).await.unwrap();
    let ips: HashSet<&str> = rows.iter().map(|r| r.ip.as_str()).collect();
    assert_eq!(summary.requests, rows.len() as u64);
    assert_eq!(summary.bytes, rows.iter().map(|r| r.bytes).sum::<u64>());
    assert_eq!(
        (summary.status_2xx, summary.status_3xx, summary.status_4xx, summary.status_5xx),
        (class(2), class(3), class(4), class(5))
    );
    assert_eq!(summary.unique_client_ips, ips.len() as u64);
    assert_eq!(summary.unique_visitors, ips.len() as u64);
    assert_eq!(summary.bot_requests, 0);

    // Free text on keyword fields is a case-insensitive substring match.
    let found = store
        .top(&TopRequest {
            query: q(Filters { q: Some("googlebot".into()), ..Filters::default() }),
            dimension: Dimension::Status,
            limit: 1,
        })
        .await
        .unwrap();
    let expected = rows.iter().filter(|r| {
        r.body["request"].as_str().unwrap().to_lowercase().contains("googlebot")
            || r.body["agent"].as_str().unwrap().to_lowercase().contains("googlebot")
    });
    assert_eq!(found.total, expected.count() as u64);
    assert!(found.total > 0);

    // What the index lacks is a bad request, not an empty answer.
    for dimension in [Dimension::Country, Dimension::Browser, Dimension::Method] {
        let r = store.top(&TopRequest { query: q(Filters::default()), dimension, limit: 3 }).await;
        assert!(
            matches!(&r, Err(StoreError::BadRequest(m)) if m.contains("not available in this index")),
            "{dimension:?}: {r:?}"
        );
    }
    assert!(matches!(
        store.geo(&GeoRequest { query: q(Filters::default()), city_limit: 3 }).await,
        Err(StoreError::BadRequest(_))
    ));

    // Search: every document once, newest first, mapped through the field map with `_source` kept.
    let by_id: HashMap<&str, _> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut seen = HashSet::new();
    let mut cursor = None;
    let mut last = None;
    loop {
        let page = store
            .search(&SearchRequest { query: q(Filters::default()), order: Order::Desc, size: 50, cursor })
            .await
            .unwrap();
        for item in &page.items {
            let row = by_id[item.id.as_str()];
            assert!(seen.insert(item.id.clone()));
            assert_eq!(item.doc.timestamp, row.time);
            assert_eq!(item.doc.http.response.status_code.map(|s| s.to_string()).as_deref(), Some(row.status.as_str()));
            assert_eq!(item.doc.source.ip.map(|ip| ip.to_string()).as_deref(), Some(row.ip.as_str()));
            assert_eq!(item.doc.http.response.body.bytes, Some(row.bytes));
            assert_eq!(item.doc.extra["_source"], row.body);
            assert!(last.is_none_or(|l| item.doc.timestamp <= l));
            last = Some(item.doc.timestamp);
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), rows.len());
}
