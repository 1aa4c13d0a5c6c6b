//! Paging on OpenSearch holds nothing on the cluster between pages. Searches over a month of daily
//! indices, each leaving a cursor, must not use up the node's point-in-time contexts
//! (`search.max_open_pit_context`, 300 a node, one for each shard a point in time spans): with a point
//! in time per cursor, ten of them over 31 indices would refuse every later search for five minutes.

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};
use firesight::document::LogDocument;
use firesight::query::model::*;
use firesight::store::opensearch::OpenSearchStore;
use firesight::store::{IndexDoc, ItemOutcome, LogStore};

use crate::harness;
use crate::store_queries::{Cleanup, config};

const DAYS: i64 = 31;
const PER_DAY: i64 = 3;
/// First pages opened and left unread; at 31 shards each, ten times the node's limit.
const ABANDONED: usize = 100;

fn month_of_docs() -> Vec<(String, LogDocument)> {
    let start = Utc.with_ymd_and_hms(2015, 5, 1, 0, 0, 0).unwrap();
    let mut docs = Vec::new();
    for day in 0..DAYS {
        for n in 0..PER_DAY {
            let t = start + Duration::days(day) + Duration::hours(n * 7);
            let line = format!(
                "10.0.{day}.{n} - - [{}] \"GET /d{day}/{n} HTTP/1.1\" 200 {} \"-\" \"curl/8.5.0\"",
                t.format("%d/%b/%Y:%H:%M:%S +0000"),
                100 + n
            );
            let doc = firesight::parse::parse_line(&line).unwrap();
            let id = firesight::ingest::ids::doc_id(&[b"store-paging", &(day * PER_DAY + n).to_le_bytes()]);
            docs.push((id, doc));
        }
    }
    docs
}

fn request(order: Order, cursor: Option<String>) -> SearchRequest {
    let range = TimeRange {
        from: Utc.with_ymd_and_hms(2015, 5, 1, 0, 0, 0).unwrap(),
        to: Utc.with_ymd_and_hms(2015, 6, 1, 0, 0, 0).unwrap(),
    };
    SearchRequest { query: Query { range, filters: Filters::default() }, order, size: 2, cursor }
}

#[tokio::test]
async fn cursors_over_a_month_of_daily_indices_hold_nothing_on_the_cluster() {
    let os = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os.clone(), prefix: prefix.clone() };
    let store = OpenSearchStore::new(&config(&os, &prefix)).unwrap();
    store.prepare().await.unwrap();
    let docs = month_of_docs();
    let items: Vec<IndexDoc> = docs.iter().map(|(id, doc)| IndexDoc { id: id.clone(), doc: doc.clone() }).collect();
    assert!(store.index(&items).await.unwrap().iter().all(|o| *o == ItemOutcome::Created));
    store.refresh().await.unwrap();
    let indices: serde_json::Value = harness::http()
        .get(format!("{os}/_cat/indices/{prefix}-*?format=json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(indices.as_array().map(Vec::len), Some(DAYS as usize), "one index a day: {indices}");

    // Many first pages, each with a cursor nobody follows.
    let mut abandoned = Vec::new();
    for _ in 0..ABANDONED {
        let page = store.search(&request(Order::Desc, None)).await.unwrap();
        assert_eq!(page.items.len(), 2);
        abandoned.push(page.next_cursor.expect("more pages follow"));
    }

    // Every search still answers, and one cursor chain reads every document once, in order.
    for order in [Order::Asc, Order::Desc] {
        let mut seen = HashSet::new();
        let mut last = None;
        let mut cursor = None;
        loop {
            let page = store.search(&request(order, cursor)).await.unwrap();
            for item in &page.items {
                assert!(seen.insert(item.id.clone()), "{order:?}: {} twice", item.id);
                if let Some(prev) = last {
                    assert!(
                        if order == Order::Asc { item.doc.timestamp >= prev } else { item.doc.timestamp <= prev },
                        "{order:?}: out of order"
                    );
                }
                last = Some(item.doc.timestamp);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), docs.len(), "{order:?}: every document once");
    }
    // The oldest abandoned cursor still reads on: the second page, the third and fourth newest.
    let page = store.search(&request(Order::Desc, abandoned.first().cloned())).await.unwrap();
    let mut newest: Vec<&(String, LogDocument)> = docs.iter().collect();
    newest.sort_by_key(|(_, d)| std::cmp::Reverse(d.timestamp));
    let expected: Vec<&str> = newest[2..4].iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(page.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), expected);

    // And the month's indices hold no point in time. (The node's total is no witness: OpenSearch 2.19
    // went on reporting 300 after the indices of points in time left open had been deleted.)
    let stats: serde_json::Value =
        harness::http().get(format!("{os}/{prefix}-*/_stats/search")).send().await.unwrap().json().await.unwrap();
    let open = stats.pointer("/_all/total/search/point_in_time_current").and_then(serde_json::Value::as_u64);
    assert_eq!(open, Some(0), "points in time open on the month's indices: {stats}");
}
