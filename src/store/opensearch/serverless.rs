//! OpenSearch Serverless (`aws_service = aoss`): firesight uses only the operations AWS lists in
//! "Supported operations and plugins in Amazon OpenSearch Serverless": `PUT`/`GET
//! _index_template/<name>`, `POST _bulk` and `POST <index>/_search`.
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

use super::bulk;
use crate::config::CollectionType;
use crate::store::{DeadLetter, IndexDoc};

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

    /// The ids this process wrote lately (time-series collections only).
    pub fn recent(&self) -> Option<&moka::sync::Cache<String, ()>> {
        self.recent.as_ref()
    }
}

/// `_bulk` `create` actions without `_id`; the id travels in the document as `event.id`.
pub fn encode_keyed_in_source(prefix: &str, docs: &[&IndexDoc]) -> Vec<u8> {
    let mut body = Vec::with_capacity(docs.len() * 1200);
    for item in docs {
        let index = bulk::daily_index(prefix, &item.doc.timestamp);
        let _ = writeln!(body, r#"{{"create":{{"_index":"{index}"}}}}"#);
        serde_json::to_writer(&mut body, &bulk::with_id_inside(item)).expect("documents serialise");
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
    use serde_json::Value;

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
