//! The write side of the embedded store: batches from [`LogStore::index`] into the day partitions
//! under `logs/`, through the write-ahead log ([`super::wal`]); and retention and closing, which drop
//! or close the day writers.
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
//! The store ([`EmbeddedStore`], in [`super::state`]) holds the writers' state ([`Writers`]); the store's
//! [`LogStore`] impl ([`super`]) calls in here: `index_blocking` for a batch, `commit_logged` at open (to
//! replay what the log holds) and before every read.
//!
//! [`LogStore`]: crate::store::LogStore
//! [`LogStore::index`]: crate::store::LogStore::index
//! [`EmbeddedOptions::commit_docs`]: super::EmbeddedOptions::commit_docs
//! [`EmbeddedOptions::max_open_writers`]: super::EmbeddedOptions::max_open_writers

use std::collections::{HashMap, HashSet};
use std::fs;
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use tantivy::indexer::IndexWriterOptions;
use tantivy::{Index, TantivyDocument};

use super::day::{Day, LOGS_DIR, TRASH_PREFIX, io_error, sync_dir, unavailable};
use super::idset::IdFilter;
use super::scan::hash_bytes;
use super::state::{DayWriter, EmbeddedStore, Writers};
use super::{schema, wal};
use crate::document::LogDocument;
use crate::store::{IndexDoc, ItemOutcome, StoreError};

/// tantivy's floor for one indexing thread's memory.
const MIN_WRITER_MEMORY_PER_THREAD: usize = 15 << 20;

/// Indexing threads of one day writer and the memory of each: the writer's share of the budget
/// (`writer_memory_bytes` over `max_open_writers`) in threads of at least tantivy's floor, up to
/// `writer_threads`; one thread at the floor when the share is smaller. Each thread fills its own
/// segment, so the budget holds however many days are written at once (two threads index a
/// time-ordered backfill, one day at a time, about a fifth faster than one on two cores: BENCHMARKS.md).
fn writer_threads(options: &super::EmbeddedOptions) -> (usize, usize) {
    let share = options.writer_memory_bytes / options.max_open_writers;
    let threads = (share / MIN_WRITER_MEMORY_PER_THREAD).clamp(1, options.writer_threads);
    (threads, (share / threads).max(MIN_WRITER_MEMORY_PER_THREAD))
}

/// The UTC day of a timestamp, when it can name a directory (years 1 to 9999).
fn day_of(t: &DateTime<Utc>) -> Option<NaiveDate> {
    let day = t.date_naive();
    (1..=9999).contains(&day.year()).then_some(day)
}

impl EmbeddedStore {
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
        // The document store is compressed on the indexing thread, not on a thread tantivy starts for
        // each segment (a backfill started 176): 6-7% faster and 15 MiB smaller at the peak of a
        // backfill, as fast under a delivery load (BENCHMARKS.md). Partitions keep the setting they
        // were created with.
        let settings = tantivy::IndexSettings { docstore_compress_dedicated_thread: false, ..Default::default() };
        let index = Index::builder()
            .schema(self.schema.clone())
            .settings(settings)
            .create_in_dir(&path)
            .map_err(unavailable)?;
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
            let (threads, per_thread) = writer_threads(&self.options);
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
    fn committed_ids(&self, day: &Day) -> Result<IdFilter, StoreError> {
        day.reader.reload().map_err(unavailable)?;
        let mut ids = IdFilter::default();
        for seg in day.reader.searcher().segment_readers() {
            let Some(column) = seg.fast_fields().str(schema::name::ID).map_err(unavailable)? else { continue };
            let mut terms = column.dictionary().stream().map_err(unavailable)?;
            let mut hashes = Vec::with_capacity(seg.num_docs() as usize);
            while terms.advance() {
                hashes.push(hash_bytes(terms.key()));
            }
            ids.extend(hashes);
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
        // Partitions created before documents were stored as text keep their bytes field, those created
        // before `duration` and `vhost` go without them.
        let old_days: HashMap<NaiveDate, schema::Layout> = self
            .days
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|d| d.layout != schema::Layout::CURRENT)
            .map(|d| (d.date, d.layout))
            .collect();
        let old_days = &old_days;
        let build = move |chunk: &[IndexDoc]| {
            let mut json = Vec::with_capacity(2048);
            let mut record = wal::Record::default();
            let built = chunk
                .iter()
                .map(|item| {
                    day_of(&item.doc.timestamp).map(|date| {
                        let layout = old_days.get(&date).copied().unwrap_or(schema::Layout::CURRENT);
                        let doc = schema::to_document(&fields, &item.id, &item.doc, layout, &mut json);
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

    pub(super) fn index_blocking(&self, docs: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
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
        if w.ids.may_contain(hash_bytes(item.id.as_bytes())) {
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
    pub(super) fn commit_logged(&self) -> Result<(), StoreError> {
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
}

#[cfg(test)]
mod tests {
    use super::{MIN_WRITER_MEMORY_PER_THREAD, writer_threads};
    use crate::store::embedded::EmbeddedOptions;

    #[test]
    fn a_writer_gets_the_threads_its_share_of_the_budget_pays_for() {
        let options = |mib: usize, open: usize, threads: usize| EmbeddedOptions {
            writer_memory_bytes: mib << 20,
            max_open_writers: open,
            writer_threads: threads,
            ..EmbeddedOptions::default()
        };
        // The default: 128 MiB over four days is 32 MiB a writer, two threads; half that, one.
        assert_eq!(writer_threads(&options(128, 4, 2)), (2, 16 << 20));
        assert_eq!(writer_threads(&options(64, 4, 2)), (1, 16 << 20));
        // Never more threads than configured; never below tantivy's floor.
        assert_eq!(writer_threads(&options(1024, 1, 2)), (2, 512 << 20));
        assert_eq!(writer_threads(&options(16, 64, 8)), (1, MIN_WRITER_MEMORY_PER_THREAD));
    }
}
