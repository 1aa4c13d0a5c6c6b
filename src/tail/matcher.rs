//! [`Filters`] applied to one document in memory, with the meaning the stores give them
//! (`store::embedded::filters`, `store::opensearch::dsl::filters`): values within one field are ORed,
//! fields are ANDed, and each field compares as the store's index does:
//!
//! - status codes exactly, classes as `[c00, c00 + 100)`;
//! - method, path, country, city, browser, OS, device, referrer host, virtual host, crawler and crawler category as exact keywords, which the
//!   stores do not index above 1,024 characters (4,096 for the path), so a longer value never matches;
//! - the path prefix on the raw bytes of a path the store indexed;
//! - client blocks as ranges of the 128-bit address (IPv4 as IPv4-mapped IPv6), first to last address;
//! - `bot=false` as "not flagged a bot" (documents without the flag included);
//! - `q` as words: every word of `q` (the stores' analysis) occurs among the words of the path, the
//!   original URL and the user agent; a `q` without a word matches nothing, a blank one is no filter;
//! - the time bounds, when given, as `[ceil_ms(from), ceil_ms(to))` on the millisecond timestamp.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::hub::TailEvent;
use crate::document::LogDocument;
use crate::query::model::{Filters, StatusFilter};
use crate::store::ceil_millis;
use crate::store::embedded::tokens;

/// `ignore_above` of the stores' keyword fields, and of the path.
const KEYWORD_LIMIT: usize = 1024;
const PATH_LIMIT: usize = 4096;

/// A stream's filters, ready to test documents.
#[derive(Debug, Clone)]
pub struct Matcher {
    filters: Filters,
    /// Address blocks as inclusive ranges of 128-bit keys.
    blocks: Vec<(u128, u128)>,
    /// The words of `q`, sorted; `None` when there is no free-text filter.
    words: Option<Vec<String>>,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
}

impl Matcher {
    /// `from` and `to` bound the document's own timestamp when given; absent, they do not apply.
    pub fn new(filters: Filters, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Self {
        let blocks = filters.client_ip.iter().map(|net| (key(net.network()), key(net.broadcast()))).collect();
        let words = filters.q.as_deref().map(str::trim).filter(|q| !q.is_empty()).map(|q| {
            let mut words = tokens(q);
            words.sort();
            words.dedup();
            words
        });
        Self { filters, blocks, words, from_ms: from.map(ceil_millis), to_ms: to.map(ceil_millis) }
    }

    /// Whether the stores would return this document for these filters.
    pub fn matches(&self, event: &TailEvent) -> bool {
        let doc = &event.item.doc;
        self.matches_fields(doc) && self.matches_words(event)
    }

    fn matches_fields(&self, doc: &LogDocument) -> bool {
        // Every field named: a filter added to `Filters` does not compile here until it has a meaning.
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
            client_ip: _, // `self.blocks`
            referrer_host,
            vhost,
            q: _, // `self.words`
        } = &self.filters;
        let ms = doc.timestamp.timestamp_millis();
        if self.from_ms.is_some_and(|from| ms < from) || self.to_ms.is_some_and(|to| ms >= to) {
            return false;
        }
        if !status.is_empty() {
            let Some(code) = doc.http.response.status_code else { return false };
            let hit = status.iter().any(|s| match *s {
                StatusFilter::Code(c) => c == code,
                StatusFilter::Class(class) => code / 100 == u16::from(class),
            });
            if !hit {
                return false;
            }
        }
        let geo = doc.source.geo.as_deref();
        let agent = doc.user_agent.as_ref();
        let bot_name = doc.firesight.crawler.as_deref();
        let keywords: [(&[String], Option<&str>, usize); 11] = [
            (method, doc.http.request.method.as_deref(), KEYWORD_LIMIT),
            (path, doc.url.path.as_deref(), PATH_LIMIT),
            (country, geo.and_then(|g| g.country_iso_code.as_deref()), KEYWORD_LIMIT),
            (city, geo.and_then(|g| g.city_name.as_deref()), KEYWORD_LIMIT),
            (browser, agent.and_then(|a| a.name.as_deref()), KEYWORD_LIMIT),
            (os, agent.and_then(|a| a.os.as_ref()?.name.as_deref()), KEYWORD_LIMIT),
            (device, agent.and_then(|a| a.device.as_ref()?.name.as_deref()), KEYWORD_LIMIT),
            (referrer_host, doc.firesight.referrer_host.as_deref(), KEYWORD_LIMIT),
            (vhost, doc.destination.as_ref().and_then(|d| d.domain.as_deref()), KEYWORD_LIMIT),
            (crawler, bot_name.and_then(|c| c.name.as_deref()), KEYWORD_LIMIT),
            (crawler_category, bot_name.and_then(|c| c.category.as_deref()), KEYWORD_LIMIT),
        ];
        for (wanted, value, limit) in keywords {
            if wanted.is_empty() {
                continue;
            }
            match indexed(value, limit) {
                Some(v) if wanted.iter().any(|w| w == v) => {}
                _ => return false,
            }
        }
        if let Some(prefix) = path_prefix {
            match indexed(doc.url.path.as_deref(), PATH_LIMIT) {
                Some(path) if path.as_bytes().starts_with(prefix.as_bytes()) => {}
                _ => return false,
            }
        }
        if !self.blocks.is_empty() {
            let Some(ip) = doc.source.ip else { return false };
            let k = key(ip);
            if !self.blocks.iter().any(|(first, last)| (*first..=*last).contains(&k)) {
                return false;
            }
        }
        match bot {
            Some(true) if doc.firesight.bot != Some(true) => false,
            Some(false) if doc.firesight.bot == Some(true) => false,
            _ => true,
        }
    }

    fn matches_words(&self, event: &TailEvent) -> bool {
        let Some(wanted) = &self.words else { return true };
        if wanted.is_empty() {
            return false;
        }
        let words = event.words.get_or_init(|| document_words(&event.item.doc));
        wanted.iter().all(|w| words.binary_search(w).is_ok())
    }
}

/// The words free text searches in a document: those of the path, the original URL and the user agent
/// (the stores' `text` field), sorted and deduplicated.
fn document_words(doc: &LogDocument) -> Vec<String> {
    let agent = doc.user_agent.as_ref().and_then(|a| a.original.as_deref());
    let mut words: Vec<String> =
        [doc.url.path.as_deref(), doc.url.original.as_deref(), agent].into_iter().flatten().flat_map(tokens).collect();
    words.sort();
    words.dedup();
    words
}

/// The value a keyword field holds in the stores' index: none above the limit (in characters).
fn indexed(value: Option<&str>, limit: usize) -> Option<&str> {
    value.filter(|v| v.len() <= limit || v.chars().count() <= limit)
}

/// An address as the stores order addresses: its 16-byte IPv6 form, IPv4 mapped.
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}
