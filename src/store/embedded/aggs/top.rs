//! Top values of a dimension ([`TopRequest`]): every value of the matching documents counted
//! (`count_keys`, shared with timeline splits), the most frequent first, ties by key; plus the
//! documents without a value, the rest beyond the limit, and the exact number of distinct values.

use super::{Counted, count_keys, key_text, kind, top_entries};
use crate::query::model::{KeyCount, MAX_TOP_LIMIT, TopRequest, TopResult};
use crate::store::StoreError;
use crate::store::embedded::state::EmbeddedStore;

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_top(&self, request: &TopRequest) -> Result<TopResult, StoreError> {
        if !(1..=MAX_TOP_LIMIT).contains(&request.limit) {
            return Err(StoreError::BadRequest(format!("limit must be 1..={MAX_TOP_LIMIT}")));
        }
        let kind = kind(request.dimension);
        let parts = self.parts(&request.query)?;
        let Counted { total, missing, keys } = count_keys(&parts, kind, self.threads())?;
        let top = top_entries(&keys, request.limit as usize);
        let shown: u64 = top.iter().map(|e| keys.count(*e)).sum();
        Ok(TopResult {
            total,
            buckets: top
                .iter()
                .map(|e| KeyCount { key: key_text(kind, keys.key(*e)), count: keys.count(*e) })
                .collect(),
            other: total - missing - shown,
            missing,
            distinct: Some(keys.len() as u64),
            count_error_bound: 0,
        })
    }
}
