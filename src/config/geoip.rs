//! GeoIP databases for enrichment.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GeoIpConfig {
    /// GeoIP2/GeoLite2 City or Country `.mmdb` file (`FIRESIGHT_GEOIP__CITY_DB`). Unset: no geo
    /// enrichment (one warning at start).
    pub city_db: Option<PathBuf>,
    /// GeoLite2/GeoIP2 ASN `.mmdb` file (`FIRESIGHT_GEOIP__ASN_DB`).
    pub asn_db: Option<PathBuf>,
}

impl GeoIpConfig {
    /// Each database given must be a file.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        for (field, path) in [("geoip.city_db", &self.city_db), ("geoip.asn_db", &self.asn_db)] {
            if let Some(path) = path.as_ref().filter(|p| !p.is_file()) {
                return Err(ConfigError::invalid(field, format!("{} is not a readable file", path.display())));
            }
        }
        Ok(())
    }
}
