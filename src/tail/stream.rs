//! One live-tail stream: a position in the hub's sequence, the filters, a token bucket, and the
//! messages it yields one at a time ([`Tail::next`]). It holds at most one batch of shared documents,
//! so a client that reads slowly (or not at all) costs a position, not a queue: the ring moves on
//! without it and the next read reports what it missed.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::hub::{TailEvent, TailHub};
use super::{EventId, Matcher, TailError};
use crate::metrics::SkipLabels;

/// Documents taken from the ring per read.
const BATCH: usize = 256;

/// What a client asks for.
#[derive(Debug, Clone)]
pub struct TailRequest {
    pub matcher: Matcher,
    /// `Last-Event-ID`: continue after this event.
    pub resume: Option<EventId>,
    /// End the stream after this long (at most `tail.max_duration_secs`).
    pub max_duration: Option<Duration>,
    /// End the stream after this many documents.
    pub limit: Option<u64>,
}

/// Why documents were not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagReason {
    /// They left the buffer before the stream read them (a slow client, or a resume from too far
    /// back): every document so skipped is counted, matching or not.
    Behind,
    /// They matched, but the stream was at its `tail.max_events_per_second`.
    Rate,
}

impl LagReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LagReason::Behind => "behind",
            LagReason::Rate => "rate",
        }
    }
}

/// Why a `Last-Event-ID` could not be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetReason {
    /// Another process issued it (a restart, or another replica): what happened in between is unknown.
    OtherProcess,
    /// This process never reached that position.
    Unknown,
}

/// What a stream yields. Every message with an id moves the client's position there.
#[derive(Debug, Clone)]
pub enum Message {
    /// The first message: the stream's starting position.
    Open { id: EventId },
    /// Instead of `Open`, when `Last-Event-ID` could not be resumed: the stream starts at the newest
    /// position instead.
    Reset { id: EventId, reason: ResetReason, requested: EventId },
    /// A matching document.
    Log { id: EventId, event: Arc<TailEvent> },
    /// Documents not sent, and why; the stream continues after them.
    Lag { id: EventId, skipped: u64, reason: LagReason },
    /// Nothing to send for a while; `id` is set when documents the filters passed over moved the position.
    KeepAlive { id: Option<EventId> },
}

/// An open stream. Dropping it frees its place among `tail.max_clients`.
pub struct Tail {
    hub: Arc<TailHub>,
    matcher: Matcher,
    /// The last sequence number accounted for (sent, filtered out or skipped).
    position: u64,
    /// The last position a message told the client.
    told: u64,
    first: Option<Message>,
    pending: VecDeque<Arc<TailEvent>>,
    wake: watch::Receiver<u64>,
    bucket: Bucket,
    /// Matching documents dropped for the rate since the last `lag`.
    rate_skipped: u64,
    keep_alive: Interval,
    deadline: Instant,
    remaining: Option<u64>,
    done: bool,
    _place: Place,
}

/// A place among the open streams: the permit and the gauge, released together.
struct Place {
    _permit: OwnedSemaphorePermit,
    hub: Arc<TailHub>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.hub.metrics.tail.streams.dec();
    }
}

impl TailHub {
    /// Opens a stream, refused when `tail.max_clients` are open. Without `resume` it starts at the
    /// newest document: it sends only what is published from now on.
    pub fn subscribe(self: &Arc<Self>, request: TailRequest) -> Result<Tail, TailError> {
        let permit = self.admit()?;
        self.metrics.tail.streams.inc();
        let place = Place { _permit: permit, hub: self.clone() };
        // Marked seen before the position is read: a document published from here on wakes the stream.
        let mut wake = self.watch();
        wake.borrow_and_update();
        let newest = self.newest();
        let (position, first) = match request.resume {
            None => (newest, Message::Open { id: self.id(newest) }),
            Some(id) if id.epoch == self.epoch() && id.seq <= newest => (id.seq, Message::Open { id }),
            Some(requested) => {
                let reason =
                    if requested.epoch == self.epoch() { ResetReason::Unknown } else { ResetReason::OtherProcess };
                (newest, Message::Reset { id: self.id(newest), reason, requested })
            }
        };
        let config = self.config();
        let longest = Duration::from_secs(config.max_duration_secs);
        let now = Instant::now();
        let period = Duration::from_secs(config.keep_alive_secs);
        let mut keep_alive = tokio::time::interval_at(now + period, period);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Ok(Tail {
            hub: self.clone(),
            matcher: request.matcher,
            position,
            told: position,
            first: Some(first),
            pending: VecDeque::new(),
            wake,
            bucket: Bucket::new(config.max_events_per_second, now),
            rate_skipped: 0,
            keep_alive,
            deadline: now + request.max_duration.map_or(longest, |d| d.min(longest)),
            remaining: request.limit,
            done: false,
            _place: place,
        })
    }
}

impl Tail {
    /// The next message; `None` once the stream is over (its duration or limit reached, or the service
    /// stopping).
    pub async fn next(&mut self) -> Option<Message> {
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        loop {
            // Checked here too: a stream that always has documents to send never waits below.
            if Instant::now() >= self.deadline || self.hub.shutdown.is_cancelled() {
                self.done = true;
            }
            if self.done {
                return self.finish();
            }
            if let Some(message) = self.next_in_hand() {
                return Some(message);
            }
            // Marked seen before reading, as in `subscribe`.
            self.wake.borrow_and_update();
            let batch = self.hub.read(self.position, BATCH);
            if batch.skipped > 0 {
                self.position += batch.skipped;
                self.pending = batch.events.into();
                return Some(self.lag(batch.skipped, LagReason::Behind));
            }
            if !batch.events.is_empty() {
                self.pending = batch.events.into();
                // Filtering a batch is CPU work: let other tasks run between batches.
                tokio::task::consume_budget().await;
                continue;
            }
            let rate_due = self.bucket.next_token_at();
            tokio::select! {
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        self.done = true;
                    }
                }
                () = tokio::time::sleep_until(rate_due), if self.rate_skipped > 0 => {
                    return Some(self.rate_lag());
                }
                _ = self.keep_alive.tick() => {
                    let moved = self.position != self.told;
                    self.told = self.position;
                    return Some(Message::KeepAlive { id: moved.then(|| self.hub.id(self.position)) });
                }
                () = tokio::time::sleep_until(self.deadline) => self.done = true,
                () = self.hub.shutdown.cancelled() => self.done = true,
            }
        }
    }

    /// The next message from the batch in hand, if it holds one to send.
    fn next_in_hand(&mut self) -> Option<Message> {
        while let Some(event) = self.pending.front() {
            if !self.matcher.matches(event) {
                self.position = event.seq;
                self.pending.pop_front();
                continue;
            }
            if !self.bucket.has_token(Instant::now()) {
                self.rate_skipped += 1;
                self.position = event.seq;
                self.pending.pop_front();
                continue;
            }
            if self.rate_skipped > 0 {
                // Tell what the rate dropped before sending more; this document waits for the next call.
                return Some(self.rate_lag());
            }
            let event = self.pending.pop_front().expect("a front document");
            self.bucket.take();
            self.position = event.seq;
            self.told = event.seq;
            self.hub.metrics.tail.events_sent.inc();
            if let Some(remaining) = &mut self.remaining {
                *remaining -= 1;
                self.done |= *remaining == 0;
            }
            return Some(Message::Log { id: self.hub.id(event.seq), event });
        }
        None
    }

    /// The last message of a finished stream: what the rate dropped, if anything is untold.
    fn finish(&mut self) -> Option<Message> {
        (self.rate_skipped > 0).then(|| self.rate_lag())
    }

    /// The `lag` of what the rate dropped since the last one.
    fn rate_lag(&mut self) -> Message {
        let skipped = std::mem::take(&mut self.rate_skipped);
        self.lag(skipped, LagReason::Rate)
    }

    fn lag(&mut self, skipped: u64, reason: LagReason) -> Message {
        self.told = self.position;
        self.hub.metrics.tail.events_skipped.get_or_create(&SkipLabels { reason: reason.as_str() }).inc_by(skipped);
        Message::Lag { id: self.hub.id(self.position), skipped, reason }
    }
}

/// A token bucket: `rate` tokens a second, holding at most one second's worth.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(per_second: u32, now: Instant) -> Self {
        let rate = f64::from(per_second.max(1));
        Self { rate, tokens: rate, at: now }
    }

    fn has_token(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.at = now;
        self.tokens >= 1.0
    }

    fn take(&mut self) {
        self.tokens -= 1.0;
    }

    /// When the bucket next holds a whole token.
    fn next_token_at(&self) -> Instant {
        self.at + Duration::from_secs_f64(((1.0 - self.tokens) / self.rate).max(0.0))
    }
}
