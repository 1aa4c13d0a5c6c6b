//! [`Filters`] → a tantivy query, clause for clause what `store::opensearch::dsl::filters` sends
//! OpenSearch: values within one field are ORed, fields are ANDed, nothing is scored.
//!
//! - time: `[ceil_ms(from), ceil_ms(to))` on the millisecond timestamp, only for day partitions the
//!   range covers partly (a covered day needs no clause);
//! - status codes: a term set; classes: `[c00, c00 + 100)` ranges;
//! - keywords: term sets of exact values; the path prefix: a term range `[prefix, successor)`;
//! - client IPs: inclusive ranges of the blocks' first and last addresses on the `client_ip` column
//!   (see `schema::ip_key`);
//! - bot: `true` is a term, `false` is "not `true`" (documents without the flag included);
//! - free text: every token of `q` (same analysis as the indexed text) must occur in the `text` field;
//!   a `q` without any token matches nothing, like `multi_match` with `zero_terms_query: none`.

use std::net::IpAddr;
use std::ops::Bound;

use ipnet::IpNet;
use tantivy::Term;
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, RangeQuery, TermQuery, TermSetQuery};
use tantivy::schema::{Field, IndexRecordOption};

use super::schema::{Fields, ip_key};
use super::tokenizer::tokens;
use crate::query::model::{Filters, StatusFilter};

pub(crate) use crate::store::ceil_millis;

/// The clauses of a request's filters (time excluded), to be ANDed.
pub fn filter_clauses(filters: &Filters, f: &Fields) -> Vec<Box<dyn Query>> {
    let Filters {
        status,
        method,
        path,
        path_prefix,
        country,
        city,
        browser,
        os,
        device,
        bot,
        crawler,
        crawler_category,
        client_ip,
        referrer_host,
        vhost,
        q,
    } = filters;
    let mut out: Vec<Box<dyn Query>> = Vec::new();
    if !status.is_empty() {
        out.push(status_clause(status, f.status));
    }
    for (field, values) in [
        (f.method, method),
        (f.path, path),
        (f.country, country),
        (f.city, city),
        (f.browser, browser),
        (f.os, os),
        (f.device, device),
        (f.referrer_host, referrer_host),
        (f.crawler, crawler),
        (f.crawler_category, crawler_category),
        (f.vhost, vhost),
    ] {
        if !values.is_empty() {
            out.push(Box::new(TermSetQuery::new(values.iter().map(|v| Term::from_field_text(field, v)))));
        }
    }
    if let Some(prefix) = path_prefix {
        out.push(prefix_clause(f.path, prefix));
    }
    if !client_ip.is_empty() {
        out.push(any_of(client_ip.iter().map(|net| ip_clause(f.client_ip, net)).collect()));
    }
    if let Some(bot) = bot {
        let is_bot = Box::new(TermQuery::new(Term::from_field_bool(f.bot, true), IndexRecordOption::Basic));
        out.push(if *bot {
            is_bot
        } else {
            Box::new(BooleanQuery::new(vec![(Occur::Must, Box::new(AllQuery)), (Occur::MustNot, is_bot)]))
        });
    }
    if let Some(q) = q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        out.push(free_text(f.text, q));
    }
    out
}

/// `[from, to)` in epoch milliseconds.
pub fn time_clause(ts: Field, from_ms: i64, to_ms: i64) -> Box<dyn Query> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_i64(ts, from_ms)),
        Bound::Excluded(Term::from_field_i64(ts, to_ms)),
    ))
}

/// All clauses ANDed; `None` when there is none (every document matches).
pub fn all_of(mut clauses: Vec<Box<dyn Query>>) -> Option<Box<dyn Query>> {
    match clauses.len() {
        0 => None,
        1 => clauses.pop(),
        _ => Some(Box::new(BooleanQuery::new(clauses.into_iter().map(|c| (Occur::Must, c)).collect()))),
    }
}

fn any_of(mut clauses: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if clauses.len() == 1 {
        return clauses.pop().expect("one clause");
    }
    Box::new(BooleanQuery::new(clauses.into_iter().map(|c| (Occur::Should, c)).collect()))
}

fn status_clause(status: &[StatusFilter], field: Field) -> Box<dyn Query> {
    let mut clauses: Vec<Box<dyn Query>> = Vec::new();
    let codes: Vec<Term> = status
        .iter()
        .filter_map(|s| match s {
            StatusFilter::Code(c) => Some(Term::from_field_u64(field, u64::from(*c))),
            StatusFilter::Class(_) => None,
        })
        .collect();
    if !codes.is_empty() {
        clauses.push(Box::new(TermSetQuery::new(codes)));
    }
    for s in status {
        if let StatusFilter::Class(class) = s {
            let low = u64::from(*class) * 100;
            clauses.push(Box::new(RangeQuery::new(
                Bound::Included(Term::from_field_u64(field, low)),
                Bound::Excluded(Term::from_field_u64(field, low + 100)),
            )));
        }
    }
    any_of(clauses)
}

/// The smallest byte string greater than every string starting with `prefix` (`None`: no bound).
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = prefix.to_vec();
    while let Some(last) = bytes.pop() {
        if last < u8::MAX {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

fn prefix_clause(field: Field, prefix: &str) -> Box<dyn Query> {
    // A text term's value is its UTF-8 bytes; the successor may not be UTF-8, which a bound allows.
    let upper = match prefix_successor(prefix.as_bytes()) {
        Some(next) => {
            let mut term = Term::from_field_text(field, "");
            term.append_bytes(&next);
            Bound::Excluded(term)
        }
        None => Bound::Unbounded,
    };
    Box::new(RangeQuery::new(Bound::Included(Term::from_field_text(field, prefix)), upper))
}

/// The first and last address of a block, as `client_ip` terms.
fn ip_bounds(net: &IpNet) -> (String, String) {
    let (first, last): (IpAddr, IpAddr) = (net.network(), net.broadcast());
    (ip_key(first), ip_key(last))
}

/// A range on the `client_ip` column (the field has no inverted index).
fn ip_clause(field: Field, net: &IpNet) -> Box<dyn Query> {
    let (first, last) = ip_bounds(net);
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_text(field, &first)),
        Bound::Included(Term::from_field_text(field, &last)),
    ))
}

fn free_text(field: Field, q: &str) -> Box<dyn Query> {
    let mut words = tokens(q);
    words.sort();
    words.dedup();
    if words.is_empty() {
        return Box::new(EmptyQuery);
    }
    let clauses: Vec<Box<dyn Query>> = words
        .iter()
        .map(|w| Box::new(TermQuery::new(Term::from_field_text(field, w), IndexRecordOption::Basic)) as Box<dyn Query>)
        .collect();
    all_of(clauses).expect("at least one word")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_millis_rounds_up_partial_milliseconds_only() {
        assert_eq!(ceil_millis(chrono::DateTime::from_timestamp(1_000, 0).unwrap()), 1_000_000);
        assert_eq!(ceil_millis(chrono::DateTime::from_timestamp(1_000, 1).unwrap()), 1_000_001);
        assert_eq!(ceil_millis(chrono::DateTime::from_timestamp(1_000, 2_000_000).unwrap()), 1_000_002);
        assert_eq!(ceil_millis(chrono::DateTime::from_timestamp(-1, 500_000).unwrap()), -999);
    }

    #[test]
    fn prefix_successors() {
        assert_eq!(prefix_successor(b"/blog/"), Some(b"/blog0".to_vec()));
        assert_eq!(prefix_successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(prefix_successor(b"\xff\xff"), None);
        assert_eq!(prefix_successor(b""), None);
    }

    #[test]
    fn ip_blocks_span_their_addresses() {
        let net: IpNet = "66.249.0.0/16".parse().unwrap();
        let (first, last) = ip_bounds(&net);
        assert_eq!(first, ip_key("66.249.0.0".parse().unwrap()));
        assert_eq!(last, ip_key("66.249.255.255".parse().unwrap()));
        let single: IpNet = "10.1.2.3/32".parse().unwrap();
        let (a, b) = ip_bounds(&single);
        assert_eq!(a, b);
        // A host address inside a block (not truncated by the caller) still spans the whole block.
        let loose: IpNet = "10.1.2.3/8".parse().unwrap();
        assert_eq!(ip_bounds(&loose).0, ip_key("10.0.0.0".parse().unwrap()));
    }
}
