//! The aggregate cache: finished JSON answers keyed by the normalised request (filters sorted, relative
//! times already resolved and aligned), bounded in bytes. Concurrent misses for one key make one store
//! call (`try_get_with`). Ranges that touch "now" live briefly, closed ranges longer.
//!
//! Documents that arrive late (older than [`LATE`]: a backfill, a replay, a delayed delivery) change
//! answers over closed ranges that are cached for long: the ingest path reports them
//! ([`IndexedListener`]), the cache notes per UTC day when they landed and what span of time they
//! cover, and a hit whose range (or compared previous period) overlaps a late write newer than the
//! answer is loaded again. Documents inside the live window are not noted: no cached closed range can
//! hold them, and live ranges expire within seconds anyway.
//!
//! A hit is on every dashboard refresh's path, so it does no more than it must: the key is the typed
//! request itself (hashed and compared field by field, never serialised), and the answer is kept as the
//! finished body and header values, which a response shares rather than copies.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};

use bytes::Bytes;
use http::HeaderValue;
use moka::Expiry;
use moka::future::Cache;
use moka::notification::RemovalCause;
use sha2::{Digest, Sha256};

use crate::ingest::IndexedListener;
use crate::metrics::Metrics;
use crate::query::model::{
    Filters, GeoRequest, Query, SlowestRequest, StatusFilter, TimeRange, TimelineRequest, TopRequest, VisitTimesRequest,
};

/// Documents older than this when indexed are late: they may change answers over closed ranges.
pub const LATE: chrono::Duration = chrono::Duration::seconds(60);

/// How long after acknowledging a document a store may still leave it out of answers (OpenSearch
/// refreshes every second): answers built that soon after a late write are not trusted either.
const VISIBLE_WITHIN: Duration = Duration::from_secs(5);

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
    /// The query the answer reads, and whether it compares with the previous period.
    fn query(&self) -> (&Query, bool) {
        match self {
            CacheKey::Top(r, c) => (&r.query, *c),
            CacheKey::Slowest(r) => (&r.query, false),
            CacheKey::Timeline(r, c) => (&r.query, *c),
            CacheKey::DurationTimeline(r) => (&r.query, false),
            CacheKey::Summary(q, c) => (q, *c),
            CacheKey::VisitTimes(r, c) => (&r.query, *c),
            CacheKey::Geo(r, c) => (&r.query, *c),
        }
    }

    /// Approximate bytes the key holds, for the cache's size bound.
    fn weight(&self) -> usize {
        let extra = if let CacheKey::VisitTimes(r, _) = self { r.time_zone.len() } else { 0 };
        std::mem::size_of::<CacheKey>() + filter_bytes(&self.query().0.filters) + extra
    }

    /// The time ranges the answer reads: the query's, and the previous period's when compared.
    fn ranges(&self) -> [Option<TimeRange>; 2] {
        let (query, compare) = self.query();
        [Some(query.range), compare.then(|| query.range.previous())]
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
    /// When it was built.
    pub built: Instant,
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
            built: Instant::now(),
        }
    }
}

struct PerEntryTtl;

impl Expiry<CacheKey, Arc<CachedBody>> for PerEntryTtl {
    fn expire_after_create(&self, _key: &CacheKey, value: &Arc<CachedBody>, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Late documents of one UTC day: when the last landed, and the span of all noted since.
#[derive(Debug, Clone, Copy)]
struct LateWrite {
    at: Instant,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

#[derive(Clone)]
pub struct AggregateCache {
    cache: Cache<CacheKey, Arc<CachedBody>>,
    metrics: Arc<Metrics>,
    late: Arc<Mutex<BTreeMap<NaiveDate, LateWrite>>>,
    /// The longest freshness of any answer cached so far (seconds): late writes older than that
    /// cannot make a cached answer stale and are forgotten.
    longest_ttl: Arc<AtomicU64>,
    /// [`VISIBLE_WITHIN`] (zero in tests).
    visible_within: Duration,
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
        Self { cache, metrics, late: Arc::default(), longest_ttl: Arc::default(), visible_within: VISIBLE_WITHIN }
    }

    /// Whether documents that landed after `hit` was built (or too shortly before for the store to
    /// show them) fall in a range it reads.
    fn stale(&self, key: &CacheKey, hit: &CachedBody) -> bool {
        let late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        if late.is_empty() {
            return false;
        }
        key.ranges().into_iter().flatten().any(|range| {
            let days = range.from.date_naive()..=range.to.date_naive();
            late.range(days)
                .any(|(_, w)| w.at + self.visible_within >= hit.built && w.from < range.to && w.to >= range.from)
        })
    }

    /// The cached answer for `key`, or the one `load` produces (once, however many callers wait).
    pub async fn get_or_load<F, E>(&self, key: CacheKey, load: F) -> Result<Arc<CachedBody>, Arc<E>>
    where
        F: Future<Output = Result<CachedBody, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(hit) = self.cache.get(&key).await {
            if !self.stale(&key, &hit) {
                self.metrics.query_cache_hits.inc();
                return Ok(hit);
            }
            self.cache.invalidate(&key).await;
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
                let body = load.await?;
                self.longest_ttl.fetch_max(body.ttl.as_secs(), Ordering::Relaxed);
                Ok(Arc::new(body))
            })
            .await;
        if loaded.load(Ordering::Relaxed) {
            self.metrics.query_cache_misses.inc();
        } else {
            self.metrics.query_cache_hits.inc();
        }
        result
    }

    /// Notes documents indexed now with these timestamps (those inside the live window are ignored).
    pub fn note_indexed(&self, timestamps: impl IntoIterator<Item = DateTime<Utc>>) {
        let now = Instant::now();
        let cutoff = Utc::now() - LATE;
        let mut spans: BTreeMap<NaiveDate, (DateTime<Utc>, DateTime<Utc>)> = BTreeMap::new();
        for t in timestamps.into_iter().filter(|t| *t < cutoff) {
            let span = spans.entry(t.date_naive()).or_insert((t, t));
            span.0 = span.0.min(t);
            span.1 = span.1.max(t);
        }
        if spans.is_empty() {
            return;
        }
        let keep = Duration::from_secs(self.longest_ttl.load(Ordering::Relaxed));
        let mut late = self.late.lock().unwrap_or_else(|p| p.into_inner());
        late.retain(|_, w| now.duration_since(w.at) <= keep + self.visible_within);
        for (day, (from, to)) in spans {
            let w = late.entry(day).or_insert(LateWrite { at: now, from, to });
            *w = LateWrite { at: now, from: w.from.min(from), to: w.to.max(to) };
        }
    }

    /// Runs pending maintenance (evictions); tests call it before reading counters.
    pub async fn sync(&self) {
        self.cache.run_pending_tasks().await;
    }
}

impl IndexedListener for AggregateCache {
    fn indexed(&self, timestamps: &mut dyn Iterator<Item = DateTime<Utc>>) {
        self.note_indexed(timestamps);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

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

#[cfg(test)]
mod late_tests {
    use super::*;

    fn summary(from: &str, to: &str, compare: bool) -> CacheKey {
        let range = TimeRange { from: from.parse().unwrap(), to: to.parse().unwrap() };
        CacheKey::Summary(Query { range, filters: Filters::default() }, compare)
    }

    async fn get(cache: &AggregateCache, key: &CacheKey, answer: &'static [u8]) -> Bytes {
        let loaded = cache
            .get_or_load(key.clone(), async {
                Ok::<_, std::io::Error>(CachedBody::new(Bytes::from_static(answer), Duration::from_secs(600)))
            })
            .await
            .unwrap();
        loaded.body.clone()
    }

    #[tokio::test]
    async fn a_late_document_in_a_cached_range_reloads_it() {
        let mut cache = AggregateCache::new(1 << 20, Arc::new(Metrics::new()));
        cache.visible_within = Duration::ZERO;
        let may = summary("2015-05-17T00:00:00Z", "2015-05-21T00:00:00Z", false);
        let june = summary("2015-06-01T00:00:00Z", "2015-06-02T00:00:00Z", false);
        let june_and_may = summary("2015-06-01T00:00:00Z", "2015-06-02T00:00:00Z", true);
        assert_eq!(get(&cache, &may, b"0").await, "0");
        assert_eq!(get(&cache, &june, b"0").await, "0");
        assert_eq!(get(&cache, &june_and_may, b"0").await, "0");
        // A backfill lands documents of 18 May 2015, and a live one of now.
        cache.note_indexed(["2015-05-18T10:00:00Z".parse().unwrap(), Utc::now()]);
        assert_eq!(get(&cache, &may, b"1").await, "1", "reloaded: the range holds the late document");
        assert_eq!(get(&cache, &may, b"2").await, "1", "cached again after the reload");
        assert_eq!(get(&cache, &june, b"1").await, "0", "another range keeps its answer");
        // 1-2 June compared with 31 May: the previous period does not reach 18 May either.
        assert_eq!(get(&cache, &june_and_may, b"1").await, "0");
        // A document of the range's last instant is outside it (ranges are half-open).
        cache.note_indexed(["2015-05-21T00:00:00Z".parse().unwrap()]);
        assert_eq!(get(&cache, &may, b"3").await, "1");
        cache.note_indexed(["2015-05-31T12:00:00Z".parse().unwrap()]);
        assert_eq!(get(&cache, &june_and_may, b"2").await, "2", "the previous period holds it");
    }

    #[tokio::test]
    async fn answers_built_right_after_a_late_write_are_not_trusted() {
        let cache = AggregateCache::new(1 << 20, Arc::new(Metrics::new()));
        let may = summary("2015-05-17T00:00:00Z", "2015-05-21T00:00:00Z", false);
        cache.note_indexed(["2015-05-18T10:00:00Z".parse().unwrap()]);
        // The store may not show the document yet (OpenSearch's refresh): loaded again next time.
        assert_eq!(get(&cache, &may, b"0").await, "0");
        assert_eq!(get(&cache, &may, b"1").await, "1");
    }
}
