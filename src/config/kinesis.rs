//! Kinesis Data Streams, read directly (the agents' stream, beside or instead of Firehose).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::secret::de_string_list;
use super::{ConfigError, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KinesisConfig {
    /// Streams to consume, by name or ARN (`FIRESIGHT_KINESIS__STREAMS`, comma-separated); empty: off.
    #[serde(deserialize_with = "de_string_list")]
    pub streams: Vec<String>,
    /// Endpoint override, for emulators or VPC endpoints (`FIRESIGHT_KINESIS__ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// AWS region; unset means the SDK's chain (`AWS_REGION`, profile) (`FIRESIGHT_KINESIS__REGION`).
    pub region: Option<String>,
    /// Static access key id, for emulators; unset means the SDK's credential chain
    /// (`FIRESIGHT_KINESIS__ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Static secret access key, paired with `access_key_id` (`FIRESIGHT_KINESIS__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Where a shard without a checkpoint starts (`FIRESIGHT_KINESIS__START`): `trim_horizon` (the
    /// oldest record kept), `latest` (only what arrives from now on) or an RFC 3339 time. Children of a
    /// shard that was split or merged always start at their beginning.
    pub start: String,
    /// How long a replica owns a shard without renewing, in seconds (`FIRESIGHT_KINESIS__LEASE_SECS`);
    /// another replica takes an expired lease over. Leases are renewed every third of it.
    pub lease_secs: u64,
    /// How often each stream's shard list is read again (new shards after a split or merge), in
    /// seconds (`FIRESIGHT_KINESIS__SHARD_SYNC_SECS`).
    pub shard_sync_secs: u64,
    /// Pause after a GetRecords call that returned nothing, in milliseconds
    /// (`FIRESIGHT_KINESIS__IDLE_MILLIS`). At least 200: a shard allows 5 GetRecords calls per second
    /// shared by every consumer of the stream (Firehose is one).
    pub idle_millis: u64,
    /// Records asked for per GetRecords call, 1-10000 (`FIRESIGHT_KINESIS__MAX_RECORDS`).
    pub max_records: u32,
}

impl Default for KinesisConfig {
    fn default() -> Self {
        Self {
            streams: Vec::new(),
            endpoint_url: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            start: "trim_horizon".to_owned(),
            lease_secs: 30,
            shard_sync_secs: 60,
            idle_millis: 1000,
            max_records: 10_000,
        }
    }
}

/// Where a shard without a checkpoint starts reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartPosition {
    TrimHorizon,
    Latest,
    At(DateTime<Utc>),
}

impl KinesisConfig {
    pub fn enabled(&self) -> bool {
        !self.streams.is_empty()
    }

    pub fn start_position(&self) -> Result<StartPosition, ConfigError> {
        match self.start.trim() {
            "trim_horizon" => Ok(StartPosition::TrimHorizon),
            "latest" => Ok(StartPosition::Latest),
            other => DateTime::parse_from_rfc3339(other)
                .map(|t| StartPosition::At(t.to_utc()))
                .map_err(|_| ConfigError::invalid("kinesis.start", "must be trim_horizon, latest or an RFC 3339 time")),
        }
    }

    pub fn lease_ttl(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::invalid(field, reason));
        if let Some(endpoint) = &self.endpoint_url {
            url::Url::parse(endpoint).map_err(|e| ConfigError::invalid("kinesis.endpoint_url", e.to_string()))?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return invalid("kinesis.access_key_id", "set both access_key_id and secret_access_key, or neither");
        }
        if self.streams.len() > 50 {
            return invalid("kinesis.streams", "at most 50 streams");
        }
        if self.streams.iter().any(|s| s.trim().is_empty() || s.len() > 2048) {
            return invalid("kinesis.streams", "each stream is a name or an ARN (1-2048 characters)");
        }
        self.start_position()?;
        if !(3..=3600).contains(&self.lease_secs) {
            return invalid("kinesis.lease_secs", "must be 3..=3600");
        }
        if !(1..=86_400).contains(&self.shard_sync_secs) {
            return invalid("kinesis.shard_sync_secs", "must be 1..=86400");
        }
        if !(200..=60_000).contains(&self.idle_millis) {
            return invalid(
                "kinesis.idle_millis",
                "must be 200..=60000 (a shard allows 5 GetRecords calls per second)",
            );
        }
        if !(1..=10_000).contains(&self.max_records) {
            return invalid("kinesis.max_records", "must be 1..=10000");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_positions() {
        let with = |start: &str| KinesisConfig { start: start.to_owned(), ..Default::default() };
        assert_eq!(with("trim_horizon").start_position().unwrap(), StartPosition::TrimHorizon);
        assert_eq!(with("latest").start_position().unwrap(), StartPosition::Latest);
        assert_eq!(
            with("2026-12-01T10:00:00+01:00").start_position().unwrap(),
            StartPosition::At("2026-12-01T09:00:00Z".parse().unwrap())
        );
        assert!(with("yesterday").validate().is_err());
        assert!(KinesisConfig { idle_millis: 100, ..Default::default() }.validate().is_err());
        assert!(KinesisConfig::default().validate().is_ok());
        assert!(!KinesisConfig::default().enabled());
    }
}
