//! The live tail (`/v1/logs/tail`): how many streams, how much history for resuming, how fast each
//! stream may go and how long it may stay open.

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Most documents the resume buffer may hold (`tail.buffer`).
pub const MAX_TAIL_BUFFER: usize = 1_000_000;
/// Highest `tail.max_events_per_second`.
pub const MAX_TAIL_RATE: u32 = 100_000;
/// Longest `tail.max_duration_secs`, and the bound of the endpoint's `max_duration` parameter: one day.
pub const MAX_TAIL_DURATION_SECS: u64 = 86_400;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// Live tails open at once on this process; one more is refused with 429
    /// (`FIRESIGHT_TAIL__MAX_CLIENTS`).
    pub max_clients: u32,
    /// The most recent newly indexed documents kept in memory (`FIRESIGHT_TAIL__BUFFER`): a stream that
    /// falls further behind, or resumes with a `Last-Event-ID` older than that, is told how many it
    /// missed (a `lag` event). Each document costs about 1-2 KiB.
    pub buffer: usize,
    /// Documents one stream may send per second, in bursts of up to one second's worth
    /// (`FIRESIGHT_TAIL__MAX_EVENTS_PER_SECOND`); matching documents beyond it are skipped and counted in
    /// a `lag` event.
    pub max_events_per_second: u32,
    /// Longest life of one stream in seconds (`FIRESIGHT_TAIL__MAX_DURATION_SECS`); the stream then ends
    /// and clients reconnect with `Last-Event-ID`, which resumes without a gap.
    pub max_duration_secs: u64,
    /// Seconds between keep-alive messages on an idle stream (`FIRESIGHT_TAIL__KEEP_ALIVE_SECS`); they
    /// also move the client's `Last-Event-ID` past documents its filters passed over.
    pub keep_alive_secs: u64,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            max_clients: 16,
            buffer: 10_000,
            max_events_per_second: 500,
            max_duration_secs: 3600,
            keep_alive_secs: 15,
        }
    }
}

impl TailConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=10_000).contains(&self.max_clients) {
            return Err(ConfigError::invalid("tail.max_clients", "must be 1..=10000"));
        }
        if !(1..=MAX_TAIL_BUFFER).contains(&self.buffer) {
            return Err(ConfigError::invalid("tail.buffer", format!("must be 1..={MAX_TAIL_BUFFER}")));
        }
        if !(1..=MAX_TAIL_RATE).contains(&self.max_events_per_second) {
            return Err(ConfigError::invalid("tail.max_events_per_second", format!("must be 1..={MAX_TAIL_RATE}")));
        }
        if !(1..=MAX_TAIL_DURATION_SECS).contains(&self.max_duration_secs) {
            return Err(ConfigError::invalid(
                "tail.max_duration_secs",
                format!("must be 1..={MAX_TAIL_DURATION_SECS}"),
            ));
        }
        if !(1..=300).contains(&self.keep_alive_secs) {
            return Err(ConfigError::invalid("tail.keep_alive_secs", "must be 1..=300"));
        }
        Ok(())
    }
}
