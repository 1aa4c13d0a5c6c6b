//! Aggregations (top, timeline, summary, visit times, geo), each one columnar pass over the matching
//! documents of every segment, answering exactly what `store::opensearch::dsl::aggs` asks
//! OpenSearch for:
//!
//! - counts are exact; distinct counts (top `distinct`, unique client IPs, unique visitors) are exact
//!   too (OpenSearch's HyperLogLog++ is exact below 40,000 and close above);
//! - response-size percentiles are exact nearest-rank values (OpenSearch's HDR histogram is within 0.1%);
//! - ties rank by key ascending in the field's own order: byte order for keywords, address order for
//!   client IPs, numeric order for status codes.
//!
//! One file per request, each an `EmbeddedStore::read_*` method that the store's [`LogStore`] impl
//! calls once the acknowledged documents are committed: [`top`], [`timeline`], [`summary`] (with its
//! exact percentile selection), [`visit_times`] and [`geo`]. Each reads the partitions and matching
//! documents of `EmbeddedStore::parts` through [`scan`]'s columnar engine and returns its
//! [`crate::query::model`] answer. This file holds only what several of them share: where a
//! dimension's values live and how its keys read, the key counts behind top and timeline splits, the
//! ranking of keys, the time slicer, and epoch milliseconds as UTC times.
//!
//! [`LogStore`]: crate::store::LogStore
//! [`scan`]: super::scan

mod durations;
mod exact;
mod geo;
mod summary;
mod timeline;
mod top;
mod visit_times;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::scan::{Fetch, KeyCounts, Ords, Part, best, fold_segments, nonzero, u64_column};
use super::schema::{ip_from_key, name};
use crate::query::model::Dimension;
use crate::store::StoreError;

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
        Dimension::Vhost => Kind::Keyword(name::VHOST),
        Dimension::Method => Kind::Keyword(name::METHOD),
        Dimension::Crawler => Kind::Keyword(name::CRAWLER),
        Dimension::CrawlerCategory => Kind::Keyword(name::CRAWLER_CATEGORY),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_are_found_with_or_without_the_remembered_one() {
        let mut s = Slicer::new(1000, 10, 5);
        let found: Vec<Option<usize>> =
            [1000, 1009, 1010, 1049, 1050, 999, 1005, 1044, -5].iter().map(|t| s.slice(*t)).collect();
        assert_eq!(found, [Some(0), Some(0), Some(1), Some(4), None, None, Some(0), Some(4), None]);
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
