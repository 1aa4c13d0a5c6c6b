//! What an alerts operation can fail with: an invalid field, a missing resource, or the state database.

use crate::state::StateDbError;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("state database failed")]
    Db(#[from] StateDbError),
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> AlertError {
    AlertError::Invalid { field, reason: reason.into() }
}
