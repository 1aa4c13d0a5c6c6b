//! Recovering what Firehose gave up on (write path, fed from S3): when Firehose cannot deliver a record
//! (the destination refused it, the retry duration ran out, the transformation Lambda failed) it writes
//! the record to the stream's S3 backup bucket under an error prefix. A replay lists those objects
//! ([`s3`]), reads each as a stream ([`object`]), decodes every failed record ([`format`]) and sends its
//! lines through the ingest core's parse, enrich, index and dead-letter path under ids derived from the
//! record, so replaying twice adds nothing. It counts what it did per error code ([`repo`]), records per
//! stream and minute what each object held for the delivery-error incidents
//! ([`crate::delivery_errors::recovered`]), and writes a `replay.completed` event to the alert outbox.
//! Started by `firesight replay`, `POST /v1/delivery-errors/replays` ([`Replays`]) or the background
//! job ([`job`]).

mod error;
pub mod format;
pub mod job;
pub mod object;
pub mod repo;
pub mod s3;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::Utc;
use indicatif::ProgressBar;

use crate::alerts::model::{AlertEvent, EVENT_REPLAY_COMPLETED, EventData, ReplayCompleted};
use crate::alerts::repo::{AlertRepo, new_id};
use crate::config::{S3Config, S3Location};
use crate::delivery_errors::recovered::{CodeCounts, RecoveredRepo, ReplayCounts};
use crate::ingest::Ingestor;
use crate::state::StateDb;
pub use error::ReplayError;
pub use object::Range;
use object::{ObjectJob, ObjectOutcome};
use repo::{Origin, Replay, ReplayRepo, ReplayStatus};
use s3::{ObjectInfo, S3};

/// What a replay reads and how.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub location: S3Location,
    pub range: Range,
    pub dry_run: bool,
    pub origin: Origin,
}

/// Replays error objects into the log store; shared by the command, the API and the job.
#[derive(Clone)]
pub struct Replayer {
    s3: S3,
    ingestor: Ingestor,
    limits: S3Config,
    replays: ReplayRepo,
    recovered: RecoveredRepo,
    events: AlertRepo,
    /// `FIRESIGHT_ALERTS__PUBLIC_URL`, for the event's link.
    public_url: Option<String>,
}

impl Replayer {
    pub fn new(s3: S3, ingestor: Ingestor, limits: S3Config, db: StateDb, public_url: Option<String>) -> Self {
        Self {
            s3,
            ingestor,
            limits,
            replays: ReplayRepo::new(db.clone()),
            recovered: RecoveredRepo::new(db.clone()),
            events: AlertRepo::new(db),
            public_url,
        }
    }

    pub fn repo(&self) -> &ReplayRepo {
        &self.replays
    }

    pub fn s3(&self) -> &S3 {
        &self.s3
    }

    /// A new replay, written as running.
    pub async fn begin(&self, request: &ReplayRequest) -> Result<Replay, ReplayError> {
        let replay = Replay {
            id: new_id("rpl"),
            origin: request.origin,
            location: request.location.to_string(),
            since: request.range.since,
            until: request.range.until,
            dry_run: request.dry_run,
            status: ReplayStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            objects: 0,
            counts: ReplayCounts::default(),
            codes: Vec::new(),
            error: None,
        };
        self.replays.insert(&replay).await?;
        Ok(replay)
    }

    /// Lists the location and replays every error object in it (a whole `firesight replay` or API
    /// replay), then finishes `replay`: its counts, its status and the `replay.completed` event.
    pub async fn run(
        &self,
        request: &ReplayRequest,
        mut replay: Replay,
        progress: &ProgressBar,
    ) -> Result<Replay, ReplayError> {
        let mut tally = Tally::default();
        let result = self.replay_location(request, &replay.id, &mut tally, progress).await;
        tally.finish(&mut replay, result.as_ref().err());
        self.end(&replay).await?;
        result.map(|()| replay)
    }

    async fn replay_location(
        &self,
        request: &ReplayRequest,
        replay_id: &str,
        tally: &mut Tally,
        progress: &ProgressBar,
    ) -> Result<(), ReplayError> {
        let location = &request.location;
        let mut continuation = None;
        loop {
            let page = self.s3.list(location, continuation.as_deref()).await?;
            for object in &page.objects {
                // An object written before the range began holds no record that ended within it.
                if let (Some(since), Some(written)) = (request.range.since, object.last_modified)
                    && written < since
                {
                    continue;
                }
                if self.replay_one(&location.bucket, object, request.range, request.dry_run, tally, progress).await?
                    && !request.dry_run
                    && request.range.since.is_none()
                    && request.range.until.is_none()
                {
                    // Read whole: the background job need not read it again.
                    self.replays.finish(&location.bucket, &object.key, object.size, replay_id, now_ms()).await?;
                }
            }
            match page.next {
                Some(next) => continuation = Some(next),
                None => return Ok(()),
            }
        }
    }

    /// Replays one object when its key names a failure and it is within the size limit. Returns
    /// whether it was read whole.
    pub(crate) async fn replay_one(
        &self,
        bucket: &str,
        object: &ObjectInfo,
        range: Range,
        dry_run: bool,
        tally: &mut Tally,
        progress: &ProgressBar,
    ) -> Result<bool, ReplayError> {
        let Some(name) = format::object_name(&object.key) else { return Ok(false) };
        if object.size > self.limits.max_object_bytes {
            tracing::warn!(bucket, key = %object.key, size = object.size, limit = self.limits.max_object_bytes,
                "replay: object larger than FIRESIGHT_S3__MAX_OBJECT_BYTES skipped");
            tally.skipped_objects += 1;
            return Ok(false);
        }
        progress.set_message(object.key.clone());
        let job = ObjectJob {
            s3: &self.s3,
            ingestor: &self.ingestor,
            limits: &self.limits,
            bucket,
            object,
            name: &name,
            range,
            dry_run,
            progress,
        };
        let outcome = job.run().await?;
        if outcome.truncated {
            tracing::warn!(bucket, key = %object.key, limit = self.limits.max_records_per_object,
                "replay: object has more records than FIRESIGHT_S3__MAX_RECORDS_PER_OBJECT; the rest was not read");
        }
        if !dry_run {
            self.recovered.save(bucket, &object.key, &outcome.recovered, now_ms()).await?;
        }
        let whole = !outcome.truncated;
        tally.add(outcome);
        Ok(whole)
    }

    /// Writes the replay's end and its event.
    pub(crate) async fn end(&self, replay: &Replay) -> Result<(), ReplayError> {
        self.replays.update(replay).await?;
        let link = format!("/v1/delivery-errors/replays/{}", replay.id);
        let event = AlertEvent {
            kind: EVENT_REPLAY_COMPLETED.to_owned(),
            timestamp: Utc::now(),
            data: EventData::ReplayCompleted(Box::new(ReplayCompleted {
                replay_id: replay.id.clone(),
                origin: replay.origin.as_str().to_owned(),
                location: replay.location.clone(),
                status: replay.status.as_str().to_owned(),
                dry_run: replay.dry_run,
                objects: replay.objects,
                counts: replay.counts,
                codes: replay.codes.clone(),
                error: replay.error.clone(),
                link: match &self.public_url {
                    Some(base) => format!("{}{link}", base.trim_end_matches('/')),
                    None => link,
                },
            })),
        };
        self.events.insert_standalone_event(&event, now_ms()).await?;
        Ok(())
    }
}

/// What a replay did so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub objects: u64,
    pub skipped_objects: u64,
    pub skipped_records: u64,
    pub codes: BTreeMap<String, ReplayCounts>,
}

impl Tally {
    fn add(&mut self, outcome: ObjectOutcome) {
        self.objects += 1;
        self.skipped_records += outcome.skipped_records;
        for (code, counts) in outcome.codes {
            self.codes.entry(code).or_default().add(&counts);
        }
    }

    pub(crate) fn finish(self, replay: &mut Replay, error: Option<&ReplayError>) {
        replay.objects = self.objects;
        replay.counts = ReplayCounts::default();
        for counts in self.codes.values() {
            replay.counts.add(counts);
        }
        let mut codes: Vec<CodeCounts> =
            self.codes.into_iter().map(|(code, counts)| CodeCounts { code, counts }).collect();
        codes.sort_by(|a, b| b.counts.records.cmp(&a.counts.records).then_with(|| a.code.cmp(&b.code)));
        replay.codes = codes;
        replay.finished_at = Some(Utc::now());
        replay.status = if error.is_some() { ReplayStatus::Failed } else { ReplayStatus::Completed };
        replay.error = error.map(|e| crate::telemetry::chain(e));
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The summary `firesight replay` prints: totals, then one line per error code.
pub fn summary(replay: &Replay, elapsed: std::time::Duration) -> String {
    let c = &replay.counts;
    let mut out = format!(
        "{}{} objects, {} failed records ({} lines) read from {}: {} indexed, {} already present, {} still \
         unparseable (dead-lettered), in {:.1} s ({:.0} lines/s)",
        if replay.dry_run { "dry run: " } else { "" },
        replay.objects,
        c.records,
        c.lines,
        replay.location,
        c.indexed,
        c.already_present,
        c.dead_lettered,
        elapsed.as_secs_f64(),
        c.lines as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    if !replay.codes.is_empty() {
        out.push_str(&format!(
            "\n{:<44} {:>10} {:>10} {:>10} {:>10} {:>12}",
            "error code", "records", "lines", "indexed", "present", "unparseable"
        ));
    }
    for code in &replay.codes {
        let c = &code.counts;
        let name = if code.code.is_empty() { "(unreadable record)" } else { code.code.as_str() };
        out.push_str(&format!(
            "\n{name:<44} {:>10} {:>10} {:>10} {:>10} {:>12}",
            c.records, c.lines, c.indexed, c.already_present, c.dead_lettered
        ));
    }
    out
}

/// The API's view: replays started over HTTP run one at a time, in the background, within the
/// configured locations.
#[derive(Clone)]
pub struct Replays {
    replayer: Option<Replayer>,
    repo: ReplayRepo,
    locations: Vec<S3Location>,
    running: Arc<Mutex<Option<String>>>,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Replays {
    pub fn new(
        replayer: Option<Replayer>,
        db: StateDb,
        locations: Vec<S3Location>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        Self { replayer, repo: ReplayRepo::new(db), locations, running: Arc::default(), shutdown }
    }

    pub fn replayer(&self) -> Option<&Replayer> {
        self.replayer.as_ref()
    }

    /// Starts a replay of every configured location (or of `location` within one) over `range`, and
    /// returns it as running.
    pub async fn start(&self, location: Option<&str>, range: Range, dry_run: bool) -> Result<Vec<Replay>, ReplayError> {
        let replayer = self.replayer.clone().ok_or(ReplayError::NotConfigured)?;
        let targets = match location {
            None => self.locations.clone(),
            Some(text) => {
                let wanted = S3Location::parse(text).map_err(|_| ReplayError::OutsideLocations(text.to_owned()))?;
                if !self.locations.iter().any(|l| l.covers(&wanted)) {
                    return Err(ReplayError::OutsideLocations(text.to_owned()));
                }
                vec![wanted]
            }
        };
        let mut requests = Vec::new();
        {
            let mut running = self.running.lock().expect("not poisoned");
            if let Some(id) = running.as_ref() {
                return Err(ReplayError::AlreadyRunning(id.clone()));
            }
            *running = Some(String::new());
        }
        let mut replays = Vec::new();
        for location in targets {
            let request = ReplayRequest { location, range, dry_run, origin: Origin::Api };
            match replayer.begin(&request).await {
                Ok(replay) => {
                    replays.push(replay.clone());
                    requests.push((request, replay));
                }
                Err(e) => {
                    *self.running.lock().expect("not poisoned") = None;
                    return Err(e);
                }
            }
        }
        *self.running.lock().expect("not poisoned") = replays.first().map(|r| r.id.clone());
        let running = self.running.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let hidden = ProgressBar::hidden();
            for (request, replay) in requests {
                let id = replay.id.clone();
                let done = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    done = replayer.run(&request, replay, &hidden) => done,
                };
                match done {
                    Ok(r) => tracing::info!(replay = %r.id, indexed = r.counts.indexed, "replay finished"),
                    Err(e) => tracing::warn!(replay = %id, error = crate::telemetry::chain(&e), "replay failed"),
                }
            }
            *running.lock().expect("not poisoned") = None;
        });
        Ok(replays)
    }

    pub async fn list(&self, size: u32) -> Result<Vec<Replay>, ReplayError> {
        Ok(self.repo.list(size).await?)
    }

    pub async fn get(&self, id: &str) -> Result<Replay, ReplayError> {
        self.repo.get(id).await?.ok_or_else(|| ReplayError::NotFound(id.to_owned()))
    }
}
