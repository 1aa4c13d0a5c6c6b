//! Timelines ([`TimelineRequest`]): requests and response bytes per interval of the grid both adapters
//! share (`store::bucket_grid`: multiples of the interval since the epoch), every interval present,
//! optionally split by status class or by the top values of a dimension over the whole range (the
//! rest as `other`). One columnar pass per segment reads the timestamp, size and split columns of the
//! matching documents into per-interval counters.

use std::collections::{BTreeMap, HashMap};

use tantivy::{DocId, u64_to_i64};

use super::{Kind, Slicer, count_keys, key_text, kind, top_entries, utc};
use crate::query::model::{MAX_TOP_LIMIT, Split, TimelineBucket, TimelineRequest, TimelineResult};
use crate::store::StoreError;
use crate::store::bucket_grid as buckets;
use crate::store::embedded::scan::{Fetch, Ords, Runs, fold_segments, for_each_aligned, u64_column};
use crate::store::embedded::schema::name;
use crate::store::embedded::state::EmbeddedStore;

impl EmbeddedStore {
    pub(in crate::store::embedded) fn read_timeline(
        &self,
        request: &TimelineRequest,
    ) -> Result<TimelineResult, StoreError> {
        let (first, interval, n) = buckets(&request.query.range, request.interval_secs)?;
        if n == 0 {
            return Ok(TimelineResult { buckets: Vec::new() });
        }
        let parts = self.parts(&request.query)?;
        // The split's keys: status classes, or the top values of a dimension over the whole range.
        let (split_kind, split_keys): (Option<Kind>, Vec<Box<[u8]>>) = match request.split {
            Split::None => (None, Vec::new()),
            Split::StatusClass => (None, Vec::new()),
            Split::Dimension(dimension, top) => {
                let kind = kind(dimension);
                let keys = if top > 0 {
                    let counted = count_keys(&parts, kind, self.threads())?;
                    top_entries(&counted.keys, top.min(MAX_TOP_LIMIT) as usize)
                        .into_iter()
                        .map(|e| counted.keys.key(e).into())
                        .collect()
                } else {
                    Vec::new()
                };
                (Some(kind), keys)
            }
        };
        let width = match request.split {
            Split::StatusClass => 5,
            _ => split_keys.len(),
        };
        let status_split = request.split == Split::StatusClass;
        const NO_BUCKET: u32 = u32::MAX;
        const NO_KEY: u16 = u16::MAX;
        let needs_status = status_split || split_kind == Some(Kind::Status);
        let init = || (vec![0u64; n], vec![0u64; n], vec![0u64; n * width]);
        let partial = fold_segments(&parts, self.threads(), init, |acc, p, seg| {
            let part = &parts[p];
            let (counts, bytes, split) = (&mut acc.0, &mut acc.1, &mut acc.2);
            let ts = u64_column(seg, name::TS)?;
            let size = u64_column(seg, name::BYTES)?;
            let status = if needs_status { Some(u64_column(seg, name::STATUS)?) } else { None };
            // Key index of each term ordinal (keyword splits) or status code (status splits).
            let mut ords = None;
            let mut ord_key: Vec<u16> = Vec::new();
            let mut code_key: HashMap<u64, u16> = HashMap::new();
            match split_kind {
                Some(k @ (Kind::Keyword(_) | Kind::Ip)) if width > 0 => {
                    let column = if let Kind::Keyword(c) = k { c } else { name::CLIENT_IP };
                    let o = Ords::open(seg, column)?;
                    ord_key = vec![NO_KEY; o.num_terms()];
                    for (i, key) in split_keys.iter().enumerate() {
                        if let Some(ord) = o.ord_of(key)? {
                            ord_key[ord as usize] = i as u16;
                        }
                    }
                    ords = Some(o);
                }
                Some(Kind::Status) => {
                    for (i, key) in split_keys.iter().enumerate() {
                        if let Ok(bytes) = <[u8; 8]>::try_from(&key[..]) {
                            code_key.insert(u64::from_be_bytes(bytes), i as u16);
                        }
                    }
                }
                _ => {}
            }
            let (mut f_ts, mut f_size, mut f_status) = (Fetch::default(), Fetch::default(), Fetch::default());
            let mut slicer = Slicer::new(first, interval, n);
            // The bucket of each document of the block (NO_BUCKET: none).
            let mut bucket: Vec<u32> = Vec::new();
            let mut key_runs: Vec<Runs> = (0..width).map(|_| Runs::default()).collect();
            part.for_each_block(seg, |block: &[DocId]| {
                bucket.clear();
                bucket.resize(block.len(), NO_BUCKET);
                let (docs, vals) = f_ts.docs_values(&ts, block);
                let mut runs = Runs::default();
                for_each_aligned(block, docs, vals, |i, t| {
                    if let Some(at) = slicer.slice(u64_to_i64(t)) {
                        bucket[i] = at as u32;
                        runs.add(counts, at, 1);
                    }
                });
                runs.flush(counts);
                let (docs, vals) = f_size.docs_values(&size, block);
                let mut runs = Runs::default();
                for_each_aligned(block, docs, vals, |i, b| runs.add(bytes, bucket[i] as usize, b));
                runs.flush(bytes);
                if let Some(status) = &status {
                    let (docs, vals) = f_status.docs_values(status, block);
                    for_each_aligned(block, docs, vals, |i, s| {
                        let at = bucket[i] as usize;
                        if at >= n {
                            return;
                        }
                        let key = if status_split {
                            if !(100..600).contains(&s) {
                                return;
                            }
                            (s / 100 - 1) as usize
                        } else {
                            match code_key.get(&s) {
                                Some(k) => *k as usize,
                                None => return,
                            }
                        };
                        key_runs[key].add(split, at * width + key, 1);
                    });
                }
                if let Some(ords) = ords.as_mut() {
                    let (docs, vals) = ords.docs_values(block);
                    for_each_aligned(block, docs, vals, |i, o| {
                        let (at, k) = (bucket[i] as usize, ord_key[o as usize]);
                        if at < n && k != NO_KEY {
                            key_runs[k as usize].add(split, at * width + k as usize, 1);
                        }
                    });
                }
                key_runs.iter_mut().for_each(|r| r.flush(split));
            })
        })?;
        let (mut counts, mut bytes, mut split) = init();
        for (c, b, sp) in partial {
            counts.iter_mut().zip(c).for_each(|(x, y)| *x += y);
            bytes.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            split.iter_mut().zip(sp).for_each(|(x, y)| *x += y);
        }
        let names: Vec<String> = match (request.split, split_kind) {
            (Split::StatusClass, _) => (1..=5).map(|c| format!("{c}xx")).collect(),
            (_, Some(kind)) => split_keys.iter().map(|k| key_text(kind, k)).collect(),
            _ => Vec::new(),
        };
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let mut by_key = BTreeMap::new();
            let row = &split[i * width..(i + 1) * width];
            for (name, count) in names.iter().zip(row) {
                by_key.insert(name.clone(), *count);
            }
            if let Split::Dimension(..) = request.split {
                by_key.insert("other".to_owned(), counts[i] - row.iter().sum::<u64>());
            }
            out.push(TimelineBucket {
                start: utc(first + i as i64 * interval)?,
                count: counts[i],
                bytes: bytes[i],
                split: by_key,
            });
        }
        Ok(TimelineResult { buckets: out })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::model::TimeRange;
    use chrono::{DateTime, Utc};

    fn range(from: &str, to: &str) -> TimeRange {
        TimeRange { from: from.parse().unwrap(), to: to.parse().unwrap() }
    }

    #[test]
    fn buckets_align_to_the_epoch_and_cover_the_range() {
        let r = range("2015-05-18T06:30:00Z", "2015-05-19T06:00:00Z");
        let (first, interval, n) = buckets(&r, 3600).unwrap();
        assert_eq!(utc(first).unwrap(), "2015-05-18T06:00:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!((interval, n), (3_600_000, 24));
        assert_eq!(buckets(&range("2015-05-18T00:00:00Z", "2015-05-18T00:00:00Z"), 60).unwrap().2, 0);
        assert!(matches!(buckets(&r, 0), Err(StoreError::BadRequest(_))));
        assert!(matches!(buckets(&r, 1), Err(StoreError::BadRequest(_))), "86,400 buckets");
        assert!(matches!(buckets(&r, u64::MAX), Err(StoreError::BadRequest(_))));
    }
}
