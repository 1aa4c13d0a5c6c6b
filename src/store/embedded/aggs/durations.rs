//! Request durations beyond the summary. Percentiles per timeline interval ([`DurationTimelineRequest`]):
//! exact nearest-rank p50, p95, p99 of each interval of the timeline grid, in the summary's two passes
//! ([`super::exact`]) with a histogram per interval.
//!
//! "Slowest endpoints" ([`SlowestRequest`]): the matching documents that have a duration, grouped by
//! path; per path the request count, the exact nearest-rank p95 and the sum of the durations. Paths
//! with fewer than `min_requests` such requests are left out; the rest rank by the chosen value,
//! highest first, ties by path ascending (byte order), as the OpenSearch adapter asks.

use std::collections::HashMap;

use tantivy::SegmentReader;

use super::exact::{Histogram, Targets};
use super::{Slicer, utc};
use crate::query::model::{DurationBucket, DurationTimelineRequest, DurationTimelineResult};
use crate::query::model::{
    DurationRank, MAX_MIN_REQUESTS, MAX_TOP_LIMIT, PathDurations, SlowestRequest, SlowestResult,
};
use crate::store::StoreError;
use crate::store::bucket_grid;
use crate::store::embedded::scan::{Fetch, Ords, Part, fold_segments, for_each_aligned, u64_column};
use crate::store::embedded::schema::name;
use crate::store::embedded::state::EmbeddedStore;

/// Per path: its durations (nanoseconds).
#[derive(Default)]
struct Acc {
    total: u64,
    missing: u64,
    paths: HashMap<Vec<u8>, Vec<u64>>,
}

/// The nearest-rank `p` percentile of `values` (not empty), reordering them.
fn nearest_rank(values: &mut [u64], p: f64) -> u64 {
    let rank = ((p / 100.0) * values.len() as f64).ceil().clamp(1.0, values.len() as f64) as usize;
    *values.select_nth_unstable(rank - 1).1
}

/// Calls `f(interval, duration)` for each matching document of a segment that has a duration and a
/// timestamp inside the `(first, width, n)` grid.
fn for_each_timed(
    part: &Part,
    seg: &SegmentReader,
    (first, width, n): (i64, i64, usize),
    mut f: impl FnMut(usize, u64),
) -> Result<(), StoreError> {
    let ts = u64_column(seg, name::TS)?;
    let duration = u64_column(seg, name::DURATION)?;
    let (mut f_ts, mut f_duration) = (Fetch::default(), Fetch::default());
    let mut slicer = Slicer::new(first, width, n);
    part.for_each_block(seg, |block| {
        let (docs, durations) = f_duration.docs_values(&duration, block);
        if docs.is_empty() {
            return;
        }
        let (timed, times) = f_ts.docs_values(&ts, docs);
        for_each_aligned(docs, timed, times, |i, t| {
            if let Some(at) = slicer.slice(tantivy::u64_to_i64(t)) {
                f(at, durations[i]);
            }
        });
    })
}

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_duration_timeline(
        &self,
        request: &DurationTimelineRequest,
    ) -> Result<DurationTimelineResult, StoreError> {
        const PERCENTS: [f64; 3] = [50.0, 95.0, 99.0];
        let (first, interval, n) = bucket_grid(&request.query.range, request.interval_secs)?;
        if n == 0 {
            return Ok(DurationTimelineResult { buckets: Vec::new() });
        }
        let parts = self.parts(&request.query)?;
        let grid = (first, interval, n);
        // First pass: a histogram per interval that has durations.
        let init = || (0..n).map(|_| None).collect::<Vec<Option<Histogram>>>();
        let partial = fold_segments(&parts, self.threads(), init, |acc, p, seg| {
            for_each_timed(&parts[p], seg, grid, |at, d| acc[at].get_or_insert_with(Histogram::default).add(d))
        })?;
        let mut counted = init();
        for part in &partial {
            for (all, h) in counted.iter_mut().zip(part) {
                if let Some(h) = h {
                    all.get_or_insert_with(Histogram::default).merge(h);
                }
            }
        }
        drop(partial);
        // Second pass: per interval, only the values of the buckets holding its percentiles.
        let targets: Vec<Option<Targets>> =
            counted.iter().map(|h| h.as_ref().and_then(|h| h.targets(&PERCENTS))).collect();
        drop(counted);
        let init = || targets.iter().map(|t| t.as_ref().map_or_else(Vec::new, Targets::members)).collect::<Vec<_>>();
        let gathered = fold_segments(&parts, self.threads(), init, |members, p, seg| {
            for_each_timed(&parts[p], seg, grid, |at, d| {
                if let Some(t) = &targets[at] {
                    t.keep(d, &mut members[at]);
                }
            })
        })?;
        let mut per_interval: Vec<Vec<Vec<Vec<u64>>>> = (0..n).map(|_| Vec::new()).collect();
        for part in gathered {
            for (all, members) in per_interval.iter_mut().zip(part) {
                all.push(members);
            }
        }
        let mut buckets = Vec::with_capacity(n);
        for (i, (target, members)) in targets.iter().zip(per_interval).enumerate() {
            let p = target.as_ref().map_or_else(|| vec![None; PERCENTS.len()], |t| t.select(members));
            let ms = |v: Option<f64>| v.map(|ns| ns / 1e6);
            buckets.push(DurationBucket {
                start: utc(first + i as i64 * interval)?,
                p50_ms: ms(p[0]),
                p95_ms: ms(p[1]),
                p99_ms: ms(p[2]),
            });
        }
        Ok(DurationTimelineResult { buckets })
    }

    pub(in crate::store::embedded) fn read_slowest(
        &self,
        request: &SlowestRequest,
    ) -> Result<SlowestResult, StoreError> {
        if !(1..=MAX_TOP_LIMIT).contains(&request.limit) {
            return Err(StoreError::BadRequest(format!("limit must be 1..={MAX_TOP_LIMIT}")));
        }
        if !(1..=MAX_MIN_REQUESTS).contains(&request.min_requests) {
            return Err(StoreError::BadRequest(format!("min_requests must be 1..={MAX_MIN_REQUESTS}")));
        }
        let parts = self.parts(&request.query)?;
        let partial = fold_segments(&parts, self.threads(), Acc::default, |acc, p, seg| {
            let duration = u64_column(seg, name::DURATION)?;
            let mut ords = Ords::open(seg, name::PATH)?;
            let mut per_ord: Vec<Vec<u64>> = vec![Vec::new(); ords.num_terms()];
            let (mut fetch, mut durations, mut paths) = (Fetch::default(), Vec::new(), Vec::new());
            parts[p].for_each_block(seg, |block| {
                fetch.aligned(&duration, block, &mut durations);
                ords.aligned(block, &mut paths);
                for (d, o) in durations.iter().zip(&paths) {
                    let Some(d) = d else { continue };
                    acc.total += 1;
                    match o {
                        Some(o) => per_ord[*o as usize].push(*d),
                        None => acc.missing += 1,
                    }
                }
            })?;
            let used: Vec<u64> = (0..per_ord.len() as u64).filter(|o| !per_ord[*o as usize].is_empty()).collect();
            ords.terms(&used, |i, term| {
                let values = std::mem::take(&mut per_ord[used[i] as usize]);
                acc.paths.entry(term.to_vec()).or_default().extend(values);
            })
        })?;
        let mut all = Acc::default();
        for part in partial {
            all.total += part.total;
            all.missing += part.missing;
            for (path, values) in part.paths {
                all.paths.entry(path).or_default().extend(values);
            }
        }
        let mut ranked: Vec<(Vec<u8>, PathDurations)> = all
            .paths
            .into_iter()
            .filter(|(_, v)| v.len() as u64 >= request.min_requests)
            .map(|(path, mut values)| {
                let total: u64 = values.iter().sum();
                let p95 = nearest_rank(&mut values, 95.0);
                let d = PathDurations {
                    key: String::from_utf8_lossy(&path).into_owned(),
                    count: values.len() as u64,
                    duration_p95_ms: p95 as f64 / 1e6,
                    duration_total_ms: total as f64 / 1e6,
                };
                (path, d)
            })
            .collect();
        let value = |d: &PathDurations| match request.rank_by {
            DurationRank::P95 => d.duration_p95_ms,
            DurationRank::Total => d.duration_total_ms,
        };
        ranked.sort_by(|(ka, a), (kb, b)| value(b).total_cmp(&value(a)).then_with(|| ka.cmp(kb)));
        ranked.truncate(request.limit as usize);
        Ok(SlowestResult {
            total: all.total,
            missing: all.missing,
            buckets: ranked.into_iter().map(|(_, d)| d).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_of_a_few_values() {
        let mut v = vec![5, 1, 4, 2, 3];
        assert_eq!(super::nearest_rank(&mut v, 95.0), 5);
        assert_eq!(super::nearest_rank(&mut v, 50.0), 3);
        assert_eq!(super::nearest_rank(&mut [7], 95.0), 7);
    }
}
