//! The embedded store on small hand-made documents: every answer checked against numbers worked out
//! by hand.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::*;
use crate::document::{Device, Geo, GeoPoint, LogDocument, Os, UserAgent};
use crate::query::model::*;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

struct D {
    id: &'static str,
    ts: &'static str,
    status: Option<u16>,
    path: &'static str,
    ip: &'static str,
    browser: Option<&'static str>,
    country: Option<&'static str>,
    city: Option<&'static str>,
    bytes: Option<u64>,
    bot: Option<bool>,
    visitor: &'static str,
    agent: &'static str,
}

const BASE: D = D {
    id: "",
    ts: "2015-05-18T10:00:00Z",
    status: Some(200),
    path: "/",
    ip: "10.0.0.1",
    browser: Some("Chrome"),
    country: None,
    city: None,
    bytes: Some(100),
    bot: Some(false),
    visitor: "v1",
    agent: "Mozilla/5.0 Chrome/32.0",
};

fn doc(d: &D) -> IndexDoc {
    let mut doc = LogDocument { timestamp: t(d.ts), ..LogDocument::default() };
    doc.event.original = format!("line {}", d.id);
    doc.source.ip = Some(d.ip.parse().unwrap());
    doc.http.request.method = Some("GET".into());
    doc.http.response.status_code = d.status;
    doc.http.response.body.bytes = d.bytes;
    doc.url.path = Some(d.path.into());
    doc.url.original = Some(format!("{}?x=1", d.path));
    doc.user_agent = Some(UserAgent {
        original: Some(d.agent.into()),
        name: d.browser.map(Arc::from),
        os: Some(Arc::new(Os { name: Some("Linux".into()), ..Os::default() })),
        device: Some(Arc::new(Device { name: Some("Other".into()) })),
        ..UserAgent::default()
    });
    if d.country.is_some() || d.city.is_some() {
        doc.source.geo = Some(Arc::new(Geo {
            country_iso_code: d.country.map(str::to_owned),
            country_name: d.country.map(|c| format!("Land {c}")),
            city_name: d.city.map(str::to_owned),
            location: d.city.map(|c| GeoPoint { lat: c.len() as f64, lon: -(d.ip.len() as f64) }),
            ..Geo::default()
        }));
    }
    doc.firesight.bot = d.bot;
    doc.firesight.visitor = Some(d.visitor.into());
    doc.firesight.status_class = d.status.and_then(LogDocument::status_class);
    IndexDoc { id: d.id.into(), doc }
}

/// Eight requests over two days (2015-05-18 and 2015-05-19).
fn fixture() -> Vec<IndexDoc> {
    [
        D { id: "a", ts: "2015-05-18T10:00:00Z", ..BASE },
        D { id: "b", ts: "2015-05-18T10:30:00.250Z", status: Some(404), path: "/missing", bytes: Some(0), ..BASE },
        D {
            id: "c",
            ts: "2015-05-18T10:30:00.250Z",
            path: "/blog/a",
            ip: "10.0.0.2",
            visitor: "v2",
            country: Some("FR"),
            city: Some("Paris"),
            ..BASE
        },
        D {
            id: "d",
            ts: "2015-05-18T12:15:00Z",
            path: "/blog/b",
            ip: "9.1.1.1",
            browser: Some("Firefox"),
            country: Some("FR"),
            city: Some("Lyon"),
            bytes: Some(300),
            ..BASE
        },
        D {
            id: "e",
            ts: "2015-05-18T23:59:59.999Z",
            status: Some(500),
            ip: "2001:db8::1",
            browser: None,
            bot: None,
            agent: "curl/7.0",
            visitor: "v3",
            bytes: None,
            ..BASE
        },
        D {
            id: "f",
            ts: "2015-05-19T00:00:00Z",
            status: Some(301),
            path: "/blog/a",
            bot: Some(true),
            browser: Some("Googlebot"),
            agent: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            country: Some("US"),
            city: Some("Paris"),
            bytes: Some(50),
            visitor: "v4",
            ..BASE
        },
        D {
            id: "g",
            ts: "2015-05-19T00:00:00Z",
            status: Some(200),
            country: Some("US"),
            city: Some("Ephrata"),
            ip: "10.0.0.2",
            ..BASE
        },
        D {
            id: "h",
            ts: "2015-05-19T05:00:00Z",
            status: None,
            path: "/x",
            browser: Some("Firefox"),
            bytes: Some(1000),
            ..BASE
        },
    ]
    .iter()
    .map(doc)
    .collect()
}

fn all_time() -> TimeRange {
    TimeRange { from: t("2015-05-17T00:00:00Z"), to: t("2015-05-21T00:00:00Z") }
}

fn q(filters: Filters) -> Query {
    Query { range: all_time(), filters }
}

async fn store_with_fixture() -> (tempfile::TempDir, EmbeddedStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let outcomes = store.index(&fixture()).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == ItemOutcome::Created), "{outcomes:?}");
    (dir, store)
}

async fn count(store: &EmbeddedStore, query: Query) -> u64 {
    store.top(&TopRequest { query, dimension: Dimension::Status, limit: 1 }).await.unwrap().total
}

async fn ids(store: &EmbeddedStore, filters: Filters) -> Vec<String> {
    let page =
        store.search(&SearchRequest { query: q(filters), order: Order::Asc, size: 100, cursor: None }).await.unwrap();
    page.items.into_iter().map(|i| i.id).collect()
}

#[tokio::test]
async fn writes_are_durable_deduplicated_and_partitioned_by_day() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Created; 8]);
    assert_eq!(
        store.days(),
        [NaiveDate::from_ymd_opt(2015, 5, 18).unwrap(), NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()]
    );
    // A replay, and an id twice in one batch.
    let mut replay = docs.clone();
    replay.push(docs[0].clone());
    let outcomes = store.index(&replay).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Duplicate; 9]);
    let mut fresh = doc(&D { id: "z", ..BASE });
    let twice = vec![fresh.clone(), fresh.clone()];
    assert_eq!(store.index(&twice).await.unwrap(), [ItemOutcome::Created, ItemOutcome::Duplicate]);
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    // A timestamp no directory can name.
    fresh.id = "far".into();
    fresh.doc.timestamp = DateTime::from_timestamp(300_000_000_000, 0).unwrap();
    assert!(matches!(&store.index(&[fresh]).await.unwrap()[0], ItemOutcome::Rejected { status: 400, .. }));
    store.close().unwrap();

    // Reopened: the data and the dedup survive.
    let store =
        EmbeddedStore::open(dir.path(), EmbeddedOptions { max_open_writers: 1, ..EmbeddedOptions::default() }).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    let outcomes = store.index(&docs).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Duplicate; 8], "with one writer open, the days take turns");
    let late = doc(&D { id: "late", ts: "2015-05-17T08:00:00Z", ..BASE });
    assert_eq!(store.index(&[late]).await.unwrap(), [ItemOutcome::Created]);
    assert_eq!(count(&store, q(Filters::default())).await, 10);

    // Retention: whole days go.
    let dropped = store.drop_days(NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()).unwrap();
    assert_eq!(dropped.len(), 2);
    assert_eq!(store.days(), [NaiveDate::from_ymd_opt(2015, 5, 19).unwrap()]);
    assert_eq!(count(&store, q(Filters::default())).await, 3);
    assert!(!dir.path().join("logs/2015-05-18").exists());
    // A dropped day can be written again (its ids are forgotten with it).
    assert_eq!(store.index(&docs[..1]).await.unwrap(), [ItemOutcome::Created]);
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_documents_not_yet_committed_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs[..5]).await.unwrap(), vec![ItemOutcome::Created; 5]);
    assert_eq!(store.index(&docs[3..]).await.unwrap()[..2], vec![ItemOutcome::Duplicate; 2], "uncommitted ids count");
    let wal = dir.path().join(WAL_FILE);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0, "acknowledged, logged, not committed yet");
    let on_disk = |store: &EmbeddedStore| -> u64 {
        store.days.read().unwrap().values().map(|d| d.index.reader().unwrap().searcher().num_docs()).sum()
    };
    assert_eq!(on_disk(&store), 0, "nothing committed before a read asks");
    // A crash: the writers go without committing.
    drop(store);

    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    assert_eq!(on_disk(&store), 8, "the log was committed at open");
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "and emptied");
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Duplicate; 8]);
    assert_eq!(ids(&store, Filters::default()).await, ["a", "b", "c", "d", "e", "f", "g", "h"]);

    // A read commits what waits in the log, so it sees every acknowledged document.
    let late = doc(&D { id: "late", ts: "2015-05-17T08:00:00Z", ..BASE });
    assert_eq!(store.index(&[late]).await.unwrap(), [ItemOutcome::Created]);
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    assert_eq!(count(&store, q(Filters::default())).await, 9);
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
    assert_eq!(on_disk(&store), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_deliveries_count_toward_the_log_bound() {
    // A replay adds nothing to the index but its documents are in the log all the same: they must
    // bring the commit (which empties the log) as new ones do, or replays alone would grow the log.
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { commit_docs: 8, ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(dir.path(), options).unwrap();
    let docs = fixture();
    let wal = dir.path().join(WAL_FILE);
    assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Created; 8]);
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "eight documents: committed");
    for _ in 0..3 {
        assert_eq!(store.index(&docs).await.unwrap(), vec![ItemOutcome::Duplicate; 8]);
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "eight replayed documents: emptied too");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_loads_skip_the_log_and_commit_every_so_many_documents() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { write_ahead_log: false, commit_docs: 5, ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(dir.path(), options.clone()).unwrap();
    let docs = fixture();
    assert_eq!(store.index(&docs[..3]).await.unwrap(), vec![ItemOutcome::Created; 3]);
    assert_eq!(store.index(&docs[3..6]).await.unwrap(), vec![ItemOutcome::Created; 3]);
    assert_eq!(store.index(&docs[6..]).await.unwrap(), vec![ItemOutcome::Created; 2]);
    assert_eq!(std::fs::metadata(dir.path().join(WAL_FILE)).unwrap().len(), 0);
    // The first six were committed when the count reached five; a crash loses the last two (the load
    // runs again), and the ids keep the rerun from writing anything twice.
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions { commit_docs: 100_000, ..options }).unwrap();
    assert_eq!(count(&store, q(Filters::default())).await, 6);
    let outcomes = store.index(&docs).await.unwrap();
    assert_eq!(outcomes.iter().filter(|o| **o == ItemOutcome::Created).count(), 2);
    assert_eq!(count(&store, q(Filters::default())).await, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_survive_restart_and_are_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let letter = |id: &str| DeadLetter {
        id: id.into(),
        timestamp: t("2015-05-18T10:00:00Z"),
        reason: "unparseable".into(),
        stage: "parse",
        raw: "???".into(),
        raw_base64: "Pz8/".into(),
        firehose: None,
        source: "firehose".into(),
    };
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    store.dead_letter(&[letter("x"), letter("y")]).await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    store.dead_letter(&[letter("y"), letter("z")]).await.unwrap();
    let ids: Vec<String> =
        store.dead_letters().unwrap().iter().map(|v| v["_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids, ["x", "y", "z"]);
    assert_eq!(store.status().await.unwrap().kind, "embedded");
}

#[tokio::test]
async fn filters_match_like_opensearch() {
    let (_dir, store) = store_with_fixture().await;
    let net = |s: &str| s.parse::<ipnet::IpNet>().unwrap();
    let cases: Vec<(Filters, &[&str])> = vec![
        (Filters::default(), &["a", "b", "c", "d", "e", "f", "g", "h"]),
        (Filters { status: vec![StatusFilter::Code(404), StatusFilter::Code(301)], ..Default::default() }, &["b", "f"]),
        (Filters { status: vec![StatusFilter::Class(2)], ..Default::default() }, &["a", "c", "d", "g"]),
        (Filters { status: vec![StatusFilter::Class(5), StatusFilter::Code(404)], ..Default::default() }, &["b", "e"]),
        (Filters { path: vec!["/blog/a".into(), "/x".into()], ..Default::default() }, &["c", "f", "h"]),
        (Filters { path_prefix: Some("/blog/".into()), ..Default::default() }, &["c", "d", "f"]),
        (Filters { path_prefix: Some("/blog/a".into()), ..Default::default() }, &["c", "f"]),
        (Filters { country: vec!["FR".into()], ..Default::default() }, &["c", "d"]),
        (Filters { city: vec!["Paris".into()], ..Default::default() }, &["c", "f"]),
        (Filters { browser: vec!["Firefox".into(), "Googlebot".into()], ..Default::default() }, &["d", "f", "h"]),
        (Filters { os: vec!["Linux".into()], ..Default::default() }, &["a", "b", "c", "d", "e", "f", "g", "h"]),
        (Filters { device: vec!["Spider".into()], ..Default::default() }, &[]),
        (Filters { method: vec!["POST".into()], ..Default::default() }, &[]),
        (Filters { bot: Some(true), ..Default::default() }, &["f"]),
        (Filters { bot: Some(false), ..Default::default() }, &["a", "b", "c", "d", "e", "g", "h"]),
        (Filters { client_ip: vec![net("10.0.0.2/32")], ..Default::default() }, &["c", "g"]),
        (
            Filters { client_ip: vec![net("10.0.0.0/8"), net("2001:db8::/32")], ..Default::default() },
            &["a", "b", "c", "e", "f", "g", "h"],
        ),
        (Filters { client_ip: vec![net("::/0")], ..Default::default() }, &["a", "b", "c", "d", "e", "f", "g", "h"]),
        (Filters { q: Some("googlebot".into()), ..Default::default() }, &["f"]),
        (Filters { q: Some("BLOG chrome".into()), ..Default::default() }, &["c", "d"]),
        (Filters { q: Some("www.google.com".into()), ..Default::default() }, &["f"]),
        (Filters { q: Some("x".into()), ..Default::default() }, &["a", "b", "c", "d", "e", "f", "g", "h"]),
        (Filters { q: Some("*:*".into()), ..Default::default() }, &[]),
        (Filters { q: Some("  ".into()), ..Default::default() }, &["a", "b", "c", "d", "e", "f", "g", "h"]),
        (
            Filters {
                status: vec![StatusFilter::Class(2), StatusFilter::Class(3)],
                path_prefix: Some("/blog/".into()),
                bot: Some(false),
                ..Default::default()
            },
            &["c", "d"],
        ),
        (Filters { referrer_host: vec!["example.com".into()], ..Default::default() }, &[]),
    ];
    for (mut filters, expected) in cases {
        filters.normalise();
        let found = ids(&store, filters.clone()).await;
        assert_eq!(found, expected, "{filters:?}");
        assert_eq!(count(&store, q(filters.clone())).await, expected.len() as u64, "{filters:?}");
    }
    // [from, to) exactly, at millisecond precision, across the day boundary.
    let range = TimeRange { from: t("2015-05-18T10:30:00.250Z"), to: t("2015-05-19T00:00:00Z") };
    assert_eq!(count(&store, Query { range, filters: Filters::default() }).await, 4, "b c d e");
    let range = TimeRange { from: t("2015-05-18T10:30:00.2501Z"), to: t("2015-05-19T00:00:00.0001Z") };
    assert_eq!(count(&store, Query { range, filters: Filters::default() }).await, 4, "d e f g: bounds round up");
    let range = TimeRange { from: t("2015-05-20T00:00:00Z"), to: t("2015-05-19T00:00:00Z") };
    assert_eq!(count(&store, Query { range, filters: Filters::default() }).await, 0);
}

#[tokio::test]
async fn top_ranks_by_count_then_key() {
    let (_dir, store) = store_with_fixture().await;
    let top = |dimension, limit| {
        let store = &store;
        async move { store.top(&TopRequest { query: q(Filters::default()), dimension, limit }).await.unwrap() }
    };
    let kc =
        |pairs: &[(&str, u64)]| pairs.iter().map(|(k, n)| KeyCount { key: (*k).into(), count: *n }).collect::<Vec<_>>();

    let found = top(Dimension::Browser, 2).await;
    assert_eq!(found.buckets, kc(&[("Chrome", 4), ("Firefox", 2)]));
    assert_eq!(
        (found.total, found.other, found.missing, found.distinct, found.count_error_bound),
        (8, 1, 1, Some(3), 0)
    );

    // Status codes in numeric order on ties (a doc without a status is missing).
    let found = top(Dimension::Status, 10).await;
    assert_eq!(found.buckets, kc(&[("200", 4), ("301", 1), ("404", 1), ("500", 1)]));
    assert_eq!((found.missing, found.other, found.distinct), (1, 0, Some(4)));

    // Client IPs in address order on ties: 9.1.1.1 < 10.0.0.2 (not as text), IPv6 after IPv4.
    let found = top(Dimension::ClientIp, 10).await;
    assert_eq!(found.buckets, kc(&[("10.0.0.1", 4), ("10.0.0.2", 2), ("9.1.1.1", 1), ("2001:db8::1", 1)]));
    let found = top(Dimension::ClientIp, 3).await;
    assert_eq!(found.buckets[2].key, "9.1.1.1");

    let found = top(Dimension::City, 10).await;
    assert_eq!(found.buckets, kc(&[("Paris", 2), ("Ephrata", 1), ("Lyon", 1)]));
    assert_eq!(found.missing, 4);

    let found = store
        .top(&TopRequest {
            query: q(Filters { status: vec![StatusFilter::Class(2)], ..Default::default() }),
            dimension: Dimension::Path,
            limit: 1,
        })
        .await
        .unwrap();
    assert_eq!((found.buckets, found.total, found.other), (kc(&[("/", 2)]), 4, 2));

    for limit in [0, MAX_TOP_LIMIT + 1] {
        let r = store.top(&TopRequest { query: q(Filters::default()), dimension: Dimension::Os, limit }).await;
        assert!(matches!(r, Err(StoreError::BadRequest(_))));
    }
    // Nothing in range: zeros.
    let empty = Query {
        range: TimeRange { from: t("2020-01-01T00:00:00Z"), to: t("2020-01-02T00:00:00Z") },
        filters: Filters::default(),
    };
    let found = store.top(&TopRequest { query: empty, dimension: Dimension::Path, limit: 5 }).await.unwrap();
    assert_eq!((found.total, found.buckets.len(), found.other, found.missing, found.distinct), (0, 0, 0, 0, Some(0)));
}

#[tokio::test]
async fn timelines_fill_every_interval_and_split() {
    let (_dir, store) = store_with_fixture().await;
    let range = TimeRange { from: t("2015-05-18T09:30:00Z"), to: t("2015-05-19T01:00:00Z") };
    let request =
        |split| TimelineRequest { query: Query { range, filters: Filters::default() }, interval_secs: 6 * 3600, split };
    let found = store.timeline(&request(Split::StatusClass)).await.unwrap();
    let starts: Vec<String> = found.buckets.iter().map(|b| b.start.to_rfc3339()).collect();
    assert_eq!(
        starts,
        [
            "2015-05-18T06:00:00+00:00",
            "2015-05-18T12:00:00+00:00",
            "2015-05-18T18:00:00+00:00",
            "2015-05-19T00:00:00+00:00"
        ]
    );
    let counts: Vec<(u64, u64)> = found.buckets.iter().map(|b| (b.count, b.bytes)).collect();
    assert_eq!(counts, [(3, 200), (1, 300), (1, 0), (2, 150)]);
    let classes = |b: &TimelineBucket| (1..=5).map(|c| b.split[&format!("{c}xx")]).collect::<Vec<_>>();
    assert_eq!(classes(&found.buckets[0]), [0, 2, 0, 1, 0]);
    assert_eq!(classes(&found.buckets[2]), [0, 0, 0, 0, 1]);
    assert_eq!(classes(&found.buckets[3]), [0, 1, 1, 0, 0]);

    let found = store.timeline(&request(Split::Dimension(Dimension::Browser, 1))).await.unwrap();
    let split: Vec<BTreeMap<String, u64>> = found.buckets.iter().map(|b| b.split.clone()).collect();
    let m = |chrome: u64, other: u64| BTreeMap::from([("Chrome".to_owned(), chrome), ("other".to_owned(), other)]);
    assert_eq!(split, [m(3, 0), m(0, 1), m(0, 1), m(1, 1)]);

    let found = store.timeline(&request(Split::Dimension(Dimension::Status, 2))).await.unwrap();
    assert_eq!(found.buckets[3].split, BTreeMap::from([("200".into(), 1), ("301".into(), 1), ("other".into(), 0)]));
    let found = store.timeline(&request(Split::Dimension(Dimension::ClientIp, 1))).await.unwrap();
    assert_eq!(found.buckets[0].split, BTreeMap::from([("10.0.0.1".into(), 2), ("other".into(), 1)]));
    let found = store.timeline(&request(Split::Dimension(Dimension::Path, 0))).await.unwrap();
    assert_eq!(found.buckets[1].split, BTreeMap::from([("other".into(), 1)]));
    let found = store.timeline(&request(Split::None)).await.unwrap();
    assert!(found.buckets.iter().all(|b| b.split.is_empty()));
    assert_eq!(found.buckets.iter().map(|b| b.count).sum::<u64>(), 7);

    let mut bad = request(Split::None);
    bad.interval_secs = 0;
    assert!(matches!(store.timeline(&bad).await, Err(StoreError::BadRequest(_))));
}

#[tokio::test]
async fn summary_counts_exactly() {
    let (_dir, store) = store_with_fixture().await;
    let found = store.summary(&q(Filters::default())).await.unwrap();
    assert_eq!(found.requests, 8);
    // Visitors per day: {v1, v2, v3} on the 18th, {v1, v4} on the 19th.
    assert_eq!(found.unique_visitors, 5);
    assert_eq!(found.unique_client_ips, 4);
    assert_eq!(found.bytes, 1650, "100 0 100 300 - 50 100 1000");
    assert_eq!((found.status_2xx, found.status_3xx, found.status_4xx, found.status_5xx), (4, 1, 1, 1));
    assert_eq!(found.bot_requests, 1);
    // Sizes 0 50 100 100 100 300 1000.
    assert_eq!((found.bytes_p50, found.bytes_p95, found.bytes_p99), (Some(100.0), Some(1000.0), Some(1000.0)));
    // 10:00 on the 18th (a, b, c) beats 00:00 on the 19th (f, g).
    assert_eq!(found.busiest_hour, Some(HourCount { start: t("2015-05-18T10:00:00Z"), count: 3 }));

    let ties = Query {
        range: TimeRange { from: t("2015-05-18T12:00:00Z"), to: t("2015-05-19T06:00:00Z") },
        filters: Filters::default(),
    };
    let found = store.summary(&ties).await.unwrap();
    assert_eq!(found.busiest_hour, Some(HourCount { start: t("2015-05-19T00:00:00Z"), count: 2 }));
    assert_eq!(found.unique_visitors, 2 + 2, "v1 and v3 on the 18th; v4 and v1 on the 19th");

    let none = Query {
        range: TimeRange { from: t("2016-01-01T00:00:00Z"), to: t("2016-01-02T00:00:00Z") },
        filters: Filters::default(),
    };
    let found = store.summary(&none).await.unwrap();
    assert_eq!((found.requests, found.bytes, found.busiest_hour, found.bytes_p50), (0, 0, None, None));
}

#[tokio::test]
async fn visit_times_fold_into_local_weekdays_and_hours() {
    let (_dir, store) = store_with_fixture().await;
    let visits = |zone: &str| {
        let store = &store;
        let zone = zone.to_owned();
        async move {
            store
                .visit_times(&VisitTimesRequest { query: q(Filters::default()), time_zone: zone })
                .await
                .unwrap()
                .counts
        }
    };
    let utc = visits("UTC").await;
    // Monday 2015-05-18: 10h ×3, 12h, 23h; Tuesday: 00h ×2, 05h.
    let mut expected = vec![vec![0u64; 24]; 7];
    expected[0][10] = 3;
    expected[0][12] = 1;
    expected[0][23] = 1;
    expected[1][0] = 2;
    expected[1][5] = 1;
    assert_eq!(utc, expected);
    // Kolkata is UTC+5:30: 23:59:59.999 Monday is 05:29 Tuesday; 10:30 is 16:00.
    let kolkata = visits("Asia/Kolkata").await;
    assert_eq!(kolkata[0][15], 1);
    assert_eq!(kolkata[0][16], 2);
    assert_eq!(kolkata[1][5], 3);
    assert_eq!(kolkata[1][10], 1);
    assert_eq!(kolkata.iter().flatten().sum::<u64>(), 8);
    let bad =
        store.visit_times(&VisitTimesRequest { query: q(Filters::default()), time_zone: "Mars/Olympus".into() }).await;
    assert!(matches!(bad, Err(StoreError::BadRequest(_))));
}

#[tokio::test]
async fn geo_lists_countries_and_city_centroids() {
    let (_dir, store) = store_with_fixture().await;
    let found = store.geo(&GeoRequest { query: q(Filters::default()), city_limit: 2 }).await.unwrap();
    let countries: Vec<(&str, Option<&str>, u64)> =
        found.countries.iter().map(|c| (c.iso_code.as_str(), c.name.as_deref(), c.count)).collect();
    assert_eq!(countries, [("FR", Some("Land FR"), 2), ("US", Some("Land US"), 2)]);
    assert_eq!(found.cities.len(), 2);
    let paris = &found.cities[0];
    assert_eq!((paris.name.as_str(), paris.count), ("Paris", 2));
    // One Paris request from FR, one from US: the tie goes to the key first in order.
    assert_eq!(paris.country_iso_code.as_deref(), Some("FR"));
    assert_eq!((paris.lat, paris.lon), (Some(5.0), Some(-8.0)));
    assert_eq!(found.cities[1].name, "Ephrata");
    let found = store.geo(&GeoRequest { query: q(Filters::default()), city_limit: 0 }).await.unwrap();
    assert!(found.cities.is_empty() && found.countries.len() == 2);
}

#[tokio::test]
async fn search_pages_through_everything_in_both_orders() {
    let (_dir, store) = store_with_fixture().await;
    let docs = fixture();
    for (order, expected) in [
        (Order::Asc, ["a", "b", "c", "d", "e", "f", "g", "h"]),
        (Order::Desc, ["h", "g", "f", "e", "d", "c", "b", "a"]),
    ] {
        for size in [1, 2, 3, 7, 8, 9] {
            let mut seen = Vec::new();
            let mut cursor = None;
            let mut pages = 0;
            loop {
                let page =
                    store.search(&SearchRequest { query: q(Filters::default()), order, size, cursor }).await.unwrap();
                pages += 1;
                for item in &page.items {
                    let original = docs.iter().find(|d| d.id == item.id).unwrap();
                    assert_eq!(item.doc, original.doc);
                    seen.push(item.id.clone());
                }
                match page.next_cursor {
                    Some(next) => {
                        assert_eq!(page.items.len(), size as usize);
                        cursor = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(seen, expected, "{order:?} by {size}");
            assert_eq!(pages, 8usize.div_ceil(size as usize), "{order:?} by {size}: no cursor on the last page");
        }
    }
    // The cursor's order wins; a garbage cursor is a bad request.
    let first = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Desc, size: 3, cursor: None })
        .await
        .unwrap();
    let next = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Asc, size: 3, cursor: first.next_cursor })
        .await
        .unwrap();
    assert_eq!(next.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["e", "d", "c"]);
    let bad = store
        .search(&SearchRequest {
            query: q(Filters::default()),
            order: Order::Asc,
            size: 3,
            cursor: Some("nope".into()),
        })
        .await;
    assert!(matches!(bad, Err(StoreError::BadRequest(_))));
    let bad =
        store.search(&SearchRequest { query: q(Filters::default()), order: Order::Asc, size: 0, cursor: None }).await;
    assert!(matches!(bad, Err(StoreError::BadRequest(_))));
}

#[tokio::test]
async fn many_segments_merge_into_one_answer() {
    // One document per batch: one segment per commit, so answers merge terms across segments; read on
    // three threads (each segment on one of them), the answers are those of one.
    let dir = tempfile::tempdir().unwrap();
    let options =
        EmbeddedOptions { query_threads: 3, parallel_min_docs: 0, commit_docs: 1, ..EmbeddedOptions::default() };
    let store = EmbeddedStore::open(dir.path(), options).unwrap();
    for d in fixture() {
        assert_eq!(store.index(&[d]).await.unwrap(), [ItemOutcome::Created]);
    }
    let (_one_dir, one) = store_with_fixture().await;
    let range = TimeRange { from: t("2015-05-18T09:30:00Z"), to: t("2015-05-19T01:00:00Z") };
    for split in [Split::StatusClass, Split::Dimension(Dimension::Browser, 2), Split::Dimension(Dimension::Status, 2)] {
        let request =
            TimelineRequest { query: Query { range, filters: Filters::default() }, interval_secs: 3600, split };
        assert_eq!(store.timeline(&request).await.unwrap(), one.timeline(&request).await.unwrap(), "{split:?}");
    }
    for zone in ["UTC", "Asia/Kolkata"] {
        let request = VisitTimesRequest { query: q(Filters::default()), time_zone: zone.into() };
        assert_eq!(store.visit_times(&request).await.unwrap(), one.visit_times(&request).await.unwrap());
    }
    let request = GeoRequest { query: q(Filters::default()), city_limit: 5 };
    assert_eq!(store.geo(&request).await.unwrap(), one.geo(&request).await.unwrap());
    for dimension in Dimension::ALL {
        let request = TopRequest { query: q(Filters::default()), dimension, limit: 3 };
        assert_eq!(store.top(&request).await.unwrap(), one.top(&request).await.unwrap(), "{dimension:?}");
    }
    assert_eq!(
        store.summary(&q(Filters::default())).await.unwrap(),
        one.summary(&q(Filters::default())).await.unwrap()
    );
    let found = store.summary(&q(Filters::default())).await.unwrap();
    assert_eq!((found.unique_visitors, found.unique_client_ips, found.requests), (5, 4, 8));
    let top =
        store.top(&TopRequest { query: q(Filters::default()), dimension: Dimension::Path, limit: 2 }).await.unwrap();
    assert_eq!(top.buckets.iter().map(|k| (k.key.as_str(), k.count)).collect::<Vec<_>>(), [("/", 3), ("/blog/a", 2)]);
    assert_eq!(top.distinct, Some(5));
    let page = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Desc, size: 3, cursor: None })
        .await
        .unwrap();
    assert_eq!(page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["h", "g", "f"]);
}

#[test]
fn one_process_at_a_time_per_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let Err(second) = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()) else {
        panic!("a second open of the same directory must be refused");
    };
    assert!(second.to_string().contains("unreachable") || format!("{second:?}").contains("in use"), "{second:?}");
    drop(store);
    EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).expect("free again once the first is closed");
}

#[tokio::test]
async fn partitions_storing_documents_as_bytes_stay_readable_and_writable() {
    let dir = tempfile::tempdir().unwrap();
    let day = dir.path().join(LOGS_DIR).join("2015-05-18");
    std::fs::create_dir_all(&day).unwrap();
    tantivy::Index::builder().schema(schema::bytes_layout(&schema::schema().0)).create_in_dir(&day).unwrap();
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let outcomes = store.index(&fixture()).await.unwrap();
    assert_eq!(outcomes, vec![ItemOutcome::Created; 8]);
    let stored = |date: &str| {
        let days = store.days.read().unwrap();
        days[&date.parse::<NaiveDate>().unwrap()].stored
    };
    assert_eq!(stored("2015-05-18"), schema::Stored::Bytes);
    assert_eq!(stored("2015-05-19"), schema::Stored::Text);
    let page = store
        .search(&SearchRequest { query: q(Filters::default()), order: Order::Asc, size: 100, cursor: None })
        .await
        .unwrap();
    let lines: Vec<&str> = page.items.iter().map(|i| i.doc.event.original.as_str()).collect();
    assert_eq!(lines, ["line a", "line b", "line c", "line d", "line e", "line f", "line g", "line h"]);
}
