//! Writing to an OpenSearch Serverless time-series collection, which refuses custom document ids: see
//! [`super::serverless`] for what that means for duplicates.

use opensearch::http::Method;
use serde_json::{Value, json};

use super::{OpenSearchStore, bulk, serverless};
use crate::store::{IndexDoc, ItemOutcome, StoreError};

impl OpenSearchStore {
    /// One chunk into a time-series collection: known ids are duplicates, the rest are written
    /// without `_id`, each carrying its id as `event.id`.
    pub(super) async fn index_chunk_without_ids(&self, chunk: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        let recent = self.serverless.as_ref().and_then(|s| s.recent()).expect("a time-series collection");
        let unknown: Vec<&IndexDoc> = chunk.iter().filter(|d| !recent.contains_key(&d.id)).collect();
        let stored = self.stored_ids(&unknown).await?;
        let fresh: Vec<&IndexDoc> = unknown.into_iter().filter(|d| !stored.contains(d.id.as_str())).collect();
        let mut written = std::collections::HashMap::with_capacity(fresh.len());
        if !fresh.is_empty() {
            let answer = self.bulk(serverless::encode_keyed_in_source(&self.index_prefix, &fresh)).await?;
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
