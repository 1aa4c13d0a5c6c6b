//! The query service the read handlers call: one method per endpoint. Aggregates go through the cache
//! (finished JSON, keyed by the normalised request); comparisons ask the store for the previous period
//! concurrently; log pages and exports go to the store directly.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures::Stream;
use serde::Serialize;

use super::cache::{AggregateCache, CacheKey, CachedBody};
use super::response::*;
use crate::config::QueryConfig;
use crate::metrics::Metrics;
use crate::query::model::*;
use crate::store::{LogStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The error of a load that several requests for the same cached answer waited for.
    #[error(transparent)]
    Shared(Arc<StoreError>),
}

impl QueryError {
    pub fn store_error(&self) -> &StoreError {
        match self {
            QueryError::Store(e) => e,
            QueryError::Shared(e) => e,
        }
    }
}

#[derive(Clone)]
pub struct QueryService {
    store: Arc<dyn LogStore>,
    cache: AggregateCache,
    config: QueryConfig,
}

impl QueryService {
    pub fn new(store: Arc<dyn LogStore>, config: QueryConfig, metrics: Arc<Metrics>) -> Self {
        let cache = AggregateCache::new(config.cache_max_bytes, metrics);
        Self { store, cache, config }
    }

    pub fn cache(&self) -> &AggregateCache {
        &self.cache
    }

    pub fn config(&self) -> &QueryConfig {
        &self.config
    }

    /// Answers touching the last minute go stale quickly; closed ranges do not change often.
    fn ttl(&self, range: &TimeRange) -> Duration {
        if range.to + chrono::Duration::seconds(60) >= Utc::now() {
            Duration::from_secs(self.config.cache_ttl_live_secs)
        } else {
            Duration::from_secs(self.config.cache_ttl_closed_secs)
        }
    }

    async fn cached<T, F>(&self, key: CacheKey, range: &TimeRange, build: F) -> Result<Arc<CachedBody>, QueryError>
    where
        T: Serialize,
        F: Future<Output = Result<T, StoreError>>,
    {
        let ttl = self.ttl(range);
        self.cache
            .get_or_load(key, async move {
                let value = build.await?;
                let body = Bytes::from(serde_json::to_vec(&value).expect("responses serialise"));
                Ok::<_, StoreError>(CachedBody::new(body, ttl))
            })
            .await
            .map_err(QueryError::Shared)
    }

    pub async fn top(&self, request: TopRequest, compare: bool) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::Top(request.clone(), compare), &range, async {
            let previous = previous_request(&request.query, compare, |query| TopRequest { query, ..request.clone() });
            let (current, previous) = tokio::join!(self.store.top(&request), async {
                match &previous {
                    Some(p) => Some(self.store.top(p).await),
                    None => None,
                }
            });
            let previous = previous.transpose()?.map(|p| (range.previous(), p));
            Ok(TopResponse::build(range, request.dimension, current?, previous))
        })
        .await
    }

    /// `top/path` ranked by request duration ("slowest endpoints").
    pub async fn slowest(&self, request: SlowestRequest) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::Slowest(request.clone()), &range, async {
            Ok(TopResponse::slowest(range, self.store.slowest(&request).await?))
        })
        .await
    }

    pub async fn timeline(&self, request: TimelineRequest, compare: bool) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::Timeline(request.clone(), compare), &range, async {
            let previous =
                previous_request(&request.query, compare, |query| TimelineRequest { query, ..request.clone() });
            let (current, previous) = tokio::join!(self.store.timeline(&request), async {
                match &previous {
                    Some(p) => Some(self.store.timeline(p).await),
                    None => None,
                }
            });
            let previous = previous.transpose()?.map(|p| (range.previous(), p));
            let split = match request.split {
                Split::None => None,
                Split::StatusClass => Some("status_class".to_owned()),
                Split::Dimension(d, _) => Some(d.name().to_owned()),
            };
            Ok(TimelineResponse::build(range, request.interval_secs, split, current?, previous))
        })
        .await
    }

    /// A timeline with request-duration percentiles per bucket (`metric=duration`, no split).
    pub async fn duration_timeline(&self, request: TimelineRequest) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::DurationTimeline(request.clone()), &range, async {
            let durations =
                DurationTimelineRequest { query: request.query.clone(), interval_secs: request.interval_secs };
            let (counts, durations) =
                tokio::join!(self.store.timeline(&request), self.store.duration_timeline(&durations));
            let mut response = TimelineResponse::build(range, request.interval_secs, None, counts?, None);
            response.add_durations(durations?);
            Ok(response)
        })
        .await
    }

    pub async fn summary(&self, query: Query, compare: bool) -> Result<Arc<CachedBody>, QueryError> {
        let range = query.range;
        self.cached(CacheKey::Summary(query.clone(), compare), &range, async {
            let previous = previous_request(&query, compare, |q| q);
            let (current, previous) = tokio::join!(self.store.summary(&query), async {
                match &previous {
                    Some(p) => Some(self.store.summary(p).await),
                    None => None,
                }
            });
            let previous = previous.transpose()?.map(|p| (range.previous(), p));
            Ok(SummaryResponse::build(range, current?, previous))
        })
        .await
    }

    pub async fn visit_times(&self, request: VisitTimesRequest, compare: bool) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::VisitTimes(request.clone(), compare), &range, async {
            let previous =
                previous_request(&request.query, compare, |query| VisitTimesRequest { query, ..request.clone() });
            let (current, previous) = tokio::join!(self.store.visit_times(&request), async {
                match &previous {
                    Some(p) => Some(self.store.visit_times(p).await),
                    None => None,
                }
            });
            Ok(VisitTimesResponse::build(range, request.time_zone.clone(), current?, previous.transpose()?))
        })
        .await
    }

    pub async fn geo(&self, request: GeoRequest, compare: bool) -> Result<Arc<CachedBody>, QueryError> {
        let range = request.query.range;
        self.cached(CacheKey::Geo(request.clone(), compare), &range, async {
            let previous = previous_request(&request.query, compare, |query| GeoRequest { query, ..request.clone() });
            let (current, previous) = tokio::join!(self.store.geo(&request), async {
                match &previous {
                    Some(p) => Some(self.store.geo(p).await),
                    None => None,
                }
            });
            Ok(GeoResponse::build(range, current?, previous.transpose()?))
        })
        .await
    }

    /// One page of documents; never cached (cursors are single-use positions).
    pub async fn logs(&self, request: &SearchRequest) -> Result<LogsPage, QueryError> {
        let page = self.store.search(request).await?;
        Ok(LogsPage {
            from: request.query.range.from,
            to: request.query.range.to,
            items: page.items.into_iter().map(|d| LogItem { id: d.id, document: d.doc }).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Every matching document, page by page: memory stays at one page whatever the result size.
    pub fn export(&self, query: Query, order: Order) -> impl Stream<Item = Result<Vec<StoredDoc>, StoreError>> + use<> {
        const EXPORT_PAGE: u32 = MAX_PAGE_SIZE;
        let store = self.store.clone();
        futures::stream::unfold(Some(None::<String>), move |state| {
            let store = store.clone();
            let query = query.clone();
            async move {
                let cursor = state?;
                let request = SearchRequest { query, order, size: EXPORT_PAGE, cursor };
                match store.search(&request).await {
                    Ok(page) => {
                        let next = page.next_cursor.map(Some);
                        Some((Ok(page.items), next))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
    }
}

fn previous_request<T>(query: &Query, compare: bool, make: impl FnOnce(Query) -> T) -> Option<T> {
    compare.then(|| make(query.with_range(query.range.previous())))
}
