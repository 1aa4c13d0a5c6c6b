//! The embedded store's state, which its parts share: the store itself ([`EmbeddedStore`]), its
//! tuning ([`EmbeddedOptions`]) and the day writers' state ([`Writers`]). The store is opened in
//! [`super`], written by [`super::write`] and read by [`super::scan`], [`super::aggs`] and
//! [`super::search`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use chrono::NaiveDate;
use tantivy::IndexWriter;
use tantivy::schema::Schema;

use super::day::Day;
use super::deadletter::DeadLetterLog;
use super::idset::IdFilter;
use super::schema::Fields;
use super::wal;

/// Tuning of the embedded store.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Indexing memory of all the day writers together: each of the `max_open_writers` gets an equal
    /// share (split among its threads, at least tantivy's floor per thread) and writes a segment when
    /// its share is full.
    pub writer_memory_bytes: usize,
    /// Indexing threads per day writer, at most: a writer whose share of `writer_memory_bytes` is
    /// below tantivy's floor (15 MiB) for each gets fewer.
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
    ///
    /// [`LogStore::refresh`]: crate::store::LogStore::refresh
    pub write_ahead_log: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        EmbeddedOptions {
            writer_memory_bytes: 128 << 20,
            writer_threads: cores.clamp(1, 8),
            max_open_writers: 4,
            query_threads: cores.clamp(1, 16),
            parallel_min_docs: 100_000,
            commit_docs: 100_000,
            write_ahead_log: true,
        }
    }
}

pub struct EmbeddedStore {
    pub(super) root: PathBuf,
    pub(super) schema: Schema,
    pub(super) fields: Fields,
    pub(super) options: EmbeddedOptions,
    pub(super) days: RwLock<BTreeMap<NaiveDate, Arc<Day>>>,
    pub(super) writers: Mutex<Writers>,
    /// Locked only by a holder of `writers`, which it follows (appended to while a batch is added).
    pub(super) wal: Mutex<wal::Wal>,
    /// Documents wait uncommitted (or the writers are broken): reads commit first. Set and cleared
    /// under the writers' lock.
    pub(super) dirty: AtomicBool,
    pub(super) dead: Mutex<DeadLetterLog>,
    /// Held (locked) while the store is open.
    pub(super) _lock: fs::File,
}

pub(super) struct DayWriter {
    pub(super) writer: IndexWriter,
    /// Hashes of every id committed to the day.
    pub(super) ids: IdFilter,
    /// Ids added since the last commit.
    pub(super) uncommitted: HashSet<Box<str>>,
    /// The day's reader may lag behind its last commit (a reload failed): reload before trusting it.
    pub(super) reader_stale: bool,
    pub(super) last_used: u64,
}

/// The day writers and what they hold uncommitted; the store keeps them behind its writers' mutex.
pub(super) struct Writers {
    pub(super) open: HashMap<NaiveDate, DayWriter>,
    pub(super) tick: u64,
    /// Documents in the log (replays included), or accepted and uncommitted when the log is off.
    pub(super) logged: usize,
    /// A write failed half-way and the writers were dropped: the log's documents must be added again.
    pub(super) broken: bool,
}

impl Writers {
    /// No writer open yet; `broken` when the log holds documents (found at open) to add again first.
    pub(super) fn new(broken: bool) -> Self {
        Writers { open: HashMap::new(), tick: 0, logged: 0, broken }
    }
}
