//! The live tail: every document this process newly indexes, from any source, handed to the clients
//! following `/v1/logs/tail` as it is acknowledged.
//!
//! [`Ingestor::write`](crate::ingest::Ingestor::write) publishes the documents the store answered
//! `Created` for (never duplicates or dead letters) to the [`TailHub`] right after each store round
//! trip, once they are durable. The hub numbers them (one sequence per process, behind a random
//! epoch: ids read `<epoch>-<seq>`) and keeps the most recent `tail.buffer` of them in a ring. Publishing
//! appends under a short lock and wakes the streams; it never waits for one.
//!
//! Each stream ([`Tail`]) reads the ring at its own pace from its position, filters in memory with a
//! [`Matcher`] (the stores' semantics for [`Filters`](crate::query::model::Filters)), and yields
//! [`Message`]s: documents, `lag` when it fell out of the ring (how many documents it never saw) or
//! exceeded its rate (how many matching ones it dropped), `reset` when a `Last-Event-ID` cannot be
//! resumed here, keep-alives. A slow client therefore costs a position and a batch, never a queue.
//!
//! The tail sees what this process indexes: with several replicas, each one's tail shows its share.

mod hub;
mod matcher;
mod stream;

#[cfg(test)]
mod tests;

pub use hub::{TailEvent, TailHub};
pub use matcher::Matcher;
pub use stream::{LagReason, Message, ResetReason, Tail, TailRequest};

use std::fmt;

/// Why a stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("at most {limit} live tails may be open at once; close one or retry later")]
    TooManyClients { limit: u32 },
}

/// The id of an event: the publishing process's epoch and the sequence number of the last document the
/// stream accounted for. Written `<epoch>-<seq>` (the form [`crate::forms::TAIL_EVENT_ID`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId {
    pub epoch: u32,
    pub seq: u64,
}

impl EventId {
    /// Reads an id this service wrote; `None` for anything else.
    pub fn parse(text: &str) -> Option<EventId> {
        let (epoch, seq) = text.split_once('-')?;
        let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
        if epoch.len() != 8 || !epoch.bytes().all(hex) {
            return None;
        }
        if seq.is_empty() || seq.len() > 19 || !seq.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(EventId { epoch: u32::from_str_radix(epoch, 16).ok()?, seq: seq.parse().ok()? })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}-{}", self.epoch, self.seq)
    }
}
