//! Search pages: the request DSL, the opaque cursor and turning hits into [`StoredDoc`]s.
//!
//! Paging goes past `index.max_result_window` (10,000) with `search_after` on a total order: the
//! timestamp (in the requested direction) then the id in the same direction, as the embedded store
//! orders. OpenSearch 2.19 has no `_shard_doc` sort, and `_doc` is not unique across shards. The id is
//! sorted as `event.id`, a keyword with doc values that firesight writes into every document, when every
//! document the search matches has one ([`Tiebreak`]); otherwise (documents written before, indices of
//! another shape) as `_id`, whose field data OpenSearch builds in its heap for every segment searched
//! (9-18 bytes a document, kept until evicted; its use is allowed by default,
//! `indices.id_field_data.enabled`). Newest first, pages follow the indices' sort and stop early either
//! way; oldest first, `event.id` sorts more slowly than cached `_id` field data (BENCHMARKS.md).
//!
//! Each page is a plain search for `size + 1` hits (the extra one only tells whether another page
//! exists); the cursor is the last hit's sort values and nothing is held on the cluster between pages.
//! Ids are deterministic and every document has one place in the order, so a cursor never skips or
//! repeats a document that existed when the first page was read; documents that arrive meanwhile show
//! up when they sort after the cursor. A cursor never expires, and reusing one reads the same page.
//!
//! There is deliberately no point in time (PIT): OpenSearch holds one reader context per shard for
//! each, and `search.max_open_pit_context` (300 a node) counts those. Over daily indices a month of
//! logs is 30 contexts a first page, so ten clients paging would refuse every further search for the
//! keep-alive's length, theirs and anyone else's on the cluster.

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::fields::{Field, FieldMap};
use super::filters::filter_dsl;
use crate::document::{Destination, Device, Geo, GeoPoint, LogDocument, Os, UserAgent};
use crate::query::model::{Order, Query, StoredDoc};
use crate::store::StoreError;

/// The continuation of a search: after which sort values, in which order, ties by which field.
/// Opaque to clients: base64url (no padding) of this JSON. Cursors written when pages read a point in
/// time also carry a `pit`; it is ignored, so they go on working (by `_id`, as then).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub search_after: Vec<Value>,
    pub order: Order,
    #[serde(default)]
    pub tie: Tiebreak,
}

/// The field that orders hits of the same millisecond: both hold firesight's id, in the same order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Tiebreak {
    /// `_id`, sorted through its field data.
    #[default]
    #[serde(rename = "_id")]
    Id,
    /// `event.id`, sorted through doc values.
    #[serde(rename = "event.id")]
    EventId,
}

impl Tiebreak {
    pub fn field(self) -> &'static str {
        match self {
            Tiebreak::Id => "_id",
            Tiebreak::EventId => "event.id",
        }
    }
}

/// A search for one document the query matches without `event.id`: none found, the id can be sorted
/// from doc values ([`Tiebreak::EventId`]). `terminate_after` stops each shard at its first.
pub fn without_event_id_dsl(query: &Query, fields: &FieldMap) -> Result<Value, StoreError> {
    Ok(json!({
        "size": 0,
        "terminate_after": 1,
        "track_total_hits": true,
        "query": { "bool": {
            "filter": [filter_dsl(query, fields)?],
            "must_not": [{ "exists": { "field": "event.id" } }]
        }}
    }))
}

impl Cursor {
    pub fn encode(&self) -> String {
        crate::store::encode_cursor(self)
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let cursor: Cursor = crate::store::decode_cursor(text)?;
        let well_formed = matches!(cursor.search_after.as_slice(), [Value::Number(_), Value::String(_)]);
        if well_formed { Ok(cursor) } else { Err(crate::store::invalid_cursor()) }
    }
}

fn direction(order: Order) -> &'static str {
    match order {
        Order::Desc => "desc",
        Order::Asc => "asc",
    }
}

/// One page of `size + 1` hits (the extra one only tells whether another page exists), ties by `tie`.
pub fn search_dsl(
    query: &Query,
    order: Order,
    size: u32,
    cursor: Option<&Cursor>,
    tie: Tiebreak,
    fields: &FieldMap,
) -> Result<Value, StoreError> {
    let ts = fields.require(Field::Timestamp)?;
    let dir = direction(order);
    let mut body = json!({
        "size": size + 1,
        "query": filter_dsl(query, fields)?,
        "sort": [
            // `numeric_type: date` keeps sort values in milliseconds even over date_nanos fields.
            { ts: { "order": dir, "numeric_type": "date" } },
            { tie.field(): { "order": dir } }
        ],
        "track_total_hits": false
    });
    if let Some(cursor) = cursor {
        body["search_after"] = Value::Array(cursor.search_after.clone());
    }
    Ok(body)
}

/// The hits of a page: the documents (at most `size`) and, when more hits follow, the last returned
/// hit's sort values.
pub fn parse_hits(
    answer: &Value,
    size: u32,
    fields: &FieldMap,
) -> Result<(Vec<StoredDoc>, Option<Vec<Value>>), StoreError> {
    let hits = answer
        .pointer("/hits/hits")
        .and_then(Value::as_array)
        .ok_or_else(|| StoreError::Protocol("search answer without hits.hits".into()))?;
    let size = size as usize;
    let page = &hits[..hits.len().min(size)];
    let items = page.iter().map(|hit| stored_doc(hit, fields)).collect::<Result<Vec<_>, _>>()?;
    let next = if hits.len() > size {
        let sort = page
            .last()
            .and_then(|h| h.get("sort"))
            .and_then(Value::as_array)
            .ok_or_else(|| StoreError::Protocol("search hit without sort values".into()))?;
        Some(sort.clone())
    } else {
        None
    };
    Ok((items, next))
}

/// A hit as the canonical document: firesight's own documents deserialise as they are; any other shape
/// (a foreign index, a document a user's Lambda bent) is mapped field by field through the field map,
/// with the whole `_source` kept under `extra._source`. Never fails on the document's content.
pub fn stored_doc(hit: &Value, fields: &FieldMap) -> Result<StoredDoc, StoreError> {
    let id = hit
        .get("_id")
        .and_then(Value::as_str)
        .ok_or_else(|| StoreError::Protocol("search hit without _id".into()))?
        .to_owned();
    let empty = Value::Object(Map::new());
    let source = hit.get("_source").unwrap_or(&empty);
    if let Ok(mut doc) = LogDocument::deserialize(source) {
        // A time-series collection keeps firesight's id in the document, not as `_id`.
        let id = match doc.event.id.take() {
            // Written beside `_id` for the search order only: the document is as it was given.
            Some(own) if own == id => own,
            Some(other) => {
                doc.event.id = Some(other.clone());
                other
            }
            None => id,
        };
        return Ok(StoredDoc { id, doc });
    }
    let sort_millis = hit.pointer("/sort/0").and_then(Value::as_i64);
    Ok(StoredDoc { id, doc: foreign_doc(source, sort_millis, fields) })
}

/// Maps what the field map names from a document of another shape.
pub fn foreign_doc(source: &Value, sort_millis: Option<i64>, fields: &FieldMap) -> LogDocument {
    let get = |field: Field| fields.get(field).and_then(|name| lookup(source, name));
    let text = |field: Field| get(field).and_then(scalar_text);
    let mut doc = LogDocument {
        timestamp: sort_millis
            .and_then(DateTime::from_timestamp_millis)
            .or_else(|| get(Field::Timestamp).and_then(parse_time))
            .unwrap_or_default(),
        ..LogDocument::default()
    };
    doc.source.ip = text(Field::ClientIp).and_then(|s| s.trim().parse::<IpAddr>().ok());
    let country = text(Field::Country);
    let country_name = text(Field::CountryName);
    let city = text(Field::City);
    let location = get(Field::Location).and_then(geo_point);
    if country.is_some() || country_name.is_some() || city.is_some() || location.is_some() {
        doc.source.geo = Some(Arc::new(Geo {
            country_iso_code: country,
            country_name,
            city_name: city,
            location,
            ..Geo::default()
        }));
    }
    let status = get(Field::Status).and_then(as_u64).and_then(|s| u16::try_from(s).ok());
    doc.http.response.status_code = status;
    doc.http.response.body.bytes = get(Field::Bytes).and_then(as_u64);
    doc.http.request.method = text(Field::Method).map(Cow::Owned);
    doc.url.path = text(Field::Path);
    let agent = UserAgent {
        original: text(Field::UserAgent),
        name: text(Field::Browser).map(Arc::from),
        version: None,
        os: text(Field::Os).map(|name| Arc::new(Os { name: Some(name), ..Os::default() })),
        device: text(Field::Device).map(|name| Arc::new(Device { name: Some(name) })),
    };
    if agent != UserAgent::default() {
        doc.user_agent = Some(agent);
    }
    doc.firesight.status_class = status.and_then(LogDocument::status_class);
    doc.firesight.referrer_host = text(Field::ReferrerHost);
    doc.firesight.bot = get(Field::Bot).and_then(|v| match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    doc.firesight.visitor = text(Field::Visitor);
    doc.event.duration = get(Field::Duration).and_then(as_u64);
    if let Some(domain) = text(Field::Vhost) {
        doc.destination = Some(Destination { domain: Some(domain), port: None });
    }
    doc.extra.insert("_source".to_owned(), source.clone());
    doc
}

/// A field of `_source` by its dotted name: flat keys (`"a.b": 1`), nested objects (`{"a": {"b": 1}}`)
/// or any mix. A multi-field name (`response.keyword`) falls back to its parent's value.
fn lookup<'a>(source: &'a Value, path: &str) -> Option<&'a Value> {
    fn walk<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
        let obj = v.as_object()?;
        if let Some(found) = obj.get(path) {
            return Some(found);
        }
        path.match_indices('.').find_map(|(i, _)| walk(obj.get(&path[..i])?, &path[i + 1..]))
    }
    walk(source, path).filter(|v| !v.is_null()).or_else(|| {
        let (parent, _) = path.rsplit_once('.')?;
        walk(source, parent).filter(|v| !v.is_object() && !v.is_null())
    })
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s != "-" => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Array(items) => items.first().and_then(scalar_text),
        _ => None,
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) if s.trim() == "-" => Some(0),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::Number(n) => DateTime::from_timestamp_millis(n.as_i64()?),
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .or_else(|_| DateTime::parse_from_str(s, "%d/%b/%Y:%H:%M:%S %z"))
            .ok()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| DateTime::from_timestamp_millis(s.parse().ok()?)),
        _ => None,
    }
}

fn geo_point(v: &Value) -> Option<GeoPoint> {
    match v {
        Value::Object(o) => Some(GeoPoint { lat: o.get("lat")?.as_f64()?, lon: o.get("lon")?.as_f64()? }),
        Value::String(s) => {
            let (lat, lon) = s.split_once(',')?;
            Some(GeoPoint { lat: lat.trim().parse().ok()?, lon: lon.trim().parse().ok()? })
        }
        Value::Array(a) if a.len() >= 2 => Some(GeoPoint { lon: a[0].as_f64()?, lat: a[1].as_f64()? }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let cursor = Cursor {
            search_after: vec![json!(1_700_000_000_000i64), json!("id1")],
            order: Order::Asc,
            tie: Tiebreak::Id,
        };
        let text = cursor.encode();
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{text}");
        assert_eq!(Cursor::decode(&text).unwrap(), cursor);
        let by_event_id = Cursor { tie: Tiebreak::EventId, ..cursor.clone() };
        assert_eq!(Cursor::decode(&by_event_id.encode()).unwrap(), by_event_id);
        // A cursor written while pages read a point in time still reads on, without it.
        let with_pit = URL_SAFE_NO_PAD.encode(br#"{"pit":"abc==","search_after":[1700000000000,"id1"],"order":"Asc"}"#);
        assert_eq!(Cursor::decode(&with_pit).unwrap(), cursor);
        let embedded_shaped = URL_SAFE_NO_PAD.encode(br#"{"ts":1,"id":"a","order":"Asc"}"#);
        for bad in
            ["", "!!!", "e30", &URL_SAFE_NO_PAD.encode(br#"{"search_after":[1],"order":"Asc"}"#), &embedded_shaped]
        {
            assert!(matches!(Cursor::decode(bad), Err(StoreError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn lookup_handles_flat_nested_and_multi_field_names() {
        let source = json!({ "a": { "b": 1 }, "c.d": "x", "e": { "f.g": true }, "response": "404" });
        assert_eq!(lookup(&source, "a.b"), Some(&json!(1)));
        assert_eq!(lookup(&source, "c.d"), Some(&json!("x")));
        assert_eq!(lookup(&source, "e.f.g"), Some(&json!(true)));
        assert_eq!(lookup(&source, "response.keyword"), Some(&json!("404")));
        assert_eq!(lookup(&source, "a"), Some(&json!({ "b": 1 })));
        assert_eq!(lookup(&source, "a.keyword"), None);
        assert_eq!(lookup(&source, "zz"), None);
    }
}
