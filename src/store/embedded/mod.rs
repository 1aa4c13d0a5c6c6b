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
//! **Writes** go through one mutex: [`LogStore::index`] adds a batch to the writers of the days it
//! touches, appends its new documents to the write-ahead log and returns once that is fsynced, so an
//! acknowledged document survives a crash (the log is read again at open). The writers commit
//! (tantivy fsyncs the segment files and swaps `meta.json` atomically) every
//! [`EmbeddedOptions::commit_docs`] documents, and before any read while documents wait, so a read
//! sees every acknowledged document; the log is then emptied. At most
//! [`EmbeddedOptions::max_open_writers`] day writers stay open (least recently used committed and
//! closed first). A write that fails half-way drops the writers; the next call adds the log's documents
//! again before anything else.
//!
//! **Deduplication**: a document whose id exists is a [`ItemOutcome::Duplicate`], never written twice.
//! Each open day writer holds the 64-bit hashes of its day's committed ids, loaded from the id column's
//! terms when the writer opens (so it survives restarts) and kept up to date on commit, and the ids it
//! holds uncommitted. A hash miss is a new id; a hit (a replay, or a rare collision) is confirmed on
//! the index itself. Replays carry the same document, hence the same timestamp and day.
//!
//! **Reads** ([`scan`], [`aggs`], [`search`]) are columnar: aggregations read fast fields of the
//! matching documents once per segment and never load stored documents; searches load only the page.

mod aggs;
mod deadletter;
mod filters;
mod scan;
mod schema;
mod search;
mod wal;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::Schema;
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument};

use super::{DeadLetter, IndexDoc, ItemOutcome, LogStore, StoreError, StoreStatus};
use crate::document::LogDocument;
use crate::query::model::{
    GeoRequest, GeoResult, Query, SearchPage, SearchRequest, SummaryResult, TimelineRequest, TimelineResult,
    TopRequest, TopResult, VisitTimesRequest, VisitTimesResult,
};
use deadletter::DeadLetterLog;
use scan::{Identity, hash_bytes};
use schema::{Fields, StandardTokenizer};

const DAY_MS: i64 = 86_400_000;
const LOGS_DIR: &str = "logs";
const DEAD_LETTER_FILE: &str = "deadletter.jsonl";
const WAL_FILE: &str = "wal";
const LOCK_FILE: &str = "LOCK";
/// Prefix of a day directory being deleted (renamed first, so a crash never leaves half an index).
const TRASH_PREFIX: &str = ".trash-";
/// tantivy's floor for one indexing thread's memory.
const MIN_WRITER_MEMORY_PER_THREAD: usize = 15 << 20;

/// Tuning of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Indexing memory of one day writer, all its threads together; a segment is flushed when full.
    pub writer_memory_bytes: usize,
    /// Indexing threads per day writer.
    pub writer_threads: usize,
    /// Day writers kept open at once (late documents for older days open theirs on demand).
    pub max_open_writers: usize,
    /// Threads one read request may use...
    pub query_threads: usize,
    /// ...when it reads at least this many documents.
    pub parallel_min_docs: u64,
    /// Acknowledged documents held in the write-ahead log before the day writers commit them (a read
    /// commits sooner). 1 commits every batch.
    pub commit_docs: usize,
    /// Whether each batch goes to the write-ahead log. Off for bulk loads that can simply run again
    /// (`firesight ingest`: ids come from the files): a batch is then durable only once committed (at
    /// the latest by [`LogStore::refresh`]), and after a write that failed half-way the store refuses
    /// further writes, since batches it accepted may be lost.
    pub write_ahead_log: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        EmbeddedOptions {
            writer_memory_bytes: 256 << 20,
            writer_threads: cores.clamp(1, 8),
            max_open_writers: 4,
            query_threads: cores.clamp(1, 16),
            parallel_min_docs: 100_000,
            commit_docs: 100_000,
            write_ahead_log: true,
        }
    }
}

/// One UTC day's index.
pub struct Day {
    pub date: NaiveDate,
    /// `[start_ms, end_ms)`: the timestamps the day holds.
    pub start_ms: i64,
    pub end_ms: i64,
    index: Index,
    reader: IndexReader,
    /// How the partition stores whole documents (its schema's, fixed at creation).
    stored: schema::Stored,
}

struct DayWriter {
    writer: IndexWriter,
    /// Hashes of every id committed to the day.
    ids: HashSet<u64, Identity>,
    /// Ids added since the last commit.
    uncommitted: HashSet<Box<str>>,
    /// The day's reader may lag behind its last commit (a reload failed): reload before trusting it.
    reader_stale: bool,
    last_used: u64,
}

struct Writers {
    open: HashMap<NaiveDate, DayWriter>,
    tick: u64,
    /// Documents in the log (replays included), or accepted and uncommitted when the log is off.
    logged: usize,
    /// A write failed half-way and the writers were dropped: the log's documents must be added again.
    broken: bool,
}

pub struct EmbeddedStore {
    root: PathBuf,
    schema: Schema,
    fields: Fields,
    options: EmbeddedOptions,
    days: RwLock<BTreeMap<NaiveDate, Arc<Day>>>,
    writers: Mutex<Writers>,
    /// Locked only by a holder of `writers`, which it follows (appended to while a batch is added).
    wal: Mutex<wal::Wal>,
    /// Documents wait uncommitted (or the writers are broken): reads commit first. Set and cleared
    /// under the writers' lock.
    dirty: AtomicBool,
    dead: Mutex<DeadLetterLog>,
    /// Held (locked) while the store is open.
    _lock: fs::File,
}

pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

fn io_error(context: String, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}").into())
}

/// The UTC day of a timestamp, when it can name a directory (years 1 to 9999).
fn day_of(t: &DateTime<Utc>) -> Option<NaiveDate> {
    let day = t.date_naive();
    (1..=9999).contains(&day.year()).then_some(day)
}

fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()
}

/// The day holding epoch millisecond `ms`.
fn day_of_ms(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

fn sync_dir(path: &Path) -> Result<(), StoreError> {
    fs::File::open(path).and_then(|d| d.sync_all()).map_err(|e| io_error(format!("sync {}", path.display()), e))
}

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
        let bytes_layout = schema::bytes_layout(&schema);
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
            if index.schema() != schema && index.schema() != bytes_layout {
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
            writers: Mutex::new(Writers { open: HashMap::new(), tick: 0, logged: 0, broken: recover }),
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
        index.tokenizers().register(schema::ANALYZER, TextAnalyzer::from(StandardTokenizer::default()));
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(unavailable)?;
        let start_ms = day_start_ms(date);
        let stored = schema::Stored::of(&index.schema());
        Ok(Day { date, start_ms, end_ms: start_ms + DAY_MS, index, reader, stored })
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

    fn day_or_create(&self, date: NaiveDate) -> Result<Arc<Day>, StoreError> {
        if let Some(day) = self.days.read().unwrap_or_else(|p| p.into_inner()).get(&date) {
            return Ok(day.clone());
        }
        let mut days = self.days.write().unwrap_or_else(|p| p.into_inner());
        if let Some(day) = days.get(&date) {
            return Ok(day.clone());
        }
        let logs = self.root.join(LOGS_DIR);
        let path = logs.join(date.format("%Y-%m-%d").to_string());
        fs::create_dir_all(&path).map_err(|e| io_error(format!("create {}", path.display()), e))?;
        sync_dir(&logs)?;
        let index = Index::builder().schema(self.schema.clone()).create_in_dir(&path).map_err(unavailable)?;
        let day = Arc::new(Self::day(date, index)?);
        days.insert(date, day.clone());
        Ok(day)
    }

    fn lock_writers(&self) -> MutexGuard<'_, Writers> {
        match self.writers.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A batch panicked half-way: drop what the writers hold uncommitted (what was
                // acknowledged is in the log).
                let mut guard = poisoned.into_inner();
                self.abandon(&mut guard);
                self.writers.clear_poison();
                guard
            }
        }
    }

    /// The log, taken by a holder of the writers' lock. A panic while it was held at worst tore its
    /// last record, which reading it skips.
    fn lock_wal(&self) -> MutexGuard<'_, wal::Wal> {
        self.wal.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The open writer of `date`, opened (and its ids loaded) if needed; the least recently used
    /// writer is committed and closed first when too many are open.
    fn day_writer<'w>(&self, writers: &'w mut Writers, date: NaiveDate) -> Result<&'w mut DayWriter, StoreError> {
        let tick = writers.tick;
        if !writers.open.contains_key(&date) {
            let day = self.day_or_create(date)?;
            while writers.open.len() >= self.options.max_open_writers {
                let Some(oldest) = writers.open.iter().min_by_key(|(_, w)| w.last_used).map(|(d, _)| *d) else {
                    break;
                };
                let mut closing = writers.open.remove(&oldest).expect("present");
                // Still in the log until every writer has committed: committing one alone is safe.
                self.commit_day(oldest, &mut closing)?;
                closing.writer.wait_merging_threads().map_err(unavailable)?;
            }
            let threads = self.options.writer_threads;
            let per_thread = (self.options.writer_memory_bytes / threads).max(MIN_WRITER_MEMORY_PER_THREAD);
            let options = IndexWriterOptions::builder()
                .memory_budget_per_thread(per_thread)
                .num_worker_threads(threads)
                .num_merge_threads(1)
                .build();
            let writer = day.index.writer_with_options(options).map_err(unavailable)?;
            let ids = self.committed_ids(&day)?;
            writers.open.insert(
                date,
                DayWriter { writer, ids, uncommitted: HashSet::new(), reader_stale: false, last_used: tick },
            );
        }
        let w = writers.open.get_mut(&date).expect("opened above");
        w.last_used = tick;
        Ok(w)
    }

    /// Hashes of every id in a day's index (the terms of its `id` columns).
    fn committed_ids(&self, day: &Day) -> Result<HashSet<u64, Identity>, StoreError> {
        day.reader.reload().map_err(unavailable)?;
        let searcher = day.reader.searcher();
        let mut ids = HashSet::with_capacity_and_hasher(searcher.num_docs() as usize, Identity::default());
        for seg in searcher.segment_readers() {
            let Some(column) = seg.fast_fields().str(schema::name::ID).map_err(unavailable)? else { continue };
            let mut terms = column.dictionary().stream().map_err(unavailable)?;
            while terms.advance() {
                ids.insert(hash_bytes(terms.key()));
            }
        }
        Ok(ids)
    }

    /// Whether `id` is committed in `day` (the confirmation of a hash hit).
    fn committed(&self, day: &Day, writer: &mut DayWriter, id: &str) -> Result<bool, StoreError> {
        if writer.reader_stale {
            day.reader.reload().map_err(unavailable)?;
            writer.reader_stale = false;
        }
        for seg in day.reader.searcher().segment_readers() {
            let Some(column) = seg.fast_fields().str(schema::name::ID).map_err(unavailable)? else { continue };
            if column.dictionary().term_ord(id).map_err(unavailable)?.is_some() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The tantivy documents of a batch (`None` for a timestamp no day can hold), built on up to
    /// `writer_threads` threads before the writers are locked: this is the batch's serial part otherwise.
    /// With `log`, also the batch's log record (every document a day can hold: replaying one that is
    /// already there adds nothing).
    fn build_documents(&self, docs: &[IndexDoc], log: bool) -> (Vec<Option<TantivyDocument>>, wal::Record) {
        let fields = self.fields;
        // Partitions created before documents were stored as text keep their bytes field.
        let bytes_days: HashSet<NaiveDate> = self
            .days
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|d| d.stored == schema::Stored::Bytes)
            .map(|d| d.date)
            .collect();
        let bytes_days = &bytes_days;
        let build = move |chunk: &[IndexDoc]| {
            let mut json = Vec::with_capacity(2048);
            let mut record = wal::Record::default();
            let built = chunk
                .iter()
                .map(|item| {
                    day_of(&item.doc.timestamp).map(|date| {
                        let stored =
                            if bytes_days.contains(&date) { schema::Stored::Bytes } else { schema::Stored::Text };
                        let doc = schema::to_document(&fields, &item.id, &item.doc, stored, &mut json);
                        if log {
                            record.push(&item.id, &json);
                        }
                        doc
                    })
                })
                .collect::<Vec<_>>();
            (built, record)
        };
        let threads = self.options.writer_threads.min(docs.len() / 1_000).max(1);
        if threads == 1 {
            return build(docs);
        }
        std::thread::scope(|scope| {
            let parts: Vec<_> =
                docs.chunks(docs.len().div_ceil(threads)).map(|c| scope.spawn(move || build(c))).collect();
            let mut all = (Vec::with_capacity(docs.len()), wal::Record::default());
            for part in parts {
                let (built, record) = part.join().expect("building documents does not panic");
                all.0.extend(built);
                all.1.extend(record);
            }
            all
        })
    }

    fn index_blocking(&self, docs: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        let (built, record) = self.build_documents(docs, self.options.write_ahead_log);
        let mut guard = self.lock_writers();
        let writers = &mut *guard;
        if writers.broken {
            self.recover(writers)?;
        }
        // The log's write and fsync overlap with the indexing of the batch; the batch is acknowledged
        // only once both are done.
        let (added, logged) = if record.is_empty() {
            (self.add_batch(writers, docs, built), Ok(()))
        } else {
            std::thread::scope(|scope| {
                let logging = scope.spawn(|| {
                    let mut wal = self.lock_wal();
                    wal.append(&record).map_err(|e| io_error(format!("append to {}", wal.path().display()), e))
                });
                let added = self.add_batch(writers, docs, built);
                (added, logging.join().expect("appending to the log does not panic"))
            })
        };
        let outcomes = match added.and_then(|outcomes| logged.map(|()| outcomes)) {
            Ok(outcomes) => outcomes,
            Err(e) => {
                self.abandon(writers);
                return Err(e);
            }
        };
        // What the log holds counts, replays included (they are in the log too); without the log,
        // what the writers hold.
        writers.logged += if self.options.write_ahead_log {
            record.len()
        } else {
            outcomes.iter().filter(|o| **o == ItemOutcome::Created).count()
        };
        if writers.logged > 0 {
            self.dirty.store(true, Ordering::Release);
        }
        if writers.logged >= self.options.commit_docs {
            self.commit_all(writers)?;
        }
        Ok(outcomes)
    }

    /// Adds a batch's new documents to their days' writers (uncommitted). An error leaves the writers
    /// holding part of the batch: [`Self::abandon`] them.
    fn add_batch(
        &self,
        writers: &mut Writers,
        docs: &[IndexDoc],
        mut built: Vec<Option<TantivyDocument>>,
    ) -> Result<Vec<ItemOutcome>, StoreError> {
        writers.tick += 1;
        let mut outcomes = Vec::with_capacity(docs.len());
        let mut in_batch: HashSet<&str> = HashSet::with_capacity(docs.len());
        for (item, doc) in docs.iter().zip(built.iter_mut()) {
            outcomes.push(self.add_one(writers, &mut in_batch, item, doc)?);
        }
        Ok(outcomes)
    }

    /// Adds one document of a batch to its day's writer (uncommitted) unless its id exists.
    fn add_one<'a>(
        &self,
        writers: &mut Writers,
        in_batch: &mut HashSet<&'a str>,
        item: &'a IndexDoc,
        doc: &mut Option<TantivyDocument>,
    ) -> Result<ItemOutcome, StoreError> {
        let (Some(date), Some(doc)) = (day_of(&item.doc.timestamp), doc.take()) else {
            return Ok(ItemOutcome::Rejected { status: 400, reason: "timestamp outside the years 1 to 9999".into() });
        };
        if !in_batch.insert(item.id.as_str()) {
            return Ok(ItemOutcome::Duplicate);
        }
        let w = self.day_writer(writers, date)?;
        if w.uncommitted.contains(item.id.as_str()) {
            return Ok(ItemOutcome::Duplicate);
        }
        if w.ids.contains(&hash_bytes(item.id.as_bytes())) {
            let day = self.day_or_create(date)?;
            if self.committed(&day, w, &item.id)? {
                return Ok(ItemOutcome::Duplicate);
            }
        }
        w.writer.add_document(doc).map_err(unavailable)?;
        w.uncommitted.insert(item.id.as_str().into());
        Ok(ItemOutcome::Created)
    }

    /// Commits one day's writer; its uncommitted ids become committed ones.
    fn commit_day(&self, date: NaiveDate, w: &mut DayWriter) -> Result<(), StoreError> {
        if w.uncommitted.is_empty() {
            return Ok(());
        }
        w.reader_stale = true;
        w.writer.commit().map_err(unavailable)?;
        w.ids.extend(w.uncommitted.drain().map(|id| hash_bytes(id.as_bytes())));
        // Committed and durable: a failed reload only delays visibility (the reader stays marked
        // stale and is reloaded before it is trusted).
        match self.day_or_create(date).and_then(|day| day.reader.reload().map_err(unavailable)) {
            Ok(()) => w.reader_stale = false,
            Err(e) => tracing::warn!(%date, error = crate::telemetry::chain(&e), "reader reload failed"),
        }
        Ok(())
    }

    /// Commits every writer holding documents, then empties the log.
    fn commit_all(&self, writers: &mut Writers) -> Result<(), StoreError> {
        let dates: Vec<NaiveDate> = writers.open.keys().copied().collect();
        for date in dates {
            let w = writers.open.get_mut(&date).expect("listed above");
            if let Err(e) = self.commit_day(date, w) {
                // Whether the commit reached the disk is unknown: start again from the disk and the log.
                self.abandon(writers);
                return Err(e);
            }
        }
        let cleared = {
            let mut wal = self.lock_wal();
            wal.clear().map_err(|e| io_error(format!("empty {}", wal.path().display()), e))
        };
        if let Err(e) = cleared {
            self.abandon(writers);
            return Err(e);
        }
        writers.logged = 0;
        self.dirty.store(false, Ordering::Release);
        Ok(())
    }

    /// Drops every open writer and what it holds uncommitted; the next call adds the log's documents
    /// again ([`Self::recover`]).
    fn abandon(&self, writers: &mut Writers) {
        writers.open.clear();
        writers.broken = true;
        self.dirty.store(true, Ordering::Release);
    }

    /// Adds again every logged document that its day does not hold (after a crash, or a write that
    /// failed half-way), and commits them.
    fn recover(&self, writers: &mut Writers) -> Result<(), StoreError> {
        if !self.options.write_ahead_log && writers.logged > 0 {
            return Err(StoreError::Unavailable(
                "a write failed after earlier batches were accepted without the write-ahead log; they may be \
                 lost: run the load again (its ids make that safe)"
                    .into(),
            ));
        }
        writers.open.clear();
        writers.broken = true;
        let (path, entries) = {
            let mut wal = self.lock_wal();
            let path = wal.path().display().to_string();
            let entries = wal.read().map_err(|e| io_error(format!("read {path}"), e))?;
            (path, entries)
        };
        let logged = entries.len();
        let mut unreadable = 0usize;
        for chunk in entries.chunks(10_000) {
            let docs: Vec<IndexDoc> = chunk
                .iter()
                .filter_map(|(id, json)| match serde_json::from_slice::<LogDocument>(json) {
                    Ok(doc) => Some(IndexDoc { id: id.clone(), doc }),
                    Err(e) => {
                        unreadable += 1;
                        tracing::error!(%id, error = %e, "a logged document does not parse; it is skipped");
                        None
                    }
                })
                .collect();
            let (built, _) = self.build_documents(&docs, false);
            if let Err(e) = self.add_batch(writers, &docs, built) {
                writers.open.clear();
                return Err(e);
            }
        }
        writers.broken = false;
        self.commit_all(writers)?;
        if logged > 0 {
            tracing::info!(documents = logged, unreadable, log = %path, "write-ahead log replayed");
        }
        Ok(())
    }

    /// Commits the documents waiting in the log (recovering first if a write failed): what a read
    /// needs to see everything acknowledged.
    fn commit_logged(&self) -> Result<(), StoreError> {
        if !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut guard = self.lock_writers();
        let writers = &mut *guard;
        if writers.broken {
            self.recover(writers)
        } else if writers.logged > 0 {
            self.commit_all(writers)
        } else {
            Ok(())
        }
    }

    /// Deletes every day partition before `day` (retention). Returns the days dropped.
    pub fn drop_days(&self, day: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
        self.commit_logged()?;
        let mut writers = self.lock_writers();
        let dropped: Vec<NaiveDate> =
            self.days.read().unwrap_or_else(|p| p.into_inner()).range(..day).map(|(d, _)| *d).collect();
        let logs = self.root.join(LOGS_DIR);
        for date in &dropped {
            if let Some(w) = writers.open.remove(date) {
                w.writer.wait_merging_threads().map_err(unavailable)?;
            }
            let name = date.format("%Y-%m-%d").to_string();
            let trash = logs.join(format!("{TRASH_PREFIX}{name}"));
            // Searches still running on the day keep its files open (and mapped) until they finish.
            fs::rename(logs.join(&name), &trash).map_err(|e| io_error(format!("rename {name}"), e))?;
            self.days.write().unwrap_or_else(|p| p.into_inner()).remove(date);
            sync_dir(&logs)?;
            fs::remove_dir_all(&trash).map_err(|e| io_error(format!("remove {}", trash.display()), e))?;
        }
        Ok(dropped)
    }

    /// Closes every writer after letting its background merges finish.
    pub fn close(self) -> Result<(), StoreError> {
        self.commit_logged()?;
        let mut writers = self.lock_writers();
        for (_, w) in writers.open.drain() {
            w.writer.wait_merging_threads().map_err(unavailable)?;
        }
        Ok(())
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

    /// Bulk loads (`firesight ingest`) are faster in batches of 50,000 lines than of 10,000 (measured:
    /// 52,000 against 45,000 lines/s on two cores), at the price of about 300 MiB more memory.
    fn batch_hint(&self) -> Option<usize> {
        Some(50_000)
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
