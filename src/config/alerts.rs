//! Alert rules' evaluation and webhook delivery, and which private targets webhooks may reach.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ConfigError;
use super::secret::de_string_list;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Evaluate rules and dispatch webhooks in this process (`FIRESIGHT_ALERTS__ENABLED`). Several
    /// replicas may all enable it: the state database keeps incidents and deliveries unique.
    pub enabled: bool,
    /// Seconds between two evaluations of the rules (`FIRESIGHT_ALERTS__EVALUATION_INTERVAL_SECS`).
    pub evaluation_interval_secs: u64,
    /// Pauses before each retry of a failed delivery (`FIRESIGHT_ALERTS__RETRY_SCHEDULE`,
    /// comma-separated durations such as `5s,5m,30m`); each pause gets ±20% jitter. After the last one
    /// fails the delivery is marked failed.
    #[serde(deserialize_with = "de_string_list")]
    pub retry_schedule: Vec<String>,
    /// Seconds one webhook request may take (`FIRESIGHT_ALERTS__TIMEOUT_SECS`).
    pub timeout_secs: u64,
    /// Seconds between two looks for due deliveries (`FIRESIGHT_ALERTS__DISPATCH_INTERVAL_SECS`).
    pub dispatch_interval_secs: u64,
    /// Webhook targets on private, loopback or link-local addresses (`FIRESIGHT_ALERTS__ALLOW_PRIVATE_TARGETS`):
    /// `false` refuses them, `true` allows them all, a comma-separated list of CIDRs allows those.
    pub allow_private_targets: PrivateTargets,
    /// Days of alert history kept (`FIRESIGHT_ALERTS__HISTORY_DAYS`): finished deliveries and their
    /// attempts, events, resolved incidents. Pruned hourly; 0 keeps everything.
    pub history_days: u32,
    /// Base URL put in front of the `/v1` links in alert events (`FIRESIGHT_ALERTS__PUBLIC_URL`), e.g.
    /// `https://firesight.example.com`; unset leaves the links relative.
    pub public_url: Option<String>,
    /// A webhook whose every attempt failed for this long is disabled, and the other webhooks get an
    /// `alert.endpoint_disabled` event (`FIRESIGHT_ALERTS__DISABLE_AFTER_SECS`, default 5 days; 0 never
    /// disables).
    pub disable_after_secs: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            evaluation_interval_secs: 30,
            retry_schedule: ["5s", "5m", "30m", "2h", "5h", "10h", "10h"].map(str::to_owned).to_vec(),
            timeout_secs: 10,
            dispatch_interval_secs: 1,
            allow_private_targets: PrivateTargets::None,
            history_days: 90,
            public_url: None,
            disable_after_secs: 5 * 86_400,
        }
    }
}

impl AlertsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::invalid(field, reason));
        if !(1..=3600).contains(&self.evaluation_interval_secs) {
            return invalid("alerts.evaluation_interval_secs", "must be 1..=3600".into());
        }
        if !(1..=60).contains(&self.timeout_secs) {
            return invalid("alerts.timeout_secs", "must be 1..=60".into());
        }
        if !(1..=60).contains(&self.dispatch_interval_secs) {
            return invalid("alerts.dispatch_interval_secs", "must be 1..=60".into());
        }
        if self.retry_schedule.len() > 20 {
            return invalid("alerts.retry_schedule", "at most 20 retries".into());
        }
        if let Err(e) = self.retry_pauses() {
            return invalid("alerts.retry_schedule", e);
        }
        if let Some(url) = &self.public_url {
            match url::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return invalid("alerts.public_url", "must be an http or https URL".into()),
            }
        }
        Ok(())
    }

    /// The retry schedule as durations.
    pub fn retry_pauses(&self) -> Result<Vec<Duration>, String> {
        self.retry_schedule
            .iter()
            .map(|s| {
                crate::duration::parse(s, crate::duration::UP_TO_DAYS)
                    .filter(|d| *d <= Duration::from_secs(7 * 86_400))
                    .ok_or_else(|| format!("{s:?} is not a duration of at most 7 days (like 30s, 5m, 2h)"))
            })
            .collect()
    }
}

/// Which private, loopback or link-local webhook targets are allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivateTargets {
    /// None: public addresses only (the default).
    None,
    /// Every address.
    All,
    /// These networks, besides public addresses.
    Networks(Vec<ipnet::IpNet>),
}

impl Serialize for PrivateTargets {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            PrivateTargets::None => serializer.serialize_bool(false),
            PrivateTargets::All => serializer.serialize_bool(true),
            PrivateTargets::Networks(nets) => serializer.collect_seq(nets.iter().map(|n| n.to_string())),
        }
    }
}

impl<'de> Deserialize<'de> for PrivateTargets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            One(String),
            Many(Vec<String>),
        }
        let items = match Raw::deserialize(deserializer)? {
            Raw::Flag(true) => return Ok(PrivateTargets::All),
            Raw::Flag(false) => return Ok(PrivateTargets::None),
            Raw::One(s) => match s.trim() {
                "true" => return Ok(PrivateTargets::All),
                "false" | "" => return Ok(PrivateTargets::None),
                s => s.split(',').map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).collect(),
            },
            Raw::Many(v) => v,
        };
        let nets = items
            .iter()
            .map(|item| {
                item.parse::<ipnet::IpNet>()
                    .or_else(|_| item.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        serde::de::Error::custom(format!("{item:?} is not true, false or a CIDR like 127.0.0.0/8"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PrivateTargets::Networks(nets))
    }
}

#[cfg(test)]
mod tests {
    use super::PrivateTargets;
    use crate::config::Config;

    #[test]
    fn private_targets_take_a_flag_or_networks() {
        let config = Config::from_pairs::<&str, &str>(&[]).unwrap();
        assert_eq!(config.alerts.allow_private_targets, PrivateTargets::None);
        let config = Config::from_pairs(&[("ALERTS__ALLOW_PRIVATE_TARGETS", "true")]).unwrap();
        assert_eq!(config.alerts.allow_private_targets, PrivateTargets::All);
        let config = Config::from_pairs(&[("ALERTS__ALLOW_PRIVATE_TARGETS", "127.0.0.0/8, ::1")]).unwrap();
        assert_eq!(
            config.alerts.allow_private_targets,
            PrivateTargets::Networks(vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()])
        );
        let err = Config::from_pairs(&[("ALERTS__ALLOW_PRIVATE_TARGETS", "localhost")]).unwrap_err();
        assert!(err.to_string().contains("CIDR"), "{err}");
        let err = Config::from_pairs(&[("ALERTS__RETRY_SCHEDULE", "5s,soon")]).unwrap_err();
        assert!(err.to_string().contains("alerts.retry_schedule"), "{err}");
    }
}
