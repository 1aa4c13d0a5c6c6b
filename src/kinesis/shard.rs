//! Reading one shard this replica holds the lease on: GetRecords within the shard's limits (5 calls and
//! 2 MB per second, shared with every other consumer), each record's payload (a KPL aggregate taken
//! apart, gzip, CloudWatch Logs subscription messages, several lines) through the same parse, enrich,
//! index and dead-letter path as a Firehose record, and the checkpoint moved only once those lines are
//! durable. The end of a closed shard (split or merged) is seen from GetRecords (no next iterator, or
//! child shards) or, for emulators that answer neither, from the ending sequence number ListShards gives.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::leases::{Checkpoint, Held, LeaseRepo};
use super::{FetchedRecord, Kinesis, KinesisError, Position, RecordBatch};
use crate::ingest::{Ingestor, SourceLine, ids};
use crate::metrics::{ShardLabels, StreamLabels};
use crate::record;
use crate::telemetry;
use crate::worker::Pacing;

/// A shard's read limit: 5 GetRecords calls per second.
const MIN_CALL_INTERVAL: Duration = Duration::from_millis(200);
/// A shard's read limit: 2 MB per second.
const BYTES_PER_SECOND: f64 = 2_000_000.0;
/// How long one batch may take to become durable before it is tried again.
const INGEST_DEADLINE: Duration = Duration::from_secs(60);

/// Ending sequence numbers of closed shards, by (stream ARN, shard id), from the last ListShards.
pub type ClosedShards = Arc<RwLock<HashMap<(String, String), String>>>;

/// Why a reader stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Read to its end and marked so; its children may start.
    Finished,
    /// Another replica holds the lease now (or the shard is gone).
    Lost,
    /// Told to stop (shutdown, or the lease was given up).
    Stopped,
}

/// Everything one shard reader needs.
pub struct ShardReader {
    pub kinesis: Kinesis,
    pub repo: LeaseRepo,
    pub ingestor: Ingestor,
    pub held: Held,
    /// The stream's name, for metric labels.
    pub stream_name: String,
    /// Where to start: after the checkpoint, or the configured start for a shard without one.
    pub start: Position,
    pub closed: ClosedShards,
    pub max_records: u32,
    pub idle: Duration,
    pub stop: CancellationToken,
}

impl ShardReader {
    pub async fn run(self) -> Exit {
        let labels = ShardLabels { stream: self.stream_name.clone(), shard: self.held.shard_id.clone() };
        let stream_labels = StreamLabels { stream: self.stream_name.clone() };
        let metrics = self.ingestor.metrics.clone();
        let backoff =
            Pacing { idle: self.idle, backoff_base: Duration::from_millis(500), backoff_cap: Duration::from_secs(30) };
        let mut position = self.start.clone();
        let mut iterator: Option<String> = None;
        let mut failures = 0u32;
        let mut next_call = Instant::now();
        tracing::info!(stream = %self.stream_name, shard = %self.held.shard_id, from = ?position, "reading shard");
        loop {
            if !self.pause_until(next_call).await {
                return Exit::Stopped;
            }
            let it = match &iterator {
                Some(it) => it.clone(),
                None => match self.kinesis.iterator(&self.held.stream_arn, &self.held.shard_id, &position).await {
                    Ok(it) => it,
                    Err(e) => match self.failed(&e, &mut failures, &stream_labels) {
                        Some(exit) => return exit,
                        None => {
                            next_call = Instant::now() + backoff.backoff(failures - 1);
                            continue;
                        }
                    },
                },
            };
            let called = Instant::now();
            let batch = match self.kinesis.records(&self.held.stream_arn, &it, self.max_records).await {
                Ok(batch) => batch,
                Err(KinesisError::ExpiredIterator(_)) => {
                    iterator = None; // a new one from the last checkpoint
                    continue;
                }
                Err(e) => match self.failed(&e, &mut failures, &stream_labels) {
                    Some(exit) => return exit,
                    None => {
                        next_call = Instant::now() + backoff.backoff(failures - 1);
                        continue;
                    }
                },
            };
            failures = 0;
            metrics.kinesis.records.get_or_create(&labels).inc_by(batch.records.len() as u64);
            metrics.kinesis.bytes.get_or_create(&labels).inc_by(batch.bytes as u64);
            if let Some(behind) = batch.millis_behind_latest {
                metrics.kinesis.millis_behind_latest.get_or_create(&labels).set(behind);
            }
            if let Some(last) = batch.records.last() {
                // A KPL aggregate is written whole: its last user record is the sub-sequence checkpoint.
                let sub_sequence =
                    crate::kpl::deaggregate(&last.data).ok().flatten().map(|users| users.len() as i64 - 1);
                let checkpoint = Checkpoint { sequence: last.sequence_number.clone(), sub_sequence };
                match self.write(&batch.records, checkpoint).await {
                    Some(exit) => return exit,
                    None => position = Position::After(last.sequence_number.clone()),
                }
            }
            if self.at_end(&batch) {
                return self.finish().await;
            }
            iterator = batch.next_iterator.clone();
            // Within the shard's limits: 5 calls a second, 2 MB a second.
            let for_bytes = Duration::from_secs_f64(batch.bytes as f64 / BYTES_PER_SECOND);
            let mut pause = MIN_CALL_INTERVAL.max(for_bytes);
            if batch.records.is_empty() {
                pause = pause.max(self.idle);
            }
            next_call = called + pause;
        }
    }

    /// Sleeps until `at`; `false` when told to stop meanwhile.
    async fn pause_until(&self, at: Instant) -> bool {
        tokio::select! {
            () = self.stop.cancelled() => false,
            () = tokio::time::sleep_until(at) => true,
        }
    }

    /// Counts a failed call; `Some` when the reader should stop.
    fn failed(&self, error: &KinesisError, failures: &mut u32, labels: &StreamLabels) -> Option<Exit> {
        let metrics = &self.ingestor.metrics.kinesis;
        *failures = failures.saturating_add(1);
        match error {
            KinesisError::Throttled(_) => {
                metrics.throttles.get_or_create(labels).inc();
                tracing::debug!(shard = %self.held.shard_id, "throttled; backing off");
                None
            }
            KinesisError::NotFound(_) => {
                tracing::warn!(shard = %self.held.shard_id, error = telemetry::chain(error), "shard not found; letting it go");
                Some(Exit::Lost)
            }
            _ => {
                metrics.errors.get_or_create(labels).inc();
                tracing::warn!(shard = %self.held.shard_id, error = telemetry::chain(error), "Kinesis call failed; retrying");
                None
            }
        }
    }

    /// Writes the batch's lines until durable, then moves the checkpoint. `Some` when the reader
    /// should stop (told to, or the lease was lost).
    async fn write(&self, records: &[FetchedRecord], checkpoint: Checkpoint) -> Option<Exit> {
        let mut attempt = 0u32;
        let backoff =
            Pacing { idle: Duration::ZERO, backoff_base: Duration::from_secs(1), backoff_cap: Duration::from_secs(30) };
        loop {
            let lines = source_lines(&self.held, records);
            let deadline = Instant::now() + INGEST_DEADLINE;
            match self.ingestor.ingest_from(lines, "kinesis", Some(&self.held.stream_arn), deadline).await {
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(shard = %self.held.shard_id, error = telemetry::chain(&e), "could not write a batch; retrying it");
                    attempt += 1;
                    if !self.pause_until(Instant::now() + backoff.backoff(attempt - 1)).await {
                        return Some(Exit::Stopped);
                    }
                }
            }
        }
        loop {
            match self.repo.checkpoint(&self.held, &checkpoint, chrono::Utc::now().timestamp_millis()).await {
                Ok(true) => return None,
                Ok(false) => {
                    tracing::info!(shard = %self.held.shard_id, "lease taken over; stopping");
                    return Some(Exit::Lost);
                }
                Err(e) => {
                    tracing::warn!(shard = %self.held.shard_id, error = telemetry::chain(&e), "could not checkpoint; retrying");
                    attempt += 1;
                    if !self.pause_until(Instant::now() + backoff.backoff(attempt.min(5))).await {
                        return Some(Exit::Stopped);
                    }
                }
            }
        }
    }

    /// Whether the shard is read to its end.
    fn at_end(&self, batch: &RecordBatch) -> bool {
        if batch.next_iterator.is_none() || !batch.child_shards.is_empty() {
            return true;
        }
        let key = (self.held.stream_arn.clone(), self.held.shard_id.clone());
        let Some(ending) = self.closed.read().expect("closed-shard map lock").get(&key).cloned() else {
            return false;
        };
        match batch.records.last() {
            Some(last) => sequence_at_or_after(&last.sequence_number, &ending),
            // A closed shard with nothing left behind the tip (emulators keep handing out iterators).
            None => batch.millis_behind_latest == Some(0),
        }
    }

    async fn finish(&self) -> Exit {
        for attempt in 0..5u32 {
            match self.repo.finish(&self.held, chrono::Utc::now().timestamp_millis()).await {
                Ok(true) => {
                    tracing::info!(shard = %self.held.shard_id, "shard read to its end");
                    return Exit::Finished;
                }
                Ok(false) => return Exit::Lost,
                Err(e) => {
                    tracing::warn!(shard = %self.held.shard_id, error = telemetry::chain(&e), "could not mark the shard's end");
                    if !self.pause_until(Instant::now() + Duration::from_secs(1 << attempt)).await {
                        return Exit::Stopped;
                    }
                }
            }
        }
        Exit::Lost // the next holder reads the end again and marks it
    }
}

/// Sequence numbers are decimal strings of up to 128 digits: compare by length, then digits.
fn sequence_at_or_after(sequence: &str, other: &str) -> bool {
    (sequence.len(), sequence) >= (other.len(), other)
}

/// The lines of a batch's records, with ids from their place in the stream.
pub fn source_lines(held: &Held, records: &[FetchedRecord]) -> Vec<SourceLine> {
    let mut out = Vec::new();
    for r in records {
        let id = |sub: Option<u64>, line: usize| {
            ids::kinesis_id(&held.stream_arn, &held.shard_id, &r.sequence_number, sub, line)
        };
        match record_payloads(&r.data) {
            Ok(payloads) => {
                for (sub, payload) in payloads {
                    push_lines(&mut out, payload, |line| id(sub, line));
                }
            }
            Err(reason) => out.push(SourceLine {
                id: id(None, 0),
                text: String::from_utf8_lossy(&r.data).into_owned(),
                fallback_time: None,
                firehose: None,
                reject: Some(reason),
            }),
        }
    }
    out
}

/// A payload with its sub-sequence number (`None` for a plain record).
type Payload<'a> = (Option<u64>, Cow<'a, [u8]>);

/// A record's payloads: its user records when it is a KPL aggregate (with their sub-sequence), else
/// itself.
fn record_payloads(data: &[u8]) -> Result<Vec<Payload<'_>>, String> {
    match crate::kpl::deaggregate(data) {
        Ok(Some(users)) => {
            Ok(users.into_iter().enumerate().map(|(i, u)| (Some(i as u64), Cow::Owned(u.data))).collect())
        }
        Ok(None) => Ok(vec![(None, Cow::Borrowed(data))]),
        Err(e) => Err(e.to_string()),
    }
}

fn push_lines(out: &mut Vec<SourceLine>, payload: Cow<'_, [u8]>, id: impl Fn(usize) -> String) {
    match record::lines(&payload) {
        Ok(lines) => out.extend(lines.into_iter().enumerate().map(|(n, l)| SourceLine {
            id: id(n),
            text: l.text,
            fallback_time: l.fallback_time,
            firehose: None,
            reject: None,
        })),
        Err(unreadable) => out.push(SourceLine {
            id: id(0),
            text: unreadable.raw,
            fallback_time: None,
            firehose: None,
            reject: Some(unreadable.reason),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        assert!(sequence_at_or_after("10", "9"));
        assert!(sequence_at_or_after(
            "49590338271490256608559692538361571095921575989136588898",
            "49590338271490256608559692538361571095921575989136588898"
        ));
        assert!(!sequence_at_or_after(
            "49590338271490256608559692538361571095921575989136588897",
            "49590338271490256608559692538361571095921575989136588898"
        ));
        assert!(!sequence_at_or_after("9", "10"));
    }

    #[test]
    fn lines_get_ids_from_their_place_in_the_stream() {
        let held = Held { stream_arn: "arn".into(), shard_id: "shard-0".into(), owner: "me".into(), counter: 1 };
        let record = |seq: &str, data: &[u8]| FetchedRecord {
            sequence_number: seq.into(),
            partition_key: "pk".into(),
            arrival: None,
            data: data.to_vec(),
        };
        let lines = source_lines(&held, &[record("1", b"a\nb\n"), record("2", b"c"), record("3", &[0x1f, 0x8b, 0])]);
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts[..3], ["a", "b", "c"]);
        assert_eq!(lines[1].id, ids::kinesis_id("arn", "shard-0", "1", None, 1));
        assert_eq!(lines[2].id, ids::kinesis_id("arn", "shard-0", "2", None, 0));
        assert!(lines[3].reject.as_deref().is_some_and(|r| r.contains("gzip")), "{:?}", lines[3]);
    }
}
