//! Paging on OpenSearch holds nothing on the cluster between pages. Searches over a month of daily
//! indices, each leaving a cursor, must not use up the node's point-in-time contexts
//! (`search.max_open_pit_context`, 300 a node, one for each shard a point in time spans): with a point
//! in time per cursor, ten of them over 31 indices would refuse every later search for five minutes.
//! Hits of the same second come in id order, as on the embedded store, sorted from `event.id`'s doc
//! values, so paging builds no `_id` field data in the node's heap; documents written without
//! `event.id` (before firesight wrote it) page by `_id` as before.

use chrono::{Duration, TimeZone, Utc};
use firesight::document::LogDocument;
use firesight::query::model::*;
use firesight::store::LogStore;
use firesight::store::opensearch::{OpenSearchStore, daily_index};
use serde_json::Value;

use crate::harness;
use crate::store_queries::{Cleanup, config, index_all};

const DAYS: i64 = 31;
const PER_DAY: i64 = 3;
/// First pages opened and left unread; at 31 shards each, ten times the node's limit.
const ABANDONED: usize = 100;

/// Three requests a day, all in the same second: their order is the ids'.
fn month_of_docs() -> Vec<(String, LogDocument)> {
    let start = Utc.with_ymd_and_hms(2015, 5, 1, 10, 0, 0).unwrap();
    let mut docs = Vec::new();
    for day in 0..DAYS {
        for n in 0..PER_DAY {
            let t = start + Duration::days(day);
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

/// The ids in the order a search must return them: by time, then by id, both in `order`.
fn expected(docs: &[(String, LogDocument)], order: Order) -> Vec<String> {
    let mut sorted: Vec<&(String, LogDocument)> = docs.iter().collect();
    sorted.sort_by(|a, b| (a.1.timestamp, &a.0).cmp(&(b.1.timestamp, &b.0)));
    if order == Order::Desc {
        sorted.reverse();
    }
    sorted.into_iter().map(|(id, _)| id.clone()).collect()
}

/// Every page of a search, followed to the end.
async fn all_pages(store: &OpenSearchStore, order: Order) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.search(&request(order, cursor)).await.unwrap();
        ids.extend(page.items.iter().map(|i| i.id.clone()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return ids,
        }
    }
}

async fn get(url: String) -> Value {
    harness::json(harness::http().get(url)).await
}

/// The `_id` field data the indices hold, in bytes.
async fn id_field_data(os: &str, prefix: &str) -> Option<u64> {
    let stats = get(format!("{os}/{prefix}-*/_stats/fielddata?fields=_id")).await;
    stats.pointer("/_all/total/fielddata/memory_size_in_bytes").and_then(Value::as_u64)
}

/// A test's own indices (deleted when it ends), a prepared store over them, and the month to write.
struct Month {
    os: String,
    prefix: String,
    store: OpenSearchStore,
    docs: Vec<(String, LogDocument)>,
    _cleanup: Cleanup,
}

async fn month() -> Month {
    let os = harness::require_opensearch().await;
    let prefix = harness::unique("it-");
    let _cleanup = Cleanup { os: os.clone(), prefix: prefix.clone() };
    let store = OpenSearchStore::new(&config(&os, &prefix)).unwrap();
    store.prepare().await.unwrap();
    Month { os, prefix, store, docs: month_of_docs(), _cleanup }
}

#[tokio::test]
async fn cursors_over_a_month_of_daily_indices_hold_nothing_on_the_cluster() {
    let Month { os, prefix, store, docs, .. } = &month().await;
    index_all(store, docs).await;
    let indices = get(format!("{os}/_cat/indices/{prefix}-*?format=json")).await;
    assert_eq!(indices.as_array().map(Vec::len), Some(DAYS as usize), "one index a day: {indices}");

    // Many first pages, each with a cursor nobody follows.
    let mut abandoned = Vec::new();
    for _ in 0..ABANDONED {
        let page = store.search(&request(Order::Desc, None)).await.unwrap();
        assert_eq!(page.items.len(), 2);
        abandoned.push(page.next_cursor.expect("more pages follow"));
    }

    // Every search still answers, and a cursor chain reads every document once, ties in id order.
    for order in [Order::Asc, Order::Desc] {
        assert_eq!(all_pages(store, order).await, expected(docs, order), "{order:?}");
    }
    // The oldest abandoned cursor still reads on: the second page.
    let page = store.search(&request(Order::Desc, abandoned.first().cloned())).await.unwrap();
    let ids: Vec<String> = page.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(ids, expected(docs, Order::Desc)[2..4]);
    // The documents come back as they were given: the id written beside `_id` is not part of them.
    assert!(page.items.iter().all(|i| i.doc.event.id.is_none()));

    // The month's indices hold no point in time (the node's total is no witness: OpenSearch 2.19 went
    // on reporting 300 after the indices of points in time left open had been deleted), and the order
    // built no `_id` field data.
    let stats = get(format!("{os}/{prefix}-*/_stats/search")).await;
    let open = stats.pointer("/_all/total/search/point_in_time_current").and_then(Value::as_u64);
    assert_eq!(open, Some(0), "points in time open on the month's indices: {stats}");
    assert_eq!(id_field_data(os, prefix).await, Some(0), "`_id` field data built");
}

#[tokio::test]
async fn documents_written_without_their_id_inside_page_by_id() {
    let Month { os, prefix, store, docs, .. } = &month().await;
    // Half the month as firesight writes now, half as it wrote before: `_id` only.
    let (new, old) = docs.split_at(docs.len() / 2);
    index_all(store, new).await;
    let mut body = String::new();
    for (id, doc) in old {
        let index = daily_index(prefix, &doc.timestamp);
        body.push_str(&format!("{{\"create\":{{\"_index\":\"{index}\",\"_id\":\"{id}\"}}}}\n"));
        body.push_str(&serde_json::to_string(doc).unwrap());
        body.push('\n');
    }
    harness::bulk(os, body).await;
    store.refresh().await.unwrap();

    for order in [Order::Asc, Order::Desc] {
        assert_eq!(all_pages(store, order).await, expected(docs, order), "{order:?}");
    }
    assert!(id_field_data(os, prefix).await.is_some_and(|bytes| bytes > 0), "paged by `_id`");
}
