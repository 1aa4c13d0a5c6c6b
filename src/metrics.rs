//! Every Prometheus metric firesight exports, defined in one place. Labels are bounded: routes are the
//! matched route template (never the raw URI), statuses are numbers, outcomes are fixed words.
//!
//! One [`Metrics`] per running service (not a process-global recorder), so several services in one test
//! process keep separate counts. The modules that count hold an `Arc<Metrics>` and update its public
//! fields; this module knows nothing of them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `firehose`, `kinesis`, `replay` (records recovered from Firehose's S3 backup) or `backfill`.
    pub source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FirehoseLabels {
    /// HTTP status answered to Firehose.
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `delivered`, `retry` (failed, will retry) or `failed` (gave up).
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `alert.firing` or `alert.resolved`.
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StreamLabels {
    /// The Kinesis stream's name.
    pub stream: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub stream: String,
    pub shard: String,
}

/// The Kinesis Data Streams consumer's metrics, per stream and shard.
#[derive(Default)]
pub struct KinesisMetrics {
    /// Records read (an aggregated record counts once).
    pub records: Family<ShardLabels, Counter>,
    /// Bytes of record data read.
    pub bytes: Family<ShardLabels, Counter>,
    /// How far the last GetRecords answer was behind the shard's tip.
    pub millis_behind_latest: Family<ShardLabels, Gauge>,
    /// Seconds since the shard's checkpoint last moved, for the shards this replica holds.
    pub checkpoint_age_seconds: Family<ShardLabels, Gauge>,
    /// Shard leases this replica holds.
    pub leases: Family<StreamLabels, Gauge>,
    /// GetRecords and GetShardIterator calls throttled (`ProvisionedThroughputExceededException`).
    pub throttles: Family<StreamLabels, Counter>,
    /// Failed Kinesis calls other than throttles.
    pub errors: Family<StreamLabels, Counter>,
}

impl KinesisMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("kinesis_records", "Kinesis records read", m.records.clone());
        registry.register("kinesis_bytes", "Bytes of Kinesis record data read", m.bytes.clone());
        registry.register(
            "kinesis_millis_behind_latest",
            "Milliseconds the last GetRecords answer was behind the shard's tip",
            m.millis_behind_latest.clone(),
        );
        registry.register(
            "kinesis_checkpoint_age_seconds",
            "Seconds since the checkpoint of a shard this replica holds last moved",
            m.checkpoint_age_seconds.clone(),
        );
        registry.register("kinesis_leases", "Shard leases this replica holds", m.leases.clone());
        registry.register("kinesis_throttles", "Kinesis calls throttled", m.throttles.clone());
        registry.register("kinesis_errors", "Failed Kinesis calls other than throttles", m.errors.clone());
        m
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SkipLabels {
    /// `behind` (the stream fell out of the buffer) or `rate` (over its events per second).
    pub reason: &'static str,
}

/// The live tail's metrics (`/v1/logs/tail`).
#[derive(Default)]
pub struct TailMetrics {
    /// Streams open now.
    pub streams: Gauge,
    /// Documents sent to streams.
    pub events_sent: Counter,
    /// Documents streams skipped and reported in `lag` events, by reason.
    pub events_skipped: Family<SkipLabels, Counter>,
}

impl TailMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("tail_streams", "Live tails (/v1/logs/tail) open now", m.streams.clone());
        registry.register("tail_events_sent", "Documents sent to live tails", m.events_sent.clone());
        registry.register(
            "tail_events_skipped",
            "Documents live tails skipped and reported in lag events, by reason (behind, rate)",
            m.events_skipped.clone(),
        );
        m
    }
}

pub struct Metrics {
    registry: Registry,
    /// The Kinesis Data Streams consumer.
    pub kinesis: KinesisMetrics,
    /// Documents newly indexed.
    pub ingest_indexed: Family<SourceLabels, Counter>,
    /// Documents that were already indexed (replayed deliveries).
    pub ingest_duplicates: Family<SourceLabels, Counter>,
    /// Lines that could not be parsed (kept in the dead-letter store).
    pub ingest_parse_failures: Family<SourceLabels, Counter>,
    /// Lines kept in the dead-letter store for any reason.
    pub ingest_dead_lettered: Family<SourceLabels, Counter>,
    /// Store round trips retried during ingest.
    pub ingest_retries: Family<SourceLabels, Counter>,
    /// Firehose deliveries answered, by status.
    pub firehose_requests: Family<FirehoseLabels, Counter>,
    /// Records received in Firehose deliveries.
    pub firehose_records: Counter,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_request_duration: Family<RouteLabels, Histogram>,
    /// Delivery-error events newly stored by the CloudWatch poller.
    pub cloudwatch_events_stored: Counter,
    /// Events fetched again (the checkpoint's overlap) and recognised as stored.
    pub cloudwatch_events_already_stored: Counter,
    /// Stored events that are not Firehose delivery errors (kept raw).
    pub cloudwatch_unknown_shapes: Counter,
    /// CloudWatch Logs requests refused for the quota.
    pub cloudwatch_throttles: Counter,
    /// Failed polls other than throttling.
    pub cloudwatch_poll_errors: Counter,
    /// Aggregate requests answered from the query cache.
    pub query_cache_hits: Counter,
    /// Aggregate requests that queried the log store.
    pub query_cache_misses: Counter,
    /// Query cache entries evicted for size.
    pub query_cache_evictions: Counter,
    /// Webhook requests by outcome.
    pub webhook_attempts: Family<OutcomeLabels, Counter>,
    /// Alert events written to the outbox, by type.
    pub alert_events: Family<EventLabels, Counter>,
    /// The live tail's streams.
    pub tail: TailMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("firesight");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by matched route and status",
            http_requests.clone(),
        );
        let http_request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by matched route",
            http_request_duration.clone(),
        );
        let ingest_indexed = Family::<SourceLabels, Counter>::default();
        registry.register("ingest_indexed_documents", "Access-log documents newly indexed", ingest_indexed.clone());
        let ingest_duplicates = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingest_duplicate_documents",
            "Documents already indexed under the same id (replayed deliveries)",
            ingest_duplicates.clone(),
        );
        let ingest_parse_failures = Family::<SourceLabels, Counter>::default();
        registry.register("ingest_parse_failures", "Lines that could not be parsed", ingest_parse_failures.clone());
        let ingest_dead_lettered = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingest_dead_letters",
            "Lines written to the dead-letter store",
            ingest_dead_lettered.clone(),
        );
        let ingest_retries = Family::<SourceLabels, Counter>::default();
        registry.register(
            "ingest_store_retries",
            "Log-store round trips retried during ingest",
            ingest_retries.clone(),
        );
        let firehose_requests = Family::<FirehoseLabels, Counter>::default();
        registry.register(
            "firehose_requests",
            "Firehose deliveries answered, by HTTP status",
            firehose_requests.clone(),
        );
        let firehose_records = Counter::default();
        registry.register("firehose_records", "Records received in Firehose deliveries", firehose_records.clone());
        let cloudwatch_events_stored = Counter::default();
        registry.register(
            "cloudwatch_events_stored",
            "Firehose delivery-error events newly stored from CloudWatch Logs",
            cloudwatch_events_stored.clone(),
        );
        let cloudwatch_events_already_stored = Counter::default();
        registry.register(
            "cloudwatch_events_already_stored",
            "CloudWatch events fetched again and recognised as stored",
            cloudwatch_events_already_stored.clone(),
        );
        let cloudwatch_unknown_shapes = Counter::default();
        registry.register(
            "cloudwatch_unknown_shapes",
            "CloudWatch events that are not Firehose delivery errors (stored raw)",
            cloudwatch_unknown_shapes.clone(),
        );
        let cloudwatch_throttles = Counter::default();
        registry.register("cloudwatch_throttles", "CloudWatch Logs requests throttled", cloudwatch_throttles.clone());
        let cloudwatch_poll_errors = Counter::default();
        registry.register(
            "cloudwatch_poll_errors",
            "CloudWatch polls that failed for a reason other than throttling",
            cloudwatch_poll_errors.clone(),
        );
        let query_cache_hits = Counter::default();
        registry.register("query_cache_hits", "Aggregate requests answered from the cache", query_cache_hits.clone());
        let query_cache_misses = Counter::default();
        registry.register(
            "query_cache_misses",
            "Aggregate requests that queried the log store",
            query_cache_misses.clone(),
        );
        let query_cache_evictions = Counter::default();
        registry.register("query_cache_evictions", "Cache entries evicted for size", query_cache_evictions.clone());
        let webhook_attempts = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook requests by outcome (delivered, retry, failed)",
            webhook_attempts.clone(),
        );
        let alert_events = Family::<EventLabels, Counter>::default();
        registry.register("alert_events", "Alert events written to the outbox, by type", alert_events.clone());
        let kinesis = KinesisMetrics::register(&mut registry);
        let tail = TailMetrics::register(&mut registry);
        Self {
            registry,
            kinesis,
            cloudwatch_events_stored,
            cloudwatch_events_already_stored,
            cloudwatch_unknown_shapes,
            cloudwatch_throttles,
            cloudwatch_poll_errors,
            ingest_indexed,
            ingest_duplicates,
            ingest_parse_failures,
            ingest_dead_lettered,
            ingest_retries,
            firehose_requests,
            firehose_records,
            http_requests,
            http_request_duration,
            query_cache_hits,
            query_cache_misses,
            query_cache_evictions,
            webhook_attempts,
            alert_events,
            tail,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_labels() {
        let m = Metrics::new();
        m.http_requests
            .get_or_create(&HttpLabels { method: "GET".into(), route: "/health/live".into(), status: 200 })
            .inc();
        let text = m.render();
        assert!(
            text.contains(r#"firesight_http_requests_total{method="GET",route="/health/live",status="200"} 1"#),
            "{text}"
        );
    }
}
