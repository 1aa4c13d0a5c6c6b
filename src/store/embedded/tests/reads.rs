//! The read side on the fixture: filters match as OpenSearch's do, and every aggregation and search
//! page gives the numbers worked out by hand, the same whether the documents sit in one segment or in
//! many read on several threads.

use std::collections::BTreeMap;

use super::*;

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
