//! The canonical access-log document: what the parser produces, the enricher completes, the log store
//! indexes and the query API returns. Field names follow the Elastic Common Schema (ECS); the
//! OpenSearch mapping of the same shape is `store::opensearch::mapping`.
//!
//! Every optional field is omitted from JSON when absent, so a document carries only what its line had.
//!
//! What enrichment looks up (`source.geo`, `source.as`, the parsed `user_agent` fields) is shared with
//! the enricher's caches behind `Arc`s: copying it into a document is a reference count, not a dozen
//! string allocations per line. Fields that are nearly always one of a few words (`GET`, `1.1`, `png`,
//! `2xx`, `combined`) are `Cow`s that borrow those words. Both serialise exactly as the string they hold,
//! so the JSON is the same as with `String`s.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// One access-log line (one HTTP request), normalised.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogDocument {
    /// When the request was served, UTC.
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    pub event: Event,
    pub source: Source,
    pub destination: Option<Destination>,
    pub user: Option<User>,
    pub http: Http,
    pub url: Url,
    pub user_agent: Option<UserAgent>,
    /// The TLS protocol of the connection, from a configured log format (`$ssl_protocol`).
    pub tls: Option<Tls>,
    pub firesight: Firesight,
    pub firehose: Option<FirehoseMeta>,
    /// Fields a user's Lambda added that firesight has no name for; kept as they came.
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The line exactly as received (lossy UTF-8); left out where a deployment chooses to (the Lambda's
    /// `FIRESIGHT_LAMBDA__INCLUDE_ORIGINAL=false`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub original: String,
    /// The document's own id, written into the document only where the store cannot keep it as the
    /// document id (OpenSearch Serverless time-series collections).
    pub id: Option<String>,
    /// When firesight indexed it.
    pub ingested: Option<DateTime<Utc>>,
    /// `firesight.access`.
    pub dataset: Option<Cow<'static, str>>,
    /// How long the server took to serve the request, in nanoseconds (ECS `event.duration`), from a
    /// configured log format's `$request_time`, `%D` or `%T`.
    pub duration: Option<u64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// The client address chosen for the request (first public address of X-Forwarded-For when present,
    /// else the remote address).
    pub ip: Option<IpAddr>,
    /// The client as written in the line (an address or a host name).
    pub address: Option<String>,
    /// The client's host name when the line had a name instead of an address.
    pub domain: Option<String>,
    pub geo: Option<Arc<Geo>>,
    #[serde(rename = "as")]
    pub asn: Option<Arc<AutonomousSystem>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    pub continent_code: Option<String>,
    pub continent_name: Option<String>,
    pub country_iso_code: Option<String>,
    pub country_name: Option<String>,
    pub region_iso_code: Option<String>,
    pub region_name: Option<String>,
    pub city_name: Option<String>,
    pub postal_code: Option<String>,
    pub timezone: Option<String>,
    pub location: Option<GeoPoint>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutonomousSystem {
    pub number: Option<u32>,
    pub organization: Option<Organization>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub name: Option<String>,
}

/// The virtual host of a `vhost:port client ...` line, or of a configured log format's `$host`,
/// `$server_name`, `%v`, `%V` (and the port of `$server_port`, `%p`).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub domain: Option<String>,
    pub port: Option<u16>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub name: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Http {
    /// `1.1`, `2.0` (without the `HTTP/` prefix).
    pub version: Option<Cow<'static, str>>,
    pub request: HttpRequest,
    pub response: HttpResponse,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: Option<Cow<'static, str>>,
    /// The Referer header; absent when the line had `-`.
    pub referrer: Option<String>,
    /// The whole request's size, line and headers included (`$request_length`, `%I`).
    pub bytes: Option<u64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpResponse {
    pub status_code: Option<u16>,
    pub body: ResponseBody,
    /// The whole response's size, headers included (`$bytes_sent`, `%O`).
    pub bytes: Option<u64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseBody {
    /// Response size; `-` in the line means 0 bytes.
    pub bytes: Option<u64>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Url {
    /// The request target as written.
    pub original: Option<String>,
    /// The path part, without the query.
    pub path: Option<String>,
    /// The query string, without the `?`.
    pub query: Option<String>,
    /// File extension of the path's last segment, lower case, without the dot.
    pub extension: Option<Cow<'static, str>>,
    /// `http` or `https` (`$scheme`).
    pub scheme: Option<Cow<'static, str>>,
}

/// The connection's TLS protocol: `TLSv1.3` is `version_protocol: tls`, `version: 1.3`.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tls {
    pub version: Option<String>,
    pub version_protocol: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAgent {
    pub original: Option<String>,
    /// Browser family, e.g. `Chrome`.
    pub name: Option<Arc<str>>,
    /// Browser version, e.g. `32.0.1700`.
    pub version: Option<Arc<str>>,
    pub os: Option<Arc<Os>>,
    pub device: Option<Arc<Device>>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Os {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Name and version together, e.g. `Mac OS X 10.9.1`.
    pub full: Option<String>,
}

#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Device {
    pub name: Option<String>,
}

/// firesight's own derived fields.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Firesight {
    /// `1xx` .. `5xx`.
    pub status_class: Option<Cow<'static, str>>,
    /// Host of the referrer URL, lower case.
    pub referrer_host: Option<String>,
    /// The user agent is a known bot, crawler or spider (always so when `crawler` is set).
    pub bot: Option<bool>,
    /// The crawler the user agent names, from the `crawler-user-agents` list; absent for other agents.
    pub crawler: Option<Arc<Crawler>>,
    /// Visitor key: client IP and user agent (hashed); with the day it defines a unique visitor.
    pub visitor: Option<String>,
    /// The X-Forwarded-For list of the line, in order, when it had one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forwarded_for: Vec<String>,
    /// Which input shape the record had: `combined`, `common`, `kinesis_agent_json`, `json`, or the
    /// configured log format (a preset's name, `nginx_log_format` or `apache_log_format`).
    pub record_format: Option<Cow<'static, str>>,
    /// The upstream (proxied) times of a configured nginx log format.
    pub upstream: Option<Upstream>,
}

/// A known crawler (`firesight.crawler`).
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crawler {
    /// The bot's name, e.g. `Googlebot`, `GPTBot`.
    pub name: Option<String>,
    /// `search`, `ai`, `monitor`, `seo`, `scanner` or `other`.
    pub category: Option<String>,
}

/// nginx's `$upstream_response_time`, `$upstream_connect_time` and `$upstream_header_time`, in
/// nanoseconds. nginx writes one value per upstream server tried (`0.010, 0.020`, groups of internal
/// redirects joined by ` : `); each duration here is the sum of the values written (`-` counts as
/// none), so it is the time spent on upstreams in total.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub response_duration: Option<u64>,
    pub connect_duration: Option<u64>,
    pub header_duration: Option<u64>,
    /// Upstream servers tried: the entries of the longest upstream time list of the line, `-` included.
    pub attempts: Option<u32>,
}

/// Where the record came from in a Firehose delivery.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirehoseMeta {
    pub request_id: Option<String>,
    pub source_arn: Option<String>,
    /// The delivery's `timestamp` (when Firehose generated the request).
    pub arrival_time: Option<DateTime<Utc>>,
    pub record_index: Option<u32>,
    pub common_attributes: Option<BTreeMap<String, String>>,
    /// The record's id in a Lambda transformation event (stable across the Lambda's retries).
    pub record_id: Option<String>,
    /// Where the record was in the Kinesis data stream Firehose read (a KDS-sourced delivery stream).
    pub kinesis: Option<KinesisMeta>,
}

/// A record's place in its Kinesis data stream.
#[skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KinesisMeta {
    pub stream_arn: Option<String>,
    pub shard_id: Option<String>,
    pub partition_key: Option<String>,
    pub sequence_number: Option<String>,
    pub subsequence_number: Option<i64>,
    pub arrival_time: Option<DateTime<Utc>>,
}

impl LogDocument {
    /// `1xx`..`5xx` for a status code.
    pub fn status_class(status: u16) -> Option<Cow<'static, str>> {
        const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
        CLASSES.get(usize::from(status / 100).checked_sub(1)?).map(|class| Cow::Borrowed(*class))
    }
}
