//! The HTTP edge: authentication switches and request limits.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Serve `/v1` without API keys (`FIRESIGHT_AUTH__DISABLED`). Accepted only when listening on a
    /// loopback address; a warning is logged at start.
    pub disabled: bool,
}

impl AuthConfig {
    /// Authentication may be off only when `listen` is a loopback address.
    pub(super) fn validate(&self, listen: SocketAddr) -> Result<(), ConfigError> {
        if self.disabled && !listen.ip().is_loopback() {
            return Err(ConfigError::invalid(
                "auth.disabled",
                format!("authentication can be disabled only when listening on a loopback address, not {listen}"),
            ));
        }
        Ok(())
    }
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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.body_limit_bytes == 0 {
            return Err(ConfigError::invalid("http.body_limit_bytes", "must be positive"));
        }
        if self.request_timeout_secs == 0 {
            return Err(ConfigError::invalid("http.request_timeout_secs", "must be positive"));
        }
        Ok(())
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }
}
