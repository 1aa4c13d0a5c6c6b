//! The replay's state: each replay with its counts (`replays`), and the objects the background job has
//! replayed or is replaying (`replay_objects`), claimed with a lease so that replicas sharing a
//! PostgreSQL state database read each object once and a restart reads none twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use utoipa::ToSchema;

use crate::delivery_errors::recovered::{CodeCounts, ReplayCounts};
use crate::state::{StateDb, StateDbError, time_of_ms};

/// Where a replay was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// `firesight replay`.
    Cli,
    /// `POST /v1/delivery-errors/replays`.
    Api,
    /// The background job (`FIRESIGHT_S3_REPLAY__BUCKETS`).
    Job,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Cli => "cli",
            Origin::Api => "api",
            Origin::Job => "job",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "cli" => Origin::Cli,
            "api" => Origin::Api,
            _ => Origin::Job,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReplayStatus {
    Running,
    Completed,
    /// Stopped by an error (S3, the log store); the counts are what it did before.
    Failed,
}

impl ReplayStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Running => "running",
            ReplayStatus::Completed => "completed",
            ReplayStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "completed" => ReplayStatus::Completed,
            "failed" => ReplayStatus::Failed,
            _ => ReplayStatus::Running,
        }
    }
}

/// One replay of Firehose's S3 backup, with what it did.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "rpl_0193a", "origin": "api", "location": "s3://weblogs-backup/errors/",
    "since": "2026-12-07T09:00:00Z", "until": "2026-12-07T12:00:00Z", "dry_run": false,
    "status": "completed", "started_at": "2026-12-07T12:05:00Z", "finished_at": "2026-12-07T12:05:09Z",
    "objects": 12,
    "counts": {"records": 3890, "lines": 3890, "indexed": 3702, "already_present": 150, "dead_lettered": 38},
    "codes": [{"code": "HttpEndpoint.RequestTimeout", "records": 3890, "lines": 3890, "indexed": 3702,
               "already_present": 150, "dead_lettered": 38}]
}))]
pub struct Replay {
    /// `rpl_...`.
    pub id: String,
    pub origin: Origin,
    /// `s3://bucket/prefix` read.
    pub location: String,
    /// Only records whose attempts ended at or after this time (`attemptEndingTimestamp`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Only records whose attempts ended before this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    /// Read and counted, nothing written.
    pub dry_run: bool,
    pub status: ReplayStatus,
    pub started_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Objects of failed records read.
    pub objects: u64,
    pub counts: ReplayCounts,
    /// The counts per Firehose error code, most records first.
    pub codes: Vec<CodeCounts>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Replays, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplayList {
    pub items: Vec<Replay>,
}

#[derive(Clone)]
pub struct ReplayRepo {
    db: StateDb,
}

impl ReplayRepo {
    pub fn new(db: StateDb) -> Self {
        Self { db }
    }

    pub async fn insert(&self, r: &Replay) -> Result<(), StateDbError> {
        sqlx::query(
            "INSERT INTO replays (id, origin, location, since_ms, until_ms, dry_run, status, started_at, finished_at, \
             objects, records, lines_found, indexed, duplicates, dead_lettered, codes, error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, 0, 0, 0, 0, 0, 0, '[]', NULL)",
        )
        .bind(&r.id)
        .bind(r.origin.as_str())
        .bind(&r.location)
        .bind(r.since.map(|t| t.timestamp_millis()))
        .bind(r.until.map(|t| t.timestamp_millis()))
        .bind(i64::from(r.dry_run))
        .bind(r.status.as_str())
        .bind(r.started_at.timestamp_millis())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Writes a replay's progress or its end (status, counts, error).
    pub async fn update(&self, r: &Replay) -> Result<(), StateDbError> {
        let codes = serde_json::to_string(&r.codes).expect("counts serialise");
        sqlx::query(
            "UPDATE replays SET status = $2, finished_at = $3, objects = $4, records = $5, lines_found = $6, \
             indexed = $7, duplicates = $8, dead_lettered = $9, codes = $10, error = $11 WHERE id = $1",
        )
        .bind(&r.id)
        .bind(r.status.as_str())
        .bind(r.finished_at.map(|t| t.timestamp_millis()))
        .bind(r.objects as i64)
        .bind(r.counts.records as i64)
        .bind(r.counts.lines as i64)
        .bind(r.counts.indexed as i64)
        .bind(r.counts.already_present as i64)
        .bind(r.counts.dead_lettered as i64)
        .bind(codes)
        .bind(r.error.as_deref())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Replay>, StateDbError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE id = $1")))
            .bind(id)
            .fetch_optional(self.db.pool())
            .await?;
        Ok(row.as_ref().map(replay))
    }

    /// The newest `size` replays.
    pub async fn list(&self, size: u32) -> Result<Vec<Replay>, StateDbError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY started_at DESC, id DESC LIMIT $1")))
            .bind(i64::from(size))
            .fetch_all(self.db.pool())
            .await?;
        Ok(rows.iter().map(replay).collect())
    }

    /// Which of `keys` (one listing page, in key order) the job has finished with: one query over the
    /// page's key range.
    pub async fn done(&self, bucket: &str, keys: &[String]) -> Result<std::collections::HashSet<String>, StateDbError> {
        let (Some(first), Some(last)) = (keys.iter().min(), keys.iter().max()) else {
            return Ok(std::collections::HashSet::new());
        };
        let rows = sqlx::query(
            "SELECT object_key FROM replay_objects WHERE bucket = $1 AND state = 'done' AND object_key >= $2 \
             AND object_key <= $3",
        )
        .bind(bucket)
        .bind(first)
        .bind(last)
        .fetch_all(self.db.pool())
        .await?;
        let wanted: std::collections::HashSet<&String> = keys.iter().collect();
        Ok(rows.iter().map(|r| r.get::<String, _>(0)).filter(|k| wanted.contains(k)).collect())
    }

    /// Claims an object for `owner` until `now + lease`: true when it was free, or claimed by someone
    /// whose lease ran out. A finished object is never claimed again.
    pub async fn claim(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StateDbError> {
        let claimed = sqlx::query(
            "INSERT INTO replay_objects (bucket, object_key, size, state, owner, lease_until, replay_id, updated_at) \
             VALUES ($1, $2, $3, 'running', $4, $5, NULL, $6) \
             ON CONFLICT (bucket, object_key) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until, \
             size = excluded.size, updated_at = excluded.updated_at \
             WHERE replay_objects.state = 'running' AND replay_objects.lease_until < $6",
        )
        .bind(bucket)
        .bind(key)
        .bind(size as i64)
        .bind(owner)
        .bind(now_ms + lease_ms)
        .bind(now_ms)
        .execute(self.db.pool())
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Marks an object replayed (by anyone: a full `firesight replay` marks what it read, too).
    pub async fn finish(
        &self,
        bucket: &str,
        key: &str,
        size: u64,
        replay_id: &str,
        now_ms: i64,
    ) -> Result<(), StateDbError> {
        sqlx::query(
            "INSERT INTO replay_objects (bucket, object_key, size, state, owner, lease_until, replay_id, updated_at) \
             VALUES ($1, $2, $3, 'done', NULL, 0, $4, $5) \
             ON CONFLICT (bucket, object_key) DO UPDATE SET state = 'done', owner = NULL, lease_until = 0, \
             replay_id = excluded.replay_id, updated_at = excluded.updated_at",
        )
        .bind(bucket)
        .bind(key)
        .bind(size as i64)
        .bind(replay_id)
        .bind(now_ms)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Gives a claim back at once (the object failed; the next pass tries it again).
    pub async fn release(&self, bucket: &str, key: &str, owner: &str) -> Result<(), StateDbError> {
        sqlx::query(
            "UPDATE replay_objects SET lease_until = 0 WHERE bucket = $1 AND object_key = $2 AND owner = $3 \
             AND state = 'running'",
        )
        .bind(bucket)
        .bind(key)
        .bind(owner)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

const SELECT: &str = "SELECT id, origin, location, since_ms, until_ms, dry_run, status, started_at, finished_at, \
                      objects, records, lines_found, indexed, duplicates, dead_lettered, codes, error FROM replays";

fn replay(row: &AnyRow) -> Replay {
    let n = |i: usize| row.get::<i64, _>(i).max(0) as u64;
    Replay {
        id: row.get(0),
        origin: Origin::parse(&row.get::<String, _>(1)),
        location: row.get(2),
        since: row.get::<Option<i64>, _>(3).map(time_of_ms),
        until: row.get::<Option<i64>, _>(4).map(time_of_ms),
        dry_run: row.get::<i64, _>(5) != 0,
        status: ReplayStatus::parse(&row.get::<String, _>(6)),
        started_at: time_of_ms(row.get(7)),
        finished_at: row.get::<Option<i64>, _>(8).map(time_of_ms),
        objects: n(9),
        counts: ReplayCounts {
            records: n(10),
            lines: n(11),
            indexed: n(12),
            already_present: n(13),
            dead_lettered: n(14),
        },
        codes: serde_json::from_str(&row.get::<String, _>(15)).unwrap_or_default(),
        error: row.get(16),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn claims_lapse_finished_objects_stay_finished() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/state.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let repo = ReplayRepo::new(db);
        assert!(repo.claim("b", "k", 1, "a", 1_000, 100).await.unwrap());
        assert!(!repo.claim("b", "k", 1, "b", 1_050, 100).await.unwrap(), "still a's");
        assert!(repo.claim("b", "k", 1, "b", 1_101, 100).await.unwrap(), "a's lease ran out");
        repo.release("b", "k", "b").await.unwrap();
        assert!(repo.claim("b", "k", 1, "a", 1_102, 100).await.unwrap(), "released");
        repo.finish("b", "k", 1, "rpl_1", 1_103).await.unwrap();
        assert!(!repo.claim("b", "k", 1, "a", 9_999_999, 100).await.unwrap());
        let done = repo.done("b", &["k".into(), "other".into()]).await.unwrap();
        assert_eq!(done.into_iter().collect::<Vec<_>>(), ["k"]);

        let mut r = Replay {
            id: "rpl_1".into(),
            origin: Origin::Api,
            location: "s3://b/".into(),
            since: Some(time_of_ms(5)),
            until: None,
            dry_run: false,
            status: ReplayStatus::Running,
            started_at: time_of_ms(1_000),
            finished_at: None,
            objects: 0,
            counts: ReplayCounts::default(),
            codes: Vec::new(),
            error: None,
        };
        repo.insert(&r).await.unwrap();
        r.status = ReplayStatus::Completed;
        r.objects = 2;
        r.counts.indexed = 7;
        r.codes = vec![CodeCounts { code: "X".into(), counts: r.counts }];
        repo.update(&r).await.unwrap();
        let back = repo.get("rpl_1").await.unwrap().unwrap();
        assert_eq!(
            (back.status, back.objects, back.counts.indexed, back.since),
            (ReplayStatus::Completed, 2, 7, Some(time_of_ms(5)))
        );
        assert_eq!(back.codes[0].code, "X");
        assert_eq!(repo.list(10).await.unwrap().len(), 1);
    }
}
