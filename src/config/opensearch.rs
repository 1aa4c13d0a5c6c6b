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
    /// How requests authenticate (`FIRESIGHT_OPENSEARCH__AUTH`): `none`, `basic` or `sigv4`. Unset: `basic`
    /// when a user name is set, else `none`.
    pub auth: Option<AuthMode>,
    /// SigV4 service name (`FIRESIGHT_OPENSEARCH__AWS_SERVICE`): `es` for an Amazon OpenSearch Service
    /// domain, `aoss` for an OpenSearch Serverless collection (which also limits firesight to the
    /// operations Serverless supports).
    pub aws_service: AwsService,
    /// Region of the domain or collection (`FIRESIGHT_OPENSEARCH__AWS_REGION`); unset: the AWS SDK's
    /// region chain (`AWS_REGION`, the profile, the instance's region).
    pub aws_region: Option<String>,
    /// A role to assume with STS for the signing credentials, e.g. a cross-account domain's
    /// (`FIRESIGHT_OPENSEARCH__AWS_ROLE_ARN`).
    pub aws_role_arn: Option<String>,
    /// Serverless collection type (`FIRESIGHT_OPENSEARCH__COLLECTION_TYPE`): `search` keeps firesight's
    /// document ids (exactly-once); `timeseries` refuses custom ids (see the README for what a retry can
    /// duplicate there).
    pub collection_type: CollectionType,
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
    /// Crawler name, keyword (`firesight.crawler.name`).
    pub crawler: Option<String>,
    /// Crawler category, keyword (`firesight.crawler.category`).
    pub crawler_category: Option<String>,
    /// Virtual host, keyword (`destination.domain`).
    pub vhost: Option<String>,
    /// Request duration in nanoseconds, numeric (`event.duration`).
    pub duration: Option<String>,
}

impl Default for OpenSearchConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:9200".to_owned(),
            username: None,
            password: None,
            auth: None,
            aws_service: AwsService::Es,
            aws_region: None,
            aws_role_arn: None,
            collection_type: CollectionType::Search,
            index_prefix: "firesight-logs".to_owned(),
            replicas: 1,
            timeout_secs: 30,
            read_index: None,
            fields: FieldMapConfig::default(),
        }
    }
}

/// How firesight authenticates to OpenSearch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication (a cluster on a private network, or a proxy that signs).
    None,
    /// HTTP basic authentication (fine-grained access control's internal users).
    Basic,
    /// AWS Signature Version 4 with credentials from the AWS SDK's default chain.
    Sigv4,
}

/// The SigV4 service name, which is also the API surface firesight may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AwsService {
    /// Amazon OpenSearch Service domains (and self-managed clusters): the whole OpenSearch API.
    Es,
    /// OpenSearch Serverless collections: only the operations Serverless supports.
    Aoss,
}

impl AwsService {
    pub fn signing_name(self) -> &'static str {
        match self {
            AwsService::Es => "es",
            AwsService::Aoss => "aoss",
        }
    }
}

/// The type of an OpenSearch Serverless collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionType {
    Search,
    Timeseries,
}

impl OpenSearchConfig {
    /// The authentication in effect, with the default resolved.
    pub fn auth_mode(&self) -> AuthMode {
        self.auth.unwrap_or(if self.username.is_some() { AuthMode::Basic } else { AuthMode::None })
    }

    /// Whether the target is an OpenSearch Serverless collection.
    pub fn serverless(&self) -> bool {
        self.aws_service == AwsService::Aoss
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self.auth_mode() {
            AuthMode::Basic if self.username.is_none() || self.password.is_none() => {
                return Err(ConfigError::invalid(
                    "opensearch.auth",
                    "basic needs opensearch.username and opensearch.password",
                ));
            }
            AuthMode::Sigv4 if self.username.is_some() => {
                return Err(ConfigError::invalid(
                    "opensearch.auth",
                    "sigv4 signs with AWS credentials; unset opensearch.username",
                ));
            }
            _ => {}
        }
        if self.serverless() && self.auth_mode() != AuthMode::Sigv4 {
            return Err(ConfigError::invalid(
                "opensearch.aws_service",
                "aoss (OpenSearch Serverless) accepts only opensearch.auth = sigv4",
            ));
        }
        if self.collection_type == CollectionType::Timeseries && !self.serverless() {
            return Err(ConfigError::invalid(
                "opensearch.collection_type",
                "timeseries applies to opensearch.aws_service = aoss only",
            ));
        }
        if let Some(region) = &self.aws_region
            && (region.is_empty() || !region.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
        {
            return Err(ConfigError::invalid("opensearch.aws_region", "a region name such as eu-west-1"));
        }
        if let Some(arn) = &self.aws_role_arn
            && !(arn.starts_with("arn:") && arn.contains(":role/"))
        {
            return Err(ConfigError::invalid(
                "opensearch.aws_role_arn",
                "an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME",
            ));
        }
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
