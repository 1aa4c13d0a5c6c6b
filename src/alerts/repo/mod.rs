//! Alerts in the state database: webhooks, rules, incidents, and the outbox (events, their deliveries
//! and every attempt). SQL written once for SQLite and PostgreSQL, except the claim of due deliveries,
//! which uses `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas never claim the same row.
//!
//! Uniqueness across replicas comes from the database, not from timing: one open incident per rule (a
//! partial unique index), a cooldown gate updated in the transaction that opens an incident, a resolve
//! that only one replica's `UPDATE ... WHERE status = 'open'` can win, and claims with a lease.
//!
//! One `impl AlertRepo` block per part, each with its columns and row decoder: `webhooks`, `rules`,
//! `incidents` (opening and resolving write their event in the same transaction), `events` and
//! `deliveries` (the outbox's sending side, attempts and pruning). This file holds the repository, the
//! types its callers share and the helpers every part uses.

mod deliveries;
pub use deliveries::DisablePolicy;
mod events;
mod incidents;
mod rules;
mod webhooks;

use std::sync::Arc;

use sqlx::AnyPool;

use super::model::*;
use super::secrets::SecretBox;
use crate::state::StateDb;

/// A webhook as stored, with its secret.
#[derive(Debug, Clone)]
pub struct StoredWebhook {
    pub webhook: Webhook,
    pub secret: String,
}

/// A rule as the evaluator needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRule {
    pub rule: Rule,
    pub window_secs: u64,
    pub cooldown_secs: u64,
}

/// A delivery claimed by this dispatcher.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: String,
    pub event_id: String,
    pub webhook_id: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// How an attempt ended, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub started_ms: i64,
    pub latency_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub success: bool,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("alert values serialise")
}

#[derive(Clone)]
pub struct AlertRepo {
    db: StateDb,
    secrets: Arc<SecretBox>,
}

impl AlertRepo {
    /// Secrets stored as they are (tests, tools).
    pub fn new(db: StateDb) -> Self {
        Self::with_secrets(db, Arc::new(SecretBox::default()))
    }

    /// Secrets sealed with `secrets` before they are stored.
    pub fn with_secrets(db: StateDb, secrets: Arc<SecretBox>) -> Self {
        Self { db, secrets }
    }

    fn pool(&self) -> &AnyPool {
        self.db.pool()
    }
}
