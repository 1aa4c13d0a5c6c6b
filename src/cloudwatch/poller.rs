//! The delivery-error poller: reads Firehose's error events from CloudWatch Logs into the state
//! database, each event exactly once.
//!
//! Per log group a checkpoint (a time plus the ids of the events at or after it already stored) says
//! where reading resumes, so a restart leaves no gap and stores nothing twice; an unfinished pagination
//! is kept in it too and continued by whoever polls next. Each step reads one FilterLogEvents page per
//! log group this replica holds the lease on, through the process-wide [`RateLimiter`]; throttling and
//! transient failures make the step fail so the worker loop backs off with jitter, and a caught-up
//! poller sleeps the poll interval. Events are filtered here as well as at the source (emulators ignore
//! some filters), and anything that is not a delivery error is stored raw and counted.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{CloudWatchError, EventSource, FilterRequest, RateLimiter};
use crate::config::CloudWatchConfig;
use crate::delivery_errors::event::{Family, parse_event};
use crate::delivery_errors::repo::{Checkpoint, DeliveryRepo, LeaseHold, NewEvent, Pass, SaveError};
use crate::metrics::Metrics;
use crate::state::StateDbError;
use crate::telemetry;
use crate::worker::{self, Outcome, Pacing};

/// How soon discovery looks again while no log group matches the prefix.
const EMPTY_DISCOVERY_RETRY_SECS: u64 = 30;

/// What one step did.
#[derive(Debug, Clone)]
pub struct StepReport {
    pub outcome: Outcome,
    /// Log groups a page was read from (the ones this replica holds).
    pub polled: Vec<String>,
    /// Events newly stored.
    pub stored: u64,
    /// Events fetched again and recognised as stored already.
    pub already_stored: u64,
    /// Stored events that are not delivery errors.
    pub unknown: u64,
}

impl StepReport {
    fn new() -> Self {
        Self { outcome: Outcome::CaughtUp, polled: Vec::new(), stored: 0, already_stored: 0, unknown: 0 }
    }
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    #[error(transparent)]
    CloudWatch(#[from] CloudWatchError),
    #[error(transparent)]
    Save(#[from] SaveError),
}

impl From<StateDbError> for PollError {
    fn from(e: StateDbError) -> Self {
        PollError::Save(SaveError::Db(e))
    }
}

struct GroupStep {
    more: bool,
    stored: u64,
    already_stored: u64,
    unknown: u64,
}

pub struct Poller {
    source: Arc<dyn EventSource>,
    repo: DeliveryRepo,
    config: Arc<CloudWatchConfig>,
    limiter: Arc<RateLimiter>,
    metrics: Arc<Metrics>,
    /// This replica's id in the lease table.
    holder: String,
    groups: Vec<String>,
    discovered_at: Option<tokio::time::Instant>,
    held: BTreeSet<String>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Poller {
    pub fn new(
        source: Arc<dyn EventSource>,
        repo: DeliveryRepo,
        config: CloudWatchConfig,
        limiter: Arc<RateLimiter>,
        metrics: Arc<Metrics>,
        holder: impl Into<String>,
    ) -> Self {
        Self {
            source,
            repo,
            config: Arc::new(config),
            limiter,
            metrics,
            holder: holder.into(),
            groups: Vec::new(),
            discovered_at: None,
            held: BTreeSet::new(),
        }
    }

    /// The log groups of the last discovery (or the configured ones).
    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Reads one page of every log group this replica holds (taking free or expired leases first).
    pub async fn run_once(&mut self) -> StepReport {
        let mut report = StepReport::new();
        if let Err(e) = self.refresh_groups().await {
            self.count_failure(&e);
            tracing::warn!(error = telemetry::chain(&e), "could not list the log groups; backing off");
            report.outcome = Outcome::Failed;
            return report;
        }
        let ttl_ms = (self.config.lease_secs * 1000) as i64;
        let (mut failed, mut more) = (false, false);
        for group in self.groups.clone() {
            match self.repo.try_lease(&group, &self.holder, now_ms(), ttl_ms).await {
                Ok(true) => {
                    if self.held.insert(group.clone()) {
                        tracing::info!(log_group = %group, "polling this log group");
                    }
                }
                Ok(false) => {
                    if self.held.remove(&group) {
                        tracing::info!(log_group = %group, "another replica polls this log group now");
                    }
                    continue;
                }
                Err(e) => {
                    self.metrics.cloudwatch_poll_errors.inc();
                    tracing::warn!(log_group = %group, error = telemetry::chain(&e), "could not take the lease");
                    failed = true;
                    break;
                }
            }
            match self.poll_group(&group).await {
                Ok(step) => {
                    report.polled.push(group);
                    report.stored += step.stored;
                    report.already_stored += step.already_stored;
                    report.unknown += step.unknown;
                    more |= step.more;
                }
                Err(PollError::Save(SaveError::LeaseLost)) => {
                    self.held.remove(&group);
                    tracing::info!(log_group = %group, "lease lost to another replica while polling");
                }
                Err(PollError::Save(SaveError::Db(e))) => {
                    self.metrics.cloudwatch_poll_errors.inc();
                    tracing::warn!(log_group = %group, error = telemetry::chain(&e), "could not save polled events");
                    failed = true;
                    break;
                }
                Err(PollError::CloudWatch(e)) => {
                    self.count_failure(&e);
                    if e.is_retryable() {
                        // Throttling and outages concern every group: back off as a whole.
                        tracing::warn!(log_group = %group, error = telemetry::chain(&e), "CloudWatch Logs failed; backing off");
                        failed = true;
                        break;
                    }
                    tracing::warn!(log_group = %group, error = telemetry::chain(&e), "cannot poll this log group");
                }
            }
        }
        self.metrics.cloudwatch_events_stored.inc_by(report.stored);
        self.metrics.cloudwatch_events_already_stored.inc_by(report.already_stored);
        self.metrics.cloudwatch_unknown_shapes.inc_by(report.unknown);
        report.outcome = match (failed, more) {
            (true, _) => Outcome::Failed,
            (false, true) => Outcome::Progress,
            (false, false) => Outcome::CaughtUp,
        };
        report
    }

    /// Steps until shutdown, then hands the leases back so another replica continues at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let pacing = Pacing {
            idle: self.config.poll_interval(),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
        };
        let poller = Arc::new(tokio::sync::Mutex::new(self));
        worker::run("cloudwatch_poller", pacing, shutdown, || {
            let poller = poller.clone();
            async move {
                let mut held = poller.lock().await;
                let outcome = held.run_once().await.outcome;
                if outcome == Outcome::CaughtUp && held.groups().is_empty() {
                    // Nothing to poll yet: look for log groups again soon, not after the poll interval.
                    let retry =
                        Duration::from_secs(held.config.discovery_interval_secs.min(EMPTY_DISCOVERY_RETRY_SECS));
                    drop(held);
                    tokio::time::sleep(retry.min(pacing.idle)).await;
                    return Outcome::Progress;
                }
                outcome
            }
        })
        .await;
        poller.lock().await.release().await;
    }

    /// Gives up every lease this replica holds.
    pub async fn release(&mut self) {
        for group in std::mem::take(&mut self.held) {
            if let Err(e) = self.repo.release_lease(&group, &self.holder).await {
                tracing::warn!(log_group = %group, error = telemetry::chain(&e), "could not release the lease");
            }
        }
    }

    fn count_failure(&self, e: &CloudWatchError) {
        match e {
            CloudWatchError::Throttled(_) => self.metrics.cloudwatch_throttles.inc(),
            CloudWatchError::Transient(_)
            | CloudWatchError::InvalidToken(_)
            | CloudWatchError::NotFound(_)
            | CloudWatchError::Sdk(_) => self.metrics.cloudwatch_poll_errors.inc(),
        };
    }

    async fn refresh_groups(&mut self) -> Result<(), CloudWatchError> {
        if !self.config.log_groups.is_empty() {
            if self.groups.is_empty() {
                self.groups = self.config.log_groups.clone();
            }
            return Ok(());
        }
        // While nothing matches, look again soon: the stream (and its log group) may be created any
        // minute, and waiting the full interval would hide its first errors for that long.
        let interval = match self.groups.is_empty() {
            true => Duration::from_secs(self.config.discovery_interval_secs.min(EMPTY_DISCOVERY_RETRY_SECS)),
            false => Duration::from_secs(self.config.discovery_interval_secs),
        };
        if self.discovered_at.is_some_and(|at| at.elapsed() < interval) {
            return Ok(());
        }
        let mut groups = BTreeSet::new();
        let mut token: Option<String> = None;
        for _ in 0..10_000 {
            self.limiter.acquire().await;
            let (names, next) = self.source.log_groups(&self.config.log_group_prefix, token.as_deref()).await?;
            // The prefix is applied here too: an emulator may not.
            groups.extend(names.into_iter().filter(|n| n.starts_with(&self.config.log_group_prefix)));
            match next {
                Some(next) if token.as_deref() != Some(next.as_str()) => token = Some(next),
                _ => break,
            }
        }
        let groups: Vec<String> = groups.into_iter().collect();
        let first = self.discovered_at.is_none();
        if groups.is_empty() && (first || !self.groups.is_empty()) {
            tracing::warn!(
                prefix = %self.config.log_group_prefix,
                retry_secs = self.config.discovery_interval_secs.min(EMPTY_DISCOVERY_RETRY_SECS),
                "no log group matches `{}`: no delivery errors can be read until one exists",
                self.config.log_group_prefix
            );
        } else if groups != self.groups || first {
            tracing::info!(count = groups.len(), prefix = %self.config.log_group_prefix, ?groups, "log groups discovered");
        }
        self.groups = groups;
        self.discovered_at = Some(tokio::time::Instant::now());
        Ok(())
    }

    /// Reads one page of `group` from its checkpoint and stores it with the next checkpoint.
    async fn poll_group(&mut self, group: &str) -> Result<GroupStep, PollError> {
        let config = self.config.clone();
        let now = now_ms();
        let mut checkpoint = match self.repo.checkpoint(group).await? {
            Some(cp) => cp,
            None => Checkpoint {
                log_group: group.to_owned(),
                cursor_time: now - (config.start_lookback_secs * 1000) as i64,
                seen: Vec::new(),
                pass: None,
            },
        };
        let mut pass = checkpoint.pass.take().unwrap_or(Pass { token: None, started_ms: now, seen: Vec::new() });

        self.limiter.acquire().await;
        let request = FilterRequest {
            log_group: group,
            log_streams: &config.log_streams,
            start_ms: checkpoint.cursor_time,
            limit: config.page_size,
            next_token: pass.token.as_deref(),
        };
        let page = match self.source.filter_events(&request).await {
            Ok(page) => page,
            Err(CloudWatchError::InvalidToken(e)) => {
                tracing::warn!(log_group = group, error = %e, "pagination token refused; reading again from the checkpoint");
                pass.token = None;
                checkpoint.pass = Some(pass);
                self.save(&[], &checkpoint).await?;
                return Ok(GroupStep { more: true, stored: 0, already_stored: 0, unknown: 0 });
            }
            Err(e) => return Err(e.into()),
        };

        // Once this pass completes, everything visible when it started (less the settle time) is read.
        let floor = checkpoint.cursor_time.max(pass.started_ms - (config.settle_secs * 1000) as i64);
        let mut known: HashSet<String> = checkpoint.seen.iter().chain(&pass.seen).map(|(id, _)| id.clone()).collect();
        let (mut new, mut already, mut unknown) = (Vec::new(), 0u64, 0u64);
        for event in page.events {
            let wanted = config.log_streams.is_empty() || config.log_streams.contains(&event.log_stream);
            if event.timestamp < checkpoint.cursor_time || !wanted {
                continue;
            }
            if !known.insert(event.event_id.clone()) {
                already += 1;
                continue;
            }
            let parsed = parse_event(group, &event.message);
            if parsed.family == Family::Unknown {
                unknown += 1;
            }
            pass.seen.push((event.event_id.clone(), event.timestamp));
            new.push(NewEvent {
                event_id: event.event_id,
                log_group: group.to_owned(),
                log_stream: event.log_stream,
                event_time: event.timestamp,
                ingestion_time: event.ingestion_time,
                raw: event.message,
                parsed,
            });
        }
        pass.seen.retain(|(_, t)| *t >= floor);

        let next = page.next_token.filter(|t| pass.token.as_deref() != Some(t.as_str()));
        let more = next.is_some();
        match next {
            Some(token) => {
                pass.token = Some(token);
                checkpoint.pass = Some(pass);
            }
            None => {
                let mut seen = std::mem::take(&mut checkpoint.seen);
                seen.extend(pass.seen);
                seen.retain(|(_, t)| *t >= floor);
                seen.sort();
                seen.dedup();
                checkpoint.cursor_time = floor;
                checkpoint.seen = seen;
            }
        }
        let fetched = new.len() as u64;
        let stored = self.save(&new, &checkpoint).await?;
        Ok(GroupStep { more, stored, already_stored: already + (fetched - stored), unknown })
    }

    async fn save(&self, events: &[NewEvent], checkpoint: &Checkpoint) -> Result<u64, SaveError> {
        let lease = LeaseHold { holder: &self.holder, ttl_ms: (self.config.lease_secs * 1000) as i64 };
        self.repo.save_page(events, checkpoint, Some(lease), now_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::cloudwatch::{EventPage, FetchedEvent};
    use crate::state::StateDb;

    const GROUP: &str = "/aws/kinesisfirehose/weblogs";

    /// Answers FilterLogEvents from a script, then with empty pages.
    struct Script(Mutex<VecDeque<Result<EventPage, CloudWatchError>>>);

    #[async_trait]
    impl EventSource for Script {
        async fn log_groups(&self, _: &str, _: Option<&str>) -> Result<(Vec<String>, Option<String>), CloudWatchError> {
            Ok((vec![GROUP.to_owned()], None))
        }

        async fn filter_events(&self, _: &FilterRequest<'_>) -> Result<EventPage, CloudWatchError> {
            self.0.lock().unwrap().pop_front().unwrap_or_else(|| Ok(EventPage::default()))
        }
    }

    /// Log groups that appear later: discovery answers whatever the list holds now.
    struct Appearing(Mutex<Vec<String>>, std::sync::atomic::AtomicUsize);

    #[async_trait]
    impl EventSource for Appearing {
        async fn log_groups(&self, _: &str, _: Option<&str>) -> Result<(Vec<String>, Option<String>), CloudWatchError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok((self.0.lock().unwrap().clone(), None))
        }

        async fn filter_events(&self, _: &FilterRequest<'_>) -> Result<EventPage, CloudWatchError> {
            Ok(EventPage::default())
        }
    }

    #[tokio::test]
    async fn discovery_looks_again_within_30_seconds_while_nothing_matches() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let source = Arc::new(Appearing(Mutex::new(Vec::new()), Default::default()));
        let calls = || source.1.load(std::sync::atomic::Ordering::SeqCst);
        let config = CloudWatchConfig { discovery_interval_secs: 300, ..Default::default() };
        let limiter = Arc::new(RateLimiter::per_second(100.0));
        let mut poller =
            Poller::new(source.clone(), DeliveryRepo::new(db), config, limiter, Arc::new(Metrics::new()), "me");

        let discovered_ago = |p: &mut Poller, secs| {
            p.discovered_at = Some(tokio::time::Instant::now() - Duration::from_secs(secs));
        };

        poller.run_once().await;
        assert_eq!((calls(), poller.groups().len()), (1, 0));
        discovered_ago(&mut poller, 10);
        poller.run_once().await;
        assert_eq!(calls(), 1, "looked again before 30 s");
        *source.0.lock().unwrap() = vec![GROUP.to_owned()];
        discovered_ago(&mut poller, 31);
        poller.run_once().await;
        assert_eq!((calls(), poller.groups()), (2, &[GROUP.to_owned()][..]));
        // Once something matches, the configured interval applies again.
        discovered_ago(&mut poller, 31);
        poller.run_once().await;
        assert_eq!(calls(), 2);
    }

    fn page(ids: &[&str], next: Option<&str>) -> Result<EventPage, CloudWatchError> {
        let now = chrono::Utc::now().timestamp_millis();
        let events = ids
            .iter()
            .map(|id| FetchedEvent {
                event_id: (*id).to_owned(),
                log_stream: "HttpEndpointDelivery".to_owned(),
                timestamp: now - 60_000,
                ingestion_time: None,
                message: r#"{"errorCode":"HttpEndpoint.RequestTimeout","message":"timed out"}"#.to_owned(),
            })
            .collect();
        Ok(EventPage { events, next_token: next.map(str::to_owned) })
    }

    async fn poller(script: Vec<Result<EventPage, CloudWatchError>>) -> (Poller, Arc<Metrics>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::connect(&format!("sqlite://{}/s.db", dir.path().display())).await.unwrap();
        db.migrate().await.unwrap();
        let metrics = Arc::new(Metrics::new());
        let config =
            CloudWatchConfig { log_groups: vec![GROUP.to_owned()], poll_interval_secs: 1, ..Default::default() };
        let poller = Poller::new(
            Arc::new(Script(Mutex::new(script.into()))),
            DeliveryRepo::new(db),
            config,
            Arc::new(RateLimiter::per_second(100.0)),
            metrics.clone(),
            "me",
        );
        (poller, metrics, dir)
    }

    #[tokio::test]
    async fn throttling_fails_the_step_and_overlaps_are_not_stored_twice() {
        let throttled = CloudWatchError::Throttled("ThrottlingException: Rate exceeded".into());
        let script = vec![Err(throttled), page(&["a", "b"], Some("t1")), page(&["b", "c"], None)];
        let (mut poller, metrics, _dir) = poller(script).await;
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored), (Outcome::Failed, 0));
        assert!(metrics.render().contains("firesight_cloudwatch_throttles_total 1"));
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored, r.polled.len()), (Outcome::Progress, 2, 1));
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored, r.already_stored), (Outcome::CaughtUp, 1, 1));
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored), (Outcome::CaughtUp, 0));
    }

    #[tokio::test]
    async fn a_refused_token_restarts_the_pass_from_the_checkpoint() {
        let refused = CloudWatchError::InvalidToken("InvalidParameterException: bad token".into());
        let script = vec![page(&["a", "b"], Some("t1")), Err(refused), page(&["a", "b", "c"], None)];
        let (mut poller, _, _dir) = poller(script).await;
        assert_eq!(poller.run_once().await.stored, 2);
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored), (Outcome::Progress, 0));
        let r = poller.run_once().await;
        assert_eq!((r.outcome, r.stored, r.already_stored), (Outcome::CaughtUp, 1, 2));
    }

    #[tokio::test]
    async fn the_loop_stops_on_shutdown_and_hands_its_lease_back() {
        let (poller, _, _dir) = poller(vec![page(&["a"], None)]).await;
        let repo = poller.repo.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(poller.run(shutdown.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while repo
            .list(&crate::delivery_errors::repo::ErrorFilter { to_ms: i64::MAX, ..Default::default() }, None, 10)
            .await
            .unwrap()
            .is_empty()
        {
            assert!(tokio::time::Instant::now() < deadline, "the loop did not poll");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), task).await.expect("stops promptly").unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        assert!(repo.try_lease(GROUP, "another-replica", now, 60_000).await.unwrap(), "lease released");
    }
}
