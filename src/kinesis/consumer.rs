//! The consumer: resolves each configured stream, keeps the lease table in step with the streams' shards
//! (ListShards, every `shard_sync_secs`), renews this replica's leases every third of their lifetime,
//! takes its even share of the rest ([`balance`](super::balance)) and runs one
//! [`ShardReader`](super::shard::ShardReader) per lease it holds. On shutdown the readers finish their
//! batch and the leases are handed back, so another replica continues at once; a replica that dies
//! leaves them to expire.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::balance;
use super::leases::{Held, Lease, LeaseRepo};
use super::shard::{ClosedShards, Exit, ShardReader};
use super::{Kinesis, KinesisError, Position, StreamInfo};
use crate::config::{KinesisConfig, StartPosition};
use crate::ingest::Ingestor;
use crate::metrics::{ShardLabels, StreamLabels};
use crate::state::StateDbError;
use crate::telemetry;

/// What `/health/ready` shows of one configured stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamStatus {
    /// The stream's ARN, once DescribeStreamSummary answered.
    pub arn: Option<String>,
    /// Shards the stream lists (open and closed).
    pub shards: usize,
    /// Shard leases this replica holds.
    pub leases_held: usize,
    /// The last failure, cleared by the next success.
    pub error: Option<String>,
}

/// Each configured stream's status, by the name or ARN it was configured with.
pub type StreamStatuses = Arc<RwLock<BTreeMap<String, StreamStatus>>>;

#[derive(Debug, thiserror::Error)]
enum RoundError {
    #[error(transparent)]
    Kinesis(#[from] KinesisError),
    #[error(transparent)]
    State(#[from] StateDbError),
}

struct Reader {
    held: Held,
    stop: CancellationToken,
    task: JoinHandle<Exit>,
}

pub struct Consumer {
    kinesis: Kinesis,
    repo: LeaseRepo,
    ingestor: Ingestor,
    config: KinesisConfig,
    start: StartPosition,
    me: String,
    streams: BTreeMap<String, Option<StreamInfo>>,
    readers: HashMap<(String, String), Reader>,
    closed: ClosedShards,
    statuses: StreamStatuses,
    next_sync: Instant,
}

impl Consumer {
    pub fn new(
        kinesis: Kinesis,
        repo: LeaseRepo,
        ingestor: Ingestor,
        config: KinesisConfig,
        me: String,
        statuses: StreamStatuses,
    ) -> Result<Self, crate::config::ConfigError> {
        let start = config.start_position()?;
        let streams = config.streams.iter().map(|s| (s.trim().to_owned(), None)).collect();
        {
            let mut statuses = statuses.write().expect("stream status lock");
            for s in &config.streams {
                statuses.insert(s.trim().to_owned(), StreamStatus::default());
            }
        }
        Ok(Self {
            kinesis,
            repo,
            ingestor,
            config,
            start,
            me,
            streams,
            readers: HashMap::new(),
            closed: Arc::default(),
            statuses,
            next_sync: Instant::now(),
        })
    }

    /// Rounds every third of the lease time until `shutdown`, then hands the leases back.
    pub async fn run(mut self, shutdown: CancellationToken) {
        let round = (self.config.lease_ttl() / 3).max(Duration::from_millis(500));
        loop {
            self.round().await;
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(round) => {}
            }
        }
        self.stop_all().await;
    }

    /// One round: sync shards when due, renew, collect stopped readers, take leases.
    pub async fn round(&mut self) {
        let now = Instant::now();
        if now >= self.next_sync {
            self.next_sync = now + Duration::from_secs(self.config.shard_sync_secs);
            for configured in self.streams.keys().cloned().collect::<Vec<_>>() {
                let result = self.sync(&configured).await;
                self.report(&configured, result.err());
            }
        }
        self.renew().await;
        self.collect().await;
        if let Err(e) = self.take().await {
            tracing::warn!(error = telemetry::chain(&e), "could not read the Kinesis lease table");
        }
        self.observe().await;
    }

    /// Resolves the stream, records its shards in the lease table and the closed ones' ends.
    async fn sync(&mut self, configured: &str) -> Result<(), RoundError> {
        let info = match self.streams.get(configured).cloned().flatten() {
            Some(info) => info,
            None => {
                let info = self.kinesis.describe(configured).await?;
                self.streams.insert(configured.to_owned(), Some(info.clone()));
                info
            }
        };
        let shards = self.kinesis.shards(&info.arn).await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        for shard in &shards {
            self.repo.ensure(&info.arn, &shard.shard_id, &shard.parents(), now_ms).await?;
        }
        {
            let mut closed = self.closed.write().expect("closed-shard map lock");
            closed.retain(|(arn, _), _| arn != &info.arn);
            for shard in &shards {
                if let Some(ending) = &shard.ending_sequence {
                    closed.insert((info.arn.clone(), shard.shard_id.clone()), ending.clone());
                }
            }
        }
        let listed: HashSet<&str> = shards.iter().map(|s| s.shard_id.as_str()).collect();
        for lease in self.repo.list(&info.arn).await? {
            if !listed.contains(lease.shard_id.as_str()) && !lease.is_held(now_ms) {
                if !lease.is_finished() {
                    tracing::warn!(shard = %lease.shard_id, stream = %info.name, "shard left the stream's retention before it was read to its end");
                }
                // Its records are gone with it; its children (if any) may start.
                self.repo.forget(&info.arn, &lease.shard_id).await?;
            }
        }
        let mut statuses = self.statuses.write().expect("stream status lock");
        let status = statuses.entry(configured.to_owned()).or_default();
        status.arn = Some(info.arn.clone());
        status.shards = shards.len();
        Ok(())
    }

    fn report(&self, configured: &str, error: Option<RoundError>) {
        let mut statuses = self.statuses.write().expect("stream status lock");
        let status = statuses.entry(configured.to_owned()).or_default();
        if let Some(e) = &error {
            tracing::warn!(stream = configured, error = telemetry::chain(e), "could not list the stream's shards");
        }
        status.error = error.map(|e| telemetry::chain(&e));
    }

    /// Extends each held lease; a reader whose lease was taken over is stopped.
    async fn renew(&mut self) {
        let now_ms = chrono::Utc::now().timestamp_millis();
        let ttl_ms = self.config.lease_ttl().as_millis() as i64;
        let mut lost = Vec::new();
        for (key, reader) in &self.readers {
            if reader.task.is_finished() {
                continue;
            }
            match self.repo.renew(&reader.held, now_ms, ttl_ms).await {
                Ok(true) => {}
                Ok(false) => lost.push(key.clone()),
                Err(e) => tracing::warn!(shard = %key.1, error = telemetry::chain(&e), "could not renew the lease"),
            }
        }
        for key in lost {
            tracing::info!(shard = %key.1, "lease taken over by another replica; stopping its reader");
            if let Some(reader) = self.readers.remove(&key) {
                reader.stop.cancel();
                let _ = reader.task.await;
            }
        }
    }

    /// Forgets readers that stopped by themselves (shard end, lost lease).
    async fn collect(&mut self) {
        let done: Vec<_> = self.readers.iter().filter(|(_, r)| r.task.is_finished()).map(|(k, _)| k.clone()).collect();
        for key in done {
            if let Some(reader) = self.readers.remove(&key) {
                match reader.task.await {
                    Ok(Exit::Finished) => self.next_sync = Instant::now(), // its children are due
                    Ok(exit) => tracing::debug!(shard = %key.1, ?exit, "shard reader stopped"),
                    Err(e) => tracing::error!(shard = %key.1, error = %e, "shard reader panicked"),
                }
                // Free for the next round (a no-op when another replica holds it now).
                if let Err(e) = self.repo.release(&reader.held).await {
                    tracing::warn!(shard = %key.1, error = telemetry::chain(&e), "could not release the lease");
                }
            }
        }
    }

    /// Takes this replica's share of the leases and starts a reader for each.
    async fn take(&mut self) -> Result<(), RoundError> {
        let arns: Vec<(String, String)> =
            self.streams.values().flatten().map(|i| (i.arn.clone(), i.name.clone())).collect();
        let mut leases = Vec::new();
        for (arn, _) in &arns {
            leases.extend(self.repo.list(arn).await?);
        }
        let now_ms = chrono::Utc::now().timestamp_millis();
        let plan = balance::plan(&leases, &self.me, now_ms);
        let ttl_ms = self.config.lease_ttl().as_millis() as i64;
        for lease in plan.take.iter().chain(&plan.steal) {
            if let Some(counter) = self.repo.take(lease, &self.me, now_ms, ttl_ms).await? {
                let name = arns.iter().find(|(arn, _)| *arn == lease.stream_arn).map(|(_, n)| n.clone());
                self.start_reader(lease, counter, name.unwrap_or_default());
            }
        }
        Ok(())
    }

    fn start_reader(&mut self, lease: &Lease, counter: i64, stream_name: String) {
        let held = Held {
            stream_arn: lease.stream_arn.clone(),
            shard_id: lease.shard_id.clone(),
            owner: self.me.clone(),
            counter,
        };
        let start = match &lease.checkpoint {
            Some(sequence) => Position::After(sequence.clone()),
            // A child of a split or merge starts where its parents ended: at its own beginning.
            None if !lease.parents.is_empty() => Position::TrimHorizon,
            None => match self.start {
                StartPosition::TrimHorizon => Position::TrimHorizon,
                StartPosition::Latest => Position::Latest,
                StartPosition::At(t) => Position::At(t),
            },
        };
        let stop = CancellationToken::new();
        let reader = ShardReader {
            kinesis: self.kinesis.clone(),
            repo: self.repo.clone(),
            ingestor: self.ingestor.clone(),
            held: held.clone(),
            stream_name,
            start,
            closed: self.closed.clone(),
            max_records: self.config.max_records,
            idle: Duration::from_millis(self.config.idle_millis),
            stop: stop.clone(),
        };
        let task = tokio::spawn(reader.run());
        self.readers.insert((held.stream_arn.clone(), held.shard_id.clone()), Reader { held, stop, task });
    }

    /// Lease counts and checkpoint ages, for metrics and readiness.
    async fn observe(&self) {
        let metrics = &self.ingestor.metrics.kinesis;
        let now_ms = chrono::Utc::now().timestamp_millis();
        {
            let mut statuses = self.statuses.write().expect("stream status lock");
            for (configured, info) in &self.streams {
                let Some(info) = info else { continue };
                let held = self.readers.values().filter(|r| r.held.stream_arn == info.arn).count();
                metrics.leases.get_or_create(&StreamLabels { stream: info.name.clone() }).set(held as i64);
                if let Some(status) = statuses.get_mut(configured) {
                    status.leases_held = held;
                }
            }
        }
        for info in self.streams.values().flatten() {
            let Ok(leases) = self.repo.list(&info.arn).await else { continue };
            for lease in leases {
                let labels = ShardLabels { stream: info.name.clone(), shard: lease.shard_id.clone() };
                if lease.held_by(&self.me, now_ms) {
                    let since = lease.checkpoint_at_ms.unwrap_or(now_ms);
                    metrics.checkpoint_age_seconds.get_or_create(&labels).set((now_ms - since) / 1000);
                } else {
                    metrics.checkpoint_age_seconds.remove(&labels);
                }
            }
        }
    }

    /// Stops every reader after its batch and hands its lease back.
    async fn stop_all(&mut self) {
        for reader in self.readers.values() {
            reader.stop.cancel();
        }
        for (_, reader) in self.readers.drain() {
            let exit = reader.task.await;
            if matches!(exit, Ok(Exit::Stopped))
                && let Err(e) = self.repo.release(&reader.held).await
            {
                tracing::warn!(shard = %reader.held.shard_id, error = telemetry::chain(&e), "could not release the lease");
            }
        }
    }
}
