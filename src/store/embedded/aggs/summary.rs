//! The summary of a query ([`Query`] → [`SummaryResult`]): requests, bytes, status classes, bots,
//! unique visitors (distinct per UTC day, summed over the days, as the OpenSearch adapter counts
//! them), unique client IPs, the busiest UTC hour, and exact nearest-rank percentiles of the response
//! sizes and of the request durations (with the largest duration).
//!
//! One columnar pass per segment gathers the counters and a histogram of the sizes and durations; the
//! percentiles then take a second pass that keeps only the values of the histogram buckets holding
//! them ([`super::exact`]), so nothing ever holds every size.

use tantivy::u64_to_i64;

use super::exact::Histogram;
use super::utc;
use crate::query::model::{HourCount, Query, SummaryResult};
use crate::store::StoreError;
use crate::store::embedded::scan::{Fetch, KeyCounts, Ords, Part, Runs, fold_segments, u64_column};
use crate::store::embedded::schema::name;
use crate::store::embedded::state::EmbeddedStore;

const HOUR_MS: i64 = 3_600_000;

/// What one thread of a summary gathers.
#[derive(Default)]
struct SummaryAcc {
    requests: u64,
    bytes: u64,
    bots: u64,
    /// By hundreds digit: `classes[4]` is 4xx.
    classes: [u64; 6],
    sizes: Histogram,
    /// Request durations (nanoseconds), and the largest.
    durations: Histogram,
    duration_max: Option<u64>,
    /// Per part (day): requests per UTC hour.
    per_hour: Vec<[u64; 24]>,
    /// Per part: distinct visitors of a single-segment day, or the visitors of a day of several.
    single_visitors: Vec<u64>,
    visitors: Vec<KeyCounts>,
    ips: KeyCounts,
}

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_summary(&self, query: &Query) -> Result<SummaryResult, StoreError> {
        let parts = self.parts(query)?;
        let init = || SummaryAcc {
            per_hour: vec![[0; 24]; parts.len()],
            single_visitors: vec![0; parts.len()],
            visitors: (0..parts.len()).map(|_| KeyCounts::default()).collect(),
            ..SummaryAcc::default()
        };
        let partial = fold_segments(&parts, self.threads(), init, |acc, p, seg| {
            let part = &parts[p];
            let start = part.day.start_ms;
            let ts = u64_column(seg, name::TS)?;
            let status = u64_column(seg, name::STATUS)?;
            let size = u64_column(seg, name::BYTES)?;
            let bot = u64_column(seg, name::BOT)?;
            // Partitions created before `duration` read as all-missing.
            let duration = u64_column(seg, name::DURATION)?;
            let mut visitor = Ords::open(seg, name::VISITOR)?;
            let mut ip = Ords::open(seg, name::CLIENT_IP)?;
            let mut visitor_seen = vec![false; visitor.num_terms()];
            let mut ip_seen = vec![false; ip.num_terms()];
            let histogram = &mut acc.sizes;
            let (durations, duration_max) = (&mut acc.durations, &mut acc.duration_max);
            let per_hour = &mut acc.per_hour[p][..];
            let (mut f_ts, mut f_status, mut f_size, mut f_bot, mut f_duration) =
                (Fetch::default(), Fetch::default(), Fetch::default(), Fetch::default(), Fetch::default());
            let (mut requests, mut bytes, mut bots, mut classes) = (0u64, 0u64, 0u64, [0u64; 6]);
            part.for_each_block(seg, |block| {
                requests += block.len() as u64;
                let mut runs = Runs::default();
                for t in f_ts.values(&ts, block) {
                    runs.add(per_hour, ((u64_to_i64(*t) - start) / HOUR_MS) as usize, 1);
                }
                runs.flush(per_hour);
                for s in f_status.values(&status, block) {
                    // Branch-free: one register per class.
                    for (c, n) in classes.iter_mut().enumerate().skip(1) {
                        *n += u64::from(*s / 100 == c as u64);
                    }
                }
                let b = f_size.values(&size, block);
                bytes += b.iter().sum::<u64>();
                histogram.count(b);
                bots += f_bot.values(&bot, block).iter().sum::<u64>();
                let d = f_duration.values(&duration, block);
                durations.count(d);
                if let Some(m) = d.iter().max() {
                    *duration_max = Some(duration_max.map_or(*m, |x| x.max(*m)));
                }
                for o in visitor.values(block) {
                    visitor_seen[*o as usize] = true;
                }
                for o in ip.values(block) {
                    ip_seen[*o as usize] = true;
                }
            })?;
            acc.requests += requests;
            acc.bytes += bytes;
            acc.bots += bots;
            acc.classes.iter_mut().zip(classes).for_each(|(x, y)| *x += y);
            let seen = |flags: &[bool]| -> Vec<u64> {
                flags.iter().enumerate().filter(|(_, s)| **s).map(|(o, _)| o as u64).collect()
            };
            let visitors = seen(&visitor_seen);
            if part.segments().len() == 1 {
                acc.single_visitors[p] += visitors.len() as u64;
            } else {
                let day = &mut acc.visitors[p];
                visitor.terms(&visitors, |_, term| {
                    day.add(term, 1);
                })?;
            }
            ip.terms(&seen(&ip_seen), |_, term| {
                acc.ips.add(term, 1);
            })
        })?;
        let mut partial = partial.into_iter();
        let mut all = partial.next().unwrap_or_else(init);
        for other in partial {
            all.requests += other.requests;
            all.bytes += other.bytes;
            all.bots += other.bots;
            all.classes.iter_mut().zip(other.classes).for_each(|(x, y)| *x += y);
            all.sizes.merge(&other.sizes);
            all.durations.merge(&other.durations);
            all.duration_max = all.duration_max.max(other.duration_max);
            for (x, y) in all.per_hour.iter_mut().zip(&other.per_hour) {
                x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            }
            all.single_visitors.iter_mut().zip(&other.single_visitors).for_each(|(x, y)| *x += y);
            all.visitors.iter_mut().zip(&other.visitors).for_each(|(x, y)| x.merge(y));
            all.ips.merge(&other.ips);
        }
        let unique_visitors =
            all.single_visitors.iter().sum::<u64>() + all.visitors.iter().map(|v| v.len() as u64).sum::<u64>();
        // The busiest hour; the earliest of equals.
        let mut busiest: Option<(i64, u64)> = None;
        for (part, per_hour) in parts.iter().zip(&all.per_hour) {
            for (h, n) in per_hour.iter().enumerate() {
                if *n > 0 && busiest.is_none_or(|(_, max)| *n > max) {
                    busiest = Some((part.day.start_ms + h as i64 * HOUR_MS, *n));
                }
            }
        }
        let busiest_hour = match busiest {
            Some((start, count)) => Some(HourCount { start: utc(start)?, count }),
            None => None,
        };
        const PERCENTS: [f64; 3] = [50.0, 95.0, 99.0];
        let p = self.exact_percentiles(&parts, &all.sizes, name::BYTES, &PERCENTS)?;
        let d = self.exact_percentiles(&parts, &all.durations, name::DURATION, &[50.0, 90.0, 95.0, 99.0])?;
        let ms = |ns: Option<f64>| ns.map(|v| v / 1e6);
        Ok(SummaryResult {
            requests: all.requests,
            unique_visitors,
            unique_client_ips: all.ips.len() as u64,
            bytes: all.bytes,
            status_2xx: all.classes[2],
            status_3xx: all.classes[3],
            status_4xx: all.classes[4],
            status_5xx: all.classes[5],
            bot_requests: all.bots,
            bytes_p50: p[0],
            bytes_p95: p[1],
            bytes_p99: p[2],
            duration_p50_ms: ms(d[0]),
            duration_p90_ms: ms(d[1]),
            duration_p95_ms: ms(d[2]),
            duration_p99_ms: ms(d[3]),
            timed_requests: all.durations.total(),
            duration_max_ms: ms(all.duration_max.map(|m| m as f64)),
            busiest_hour,
        })
    }

    /// Nearest-rank percentiles of a u64 column over the matching documents whose histogram the first
    /// pass counted: the second pass, over the same segments, keeps only the wanted buckets' values.
    fn exact_percentiles(
        &self,
        parts: &[Part],
        counted: &Histogram,
        column: &str,
        percents: &[f64],
    ) -> Result<Vec<Option<f64>>, StoreError> {
        let Some(targets) = counted.targets(percents) else { return Ok(vec![None; percents.len()]) };
        let gathered = fold_segments(
            parts,
            self.threads(),
            || targets.members(),
            |members, p, seg| {
                let values = u64_column(seg, column)?;
                let mut fetch = Fetch::default();
                parts[p].for_each_block(seg, |block| targets.gather(fetch.values(&values, block), members))
            },
        )?;
        Ok(targets.select(gathered))
    }
}
