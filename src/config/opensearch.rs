//! The OpenSearch log store: the cluster, the indices and the field names in indices firesight did not
//! write.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenSearchConfig {
    /// Base URL of the cluster (`FIRESIGHT_OPENSEARCH__URL`).
    pub url: String,
    /// Basic-auth user name (`FIRESIGHT_OPENSEARCH__USERNAME`).
    pub username: Option<String>,
    /// Basic-auth password (`FIRESIGHT_OPENSEARCH__PASSWORD`).
    pub password: Option<Secret>,
    /// Prefix of the daily indices, `<prefix>-YYYY.MM.DD` (`FIRESIGHT_OPENSEARCH__INDEX_PREFIX`).
    pub index_prefix: String,
    /// Replicas per index in the installed template (`FIRESIGHT_OPENSEARCH__REPLICAS`).
    pub replicas: u32,
    /// Per-request timeout towards OpenSearch, in seconds (`FIRESIGHT_OPENSEARCH__TIMEOUT_SECS`).
    pub timeout_secs: u64,
    /// Index pattern the query API reads (`FIRESIGHT_OPENSEARCH__READ_INDEX`); default `<prefix>-*`.
    /// Point it at indices Firehose writes itself (e.g. `weblogs-*`) together with `fields`.
    pub read_index: Option<String>,
    /// Field names in the read indices when they are not firesight's (ECS) names
    /// (`FIRESIGHT_OPENSEARCH__FIELDS__<NAME>`).
    pub fields: FieldMapConfig,
}

/// Where each logical field lives in indices firesight did not write. Unset fields keep firesight's
/// ECS name; set one to an empty string to declare it absent (queries needing it answer 400).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMapConfig {
    /// Event time, a `date` field (ECS `@timestamp`).
    pub timestamp: Option<String>,
    /// Client address, an `ip` or keyword field (`source.ip`).
    pub client_ip: Option<String>,
    /// Response status, numeric or keyword (`http.response.status_code`).
    pub status: Option<String>,
    /// Request method (`http.request.method`).
    pub method: Option<String>,
    /// Request path without the query (`url.path`).
    pub path: Option<String>,
    /// Response size in bytes, numeric (`http.response.body.bytes`).
    pub bytes: Option<String>,
    /// Referrer host (`firesight.referrer_host`).
    pub referrer_host: Option<String>,
    /// Country ISO code (`source.geo.country_iso_code`).
    pub country: Option<String>,
    /// Country name (`source.geo.country_name`).
    pub country_name: Option<String>,
    /// City name (`source.geo.city_name`).
    pub city: Option<String>,
    /// Geo point (`source.geo.location`).
    pub location: Option<String>,
    /// Browser family (`user_agent.name`).
    pub browser: Option<String>,
    /// OS family (`user_agent.os.name`).
    pub os: Option<String>,
    /// Device family (`user_agent.device.name`).
    pub device: Option<String>,
    /// Raw user agent, keyword (`user_agent.original`).
    pub user_agent: Option<String>,
    /// Bot flag, boolean (`firesight.bot`).
    pub bot: Option<String>,
    /// Visitor key, keyword (`firesight.visitor`); without it unique visitors fall back to client IPs.
    pub visitor: Option<String>,
}

impl Default for OpenSearchConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9200".to_owned(),
            username: None,
            password: None,
            index_prefix: "firesight-logs".to_owned(),
            replicas: 1,
            timeout_secs: 30,
            read_index: None,
            fields: FieldMapConfig::default(),
        }
    }
}

impl OpenSearchConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let url = url::Url::parse(&self.url).map_err(|e| ConfigError::invalid("opensearch.url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::invalid("opensearch.url", "scheme must be http or https"));
        }
        if self.index_prefix.is_empty()
            || !self
                .index_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
        {
            return Err(ConfigError::invalid(
                "opensearch.index_prefix",
                "use lowercase letters, digits, '-' and '_' only",
            ));
        }
        Ok(())
    }
}
