//! A day partition and what every part of the embedded store shares about the data directory: the
//! [`Day`] (one UTC day's tantivy index and its reader), the directory names, and the conversions of
//! I/O and tantivy failures into [`StoreError`]s.

use std::fs;
use std::path::Path;

use chrono::{DateTime, NaiveDate};
use tantivy::{Index, IndexReader};

use super::schema;
use crate::store::StoreError;

pub(super) const DAY_MS: i64 = 86_400_000;
pub(super) const LOGS_DIR: &str = "logs";
/// Prefix of a day directory being deleted (renamed first, so a crash never leaves half an index).
pub(super) const TRASH_PREFIX: &str = ".trash-";

/// One UTC day's index.
pub struct Day {
    pub date: NaiveDate,
    /// `[start_ms, end_ms)`: the timestamps the day holds.
    pub start_ms: i64,
    pub end_ms: i64,
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    /// How the partition stores whole documents and which fields it has (its schema's, fixed at
    /// creation).
    pub(super) layout: schema::Layout,
}

pub(super) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

pub(super) fn io_error(context: String, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{context}: {e}").into())
}

pub(super) fn day_start_ms(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis()
}

/// The day holding epoch millisecond `ms`.
pub(super) fn day_of_ms(ms: i64) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.date_naive())
}

pub(super) fn sync_dir(path: &Path) -> Result<(), StoreError> {
    fs::File::open(path).and_then(|d| d.sync_all()).map_err(|e| io_error(format!("sync {}", path.display()), e))
}
