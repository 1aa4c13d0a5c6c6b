//! OpenSearch Serverless (`aws_service = aoss`): firesight uses only the operations AWS lists in
//! "Supported operations and plugins in Amazon OpenSearch Serverless" and its point-in-time page:
//! `PUT`/`GET _index_template/<name>`, `POST _bulk`, `POST <index>/_search`, `POST _search`,
//! `POST <index>/_search/point_in_time` and `DELETE _search/point_in_time`.
//!
//! What it does without the rest: no root endpoint (the version check is skipped, readiness reads the
//! index template), no index settings in templates (Serverless manages shards, replicas and refresh),
//! and no `_refresh` (Serverless makes writes searchable on its own, in about 10 seconds).
//!
//! **Search collections** keep firesight's document ids (`create` with `_id`): a Firehose retry or a
//! replay adds nothing, as on a domain. **Time-series collections** refuse custom ids, so there a
//! document carries its id as `event.id` and OpenSearch picks `_id`. Before a chunk is written its ids
//! are looked up (`terms` on `event.id` over the daily indices) and in this process's memory of ids it
//! wrote in the last [`RECENT_TTL`]; known ones count as duplicates. What can still duplicate: a retry of
//! the same records reaching another replica before the first write is searchable (Serverless's refresh,
//! about 10 s), or both writes in flight at the same moment. Reads report `event.id` as the id.

use std::io::Write;
use std::time::Duration;

use opensearch::http::Method;
use serde_json::{Value, json};

use super::{OpenSearchStore, bulk};
use crate::config::CollectionType;
use crate::store::{DeadLetter, IndexDoc, ItemOutcome, StoreError};

/// How long this process remembers the ids it wrote to a time-series collection.
pub const RECENT_TTL: Duration = Duration::from_secs(600);
/// How many of them, at most (about 100 bytes each).
const RECENT_CAPACITY: u64 = 262_144;

pub struct Serverless {
    /// For time-series collections: the ids written lately.
    recent: Option<moka::sync::Cache<String, ()>>,
}

impl Serverless {
    pub fn new(collection: CollectionType) -> Self {
        let recent = (collection == CollectionType::Timeseries)
            .then(|| moka::sync::Cache::builder().max_capacity(RECENT_CAPACITY).time_to_live(RECENT_TTL).build());
        Self { recent }
    }

    /// Whether the collection keeps firesight's document ids.
    pub fn custom_ids(&self) -> bool {
        self.recent.is_none()
    }
}

impl OpenSearchStore {
    /// One chunk into a time-series collection: known ids are duplicates, the rest are written
    /// without `_id`, each carrying its id as `event.id`.
    pub(super) async fn index_chunk_without_ids(&self, chunk: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        let recent = self.serverless.as_ref().and_then(|s| s.recent.as_ref()).expect("a time-series collection");
        let unknown: Vec<&IndexDoc> = chunk.iter().filter(|d| !recent.contains_key(&d.id)).collect();
        let stored = self.stored_ids(&unknown).await?;
        let fresh: Vec<&IndexDoc> = unknown.into_iter().filter(|d| !stored.contains(d.id.as_str())).collect();
        let mut written = std::collections::HashMap::with_capacity(fresh.len());
        if !fresh.is_empty() {
            let answer = self.bulk(encode_keyed_in_source(&self.index_prefix, &fresh)).await?;
            for (doc, outcome) in fresh.iter().zip(bulk::outcomes(&answer, fresh.len())?) {
                if outcome == ItemOutcome::Created {
                    recent.insert(doc.id.clone(), ());
                }
                written.insert(doc.id.as_str(), outcome);
            }
        }
        Ok(chunk.iter().map(|d| written.remove(d.id.as_str()).unwrap_or(ItemOutcome::Duplicate)).collect())
    }

    /// Which of these ids are already stored (as `event.id`).
    async fn stored_ids(&self, docs: &[&IndexDoc]) -> Result<std::collections::HashSet<String>, StoreError> {
        if docs.is_empty() {
            return Ok(Default::default());
        }
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let body = json!({
            "size": ids.len(),
            "_source": ["event.id"],
            "query": { "terms": { "event.id": ids } },
            "track_total_hits": false
        });
        let path = format!("/{}-*/_search?ignore_unavailable=true&allow_no_indices=true", self.index_prefix);
        let answer = self.call(Method::Post, &path, Some(body)).await?;
        Ok(answer
            .pointer("/hits/hits")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|hit| hit.pointer("/_source/event/id").and_then(Value::as_str).map(str::to_owned))
            .collect())
    }
}

/// `_bulk` `create` actions without `_id`; the id travels in the document as `event.id`.
fn encode_keyed_in_source(prefix: &str, docs: &[&IndexDoc]) -> Vec<u8> {
    let mut body = Vec::with_capacity(docs.len() * 1200);
    for item in docs {
        let index = bulk::daily_index(prefix, &item.doc.timestamp);
        let _ = writeln!(body, r#"{{"create":{{"_index":"{index}"}}}}"#);
        let mut doc = item.doc.clone();
        doc.event.id = Some(item.id.clone());
        serde_json::to_writer(&mut body, &doc).expect("documents serialise");
        body.push(b'\n');
    }
    body
}

/// Dead letters for a collection that refuses custom ids.
pub fn encode_dead_letters_without_ids(index: &str, letters: &[DeadLetter]) -> Vec<u8> {
    let mut body = Vec::new();
    for letter in letters {
        let _ = writeln!(body, r#"{{"create":{{"_index":"{index}"}}}}"#);
        serde_json::to_writer(&mut body, letter).expect("dead letters serialise");
        body.push(b'\n');
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::LogDocument;

    #[test]
    fn time_series_writes_carry_the_id_in_the_document_only() {
        let doc = IndexDoc { id: "abc".into(), doc: LogDocument::default() };
        let body = String::from_utf8(encode_keyed_in_source("weblogs", &[&doc])).unwrap();
        let mut lines = body.lines();
        let action: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert!(action["create"].get("_id").is_none(), "{action}");
        let source: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(source["event"]["id"], "abc");
    }
}
