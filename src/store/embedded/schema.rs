//! The tantivy schema of a day partition: the canonical document kept whole (stored JSON, returned by
//! searches) plus one indexed and/or columnar ("fast") field per dimension the read path filters,
//! groups or sorts on. Field semantics mirror the OpenSearch mapping (`store::opensearch::mapping`):
//!
//! - keywords have a fast column (`raw`), and those filtered on with term queries are also indexed
//!   untokenized; like `keyword` fields with `ignore_above`, a value longer than the limit (in
//!   characters) is neither indexed nor aggregated; the id, the client IP, the visitor key, the
//!   country name and the status class are columns only (filters on the client IP are column ranges);
//! - `ts` is the timestamp in epoch milliseconds (floor), the precision of an OpenSearch `date`;
//! - `client_ip` is the address as 32 hex digits of its IPv6 form (IPv4 mapped), so that the term
//!   order is the address order (`ip` fields sort that way) and a CIDR block is a term range;
//! - `text` holds `url.path`, `url.original` and `user_agent.original` through `tokenizer::StandardTokenizer`, a
//!   close reading of the Unicode word-break rules of OpenSearch's `standard` analyser, so that free text
//!   (`q`) matches what `multi_match` over the three `.text` sub-fields matches;
//! - `duration` (`event.duration`, nanoseconds) and `vhost` (`destination.domain`) come next: partitions
//!   created before them lack both ([`Layout::timing`]) and are written without them;
//! - `crawler` and `crawler_category` (`firesight.crawler.*`) come last: partitions created before
//!   them lack both ([`Layout::crawler`]); a crawler filter matches nothing there.

use std::net::{IpAddr, Ipv6Addr};

use tantivy::TantivyDocument;
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, STORED, Schema, TextFieldIndexing, TextOptions};

use super::tokenizer::ANALYZER;
use crate::document::LogDocument;

/// `ignore_above` of the OpenSearch mapping's keyword fields.
const KEYWORD_LIMIT: usize = 1024;
const PATH_LIMIT: usize = 4096;

/// Field names, also the names of their fast-field columns.
pub mod name {
    pub const ID: &str = "id";
    pub const TS: &str = "ts";
    pub const CLIENT_IP: &str = "client_ip";
    pub const STATUS: &str = "status";
    pub const BYTES: &str = "bytes";
    pub const BOT: &str = "bot";
    pub const METHOD: &str = "method";
    pub const PATH: &str = "path";
    pub const REFERRER_HOST: &str = "referrer_host";
    pub const COUNTRY: &str = "country";
    pub const COUNTRY_NAME: &str = "country_name";
    pub const CITY: &str = "city";
    pub const BROWSER: &str = "browser";
    pub const OS: &str = "os";
    pub const DEVICE: &str = "device";
    pub const VISITOR: &str = "visitor";
    pub const STATUS_CLASS: &str = "status_class";
    pub const LAT: &str = "lat";
    pub const LON: &str = "lon";
    pub const TEXT: &str = "text";
    pub const DOC: &str = "doc";
    pub const DURATION: &str = "duration";
    pub const VHOST: &str = "vhost";
    pub const CRAWLER: &str = "crawler";
    pub const CRAWLER_CATEGORY: &str = "crawler_category";
}

/// Handles of every field of [`schema`].
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub ts: Field,
    pub client_ip: Field,
    pub status: Field,
    pub bytes: Field,
    pub bot: Field,
    pub method: Field,
    pub path: Field,
    pub referrer_host: Field,
    pub country: Field,
    pub country_name: Field,
    pub city: Field,
    pub browser: Field,
    pub os: Field,
    pub device: Field,
    pub visitor: Field,
    pub status_class: Field,
    pub lat: Field,
    pub lon: Field,
    pub text: Field,
    pub doc: Field,
    pub duration: Field,
    pub vhost: Field,
    pub crawler: Field,
    pub crawler_category: Field,
}

/// A keyword only aggregated or sorted on: a fast column, no inverted index (its term dictionary is
/// the column's). Cheaper to write, which matters for high-cardinality values (ids, addresses,
/// visitor keys).
fn column_only() -> TextOptions {
    TextOptions::default().set_fast("raw")
}

/// A keyword also filtered on with term queries: indexed untokenized, plus a fast column.
fn keyword() -> TextOptions {
    TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
        .set_fast("raw")
}

/// The schema every day partition is created with.
pub fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fast = || NumericOptions::default().set_fast();
    let fields = Fields {
        id: b.add_text_field(name::ID, column_only()),
        ts: b.add_i64_field(name::TS, fast()),
        client_ip: b.add_text_field(name::CLIENT_IP, column_only()),
        status: b.add_u64_field(name::STATUS, fast().set_indexed()),
        bytes: b.add_u64_field(name::BYTES, fast()),
        bot: b.add_bool_field(name::BOT, fast().set_indexed()),
        method: b.add_text_field(name::METHOD, keyword()),
        path: b.add_text_field(name::PATH, keyword()),
        referrer_host: b.add_text_field(name::REFERRER_HOST, keyword()),
        country: b.add_text_field(name::COUNTRY, keyword()),
        country_name: b.add_text_field(name::COUNTRY_NAME, column_only()),
        city: b.add_text_field(name::CITY, keyword()),
        browser: b.add_text_field(name::BROWSER, keyword()),
        os: b.add_text_field(name::OS, keyword()),
        device: b.add_text_field(name::DEVICE, keyword()),
        visitor: b.add_text_field(name::VISITOR, column_only()),
        status_class: b.add_text_field(name::STATUS_CLASS, column_only()),
        lat: b.add_f64_field(name::LAT, fast()),
        lon: b.add_f64_field(name::LON, fast()),
        text: b.add_text_field(
            name::TEXT,
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            ),
        ),
        // Stored as text, not bytes: tantivy's document store writes and reads a bytes value one byte at
        // a time, a string in one copy (a fifth of the indexing thread's time went to the former).
        doc: b.add_text_field(name::DOC, STORED),
        duration: b.add_u64_field(name::DURATION, fast()),
        vhost: b.add_text_field(name::VHOST, keyword()),
        crawler: b.add_text_field(name::CRAWLER, keyword()),
        crawler_category: b.add_text_field(name::CRAWLER_CATEGORY, keyword()),
    };
    (b.build(), fields)
}

/// Epoch milliseconds, floored: what an OpenSearch `date` field keeps of a timestamp.
pub fn millis(t: &chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// The `client_ip` term of an address: 32 lower-case hex digits of its 16-byte IPv6 form.
pub fn ip_key(ip: IpAddr) -> String {
    let v6 = match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    format!("{:032x}", u128::from(v6))
}

/// The address of a `client_ip` term, as OpenSearch shows it (IPv4-mapped addresses as IPv4).
pub fn ip_from_key(key: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(key).ok()?;
    let bits = u128::from_str_radix(text, 16).ok()?;
    Some(Ipv6Addr::from(bits).to_canonical())
}

/// The value a keyword field indexes, `None` above `ignore_above` characters.
fn within(value: Option<&str>, limit: usize) -> Option<&str> {
    value.filter(|v| v.len() <= limit || v.chars().count() <= limit)
}

/// How a partition stores the whole document: as text, or as bytes (partitions created before the
/// text field; read and written the same way, in their own type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Text,
    Bytes,
}

impl Stored {
    /// The layout of an index's schema.
    pub fn of(schema: &Schema) -> Stored {
        match schema.get_field(name::DOC).map(|f| schema.get_field_entry(f).field_type()) {
            Ok(tantivy::schema::FieldType::Bytes(_)) => Stored::Bytes,
            _ => Stored::Text,
        }
    }
}

/// A partition's layout: how it stores the document, whether it has `duration` and `vhost`, whether
/// it has `crawler` and `crawler_category`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub stored: Stored,
    pub timing: bool,
    pub crawler: bool,
}

impl Layout {
    pub const CURRENT: Layout = Layout { stored: Stored::Text, timing: true, crawler: true };

    pub fn of(schema: &Schema) -> Layout {
        Layout {
            stored: Stored::of(schema),
            timing: schema.get_field(name::DURATION).is_ok(),
            crawler: schema.get_field(name::CRAWLER).is_ok(),
        }
    }
}

/// `schema` without `duration`, `vhost` and the crawler fields: the schema of partitions created
/// before them.
pub fn untimed_layout(schema: &Schema) -> Schema {
    without(schema, &[name::DURATION, name::VHOST, name::CRAWLER, name::CRAWLER_CATEGORY])
}

/// `schema` without the crawler fields: the schema of partitions created before them.
pub fn crawlerless_layout(schema: &Schema) -> Schema {
    without(schema, &[name::CRAWLER, name::CRAWLER_CATEGORY])
}

fn without(schema: &Schema, names: &[&str]) -> Schema {
    let mut b = Schema::builder();
    for (_, entry) in schema.fields().filter(|(_, e)| !names.contains(&e.name())) {
        b.add_field(entry.clone());
    }
    b.build()
}

/// `schema` with the whole document in a stored bytes field: the schema of partitions created before
/// it was stored as text.
pub fn bytes_layout(schema: &Schema) -> Schema {
    let mut b = Schema::builder();
    for (_, entry) in schema.fields() {
        if entry.name() == name::DOC {
            b.add_bytes_field(name::DOC, tantivy::schema::BytesOptions::default() | STORED);
        } else {
            b.add_field(entry.clone());
        }
    }
    b.build()
}

/// The stored JSON of a document read back, whichever [`Stored`] layout its partition has.
pub fn stored_json<'a>(doc: &'a TantivyDocument, f: &Fields) -> Option<&'a [u8]> {
    use tantivy::schema::Value as _;
    let value = doc.get_first(f.doc)?;
    value.as_str().map(str::as_bytes).or_else(|| value.as_bytes())
}

/// The tantivy document of one canonical document, for a partition of `layout`. `json` is a scratch
/// buffer.
pub fn to_document(f: &Fields, id: &str, doc: &LogDocument, layout: Layout, json: &mut Vec<u8>) -> TantivyDocument {
    // tantivy's capacity is in bytes of values: the buffer grows to the document's size (about 2 KiB).
    // Sizing it from the JSON first measured no faster (BENCHMARKS.md, "Memory, second pass").
    let mut d = TantivyDocument::with_capacity(32);
    d.add_text(f.id, id);
    d.add_i64(f.ts, millis(&doc.timestamp));
    if let Some(ip) = doc.source.ip {
        d.add_text(f.client_ip, ip_key(ip));
    }
    let response = &doc.http.response;
    if let Some(status) = response.status_code {
        d.add_u64(f.status, u64::from(status));
    }
    if let Some(bytes) = response.body.bytes {
        d.add_u64(f.bytes, bytes);
    }
    if let Some(bot) = doc.firesight.bot {
        d.add_bool(f.bot, bot);
    }
    let mut keyword = |field: Field, value: Option<&str>, limit: usize| {
        if let Some(v) = within(value, limit) {
            d.add_text(field, v);
        }
    };
    keyword(f.method, doc.http.request.method.as_deref(), KEYWORD_LIMIT);
    keyword(f.path, doc.url.path.as_deref(), PATH_LIMIT);
    keyword(f.referrer_host, doc.firesight.referrer_host.as_deref(), KEYWORD_LIMIT);
    keyword(f.visitor, doc.firesight.visitor.as_deref(), KEYWORD_LIMIT);
    keyword(f.status_class, doc.firesight.status_class.as_deref(), KEYWORD_LIMIT);
    let geo = doc.source.geo.as_ref();
    keyword(f.country, geo.and_then(|g| g.country_iso_code.as_deref()), KEYWORD_LIMIT);
    keyword(f.country_name, geo.and_then(|g| g.country_name.as_deref()), KEYWORD_LIMIT);
    keyword(f.city, geo.and_then(|g| g.city_name.as_deref()), KEYWORD_LIMIT);
    let agent = doc.user_agent.as_ref();
    keyword(f.browser, agent.and_then(|a| a.name.as_deref()), KEYWORD_LIMIT);
    keyword(f.os, agent.and_then(|a| a.os.as_ref()?.name.as_deref()), KEYWORD_LIMIT);
    keyword(f.device, agent.and_then(|a| a.device.as_ref()?.name.as_deref()), KEYWORD_LIMIT);
    if layout.crawler {
        let crawler = doc.firesight.crawler.as_deref();
        keyword(f.crawler, crawler.and_then(|c| c.name.as_deref()), KEYWORD_LIMIT);
        keyword(f.crawler_category, crawler.and_then(|c| c.category.as_deref()), KEYWORD_LIMIT);
    }
    if layout.timing {
        keyword(f.vhost, doc.destination.as_ref().and_then(|d| d.domain.as_deref()), KEYWORD_LIMIT);
        if let Some(duration) = doc.event.duration {
            d.add_u64(f.duration, duration);
        }
    }
    if let Some(location) = geo.and_then(|g| g.location) {
        d.add_f64(f.lat, location.lat);
        d.add_f64(f.lon, location.lon);
    }
    // `url.original` is the path plus `?query` in nearly every line; its words then include the path's
    // (`?` separates words), and the field keeps no frequencies, so the path is tokenised only when
    // the original does not start with it.
    let original = doc.url.original.as_deref();
    let path = doc.url.path.as_deref().filter(|p| {
        !original.is_some_and(|o| o.strip_prefix(*p).is_some_and(|rest| rest.is_empty() || rest.starts_with('?')))
    });
    for text in [path, original, agent.and_then(|a| a.original.as_deref())].into_iter().flatten() {
        d.add_text(f.text, text);
    }
    json.clear();
    serde_json::to_writer(&mut *json, doc).expect("documents serialise");
    match layout.stored {
        Stored::Text => d.add_text(f.doc, std::str::from_utf8(json).expect("JSON is UTF-8")),
        Stored::Bytes => d.add_bytes(f.doc, json),
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_keys_sort_in_address_order_and_round_trip() {
        let ips: Vec<IpAddr> = ["10.0.0.2", "9.255.255.255", "::1", "2001:db8::1", "255.0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let mut by_key = ips.clone();
        by_key.sort_by_key(|ip| ip_key(*ip));
        let mut by_address: Vec<Ipv6Addr> = ips
            .iter()
            .map(|ip| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => *v6,
            })
            .collect();
        by_address.sort();
        assert_eq!(
            by_key.iter().map(|ip| ip_key(*ip)).collect::<Vec<_>>(),
            by_address.iter().map(|v6| ip_key(IpAddr::V6(*v6))).collect::<Vec<_>>()
        );
        for ip in ips {
            assert_eq!(ip_from_key(ip_key(ip).as_bytes()), Some(ip));
        }
        // An IPv4-mapped IPv6 address is the IPv4 address, as in OpenSearch.
        let mapped: IpAddr = "::ffff:1.2.3.4".parse().unwrap();
        assert_eq!(ip_from_key(ip_key(mapped).as_bytes()).unwrap().to_string(), "1.2.3.4");
    }

    #[test]
    fn duration_and_vhost_are_columns_where_the_partition_has_them() {
        use tantivy::schema::Value as _;
        let (_, f) = schema();
        let mut doc = LogDocument::default();
        doc.event.duration = Some(52_000_000);
        doc.destination = Some(crate::document::Destination { domain: Some("shop.example".into()), port: Some(443) });
        let d = to_document(&f, "x", &doc, Layout::CURRENT, &mut Vec::new());
        assert_eq!(d.get_first(f.duration).and_then(|v| v.as_u64()), Some(52_000_000));
        assert_eq!(d.get_first(f.vhost).and_then(|v| v.as_str()), Some("shop.example"));
        let old = Layout { stored: Stored::Text, timing: false, crawler: false };
        let old = to_document(&f, "x", &doc, old, &mut Vec::new());
        assert!(old.get_first(f.duration).is_none() && old.get_first(f.vhost).is_none());
    }

    #[test]
    fn crawler_fields_are_keywords_where_the_partition_has_them() {
        use tantivy::schema::Value as _;
        let (_, f) = schema();
        let mut doc = LogDocument::default();
        let crawler = crate::document::Crawler { name: Some("GPTBot".into()), category: Some("ai".into()) };
        doc.firesight.crawler = Some(std::sync::Arc::new(crawler));
        let d = to_document(&f, "x", &doc, Layout::CURRENT, &mut Vec::new());
        assert_eq!(d.get_first(f.crawler).and_then(|v| v.as_str()), Some("GPTBot"));
        assert_eq!(d.get_first(f.crawler_category).and_then(|v| v.as_str()), Some("ai"));
        let old = to_document(&f, "x", &doc, Layout { crawler: false, ..Layout::CURRENT }, &mut Vec::new());
        assert!(old.get_first(f.crawler).is_none() && old.get_first(f.crawler_category).is_none());
        assert_eq!(Layout::of(&crawlerless_layout(&schema().0)), Layout { crawler: false, ..Layout::CURRENT });
    }

    #[test]
    fn long_keywords_are_not_indexed() {
        assert_eq!(within(Some("abc"), 3), Some("abc"));
        assert_eq!(within(Some("abcd"), 3), None);
        assert_eq!(within(Some("ééé"), 3), Some("ééé"), "characters, not bytes");
        assert_eq!(within(None, 3), None);
    }
}
