//! The read path's engine: which day partitions and documents a request matches, read in blocks of
//! document ids, and columnar (fast-field) reads of those blocks. Aggregations never load stored
//! documents: each walks the matching ids of every segment once, reading the columns it needs, and
//! counts per term ordinal; ordinals become terms (and are merged across segments) only at the end,
//! once per distinct term per segment.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tantivy::columnar::{Column, ColumnIndex, RowId, StrColumn};
use tantivy::query::{EnableScoring, Query as _, Weight};
use tantivy::schema::Schema;
use tantivy::{COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Searcher, SegmentReader};

use super::day::{Day, unavailable};
use super::filters::{all_of, filter_clauses, time_clause};
use super::schema::Fields;
use crate::query::model::Filters;
use crate::store::StoreError;

/// Documents per block handed to aggregations.
pub const BLOCK: usize = 2048;

/// One day partition a request reads: its searcher and what matches in it (`None`: every document).
pub struct Part {
    pub day: Arc<Day>,
    pub searcher: Searcher,
    weight: Option<Box<dyn Weight>>,
}

/// The partitions a request reads (`days`), each with its query: the filters, plus the time range
/// `[from, to)` (epoch ms) where it covers the day only partly.
pub fn parts(
    days: Vec<Arc<Day>>,
    (from, to): (i64, i64),
    filters: &Filters,
    schema: &Schema,
    f: &Fields,
) -> Result<Vec<Part>, StoreError> {
    let clauses = filter_clauses(filters, f);
    let mut out = Vec::with_capacity(days.len());
    for day in days {
        let mut day_clauses: Vec<Box<dyn tantivy::query::Query>> = clauses.iter().map(|c| c.box_clone()).collect();
        let wants_crawler = !filters.crawler.is_empty() || !filters.crawler_category.is_empty();
        if wants_crawler && !day.layout.crawler {
            // Partitions created before the crawler fields have no document with a crawler.
            day_clauses = vec![Box::new(tantivy::query::EmptyQuery)];
        }
        if from > day.start_ms || to < day.end_ms {
            day_clauses.push(time_clause(f.ts, from, to));
        }
        if !day.layout.timing && !filters.vhost.is_empty() {
            // A partition created before `vhost` has no virtual host: nothing of it matches.
            day_clauses = vec![Box::new(tantivy::query::EmptyQuery)];
        }
        let weight = match all_of(day_clauses) {
            Some(q) => Some(q.weight(EnableScoring::disabled_from_schema(schema)).map_err(unavailable)?),
            None => None,
        };
        let searcher = day.reader.searcher();
        out.push(Part { day, searcher, weight });
    }
    Ok(out)
}

impl Part {
    pub fn segments(&self) -> &[SegmentReader] {
        self.searcher.segment_readers()
    }

    /// Calls `f` with the matching, live documents of one segment, in increasing order, in blocks of
    /// at most [`BLOCK`].
    pub fn for_each_block(&self, seg: &SegmentReader, mut f: impl FnMut(&[DocId])) -> Result<(), StoreError> {
        let alive = seg.alive_bitset();
        let mut block: Vec<DocId> = Vec::with_capacity(BLOCK);
        match &self.weight {
            None => {
                let max = seg.max_doc();
                let mut start = 0;
                while start < max {
                    let end = (start + BLOCK as DocId).min(max);
                    block.clear();
                    match alive {
                        None => block.extend(start..end),
                        Some(alive) => block.extend((start..end).filter(|d| alive.is_alive(*d))),
                    }
                    if !block.is_empty() {
                        f(&block);
                    }
                    start = end;
                }
            }
            Some(weight) => {
                let mut scorer = weight.scorer(seg, 1.0).map_err(unavailable)?;
                let mut buf = [0 as DocId; COLLECT_BLOCK_BUFFER_LEN];
                loop {
                    let n = scorer.fill_buffer(&mut buf);
                    match alive {
                        None => block.extend_from_slice(&buf[..n]),
                        Some(alive) => block.extend(buf[..n].iter().copied().filter(|d| alive.is_alive(*d))),
                    }
                    if n == 0 || block.len() + COLLECT_BLOCK_BUFFER_LEN > BLOCK {
                        if !block.is_empty() {
                            f(&block);
                        }
                        block.clear();
                    }
                    if n == 0 {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Folds every segment of every part into accumulators: `work(acc, part_index, segment)`. From
/// `min_docs` documents on, segments are shared out (largest first) among up to `threads` threads, each
/// with its own accumulator from `init`; the caller merges the accumulators returned (one per thread).
pub fn fold_segments<A: Send>(
    parts: &[Part],
    (threads, min_docs): (usize, u64),
    init: impl Fn() -> A + Sync,
    work: impl Fn(&mut A, usize, &SegmentReader) -> Result<(), StoreError> + Sync,
) -> Result<Vec<A>, StoreError> {
    let mut units: Vec<(usize, &SegmentReader)> =
        parts.iter().enumerate().flat_map(|(p, part)| part.segments().iter().map(move |s| (p, s))).collect();
    let docs: u64 = units.iter().map(|(_, s)| u64::from(s.max_doc())).sum();
    let threads = threads.min(units.len());
    if threads <= 1 || docs < min_docs {
        let mut acc = init();
        for (p, seg) in units {
            work(&mut acc, p, seg)?;
        }
        return Ok(vec![acc]);
    }
    units.sort_by_key(|(_, s)| std::cmp::Reverse(s.max_doc()));
    let next = AtomicUsize::new(0);
    let (units, init, work, next) = (&units, &init, &work, &next);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut acc = init();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some((p, seg)) = units.get(i) else { return Ok(acc) };
                        work(&mut acc, *p, seg)?;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(StoreError::Protocol("a query thread panicked".into()))))
            .collect()
    })
}

// ------------------------------------------------------------------------------------------------
// Columns

/// The u64 column of a fast field as stored: term ordinals for keywords, the order-preserving u64 form
/// of numbers and booleans (see [`tantivy::u64_to_i64`]). A segment where no document has the field
/// reads as all-missing.
pub fn u64_column(seg: &SegmentReader, name: &str) -> Result<Column<u64>, StoreError> {
    let column = seg.fast_fields().u64_lenient_for_type(None, name).map_err(unavailable)?;
    Ok(column.map_or_else(|| Column::build_empty_column(seg.max_doc()), |(c, _)| c))
}

/// A keyword column of a segment (`None`: no document of the segment has the field).
pub fn str_column(seg: &SegmentReader, name: &str) -> Result<Option<StrColumn>, StoreError> {
    seg.fast_fields().str(name).map_err(unavailable)
}

fn contiguous(block: &[DocId]) -> bool {
    match (block.first(), block.last()) {
        (Some(first), Some(last)) => (last - first) as usize + 1 == block.len(),
        _ => false,
    }
}

/// Reads a column for blocks of documents, reusing its buffers. Contiguous blocks (every document
/// matches) read the column's values in bulk, without a per-document lookup.
#[derive(Default)]
pub struct Fetch {
    docs: Vec<DocId>,
    rows: Vec<RowId>,
    vals: Vec<u64>,
}

impl Fetch {
    /// `n` slots of the value buffer, which grows but is never cleared: every slot handed out is
    /// overwritten by the column before it is read.
    fn slots(vals: &mut Vec<u64>, n: usize) -> &mut [u64] {
        if vals.len() < n {
            vals.resize(n, 0);
        }
        &mut vals[..n]
    }

    /// The (first) values of the documents of `block` (sorted) that have one, in document order.
    pub fn values(&mut self, column: &Column<u64>, block: &[DocId]) -> &[u64] {
        let n = match &column.index {
            ColumnIndex::Empty { .. } => 0,
            ColumnIndex::Full => {
                let out = Self::slots(&mut self.vals, block.len());
                if contiguous(block) {
                    column.values.get_range(u64::from(block[0]), out);
                } else {
                    column.values.get_vals(block, out);
                }
                block.len()
            }
            ColumnIndex::Optional(_) if contiguous(block) => {
                let rows = column.index.docid_range_to_rowids(block[0]..block[block.len() - 1] + 1);
                let n = rows.len();
                column.values.get_range(u64::from(rows.start), Self::slots(&mut self.vals, n));
                n
            }
            _ => {
                self.rows_of(column, block);
                column.values.get_vals(&self.rows, Self::slots(&mut self.vals, self.rows.len()));
                self.rows.len()
            }
        };
        &self.vals[..n]
    }

    /// The documents of `block` (sorted) that have a value, with their (first) values.
    pub fn docs_values<'s>(&'s mut self, column: &Column<u64>, block: &'s [DocId]) -> (&'s [DocId], &'s [u64]) {
        if matches!(column.index, ColumnIndex::Full) {
            let n = self.values(column, block).len();
            return (block, &self.vals[..n]);
        }
        self.rows_of(column, block);
        column.values.get_vals(&self.rows, Self::slots(&mut self.vals, self.rows.len()));
        (&self.docs, &self.vals[..self.rows.len()])
    }

    /// The documents of `block` with a value and the row of their first value.
    fn rows_of(&mut self, column: &Column<u64>, block: &[DocId]) {
        self.docs.clear();
        self.rows.clear();
        column.row_ids_for_docs(block, &mut self.docs, &mut self.rows);
        if matches!(column.index, ColumnIndex::Multivalued(_)) {
            let mut kept = 0;
            for i in 0..self.docs.len() {
                if kept == 0 || self.docs[i] != self.docs[kept - 1] {
                    self.docs[kept] = self.docs[i];
                    self.rows[kept] = self.rows[i];
                    kept += 1;
                }
            }
            self.docs.truncate(kept);
            self.rows.truncate(kept);
        }
    }

    /// The value of each document of `block`, `None` where it has none.
    pub fn aligned(&mut self, column: &Column<u64>, block: &[DocId], out: &mut Vec<Option<u64>>) {
        out.clear();
        out.resize(block.len(), None);
        let (docs, vals) = self.docs_values(column, block);
        for_each_aligned(block, docs, vals, |i, v| out[i] = Some(v));
    }
}

/// Calls `f(i, value)` for each document `block[i]` found in `docs` (a sorted subsequence of `block`)
/// with its value.
pub fn for_each_aligned(block: &[DocId], docs: &[DocId], vals: &[u64], mut f: impl FnMut(usize, u64)) {
    if docs.len() == block.len() {
        for (i, v) in vals.iter().enumerate() {
            f(i, *v);
        }
        return;
    }
    let mut i = 0;
    for (doc, v) in docs.iter().zip(vals) {
        while block[i] != *doc {
            i += 1;
        }
        f(i, *v);
        i += 1;
    }
}

/// A keyword column: term ordinals per document, and ordinals back to terms.
pub struct Ords {
    column: Option<StrColumn>,
    fetch: Fetch,
}

impl Ords {
    pub fn new(column: Option<StrColumn>) -> Self {
        Ords { column, fetch: Fetch::default() }
    }

    pub fn open(seg: &SegmentReader, name: &str) -> Result<Self, StoreError> {
        Ok(Self::new(str_column(seg, name)?))
    }

    pub fn num_terms(&self) -> usize {
        self.column.as_ref().map_or(0, |c| c.dictionary().num_terms())
    }

    pub fn column(&self) -> Option<&StrColumn> {
        self.column.as_ref()
    }

    /// The ordinals of the documents of `block` that have a value.
    pub fn values(&mut self, block: &[DocId]) -> &[u64] {
        match &self.column {
            Some(c) => self.fetch.values(c.ords(), block),
            None => &[],
        }
    }

    /// The documents of `block` that have a value, with their ordinals.
    pub fn docs_values<'s>(&'s mut self, block: &'s [DocId]) -> (&'s [DocId], &'s [u64]) {
        match &self.column {
            Some(c) => self.fetch.docs_values(c.ords(), block),
            None => (&[], &[]),
        }
    }

    /// The ordinal of each document of `block`, `None` where it has none.
    pub fn aligned(&mut self, block: &[DocId], out: &mut Vec<Option<u64>>) {
        match &self.column {
            Some(c) => self.fetch.aligned(c.ords(), block, out),
            None => {
                out.clear();
                out.resize(block.len(), None);
            }
        }
    }

    /// Calls `f(i, term)` for every ordinal `ords[i]`; `ords` must be sorted.
    pub fn terms(&self, ords: &[u64], mut f: impl FnMut(usize, &[u8])) -> Result<(), StoreError> {
        let Some(column) = &self.column else { return Ok(()) };
        let mut i = 0;
        let found = column
            .dictionary()
            .sorted_ords_to_term_cb(ords, |term| {
                f(i, term);
                i += 1;
            })
            .map_err(unavailable)?;
        if found { Ok(()) } else { Err(StoreError::Protocol("a term ordinal is missing from its dictionary".into())) }
    }

    /// The ordinal of `term` in this segment, if present.
    pub fn ord_of(&self, term: &[u8]) -> Result<Option<u64>, StoreError> {
        match &self.column {
            Some(c) => c.dictionary().term_ord(term).map_err(unavailable),
            None => Ok(None),
        }
    }
}

/// Adds into `slots[at]`, keeping a running sum while `at` stays the same. Neighbouring documents mostly
/// land in the same slot (an hour, a status class); adding in a register spares the chain of
/// read-modify-writes to one memory cell that would otherwise bound the loop. [`Runs::flush`] at the end.
pub struct Runs {
    at: usize,
    sum: u64,
}

impl Default for Runs {
    fn default() -> Self {
        Runs { at: usize::MAX, sum: 0 }
    }
}

impl Runs {
    #[inline]
    pub fn add(&mut self, slots: &mut [u64], at: usize, n: u64) {
        if at != self.at {
            self.flush(slots);
            self.at = at;
        }
        self.sum += n;
    }

    pub fn flush(&mut self, slots: &mut [u64]) {
        if let Some(slot) = slots.get_mut(self.at) {
            *slot += self.sum;
        }
        self.sum = 0;
    }
}

/// The sorted ordinals whose count is not zero, with their counts.
pub fn nonzero(counts: &[u32]) -> (Vec<u64>, Vec<u32>) {
    let mut ords = Vec::new();
    let mut ns = Vec::new();
    for (ord, n) in counts.iter().enumerate() {
        if *n != 0 {
            ords.push(ord as u64);
            ns.push(*n);
        }
    }
    (ords, ns)
}

// ------------------------------------------------------------------------------------------------
// Keys across segments

/// 64-bit hash of a byte string (multiply-rotate over 8-byte words, then a murmur3 finaliser). Used
/// for hash tables only: equal hashes are always confirmed on the bytes.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = (bytes.len() as u64).wrapping_mul(K);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        h = (h.rotate_left(23) ^ word).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A `Hasher` for keys that are already hashes.
#[derive(Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes(bytes);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub type Identity = BuildHasherDefault<IdentityHasher>;

const NO_ENTRY: u32 = u32::MAX;

/// Exact counts per byte key, merged from every segment: one entry per distinct key, found by hash
/// and confirmed on the bytes (colliding keys chain). Entry indices are stable, so callers keep
/// per-key data in parallel vectors.
#[derive(Default)]
pub struct KeyCounts {
    index: HashMap<u64, u32, Identity>,
    keys: Vec<Box<[u8]>>,
    counts: Vec<u64>,
    next: Vec<u32>,
}

impl KeyCounts {
    /// Adds `n` to `key`'s count and returns its entry.
    pub fn add(&mut self, key: &[u8], n: u64) -> usize {
        self.add_hashed(hash_bytes(key), key, n)
    }

    fn add_hashed(&mut self, h: u64, key: &[u8], n: u64) -> usize {
        let fresh = self.keys.len() as u32;
        let mut at = *self.index.entry(h).or_insert(fresh);
        if at != fresh {
            loop {
                if *self.keys[at as usize] == *key {
                    self.counts[at as usize] += n;
                    return at as usize;
                }
                if self.next[at as usize] == NO_ENTRY {
                    self.next[at as usize] = fresh;
                    break;
                }
                at = self.next[at as usize];
            }
        }
        self.keys.push(key.into());
        self.counts.push(n);
        self.next.push(NO_ENTRY);
        fresh as usize
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &KeyCounts) {
        for (key, n) in other.keys.iter().zip(&other.counts) {
            self.add(key, *n);
        }
    }

    pub fn key(&self, entry: usize) -> &[u8] {
        &self.keys[entry]
    }

    pub fn count(&self, entry: usize) -> u64 {
        self.counts[entry]
    }

    /// Entries, most counted first, ties by key ascending (byte order).
    #[cfg(test)]
    pub fn ranked(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_unstable_by(|a, b| {
            self.counts[*b].cmp(&self.counts[*a]).then_with(|| self.keys[*a].cmp(&self.keys[*b]))
        });
        order
    }
}

/// The `n` best of `items` under `better_first` (a total order), best first, without sorting all.
pub fn best<T>(mut items: Vec<T>, n: usize, mut cmp: impl FnMut(&T, &T) -> std::cmp::Ordering) -> Vec<T> {
    if items.len() > n && n > 0 {
        items.select_nth_unstable_by(n - 1, &mut cmp);
        items.truncate(n);
    } else if n == 0 {
        items.clear();
    }
    items.sort_unstable_by(cmp);
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_counts_are_exact_even_when_hashes_collide() {
        let mut counts = KeyCounts::default();
        let a = counts.add(b"/a", 2);
        counts.add(b"/b", 5);
        assert_eq!(counts.add(b"/a", 3), a);
        // Three keys under one hash: chained, each counted on its own.
        let z = counts.add_hashed(7, b"/z", 1);
        let y = counts.add_hashed(7, b"/y", 5);
        assert_ne!(z, y);
        assert_eq!(counts.add_hashed(7, b"/z", 1), z);
        assert_eq!(counts.add_hashed(7, b"/x", 1), 4);
        assert_eq!(counts.add_hashed(7, b"/y", 1), y);
        let ranked: Vec<(&[u8], u64)> = counts.ranked().into_iter().map(|e| (counts.key(e), counts.count(e))).collect();
        assert_eq!(ranked, [(&b"/y"[..], 6), (b"/a", 5), (b"/b", 5), (b"/z", 2), (b"/x", 1)]);
        assert_eq!(counts.len(), 5);
    }

    #[test]
    fn runs_add_up() {
        let mut slots = [0u64; 4];
        let mut runs = Runs::default();
        for (at, n) in [(1, 1), (1, 2), (3, 5), (1, 1), (9, 7), (3, 1)] {
            runs.add(&mut slots, at, n);
        }
        runs.flush(&mut slots);
        runs.flush(&mut slots);
        assert_eq!(slots, [0, 4, 0, 6], "slot 9 does not exist: dropped");
    }

    #[test]
    fn hashes_spread_and_differ_by_length() {
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdefgh\0"));
        let distinct: std::collections::HashSet<u64> = (0..10_000u32).map(|i| hash_bytes(&i.to_le_bytes())).collect();
        assert_eq!(distinct.len(), 10_000);
    }

    #[test]
    fn best_keeps_the_first_n_in_order() {
        let v = vec![5, 1, 4, 2, 3];
        assert_eq!(best(v.clone(), 3, |a: &i32, b: &i32| b.cmp(a)), [5, 4, 3]);
        assert_eq!(best(v.clone(), 10, |a: &i32, b: &i32| a.cmp(b)), [1, 2, 3, 4, 5]);
        assert!(best(v, 0, |a: &i32, b: &i32| a.cmp(b)).is_empty());
    }
}
