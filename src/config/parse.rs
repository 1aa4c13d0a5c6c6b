//! How lines are read: the log format of every source, or of each (`FIRESIGHT_PARSE__*`,
//! `[parse]` and `[parse.sources]` in the file). The formats themselves are compiled, and refused
//! when they do not compile, where the service is built (`app::build_formats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParseConfig {
    /// The log format of every source without its own (`FIRESIGHT_PARSE__LOG_FORMAT`): a preset
    /// (`combined`, `common`, `vhost_combined`, `nginx_combined`, `nginx_main`, `combined_timed`,
    /// `nginx_timed`), an nginx `log_format` string (`$variables`) or an Apache `LogFormat` string
    /// (`%directives`). Unset or `auto`: each line's format is recognised (combined, common, JSON).
    pub log_format: Option<String>,
    /// Log formats per source, in the file only (`[parse.sources]`): keyed by Firehose delivery stream
    /// or Kinesis data stream, ARN or name; the value as `log_format` (`auto` included).
    pub sources: BTreeMap<String, String>,
}

impl ParseConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.sources.keys().any(|k| k.trim().is_empty()) {
            return Err(ConfigError::invalid("parse.sources", "a source needs a stream ARN or name"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn per_source_formats_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("firesight.toml");
        std::fs::write(
            &path,
            r#"
[parse]
log_format = "combined"

[parse.sources]
"arn:aws:firehose:eu-west-1:111122223333:deliverystream/edge" = "nginx_main"
shop-logs = '$host $remote_addr "$request" $status $request_time'
agents = "auto"
"#,
        )
        .unwrap();
        let config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.parse.log_format.as_deref(), Some("combined"));
        assert_eq!(config.parse.sources.len(), 3);
        assert_eq!(config.parse.sources["shop-logs"], r#"$host $remote_addr "$request" $status $request_time"#);
        let from_env = Config::from_pairs(&[("PARSE__LOG_FORMAT", "nginx_main")]).unwrap();
        assert_eq!(from_env.parse.log_format.as_deref(), Some("nginx_main"));
    }
}
