//! The Firehose HTTP endpoint: access keys and delivery limits.

use serde::{Deserialize, Serialize};

use super::secret::de_secret_list;
use super::{ConfigError, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FirehoseConfig {
    /// Access keys Firehose sends in `X-Amz-Firehose-Access-Key` (`FIRESIGHT_FIREHOSE__ACCESS_KEYS`,
    /// comma-separated; several so keys can rotate). With none, the endpoint refuses every delivery.
    #[serde(deserialize_with = "de_secret_list")]
    pub access_keys: Vec<Secret>,
    /// Largest request body as sent, compressed or not (`FIRESIGHT_FIREHOSE__MAX_BODY_BYTES`).
    /// Firehose sends at most 64 MiB before compression.
    pub max_body_bytes: usize,
    /// Largest body after gzip decompression (`FIRESIGHT_FIREHOSE__MAX_DECOMPRESSED_BYTES`).
    pub max_decompressed_bytes: usize,
    /// Most records per delivery (`FIRESIGHT_FIREHOSE__MAX_RECORDS`); Firehose sends at most 10,000.
    pub max_records: usize,
    /// Time budget to make a delivery durable before answering 503 so Firehose retries, in seconds
    /// (`FIRESIGHT_FIREHOSE__DEADLINE_SECS`). Firehose waits up to 180 s for an answer.
    pub deadline_secs: u64,
}

impl Default for FirehoseConfig {
    fn default() -> Self {
        Self {
            access_keys: Vec::new(),
            max_body_bytes: 64 * 1024 * 1024,
            max_decompressed_bytes: 64 * 1024 * 1024 + 64 * 1024,
            max_records: 10_000,
            deadline_secs: 60,
        }
    }
}

impl FirehoseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_records == 0 || self.max_records > 100_000 {
            return Err(ConfigError::invalid("firehose.max_records", "must be 1..=100000"));
        }
        if self.deadline_secs == 0 || self.deadline_secs >= 170 {
            return Err(ConfigError::invalid(
                "firehose.deadline_secs",
                "must be 1..170 so Firehose (180 s timeout) gets an answer",
            ));
        }
        Ok(())
    }
}
