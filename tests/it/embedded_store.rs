//! The embedded store against the OpenSearch adapter: the 10,000-line real Apache log, parsed and
//! enriched, is indexed into both (an `EmbeddedStore` in a temporary directory, an `OpenSearchStore`
//! under a unique index prefix), and every read method must answer the same on both: counts exactly,
//! percentiles within 1% of the exact value (OpenSearch's HDR histogram: 0.1%), centroids within 1e-4. Then the
//! embedded store's own promises: replays are duplicates, data and dedup survive a restart, retention
//! drops whole days.

use std::collections::{HashMap, HashSet};

use chrono::{NaiveDate, TimeZone, Utc};
use firesight::config::OpenSearchConfig;
use firesight::document::LogDocument;
use firesight::query::model::*;
use firesight::store::embedded::{EmbeddedOptions, EmbeddedStore};
use firesight::store::opensearch::OpenSearchStore;
use firesight::store::{IndexDoc, ItemOutcome, LogStore, StoreError};

use crate::harness;

/// Deletes the test's OpenSearch indices and templates when it ends, passed or not.
struct Cleanup {
    os: String,
    prefix: String,
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

/// The real log, parsed and enriched, with the stand-in geolocation of the store-queries tests.
fn real_log() -> Vec<IndexDoc> {
    crate::store_queries::parsed_real_log().into_iter().map(|(id, doc)| IndexDoc { id, doc }).collect()
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

fn within_one_percent(found: Option<f64>, exact: Option<f64>, what: &str) {
    let (found, exact) = (found.unwrap_or_else(|| panic!("{what}: none")), exact.unwrap());
    assert!((found - exact).abs() <= exact.abs() * 0.01, "{what}: {found} is not within 1% of {exact}");
}

/// Nearest-rank percentile.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1] as f64
}

#[tokio::test]
async fn the_embedded_store_answers_like_opensearch_on_the_real_log() {
    let os_url = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os_url.clone(), prefix: prefix.clone() };
    let os = OpenSearchStore::new(&OpenSearchConfig {
        url: os_url.clone(),
        index_prefix: prefix.clone(),
        replicas: 0,
        ..OpenSearchConfig::default()
    })
    .unwrap();
    os.prepare().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let embedded = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(embedded.prepare().await.unwrap().kind, "embedded");

    let docs = real_log();
    assert!(docs.len() >= 9_990, "only {} lines parsed", docs.len());
    assert!(os.index(&docs).await.unwrap().iter().all(|o| *o == ItemOutcome::Created));
    os.refresh().await.unwrap();
    // In several batches, as deliveries come.
    for batch in docs.chunks(3_000) {
        assert!(embedded.index(batch).await.unwrap().iter().all(|o| *o == ItemOutcome::Created));
    }
    embedded.refresh().await.unwrap();
    assert_eq!(embedded.days().len(), 4);

    same_answers(&os, &embedded, &docs).await;

    // Replays are duplicates, in one batch or many.
    let outcomes = embedded.index(&docs).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ItemOutcome::Duplicate), "a replay wrote something");
    assert_eq!(total(&embedded).await, docs.len() as u64);

    // Closed and reopened: the data and the dedup persist.
    embedded.close().unwrap();
    let embedded = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(total(&embedded).await, docs.len() as u64);
    let outcomes = embedded.index(&docs[..500]).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ItemOutcome::Duplicate), "a replay after restart wrote something");
    let page = embedded
        .search(&SearchRequest { query: query(Filters::default()), order: Order::Asc, size: 3, cursor: None })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);

    // Retention: the first day goes, the rest stays.
    let first_day = NaiveDate::from_ymd_opt(2015, 5, 17).unwrap();
    let on_first_day = docs.iter().filter(|d| d.doc.timestamp.date_naive() == first_day).count() as u64;
    assert!(on_first_day > 0);
    let dropped = embedded.drop_days(first_day.succ_opt().unwrap()).unwrap();
    assert_eq!(dropped, [first_day]);
    assert!(!dir.path().join("logs/2015-05-17").exists());
    assert_eq!(total(&embedded).await, docs.len() as u64 - on_first_day);
}

/// A dimension's value in a document, as the API shows it.
fn value(d: &LogDocument, dimension: Dimension) -> Option<String> {
    let geo = d.source.geo.as_ref();
    let agent = d.user_agent.as_ref();
    match dimension {
        Dimension::Country => geo?.country_iso_code.clone(),
        Dimension::City => geo?.city_name.clone(),
        Dimension::Browser => agent?.name.as_deref().map(str::to_owned),
        Dimension::Os => agent?.os.as_ref()?.name.clone(),
        Dimension::Device => agent?.device.as_ref()?.name.clone(),
        Dimension::Path => d.url.path.clone(),
        Dimension::ReferrerHost => d.firesight.referrer_host.clone(),
        Dimension::Status => d.http.response.status_code.map(|s| s.to_string()),
        Dimension::Method => d.http.request.method.as_deref().map(str::to_owned),
        Dimension::ClientIp => d.source.ip.map(|ip| ip.to_string()),
        Dimension::Crawler => d.firesight.crawler.as_ref()?.name.clone(),
        Dimension::CrawlerCategory => d.firesight.crawler.as_ref()?.category.clone(),
        Dimension::Vhost => d.destination.as_ref()?.domain.clone(),
    }
}

async fn total(store: &EmbeddedStore) -> u64 {
    let request = TopRequest { query: query(Filters::default()), dimension: Dimension::Status, limit: 1 };
    store.top(&request).await.unwrap().total
}

async fn same_answers(os: &OpenSearchStore, em: &EmbeddedStore, docs: &[IndexDoc]) {
    // top of every dimension: distinct counts are exact here, HyperLogLog++ there (within 1%)
    for dimension in Dimension::ALL {
        let request = TopRequest { query: query(Filters::default()), dimension, limit: 10 };
        let (a, b) = (os.top(&request).await.unwrap(), em.top(&request).await.unwrap());
        let exact: HashSet<String> = docs.iter().filter_map(|d| value(&d.doc, dimension)).collect();
        assert_eq!(b.distinct, Some(exact.len() as u64), "top {dimension:?}: distinct");
        let (x, y) = (exact.len() as f64, a.distinct.unwrap() as f64);
        assert!((x - y).abs() <= x * 0.01, "top {dimension:?}: OpenSearch's distinct {y} is not within 1% of {x}");
        assert_eq!(TopResult { distinct: None, ..b.clone() }, TopResult { distinct: None, ..a }, "top {dimension:?}");
        // The real log names no virtual host; every other dimension has values in it.
        let present = dimension != Dimension::Vhost;
        assert_eq!(b.total > 0 && !b.buckets.is_empty(), present, "top {dimension:?}: {b:?}");
    }

    // timelines: status classes over everything, the top browsers over part of the range
    let request = TimelineRequest { query: query(Filters::default()), interval_secs: 3600, split: Split::StatusClass };
    let (a, b) = (os.timeline(&request).await.unwrap(), em.timeline(&request).await.unwrap());
    assert_eq!(b.buckets.len(), 96);
    assert_eq!(b, a, "timeline by status class");
    let range = TimeRange {
        from: Utc.with_ymd_and_hms(2015, 5, 18, 6, 30, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2015, 5, 19, 6, 0, 0).unwrap(),
    };
    for split in [Split::Dimension(Dimension::Browser, 3), Split::Dimension(Dimension::Status, 4)] {
        let request =
            TimelineRequest { query: Query { range, filters: Filters::default() }, interval_secs: 3600, split };
        let (a, b) = (os.timeline(&request).await.unwrap(), em.timeline(&request).await.unwrap());
        assert_eq!(b.buckets.len(), 24);
        assert_eq!(b, a, "timeline by {split:?}");
    }

    // summary: exact fields equal; percentiles exact here, within 1% there
    let (a, b) =
        (os.summary(&query(Filters::default())).await.unwrap(), em.summary(&query(Filters::default())).await.unwrap());
    let exact = |s: &SummaryResult| {
        (
            s.requests,
            s.unique_visitors,
            s.unique_client_ips,
            s.bytes,
            (s.status_2xx, s.status_3xx, s.status_4xx, s.status_5xx),
            s.bot_requests,
            s.busiest_hour.clone(),
        )
    };
    assert_eq!(exact(&b), exact(&a), "summary");
    let mut sizes: Vec<u64> = docs.iter().filter_map(|d| d.doc.http.response.body.bytes).collect();
    sizes.sort_unstable();
    for (p, found, theirs) in
        [(50.0, b.bytes_p50, a.bytes_p50), (95.0, b.bytes_p95, a.bytes_p95), (99.0, b.bytes_p99, a.bytes_p99)]
    {
        assert_eq!(found, Some(percentile(&sizes, p)), "p{p}: the embedded store is exact");
        within_one_percent(theirs, found, &format!("p{p} of OpenSearch"));
    }

    // visit times
    for zone in ["UTC", "America/New_York"] {
        let request = VisitTimesRequest { query: query(Filters::default()), time_zone: zone.into() };
        let (a, b) = (os.visit_times(&request).await.unwrap(), em.visit_times(&request).await.unwrap());
        assert_eq!(b, a, "visit times in {zone}");
    }

    // geo: the same countries and cities; centroids within 1e-4 (OpenSearch quantises geo points)
    let request = GeoRequest { query: query(Filters::default()), city_limit: 15 };
    let (a, b) = (os.geo(&request).await.unwrap(), em.geo(&request).await.unwrap());
    assert_eq!(b.countries, a.countries, "geo countries");
    assert!(b.countries.len() > 20);
    assert_eq!(b.cities.len(), a.cities.len());
    for (x, y) in b.cities.iter().zip(&a.cities) {
        assert_eq!((&x.name, &x.country_iso_code, x.count), (&y.name, &y.country_iso_code, y.count), "geo city");
        for (u, v) in [(x.lat, y.lat), (x.lon, y.lon)] {
            assert!((u.unwrap() - v.unwrap()).abs() < 1e-4, "{x:?} vs {y:?}");
        }
    }

    // filters
    let ip = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    let cases: Vec<(&str, Filters)> = vec![
        (
            "status codes",
            Filters { status: vec![StatusFilter::Code(404), StatusFilter::Code(304)], ..Default::default() },
        ),
        ("status class", Filters { status: vec![StatusFilter::Class(4)], ..Default::default() }),
        (
            "code or class",
            Filters { status: vec![StatusFilter::Code(206), StatusFilter::Class(3)], ..Default::default() },
        ),
        ("method", Filters { method: vec!["HEAD".into(), "POST".into()], ..Default::default() }),
        ("path", Filters { path: vec!["/favicon.ico".into(), "/robots.txt".into()], ..Default::default() }),
        ("path prefix", Filters { path_prefix: Some("/presentations/".into()), ..Default::default() }),
        ("country", Filters { country: vec!["FR".into(), "US".into()], ..Default::default() }),
        ("city", Filters { city: vec!["Ephrata".into()], ..Default::default() }),
        ("browser", Filters { browser: vec!["Firefox".into(), "Chrome".into()], ..Default::default() }),
        ("os", Filters { os: vec!["Mac OS X".into()], ..Default::default() }),
        ("device", Filters { device: vec!["Spider".into()], ..Default::default() }),
        (
            "referrer host",
            Filters { referrer_host: vec!["www.google.com".into(), "semicomplete.com".into()], ..Default::default() },
        ),
        ("bot", Filters { bot: Some(true), ..Default::default() }),
        ("not bot", Filters { bot: Some(false), ..Default::default() }),
        ("client cidr", Filters { client_ip: vec![ip("66.249.0.0/16"), ip("83.149.9.216/32")], ..Default::default() }),
        ("free text", Filters { q: Some("kibana".into()), ..Default::default() }),
        ("free text, two words", Filters { q: Some("Logstash monitorama".into()), ..Default::default() }),
        ("free text, versions", Filters { q: Some("Firefox/27.0 x86_64".into()), ..Default::default() }),
        ("free text, host", Filters { q: Some("www.google.com bot.html".into()), ..Default::default() }),
        ("free text, syntax is text", Filters { q: Some("googlebot OR *:* AND -x".into()), ..Default::default() }),
        (
            "combined",
            Filters {
                status: vec![StatusFilter::Class(2)],
                method: vec!["GET".into()],
                path_prefix: Some("/blog/".into()),
                bot: Some(false),
                country: vec!["US".into()],
                ..Default::default()
            },
        ),
    ];
    for (name, mut filters) in cases {
        filters.normalise();
        let request = TopRequest { query: query(filters), dimension: Dimension::Path, limit: 5 };
        let (a, b) = (os.top(&request).await.unwrap(), em.top(&request).await.unwrap());
        assert_eq!(b, a, "filter: {name}");
        assert!(b.total > 0 || name.contains("syntax"), "filter {name} matches nothing; pick another value");
    }
    let from = Utc.with_ymd_and_hms(2015, 5, 18, 12, 0, 0).unwrap();
    let inside =
        Query { range: TimeRange { from, to: from + chrono::Duration::minutes(30) }, filters: Filters::default() };
    let request = TopRequest { query: inside, dimension: Dimension::ClientIp, limit: 10 };
    assert_eq!(em.top(&request).await.unwrap(), os.top(&request).await.unwrap(), "a time range inside a day");

    // search: every document once, the same ids in the same order, in both orders
    for order in [Order::Desc, Order::Asc] {
        let (a, b) = (all_ids(os, order, 1000).await, all_ids(em, order, 1000).await);
        assert_eq!(b.len(), docs.len());
        assert!(b == a, "{order:?}: the embedded store pages differently");
    }
    let by_id: HashMap<&str, &LogDocument> = docs.iter().map(|d| (d.id.as_str(), &d.doc)).collect();
    let page = em
        .search(&SearchRequest { query: query(Filters::default()), order: Order::Desc, size: 50, cursor: None })
        .await
        .unwrap();
    for item in &page.items {
        assert_eq!(by_id[item.id.as_str()], &item.doc, "documents come back as indexed");
    }
    let filtered = Filters { status: vec![StatusFilter::Class(4)], ..Filters::default() };
    let (a, b) = (ids_with(os, filtered.clone(), Order::Asc, 7).await, ids_with(em, filtered, Order::Asc, 7).await);
    assert!(!b.is_empty() && a == b, "filtered pages of 7");
    let bad = em
        .search(&SearchRequest {
            query: query(Filters::default()),
            order: Order::Desc,
            size: 10,
            cursor: Some("not-a-cursor".into()),
        })
        .await;
    assert!(matches!(bad, Err(StoreError::BadRequest(_))));
}

async fn all_ids(store: &dyn LogStore, order: Order, size: u32) -> Vec<String> {
    ids_with(store, Filters::default(), order, size).await
}

async fn ids_with(store: &dyn LogStore, filters: Filters, order: Order, size: u32) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.search(&SearchRequest { query: query(filters.clone()), order, size, cursor }).await.unwrap();
        ids.extend(page.items.iter().map(|i| i.id.clone()));
        match page.next_cursor {
            Some(next) => {
                assert_eq!(page.items.len(), size as usize, "only the last page is short");
                cursor = Some(next);
            }
            None => break,
        }
    }
    ids
}
