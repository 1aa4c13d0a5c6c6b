//! Configuration: built-in defaults, then an optional TOML file, then `FIRESIGHT_*` environment
//! variables (nested keys joined with `__`, e.g. `FIRESIGHT_OPENSEARCH__URL`). Loaded and validated once
//! at start; everything downstream receives plain typed values.
//!
//! Secrets are held in [`Secret`], whose `Debug` and `Serialize` never show the value, so printing the
//! effective configuration (`firesight check-config`) is safe.
//!
//! Each section lives in its own module and checks its own values (`validate`); [`Config::validate`]
//! composes those checks with the few that span sections.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod alerts;
mod cloudwatch;
mod embedded;
mod firehose;
mod geoip;
mod http;
mod kinesis;
mod log;
mod opensearch;
mod parse;
mod query;
mod s3;
mod secret;
mod tail;

pub use self::alerts::{AlertsConfig, PrivateTargets};
pub use self::cloudwatch::CloudWatchConfig;
pub use self::embedded::EmbeddedConfig;
pub use self::firehose::FirehoseConfig;
pub use self::geoip::GeoIpConfig;
pub use self::http::{AuthConfig, HttpConfig};
pub use self::kinesis::{KinesisConfig, StartPosition};
pub use self::log::{LogConfig, LogFormat};
pub use self::opensearch::{AuthMode, AwsService, CollectionType, FieldMapConfig, OpenSearchConfig};
pub use self::parse::ParseConfig;
pub use self::query::{MAX_PAGE_SIZE, QueryConfig};
pub use self::s3::{S3Config, S3Location, S3ReplayConfig};
pub use self::secret::Secret;
use self::secret::de_secret_list;
pub use self::tail::{MAX_TAIL_BUFFER, MAX_TAIL_DURATION_SECS, MAX_TAIL_RATE, TailConfig};

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
    /// Key sealing webhook signing secrets in the state database (`FIRESIGHT_SECRETS_KEY`): 32 random
    /// bytes in base64 (`openssl rand -base64 32`), AES-256-GCM. Without it secrets are stored as they
    /// are, and webhooks can be created only while the service listens on loopback.
    pub secrets_key: Option<Secret>,
    /// Earlier keys, still accepted to open secrets until the start seals them again under
    /// `secrets_key` (`FIRESIGHT_SECRETS_OLD_KEYS`, comma-separated).
    #[serde(deserialize_with = "de_secret_list")]
    pub secrets_old_keys: Vec<Secret>,
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
    /// Kinesis Data Streams consumer settings (`FIRESIGHT_KINESIS__*`).
    pub kinesis: KinesisConfig,
    /// The S3 client that reads Firehose's backup of failed records (`FIRESIGHT_S3__*`).
    pub s3: S3Config,
    /// The background replay of those records (`FIRESIGHT_S3_REPLAY__*`).
    pub s3_replay: S3ReplayConfig,
    /// Firehose HTTP endpoint settings (`FIRESIGHT_FIREHOSE__*`).
    pub firehose: FirehoseConfig,
    /// GeoIP databases (`FIRESIGHT_GEOIP__*`).
    pub geoip: GeoIpConfig,
    /// Log formats (`FIRESIGHT_PARSE__*`).
    pub parse: ParseConfig,
    /// Query API limits and the aggregate cache (`FIRESIGHT_QUERY__*`).
    pub query: QueryConfig,
    /// Alert rules and webhook delivery (`FIRESIGHT_ALERTS__*`).
    pub alerts: AlertsConfig,
    /// The live tail of newly indexed documents (`FIRESIGHT_TAIL__*`).
    pub tail: TailConfig,
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
            secrets_key: None,
            secrets_old_keys: Vec::new(),
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            opensearch: OpenSearchConfig::default(),
            embedded: EmbeddedConfig::default(),
            cloudwatch: CloudWatchConfig::default(),
            kinesis: KinesisConfig::default(),
            s3: S3Config::default(),
            s3_replay: S3ReplayConfig::default(),
            firehose: FirehoseConfig::default(),
            geoip: GeoIpConfig::default(),
            parse: ParseConfig::default(),
            query: QueryConfig::default(),
            alerts: AlertsConfig::default(),
            tail: TailConfig::default(),
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

impl ConfigError {
    /// A refused value: `field` names it as in the file (`section.key`), `reason` says what is wrong.
    fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid { field, reason: reason.into() }
    }
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

    /// Checks the relations between fields that types alone cannot express: each section's own checks,
    /// in this order (the first refusal is the one reported), and those spanning sections.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.auth.validate(self.listen)?;
        self.validate_database_url()?;
        self.embedded.validate()?;
        self.opensearch.validate()?;
        self.http.validate()?;
        self.cloudwatch.validate()?;
        self.kinesis.validate()?;
        self.s3.validate()?;
        self.s3_replay.validate()?;
        self.firehose.validate()?;
        self.geoip.validate()?;
        self.parse.validate()?;
        self.query.validate()?;
        self.alerts.validate()?;
        self.tail.validate()?;
        self.log.validate()?;
        self.validate_secrets_keys()
    }

    /// Each secrets key is 32 bytes in base64; old keys need a current one.
    fn validate_secrets_keys(&self) -> Result<(), ConfigError> {
        use base64::Engine;
        let sized = |k: &Secret| {
            base64::engine::general_purpose::STANDARD.decode(k.expose().trim()).is_ok_and(|b| b.len() == 32)
        };
        if self.secrets_key.as_ref().is_some_and(|k| !sized(k)) {
            return Err(ConfigError::invalid("secrets_key", "must be 32 bytes in base64 (openssl rand -base64 32)"));
        }
        if self.secrets_old_keys.iter().any(|k| !sized(k)) {
            return Err(ConfigError::invalid("secrets_old_keys", "each must be 32 bytes in base64"));
        }
        if self.secrets_key.is_none() && !self.secrets_old_keys.is_empty() {
            return Err(ConfigError::invalid("secrets_old_keys", "needs a current FIRESIGHT_SECRETS_KEY to rotate to"));
        }
        Ok(())
    }

    /// The state database URL, when given, names SQLite or PostgreSQL.
    fn validate_database_url(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            let url = url.expose();
            if !(url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::invalid(
                    "database_url",
                    "must start with sqlite:, postgres:// or postgresql://",
                ));
            }
        }
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
            (&[("TAIL__MAX_CLIENTS", "0")], "tail.max_clients: must be 1..=10000"),
            (&[("TAIL__BUFFER", "0")], "tail.buffer: must be 1..=1000000"),
            (&[("TAIL__MAX_EVENTS_PER_SECOND", "100001")], "tail.max_events_per_second: must be 1..=100000"),
            (&[("TAIL__MAX_DURATION_SECS", "86401")], "tail.max_duration_secs: must be 1..=86400"),
            (&[("TAIL__KEEP_ALIVE_SECS", "0")], "tail.keep_alive_secs: must be 1..=300"),
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
