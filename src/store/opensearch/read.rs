//! The read path on OpenSearch: each read of [`crate::query::model`] built as DSL ([`super::dsl`]),
//! searched over the read indices (`opensearch.read_index`, default `<prefix>-*`) and parsed back;
//! searches page with a `search_after` cursor.

use opensearch::http::Method;
use serde_json::{Value, json};

use super::OpenSearchStore;
use super::dsl::aggs;
use super::dsl::search::{self, Cursor, Tiebreak};
use super::text::truncate;
use crate::query::model::{
    DurationTimelineRequest, DurationTimelineResult, GeoRequest, GeoResult, MAX_PAGE_SIZE, MAX_TOP_LIMIT, Query,
    SearchPage, SearchRequest, SlowestRequest, SlowestResult, Split, SummaryResult, TimelineRequest, TimelineResult,
    TopRequest, TopResult, VisitTimesRequest, VisitTimesResult,
};
use crate::store::StoreError;

impl OpenSearchStore {
    /// Runs a search over the read indices; `filter_path` trims the answer.
    async fn read(&self, body: Value, filter_path: Option<&str>) -> Result<Value, StoreError> {
        let mut path = format!("/{}/_search?ignore_unavailable=true&allow_no_indices=true", self.read_index);
        if let Some(filter) = filter_path {
            path.push_str("&filter_path=");
            path.push_str(filter);
        }
        let answer = self.call(Method::Post, &path, Some(body)).await?;
        check_shards(&answer)?;
        Ok(answer)
    }

    /// Of `ids`, those stored in a read index as `_id` or as `event.id` (time-series collections, and
    /// documents firesight's Lambda wrote under Firehose's own ids), a thousand per search.
    pub(super) async fn read_stored_ids(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashSet<String>, StoreError> {
        let mut found = std::collections::HashSet::new();
        for chunk in ids.chunks(1000) {
            let body = json!({
                "size": chunk.len(),
                "_source": ["event.id"],
                "query": {"bool": {"should": [{"ids": {"values": chunk}}, {"terms": {"event.id": chunk}}]}},
            });
            let answer = self.read(body, Some("hits.hits._id,hits.hits._source.event.id")).await?;
            for hit in answer["hits"]["hits"].as_array().into_iter().flatten() {
                for id in [hit["_id"].as_str(), hit["_source"]["event"]["id"].as_str()].into_iter().flatten() {
                    found.insert(id.to_owned());
                }
            }
        }
        Ok(found)
    }

    pub(super) async fn read_top(&self, request: &TopRequest) -> Result<TopResult, StoreError> {
        let body = aggs::top_dsl(request, &self.fields)?;
        Ok(aggs::parse_top(&self.read(body, None).await?))
    }

    pub(super) async fn read_timeline(&self, request: &TimelineRequest) -> Result<TimelineResult, StoreError> {
        let starts = aggs::bucket_starts(&request.query.range, request.interval_secs)?;
        if starts.is_empty() {
            return Ok(TimelineResult { buckets: Vec::new() });
        }
        let keys = match request.split {
            Split::Dimension(dimension, n) if n > 0 => {
                let body = aggs::split_keys_dsl(&request.query, dimension, n.min(MAX_TOP_LIMIT), &self.fields)?;
                aggs::parse_split_keys(&self.read(body, None).await?)
            }
            _ => Vec::new(),
        };
        let body = aggs::timeline_dsl(request, &starts, &keys, &self.fields)?;
        let answer = self.read(body, None).await?;
        aggs::parse_timeline(&answer, request, &starts, &keys)
    }

    pub(super) async fn read_slowest(&self, request: &SlowestRequest) -> Result<SlowestResult, StoreError> {
        let body = super::dsl::slowest::slowest_dsl(request, &self.fields)?;
        Ok(super::dsl::slowest::parse_slowest(&self.read(body, None).await?))
    }

    pub(super) async fn read_duration_timeline(
        &self,
        request: &DurationTimelineRequest,
    ) -> Result<DurationTimelineResult, StoreError> {
        let starts = aggs::bucket_starts(&request.query.range, request.interval_secs)?;
        if starts.is_empty() {
            return Ok(DurationTimelineResult { buckets: Vec::new() });
        }
        let body = super::dsl::slowest::duration_timeline_dsl(request, &starts, &self.fields)?;
        super::dsl::slowest::parse_duration_timeline(&self.read(body, None).await?, &starts)
    }

    pub(super) async fn read_summary(&self, query: &Query) -> Result<SummaryResult, StoreError> {
        let body = aggs::summary_dsl(query, &self.fields)?;
        aggs::parse_summary(&self.read(body, Some(aggs::SUMMARY_FILTER_PATH)).await?)
    }

    pub(super) async fn read_visit_times(&self, request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
        let body = aggs::visit_times_dsl(request, &self.fields)?;
        aggs::parse_visit_times(&self.read(body, None).await?, request)
    }

    pub(super) async fn read_geo(&self, request: &GeoRequest) -> Result<GeoResult, StoreError> {
        let body = aggs::geo_dsl(request, &self.fields)?;
        Ok(aggs::parse_geo(&self.read(body, None).await?))
    }

    pub(super) async fn read_search(&self, request: &SearchRequest) -> Result<SearchPage, StoreError> {
        if !(1..=MAX_PAGE_SIZE).contains(&request.size) {
            return Err(StoreError::BadRequest(format!("size must be 1..={MAX_PAGE_SIZE}")));
        }
        // The cursor's order and tiebreaker win: they define where the continuation is.
        let cursor = request.cursor.as_deref().map(Cursor::decode).transpose()?;
        let order = cursor.as_ref().map_or(request.order, |c| c.order);
        let tie = match &cursor {
            _ if self.fields.ids_in_documents() => Tiebreak::EventId,
            Some(cursor) => cursor.tie,
            None => self.tiebreak(&request.query).await?,
        };
        let body = search::search_dsl(&request.query, order, request.size, cursor.as_ref(), tie, &self.fields)?;
        let answer = match self.read(body, None).await {
            Err(StoreError::Rejected { status: 400, body }) if cursor.is_some() => {
                return Err(StoreError::BadRequest(format!("invalid cursor: {}", truncate(&body, 300))));
            }
            answer => answer?,
        };
        let (items, next) = search::parse_hits(&answer, request.size, &self.fields)?;
        let next_cursor = next.map(|search_after| Cursor { search_after, order, tie }.encode());
        Ok(SearchPage { items, next_cursor })
    }

    /// How a new search orders ties: by `event.id` unless a document it matches lacks one.
    async fn tiebreak(&self, query: &Query) -> Result<Tiebreak, StoreError> {
        let body = search::without_event_id_dsl(query, &self.fields)?;
        let answer = self.read(body, Some("hits.total,_shards.failed,_shards.failures")).await?;
        Ok(match answer.pointer("/hits/total/value").and_then(Value::as_u64) {
            Some(0) => Tiebreak::EventId,
            _ => Tiebreak::Id,
        })
    }
}

/// A search some shards failed answers with partial numbers; refuse it rather than report them.
fn check_shards(answer: &Value) -> Result<(), StoreError> {
    let failed = answer.pointer("/_shards/failed").and_then(Value::as_u64).unwrap_or(0);
    if failed == 0 {
        return Ok(());
    }
    let failures = answer.pointer("/_shards/failures").cloned().unwrap_or(Value::Null);
    let status =
        failures.pointer("/0/status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(503);
    Err(StoreError::Rejected { status, body: truncate(&format!("{failed} shard(s) failed: {failures}"), 2000) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_shard_failures_are_errors() {
        let answer = json!({ "_shards": { "total": 2, "successful": 1, "failed": 1, "failures": [
            { "shard": 0, "index": "x", "status": 400, "reason": { "type": "illegal_argument_exception" } }
        ]}});
        assert!(matches!(check_shards(&answer), Err(StoreError::Rejected { status: 400, .. })));
        assert!(check_shards(&json!({ "_shards": { "total": 2, "failed": 0 } })).is_ok());
    }
}
