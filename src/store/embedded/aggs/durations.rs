//! Request durations beyond the summary. Percentiles per timeline interval ([`DurationTimelineRequest`]):
//! the durations of each interval of the timeline grid gathered, then exact nearest-rank p50, p95, p99.
//!
//! "Slowest endpoints" ([`SlowestRequest`]): the matching documents that have a duration, grouped by
//! path; per path the request count, the exact nearest-rank p95 and the sum of the durations. Paths
//! with fewer than `min_requests` such requests are left out; the rest rank by the chosen value,
//! highest first, ties by path ascending (byte order), as the OpenSearch adapter asks.

use std::collections::HashMap;

use super::{Slicer, utc};
use crate::query::model::{DurationBucket, DurationTimelineRequest, DurationTimelineResult};
use crate::query::model::{
    DurationRank, MAX_MIN_REQUESTS, MAX_TOP_LIMIT, PathDurations, SlowestRequest, SlowestResult,
};
use crate::store::StoreError;
use crate::store::bucket_grid;
use crate::store::embedded::scan::{Fetch, Ords, fold_segments, u64_column};
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

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_duration_timeline(
        &self,
        request: &DurationTimelineRequest,
    ) -> Result<DurationTimelineResult, StoreError> {
        let (first, interval, n) = bucket_grid(&request.query.range, request.interval_secs)?;
        if n == 0 {
            return Ok(DurationTimelineResult { buckets: Vec::new() });
        }
        let parts = self.parts(&request.query)?;
        let init = || vec![Vec::<u64>::new(); n];
        let partial = fold_segments(&parts, self.threads(), init, |acc, p, seg| {
            let ts = u64_column(seg, name::TS)?;
            let duration = u64_column(seg, name::DURATION)?;
            let (mut f_ts, mut f_duration, mut times, mut durations) =
                (Fetch::default(), Fetch::default(), Vec::new(), Vec::new());
            let mut slicer = Slicer::new(first, interval, n);
            parts[p].for_each_block(seg, |block| {
                f_duration.aligned(&duration, block, &mut durations);
                if durations.iter().all(Option::is_none) {
                    return;
                }
                f_ts.aligned(&ts, block, &mut times);
                for (t, d) in times.iter().zip(&durations) {
                    if let (Some(t), Some(d)) = (t, d)
                        && let Some(at) = slicer.slice(tantivy::u64_to_i64(*t))
                    {
                        acc[at].push(*d);
                    }
                }
            })
        })?;
        let mut all = init();
        for part in partial {
            all.iter_mut().zip(part).for_each(|(x, y)| x.extend(y));
        }
        let mut buckets = Vec::with_capacity(n);
        for (i, mut values) in all.into_iter().enumerate() {
            let mut p = |q: f64| (!values.is_empty()).then(|| nearest_rank(&mut values, q) as f64 / 1e6);
            let (p50_ms, p95_ms, p99_ms) = (p(50.0), p(95.0), p(99.0));
            buckets.push(DurationBucket { start: utc(first + i as i64 * interval)?, p50_ms, p95_ms, p99_ms });
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
