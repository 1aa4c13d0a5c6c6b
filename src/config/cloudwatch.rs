//! CloudWatch Logs, polled for Firehose delivery errors.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::secret::de_string_list;
use super::{ConfigError, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CloudWatchConfig {
    /// Poll Firehose delivery errors from CloudWatch Logs (`FIRESIGHT_CLOUDWATCH__ENABLED`).
    pub enabled: bool,
    /// Endpoint override, for emulators or VPC endpoints (`FIRESIGHT_CLOUDWATCH__ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// AWS region; unset means the SDK's chain (`AWS_REGION`, profile) (`FIRESIGHT_CLOUDWATCH__REGION`).
    pub region: Option<String>,
    /// Static access key id, for emulators; unset means the SDK's credential chain
    /// (`FIRESIGHT_CLOUDWATCH__ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Static secret access key, paired with `access_key_id` (`FIRESIGHT_CLOUDWATCH__SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<Secret>,
    /// Log groups to poll (`FIRESIGHT_CLOUDWATCH__LOG_GROUPS`, comma-separated). Empty: every group whose
    /// name starts with `log_group_prefix`, discovered with DescribeLogGroups.
    #[serde(deserialize_with = "de_string_list")]
    pub log_groups: Vec<String>,
    /// Prefix of the log groups to discover when `log_groups` is empty
    /// (`FIRESIGHT_CLOUDWATCH__LOG_GROUP_PREFIX`).
    pub log_group_prefix: String,
    /// Log streams to read within each group (`FIRESIGHT_CLOUDWATCH__LOG_STREAMS`, comma-separated);
    /// empty means all (Firehose names them `HttpEndpointDelivery`, `S3Delivery`, ...).
    #[serde(deserialize_with = "de_string_list")]
    pub log_streams: Vec<String>,
    /// Pause between polls once caught up, in seconds (`FIRESIGHT_CLOUDWATCH__POLL_INTERVAL_SECS`).
    pub poll_interval_secs: u64,
    /// FilterLogEvents and DescribeLogGroups calls per second from this replica
    /// (`FIRESIGHT_CLOUDWATCH__REQUESTS_PER_SECOND`). The account-wide FilterLogEvents quota is 5 per
    /// second per region: divide it among the replicas and anything else that calls it.
    pub requests_per_second: f64,
    /// Events per FilterLogEvents page, 1-10000 (`FIRESIGHT_CLOUDWATCH__PAGE_SIZE`).
    pub page_size: u32,
    /// Where polling of a log group without a checkpoint starts, in seconds before now
    /// (`FIRESIGHT_CLOUDWATCH__START_LOOKBACK_SECS`).
    pub start_lookback_secs: u64,
    /// How long events may take to become visible in CloudWatch Logs, in seconds
    /// (`FIRESIGHT_CLOUDWATCH__SETTLE_SECS`): the checkpoint stays this far behind now, and the overlap is
    /// deduplicated by event id.
    pub settle_secs: u64,
    /// How long a replica owns a log group without renewing, in seconds
    /// (`FIRESIGHT_CLOUDWATCH__LEASE_SECS`); another replica takes over after it.
    pub lease_secs: u64,
    /// How often the groups are rediscovered by prefix, in seconds
    /// (`FIRESIGHT_CLOUDWATCH__DISCOVERY_INTERVAL_SECS`).
    pub discovery_interval_secs: u64,
}

impl Default for CloudWatchConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            endpoint_url: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            log_groups: Vec::new(),
            log_group_prefix: "/aws/kinesisfirehose/".to_owned(),
            log_streams: Vec::new(),
            poll_interval_secs: 60,
            requests_per_second: 5.0,
            page_size: 10_000,
            start_lookback_secs: 86_400,
            settle_secs: 60,
            lease_secs: 180,
            discovery_interval_secs: 300,
        }
    }
}

impl CloudWatchConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::invalid(field, reason));
        if let Some(endpoint) = &self.endpoint_url {
            url::Url::parse(endpoint).map_err(|e| ConfigError::invalid("cloudwatch.endpoint_url", e.to_string()))?;
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return invalid("cloudwatch.access_key_id", "set both access_key_id and secret_access_key, or neither");
        }
        if !(self.requests_per_second > 0.0 && self.requests_per_second <= 100.0) {
            return invalid("cloudwatch.requests_per_second", "must be above 0 and at most 100");
        }
        if !(1..=10_000).contains(&self.page_size) {
            return invalid("cloudwatch.page_size", "must be 1..=10000");
        }
        if self.poll_interval_secs == 0 || self.discovery_interval_secs == 0 {
            return invalid("cloudwatch.poll_interval_secs", "poll and discovery intervals must be positive");
        }
        if self.lease_secs <= self.poll_interval_secs {
            return invalid("cloudwatch.lease_secs", "must exceed poll_interval_secs, or leases lapse between polls");
        }
        if self.start_lookback_secs > 366 * 86_400 || self.settle_secs > 86_400 {
            return invalid("cloudwatch.start_lookback_secs", "start lookback at most 366 days, settle at most a day");
        }
        if self.log_streams.len() > 100 {
            return invalid("cloudwatch.log_streams", "at most 100 (a FilterLogEvents limit)");
        }
        if self.log_groups.is_empty() && self.log_group_prefix.is_empty() {
            return invalid("cloudwatch.log_group_prefix", "set log_groups or a prefix to discover them by");
        }
        Ok(())
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_interval_secs)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn cloudwatch_lists_split_on_commas() {
        let config = Config::from_pairs(&[
            ("CLOUDWATCH__LOG_GROUPS", "/aws/kinesisfirehose/a, /aws/kinesisfirehose/b"),
            ("CLOUDWATCH__LOG_STREAMS", "HttpEndpointDelivery"),
            ("CLOUDWATCH__POLL_INTERVAL_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(config.cloudwatch.log_groups, ["/aws/kinesisfirehose/a", "/aws/kinesisfirehose/b"]);
        assert_eq!(config.cloudwatch.log_streams, ["HttpEndpointDelivery"]);
        assert_eq!(config.cloudwatch.poll_interval_secs, 5);
        let err = Config::from_pairs(&[("CLOUDWATCH__PAGE_SIZE", "0")]).unwrap_err();
        assert!(err.to_string().contains("cloudwatch.page_size"), "{err}");
    }
}
