//! The function's settings, from its environment variables (the service's names where they mean the
//! same thing): read once per container.

use std::path::PathBuf;
use std::sync::Arc;

use firesight_core::parse::LogFormat;

/// What the function does with a record that carries several lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultiLine {
    /// `ProcessingFailed`: the OpenSearch destination takes one document per record, so the record goes
    /// to the S3 `processing-failed/` prefix whole, for a replay that splits it.
    Fail,
    /// Newline-separated documents in one record (HTTP endpoint, firesight's own endpoint, S3).
    Ndjson,
}

/// A dynamic-partitioning key the function can give Firehose in `metadata.partitionKeys`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKey {
    /// `YYYY-MM-DD` of the request (UTC).
    Date,
    /// `HH` of the request (UTC).
    Hour,
    /// The virtual host (`destination.domain`), `unknown` when the line has none.
    Vhost,
    /// `2xx`, `4xx`, ...
    StatusClass,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `FIRESIGHT_GEOIP__CITY_DB`: a GeoIP2/GeoLite2 City (or Country) `.mmdb`, e.g. from a layer
    /// under `/opt`.
    pub city_db: Option<PathBuf>,
    /// `FIRESIGHT_GEOIP__ASN_DB`: a GeoLite2 ASN `.mmdb`.
    pub asn_db: Option<PathBuf>,
    /// `FIRESIGHT_LAMBDA__DROP_PATHS`: comma-separated paths whose requests are `Dropped`; a trailing
    /// `*` matches a prefix (`/health,/static/*`).
    pub drop_paths: Vec<String>,
    /// `FIRESIGHT_LAMBDA__DROP_BOTS`: drop requests from crawlers and bots (the user-agent rules').
    pub drop_bots: bool,
    /// `FIRESIGHT_LAMBDA__INCLUDE_ORIGINAL` (default true): keep the raw line as `event.original`.
    pub include_original: bool,
    /// `FIRESIGHT_LAMBDA__COMPACT`: only the fields firesight's query API reads (no `event.original`,
    /// `url.original`, `source.address`, `firehose.*`, continent, region, postal code, time zone), so
    /// more of a buffer fits Lambda's 6 MB answer.
    pub compact: bool,
    /// `FIRESIGHT_LAMBDA__MULTI_LINE`: `fail` (default) or `ndjson`.
    pub multi_line: MultiLine,
    /// `FIRESIGHT_LAMBDA__PARTITION_KEYS`: comma-separated `date`, `hour`, `vhost`, `status_class`.
    pub partition_keys: Vec<PartitionKey>,
    /// `FIRESIGHT_PARSE__LOG_FORMAT`, as the service reads it: a preset, an nginx `log_format` or an
    /// Apache `LogFormat` string; unset or `auto`, each line's format is recognised.
    pub log_format: Option<Arc<LogFormat>>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            city_db: None,
            asn_db: None,
            drop_paths: Vec::new(),
            drop_bots: false,
            include_original: true,
            compact: false,
            multi_line: MultiLine::Fail,
            partition_keys: Vec::new(),
            log_format: None,
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let list = |name: &str| -> Vec<String> {
            get(name)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let flag = |name: &str, default: bool| -> Result<bool, String> {
            match get(name).as_deref().map(str::trim) {
                None | Some("") => Ok(default),
                Some("true" | "1") => Ok(true),
                Some("false" | "0") => Ok(false),
                Some(other) => Err(format!("{name}: expected true or false, found {other:?}")),
            }
        };
        let path = |name: &str| get(name).map(|p| p.trim().to_owned()).filter(|p| !p.is_empty()).map(PathBuf::from);
        let drop_paths = list("FIRESIGHT_LAMBDA__DROP_PATHS");
        if let Some(bad) = drop_paths.iter().find(|p| !p.starts_with('/')) {
            return Err(format!("FIRESIGHT_LAMBDA__DROP_PATHS: {bad:?} does not start with /"));
        }
        let multi_line = match get("FIRESIGHT_LAMBDA__MULTI_LINE").as_deref().map(str::trim) {
            None | Some("" | "fail") => MultiLine::Fail,
            Some("ndjson") => MultiLine::Ndjson,
            Some(other) => {
                return Err(format!("FIRESIGHT_LAMBDA__MULTI_LINE: expected fail or ndjson, found {other:?}"));
            }
        };
        let partition_keys = list("FIRESIGHT_LAMBDA__PARTITION_KEYS")
            .iter()
            .map(|key| match key.as_str() {
                "date" => Ok(PartitionKey::Date),
                "hour" => Ok(PartitionKey::Hour),
                "vhost" => Ok(PartitionKey::Vhost),
                "status_class" => Ok(PartitionKey::StatusClass),
                other => Err(format!(
                    "FIRESIGHT_LAMBDA__PARTITION_KEYS: unknown key {other:?} (date, hour, vhost, status_class)"
                )),
            })
            .collect::<Result<_, _>>()?;
        let log_format = match get("FIRESIGHT_PARSE__LOG_FORMAT") {
            Some(spec) => LogFormat::from_setting(&spec).map_err(|e| format!("FIRESIGHT_PARSE__LOG_FORMAT: {e}"))?,
            None => None,
        };
        Ok(Settings {
            city_db: path("FIRESIGHT_GEOIP__CITY_DB"),
            asn_db: path("FIRESIGHT_GEOIP__ASN_DB"),
            drop_paths,
            drop_bots: flag("FIRESIGHT_LAMBDA__DROP_BOTS", false)?,
            include_original: flag("FIRESIGHT_LAMBDA__INCLUDE_ORIGINAL", true)?,
            compact: flag("FIRESIGHT_LAMBDA__COMPACT", false)?,
            multi_line,
            partition_keys,
            log_format: log_format.map(Arc::new),
        })
    }

    /// Whether a request for `path` is dropped.
    pub fn drops_path(&self, path: &str) -> bool {
        self.drop_paths.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == p,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        Settings::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn settings_from_the_environment() {
        let s = with(&[
            ("FIRESIGHT_LAMBDA__DROP_PATHS", "/health, /static/*"),
            ("FIRESIGHT_LAMBDA__DROP_BOTS", "true"),
            ("FIRESIGHT_LAMBDA__PARTITION_KEYS", "date,vhost"),
            ("FIRESIGHT_LAMBDA__MULTI_LINE", "ndjson"),
        ])
        .unwrap();
        assert!(s.drops_path("/health") && s.drops_path("/static/a.css"));
        assert!(!s.drops_path("/healthz") && !s.drops_path("/"));
        assert!(s.drop_bots && s.include_original);
        assert_eq!(s.partition_keys, [PartitionKey::Date, PartitionKey::Vhost]);
        assert_eq!(s.multi_line, MultiLine::Ndjson);
        assert!(with(&[("FIRESIGHT_LAMBDA__DROP_PATHS", "health")]).is_err());
        assert!(with(&[("FIRESIGHT_LAMBDA__PARTITION_KEYS", "weekday")]).is_err());
        assert!(with(&[("FIRESIGHT_LAMBDA__DROP_BOTS", "yes")]).is_err());
        assert!(s.log_format.is_none());
    }

    #[test]
    fn the_log_format_setting() {
        let s = with(&[("FIRESIGHT_PARSE__LOG_FORMAT", "nginx_main")]).unwrap();
        assert_eq!(s.log_format.map(|f| f.label()), Some("nginx_main"));
        assert!(with(&[("FIRESIGHT_PARSE__LOG_FORMAT", "auto")]).unwrap().log_format.is_none());
        let e = with(&[("FIRESIGHT_PARSE__LOG_FORMAT", "apache")]).unwrap_err();
        assert!(e.starts_with("FIRESIGHT_PARSE__LOG_FORMAT: unknown log format preset"), "{e}");
    }
}
