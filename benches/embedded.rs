//! Embedded store benchmarks on a fixed data set: the real 10,000-line log (tests/fixtures), parsed and
//! enriched once (GeoLite2-City 2019 from `dev/fixtures.sh`), replicated to N documents with distinct
//! ids and the same timestamps (four days, about N/4 documents per day partition), written day by day
//! (each day's lines over and over), generated batch by batch so that 10,000,000 fit.
//!
//! `cargo bench --bench embedded -- [DOCS] [BATCH] [ingest]` (defaults 1,000,000 and 10,000; `ingest`
//! stops after the ingest):
//! - ingest: `EmbeddedStore::index` of the already-parsed documents in batches of BATCH (each durable
//!   in the write-ahead log when the call returns; `BENCH_COMMIT_DOCS=1` commits each instead) into a
//!   fresh store in a temporary directory, up to everything committed; documents/s;
//! - dashboard: the five panels (summary, 1 h timeline, top 10 countries, browsers, paths) over the
//!   whole range, uncached, one after the other and as five concurrent requests on a two-worker runtime;
//!   right after ingest, then after the store is closed (background merges finished) and reopened;
//! - latency panels: every document carries a request duration (a fixed pseudo-random one per copy,
//!   1 ms to 2 s, long-tailed; `BENCH_DURATIONS=0` leaves them out), so the summary computes its duration
//!   percentiles too, and the two latency panels (1 h duration timeline, the ten slowest paths by p95
//!   with at least 5 requests) are measured beside the five, and the seven panels in sequence.
//!
//! - tantivy's own aggregations: the same five panels as one request of tantivy's aggregation framework
//!   (`DistributedAggregationCollector` per day partition, the days searched in parallel and merged),
//!   beside the store's hand-written engine, after reopening;
//! - peak resident memory (`VmHWM`) after the ingest and at the end.
//!
//! `BENCH_DIR=DIR` keeps the store there: the first run fills it, later runs with the same DOCS open
//! it and measure the dashboards without ingesting again. A third argument names one panel to run over
//! and over for ten seconds, for a profiler (`summary`, `timeline`, `durations`, `slowest`, otherwise top
//! paths), or `ingest` to stop after the ingest.

mod common;
use common::{geolite, peak_rss_mib, real_log};

use std::sync::Arc;
use std::time::{Duration, Instant};

use firesight::enrich::{Enricher, GeoIp, UserAgentParser};
use firesight::ingest::{SourceLine, ids, prepare};
use firesight::query::model::{
    Dimension, DurationRank, DurationTimelineRequest, Filters, Query, SlowestRequest, Split, TimeRange,
    TimelineRequest, TopRequest,
};
use firesight::store::embedded::{EmbeddedOptions, EmbeddedStore};
use firesight::store::{IndexDoc, ItemOutcome, LogStore};

/// The parsed log, grouped by UTC day.
fn log_by_day() -> std::collections::BTreeMap<chrono::NaiveDate, Vec<IndexDoc>> {
    let enricher = Enricher::new(Some(GeoIp::open(&geolite(), None).unwrap()), UserAgentParser::new().unwrap());
    let lines = real_log()
        .into_iter()
        .enumerate()
        .map(|(i, text)| SourceLine {
            id: ids::backfill_id(b"bench-embedded", i as u64),
            text,
            fallback_time: None,
            firehose: None,
            reject: None,
        })
        .collect();
    let mut by_day: std::collections::BTreeMap<chrono::NaiveDate, Vec<IndexDoc>> = Default::default();
    for d in prepare(lines, &enricher, "bench", chrono::Utc::now()).docs {
        by_day.entry(d.doc.timestamp.date_naive()).or_default().push(d);
    }
    by_day
}

/// `n` documents, generated as they are written (10,000,000 do not fit in memory at once): the parsed
/// log replicated, each copy its own ids, day after day as a live stream or a backfill delivers them;
/// within a day, the day's lines again and again, so that neighbouring documents differ as in a real
/// log. Exactly `n`: the last day gives up the surplus.
fn documents(
    by_day: &std::collections::BTreeMap<chrono::NaiveDate, Vec<IndexDoc>>,
    n: usize,
) -> impl Iterator<Item = IndexDoc> + '_ {
    let copies = n.div_ceil(by_day.values().map(Vec::len).sum());
    by_day.values().flat_map(move |day| (0..copies).flat_map(move |_| day.iter())).take(n).enumerate().map(|(i, d)| {
        let mut doc = d.doc.clone();
        if durations() {
            doc.event.duration = Some(duration_ns(i as u64));
        }
        IndexDoc { id: ids::backfill_id(b"bench-embedded-copy", i as u64), doc }
    })
}

fn durations() -> bool {
    std::env::var("BENCH_DURATIONS").map_or(true, |v| v != "0")
}

/// A long-tailed request duration between 1 ms and about 2 s, fixed per document.
fn duration_ns(i: u64) -> u64 {
    let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let u = (h % 10_000) as f64 / 10_000.0;
    (1_000_000.0 * (1.0 + 2000.0 * u.powi(6))) as u64
}

/// The two latency panels: the duration timeline and the slowest paths.
async fn latency_panels(store: &EmbeddedStore) -> u64 {
    duration_timeline(store).await + slowest(store).await
}

/// The 1 h duration timeline (p50/p95/p99 per bucket).
async fn duration_timeline(store: &EmbeddedStore) -> u64 {
    let request = DurationTimelineRequest { query: query(), interval_secs: 3600 };
    store.duration_timeline(&request).await.unwrap().buckets.len() as u64
}

/// The ten slowest paths by p95 with at least 5 requests.
async fn slowest(store: &EmbeddedStore) -> u64 {
    let request = SlowestRequest { query: query(), rank_by: DurationRank::P95, limit: 10, min_requests: 5 };
    store.slowest(&request).await.unwrap().buckets.len() as u64
}

fn query() -> Query {
    Query {
        range: TimeRange { from: "2015-05-17T00:00:00Z".parse().unwrap(), to: "2015-05-21T00:00:00Z".parse().unwrap() },
        filters: Filters::default(),
    }
}

/// The five panels, one after the other.
async fn dashboard(store: &EmbeddedStore, split: Split) -> u64 {
    let q = query();
    let summary = store.summary(&q).await.unwrap();
    let timeline = store.timeline(&TimelineRequest { query: q.clone(), interval_secs: 3600, split }).await.unwrap();
    let mut n = summary.requests + timeline.buckets.len() as u64;
    for dimension in [Dimension::Country, Dimension::Browser, Dimension::Path] {
        n += store.top(&TopRequest { query: q.clone(), dimension, limit: 10 }).await.unwrap().total;
    }
    n
}

/// The five panels as five concurrent requests.
async fn dashboard_concurrent(store: &Arc<EmbeddedStore>, split: Split) -> u64 {
    let q = query();
    let mut tasks = Vec::new();
    {
        let (store, q) = (store.clone(), q.clone());
        tasks.push(tokio::spawn(async move { store.summary(&q).await.unwrap().requests }));
    }
    {
        let (store, q) = (store.clone(), q.clone());
        tasks.push(tokio::spawn(async move {
            let request = TimelineRequest { query: q, interval_secs: 3600, split };
            store.timeline(&request).await.unwrap().buckets.len() as u64
        }));
    }
    for dimension in [Dimension::Country, Dimension::Browser, Dimension::Path] {
        let (store, q) = (store.clone(), q.clone());
        tasks.push(tokio::spawn(async move {
            store.top(&TopRequest { query: q, dimension, limit: 10 }).await.unwrap().total
        }));
    }
    let mut n = 0;
    for t in tasks {
        n += t.await.unwrap();
    }
    n
}

fn stats(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "median {:.1} ms, min {:.1} ms, p90 {:.1} ms ({} runs)",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() * 9 / 10]),
        samples.len()
    )
}

async fn measure_dashboards(store: &Arc<EmbeddedStore>, label: &str) {
    for (name, split) in [("no split", Split::None), ("status-class split", Split::StatusClass)] {
        // Per panel, sequential.
        let q = query();
        let mut per_panel: Vec<(&str, Vec<Duration>)> = vec![
            ("summary", Vec::new()),
            ("timeline", Vec::new()),
            ("top country", Vec::new()),
            ("top browser", Vec::new()),
            ("top path", Vec::new()),
        ];
        let (mut sequential, mut concurrent) = (Vec::new(), Vec::new());
        for run in 0..22 {
            let warm = run < 2;
            let t = Instant::now();
            dashboard(store, split).await;
            if !warm {
                sequential.push(t.elapsed());
            }
            let t = Instant::now();
            dashboard_concurrent(store, split).await;
            if !warm {
                concurrent.push(t.elapsed());
            }
            let t = Instant::now();
            store.summary(&q).await.unwrap();
            per_panel[0].1.push(t.elapsed());
            let t = Instant::now();
            store.timeline(&TimelineRequest { query: q.clone(), interval_secs: 3600, split }).await.unwrap();
            per_panel[1].1.push(t.elapsed());
            for (i, dimension) in [Dimension::Country, Dimension::Browser, Dimension::Path].into_iter().enumerate() {
                let t = Instant::now();
                store.top(&TopRequest { query: q.clone(), dimension, limit: 10 }).await.unwrap();
                per_panel[2 + i].1.push(t.elapsed());
            }
        }
        println!("dashboard {label}, timeline {name}:");
        println!("  five panels one after the other: {}", stats(sequential));
        println!("  five panels concurrently:        {}", stats(concurrent));
        for (panel, samples) in per_panel {
            println!("    {panel:<12} {}", stats(samples));
        }
    }
    if durations() {
        let (mut latency, mut seven, mut timeline, mut slow) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for run in 0..22 {
            let t = Instant::now();
            duration_timeline(store).await;
            let timeline_time = t.elapsed();
            slowest(store).await;
            let latency_time = t.elapsed();
            let t = Instant::now();
            dashboard(store, Split::None).await;
            latency_panels(store).await;
            if run >= 2 {
                latency.push(latency_time);
                seven.push(t.elapsed());
                timeline.push(timeline_time);
                slow.push(latency_time - timeline_time);
            }
        }
        println!("latency panels {label} (duration timeline + slowest paths): {}", stats(latency));
        println!("    duration timeline {}", stats(timeline));
        println!("    slowest paths     {}", stats(slow));
        println!("  seven panels one after the other: {}", stats(seven));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let batch: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let by_day = log_by_day();
        // BENCH_DIR: a kept store; the first run fills it, later runs skip the ingest and only read.
        let kept = std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from);
        let reuse = kept.as_ref().is_some_and(|d| d.join("logs").is_dir());
        let mut docs = documents(&by_day, if reuse { 0 } else { n });
        let temp = tempfile::tempdir().unwrap();
        let dir_path = kept.clone().unwrap_or_else(|| temp.path().to_owned());
        let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<usize>().ok());
        let options = EmbeddedOptions {
            writer_threads: env("BENCH_WRITER_THREADS").unwrap_or(EmbeddedOptions::default().writer_threads),
            // 1: every batch committed before it returns (no write-ahead log in between).
            commit_docs: env("BENCH_COMMIT_DOCS").unwrap_or(EmbeddedOptions::default().commit_docs),
            // 0: no write-ahead log (a bulk load's setting).
            write_ahead_log: env("BENCH_WAL") != Some(0),
            ..EmbeddedOptions::default()
        };
        println!("{options:?}");
        let options_commit_docs = options.commit_docs;
        let store = EmbeddedStore::open(&dir_path, options).unwrap();
        if reuse {
            println!("reusing the store in {} (no ingest)", dir_path.display());
        }
        let started = Instant::now();
        let mut generating = Duration::ZERO;
        loop {
            let t = Instant::now();
            let chunk: Vec<IndexDoc> = docs.by_ref().take(batch).collect();
            generating += t.elapsed();
            if chunk.is_empty() {
                break;
            }
            let outcomes = store.index(&chunk).await.unwrap();
            assert!(outcomes.iter().all(|o| *o == ItemOutcome::Created));
        }
        // Everything committed and searchable, not only logged.
        store.refresh().await.unwrap();
        // Cloning the documents is the bench's own work, not the store's.
        let elapsed = started.elapsed() - generating;
        if !reuse {
            println!(
                "ingest: {n} documents in batches of {batch} (each durable when it returns; commits every {} documents \
             and at the end) in {:.2} s = {:.0} docs/s",
                options_commit_docs,
                elapsed.as_secs_f64(),
                n as f64 / elapsed.as_secs_f64()
            );
            println!("peak RSS after the ingest: {} MiB", peak_rss_mib());
        }
        drop(docs);
        drop(by_day);
        if args.get(2).is_some_and(|a| a == "ingest") {
            return;
        }
        store.refresh().await.unwrap();
        if let Some(panel) = args.get(2).filter(|a| a.as_str() != "ingest") {
            // Profiling aid: one panel over and over.
            let q = query();
            let t = Instant::now();
            let mut runs = 0;
            while t.elapsed() < Duration::from_secs(10) {
                match panel.as_str() {
                    "summary" => drop(store.summary(&q).await.unwrap()),
                    "durations" => drop(duration_timeline(&store).await),
                    "slowest" => drop(slowest(&store).await),
                    "timeline" => drop(
                        store
                            .timeline(&TimelineRequest { query: q.clone(), interval_secs: 3600, split: Split::None })
                            .await
                            .unwrap(),
                    ),
                    _ => drop(
                        store
                            .top(&TopRequest { query: q.clone(), dimension: Dimension::Path, limit: 10 })
                            .await
                            .unwrap(),
                    ),
                }
                runs += 1;
            }
            println!("{panel}: {:.2} ms per run", t.elapsed().as_secs_f64() * 1000.0 / runs as f64);
            return;
        }
        println!("segments per day right after ingest: {:?}", store.segment_counts());
        let store = Arc::new(store);
        measure_dashboards(&store, "right after ingest").await;

        let store = Arc::into_inner(store).expect("no other reference");
        let t = Instant::now();
        store.close().unwrap();
        println!("close (waiting for merges): {:.1} s", t.elapsed().as_secs_f64());
        let store = Arc::new(EmbeddedStore::open(&dir_path, EmbeddedOptions::default()).unwrap());
        println!("segments per day after reopening: {:?}", store.segment_counts());
        measure_dashboards(&store, "after reopening").await;
        tantivy_aggregations(&dir_path.join("logs"));
        let size: u64 = walk(&dir_path);
        println!("on disk: {:.0} MB ({:.0} bytes/doc)", size as f64 / 1e6, size as f64 / n as f64);
        println!("peak RSS: {} MiB", peak_rss_mib());
    });
}

/// The five panels as one request of tantivy's own aggregation framework, over every day partition
/// (searched in parallel, merged as tantivy merges distributed results): what the store's hand-written
/// engine buys. Close to the panels, not the same: tantivy's percentiles are sketches where the store's
/// are exact, and its visitor cardinality is over the whole range where the store sums days.
fn tantivy_aggregations(logs: &std::path::Path) {
    use tantivy::aggregation::agg_req::Aggregations;
    use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
    use tantivy::aggregation::{AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector};

    let request = serde_json::json!({
        "requests": { "value_count": { "field": "ts" } },
        "visitors": { "cardinality": { "field": "visitor" } },
        "client_ips": { "cardinality": { "field": "client_ip" } },
        "bytes": { "sum": { "field": "bytes" } },
        "bytes_percentiles": { "percentiles": { "field": "bytes", "percents": [50.0, 95.0, 99.0] } },
        "status_classes": { "terms": { "field": "status_class", "size": 5 } },
        "bots": { "terms": { "field": "bot", "size": 2 } },
        "duration_percentiles": { "percentiles": { "field": "duration", "percents": [50.0, 90.0, 95.0, 99.0] } },
        "duration_max": { "max": { "field": "duration" } },
        "timeline": { "histogram": { "field": "ts", "interval": 3_600_000.0 } },
        "countries": { "terms": { "field": "country", "size": 10 } },
        "browsers": { "terms": { "field": "browser", "size": 10 } },
        "paths": { "terms": { "field": "path", "size": 10 } }
    });
    let aggregations: Aggregations = serde_json::from_value(request).unwrap();
    let mut days: Vec<_> = std::fs::read_dir(logs).unwrap().map(|e| e.unwrap().path()).collect();
    days.sort();
    let searchers: Vec<tantivy::Searcher> =
        days.iter().map(|day| tantivy::Index::open_in_dir(day).unwrap().reader().unwrap().searcher()).collect();
    let run = || {
        let parts: Vec<IntermediateAggregationResults> = std::thread::scope(|scope| {
            let handles: Vec<_> = searchers
                .iter()
                .map(|searcher| {
                    let collector = DistributedAggregationCollector::from_aggs(
                        aggregations.clone(),
                        AggContextParams::new(AggregationLimitsGuard::default(), Default::default()),
                    );
                    scope.spawn(move || searcher.search(&tantivy::query::AllQuery, &collector).unwrap())
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut merged = parts.into_iter().reduce(|mut a, b| {
            a.merge_fruits(b).unwrap();
            a
        });
        merged.take().unwrap().into_final_result(aggregations.clone(), AggregationLimitsGuard::default()).unwrap()
    };
    let answer = serde_json::to_value(run()).unwrap();
    let requests = &answer["requests"]["value"];
    let top_country = &answer["countries"]["buckets"][0];
    let mut samples = Vec::new();
    for _ in 0..22 {
        let t = Instant::now();
        std::hint::black_box(run());
        samples.push(t.elapsed());
    }
    samples.drain(..2);
    println!(
        "tantivy's aggregations, the five panels as one request ({requests} requests, top country {top_country}): {}",
        stats(samples)
    );
}

fn walk(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() { walk(&e.path()) } else { meta.len() }
        })
        .sum()
}
