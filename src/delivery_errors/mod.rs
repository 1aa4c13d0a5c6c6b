//! Delivery errors (control path): Firehose's delivery-error events, polled from CloudWatch Logs by
//! [`crate::cloudwatch::Poller`] and kept in the state database ([`repo`]), understood by [`event`],
//! and read back by the `/v1/delivery-errors` endpoints through [`DeliveryErrors`]: lists, summaries,
//! and the [`correlate`]d view next to ingest volume (from the log store) and firesight's own refused
//! deliveries ([`rejections`]).

pub mod correlate;
pub mod event;
pub mod model;
pub mod recovered;
pub mod repo;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};

use crate::query::model::{Filters, Query, Split, TimeRange, TimelineRequest};
use crate::state::{StateDbError, time_of_ms as ms_time};
use crate::store::{LogStore, StoreError};
use correlate::{BucketCounts, Rules, StreamBucket};
use event::Family;
use model::*;
use repo::{DeliveryRepo, ErrorFilter, ListPosition, StatsColumn, StoredError};

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the cursor is not one this service issued")]
    BadCursor,
    #[error("state database failed")]
    Db(#[from] StateDbError),
    #[error("log store failed")]
    Store(#[from] StoreError),
}

/// Which errors a request covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorQuery {
    pub range: TimeRange,
    pub streams: Vec<String>,
    pub destinations: Vec<String>,
    pub codes: Vec<String>,
    pub families: Vec<Family>,
}

impl ErrorQuery {
    fn filter(&self, from: DateTime<Utc>) -> ErrorFilter {
        ErrorFilter {
            from_ms: from.timestamp_millis(),
            to_ms: self.range.to.timestamp_millis(),
            streams: self.streams.clone(),
            destinations: self.destinations.clone(),
            codes: self.codes.clone(),
            families: self.families.clone(),
        }
    }
}

/// Buckets of a correlation or incident request.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRequest {
    pub query: ErrorQuery,
    /// A multiple of 60 (rejections are counted per minute).
    pub interval_secs: u64,
    pub rules: Rules,
}

/// The bucket grid: `lead_in` baseline buckets before the aligned start of the range, then the range.
struct Grid {
    start_ms: i64,
    step_ms: i64,
    lead_in: usize,
    len: usize,
}

impl Grid {
    fn new(range: &TimeRange, interval_secs: u64, lead_in: usize) -> Self {
        let step_ms = interval_secs as i64 * 1000;
        let aligned = range.from.timestamp_millis().div_euclid(step_ms) * step_ms;
        let start_ms = aligned - lead_in as i64 * step_ms;
        let len = ((range.to.timestamp_millis() - start_ms) as u64).div_ceil(step_ms as u64) as usize;
        Self { start_ms, step_ms, lead_in, len }
    }

    fn index(&self, ms: i64) -> Option<usize> {
        let i = (ms - self.start_ms).div_euclid(self.step_ms);
        (i >= 0 && (i as usize) < self.len).then_some(i as usize)
    }

    fn time(&self, i: usize) -> DateTime<Utc> {
        ms_time(self.start_ms + i as i64 * self.step_ms)
    }

    fn from(&self) -> DateTime<Utc> {
        self.time(0)
    }
}

/// The read side of delivery errors.
#[derive(Clone)]
pub struct DeliveryErrors {
    repo: DeliveryRepo,
    store: Arc<dyn LogStore>,
}

impl DeliveryErrors {
    pub fn new(repo: DeliveryRepo, store: Arc<dyn LogStore>) -> Self {
        Self { repo, store }
    }

    pub fn repo(&self) -> &DeliveryRepo {
        &self.repo
    }

    /// A page of errors, newest first.
    pub async fn list(
        &self,
        query: &ErrorQuery,
        cursor: Option<&str>,
        size: u32,
    ) -> Result<DeliveryErrorPage, DeliveryError> {
        let after = cursor.map(decode_cursor).transpose()?;
        let mut rows = self.repo.list(&query.filter(query.range.from), after.as_ref(), size + 1).await?;
        let more = rows.len() > size as usize;
        rows.truncate(size as usize);
        let next_cursor = more.then(|| rows.last().map(|r| encode_cursor(r.event_time, &r.event_id))).flatten();
        Ok(DeliveryErrorPage {
            from: query.range.from,
            to: query.range.to,
            items: rows.into_iter().map(item).collect(),
            next_cursor,
        })
    }

    pub async fn summary(&self, query: &ErrorQuery, interval_secs: u64) -> Result<DeliveryErrorSummary, DeliveryError> {
        let grid = Grid::new(&query.range, interval_secs, 0);
        let filter = query.filter(query.range.from);
        let (by_code, by_family, by_stream, buckets) = tokio::try_join!(
            self.repo.stats_by(&filter, StatsColumn::Code),
            self.repo.stats_by(&filter, StatsColumn::Family),
            self.repo.stats_by(&filter, StatsColumn::Stream),
            self.repo.buckets(&filter, grid.step_ms),
        )?;
        let mut timeline: Vec<CountBucket> =
            (0..grid.len).map(|i| CountBucket { start: grid.time(i), count: 0 }).collect();
        for b in &buckets {
            if let Some(i) = grid.index(b.bucket_ms) {
                timeline[i].count += b.count;
            }
        }
        let stat = |s: repo::KeyStats| KeyStat {
            key: s.key,
            count: s.count,
            first_seen: ms_time(s.first_ms),
            last_seen: ms_time(s.last_ms),
        };
        Ok(DeliveryErrorSummary {
            from: query.range.from,
            to: query.range.to,
            interval: interval_secs,
            total: by_family.iter().map(|s| s.count).sum(),
            unknown_shapes: by_family.iter().filter(|s| s.key == Family::Unknown.as_str()).map(|s| s.count).sum(),
            first_seen: by_family.iter().map(|s| s.first_ms).min().map(ms_time),
            last_seen: by_family.iter().map(|s| s.last_ms).max().map(ms_time),
            by_code: by_code.into_iter().map(stat).collect(),
            by_family: by_family.into_iter().map(stat).collect(),
            by_stream: by_stream.into_iter().map(stat).collect(),
            timeline,
        })
    }

    pub async fn correlation(&self, request: &BucketRequest) -> Result<Correlation, DeliveryError> {
        let grid = Grid::new(&request.query.range, request.interval_secs, request.rules.baseline_buckets);
        let (ingested, errors, rejections) = tokio::try_join!(
            self.ingested(&grid, &request.query.range),
            async {
                Ok::<_, DeliveryError>(self.repo.buckets(&request.query.filter(grid.from()), grid.step_ms).await?)
            },
            async {
                let to = request.query.range.to.timestamp_millis();
                Ok::<_, DeliveryError>(self.repo.rejections(grid.start_ms, to, grid.step_ms).await?)
            },
        )?;
        let mut counts: Vec<BucketCounts> = (0..grid.len)
            .map(|i| BucketCounts {
                start_ms: grid.start_ms + i as i64 * grid.step_ms,
                ingested: ingested[i],
                ..Default::default()
            })
            .collect();
        let mut by_status: Vec<BTreeMap<String, u64>> = vec![BTreeMap::new(); grid.len];
        for b in &errors {
            if let Some(i) = grid.index(b.bucket_ms) {
                counts[i].errors += b.count;
            }
        }
        for r in &rejections {
            if let Some(i) = grid.index(r.bucket_ms) {
                counts[i].rejected += r.count;
                *by_status[i].entry(r.status.to_string()).or_insert(0) += r.count;
            }
        }
        let correlated = correlate::correlate(&counts, grid.lead_in, request.rules);
        let buckets: Vec<CorrelationBucket> = correlated
            .into_iter()
            .zip(by_status.into_iter().skip(grid.lead_in))
            .map(|(c, rejected_by_status)| CorrelationBucket {
                start: ms_time(c.counts.start_ms),
                delivery_errors: c.counts.errors,
                records_ingested: c.counts.ingested,
                rejected_requests: c.counts.rejected,
                rejected_by_status,
                ingest_baseline: c.ingest_baseline,
                flagged: c.flagged,
            })
            .collect();
        Ok(Correlation {
            from: request.query.range.from,
            to: request.query.range.to,
            interval: request.interval_secs,
            baseline_buckets: request.rules.baseline_buckets as u32,
            min_drop: request.rules.min_drop,
            flagged_buckets: buckets.iter().filter(|b| b.flagged).count() as u64,
            buckets,
        })
    }

    pub async fn incidents(&self, request: &BucketRequest, now: DateTime<Utc>) -> Result<Incidents, DeliveryError> {
        let grid = Grid::new(&request.query.range, request.interval_secs, request.rules.baseline_buckets);
        let (ingested, errors) = tokio::try_join!(self.ingested(&grid, &request.query.range), async {
            Ok::<_, DeliveryError>(self.repo.buckets(&request.query.filter(grid.from()), grid.step_ms).await?)
        })?;
        let mut per_stream: BTreeMap<String, Vec<StreamBucket>> = BTreeMap::new();
        for b in errors {
            let Some(i) = grid.index(b.bucket_ms) else { continue };
            let buckets = per_stream.entry(b.stream).or_insert_with(|| vec![StreamBucket::default(); grid.len]);
            buckets[i].errors += b.count;
            *buckets[i].codes.entry(b.code).or_insert(0) += b.count;
        }
        let reaches_now = request.query.range.to.timestamp_millis() + grid.step_ms >= now.timestamp_millis();
        let found = correlate::incidents(&ingested, &per_stream, grid.lead_in, request.rules, reaches_now);
        let recovered = recovered::RecoveredRepo::new(self.repo.state().clone());
        let mut incidents = Vec::with_capacity(found.len());
        for i in found {
            let mut codes: Vec<CodeCount> =
                i.codes.into_iter().map(|(code, count)| CodeCount { code, count }).collect();
            codes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
            let start = grid.time(i.first);
            let end = (!i.ongoing).then(|| grid.time(i.last + 1));
            // The records Firehose backed up while this incident lasted, found and replayed from S3.
            let until = end.unwrap_or(now + chrono::TimeDelta::minutes(1));
            let s3 = recovered.totals(&i.stream, start.timestamp_millis(), until.timestamp_millis()).await?;
            incidents.push(Incident {
                stream: i.stream,
                start,
                end,
                ongoing: i.ongoing,
                error_count: i.errors,
                codes,
                ingest_baseline: i.ingest_baseline,
                estimated_missing_records: i.missing_records,
                recoverable_records: s3.found,
                replayed_records: s3.replayed,
            });
        }
        Ok(Incidents {
            from: request.query.range.from,
            to: request.query.range.to,
            interval: request.interval_secs,
            incidents,
        })
    }

    /// Records ingested per grid bucket, from the log store's timeline.
    async fn ingested(&self, grid: &Grid, range: &TimeRange) -> Result<Vec<u64>, DeliveryError> {
        let request = TimelineRequest {
            query: Query { range: TimeRange { from: grid.from(), to: range.to }, filters: Filters::default() },
            interval_secs: (grid.step_ms / 1000) as u64,
            split: Split::None,
        };
        let timeline = self.store.timeline(&request).await?;
        let mut out = vec![0; grid.len];
        for b in timeline.buckets {
            if let Some(i) = grid.index(b.start.timestamp_millis()) {
                out[i] += b.count;
            }
        }
        Ok(out)
    }
}

fn item(r: StoredError) -> DeliveryErrorItem {
    let family = Family::parse(&r.family).unwrap_or(Family::Unknown);
    DeliveryErrorItem {
        id: r.event_id,
        time: ms_time(r.event_time),
        stream: r.stream,
        stream_arn: r.stream_arn,
        destination: r.destination,
        delivery_stream_version_id: r.version_id,
        error_code: r.error_code,
        family,
        error_type: r.error_type,
        http_status: r.http_status,
        processor: r.processor,
        message: r.message,
        log_group: r.log_group,
        log_stream: r.log_stream,
        raw: (family == Family::Unknown).then_some(r.raw),
    }
}

fn encode_cursor(time: i64, id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{time}:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<ListPosition, DeliveryError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| DeliveryError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| DeliveryError::BadCursor)?;
    let (time, id) = text.split_once(':').ok_or(DeliveryError::BadCursor)?;
    let event_time = time.parse().map_err(|_| DeliveryError::BadCursor)?;
    if id.is_empty() {
        return Err(DeliveryError::BadCursor);
    }
    Ok(ListPosition { event_time, event_id: id.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = encode_cursor(1_764_115_200_000, "3821783987");
        assert_eq!(
            decode_cursor(&c).unwrap(),
            ListPosition { event_time: 1_764_115_200_000, event_id: "3821783987".into() }
        );
        for bad in ["", "!!", "bm9jb2xvbg", "eDp5"] {
            assert!(matches!(decode_cursor(bad), Err(DeliveryError::BadCursor)), "{bad}");
        }
    }

    #[test]
    fn grid_aligns_and_leads_in() {
        let range = TimeRange {
            from: DateTime::parse_from_rfc3339("2026-11-26T01:30:00Z").unwrap().to_utc(),
            to: DateTime::parse_from_rfc3339("2026-11-26T04:00:00Z").unwrap().to_utc(),
        };
        let g = Grid::new(&range, 3600, 2);
        assert_eq!(g.from().to_rfc3339(), "2026-11-25T23:00:00+00:00");
        assert_eq!(g.len, 5);
        assert_eq!(g.index(range.from.timestamp_millis()), Some(2));
        assert_eq!(g.index(range.to.timestamp_millis()), None);
    }
}
