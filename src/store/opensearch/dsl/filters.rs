//! [`Query`] (time range + filters) → an OpenSearch `bool` query whose every clause is a `filter`
//! (no scoring, cacheable). Values within one field are ORed, fields are ANDed, exactly as
//! [`crate::query::model::Filters`] documents.
//!
//! Choices worth knowing:
//! - **Time**: `range` on the timestamp field, `gte from` / `lt to` in `epoch_millis`. Bounds are rounded
//!   *up* to the millisecond, which keeps `[from, to)` exact for millisecond-precision `date` fields.
//! - **Status classes** are `range` queries with string bounds (`"400" <= status < "500"`). On a numeric
//!   field OpenSearch parses the bounds as numbers; on a keyword field (Kinesis Agent's `response` is a
//!   string) the comparison is lexicographic, which is the same thing for three-digit codes. So classes
//!   work from the status field alone, whatever its type, without `firesight.status_class`. Codes are a
//!   `terms` query, which accepts numbers on keyword fields too.
//! - **Client IPs**: a `terms` query; on an `ip` field each value may be a CIDR block. A single address
//!   (`/32`, `/128`) is sent bare so that it also matches a keyword field exactly.
//! - **Free text (`q`)** is never parsed as query syntax: on firesight's indices a `multi_match`
//!   (`cross_fields`, `operator: and`) over the analysed sub-fields `url.path.text`, `url.original.text`
//!   and `user_agent.original.text` (every word must occur, in any of them; `multi_match` has no
//!   operators, wildcards or field syntax to inject). Where the field map renames the path or user-agent
//!   field (a foreign index, keyword fields without an analysed sub-field), a case-insensitive
//!   `wildcard` `*text*` on each, with `*`, `?` and `\` escaped: a substring match.
//! - **Bot**: `true` is a `term`; `false` also matches documents without the field.

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Value, json};

use super::fields::{Field, FieldMap};
use crate::query::model::{Filters, Query, StatusFilter, TimeRange};
use crate::store::StoreError;

/// The whole query (`{"bool": {"filter": [...]}}`) of a request's time range and filters.
pub fn filter_dsl(query: &Query, fields: &FieldMap) -> Result<Value, StoreError> {
    let mut clauses = vec![time_range(&query.range, fields)?];
    clauses.extend(filter_clauses(&query.filters, fields)?);
    Ok(json!({ "bool": { "filter": clauses } }))
}

pub(crate) use crate::store::ceil_millis;

fn time_range(range: &TimeRange, fields: &FieldMap) -> Result<Value, StoreError> {
    let ts = fields.require(Field::Timestamp)?;
    Ok(json!({ "range": { ts: {
        "gte": ceil_millis(range.from),
        "lt": ceil_millis(range.to),
        "format": "epoch_millis"
    }}}))
}

fn filter_clauses(filters: &Filters, fields: &FieldMap) -> Result<Vec<Value>, StoreError> {
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
    let mut out = Vec::new();
    if !status.is_empty() {
        out.push(status_clause(status, fields.require(Field::Status)?));
    }
    for (field, values) in [(Field::Method, method), (Field::Path, path)] {
        if !values.is_empty() {
            out.push(json!({ "terms": { fields.require(field)?: values } }));
        }
    }
    if let Some(prefix) = path_prefix {
        out.push(json!({ "prefix": { fields.require(Field::Path)?: { "value": prefix } } }));
    }
    for (field, values) in [
        (Field::Country, country),
        (Field::City, city),
        (Field::Browser, browser),
        (Field::Os, os),
        (Field::Device, device),
        (Field::ReferrerHost, referrer_host),
        (Field::Crawler, crawler),
        (Field::CrawlerCategory, crawler_category),
        (Field::Vhost, vhost),
    ] {
        if !values.is_empty() {
            out.push(json!({ "terms": { fields.require(field)?: values } }));
        }
    }
    if !client_ip.is_empty() {
        let values: Vec<String> = client_ip.iter().map(ip_value).collect();
        out.push(json!({ "terms": { fields.require(Field::ClientIp)?: values } }));
    }
    if let Some(bot) = bot {
        let field = fields.require(Field::Bot)?;
        out.push(if *bot {
            json!({ "term": { field: true } })
        } else {
            any_of(vec![
                json!({ "term": { field: false } }),
                json!({ "bool": { "must_not": [{ "exists": { "field": field } }] } }),
            ])
        });
    }
    if let Some(q) = q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        out.push(free_text(q, fields)?);
    }
    Ok(out)
}

/// `bool.should` with at least one match; a single clause stands alone.
fn any_of(mut clauses: Vec<Value>) -> Value {
    if clauses.len() == 1 {
        return clauses.remove(0);
    }
    json!({ "bool": { "should": clauses, "minimum_should_match": 1 } })
}

fn status_clause(status: &[StatusFilter], field: &str) -> Value {
    let codes: Vec<u16> = status
        .iter()
        .filter_map(|s| match s {
            StatusFilter::Code(c) => Some(*c),
            StatusFilter::Class(_) => None,
        })
        .collect();
    let mut clauses = Vec::new();
    if !codes.is_empty() {
        clauses.push(json!({ "terms": { field: codes } }));
    }
    for s in status {
        if let StatusFilter::Class(class) = s {
            clauses.push(status_class_query(field, *class));
        }
    }
    any_of(clauses)
}

/// Requests whose status is in class `class` (4 → `4xx`), for numeric and keyword status fields alike.
pub fn status_class_query(field: &str, class: u8) -> Value {
    let low = u32::from(class) * 100;
    json!({ "range": { field: { "gte": low.to_string(), "lt": (low + 100).to_string() } } })
}

fn ip_value(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        let addr: IpAddr = net.addr();
        addr.to_string()
    } else {
        net.trunc().to_string()
    }
}

fn free_text(q: &str, fields: &FieldMap) -> Result<Value, StoreError> {
    let mut analysed: Vec<&str> = Vec::new();
    let mut keywords: Vec<&str> = Vec::new();
    if let Some(path) = fields.get(Field::Path) {
        if fields.is_ecs(Field::Path) {
            analysed.extend(["url.path.text", "url.original.text"]);
        } else {
            keywords.push(path);
        }
    }
    if let Some(agent) = fields.get(Field::UserAgent) {
        if fields.is_ecs(Field::UserAgent) {
            analysed.push("user_agent.original.text");
        } else {
            keywords.push(agent);
        }
    }
    if analysed.is_empty() && keywords.is_empty() {
        return Err(StoreError::BadRequest(
            "free-text search needs the path or user_agent field; neither is available in this index".into(),
        ));
    }
    let mut clauses = Vec::new();
    if !analysed.is_empty() {
        clauses.push(json!({ "multi_match": {
            "query": q,
            "fields": analysed,
            "type": "cross_fields",
            "operator": "and"
        }}));
    }
    let pattern = format!("*{}*", escape_wildcard(q));
    for field in keywords {
        clauses.push(json!({ "wildcard": { field: { "value": pattern, "case_insensitive": true } } }));
    }
    Ok(any_of(clauses))
}

fn escape_wildcard(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_millis_rounds_up_partial_milliseconds_only() {
        let t = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(ceil_millis(t), 1_000_000);
        let t = chrono::DateTime::from_timestamp(1_000, 1).unwrap();
        assert_eq!(ceil_millis(t), 1_000_001);
        let t = chrono::DateTime::from_timestamp(1_000, 2_000_000).unwrap();
        assert_eq!(ceil_millis(t), 1_000_002);
    }

    #[test]
    fn wildcard_metacharacters_are_escaped() {
        assert_eq!(escape_wildcard(r"a*b?c\d"), r"a\*b\?c\\d");
    }

    #[test]
    fn single_addresses_are_bare_and_blocks_are_truncated() {
        assert_eq!(ip_value(&"10.1.2.3/32".parse().unwrap()), "10.1.2.3");
        assert_eq!(ip_value(&"10.1.2.3/8".parse().unwrap()), "10.0.0.0/8");
        assert_eq!(ip_value(&"2001:db8::1/128".parse().unwrap()), "2001:db8::1");
        assert_eq!(ip_value(&"2001:db8::1/32".parse().unwrap()), "2001:db8::/32");
    }
}
