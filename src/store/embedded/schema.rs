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
//! - `text` holds `url.path`, `url.original` and `user_agent.original` through [`StandardTokenizer`], a
//!   close reading of the Unicode word-break rules of OpenSearch's `standard` analyser, so that free text
//!   (`q`) matches what `multi_match` over the three `.text` sub-fields matches.

use std::net::{IpAddr, Ipv6Addr};

use tantivy::TantivyDocument;
use tantivy::schema::{Field, IndexRecordOption, NumericOptions, STORED, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

use crate::document::LogDocument;

/// Name under which [`StandardTokenizer`] is registered on every index.
pub const ANALYZER: &str = "firesight_standard";

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

/// The tantivy document of one canonical document, for a partition of layout `stored`. `json` is a
/// scratch buffer.
pub fn to_document(f: &Fields, id: &str, doc: &LogDocument, stored: Stored, json: &mut Vec<u8>) -> TantivyDocument {
    // About 25 values per document (a larger capacity costs an allocation the size of a page, per document).
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
    match stored {
        Stored::Text => d.add_text(f.doc, std::str::from_utf8(json).expect("JSON is UTF-8")),
        Stored::Bytes => d.add_bytes(f.doc, json),
    }
    d
}

// ------------------------------------------------------------------------------------------------
// Free-text analysis

/// Lucene's `standard` tokenizer (Unicode UAX #29 word boundaries) for what access logs contain, plus
/// its lower-case filter: letters, digits and `_` form words; `.` and `'` join letters to letters and
/// digits to digits (`www.google.com`, `5.0`), `:` joins letters (`a:b`), `,` and `;` join digits
/// (`1,000`); everything else separates. Tokens longer than 255 characters are cut, as Lucene does.
#[derive(Clone, Default)]
pub struct StandardTokenizer {
    token: Token,
}

const MAX_TOKEN_CHARS: usize = 255;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    /// `_`: joins anything word-like.
    Extend,
    /// `.` `'`: between two letters or two digits.
    MidNumLet,
    /// `:`: between two letters.
    MidLetter,
    /// `,` `;`: between two digits.
    MidNum,
    Other,
}

fn class(c: char) -> Class {
    match c {
        'a'..='z' | 'A'..='Z' => Class::Letter,
        '0'..='9' => Class::Digit,
        '_' => Class::Extend,
        '.' | '\'' | '\u{2018}' | '\u{2019}' | '\u{2024}' | '\u{FE52}' | '\u{FF07}' | '\u{FF0E}' => Class::MidNumLet,
        ':' | '\u{00B7}' | '\u{0387}' | '\u{05F4}' | '\u{2027}' | '\u{FE13}' | '\u{FE55}' | '\u{FF1A}' => {
            Class::MidLetter
        }
        ',' | ';' | '\u{037E}' | '\u{0589}' | '\u{060C}' | '\u{060D}' | '\u{066C}' | '\u{07F8}' | '\u{2044}'
        | '\u{FE10}' | '\u{FE14}' | '\u{FE50}' | '\u{FE54}' | '\u{FF0C}' | '\u{FF1B}' => Class::MidNum,
        c if c.is_ascii() => Class::Other,
        c if c.is_numeric() => Class::Digit,
        c if c.is_alphabetic() => Class::Letter,
        _ => Class::Other,
    }
}

fn is_word(c: Class) -> bool {
    matches!(c, Class::Letter | Class::Digit | Class::Extend)
}

/// Whether `mid` (between `prev` and `next`) keeps a word going.
fn joins(prev: Class, mid: Class, next: Class) -> bool {
    let letters = prev == Class::Letter && next == Class::Letter;
    let digits = prev == Class::Digit && next == Class::Digit;
    match mid {
        Class::MidNumLet => letters || digits,
        Class::MidLetter => letters,
        Class::MidNum => digits,
        _ => false,
    }
}

fn char_at(text: &str, at: usize) -> Option<char> {
    text.get(at..)?.chars().next()
}

/// The next word of `text` at or after byte `from`, as byte offsets `[start, end)`.
fn next_word(text: &str, from: usize) -> Option<(usize, usize)> {
    next_word_by(|at| char_at(text, at).map(|c| (class(c), c.len_utf8())), from)
}

/// [`class`] of every ASCII byte.
const ASCII_CLASS: [Class; 128] = {
    let mut table = [Class::Other; 128];
    let mut b = 0;
    while b < 128 {
        table[b] = match b as u8 {
            b'a'..=b'z' | b'A'..=b'Z' => Class::Letter,
            b'0'..=b'9' => Class::Digit,
            b'_' => Class::Extend,
            b'.' | b'\'' => Class::MidNumLet,
            b':' => Class::MidLetter,
            b',' | b';' => Class::MidNum,
            _ => Class::Other,
        };
        b += 1;
    }
    table
};

/// [`next_word`] for ASCII text (most of an access log): a byte at a time through [`ASCII_CLASS`].
fn next_ascii_word(text: &[u8], from: usize) -> Option<(usize, usize)> {
    next_word_by(|at| text.get(at).map(|b| (ASCII_CLASS[usize::from(*b & 0x7f)], 1)), from)
}

/// The word rules over `at`, which gives the class and byte length of the character at a byte offset
/// (`None` past the end).
#[inline(always)]
fn next_word_by(at: impl Fn(usize) -> Option<(Class, usize)>, mut from: usize) -> Option<(usize, usize)> {
    loop {
        // Skip to the next word character.
        let (first, width) = loop {
            let (class, width) = at(from)?;
            if is_word(class) {
                break (class, width);
            }
            from += width;
        };
        let start = from;
        let mut prev = first;
        let mut alphanumeric = first != Class::Extend;
        let mut end = from + width;
        while let Some((class, width)) = at(end) {
            if is_word(class) {
                alphanumeric |= class != Class::Extend;
                prev = class;
                end += width;
                continue;
            }
            let after = end + width;
            match at(after) {
                Some((next, _)) if is_word(next) && joins(prev, class, next) => end = after,
                _ => break,
            }
        }
        // A run of `_` alone is no word.
        if alphanumeric {
            return Some((start, end));
        }
        from = end;
    }
}

/// The tokens of `text`, in order (duplicates kept).
pub fn tokens(text: &str) -> Vec<String> {
    let mut tokenizer = StandardTokenizer::default();
    let mut stream = tokenizer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

pub struct StandardTokenStream<'a> {
    text: &'a str,
    /// `text` is ASCII: words are found and lower-cased a byte at a time.
    ascii: bool,
    /// Where to look for the next word.
    cursor: usize,
    /// The rest of the current word (more than one token when it is longer than the limit).
    word: (usize, usize),
    token: &'a mut Token,
}

impl Tokenizer for StandardTokenizer {
    type TokenStream<'a> = StandardTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> StandardTokenStream<'a> {
        self.token.reset();
        StandardTokenStream { text, ascii: text.is_ascii(), cursor: 0, word: (0, 0), token: &mut self.token }
    }
}

impl TokenStream for StandardTokenStream<'_> {
    fn advance(&mut self) -> bool {
        loop {
            let (mut at, end) = self.word;
            if at < end {
                let token = &mut *self.token;
                token.text.clear();
                token.offset_from = at;
                if self.ascii {
                    let cut = end.min(at + MAX_TOKEN_CHARS);
                    token.text.push_str(&self.text[at..cut]);
                    token.text.make_ascii_lowercase();
                    at = cut;
                } else {
                    for c in self.text[at..end].chars().take(MAX_TOKEN_CHARS) {
                        if c.is_ascii() {
                            token.text.push(c.to_ascii_lowercase());
                        } else {
                            token.text.extend(c.to_lowercase());
                        }
                        at += c.len_utf8();
                    }
                }
                token.offset_to = at;
                token.position = token.position.wrapping_add(1);
                self.word.0 = at;
                return true;
            }
            let word = if self.ascii {
                next_ascii_word(self.text.as_bytes(), self.cursor)
            } else {
                next_word(self.text, self.cursor)
            };
            match word {
                Some((start, end)) => {
                    self.word = (start, end);
                    self.cursor = end;
                }
                None => return false,
            }
        }
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_follow_the_standard_analyser() {
        assert_eq!(
            tokens("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
            ["mozilla", "5.0", "compatible", "googlebot", "2.1", "http", "www.google.com", "bot.html"]
        );
        assert_eq!(tokens("/blog/tags/puppet?flav=rss20"), ["blog", "tags", "puppet", "flav", "rss20"]);
        assert_eq!(tokens("googlebot OR *:* AND -x"), ["googlebot", "or", "and", "x"]);
        assert_eq!(
            tokens("a.1 1.a v1.2 don't x86_64 __ 1,000 a,b a:b rv:27.0 en-US"),
            ["a", "1", "1", "a", "v1.2", "don't", "x86_64", "1,000", "a", "b", "a:b", "rv", "27.0", "en", "us"]
        );
        assert_eq!(tokens("...trailing. Ünïcödé"), ["trailing", "ünïcödé"]);
        assert!(tokens("").is_empty() && tokens("*:* -").is_empty());
        let long = "a".repeat(300);
        assert_eq!(tokens(&long), ["a".repeat(255), "a".repeat(45)]);
    }

    #[test]
    fn ascii_text_splits_into_the_same_words_byte_by_byte() {
        for b in 0u8..128 {
            assert!(ASCII_CLASS[usize::from(b)] == class(char::from(b)), "byte {b}");
        }
        let log = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/access_logs/elastic_examples_apache_logs.log"
        ))
        .unwrap();
        let mut texts: Vec<String> = log.lines().map(str::to_owned).collect();
        texts.extend(
            ["a.1 1.a v1.2 don't x86_64 __ 1,000 a,b a:b rv:27.0 en-US", "_a_ __ a__b .x. 1..2 a'' ;1;2; :a:b:", "x"]
                .map(str::to_owned),
        );
        let words = |text: &str, next: &dyn Fn(usize) -> Option<(usize, usize)>| {
            let mut out = Vec::new();
            let mut from = 0;
            while let Some((start, end)) = next(from) {
                out.push(text[start..end].to_owned());
                from = end;
            }
            out
        };
        for text in &texts {
            assert!(text.is_ascii());
            assert_eq!(
                words(text, &|from| next_ascii_word(text.as_bytes(), from)),
                words(text, &|from| next_word(text, from)),
                "{text}"
            );
        }
    }

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
    fn long_keywords_are_not_indexed() {
        assert_eq!(within(Some("abc"), 3), Some("abc"));
        assert_eq!(within(Some("abcd"), 3), None);
        assert_eq!(within(Some("ééé"), 3), Some("ééé"), "characters, not bytes");
        assert_eq!(within(None, 3), None);
    }
}
