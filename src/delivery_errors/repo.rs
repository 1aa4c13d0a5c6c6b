//! Delivery errors in the state database: the events (one row per CloudWatch event id), the poller's
//! per-log-group checkpoints and leases, and firesight's own rejected Firehose requests per minute.
//! SQL written once for SQLite and PostgreSQL (see `migrations/`).

use sqlx::{AnyPool, Row};

use super::event::{Family, ParsedError};
use crate::state::{StateDb, StateDbError};

/// An event as fetched from CloudWatch Logs, understood, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_id: String,
    pub log_group: String,
    pub log_stream: String,
    pub event_time: i64,
    pub ingestion_time: Option<i64>,
    pub raw: String,
    pub parsed: ParsedError,
}

/// A stored delivery error.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredError {
    pub event_id: String,
    pub log_group: String,
    pub log_stream: String,
    pub event_time: i64,
    pub stream: String,
    pub stream_arn: Option<String>,
    pub destination: Option<String>,
    pub version_id: Option<i64>,
    pub error_code: Option<String>,
    pub family: String,
    pub error_type: Option<String>,
    pub http_status: Option<i64>,
    pub processor: Option<String>,
    pub message: Option<String>,
    pub raw: String,
}

/// Where polling of one log group stands. Every event before `cursor_time` is stored; `seen` lists the
/// stored events at or after it (the overlap the next poll fetches again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub log_group: String,
    pub cursor_time: i64,
    pub seen: Vec<(String, i64)>,
    /// An unfinished pagination from `cursor_time`.
    pub pass: Option<Pass>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pass {
    /// `nextToken` to continue with; `None` starts the pass again from `cursor_time`.
    pub token: Option<String>,
    /// When the pass's first request was sent (unix ms): once it completes, everything visible then
    /// has been read.
    pub started_ms: i64,
    /// Events this pass stored that may still be fetched again.
    pub seen: Vec<(String, i64)>,
}

/// The lease a save must still hold: a replica that lost its log group to another one cannot write
/// a stale checkpoint over the new owner's.
#[derive(Debug, Clone, Copy)]
pub struct LeaseHold<'a> {
    pub holder: &'a str,
    pub ttl_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error("the lease on this log group was lost to another replica")]
    LeaseLost,
    #[error(transparent)]
    Db(#[from] StateDbError),
}

impl From<sqlx::Error> for SaveError {
    fn from(e: sqlx::Error) -> Self {
        SaveError::Db(StateDbError::Query(e))
    }
}

/// Which errors a read covers. Empty lists do not filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFilter {
    /// Half-open `[from_ms, to_ms)`.
    pub from_ms: i64,
    pub to_ms: i64,
    pub streams: Vec<String>,
    pub destinations: Vec<String>,
    pub codes: Vec<String>,
    pub families: Vec<Family>,
}

impl ErrorFilter {
    /// ` WHERE ...` with `$n` placeholders from `first`, and the values to bind in order.
    fn where_clause(&self, first: usize) -> (String, Vec<Bind>) {
        let mut sql = format!(" WHERE event_time >= ${} AND event_time < ${}", first, first + 1);
        let mut binds = vec![Bind::Int(self.from_ms), Bind::Int(self.to_ms)];
        let families: Vec<String> = self.families.iter().map(|f| f.as_str().to_owned()).collect();
        for (column, values) in [
            ("stream", &self.streams),
            ("destination", &self.destinations),
            ("error_code", &self.codes),
            ("family", &families),
        ] {
            if values.is_empty() {
                continue;
            }
            let marks: Vec<String> = (0..values.len()).map(|i| format!("${}", first + binds.len() + i)).collect();
            sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
            binds.extend(values.iter().cloned().map(Bind::Text));
        }
        (sql, binds)
    }
}

#[derive(Debug, Clone)]
enum Bind {
    Int(i64),
    Text(String),
}

fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    for b in binds {
        query = match b {
            Bind::Int(v) => query.bind(*v),
            Bind::Text(v) => query.bind(v.as_str()),
        };
    }
    query
}

/// Keyset position in the error list, newest first: `(event_time, event_id)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPosition {
    pub event_time: i64,
    pub event_id: String,
}

/// Error counts of one bucket for one stream and code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketCount {
    pub bucket_ms: i64,
    pub stream: String,
    pub code: String,
    pub count: u64,
}

/// Counts by one key with first and last occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStats {
    pub key: String,
    pub count: u64,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// One minute of rejected Firehose requests with one status and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub bucket_ms: i64,
    pub status: u16,
    pub reason: String,
    pub count: u64,
}

#[derive(Clone)]
pub struct DeliveryRepo {
    db: StateDb,
}

impl DeliveryRepo {
    pub fn new(db: StateDb) -> Self {
        Self { db }
    }

    fn pool(&self) -> &AnyPool {
        self.db.pool()
    }

    /// The state database, for the tables beside the delivery errors (`recovered`).
    pub fn state(&self) -> &StateDb {
        &self.db
    }

    /// Stores a page of events and the checkpoint that follows it, atomically, renewing `lease` in the
    /// same transaction (nothing is written when it was lost). An event whose id is already stored is
    /// left alone. Returns how many rows were new.
    pub async fn save_page(
        &self,
        events: &[NewEvent],
        checkpoint: &Checkpoint,
        lease: Option<LeaseHold<'_>>,
        now_ms: i64,
    ) -> Result<u64, SaveError> {
        let mut tx = self.pool().begin().await?;
        if let Some(lease) = lease {
            let renewed =
                sqlx::query("UPDATE cloudwatch_leases SET expires_at = $1 WHERE log_group = $2 AND holder = $3")
                    .bind(now_ms + lease.ttl_ms)
                    .bind(&checkpoint.log_group)
                    .bind(lease.holder)
                    .execute(&mut *tx)
                    .await?;
            if renewed.rows_affected() != 1 {
                return Err(SaveError::LeaseLost);
            }
        }
        let mut stored = 0;
        for e in events {
            let p = &e.parsed;
            let done = sqlx::query(
                "INSERT INTO delivery_errors (event_id, log_group, log_stream, event_time, ingestion_time, stream, \
                 stream_arn, destination, version_id, error_code, family, error_type, http_status, processor, message, \
                 raw, stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(&e.event_id)
            .bind(&e.log_group)
            .bind(&e.log_stream)
            .bind(e.event_time)
            .bind(e.ingestion_time)
            .bind(&p.stream)
            .bind(p.stream_arn.as_deref())
            .bind(p.destination.as_deref())
            .bind(p.version_id)
            .bind(p.error_code.as_deref())
            .bind(p.family.as_str())
            .bind(p.error_type.as_deref())
            .bind(p.http_status.map(i64::from))
            .bind(p.processor.as_deref())
            .bind(p.message.as_deref())
            .bind(&e.raw)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
            stored += done.rows_affected();
        }
        let seen = serde_json::to_string(&checkpoint.seen).expect("ids serialise");
        let pass_seen = checkpoint.pass.as_ref().map(|p| serde_json::to_string(&p.seen).expect("ids serialise"));
        sqlx::query(
            "INSERT INTO cloudwatch_checkpoints (log_group, cursor_time, seen_ids, pass_token, pass_started_at, \
             pass_seen_ids, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (log_group) DO UPDATE SET \
             cursor_time = excluded.cursor_time, seen_ids = excluded.seen_ids, pass_token = excluded.pass_token, \
             pass_started_at = excluded.pass_started_at, pass_seen_ids = excluded.pass_seen_ids, \
             updated_at = excluded.updated_at",
        )
        .bind(&checkpoint.log_group)
        .bind(checkpoint.cursor_time)
        .bind(seen)
        .bind(checkpoint.pass.as_ref().and_then(|p| p.token.clone()))
        .bind(checkpoint.pass.as_ref().map(|p| p.started_ms))
        .bind(pass_seen)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(stored)
    }

    pub async fn checkpoint(&self, log_group: &str) -> Result<Option<Checkpoint>, StateDbError> {
        let row = sqlx::query(
            "SELECT cursor_time, seen_ids, pass_token, pass_started_at, pass_seen_ids FROM cloudwatch_checkpoints \
             WHERE log_group = $1",
        )
        .bind(log_group)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|row| {
            let ids = |text: Option<String>| -> Vec<(String, i64)> {
                text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
            };
            let started: Option<i64> = row.get(3);
            Checkpoint {
                log_group: log_group.to_owned(),
                cursor_time: row.get(0),
                seen: ids(row.get(1)),
                pass: started.map(|started_ms| Pass { token: row.get(2), started_ms, seen: ids(row.get(4)) }),
            }
        }))
    }

    /// Takes or renews the lease on `log_group` for `holder` until `now_ms + ttl_ms`. True when `holder`
    /// owns it now: it was free, expired, or already this holder's.
    pub async fn try_lease(
        &self,
        log_group: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> Result<bool, StateDbError> {
        let done = sqlx::query(
            "INSERT INTO cloudwatch_leases (log_group, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (log_group) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE cloudwatch_leases.holder = excluded.holder OR cloudwatch_leases.expires_at <= $4",
        )
        .bind(log_group)
        .bind(holder)
        .bind(now_ms + ttl_ms)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a lease up (on shutdown), so another replica takes over at once.
    pub async fn release_lease(&self, log_group: &str, holder: &str) -> Result<(), StateDbError> {
        sqlx::query("DELETE FROM cloudwatch_leases WHERE log_group = $1 AND holder = $2")
            .bind(log_group)
            .bind(holder)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Adds counts of rejected Firehose requests.
    pub async fn add_rejections(&self, rejections: &[Rejection]) -> Result<(), StateDbError> {
        let mut tx = self.pool().begin().await?;
        for r in rejections {
            sqlx::query(
                "INSERT INTO firehose_rejections (bucket_start, status, reason, count) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (bucket_start, status, reason) DO UPDATE SET count = firehose_rejections.count + excluded.count",
            )
            .bind(r.bucket_ms)
            .bind(i64::from(r.status))
            .bind(&r.reason)
            .bind(r.count as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Rejected requests per `bucket_ms`-wide bucket, by status and reason, over `[from_ms, to_ms)`.
    pub async fn rejections(&self, from_ms: i64, to_ms: i64, bucket_ms: i64) -> Result<Vec<Rejection>, StateDbError> {
        let rows = sqlx::query(
            "SELECT (bucket_start / $1) * $1 AS b, status, reason, CAST(SUM(count) AS BIGINT) FROM firehose_rejections \
             WHERE bucket_start >= $2 AND bucket_start < $3 GROUP BY b, status, reason ORDER BY b, status, reason",
        )
        .bind(bucket_ms)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|row| Rejection {
                bucket_ms: row.get(0),
                status: u16::try_from(row.get::<i64, _>(1)).unwrap_or(0),
                reason: row.get(2),
                count: row.get::<i64, _>(3) as u64,
            })
            .collect())
    }

    /// One page of errors, newest first, after `after`.
    pub async fn list(
        &self,
        filter: &ErrorFilter,
        after: Option<&ListPosition>,
        limit: u32,
    ) -> Result<Vec<StoredError>, StateDbError> {
        let (mut sql, mut binds) = filter.where_clause(1);
        if let Some(pos) = after {
            let n = binds.len() + 1;
            sql.push_str(&format!(" AND (event_time < ${n} OR (event_time = ${n} AND event_id < ${}))", n + 1));
            binds.push(Bind::Int(pos.event_time));
            binds.push(Bind::Text(pos.event_id.clone()));
        }
        let sql = format!(
            "SELECT event_id, log_group, log_stream, event_time, stream, stream_arn, destination, version_id, \
             error_code, family, error_type, http_status, processor, message, raw FROM delivery_errors{sql} \
             ORDER BY event_time DESC, event_id DESC LIMIT {}",
            limit
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|row| StoredError {
                event_id: row.get(0),
                log_group: row.get(1),
                log_stream: row.get(2),
                event_time: row.get(3),
                stream: row.get(4),
                stream_arn: row.get(5),
                destination: row.get(6),
                version_id: row.get(7),
                error_code: row.get(8),
                family: row.get(9),
                error_type: row.get(10),
                http_status: row.get(11),
                processor: row.get(12),
                message: row.get(13),
                raw: row.get(14),
            })
            .collect())
    }

    /// Counts by `column` (`error_code`, `family` or `stream`) with first and last occurrence, most first.
    /// Events without a code count under `(none)`.
    pub async fn stats_by(&self, filter: &ErrorFilter, column: StatsColumn) -> Result<Vec<KeyStats>, StateDbError> {
        let (sql, binds) = filter.where_clause(1);
        let key = match column {
            StatsColumn::Code => "COALESCE(error_code, '(none)')",
            StatsColumn::Family => "family",
            StatsColumn::Stream => "stream",
        };
        let sql = format!(
            "SELECT {key} AS k, COUNT(*) AS n, MIN(event_time), MAX(event_time) FROM delivery_errors{sql} \
             GROUP BY k ORDER BY n DESC, k ASC LIMIT 1000"
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|row| KeyStats {
                key: row.get(0),
                count: row.get::<i64, _>(1) as u64,
                first_ms: row.get(2),
                last_ms: row.get(3),
            })
            .collect())
    }

    /// Error counts per `bucket_ms`-wide bucket (aligned to the epoch), stream and code.
    pub async fn buckets(&self, filter: &ErrorFilter, bucket_ms: i64) -> Result<Vec<BucketCount>, StateDbError> {
        let (sql, mut binds) = filter.where_clause(2);
        binds.insert(0, Bind::Int(bucket_ms));
        let sql = format!(
            "SELECT (event_time / $1) * $1 AS b, stream, COALESCE(error_code, '(none)') AS c, COUNT(*) \
             FROM delivery_errors{sql} GROUP BY b, stream, c ORDER BY b, stream, c"
        );
        let rows = bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &binds).fetch_all(self.pool()).await?;
        Ok(rows
            .iter()
            .map(|row| BucketCount {
                bucket_ms: row.get(0),
                stream: row.get(1),
                code: row.get(2),
                count: row.get::<i64, _>(3) as u64,
            })
            .collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsColumn {
    Code,
    Family,
    Stream,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery_errors::event::parse_event;

    async fn repo() -> (DeliveryRepo, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        (DeliveryRepo::new(db), dir)
    }

    fn event(id: &str, time: i64, code: &str, stream: &str) -> NewEvent {
        let raw = serde_json::json!({
            "deliveryStreamARN": format!("arn:aws:firehose:us-east-1:123456789012:deliverystream/{stream}"),
            "destination": "x", "deliveryStreamVersionId": 1, "message": "m", "errorCode": code,
        })
        .to_string();
        NewEvent {
            event_id: id.to_owned(),
            log_group: format!("/aws/kinesisfirehose/{stream}"),
            log_stream: "HttpEndpointDelivery".to_owned(),
            event_time: time,
            ingestion_time: Some(time + 5),
            parsed: parse_event("/aws/kinesisfirehose/x", &raw),
            raw,
        }
    }

    #[tokio::test]
    async fn events_are_stored_once_with_their_checkpoint() {
        let (repo, _dir) = repo().await;
        let cp = Checkpoint {
            log_group: "g".into(),
            cursor_time: 1000,
            seen: vec![("b".into(), 1000)],
            pass: Some(Pass { token: Some("t".into()), started_ms: 1000, seen: vec![] }),
        };
        let events = [event("a", 900, "S3.AccessDenied", "s1"), event("b", 1000, "Lambda.InvokeAccessDenied", "s2")];
        assert_eq!(repo.save_page(&events, &cp, None, 5).await.unwrap(), 2);
        assert_eq!(repo.save_page(&events, &cp, None, 6).await.unwrap(), 0, "same ids again");
        assert_eq!(repo.checkpoint("g").await.unwrap(), Some(cp.clone()));
        let done = Checkpoint { pass: None, ..cp };
        repo.save_page(&[], &done, None, 7).await.unwrap();
        let lost = repo.save_page(&[], &done, Some(LeaseHold { holder: "nobody", ttl_ms: 10 }), 8).await;
        assert!(matches!(lost, Err(SaveError::LeaseLost)), "{lost:?}");
        assert_eq!(repo.checkpoint("g").await.unwrap(), Some(done));

        let all = ErrorFilter { from_ms: 0, to_ms: 10_000, ..Default::default() };
        let page = repo.list(&all, None, 1).await.unwrap();
        assert_eq!(page[0].event_id, "b");
        let pos = ListPosition { event_time: page[0].event_time, event_id: page[0].event_id.clone() };
        let next = repo.list(&all, Some(&pos), 10).await.unwrap();
        assert_eq!(next.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(), ["a"]);

        let families = repo.stats_by(&all, StatsColumn::Family).await.unwrap();
        assert_eq!(families.len(), 2);
        let s3 = ErrorFilter { families: vec![Family::S3], ..all.clone() };
        assert_eq!(repo.list(&s3, None, 10).await.unwrap().len(), 1);
        let buckets = repo.buckets(&all, 1000).await.unwrap();
        assert_eq!(
            buckets[0],
            BucketCount { bucket_ms: 0, stream: "s1".into(), code: "S3.AccessDenied".into(), count: 1 }
        );
        assert_eq!(buckets[1].bucket_ms, 1000);
    }

    #[tokio::test]
    async fn leases_belong_to_one_holder_until_they_expire() {
        let (repo, _dir) = repo().await;
        assert!(repo.try_lease("g", "a", 0, 100).await.unwrap());
        assert!(!repo.try_lease("g", "b", 50, 100).await.unwrap());
        assert!(repo.try_lease("g", "a", 60, 100).await.unwrap(), "renewal");
        assert!(!repo.try_lease("g", "b", 150, 100).await.unwrap(), "renewed until 160");
        assert!(repo.try_lease("g", "b", 160, 100).await.unwrap(), "expired");
        assert!(!repo.try_lease("g", "a", 170, 100).await.unwrap());
        repo.release_lease("g", "b").await.unwrap();
        assert!(repo.try_lease("g", "a", 180, 100).await.unwrap(), "released");
    }

    #[tokio::test]
    async fn rejections_add_up_per_bucket() {
        let (repo, _dir) = repo().await;
        let r = |bucket_ms, status, count| Rejection { bucket_ms, status, reason: "unauthorized".into(), count };
        repo.add_rejections(&[r(60_000, 401, 2), r(120_000, 401, 1)]).await.unwrap();
        repo.add_rejections(&[r(60_000, 401, 3)]).await.unwrap();
        let got = repo.rejections(0, 600_000, 300_000).await.unwrap();
        assert_eq!(got, [r(0, 401, 6)]);
        let got = repo.rejections(0, 600_000, 60_000).await.unwrap();
        assert_eq!(got, [r(60_000, 401, 5), r(120_000, 401, 1)]);
    }
}
