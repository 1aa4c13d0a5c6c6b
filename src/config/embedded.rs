//! The embedded log store under the data directory.

use serde::{Deserialize, Serialize};

use super::ConfigError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Days of access logs kept, counted in whole UTC days back from today; older days are dropped
    /// in the background (`FIRESIGHT_EMBEDDED__RETENTION_DAYS`). 0 keeps everything (backfills of old
    /// logs stay).
    pub retention_days: u32,
    /// Indexing memory of all the day writers together in MiB, shared equally by the `max_open_days`
    /// writers; a writer indexes on as many threads (up to one a core) as its share gives 15 MiB each
    /// (tantivy's floor), on one below that, and writes a segment when a thread's part fills
    /// (`FIRESIGHT_EMBEDDED__WRITER_MEMORY_MB`).
    pub writer_memory_mb: u32,
    /// Day writers kept open at once; a batch for another day commits and closes the least recently
    /// used (`FIRESIGHT_EMBEDDED__MAX_OPEN_DAYS`).
    pub max_open_days: u32,
    /// Acknowledged documents kept in the write-ahead log before they are committed to their days
    /// (`FIRESIGHT_EMBEDDED__COMMIT_DOCS`); a read commits them sooner. 1 commits every delivery.
    pub commit_docs: u32,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self { retention_days: 0, writer_memory_mb: 128, max_open_days: 4, commit_docs: 100_000 }
    }
}

impl EmbeddedConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !(16..=16_384).contains(&self.writer_memory_mb) {
            return Err(ConfigError::invalid("embedded.writer_memory_mb", "must be 16..=16384"));
        }
        if !(1..=64).contains(&self.max_open_days) {
            return Err(ConfigError::invalid("embedded.max_open_days", "must be 1..=64"));
        }
        if !(1..=1_000_000).contains(&self.commit_docs) {
            return Err(ConfigError::invalid("embedded.commit_docs", "must be 1..=1000000"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn embedded_commits_every_so_many_logged_documents() {
        assert_eq!(Config::from_pairs::<&str, &str>(&[]).unwrap().embedded.commit_docs, 100_000);
        let config = Config::from_pairs(&[("EMBEDDED__COMMIT_DOCS", "1")]).unwrap();
        assert_eq!(config.embedded.commit_docs, 1);
        let err = Config::from_pairs(&[("EMBEDDED__COMMIT_DOCS", "0")]).unwrap_err();
        assert!(err.to_string().contains("embedded.commit_docs"), "{err}");
    }

    #[test]
    fn writer_memory_is_shared_by_the_open_days() {
        let config = Config::from_pairs::<&str, &str>(&[]).unwrap();
        assert_eq!((config.embedded.writer_memory_mb, config.embedded.max_open_days), (128, 4));
        let config = Config::from_pairs(&[("EMBEDDED__MAX_OPEN_DAYS", "2")]).unwrap();
        assert_eq!(config.embedded.max_open_days, 2);
        let err = Config::from_pairs(&[("EMBEDDED__MAX_OPEN_DAYS", "0")]).unwrap_err();
        assert!(err.to_string().contains("embedded.max_open_days: must be 1..=64"), "{err}");
    }
}
