//! Exact nearest-rank percentiles without holding every value: a histogram over fine log-scale buckets
//! counted in a first pass names the bucket of each wanted rank ([`Histogram::targets`]); a second
//! pass over the same documents keeps only those buckets' values ([`Targets::keep`]) and selects the
//! ranks among them ([`Targets::select`]). The summary's size and duration percentiles, and the
//! duration timeline's per-interval percentiles, use it.

/// A monotonic bucket of a value: exact below 32, then 16 buckets per power of two (small enough for
/// the histogram to stay in the L1 cache).
fn size_bucket(v: u64) -> usize {
    let bits = 64 - v.leading_zeros();
    if bits <= 5 {
        v as usize
    } else {
        let shift = bits - 5;
        32 + (shift as usize - 1) * 16 + ((v >> shift) as usize - 16)
    }
}

const SIZE_BUCKETS: usize = 32 + 59 * 16;

/// The smallest value of a [`size_bucket`].
#[cfg(test)]
fn bucket_low(bucket: usize) -> u64 {
    if bucket < 32 {
        return bucket as u64;
    }
    let shift = (bucket - 32) / 16 + 1;
    (((bucket - 32) % 16 + 16) as u64) << shift
}

/// Values for exact percentiles, in two passes: their histogram over [`size_bucket`]s is counted
/// while reading; it gives the bucket of each percentile's rank ([`Histogram::targets`]); a second pass
/// over the same documents gathers only those buckets' values to select from. Nothing holds all the
/// values (80 MB for 10,000,000 documents).
pub(super) struct Histogram {
    histogram: Vec<u32>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { histogram: vec![0; SIZE_BUCKETS] }
    }
}

impl Histogram {
    pub(super) fn count(&mut self, values: &[u64]) {
        for v in values {
            self.histogram[size_bucket(*v)] += 1;
        }
    }

    pub(super) fn add(&mut self, value: u64) {
        self.histogram[size_bucket(value)] += 1;
    }

    /// How many values were counted.
    pub(super) fn total(&self) -> u64 {
        self.histogram.iter().map(|c| u64::from(*c)).sum()
    }

    pub(super) fn merge(&mut self, other: &Histogram) {
        self.histogram.iter_mut().zip(&other.histogram).for_each(|(x, y)| *x += y);
    }

    /// Where the nearest-rank percentiles for ascending `percents` lie; `None` without values.
    pub(super) fn targets(&self, percents: &[f64]) -> Option<Targets> {
        let n: usize = self.histogram.iter().map(|c| *c as usize).sum();
        if n == 0 {
            return None;
        }
        let mut picks = Vec::with_capacity(percents.len());
        let mut buckets: Vec<usize> = Vec::new();
        let (mut bucket, mut before) = (0usize, 0usize);
        for p in percents {
            let rank = ((p / 100.0) * n as f64).ceil().clamp(1.0, n as f64) as usize - 1;
            while before + self.histogram[bucket] as usize <= rank {
                before += self.histogram[bucket] as usize;
                bucket += 1;
            }
            if buckets.last() != Some(&bucket) {
                buckets.push(bucket);
            }
            picks.push((buckets.len() - 1, rank - before));
        }
        let mut slot = vec![Targets::NONE; SIZE_BUCKETS];
        for (i, b) in buckets.iter().enumerate() {
            slot[*b] = i as u8;
        }
        Some(Targets { slot, picks, wanted: buckets.len() })
    }
}

/// The buckets holding the wanted percentiles, and each percentile's rank within its bucket.
pub(super) struct Targets {
    /// Bucket -> its place among the wanted buckets, or [`Targets::NONE`]: one lookup per value.
    slot: Vec<u8>,
    /// Per percentile: (place of its bucket, rank within the bucket).
    picks: Vec<(usize, usize)>,
    /// How many wanted buckets.
    wanted: usize,
}

impl Targets {
    const NONE: u8 = u8::MAX;

    pub(super) fn members(&self) -> Vec<Vec<u64>> {
        vec![Vec::new(); self.wanted]
    }

    /// Keeps the values that fall in a wanted bucket.
    pub(super) fn gather(&self, values: &[u64], members: &mut [Vec<u64>]) {
        for v in values {
            self.keep(*v, members);
        }
    }

    /// Keeps `value` if it falls in a wanted bucket.
    #[inline]
    pub(super) fn keep(&self, value: u64, members: &mut [Vec<u64>]) {
        let s = self.slot[size_bucket(value)];
        if s != Self::NONE {
            members[s as usize].push(value);
        }
    }

    /// The percentiles, from every part's gathered values.
    pub(super) fn select(&self, gathered: Vec<Vec<Vec<u64>>>) -> Vec<Option<f64>> {
        let mut parts = gathered.into_iter();
        let mut members = parts.next().unwrap_or_else(|| self.members());
        for part in parts {
            members.iter_mut().zip(part).for_each(|(m, p)| m.extend(p));
        }
        self.picks
            .iter()
            .map(|(i, at)| {
                let m = &mut members[*i];
                (*at < m.len()).then(|| *m.select_nth_unstable(*at).1 as f64)
            })
            .collect()
    }
}

#[cfg(test)]
fn percentiles(values: &[&[u64]], percents: &[f64]) -> Vec<Option<f64>> {
    let mut sizes = Histogram::default();
    values.iter().for_each(|v| sizes.count(v));
    let Some(targets) = sizes.targets(percents) else { return vec![None; percents.len()] };
    let gathered = values
        .iter()
        .map(|v| {
            let mut members = targets.members();
            targets.gather(v, &mut members);
            members
        })
        .collect();
    targets.select(gathered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<u64> = (1..=200).rev().collect();
        assert_eq!(percentiles(&[&values], &[50.0, 95.0, 99.0]), [Some(100.0), Some(190.0), Some(198.0)]);
        assert_eq!(percentiles(&[&[7]], &[50.0, 99.0]), [Some(7.0), Some(7.0)]);
        assert_eq!(percentiles(&[&[3, 1], &[], &[2, 2]], &[50.0, 95.0, 99.0]), [Some(2.0), Some(3.0), Some(3.0)]);
        assert_eq!(percentiles(&[], &[50.0]), [None]);
        // Against sorting, on values spread over many buckets (and the largest ones).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut values: Vec<u64> = (0..20_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 1000 == 0 { u64::MAX - i } else { x >> (x % 64) }
            })
            .collect();
        let ps = [1.0, 50.0, 95.0, 99.0, 99.9, 100.0];
        let found = percentiles(&[&values[..5000], &values[5000..]], &ps);
        values.sort_unstable();
        for (p, f) in ps.iter().zip(found) {
            let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
            assert_eq!(f, Some(values[rank - 1] as f64), "p{p}");
        }
        let buckets: Vec<usize> =
            [0, 1, 1023, 1024, 1025, 2047, 2048, u64::MAX].iter().map(|v| size_bucket(*v)).collect();
        assert!(buckets.windows(2).all(|w| w[0] <= w[1]) && buckets[7] == SIZE_BUCKETS - 1, "{buckets:?}");
        for b in 1..SIZE_BUCKETS {
            assert_eq!((size_bucket(bucket_low(b)), size_bucket(bucket_low(b) - 1)), (b, b - 1), "bucket {b}");
        }
    }
}
