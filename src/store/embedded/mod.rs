//! The embedded log store: firesight on one machine, no cluster. A second adapter of [`LogStore`] on
//! tantivy, answering every read of [`crate::query::model`] as the OpenSearch adapter does.
//!
//! Layout under the data directory:
//! - `logs/YYYY-MM-DD/`: one tantivy index per UTC day (documents routed by their own timestamp), so
//!   retention drops whole directories ([`EmbeddedStore::drop_days`]) and a query opens only the
//!   days its range overlaps;
//! - `wal`: the write-ahead log of acknowledged documents not yet committed to their day ([`wal`]);
//! - `deadletter.jsonl`: the dead letters, appended and fsynced ([`deadletter`]);
//! - `LOCK`: held by the one process that has the store open.
//!
//! This file opens the store: [`EmbeddedStore::open`] (the lock, the day partitions found on disk, the
//! dead letters, the log); it finds the day partitions a query's range overlaps, and holds the
//! [`LogStore`] impl, which runs each call off the async runtime and hands it to its side. The state
//! those sides share is in [`state`] (the store, its options, the writers' state) and [`day`] (a day
//! partition, the directory names, the error conversions), which import none of the sides.
//!
//! **Writes** ([`write`]) go through one mutex: a batch goes to the writers of the days it touches and
//! is acknowledged once the write-ahead log holds it, fsynced; the writers commit every
//! [`EmbeddedOptions::commit_docs`] documents, and before any read while documents wait, so a read
//! sees every acknowledged document. A document whose id exists is a [`ItemOutcome::Duplicate`],
//! never written twice. At open, documents left in the log (a crash) are committed first.
//!
//! **Reads** ([`scan`], [`aggs`], [`search`]) are columnar: aggregations read fast fields of the
//! matching documents once per segment and never load stored documents; searches load only the page.

mod aggs;
mod day;
mod deadletter;
mod filters;
mod idset;
mod scan;
mod schema;
mod search;
mod state;
mod tokenizer;
mod wal;
mod write;

#[cfg(test)]
mod tests;

pub use state::{EmbeddedOptions, EmbeddedStore};
pub use tokenizer::tokens;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::NaiveDate;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, ReloadPolicy};

use super::{DeadLetter, IndexDoc, ItemOutcome, LogStore, StoreError, StoreStatus};
use crate::query::model::{
    DurationTimelineRequest, DurationTimelineResult, GeoRequest, GeoResult, Query, SearchPage, SearchRequest,
    SlowestRequest, SlowestResult, SummaryResult, TimelineRequest, TimelineResult, TopRequest, TopResult,
    VisitTimesRequest, VisitTimesResult,
};
use day::{DAY_MS, Day, LOGS_DIR, TRASH_PREFIX, day_of_ms, day_start_ms, io_error, unavailable};
use deadletter::DeadLetterLog;
use state::Writers;
use tokenizer::StandardTokenizer;

const DEAD_LETTER_FILE: &str = "deadletter.jsonl";
const WAL_FILE: &str = "wal";
const LOCK_FILE: &str = "LOCK";

/// Runs blocking work without stalling the async runtime: in place on a multi-threaded runtime (its
/// other tasks move to another worker), directly elsewhere.
fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

impl EmbeddedStore {
    /// Opens (or creates) the store under `dir`: every day partition found, the dead-letter file.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<Self, StoreError> {
        if options.writer_threads == 0
            || options.max_open_writers == 0
            || options.query_threads == 0
            || options.commit_docs == 0
        {
            return Err(StoreError::BadRequest(
                "writer_threads, max_open_writers, query_threads and commit_docs must be positive".into(),
            ));
        }
        fs::create_dir_all(dir).map_err(|e| io_error(format!("create {}", dir.display()), e))?;
        let lock = Self::lock(dir)?;
        let logs = dir.join(LOGS_DIR);
        fs::create_dir_all(&logs).map_err(|e| io_error(format!("create {}", logs.display()), e))?;
        let (schema, fields) = schema::schema();
        let untimed = schema::untimed_layout(&schema);
        let crawlerless = schema::crawlerless_layout(&schema);
        let layouts = [
            schema::bytes_layout(&schema),
            schema::bytes_layout(&untimed),
            untimed,
            schema::bytes_layout(&crawlerless),
            crawlerless,
        ];
        let mut days = BTreeMap::new();
        let entries = fs::read_dir(&logs).map_err(|e| io_error(format!("read {}", logs.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_error(format!("read {}", logs.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with(TRASH_PREFIX) {
                fs::remove_dir_all(&path).map_err(|e| io_error(format!("remove {}", path.display()), e))?;
                continue;
            }
            let Ok(date) = NaiveDate::parse_from_str(&name, "%Y-%m-%d") else { continue };
            if !path.join("meta.json").is_file() {
                // Created but never committed (a crash right after creating it): nothing to keep.
                fs::remove_dir_all(&path).map_err(|e| io_error(format!("remove {}", path.display()), e))?;
                continue;
            }
            let index = Index::open_in_dir(&path).map_err(unavailable)?;
            if index.schema() != schema && !layouts.contains(&index.schema()) {
                return Err(StoreError::Protocol(
                    format!("{} was written with another schema (another firesight version)", path.display()).into(),
                ));
            }
            days.insert(date, Arc::new(Self::day(date, index)?));
        }
        let dead = DeadLetterLog::open(&dir.join(DEAD_LETTER_FILE))
            .map_err(|e| io_error(format!("open {}", dir.join(DEAD_LETTER_FILE).display()), e))?;
        let wal = wal::Wal::open(&dir.join(WAL_FILE))
            .map_err(|e| io_error(format!("open {}", dir.join(WAL_FILE).display()), e))?;
        let recover = !wal.is_empty();
        let store = EmbeddedStore {
            root: dir.to_owned(),
            schema,
            fields,
            options,
            days: RwLock::new(days),
            writers: Mutex::new(Writers::new(recover)),
            wal: Mutex::new(wal),
            dirty: AtomicBool::new(recover),
            dead: Mutex::new(dead),
            _lock: lock,
        };
        if recover {
            // Documents acknowledged before a crash: commit them before the first read.
            store.commit_logged()?;
        }
        Ok(store)
    }

    /// One process per data directory: `serve`, `ingest` and `migrate-store` would otherwise write the
    /// same days behind each other's backs. The kernel releases the lock when the process ends, however
    /// it ends.
    fn lock(dir: &Path) -> Result<fs::File, StoreError> {
        let path = dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(format!("open {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Unavailable(
                format!(
                    "{} is in use by another firesight process (serve, ingest or migrate-store); stop it first, \
                     or send the logs to the running service",
                    dir.display()
                )
                .into(),
            )),
            Err(fs::TryLockError::Error(e)) => Err(io_error(format!("lock {}", path.display()), e)),
        }
    }

    fn day(date: NaiveDate, index: Index) -> Result<Day, StoreError> {
        index.tokenizers().register(tokenizer::ANALYZER, TextAnalyzer::from(StandardTokenizer::default()));
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(unavailable)?;
        let start_ms = day_start_ms(date);
        let layout = schema::Layout::of(&index.schema());
        Ok(Day { date, start_ms, end_ms: start_ms + DAY_MS, index, reader, layout })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The days that have a partition, oldest first.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.days.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect()
    }

    /// Searchable segments per day partition, oldest day first.
    pub fn segment_counts(&self) -> Vec<(NaiveDate, usize)> {
        let days = self.days.read().unwrap_or_else(|p| p.into_inner());
        days.values().map(|d| (d.date, d.reader.searcher().segment_readers().len())).collect()
    }

    /// Every dead letter written so far, oldest first (`_id` included).
    pub fn dead_letters(&self) -> Result<Vec<serde_json::Value>, StoreError> {
        let path = self.root.join(DEAD_LETTER_FILE);
        DeadLetterLog::read_all(&path).map_err(|e| io_error(format!("read {}", path.display()), e))
    }

    /// The partitions whose day overlaps `[from_ms, to_ms)`, oldest first.
    fn days_in(&self, from_ms: i64, to_ms: i64) -> Vec<Arc<Day>> {
        if to_ms <= from_ms {
            return Vec::new();
        }
        let (Some(first), Some(last)) = (day_of_ms(from_ms), day_of_ms(to_ms - 1)) else { return Vec::new() };
        self.days.read().unwrap_or_else(|p| p.into_inner()).range(first..=last).map(|(_, d)| d.clone()).collect()
    }

    /// The partitions a query reads, with the query of each.
    fn parts(&self, query: &Query) -> Result<Vec<scan::Part>, StoreError> {
        let (from, to) = (filters::ceil_millis(query.range.from), filters::ceil_millis(query.range.to));
        scan::parts(self.days_in(from, to), (from, to), &query.filters, &self.schema, &self.fields)
    }

    /// `(threads, min_docs)` for [`scan::fold_segments`].
    fn threads(&self) -> (usize, u64) {
        (self.options.query_threads, self.options.parallel_min_docs)
    }

    fn status_now(&self) -> StoreStatus {
        StoreStatus { kind: "embedded", version: Some(tantivy::version_string().to_owned()), schema_installed: true }
    }
}

#[async_trait]
impl LogStore for EmbeddedStore {
    fn kind(&self) -> &'static str {
        "embedded"
    }

    async fn prepare(&self) -> Result<StoreStatus, StoreError> {
        Ok(self.status_now())
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let logs = self.root.join(LOGS_DIR);
        if !logs.is_dir() {
            return Err(StoreError::Unavailable(format!("{} is gone", logs.display()).into()));
        }
        Ok(self.status_now())
    }

    async fn index(&self, docs: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        blocking(|| self.index_blocking(docs))
    }

    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        blocking(|| {
            let mut dead = self.dead.lock().unwrap_or_else(|p| p.into_inner());
            let path = dead.path().display().to_string();
            dead.append(letters).map_err(|e| io_error(format!("append to {path}"), e))
        })
    }

    async fn refresh(&self) -> Result<(), StoreError> {
        blocking(|| {
            self.commit_logged()?;
            let days: Vec<Arc<Day>> = self.days.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
            for day in days {
                day.reader.reload().map_err(unavailable)?;
            }
            Ok(())
        })
    }

    async fn flush(&self) -> Result<(), StoreError> {
        blocking(|| self.commit_logged())
    }

    /// Bulk loads (`firesight ingest`) go in batches of 1,000 lines: the writers commit every
    /// `commit_docs` documents rather than every batch, so larger ones are no faster (5,000 were
    /// slower, measured in BENCHMARKS.md), and each batch in flight costs about 4 KiB a line (the
    /// lines, their documents, the tantivy documents).
    fn batch_hint(&self) -> Option<usize> {
        Some(1_000)
    }

    async fn drop_days_before(&self, day: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
        blocking(|| self.drop_days(day))
    }

    async fn search(&self, request: &SearchRequest) -> Result<SearchPage, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_search(request)))
    }

    async fn top(&self, request: &TopRequest) -> Result<TopResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_top(request)))
    }

    async fn timeline(&self, request: &TimelineRequest) -> Result<TimelineResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_timeline(request)))
    }

    async fn duration_timeline(&self, request: &DurationTimelineRequest) -> Result<DurationTimelineResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_duration_timeline(request)))
    }

    async fn slowest(&self, request: &SlowestRequest) -> Result<SlowestResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_slowest(request)))
    }

    async fn summary(&self, query: &Query) -> Result<SummaryResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_summary(query)))
    }

    async fn visit_times(&self, request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_visit_times(request)))
    }

    async fn geo(&self, request: &GeoRequest) -> Result<GeoResult, StoreError> {
        blocking(|| self.commit_logged().and_then(|()| self.read_geo(request)))
    }
}
