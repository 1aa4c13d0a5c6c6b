//! The committed ids of an open day writer, kept small: 32 bits of each id's 64-bit hash, in sorted
//! runs. A day of 10,000,000 documents holds 40 MB here, where a hash set of the 64-bit hashes held
//! 100-200 MB (9 bytes a slot, between seven sixteenths and seven eighths full), twice that while it
//! grew.
//!
//! A miss is certain: the id is new. A hit is only likely (a replay, or one chance in about
//! 2^32 / ids of another id with the same 32 bits: 1 in 430 for 10,000,000 ids), and the writer
//! confirms it on the index. A commit's ids form a new sorted run, which is merged with the last run
//! while that one is at most [`MERGE_RATIO`] times as large, so a day of n ids holds about
//! log8(n / commit) runs, each over eight times the next.
//!
//! The keys are hash bits, evenly spread, so each run also keeps where every 1/2^b of the key range
//! starts (about one offset per [`BUCKET_KEYS`] keys, one bit a key): a lookup reads two offsets and a
//! few dozen adjacent keys, where a binary search of a large run missed the cache at nearly every step
//! (2.4% of a backfill's CPU, measured in BENCHMARKS.md).

/// A new run is merged into the last one while that one holds at most this many times its keys:
/// fewer runs to look in (every lookup of a new id reads each), for each key copied a few more times.
const MERGE_RATIO: usize = 8;

/// Keys per bucket of a run's index, on average.
const BUCKET_KEYS: usize = 32;

/// The bits of an id's hash this set keeps.
fn key(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// Sorted keys without repeats, and where each bucket of the key range starts among them.
#[derive(Debug)]
struct Run {
    keys: Vec<u32>,
    /// `starts[b]..starts[b + 1]`: the keys whose top bits are `b`.
    starts: Vec<u32>,
    /// 32 minus the bits naming a bucket.
    shift: u32,
}

impl Run {
    fn new(mut keys: Vec<u32>) -> Run {
        keys.shrink_to_fit();
        let bits = (keys.len() / BUCKET_KEYS).max(2).ilog2().min(24);
        let shift = 32 - bits;
        let mut starts = Vec::with_capacity((1 << bits) + 1);
        let mut at = 0;
        for bucket in 0..(1u64 << bits) {
            while at < keys.len() && u64::from(keys[at]) >> shift < bucket {
                at += 1;
            }
            starts.push(at as u32);
        }
        starts.push(keys.len() as u32);
        Run { keys, starts, shift }
    }

    fn contains(&self, k: u32) -> bool {
        // `shift` is 8 to 31: the bucket is below `starts.len() - 1`.
        let bucket = (k >> self.shift) as usize;
        let (from, to) = (self.starts[bucket] as usize, self.starts[bucket + 1] as usize);
        self.keys[from..to].binary_search(&k).is_ok()
    }
}

#[derive(Debug, Default)]
pub(super) struct IdFilter {
    /// Larger runs first.
    runs: Vec<Run>,
}

impl IdFilter {
    /// Whether an id with this hash may be in the set: `false` is certain.
    pub(super) fn may_contain(&self, hash: u64) -> bool {
        let k = key(hash);
        self.runs.iter().any(|run| run.contains(k))
    }

    /// Adds the ids of a commit (or of a segment, at open).
    pub(super) fn extend(&mut self, hashes: impl IntoIterator<Item = u64>) {
        self.push_run(hashes.into_iter().map(key).collect());
    }

    fn push_run(&mut self, mut keys: Vec<u32>) {
        keys.sort_unstable();
        keys.dedup();
        if keys.is_empty() {
            return;
        }
        while let Some(last) = self.runs.last() {
            if last.keys.len() > MERGE_RATIO * keys.len() {
                break;
            }
            let last = self.runs.pop().expect("checked above");
            keys = merge(&last.keys, &keys);
        }
        self.runs.push(Run::new(keys));
    }

    /// Keys held (for tests and sizing).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs.iter().map(|r| r.keys.len()).sum()
    }
}

/// The sorted union of two sorted runs without repeats.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::store::embedded::scan::hash_bytes;

    #[test]
    fn every_added_id_is_found_and_runs_stay_few() {
        let hash = |i: u64| hash_bytes(format!("id-{i}").as_bytes());
        let mut set = IdFilter::default();
        set.extend((0..5_000).map(hash));
        let mut added: HashSet<u32> = (0..5_000).map(|i| key(hash(i))).collect();
        for commit in 0..40u64 {
            let ids = (5_000 + commit * 1_000)..(5_000 + (commit + 1) * 1_000);
            set.extend(ids.clone().map(hash));
            added.extend(ids.map(|i| key(hash(i))));
            assert!(set.runs.len() <= 4, "{} runs after commit {commit}", set.runs.len());
            assert!(set.runs.windows(2).all(|w| w[0].keys.len() > w[1].keys.len()), "larger runs first");
        }
        assert_eq!(set.len(), added.len(), "no key twice");
        assert!((0..45_000).all(|i| set.may_contain(hash(i))));
        // Ids never added: a miss unless their 32 bits collide with one of the 45,000 (about 1 in
        // 95,000 each), so nearly all miss.
        let false_hits = (1_000_000..1_100_000).filter(|i| set.may_contain(hash(*i))).count();
        assert!(false_hits < 10, "{false_hits} of 100,000 unknown ids hit");
    }

    #[test]
    fn repeats_and_empty_commits_change_nothing() {
        let mut set = IdFilter::default();
        assert!(!set.may_contain(7 << 32));
        set.extend([7 << 32, 7 << 32, 9 << 32]);
        set.extend([]);
        set.extend([9 << 32]);
        assert_eq!(set.len(), 2);
        assert!(set.may_contain(7 << 32) && set.may_contain(9 << 32) && !set.may_contain(8 << 32));
    }

    #[test]
    fn a_run_finds_its_keys_at_every_size_and_at_the_ends_of_the_range() {
        for n in [1usize, 2, 31, 32, 33, 100, 1_000, 70_000] {
            let mut keys: Vec<u32> = (0..n as u64).map(|i| key(hash_bytes(&i.to_le_bytes()))).collect();
            keys.extend([0, u32::MAX]);
            keys.sort_unstable();
            keys.dedup();
            let run = Run::new(keys.clone());
            assert_eq!(run.starts.len(), (1 << (32 - run.shift)) + 1);
            assert!(keys.iter().all(|k| run.contains(*k)), "{n} keys");
            let absent =
                (0..1_000u32).map(|i| i.wrapping_mul(2_654_435_761)).filter(|k| keys.binary_search(k).is_err());
            assert!(absent.clone().count() > 900 && absent.into_iter().all(|k| !run.contains(k)), "{n} keys");
        }
    }

    #[test]
    fn merge_is_a_sorted_union() {
        assert_eq!(merge(&[1, 3, 5], &[2, 3, 6, 7]), [1, 2, 3, 5, 6, 7]);
        assert_eq!(merge(&[], &[4]), [4]);
    }
}
