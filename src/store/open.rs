//! Opening the configured adapter of the log store port ([`crate::store::LogStore`]): OpenSearch or
//! the embedded store, chosen by `store` in the configuration. Re-exported as
//! `crate::store::{from_config, for_bulk_load}`.

use std::sync::Arc;

use anyhow::Context;

use crate::config::{Config, StoreKind};
use crate::store::LogStore;
use crate::store::{embedded, opensearch};

/// Builds the configured adapter. Does not contact the backend; with SigV4 it resolves the AWS
/// credentials first (and fails when there are none).
pub async fn from_config(config: &Config) -> anyhow::Result<Arc<dyn LogStore>> {
    open(config, false).await
}

/// The configured adapter for a load that can simply run again if it stops half-way (`firesight
/// ingest`, whose ids come from the files): the embedded store then skips its write-ahead log, and a
/// batch is durable once committed (every `commit_docs` documents and at [`LogStore::refresh`]).
pub async fn for_bulk_load(config: &Config) -> anyhow::Result<Arc<dyn LogStore>> {
    open(config, true).await
}

async fn open(config: &Config, bulk_load: bool) -> anyhow::Result<Arc<dyn LogStore>> {
    match config.store {
        StoreKind::OpenSearch => Ok(Arc::new(opensearch::OpenSearchStore::connect(&config.opensearch).await?)),
        StoreKind::Embedded => {
            let options = embedded::EmbeddedOptions {
                writer_memory_bytes: config.embedded.writer_memory_mb as usize * 1024 * 1024,
                max_open_writers: config.embedded.max_open_days as usize,
                commit_docs: config.embedded.commit_docs as usize,
                write_ahead_log: !bulk_load,
                ..embedded::EmbeddedOptions::default()
            };
            let store = embedded::EmbeddedStore::open(&config.data_dir, options)
                .map_err(anyhow::Error::new)
                .with_context(|| format!("opening the embedded log store in {}", config.data_dir.display()))?;
            Ok(Arc::new(store))
        }
    }
}
