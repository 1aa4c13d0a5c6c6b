//! The background replay (`FIRESIGHT_S3_REPLAY__BUCKETS`): lists each configured location every
//! `poll_interval_secs`, replays the error objects written within `lookback_hours` that no replay has
//! read whole yet, and remembers each one in the state database. An object is claimed with a lease
//! before it is read, so replicas sharing PostgreSQL read it once; a replica that dies mid-object
//! leaves it to the next one after the lease. One replay (and one `replay.completed` event) per
//! location and pass that found new objects.

use chrono::{TimeDelta, Utc};
use indicatif::ProgressBar;
use tokio_util::sync::CancellationToken;

use super::error::ReplayError;
use super::object::Range;
use super::repo::Origin;
use super::s3::ObjectInfo;
use super::{ReplayRequest, Replayer, Tally, format, now_ms};
use crate::config::{S3Location, S3ReplayConfig};
use crate::worker::{self, Outcome, Pacing};

pub struct Job {
    replayer: Replayer,
    config: S3ReplayConfig,
    locations: Vec<S3Location>,
    instance: String,
}

impl Job {
    pub fn new(replayer: Replayer, config: S3ReplayConfig, instance: String) -> Self {
        let locations = config.locations();
        Self { replayer, config, locations, instance }
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            idle: self.config.poll_interval(),
            backoff_base: std::time::Duration::from_secs(1),
            backoff_cap: std::time::Duration::from_secs(300),
        };
        worker::run("s3_replay", pacing, shutdown, || self.run_once()).await;
    }

    /// One pass over every location.
    pub async fn run_once(&self) -> Outcome {
        let mut outcome = Outcome::CaughtUp;
        for location in &self.locations {
            if let Err(e) = self.pass(location).await {
                tracing::warn!(location = %location, error = crate::telemetry::chain(&e), "s3 replay pass failed; retrying");
                outcome = Outcome::Failed;
            }
        }
        outcome
    }

    async fn pass(&self, location: &S3Location) -> Result<(), ReplayError> {
        let fresh = self.new_objects(location).await?;
        if fresh.is_empty() {
            return Ok(());
        }
        let request =
            ReplayRequest { location: location.clone(), range: Range::default(), dry_run: false, origin: Origin::Job };
        let mut replay = self.replayer.begin(&request).await?;
        let mut tally = Tally::default();
        let mut result = Ok(());
        let lease_ms = self.config.lease_secs as i64 * 1000;
        let repo = self.replayer.repo();
        for object in &fresh {
            if !repo.claim(&location.bucket, &object.key, object.size, &self.instance, now_ms(), lease_ms).await? {
                continue; // another replica has it
            }
            let read = self
                .replayer
                .replay_one(&location.bucket, object, Range::default(), false, &mut tally, &ProgressBar::hidden())
                .await;
            match read {
                Ok(_) => repo.finish(&location.bucket, &object.key, object.size, &replay.id, now_ms()).await?,
                Err(e) => {
                    repo.release(&location.bucket, &object.key, &self.instance).await?;
                    result = Err(e);
                    break;
                }
            }
        }
        tally.finish(&mut replay, result.as_ref().err());
        self.replayer.end(&replay).await?;
        if replay.objects > 0 {
            tracing::info!(location = %location, objects = replay.objects, indexed = replay.counts.indexed,
                already_present = replay.counts.already_present, dead_lettered = replay.counts.dead_lettered,
                "s3 replay: new error objects replayed");
        }
        result
    }

    /// The error objects of `location` written within the lookback that no replay has read whole.
    async fn new_objects(&self, location: &S3Location) -> Result<Vec<ObjectInfo>, ReplayError> {
        let oldest = Utc::now() - TimeDelta::hours(self.config.lookback_hours as i64);
        let mut fresh = Vec::new();
        let mut continuation = None;
        loop {
            let page = self.replayer.s3().list(location, continuation.as_deref()).await?;
            let candidates: Vec<ObjectInfo> = page
                .objects
                .into_iter()
                .filter(|o| format::object_name(&o.key).is_some())
                .filter(|o| o.last_modified.is_none_or(|t| t >= oldest))
                .collect();
            let keys: Vec<String> = candidates.iter().map(|o| o.key.clone()).collect();
            let done = self.replayer.repo().done(&location.bucket, &keys).await?;
            fresh.extend(candidates.into_iter().filter(|o| !done.contains(&o.key)));
            match page.next {
                Some(next) => continuation = Some(next),
                None => return Ok(fresh),
            }
        }
    }
}
