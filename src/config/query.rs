//! Query API limits and the aggregate cache.

use serde::{Deserialize, Serialize};

use super::ConfigError;

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

impl QueryConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_range_days == 0 || self.align_secs == 0 {
            return Err(ConfigError::invalid("query.max_range_days", "max_range_days and align_secs must be positive"));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.default_page_size) {
            return Err(ConfigError::invalid("query.default_page_size", format!("must be 1..={MAX_PAGE_SIZE}")));
        }
        Ok(())
    }
}
