//! The aggregate cache: finished JSON answers keyed by the normalised request (filters sorted, relative
//! times already resolved and aligned), bounded in bytes. Concurrent misses for one key make one store
//! call (`try_get_with`). Ranges that touch "now" live briefly, closed ranges longer.
//!
//! A hit is on every dashboard refresh's path, so it does no more than it must: the key is the typed
//! request itself (hashed and compared field by field, never serialised), and the answer is kept as the
//! finished body and header values, which a response shares rather than copies.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;
use crate::query::model::{
    Filters, GeoRequest, Query, SlowestRequest, StatusFilter, TimelineRequest, TopRequest, VisitTimesRequest,
};

/// What an aggregate answer is cached under: the endpoint, its normalised request and whether it
/// compares with the previous period.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheKey {
    Top(TopRequest, bool),
    Slowest(SlowestRequest),
    Timeline(TimelineRequest, bool),
    /// `metric=duration` (neither split nor compared).
    DurationTimeline(TimelineRequest),
    Summary(Query, bool),
    VisitTimes(VisitTimesRequest, bool),
    Geo(GeoRequest, bool),
}

impl CacheKey {
    /// Approximate bytes the key holds, for the cache's size bound.
    fn weight(&self) -> usize {
        let (query, extra) = match self {
            CacheKey::Top(r, _) => (&r.query, 0),
            CacheKey::Slowest(r) => (&r.query, 0),
            CacheKey::Timeline(r, _) | CacheKey::DurationTimeline(r) => (&r.query, 0),
            CacheKey::Summary(q, _) => (q, 0),
            CacheKey::VisitTimes(r, _) => (&r.query, r.time_zone.len()),
            CacheKey::Geo(r, _) => (&r.query, 0),
        };
        std::mem::size_of::<CacheKey>() + filter_bytes(&query.filters) + extra
    }
}

fn filter_bytes(f: &Filters) -> usize {
    let strings = |v: &[String]| v.iter().map(|s| s.len() + std::mem::size_of::<String>()).sum::<usize>();
    strings(&f.method)
        + strings(&f.path)
        + strings(&f.country)
        + strings(&f.city)
        + strings(&f.browser)
        + strings(&f.os)
        + strings(&f.device)
        + strings(&f.referrer_host)
        + strings(&f.crawler)
        + strings(&f.crawler_category)
        + strings(&f.vhost)
        + f.path_prefix.as_ref().map_or(0, String::len)
        + f.q.as_ref().map_or(0, String::len)
        + f.status.len() * std::mem::size_of::<StatusFilter>()
        + f.client_ip.len() * std::mem::size_of::<ipnet::IpNet>()
}

/// One finished answer, with the header values every response of it carries.
#[derive(Debug)]
pub struct CachedBody {
    pub body: Bytes,
    /// Strong validator over the body, quoted.
    pub etag: HeaderValue,
    /// `private, max-age=<ttl>`.
    pub cache_control: HeaderValue,
    /// How long this answer stays fresh (also the `Cache-Control` max-age).
    pub ttl: Duration,
}

impl CachedBody {
    pub fn new(body: Bytes, ttl: Duration) -> Self {
        let digest = Sha256::digest(&body);
        let etag = format!("\"{}\"", hex::encode(&digest[..12]));
        let cache_control = format!("private, max-age={}", ttl.as_secs());
        Self {
            etag: HeaderValue::try_from(etag).expect("hex is a valid header value"),
            cache_control: HeaderValue::try_from(cache_control).expect("ASCII is a valid header value"),
            body,
            ttl,
        }
    }
}

struct PerEntryTtl;

impl Expiry<CacheKey, Arc<CachedBody>> for PerEntryTtl {
    fn expire_after_create(&self, _key: &CacheKey, value: &Arc<CachedBody>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Clone)]
pub struct AggregateCache {
    cache: Cache<CacheKey, Arc<CachedBody>>,
    metrics: Arc<Metrics>,
}

impl AggregateCache {
    pub fn new(max_bytes: u64, metrics: Arc<Metrics>) -> Self {
        let evicted = metrics.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &CacheKey, value: &Arc<CachedBody>| {
                (key.weight() + value.body.len() + 128).try_into().unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evicted.query_cache_evictions.inc();
                }
            })
            .build();
        Self { cache, metrics }
    }

    /// The cached answer for `key`, or the one `load` produces (once, however many callers wait).
    pub async fn get_or_load<F, E>(&self, key: CacheKey, load: F) -> Result<Arc<CachedBody>, Arc<E>>
    where
        F: Future<Output = Result<CachedBody, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.cache.get(&key).await {
            self.metrics.query_cache_hits.inc();
            return Ok(hit);
        }
        // Loading holds the store calls and moka's own state; boxed, so that the future of every request
        // (mostly hits, and moved around by the layers above) does not carry that size.
        Box::pin(self.load(key, load)).await
    }

    async fn load<F, E>(&self, key: CacheKey, load: F) -> Result<Arc<CachedBody>, Arc<E>>
    where
        F: Future<Output = Result<CachedBody, E>>,
        E: Send + Sync + 'static,
    {
        let loaded = AtomicBool::new(false);
        let result = self
            .cache
            .try_get_with(key, async {
                loaded.store(true, Ordering::Relaxed);
                load.await.map(Arc::new)
            })
            .await;
        if loaded.load(Ordering::Relaxed) {
            self.metrics.query_cache_misses.inc();
        } else {
            self.metrics.query_cache_hits.inc();
        }
        result
    }

    /// Runs pending maintenance (evictions); tests call it before reading counters.
    pub async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::query::model::TimeRange;

    fn key() -> CacheKey {
        let range = TimeRange { from: chrono::DateTime::UNIX_EPOCH, to: chrono::DateTime::UNIX_EPOCH };
        CacheKey::Summary(Query { range, filters: Filters::default() }, false)
    }

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let cache = AggregateCache::new(1 << 20, Arc::new(Metrics::new()));
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(key(), async {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, std::io::Error>(CachedBody::new(Bytes::from_static(b"{}"), Duration::from_secs(60)))
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(&t.await.unwrap().body[..], b"{}");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(cache.metrics.query_cache_misses.get(), 1);
        assert_eq!(cache.metrics.query_cache_hits.get(), 15);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = AggregateCache::new(1 << 20, Arc::new(Metrics::new()));
        let r = cache.get_or_load(key(), async { Err::<CachedBody, _>("down") }).await;
        assert!(r.is_err());
        let r = cache
            .get_or_load(key(), async {
                Ok::<_, &str>(CachedBody::new(Bytes::from_static(b"1"), Duration::from_secs(5)))
            })
            .await;
        assert_eq!(&r.unwrap().body[..], b"1");
    }
}
