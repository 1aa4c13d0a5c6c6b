//! What an alerts operation can fail with: an invalid field, a missing resource, or the state database.

use crate::state::StateDbError;

#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// Valid on its own, but not for the resource it changes (a threshold out of its rule kind's range).
    #[error("{field}: {reason}")]
    Conflict { field: &'static str, reason: String },
    /// Well-formed, but refused by policy (a webhook target on a private address).
    #[error("{field}: {reason}")]
    Forbidden { field: &'static str, reason: String },
    /// Webhook secrets would be stored unsealed on a service others can reach.
    #[error(
        "webhooks need FIRESIGHT_SECRETS_KEY (32 random bytes in base64) when the service listens beyond \
         loopback: their signing secrets are sealed with it in the state database"
    )]
    NoSecretsKey,
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: String },
    #[error("state database failed")]
    Db(#[from] StateDbError),
}

impl AlertError {
    pub(super) fn into_conflict(self) -> AlertError {
        match self {
            AlertError::Invalid { field, reason } => AlertError::Conflict { field, reason },
            other => other,
        }
    }
}

pub(super) fn invalid(field: &'static str, reason: impl Into<String>) -> AlertError {
    AlertError::Invalid { field, reason: reason.into() }
}
