//! The committed ids of an open day writer, kept small: 32 bits of each id's 64-bit hash, in sorted
//! runs. A day of 10,000,000 documents holds 40 MB here, where a hash set of the 64-bit hashes held
//! 100-200 MB (9 bytes a slot, between seven sixteenths and seven eighths full), twice that while it
//! grew.
//!
//! A miss is certain: the id is new. A hit is only likely (a replay, or one chance in about
//! 2^32 / ids of another id with the same 32 bits: 1 in 430 for 10,000,000 ids), and the writer
//! confirms it on the index. The runs behave like a binary counter: a commit's ids form a new sorted
//! run, which is merged with the last run while that one is at most twice as large, so a day of n ids
//! holds about log2(n / commit) runs, each found by binary search.

/// The bits of an id's hash this set keeps.
fn key(hash: u64) -> u32 {
    (hash >> 32) as u32
}

#[derive(Debug, Default)]
pub(super) struct IdFilter {
    /// Sorted, without repeats; larger runs first.
    runs: Vec<Vec<u32>>,
}

impl IdFilter {
    /// Whether an id with this hash may be in the set: `false` is certain.
    pub(super) fn may_contain(&self, hash: u64) -> bool {
        let k = key(hash);
        self.runs.iter().any(|run| run.binary_search(&k).is_ok())
    }

    /// Adds the ids of a commit (or of a segment, at open).
    pub(super) fn extend(&mut self, hashes: impl IntoIterator<Item = u64>) {
        self.push_run(hashes.into_iter().map(key).collect());
    }

    fn push_run(&mut self, mut run: Vec<u32>) {
        run.sort_unstable();
        run.dedup();
        if run.is_empty() {
            return;
        }
        while let Some(last) = self.runs.last() {
            if last.len() > 2 * run.len() {
                break;
            }
            let last = self.runs.pop().expect("checked above");
            run = merge(&last, &run);
        }
        run.shrink_to_fit();
        self.runs.push(run);
    }

    /// Keys held (for tests and sizing).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
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
            assert!(set.runs.len() <= 8, "{} runs after commit {commit}", set.runs.len());
            assert!(set.runs.windows(2).all(|w| w[0].len() > w[1].len()), "larger runs first");
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
    fn merge_is_a_sorted_union() {
        assert_eq!(merge(&[1, 3, 5], &[2, 3, 6, 7]), [1, 2, 3, 5, 6, 7]);
        assert_eq!(merge(&[], &[4]), [4]);
    }
}
