//! Amazon S3, where Firehose backs up the records it could not deliver (`FIRESIGHT_S3__*`), and the
//! background job that replays them (`FIRESIGHT_S3_REPLAY__*`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::de_string_list;
use super::{ConfigError, Secret};

/// The S3 client: region, credentials and an endpoint override, like the other AWS clients.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint override, for emulators or VPC endpoints (`FIRESIGHT_S3__ENDPOINT_URL`). With an
    /// override, requests use path-style addressing (`http://host/bucket/key`), which emulators need.
    pub endpoint_url: Option<String>,
    /// AWS region; unset means the SDK's chain (`AWS_REGION`, profile) (`FIRESIGHT_S3__REGION`).
    pub region: Option<String>,
    /// Static access key id, for emulators; unset means the SDK's credential chain
    /// (`FIRESIGHT_S3__ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Static secret access key, paired with `access_key_id` (`FIRESIGHT_S3__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Largest object read, as stored (`FIRESIGHT_S3__MAX_OBJECT_BYTES`); larger ones are skipped and
    /// reported. Firehose's S3 buffer is at most 128 MiB.
    pub max_object_bytes: u64,
    /// Longest line of an object (one failed record as JSON) (`FIRESIGHT_S3__MAX_LINE_BYTES`); a longer
    /// one is dead-lettered as unreadable. A record is at most 1,000 KiB, 1.37 MB in base64.
    pub max_line_bytes: usize,
    /// Most failed records read from one object (`FIRESIGHT_S3__MAX_RECORDS_PER_OBJECT`); the rest of
    /// the object is reported as skipped.
    pub max_records_per_object: u64,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint_url: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            max_object_bytes: 1 << 30,
            max_line_bytes: 4 << 20,
            max_records_per_object: 5_000_000,
        }
    }
}

impl S3Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::invalid(field, reason));
        if let Some(endpoint) = &self.endpoint_url {
            url::Url::parse(endpoint).map_err(|e| ConfigError::invalid("s3.endpoint_url", e.to_string()))?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return invalid("s3.access_key_id", "set both access_key_id and secret_access_key, or neither");
        }
        if !(1024..=(64 << 30)).contains(&self.max_object_bytes) {
            return invalid("s3.max_object_bytes", "must be 1024..=68719476736 (64 GiB)");
        }
        if !((64 << 10)..=(64 << 20)).contains(&self.max_line_bytes) {
            return invalid("s3.max_line_bytes", "must be 65536..=67108864 (64 KiB to 64 MiB)");
        }
        if !(1..=100_000_000).contains(&self.max_records_per_object) {
            return invalid("s3.max_records_per_object", "must be 1..=100000000");
        }
        Ok(())
    }
}

/// The background replay of Firehose's S3 backup (off while `buckets` is empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3ReplayConfig {
    /// Where Firehose writes failed records, as `s3://BUCKET/PREFIX` (`FIRESIGHT_S3_REPLAY__BUCKETS`,
    /// comma-separated): the bucket and the stream's error output prefix up to the error type (the
    /// bucket alone when the prefix is empty). Also the only places `POST /v1/delivery-errors/replays`
    /// may read.
    #[serde(deserialize_with = "de_string_list")]
    pub buckets: Vec<String>,
    /// Pause between two listings of the locations once every object is replayed
    /// (`FIRESIGHT_S3_REPLAY__POLL_INTERVAL_SECS`).
    pub poll_interval_secs: u64,
    /// Objects written longer ago than this are left alone by the background job
    /// (`FIRESIGHT_S3_REPLAY__LOOKBACK_HOURS`); `firesight replay --since` reaches further back.
    pub lookback_hours: u64,
    /// How long a replica owns an object it is replaying before another may take it over
    /// (`FIRESIGHT_S3_REPLAY__LEASE_SECS`).
    pub lease_secs: u64,
}

impl Default for S3ReplayConfig {
    fn default() -> Self {
        Self { buckets: Vec::new(), poll_interval_secs: 60, lookback_hours: 168, lease_secs: 600 }
    }
}

impl S3ReplayConfig {
    pub fn enabled(&self) -> bool {
        !self.buckets.is_empty()
    }

    /// The configured locations, parsed (valid once the configuration validated).
    pub fn locations(&self) -> Vec<S3Location> {
        self.buckets.iter().filter_map(|b| S3Location::parse(b).ok()).collect()
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::invalid(field, reason));
        if self.buckets.len() > 50 {
            return invalid("s3_replay.buckets", "at most 50 locations");
        }
        for bucket in &self.buckets {
            S3Location::parse(bucket).map_err(|reason| ConfigError::invalid("s3_replay.buckets", reason))?;
        }
        if !(1..=86_400).contains(&self.poll_interval_secs) {
            return invalid("s3_replay.poll_interval_secs", "must be 1..=86400");
        }
        if !(1..=24 * 366).contains(&self.lookback_hours) {
            return invalid("s3_replay.lookback_hours", "must be 1..=8784");
        }
        if !(10..=86_400).contains(&self.lease_secs) {
            return invalid("s3_replay.lease_secs", "must be 10..=86400");
        }
        Ok(())
    }
}

/// A bucket and a key prefix, written `s3://BUCKET/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

impl S3Location {
    /// Parses `s3://BUCKET[/PREFIX]`. Bucket names follow S3's rules (3-63 lowercase letters, digits,
    /// dots and hyphens); a prefix is at most 1024 bytes, S3's key limit.
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text.trim().strip_prefix("s3://").ok_or_else(|| format!("{text:?} must start with s3://"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
            && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
            && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
        if !valid_bucket {
            return Err(format!("{bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"));
        }
        if prefix.len() > 1024 || prefix.chars().any(char::is_control) {
            return Err("the prefix must be at most 1024 bytes without control characters".into());
        }
        Ok(Self { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
    }

    /// Whether `other` lies within this location (same bucket, prefix inside this one's).
    pub fn covers(&self, other: &S3Location) -> bool {
        self.bucket == other.bucket && other.prefix.starts_with(&self.prefix)
    }
}

impl std::fmt::Display for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_and_refuse() {
        let l = S3Location::parse("s3://my-backup/weblogs/errors/").unwrap();
        assert_eq!((l.bucket.as_str(), l.prefix.as_str()), ("my-backup", "weblogs/errors/"));
        assert_eq!(l.to_string(), "s3://my-backup/weblogs/errors/");
        assert_eq!(S3Location::parse("s3://my-backup").unwrap().prefix, "");
        for bad in ["my-backup/x", "s3://A_B/x", "s3://ab/x", "s3://-ab/", "http://bucket/x"] {
            assert!(S3Location::parse(bad).is_err(), "{bad}");
        }
        let inner = S3Location::parse("s3://my-backup/weblogs/errors/processing-failed/").unwrap();
        assert!(l.covers(&inner));
        assert!(!inner.covers(&l));
    }

    #[test]
    fn the_job_is_off_by_default_and_checks_its_bounds() {
        assert!(!S3ReplayConfig::default().enabled());
        assert!(S3ReplayConfig::default().validate().is_ok());
        assert!(S3Config::default().validate().is_ok());
        let bad = S3ReplayConfig { buckets: vec!["bucket".into()], ..Default::default() };
        assert!(bad.validate().is_err());
        assert!(S3Config { max_line_bytes: 10, ..Default::default() }.validate().is_err());
    }
}
