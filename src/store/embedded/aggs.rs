//! Aggregations (top, timeline, summary, visit times, geo), each one columnar pass over the matching
//! documents of every segment, answering exactly what `store::opensearch::dsl::aggs` asks
//! OpenSearch for:
//!
//! - counts are exact; distinct counts (top `distinct`, unique client IPs, unique visitors) are exact
//!   too (OpenSearch's HyperLogLog++ is exact below 40,000 and close above);
//! - response-size percentiles are exact nearest-rank values (OpenSearch's HDR histogram is within 0.1%);
//! - ties rank by key ascending in the field's own order: byte order for keywords, address order for
//!   client IPs, numeric order for status codes.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use tantivy::{DocId, u64_to_f64, u64_to_i64};

use super::scan::{Fetch, KeyCounts, Ords, Part, Runs, best, fold_segments, for_each_aligned, nonzero, u64_column};
use super::schema::{ip_from_key, name};
use super::{DAY_MS, EmbeddedStore};
use crate::query::model::{
    CityCount, CountryCount, Dimension, GeoRequest, GeoResult, HourCount, KeyCount, MAX_TOP_LIMIT, Query, Split,
    SummaryResult, TimelineBucket, TimelineRequest, TimelineResult, TopRequest, TopResult, VisitTimesRequest,
    VisitTimesResult,
};
use crate::store::StoreError;

/// Countries a geo answer lists at most (as the OpenSearch adapter).
const MAX_COUNTRIES: usize = 300;
const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;

/// Where a dimension's values live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A keyword column; keys are its terms.
    Keyword(&'static str),
    /// The `client_ip` column; keys are hex terms in address order.
    Ip,
    /// The numeric status column; keys are 8-byte big-endian codes (numeric order).
    Status,
}

fn kind(dimension: Dimension) -> Kind {
    match dimension {
        Dimension::Country => Kind::Keyword(name::COUNTRY),
        Dimension::City => Kind::Keyword(name::CITY),
        Dimension::Browser => Kind::Keyword(name::BROWSER),
        Dimension::Os => Kind::Keyword(name::OS),
        Dimension::Device => Kind::Keyword(name::DEVICE),
        Dimension::Path => Kind::Keyword(name::PATH),
        Dimension::ReferrerHost => Kind::Keyword(name::REFERRER_HOST),
        Dimension::Method => Kind::Keyword(name::METHOD),
        Dimension::ClientIp => Kind::Ip,
        Dimension::Status => Kind::Status,
    }
}

/// A key as the API shows it.
fn key_text(kind: Kind, key: &[u8]) -> String {
    match kind {
        Kind::Keyword(_) => String::from_utf8_lossy(key).into_owned(),
        Kind::Ip => ip_from_key(key).map_or_else(|| String::from_utf8_lossy(key).into_owned(), |ip| ip.to_string()),
        Kind::Status => key.try_into().map(u64::from_be_bytes).unwrap_or_default().to_string(),
    }
}

/// Matching documents, those without a value, and the count of every value.
struct Counted {
    total: u64,
    missing: u64,
    keys: KeyCounts,
}

/// Counts the values of a dimension over the matching documents.
fn count_keys(parts: &[Part], kind: Kind, threads: (usize, u64)) -> Result<Counted, StoreError> {
    let init = || Counted { total: 0, missing: 0, keys: KeyCounts::default() };
    let partial = fold_segments(parts, threads, init, |acc, p, seg| {
        let part = &parts[p];
        let (total, missing) = (&mut acc.total, &mut acc.missing);
        match kind {
            Kind::Keyword(_) | Kind::Ip => {
                let column = if let Kind::Keyword(name) = kind { name } else { name::CLIENT_IP };
                let mut ords = Ords::open(seg, column)?;
                let mut counts = vec![0u32; ords.num_terms()];
                part.for_each_block(seg, |block| {
                    let vals = ords.values(block);
                    *total += block.len() as u64;
                    *missing += (block.len() - vals.len()) as u64;
                    for o in vals {
                        counts[*o as usize] += 1;
                    }
                })?;
                let (os, ns) = nonzero(&counts);
                ords.terms(&os, |i, term| {
                    acc.keys.add(term, u64::from(ns[i]));
                })?;
            }
            Kind::Status => {
                let column = u64_column(seg, name::STATUS)?;
                let mut fetch = Fetch::default();
                let mut codes = [0u32; 1000];
                let mut other: BTreeMap<u64, u64> = BTreeMap::new();
                part.for_each_block(seg, |block| {
                    let vals = fetch.values(&column, block);
                    *total += block.len() as u64;
                    *missing += (block.len() - vals.len()) as u64;
                    for c in vals {
                        match codes.get_mut(*c as usize) {
                            Some(n) => *n += 1,
                            None => *other.entry(*c).or_default() += 1,
                        }
                    }
                })?;
                for (code, n) in codes.iter().enumerate() {
                    if *n > 0 {
                        acc.keys.add(&(code as u64).to_be_bytes(), u64::from(*n));
                    }
                }
                for (code, n) in other {
                    acc.keys.add(&code.to_be_bytes(), n);
                }
            }
        }
        Ok(())
    })?;
    let mut partial = partial.into_iter();
    let mut counted = partial.next().unwrap_or_else(init);
    for other in partial {
        counted.total += other.total;
        counted.missing += other.missing;
        counted.keys.merge(&other.keys);
    }
    Ok(counted)
}

/// The entries of the `n` most frequent keys, ties by key ascending.
fn top_entries(keys: &KeyCounts, n: usize) -> Vec<usize> {
    best((0..keys.len()).collect(), n, |a: &usize, b: &usize| {
        keys.count(*b).cmp(&keys.count(*a)).then_with(|| keys.key(*a).cmp(keys.key(*b)))
    })
}

// ------------------------------------------------------------------------------------------------
// timeline helpers

pub(crate) use crate::store::bucket_grid as buckets;

/// Which of `n` consecutive slices of `width` from `first` a time falls in; remembers the last slice,
/// as neighbouring documents mostly share it, to spare a division per document.
struct Slicer {
    first: i64,
    width: i64,
    n: usize,
    current: (i64, i64, usize),
}

impl Slicer {
    fn new(first: i64, width: i64, n: usize) -> Self {
        Slicer { first, width, n, current: (0, 0, 0) }
    }

    #[inline]
    fn slice(&mut self, t: i64) -> Option<usize> {
        let (from, to, at) = self.current;
        if t >= from && t < to {
            return Some(at);
        }
        let at = (t - self.first).div_euclid(self.width);
        if !(0..self.n as i64).contains(&at) {
            return None;
        }
        let from = self.first + at * self.width;
        self.current = (from, from + self.width, at as usize);
        Some(at as usize)
    }
}

fn utc(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::BadRequest(format!("{ms} ms is out of range")))
}

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

/// Response sizes for exact percentiles, in two passes: their histogram over [`size_bucket`]s is
/// counted while reading; it gives the bucket of each percentile's rank ([`Sizes::targets`]); a
/// second pass over the same documents gathers only those buckets' values to select from. Nothing
/// holds all the values (80 MB for 10,000,000 documents).
struct Sizes {
    histogram: Vec<u32>,
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes { histogram: vec![0; SIZE_BUCKETS] }
    }
}

impl Sizes {
    fn count(&mut self, values: &[u64]) {
        for v in values {
            self.histogram[size_bucket(*v)] += 1;
        }
    }

    fn merge(&mut self, other: Sizes) {
        self.histogram.iter_mut().zip(other.histogram).for_each(|(x, y)| *x += y);
    }

    /// Where the nearest-rank percentiles for ascending `percents` lie; `None` without values.
    fn targets(&self, percents: &[f64]) -> Option<Targets> {
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
struct Targets {
    /// Bucket -> its place among the wanted buckets, or [`Targets::NONE`]: one lookup per value.
    slot: Vec<u8>,
    /// Per percentile: (place of its bucket, rank within the bucket).
    picks: Vec<(usize, usize)>,
    /// How many wanted buckets.
    wanted: usize,
}

impl Targets {
    const NONE: u8 = u8::MAX;

    fn members(&self) -> Vec<Vec<u64>> {
        vec![Vec::new(); self.wanted]
    }

    /// Keeps the values that fall in a wanted bucket.
    fn gather(&self, values: &[u64], members: &mut [Vec<u64>]) {
        for v in values {
            let s = self.slot[size_bucket(*v)];
            if s != Self::NONE {
                members[s as usize].push(*v);
            }
        }
    }

    /// The percentiles, from every part's gathered values.
    fn select(&self, gathered: Vec<Vec<Vec<u64>>>) -> Vec<Option<f64>> {
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
    let mut sizes = Sizes::default();
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

/// Weekday (0 = Monday) and hour of a local time given in seconds since the local epoch.
fn weekday_hour(local_secs: i64) -> (usize, usize) {
    let days = local_secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday (3 days after a Monday).
    let weekday = (days + 3).rem_euclid(7) as usize;
    let hour = (local_secs.rem_euclid(86_400) / 3600) as usize;
    (weekday, hour)
}

fn offset_secs(tz: &Tz, utc_secs: i64) -> i64 {
    let t = DateTime::from_timestamp(utc_secs, 0).unwrap_or_default().naive_utc();
    i64::from(tz.offset_from_utc_datetime(&t).fix().local_minus_utc())
}

pub fn time_zone(name: &str) -> Result<Tz, StoreError> {
    name.parse::<Tz>().map_err(|_| {
        StoreError::BadRequest(format!("unknown time zone '{name}' (use an IANA name such as Europe/Paris)"))
    })
}

/// What one thread of a summary gathers.
#[derive(Default)]
struct SummaryAcc {
    requests: u64,
    bytes: u64,
    bots: u64,
    /// By hundreds digit: `classes[4]` is 4xx.
    classes: [u64; 6],
    sizes: Sizes,
    /// Per part (day): requests per UTC hour.
    per_hour: Vec<[u64; 24]>,
    /// Per part: distinct visitors of a single-segment day, or the visitors of a day of several.
    single_visitors: Vec<u64>,
    visitors: Vec<KeyCounts>,
    ips: KeyCounts,
}

// ------------------------------------------------------------------------------------------------
// the requests

impl EmbeddedStore {
    pub(super) fn read_top(&self, request: &TopRequest) -> Result<TopResult, StoreError> {
        if !(1..=MAX_TOP_LIMIT).contains(&request.limit) {
            return Err(StoreError::BadRequest(format!("limit must be 1..={MAX_TOP_LIMIT}")));
        }
        let kind = kind(request.dimension);
        let parts = self.parts(&request.query)?;
        let Counted { total, missing, keys } = count_keys(&parts, kind, self.threads())?;
        let top = top_entries(&keys, request.limit as usize);
        let shown: u64 = top.iter().map(|e| keys.count(*e)).sum();
        Ok(TopResult {
            total,
            buckets: top
                .iter()
                .map(|e| KeyCount { key: key_text(kind, keys.key(*e)), count: keys.count(*e) })
                .collect(),
            other: total - missing - shown,
            missing,
            distinct: Some(keys.len() as u64),
            count_error_bound: 0,
        })
    }

    pub(super) fn read_timeline(&self, request: &TimelineRequest) -> Result<TimelineResult, StoreError> {
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

    pub(super) fn read_summary(&self, query: &Query) -> Result<SummaryResult, StoreError> {
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
            let mut visitor = Ords::open(seg, name::VISITOR)?;
            let mut ip = Ords::open(seg, name::CLIENT_IP)?;
            let mut visitor_seen = vec![false; visitor.num_terms()];
            let mut ip_seen = vec![false; ip.num_terms()];
            let histogram = &mut acc.sizes;
            let per_hour = &mut acc.per_hour[p][..];
            let (mut f_ts, mut f_status, mut f_size, mut f_bot) =
                (Fetch::default(), Fetch::default(), Fetch::default(), Fetch::default());
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
            all.sizes.merge(other.sizes);
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
        let p = match all.sizes.targets(&PERCENTS) {
            None => vec![None; PERCENTS.len()],
            // The second pass, over the same segments: only the wanted buckets' values.
            Some(targets) => {
                let gathered = fold_segments(
                    &parts,
                    self.threads(),
                    || targets.members(),
                    |members, p, seg| {
                        let size = u64_column(seg, name::BYTES)?;
                        let mut fetch = Fetch::default();
                        parts[p].for_each_block(seg, |block| targets.gather(fetch.values(&size, block), members))
                    },
                )?;
                targets.select(gathered)
            }
        };
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
            busiest_hour,
        })
    }

    pub(super) fn read_visit_times(&self, request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
        let tz = time_zone(&request.time_zone)?;
        let parts = self.parts(&request.query)?;
        let mut counts = vec![vec![0u64; 24]; 7];
        // Requests per UTC minute of each day, then each minute to its local weekday and hour. A minute
        // is one local hour as long as the zone's offset is whole minutes and constant over it (every
        // zone since 1972); a day where it is not is counted per second.
        let per_minute = self.count_per(&parts, MINUTE_MS)?;
        let mut per_second: Option<Vec<Vec<u64>>> = None;
        for (p, (part, minutes)) in parts.iter().zip(&per_minute).enumerate() {
            let start_secs = part.day.start_ms / 1000;
            let whole_minutes = minutes.iter().enumerate().filter(|(_, n)| **n > 0).all(|(m, _)| {
                let at = start_secs + m as i64 * 60;
                let offset = offset_secs(&tz, at);
                offset % 60 == 0 && offset_secs(&tz, at + 59) == offset
            });
            let (per, step) = if whole_minutes {
                (minutes, 60)
            } else {
                if per_second.is_none() {
                    per_second = Some(self.count_per(&parts, 1000)?);
                }
                (&per_second.as_ref().expect("counted")[p], 1)
            };
            for (i, n) in per.iter().enumerate().filter(|(_, n)| **n > 0) {
                let at = start_secs + i as i64 * step;
                let (weekday, hour) = weekday_hour(at + offset_secs(&tz, at));
                counts[weekday][hour] += n;
            }
        }
        Ok(VisitTimesResult { counts })
    }

    /// Matching requests of each part's day per `step_ms` slice of it.
    fn count_per(&self, parts: &[Part], step_ms: i64) -> Result<Vec<Vec<u64>>, StoreError> {
        let slices = (DAY_MS / step_ms) as usize;
        let init = || vec![vec![0u64; slices]; parts.len()];
        let partial = fold_segments(parts, self.threads(), init, |acc, p, seg| {
            let part = &parts[p];
            let per = &mut acc[p];
            let ts = u64_column(seg, name::TS)?;
            let mut fetch = Fetch::default();
            let mut slicer = Slicer::new(part.day.start_ms, step_ms, slices);
            part.for_each_block(seg, |block| {
                for t in fetch.values(&ts, block) {
                    if let Some(i) = slicer.slice(u64_to_i64(*t)) {
                        per[i] += 1;
                    }
                }
            })
        })?;
        let mut partial = partial.into_iter();
        let mut all = partial.next().unwrap_or_else(init);
        for other in partial {
            for (x, y) in all.iter_mut().zip(other) {
                x.iter_mut().zip(y).for_each(|(a, b)| *a += b);
            }
        }
        Ok(all)
    }

    pub(super) fn read_geo(&self, request: &GeoRequest) -> Result<GeoResult, StoreError> {
        let parts = self.parts(&request.query)?;
        let city_limit = request.city_limit.min(MAX_TOP_LIMIT) as usize;
        let mut countries = KeyCounts::default();
        let mut country_names: Vec<KeyCounts> = Vec::new();
        let mut cities = KeyCounts::default();
        let mut city_countries: Vec<KeyCounts> = Vec::new();
        // Per city: documents with a location, and the sums of their coordinates.
        let mut centroids: Vec<(u64, f64, f64)> = Vec::new();
        for part in &parts {
            for seg in part.segments() {
                let mut country = Ords::open(seg, name::COUNTRY)?;
                let mut country_name = Ords::open(seg, name::COUNTRY_NAME)?;
                let mut city = Ords::open(seg, name::CITY)?;
                let lat = u64_column(seg, name::LAT)?;
                let lon = u64_column(seg, name::LON)?;
                let mut country_counts = vec![0u32; country.num_terms()];
                let mut city_counts = vec![0u32; city.num_terms()];
                let mut city_location = vec![(0u64, 0f64, 0f64); if city_limit > 0 { city.num_terms() } else { 0 }];
                let mut name_pairs: HashMap<(u64, u64), u64> = HashMap::new();
                let mut city_pairs: HashMap<(u64, u64), u64> = HashMap::new();
                let (mut f_lat, mut f_lon) = (Fetch::default(), Fetch::default());
                let (mut c_buf, mut n_buf, mut ci_buf, mut la_buf, mut lo_buf) =
                    (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
                part.for_each_block(seg, |block| {
                    country.aligned(block, &mut c_buf);
                    country_name.aligned(block, &mut n_buf);
                    for (c, n) in c_buf.iter().zip(&n_buf) {
                        if let Some(c) = c {
                            country_counts[*c as usize] += 1;
                            if let Some(n) = n {
                                *name_pairs.entry((*c, *n)).or_default() += 1;
                            }
                        }
                    }
                    if city_limit == 0 {
                        return;
                    }
                    city.aligned(block, &mut ci_buf);
                    f_lat.aligned(&lat, block, &mut la_buf);
                    f_lon.aligned(&lon, block, &mut lo_buf);
                    for (i, ci) in ci_buf.iter().enumerate() {
                        let Some(ci) = ci else { continue };
                        city_counts[*ci as usize] += 1;
                        if let Some(c) = c_buf[i] {
                            *city_pairs.entry((*ci, c)).or_default() += 1;
                        }
                        if let (Some(la), Some(lo)) = (la_buf[i], lo_buf[i]) {
                            let e = &mut city_location[*ci as usize];
                            e.0 += 1;
                            e.1 += u64_to_f64(la);
                            e.2 += u64_to_f64(lo);
                        }
                    }
                })?;
                // Ordinals → global entries.
                let mut country_entry: HashMap<u64, usize> = HashMap::new();
                let (os, ns) = nonzero(&country_counts);
                country.terms(&os, |i, term| {
                    let e = countries.add(term, u64::from(ns[i]));
                    if e == country_names.len() {
                        country_names.push(KeyCounts::default());
                    }
                    country_entry.insert(os[i], e);
                })?;
                let mut name_ords: Vec<u64> = name_pairs.keys().map(|(_, n)| *n).collect();
                name_ords.sort_unstable();
                name_ords.dedup();
                let mut name_terms: HashMap<u64, Box<[u8]>> = HashMap::new();
                country_name.terms(&name_ords, |i, term| {
                    name_terms.insert(name_ords[i], term.into());
                })?;
                for ((c, n), count) in name_pairs {
                    country_names[country_entry[&c]].add(&name_terms[&n], count);
                }
                if city_limit == 0 {
                    continue;
                }
                let mut city_entry: HashMap<u64, usize> = HashMap::new();
                let (os, ns) = nonzero(&city_counts);
                city.terms(&os, |i, term| {
                    let e = cities.add(term, u64::from(ns[i]));
                    if e == city_countries.len() {
                        city_countries.push(KeyCounts::default());
                        centroids.push((0, 0.0, 0.0));
                    }
                    let (n, la, lo) = city_location[os[i] as usize];
                    let c = &mut centroids[e];
                    c.0 += n;
                    c.1 += la;
                    c.2 += lo;
                    city_entry.insert(os[i], e);
                })?;
                let mut pair_countries: Vec<u64> = city_pairs.keys().map(|(_, c)| *c).collect();
                pair_countries.sort_unstable();
                pair_countries.dedup();
                let mut country_terms: HashMap<u64, Box<[u8]>> = HashMap::new();
                country.terms(&pair_countries, |i, term| {
                    country_terms.insert(pair_countries[i], term.into());
                })?;
                for ((ci, c), count) in city_pairs {
                    city_countries[city_entry[&ci]].add(&country_terms[&c], count);
                }
            }
        }
        let first_key =
            |keys: &KeyCounts| top_entries(keys, 1).first().map(|e| String::from_utf8_lossy(keys.key(*e)).into_owned());
        let countries = top_entries(&countries, MAX_COUNTRIES)
            .into_iter()
            .map(|e| CountryCount {
                iso_code: String::from_utf8_lossy(countries.key(e)).into_owned(),
                name: first_key(&country_names[e]),
                count: countries.count(e),
            })
            .collect();
        let cities = top_entries(&cities, city_limit)
            .into_iter()
            .map(|e| {
                let (n, lat, lon) = centroids[e];
                let located = n > 0;
                CityCount {
                    name: String::from_utf8_lossy(cities.key(e)).into_owned(),
                    country_iso_code: first_key(&city_countries[e]),
                    lat: located.then(|| lat / n as f64),
                    lon: located.then(|| lon / n as f64),
                    count: cities.count(e),
                }
            })
            .collect();
        Ok(GeoResult { countries, cities })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::model::TimeRange;

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

    #[test]
    fn slices_are_found_with_or_without_the_remembered_one() {
        let mut s = Slicer::new(1000, 10, 5);
        let found: Vec<Option<usize>> =
            [1000, 1009, 1010, 1049, 1050, 999, 1005, 1044, -5].iter().map(|t| s.slice(*t)).collect();
        assert_eq!(found, [Some(0), Some(0), Some(1), Some(4), None, None, Some(0), Some(4), None]);
    }

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

    #[test]
    fn weekdays_and_hours_from_local_seconds() {
        // 2015-05-18 was a Monday.
        let monday = "2015-05-18T00:00:00Z".parse::<DateTime<Utc>>().unwrap().timestamp();
        assert_eq!(weekday_hour(monday), (0, 0));
        assert_eq!(weekday_hour(monday + 86_400 * 6 + 23 * 3600 + 3599), (6, 23));
        assert_eq!(weekday_hour(-1), (2, 23), "1969-12-31 23:59:59 was a Wednesday");
        let tz = time_zone("Asia/Kolkata").unwrap();
        assert_eq!(offset_secs(&tz, monday), 19_800);
        assert!(matches!(time_zone("Europe/Atlantis"), Err(StoreError::BadRequest(_))));
    }

    #[test]
    fn keys_read_as_the_api_shows_them() {
        assert_eq!(key_text(Kind::Status, &404u64.to_be_bytes()), "404");
        assert_eq!(
            key_text(Kind::Ip, super::super::schema::ip_key("10.0.0.1".parse().unwrap()).as_bytes()),
            "10.0.0.1"
        );
        assert_eq!(key_text(Kind::Keyword(name::PATH), b"/a"), "/a");
    }
}
