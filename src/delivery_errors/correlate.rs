//! Correlation of delivery errors with ingest volume, and incidents: pure functions over per-bucket
//! counts, so every rule is unit-tested without a database or a log store.
//!
//! The baseline of a bucket is the median of the `baseline_buckets` buckets before it (the median so
//! one spike or one outage does not move it). A bucket is flagged when records ingested fell at least
//! `min_drop` below that baseline while delivery errors rose above theirs. An incident is a run of
//! consecutive buckets with errors of one delivery stream; its missing records are the shortfall of
//! ingest against the baseline before the run, summed over the run.

use std::collections::BTreeMap;

/// Counts of one bucket. The slice passed to these functions starts `lead_in` buckets before the
/// requested range, so the first requested bucket has a baseline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketCounts {
    pub start_ms: i64,
    pub errors: u64,
    pub ingested: u64,
    pub rejected: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Buckets before a bucket that make its baseline.
    pub baseline_buckets: usize,
    /// Fraction of the baseline ingest must fall by (0.3: to below 70 %).
    pub min_drop: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Correlated {
    pub counts: BucketCounts,
    /// Median records ingested over the baseline window; `None` without history.
    pub ingest_baseline: Option<f64>,
    pub error_baseline: Option<f64>,
    pub flagged: bool,
}

fn median(values: impl Iterator<Item = u64>) -> Option<f64> {
    let mut v: Vec<u64> = values.collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[mid] as f64 } else { (v[mid - 1] + v[mid]) as f64 / 2.0 })
}

fn window(buckets: &[BucketCounts], i: usize, n: usize) -> &[BucketCounts] {
    &buckets[i.saturating_sub(n)..i]
}

/// Baselines and flags for `buckets[lead_in..]`.
pub fn correlate(buckets: &[BucketCounts], lead_in: usize, rules: Rules) -> Vec<Correlated> {
    (lead_in.min(buckets.len())..buckets.len())
        .map(|i| {
            let before = window(buckets, i, rules.baseline_buckets);
            let ingest_baseline = median(before.iter().map(|b| b.ingested));
            let error_baseline = median(before.iter().map(|b| b.errors));
            let b = &buckets[i];
            let dropped =
                ingest_baseline.is_some_and(|base| base > 0.0 && (b.ingested as f64) <= base * (1.0 - rules.min_drop));
            let rose = b.errors > 0 && b.errors as f64 > error_baseline.unwrap_or(0.0);
            Correlated { counts: b.clone(), ingest_baseline, error_baseline, flagged: dropped && rose }
        })
        .collect()
}

/// One delivery stream's errors of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamBucket {
    pub errors: u64,
    pub codes: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub stream: String,
    /// Index of the first bucket of the run in the slice given.
    pub first: usize,
    /// Index of the last bucket of the run.
    pub last: usize,
    /// The run reaches the last bucket and the range reaches the present.
    pub ongoing: bool,
    pub errors: u64,
    pub codes: BTreeMap<String, u64>,
    /// Median ingest over the baseline window before the run.
    pub ingest_baseline: Option<f64>,
    /// Shortfall of ingest against that baseline over the run, rounded.
    pub missing_records: u64,
}

/// Runs of consecutive error buckets per stream, over `ingested[lead_in..]`. `per_stream[s][i]` holds
/// stream `s`'s errors in bucket `i` (same indexing as `ingested`). Runs that started in the lead-in are
/// reported from their true start. `reaches_now` says whether the last bucket is the present one.
pub fn incidents(
    ingested: &[u64],
    per_stream: &BTreeMap<String, Vec<StreamBucket>>,
    lead_in: usize,
    rules: Rules,
    reaches_now: bool,
) -> Vec<Incident> {
    let mut out = Vec::new();
    let n = ingested.len();
    for (stream, buckets) in per_stream {
        let mut i = 0;
        while i < n {
            if buckets.get(i).is_none_or(|b| b.errors == 0) {
                i += 1;
                continue;
            }
            let first = i;
            while i < n && buckets.get(i).is_some_and(|b| b.errors > 0) {
                i += 1;
            }
            let last = i - 1;
            if last < lead_in {
                continue; // ended before the requested range
            }
            let mut codes = BTreeMap::new();
            let mut errors = 0;
            for b in &buckets[first..=last] {
                errors += b.errors;
                for (code, count) in &b.codes {
                    *codes.entry(code.clone()).or_insert(0) += count;
                }
            }
            let base = median(ingested[first.saturating_sub(rules.baseline_buckets)..first].iter().copied());
            let missing = base
                .map(|base| ingested[first..=last].iter().map(|&got| (base - got as f64).max(0.0)).sum::<f64>())
                .unwrap_or(0.0);
            out.push(Incident {
                stream: stream.clone(),
                first,
                last,
                ongoing: reaches_now && last == n - 1,
                errors,
                codes,
                ingest_baseline: base,
                missing_records: missing.round() as u64,
            });
        }
    }
    out.sort_by(|a, b| a.first.cmp(&b.first).then_with(|| a.stream.cmp(&b.stream)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules = Rules { baseline_buckets: 4, min_drop: 0.3 };

    fn counts(ingested: &[u64], errors: &[u64]) -> Vec<BucketCounts> {
        ingested
            .iter()
            .zip(errors)
            .enumerate()
            .map(|(i, (&ingested, &errors))| BucketCounts {
                start_ms: i as i64 * 60_000,
                errors,
                ingested,
                rejected: 0,
            })
            .collect()
    }

    #[test]
    fn flags_buckets_where_ingest_fell_while_errors_rose() {
        let b = counts(&[100, 110, 90, 100, 100, 20, 0, 95, 100], &[0, 0, 1, 0, 0, 30, 50, 0, 40]);
        let got = correlate(&b, 2, RULES);
        let flags: Vec<bool> = got.iter().map(|c| c.flagged).collect();
        // bucket 2: errors rose but ingest normal; 5 and 6: both; 7: recovered; 8: errors without a drop.
        assert_eq!(flags, [false, false, false, true, true, false, false]);
        assert_eq!(got[0].ingest_baseline, Some(105.0), "median of the two lead-in buckets");
        assert_eq!(got[3].ingest_baseline, Some(100.0));
        assert_eq!(correlate(&b, 0, RULES)[0].ingest_baseline, None, "no history, no flag");
    }

    #[test]
    fn incidents_are_runs_per_stream_with_missing_records() {
        let ingested = [100, 100, 100, 100, 40, 0, 10, 100, 100];
        let mut per_stream = BTreeMap::new();
        let bucket = |errors: u64, code: &str| StreamBucket {
            errors,
            codes: if errors > 0 { BTreeMap::from([(code.to_owned(), errors)]) } else { BTreeMap::new() },
        };
        let a: Vec<StreamBucket> =
            [0, 0, 0, 0, 5, 9, 3, 0, 0].iter().map(|&e| bucket(e, "HttpEndpoint.ConnectionFailed")).collect();
        let mut b: Vec<StreamBucket> =
            [0, 0, 0, 0, 0, 0, 0, 0, 2].iter().map(|&e| bucket(e, "S3.AccessDenied")).collect();
        b[5] = bucket(1, "Lambda.InvokeLimitExceeded");
        per_stream.insert("weblogs".to_owned(), a);
        per_stream.insert("clicks".to_owned(), b);
        let got = incidents(&ingested, &per_stream, 2, RULES, true);
        assert_eq!(got.len(), 3);
        let w = &got[0];
        assert_eq!((w.stream.as_str(), w.first, w.last, w.ongoing, w.errors), ("weblogs", 4, 6, false, 17));
        assert_eq!(w.codes, BTreeMap::from([("HttpEndpoint.ConnectionFailed".to_owned(), 17)]));
        assert_eq!(w.missing_records, 60 + 100 + 90);
        assert_eq!((got[1].stream.as_str(), got[1].first, got[1].last), ("clicks", 5, 5));
        assert_eq!((got[2].stream.as_str(), got[2].first, got[2].ongoing), ("clicks", 8, true));
        assert_eq!(got[2].missing_records, 0, "ingest at baseline");
        // The same run over a range that ended in the past is closed.
        assert!(!incidents(&ingested, &per_stream, 2, RULES, false)[2].ongoing);
    }
}
