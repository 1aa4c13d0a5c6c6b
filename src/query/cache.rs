//! The aggregate cache: finished JSON answers keyed by the normalised request (filters sorted, relative
//! times already resolved and aligned), bounded in bytes. Concurrent misses for one key make one store
//! call (`try_get_with`). Ranges that touch "now" live briefly, closed ranges longer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use prometheus_client::metrics::counter::Counter;
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// One finished answer.
#[derive(Debug)]
pub struct CachedBody {
    pub body: Bytes,
    /// Strong validator over the body.
    pub etag: String,
    /// How long this answer stays fresh (also the `Cache-Control` max-age).
    pub ttl: Duration,
}

impl CachedBody {
    pub fn new(body: Bytes, ttl: Duration) -> Self {
        let digest = Sha256::digest(&body);
        Self { etag: format!("\"{}\"", hex::encode(&digest[..12])), body, ttl }
    }
}

struct PerEntryTtl;

impl Expiry<String, Arc<CachedBody>> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Arc<CachedBody>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[derive(Clone)]
pub struct AggregateCache {
    cache: Cache<String, Arc<CachedBody>>,
    hits: Counter,
    misses: Counter,
}

impl AggregateCache {
    pub fn new(max_bytes: u64, metrics: &Metrics) -> Self {
        let evictions: Counter = Counter::default();
        let hits: Counter = Counter::default();
        let misses: Counter = Counter::default();
        metrics.register("query_cache_hits", "Aggregate requests answered from the cache", hits.clone());
        metrics.register("query_cache_misses", "Aggregate requests that queried the log store", misses.clone());
        metrics.register("query_cache_evictions", "Cache entries evicted for size", evictions.clone());
        let evicted = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, value: &Arc<CachedBody>| {
                (key.len() + value.body.len() + 128).try_into().unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_key, _value, cause| {
                if cause == RemovalCause::Size {
                    evicted.inc();
                }
            })
            .build();
        Self { cache, hits, misses }
    }

    /// The cached answer for `key`, or the one `load` produces (once, however many callers wait).
    pub async fn get_or_load<F, E>(&self, key: String, load: F) -> Result<Arc<CachedBody>, Arc<E>>
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
            self.misses.inc();
        } else {
            self.hits.inc();
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

    #[tokio::test]
    async fn concurrent_misses_load_once() {
        let metrics = Metrics::new();
        let cache = AggregateCache::new(1 << 20, &metrics);
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let cache = cache.clone();
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load("k".to_owned(), async {
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
        assert_eq!(cache.misses.get(), 1);
        assert_eq!(cache.hits.get(), 15);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let metrics = Metrics::new();
        let cache = AggregateCache::new(1 << 20, &metrics);
        let r = cache.get_or_load("k".to_owned(), async { Err::<CachedBody, _>("down") }).await;
        assert!(r.is_err());
        let r = cache
            .get_or_load("k".to_owned(), async {
                Ok::<_, &str>(CachedBody::new(Bytes::from_static(b"1"), Duration::from_secs(5)))
            })
            .await;
        assert_eq!(&r.unwrap().body[..], b"1");
    }
}
