//! What a replay can fail with.

use super::s3::S3Error;
use crate::ingest::IngestError;
use crate::state::StateDbError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error("the log store did not take the replayed records")]
    Ingest(#[from] IngestError),
    #[error("the log store could not tell which replayed records it already holds")]
    Store(#[from] crate::store::StoreError),
    #[error("state database failed")]
    Db(#[from] StateDbError),
    /// No S3 location is configured (`FIRESIGHT_S3_REPLAY__BUCKETS`).
    #[error("no S3 backup location is configured: set FIRESIGHT_S3_REPLAY__BUCKETS")]
    NotConfigured,
    /// The API may read only the configured locations.
    #[error("{0} is not within a configured location (FIRESIGHT_S3_REPLAY__BUCKETS)")]
    OutsideLocations(String),
    #[error("replay {0} is still running; one replay runs at a time")]
    AlreadyRunning(String),
    #[error("no replay with id {0}")]
    NotFound(String),
}
