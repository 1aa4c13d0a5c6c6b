//! Configuration: built-in defaults, then an optional TOML file, then `FIRESIGHT_*` environment
//! variables (nested keys joined with `__`, e.g. `FIRESIGHT_OPENSEARCH__URL`). Loaded and validated once
//! at start; everything downstream receives plain typed values.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Serialize` never show the value, so printing the
//! effective configuration (`firesight check-config`) is safe.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Environment variable prefix of every setting.
pub const ENV_PREFIX: &str = "FIRESIGHT_";

/// The whole service configuration. Every field has a default, so an empty environment is valid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP API listens on (`FIRESIGHT_LISTEN`).
    pub listen: SocketAddr,
    /// Directory for local state: the SQLite database and the embedded log store (`FIRESIGHT_DATA_DIR`).
    pub data_dir: PathBuf,
    /// State database URL (`FIRESIGHT_DATABASE_URL`). Unset means SQLite at `<data_dir>/firesight.db`;
    /// `postgres://...` selects PostgreSQL (required for several replicas).
    pub database_url: Option<Secret>,
    /// Which log store holds the access logs (`FIRESIGHT_STORE`): `embedded` (the default, under the
    /// data directory) or `opensearch`.
    pub store: StoreKind,
    /// Load sample traffic (the bundled real access log, shifted to end now) when the store has nothing
    /// from the last day (`FIRESIGHT_DEMO`; `firesight serve --demo`).
    pub demo: bool,
    /// API keys accepted on `/v1` as `Authorization: Bearer <key>` (`FIRESIGHT_API_KEYS`,
    /// comma-separated). Kept only as SHA-256 digests once loaded.
    #[serde(deserialize_with = "de_secret_list")]
    pub api_keys: Vec<Secret>,
    /// Authentication switches.
    pub auth: AuthConfig,
    /// HTTP edge limits.
    pub http: HttpConfig,
    /// OpenSearch log store settings (`FIRESIGHT_OPENSEARCH__*`).
    pub opensearch: OpenSearchConfig,
    /// Embedded log store settings (`FIRESIGHT_EMBEDDED__*`).
    pub embedded: EmbeddedConfig,
    /// CloudWatch Logs settings (`FIRESIGHT_CLOUDWATCH__*`).
    pub cloudwatch: CloudWatchConfig,
    /// Firehose HTTP endpoint settings (`FIRESIGHT_FIREHOSE__*`).
    pub firehose: FirehoseConfig,
    /// GeoIP databases (`FIRESIGHT_GEOIP__*`).
    pub geoip: GeoIpConfig,
    /// Query API limits and the aggregate cache (`FIRESIGHT_QUERY__*`).
    pub query: QueryConfig,
    /// Alert rules and webhook delivery (`FIRESIGHT_ALERTS__*`).
    pub alerts: AlertsConfig,
    /// Log output settings (`FIRESIGHT_LOG__*`).
    pub log: LogConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./firesight-data"),
            database_url: None,
            store: StoreKind::Embedded,
            demo: false,
            api_keys: Vec::new(),
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            opensearch: OpenSearchConfig::default(),
            embedded: EmbeddedConfig::default(),
            cloudwatch: CloudWatchConfig::default(),
            firehose: FirehoseConfig::default(),
            geoip: GeoIpConfig::default(),
            query: QueryConfig::default(),
            alerts: AlertsConfig::default(),
            log: LogConfig::default(),
        }
    }
}

/// Which log store backs ingest and queries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Amazon OpenSearch Service or a self-managed OpenSearch cluster.
    #[serde(rename = "opensearch")]
    OpenSearch,
    /// The embedded single-machine store under the data directory.
    Embedded,
}

impl StoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::OpenSearch => "opensearch",
            StoreKind::Embedded => "embedded",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Serve `/v1` without API keys (`FIRESIGHT_AUTH__DISABLED`). Accepted only when listening on a
    /// loopback address; a warning is logged at start.
    pub disabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest request body accepted on the REST API, in bytes (`FIRESIGHT_HTTP__BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// Time limit for one request, in seconds (`FIRESIGHT_HTTP__REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// How long in-flight requests may take to finish after a shutdown signal, in seconds
    /// (`FIRESIGHT_HTTP__SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self { body_limit_bytes: 1024 * 1024, request_timeout_secs: 30, shutdown_grace_secs: 30 }
    }
}

impl HttpConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}

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
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| Err(ConfigError::Invalid { field, reason: reason.to_owned() });
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

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// GeoIP2/GeoLite2 City or Country `.mmdb` file (`FIRESIGHT_GEOIP__CITY_DB`). Unset: no geo
    /// enrichment (one warning at start).
    pub city_db: Option<PathBuf>,
    /// GeoLite2/GeoIP2 ASN `.mmdb` file (`FIRESIGHT_GEOIP__ASN_DB`).
    pub asn_db: Option<PathBuf>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Days of access logs kept, counted in whole UTC days back from today; older days are dropped
    /// in the background (`FIRESIGHT_EMBEDDED__RETENTION_DAYS`). 0 keeps everything (backfills of old
    /// logs stay).
    pub retention_days: u32,
    /// Indexing memory of one day's writer in MiB; a segment is written when it fills
    /// (`FIRESIGHT_EMBEDDED__WRITER_MEMORY_MB`).
    pub writer_memory_mb: u32,
    /// Acknowledged documents kept in the write-ahead log before they are committed to their days
    /// (`FIRESIGHT_EMBEDDED__COMMIT_DOCS`); a read commits them sooner. 1 commits every delivery.
    pub commit_docs: u32,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self { retention_days: 0, writer_memory_mb: 256, commit_docs: 100_000 }
    }
}

/// Most documents one page of a log search returns (`size` of `/v1/logs`, the stores' searches); the
/// bound of `query.default_page_size`.
pub const MAX_PAGE_SIZE: u32 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Longest time range a query may cover, in days (`FIRESIGHT_QUERY__MAX_RANGE_DAYS`).
    pub max_range_days: u32,
    /// Relative times (`now-24h`) are aligned up to a multiple of this many seconds, so dashboards
    /// opened moments apart share cache entries (`FIRESIGHT_QUERY__ALIGN_SECS`).
    pub align_secs: u32,
    /// `size` of `/v1/logs` when not given (`FIRESIGHT_QUERY__DEFAULT_PAGE_SIZE`).
    pub default_page_size: u32,
    /// Memory for cached aggregate answers, in bytes (`FIRESIGHT_QUERY__CACHE_MAX_BYTES`).
    pub cache_max_bytes: u64,
    /// Freshness of cached answers whose range reaches the present (`FIRESIGHT_QUERY__CACHE_TTL_LIVE_SECS`).
    pub cache_ttl_live_secs: u64,
    /// Freshness of cached answers over closed past ranges (`FIRESIGHT_QUERY__CACHE_TTL_CLOSED_SECS`).
    pub cache_ttl_closed_secs: u64,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            max_range_days: 366,
            align_secs: 10,
            default_page_size: 100,
            cache_max_bytes: 64 * 1024 * 1024,
            cache_ttl_live_secs: 10,
            cache_ttl_closed_secs: 600,
        }
    }
}

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
        }
    }
}

impl AlertsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: String| Err(ConfigError::Invalid { field, reason });
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` for people, `json` for log shippers (`FIRESIGHT_LOG__FORMAT`).
    pub format: LogFormat,
    /// Filter in `tracing` env-filter syntax (`FIRESIGHT_LOG__LEVEL`), e.g. `info,firesight=debug`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".to_owned() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// A configuration value that must never be printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself; call only where it is used, never to log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"[redacted]\"")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

/// Accepts a comma-separated string (the natural form of an environment variable) or a list.
fn de_secret_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Secret>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let items = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => s.split(',').map(str::to_owned).collect(),
        OneOrMany::Many(v) => v,
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).map(Secret).collect())
}

/// Accepts a comma-separated string or a list, like [`de_secret_list`], for values that are not secret.
fn de_string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(de_secret_list(deserializer)?.into_iter().map(|s| s.0).collect())
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path} does not exist")]
    MissingFile { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Parse(#[source] Box<figment::Error>),
    #[error("invalid configuration: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl Config {
    /// Loads defaults, then `file` if given, then the `FIRESIGHT_*` environment, and validates.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile { path: path.to_owned() });
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env_provider());
        Self::from_figment(figment)
    }

    /// Loads from explicit key/value pairs over the defaults, as if they were `FIRESIGHT_*` variables
    /// (`("OPENSEARCH__URL", "...")`). Used by tests and embedders, which must not mutate the process
    /// environment.
    pub fn from_pairs<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        for (k, v) in pairs {
            let key = k.as_ref().to_ascii_lowercase().replace("__", ".");
            let value = parse_env_value(v.as_ref());
            figment = figment.merge(Serialized::global(&key, value));
        }
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Self, ConfigError> {
        let config: Config = figment.extract().map_err(|e| ConfigError::Parse(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the relations between fields that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.disabled && !self.listen.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                field: "auth.disabled",
                reason: format!(
                    "authentication can be disabled only when listening on a loopback address, not {}",
                    self.listen
                ),
            });
        }
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid {
                    field: "database_url",
                    reason: "must start with sqlite:, postgres:// or postgresql://".to_owned(),
                });
            }
        }
        if !(16..=16_384).contains(&self.embedded.writer_memory_mb) {
            return Err(ConfigError::Invalid {
                field: "embedded.writer_memory_mb",
                reason: "must be 16..=16384".to_owned(),
            });
        }
        if !(1..=1_000_000).contains(&self.embedded.commit_docs) {
            return Err(ConfigError::Invalid {
                field: "embedded.commit_docs",
                reason: "must be 1..=1000000".to_owned(),
            });
        }
        let os_url = url::Url::parse(&self.opensearch.url)
            .map_err(|e| ConfigError::Invalid { field: "opensearch.url", reason: e.to_string() })?;
        if !matches!(os_url.scheme(), "http" | "https") {
            return Err(ConfigError::Invalid {
                field: "opensearch.url",
                reason: "scheme must be http or https".into(),
            });
        }
        if self.opensearch.index_prefix.is_empty()
            || !self
                .opensearch
                .index_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
        {
            return Err(ConfigError::Invalid {
                field: "opensearch.index_prefix",
                reason: "use lowercase letters, digits, '-' and '_' only".into(),
            });
        }
        if self.http.body_limit_bytes == 0 {
            return Err(ConfigError::Invalid { field: "http.body_limit_bytes", reason: "must be positive".into() });
        }
        if self.http.request_timeout_secs == 0 {
            return Err(ConfigError::Invalid { field: "http.request_timeout_secs", reason: "must be positive".into() });
        }
        if let Some(endpoint) = &self.cloudwatch.endpoint_url {
            url::Url::parse(endpoint)
                .map_err(|e| ConfigError::Invalid { field: "cloudwatch.endpoint_url", reason: e.to_string() })?;
        }
        if self.cloudwatch.access_key_id.is_some() != self.cloudwatch.secret_access_key.is_some() {
            return Err(ConfigError::Invalid {
                field: "cloudwatch.access_key_id",
                reason: "set both access_key_id and secret_access_key, or neither".into(),
            });
        }
        self.cloudwatch.validate()?;
        if self.firehose.max_records == 0 || self.firehose.max_records > 100_000 {
            return Err(ConfigError::Invalid { field: "firehose.max_records", reason: "must be 1..=100000".into() });
        }
        if self.firehose.deadline_secs == 0 || self.firehose.deadline_secs >= 170 {
            return Err(ConfigError::Invalid {
                field: "firehose.deadline_secs",
                reason: "must be 1..170 so Firehose (180 s timeout) gets an answer".into(),
            });
        }
        for (field, path) in [("geoip.city_db", &self.geoip.city_db), ("geoip.asn_db", &self.geoip.asn_db)] {
            if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("{} is not a readable file", path.display()),
                });
            }
        }
        if self.query.max_range_days == 0 || self.query.align_secs == 0 {
            return Err(ConfigError::Invalid {
                field: "query.max_range_days",
                reason: "max_range_days and align_secs must be positive".into(),
            });
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.query.default_page_size) {
            return Err(ConfigError::Invalid {
                field: "query.default_page_size",
                reason: format!("must be 1..={MAX_PAGE_SIZE}"),
            });
        }
        self.alerts.validate()?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|e| ConfigError::Invalid { field: "log.level", reason: e.to_string() })?;
        Ok(())
    }

    /// The state database URL, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("firesight.db").display()),
        }
    }
}

/// `FIRESIGHT_*` variables, except the `FIRESIGHT_TEST_*` and `FIRESIGHT_DEV_*` families that belong to
/// the test harness and the dev scripts.
fn env_provider() -> Env {
    Env::prefixed(ENV_PREFIX)
        .filter(|key| {
            let key = key.as_str().to_ascii_lowercase();
            !(key.starts_with("test_") || key.starts_with("dev_") || key == "config")
        })
        .split("__")
}

/// Interprets a string the way figment interprets an environment value (booleans and numbers typed).
fn parse_env_value(value: &str) -> figment::value::Value {
    value.parse::<figment::value::Value>().unwrap_or_else(|_| figment::value::Value::from(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_local() {
        let config = Config::from_pairs::<&str, &str>(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("./firesight-data"));
        assert_eq!(config.store, StoreKind::Embedded);
        assert!(config.database_url().starts_with("sqlite://"));
        assert!(config.api_keys.is_empty());
    }

    #[test]
    fn api_keys_split_on_commas_and_stay_secret() {
        let config = Config::from_pairs(&[("API_KEYS", "k1, k2,,k3")]).unwrap();
        let keys: Vec<&str> = config.api_keys.iter().map(Secret::expose).collect();
        assert_eq!(keys, ["k1", "k2", "k3"]);
        let printed = format!("{config:?}");
        assert!(!printed.contains("k1"), "{printed}");
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains("k2"), "{json}");
    }

    #[test]
    fn nested_keys_use_double_underscore() {
        let config =
            Config::from_pairs(&[("OPENSEARCH__URL", "http://10.0.0.1:9200"), ("AUTH__DISABLED", "true")]).unwrap();
        assert_eq!(config.opensearch.url, "http://10.0.0.1:9200");
        assert!(config.auth.disabled);
    }

    #[test]
    fn auth_disabled_refused_off_loopback() {
        let err = Config::from_pairs(&[("LISTEN", "0.0.0.0:8080"), ("AUTH__DISABLED", "true")]).unwrap_err();
        assert!(err.to_string().contains("auth.disabled"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_pairs(&[("OPENSEARCH__URLL", "http://x")]).unwrap_err();
        assert!(err.to_string().contains("urll"), "{err}");
    }

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

    #[test]
    fn embedded_commits_every_so_many_logged_documents() {
        assert_eq!(Config::from_pairs::<&str, &str>(&[]).unwrap().embedded.commit_docs, 100_000);
        let config = Config::from_pairs(&[("EMBEDDED__COMMIT_DOCS", "1")]).unwrap();
        assert_eq!(config.embedded.commit_docs, 1);
        let err = Config::from_pairs(&[("EMBEDDED__COMMIT_DOCS", "0")]).unwrap_err();
        assert!(err.to_string().contains("embedded.commit_docs"), "{err}");
    }

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

    #[test]
    fn each_section_refuses_with_its_field_and_reason() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("LISTEN", "0.0.0.0:8080"), ("AUTH__DISABLED", "true")],
                "auth.disabled: authentication can be disabled only when listening on a loopback address, not 0.0.0.0:8080",
            ),
            (&[("DATABASE_URL", "mysql://x")], "database_url: must start with sqlite:, postgres:// or postgresql://"),
            (&[("EMBEDDED__WRITER_MEMORY_MB", "8")], "embedded.writer_memory_mb: must be 16..=16384"),
            (&[("OPENSEARCH__URL", "ftp://x")], "opensearch.url: scheme must be http or https"),
            (
                &[("OPENSEARCH__INDEX_PREFIX", "Logs")],
                "opensearch.index_prefix: use lowercase letters, digits, '-' and '_' only",
            ),
            (&[("HTTP__BODY_LIMIT_BYTES", "0")], "http.body_limit_bytes: must be positive"),
            (&[("HTTP__REQUEST_TIMEOUT_SECS", "0")], "http.request_timeout_secs: must be positive"),
            (
                &[("CLOUDWATCH__ACCESS_KEY_ID", "k")],
                "cloudwatch.access_key_id: set both access_key_id and secret_access_key, or neither",
            ),
            (
                &[("CLOUDWATCH__LEASE_SECS", "60")],
                "cloudwatch.lease_secs: must exceed poll_interval_secs, or leases lapse between polls",
            ),
            (&[("FIREHOSE__MAX_RECORDS", "0")], "firehose.max_records: must be 1..=100000"),
            (
                &[("FIREHOSE__DEADLINE_SECS", "170")],
                "firehose.deadline_secs: must be 1..170 so Firehose (180 s timeout) gets an answer",
            ),
            (
                &[("GEOIP__ASN_DB", "/nonexistent/asn.mmdb")],
                "geoip.asn_db: /nonexistent/asn.mmdb is not a readable file",
            ),
            (&[("QUERY__ALIGN_SECS", "0")], "query.max_range_days: max_range_days and align_secs must be positive"),
            (&[("QUERY__DEFAULT_PAGE_SIZE", "1001")], "query.default_page_size: must be 1..=1000"),
            (&[("ALERTS__TIMEOUT_SECS", "61")], "alerts.timeout_secs: must be 1..=60"),
            // Several refusals: the first section in `Config::validate`'s order is reported.
            (
                &[("QUERY__ALIGN_SECS", "0"), ("HTTP__BODY_LIMIT_BYTES", "0"), ("EMBEDDED__COMMIT_DOCS", "0")],
                "embedded.commit_docs: must be 1..=1000000",
            ),
        ];
        for (pairs, reason) in cases {
            let err = Config::from_pairs(pairs).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid configuration: {reason}"), "{pairs:?}");
        }
        let err = Config::from_pairs(&[("LOG__LEVEL", "info,=[")]).unwrap_err();
        assert!(err.to_string().starts_with("invalid configuration: log.level: "), "{err}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let err = Config::from_pairs(&[("DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("database_url"), "{err}");
        let err = Config::from_pairs(&[("STORE", "elastic")]).unwrap_err();
        assert!(err.to_string().contains("store"), "{err}");
    }
}
