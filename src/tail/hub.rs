//! The hub: one per service, shared by the ingestor (which publishes) and the live-tail streams (which
//! read). A ring of the most recent documents, numbered without gaps, a watch channel that wakes the
//! streams, and the permits bounding how many streams are open.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::{EventId, TailError};
use crate::config::TailConfig;
use crate::metrics::Metrics;
use crate::store::IndexDoc;

/// One newly indexed document, as the streams share it.
#[derive(Debug)]
pub struct TailEvent {
    /// Position in this process's sequence, from 1, without gaps.
    pub seq: u64,
    /// The document and its id.
    pub item: IndexDoc,
    /// The free-text words of the document, worked out by the first stream filtering on `q`.
    pub(super) words: OnceLock<Vec<String>>,
}

/// The ring and the sequence it continues.
struct Ring {
    events: VecDeque<Arc<TailEvent>>,
    /// Sequence number of the newest document published (0: none yet).
    newest: u64,
}

/// What a stream gets from [`TailHub::read`].
pub(super) struct Batch {
    /// Documents published after the position that left the ring before the stream read them.
    pub skipped: u64,
    /// The next documents, in order, right after the position (plus `skipped`).
    pub events: Vec<Arc<TailEvent>>,
}

pub struct TailHub {
    epoch: u32,
    config: TailConfig,
    ring: Mutex<Ring>,
    /// The newest sequence number, for waking the streams.
    newest: watch::Sender<u64>,
    permits: Arc<Semaphore>,
    pub(super) metrics: Arc<Metrics>,
    /// Cancelled when the service stops: every stream ends, so shutdown does not wait on them.
    pub(super) shutdown: CancellationToken,
}

impl TailHub {
    /// A hub with a random epoch, so ids from an earlier process (or another replica) are recognised
    /// as such.
    pub fn new(config: &TailConfig, metrics: Arc<Metrics>, shutdown: CancellationToken) -> Self {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the OS random source");
        Self::with_epoch(u32::from_le_bytes(bytes), config, metrics, shutdown)
    }

    pub(super) fn with_epoch(
        epoch: u32,
        config: &TailConfig,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            epoch,
            config: config.clone(),
            ring: Mutex::new(Ring { events: VecDeque::with_capacity(config.buffer.min(4096)), newest: 0 }),
            newest: watch::Sender::new(0),
            permits: Arc::new(Semaphore::new(config.max_clients as usize)),
            metrics,
            shutdown,
        }
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    pub fn config(&self) -> &TailConfig {
        &self.config
    }

    /// The id of a position in this process's sequence.
    pub fn id(&self, seq: u64) -> EventId {
        EventId { epoch: self.epoch, seq }
    }

    /// The sequence number of the newest document published.
    pub fn newest(&self) -> u64 {
        self.lock().newest
    }

    /// Appends newly indexed documents. Never waits for a stream: the oldest documents leave the ring,
    /// and streams that had not read them learn how many they missed.
    pub fn publish(&self, docs: Vec<IndexDoc>) {
        if docs.is_empty() {
            return;
        }
        let capacity = self.config.buffer;
        // Built outside the lock; a batch larger than the ring keeps only its newest documents.
        let mut fresh: Vec<(usize, IndexDoc)> = docs.into_iter().enumerate().collect();
        let count = fresh.len();
        if count > capacity {
            fresh.drain(..count - capacity);
        }
        let evicted: Vec<Arc<TailEvent>>;
        let newest;
        {
            let mut ring = self.lock();
            let first = ring.newest + 1;
            ring.newest += count as u64;
            newest = ring.newest;
            for (i, item) in fresh {
                ring.events.push_back(Arc::new(TailEvent { seq: first + i as u64, item, words: OnceLock::new() }));
            }
            let over = ring.events.len().saturating_sub(capacity);
            evicted = ring.events.drain(..over).collect();
        }
        // Documents nobody holds any more are freed here, not under the lock.
        drop(evicted);
        self.newest.send_replace(newest);
    }

    /// Up to `max` documents after position `after`, and how many between `after` and the first of them
    /// have left the ring.
    pub(super) fn read(&self, after: u64, max: usize) -> Batch {
        let ring = self.lock();
        let oldest = ring.events.front().map_or(ring.newest + 1, |e| e.seq);
        let start = (after + 1).max(oldest);
        let skipped = start - (after + 1);
        let from = (start - oldest) as usize;
        let events = ring.events.range(from.min(ring.events.len())..).take(max).cloned().collect();
        Batch { skipped, events }
    }

    /// A receiver that wakes when documents are published.
    pub(super) fn watch(&self) -> watch::Receiver<u64> {
        self.newest.subscribe()
    }

    /// A place among the open streams, or the refusal when all are taken.
    pub(super) fn admit(&self) -> Result<OwnedSemaphorePermit, TailError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| TailError::TooManyClients { limit: self.config.max_clients })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // The ring is consistent after every statement that touches it: a panic elsewhere while it was
        // held leaves nothing half-done.
        self.ring.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
