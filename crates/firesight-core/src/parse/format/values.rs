//! The values a format captured, read (numbers, times, durations, upstream lists) and made a
//! document: the fields the hand-written scanner also reads go through the same [`Record`], the rest
//! (durations, upstream times, virtual host, sizes, scheme, TLS, unknown variables) are added after.

use std::borrow::Cow;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;

use super::syntax::{Step, Var};
use crate::document::{LogDocument, Tls, Upstream};
use crate::parse::error::snippet;
use crate::parse::fields::{self, present};
use crate::parse::record::Record;
use crate::parse::text::digits;
use crate::parse::{ParseError, time};

/// A format's values in one line, borrowed from it.
#[derive(Debug, Default)]
pub(crate) struct Captured<'a> {
    remote: Option<&'a str>,
    user: Option<&'a str>,
    time: Option<DateTime<Utc>>,
    request: Option<&'a str>,
    method: Option<&'a str>,
    target: Option<&'a str>,
    path: Option<&'a str>,
    query: Option<&'a str>,
    protocol: Option<&'a str>,
    status: Option<u16>,
    body_bytes: Option<u64>,
    bytes_sent: Option<u64>,
    request_length: Option<u64>,
    referrer: Option<&'a str>,
    user_agent: Option<&'a str>,
    forwarded: Option<&'a str>,
    host: Option<&'a str>,
    server_name: Option<&'a str>,
    port: Option<u16>,
    /// Nanoseconds, and the unit it was written in (the finest one logged wins).
    duration: Option<(u64, u64)>,
    /// Sum in nanoseconds (none when every entry was `-`) and entries, per [`UpstreamTime`].
    upstream: [Option<(Option<u64>, u32)>; 3],
    scheme: Option<&'a str>,
    tls: Option<&'a str>,
    /// Unknown variables: the step's index and the value.
    others: Vec<(usize, &'a str)>,
}

fn bad(var: &str, problem: &'static str) -> ParseError {
    ParseError::BadField { field: var.to_owned(), problem }
}

/// A size: digits, `-` for none.
fn size(value: &str, field: &str) -> Result<Option<u64>, ParseError> {
    match present(value) {
        None => Ok(None),
        Some(text) => digits(text).map(Some).ok_or_else(|| bad(field, "is not a number")),
    }
}

impl<'a> Captured<'a> {
    pub(super) fn set(&mut self, step: usize, var: &Var, value: &'a str) -> Result<(), ParseError> {
        match var {
            Var::RemoteAddr => self.remote = Some(value),
            Var::Ident => {}
            Var::RemoteUser => self.user = Some(value),
            Var::TimeLocal => {
                self.time = Some(time::parse_clf(value).ok_or_else(|| ParseError::BadTimestamp(snippet(value)))?);
            }
            Var::TimeIso8601 => {
                let t = DateTime::parse_from_rfc3339(value).map_err(|_| ParseError::BadTimestamp(snippet(value)))?;
                self.time = Some(t.with_timezone(&Utc));
            }
            Var::EpochSeconds | Var::EpochMillis | Var::EpochMicros => {
                let unit = match var {
                    Var::EpochSeconds => 1_000_000_000,
                    Var::EpochMillis => 1_000_000,
                    _ => 1_000,
                };
                let nanos = decimal_ns(value, unit).and_then(|n| i64::try_from(n).ok());
                self.time = Some(DateTime::from_timestamp_nanos(
                    nanos.ok_or_else(|| ParseError::BadTimestamp(snippet(value)))?,
                ));
            }
            Var::TimeStrftime(format) => self.time = Some(strftime(value, format)?),
            Var::Request => self.request = Some(value),
            Var::Method => self.method = Some(value),
            Var::Target => self.target = Some(value),
            Var::Path => self.path = Some(value),
            Var::Query => self.query = Some(value),
            Var::Protocol => self.protocol = Some(value),
            Var::Status => {
                let status = digits(value).and_then(|n| u16::try_from(n).ok());
                self.status = Some(status.ok_or_else(|| ParseError::BadStatus(snippet(value)))?);
            }
            Var::BodyBytes => {
                let bytes = if value == "-" { Some(0) } else { digits(value) };
                self.body_bytes = Some(bytes.ok_or_else(|| ParseError::BadBytes(snippet(value)))?);
            }
            Var::BytesSent => self.bytes_sent = size(value, "bytes_sent")?,
            Var::RequestLength => self.request_length = size(value, "request_length")?,
            Var::Referrer => self.referrer = Some(value),
            Var::UserAgent => self.user_agent = Some(value),
            Var::ForwardedFor => self.forwarded = Some(value),
            Var::Host => self.host = Some(value),
            Var::ServerName => self.server_name = Some(value),
            Var::Port => {
                self.port = match present(value) {
                    None => None,
                    Some(text) => Some(
                        digits(text).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| bad("port", "is not a port"))?,
                    ),
                };
            }
            Var::Duration(unit) => {
                if let Some(text) = present(value) {
                    let ns = decimal_ns(text, *unit).ok_or_else(|| bad("request_time", "is not a duration"))?;
                    if self.duration.is_none_or(|(_, previous)| *unit < previous) {
                        self.duration = Some((ns, *unit));
                    }
                }
            }
            Var::Upstream(kind) => {
                let list = upstream_list(value).ok_or_else(|| bad(kind.name(), "is not a list of times"))?;
                self.upstream[*kind as usize] = Some(list);
            }
            Var::Scheme => self.scheme = Some(value),
            Var::TlsProtocol => self.tls = Some(value),
            Var::Other(_) => {
                if present(value).is_some() {
                    self.others.push((step, value));
                }
            }
        }
        Ok(())
    }

    pub(super) fn into_document(self, label: &'static str, steps: &[Step], original: String) -> LogDocument {
        let remote = self.remote.unwrap_or_default();
        let client = match self.forwarded.and_then(present) {
            Some(forwarded) => fields::forwarded_client(forwarded, remote),
            None => fields::client_part(remote),
        };
        let record = Record {
            client: "",
            authuser: self.user,
            timestamp: self.time.unwrap_or_default(),
            request: self.request,
            status: self.status,
            // A format that logs only the whole response's size gives that, as auto-detection does.
            bytes: self.body_bytes.or(self.bytes_sent),
            referrer: self.referrer,
            user_agent: self.user_agent,
            format: label,
        };
        let mut doc = record.build(client, original);
        if self.request.is_none() {
            self.request_parts(&mut doc);
        }
        if let Some(vhost) = self.host.and_then(present).or_else(|| self.server_name.and_then(present)) {
            let mut destination = fields::destination(vhost);
            destination.port = self.port.or(destination.port);
            doc.destination = Some(destination);
        }
        doc.http.request.bytes = self.request_length;
        doc.http.response.bytes = self.bytes_sent;
        doc.event.duration = self.duration.map(|(ns, _)| ns);
        if self.upstream.iter().any(Option::is_some) {
            let [response, connect, header] = self.upstream;
            doc.firesight.upstream = Some(Upstream {
                response_duration: response.and_then(|(sum, _)| sum),
                connect_duration: connect.and_then(|(sum, _)| sum),
                header_duration: header.and_then(|(sum, _)| sum),
                attempts: [response, connect, header].iter().flatten().map(|(_, n)| *n).max(),
            });
        }
        doc.url.scheme = self.scheme.and_then(present).map(|s| match s {
            "http" => Cow::Borrowed("http"),
            "https" => Cow::Borrowed("https"),
            other => Cow::Owned(other.to_ascii_lowercase()),
        });
        doc.tls = self.tls.and_then(present).map(tls);
        for (step, value) in self.others {
            if let Some(Var::Other(name)) = steps.get(step).map(|s| &s.var) {
                let key = if is_document_name(name) { format!("{name}_value") } else { name.to_string() };
                doc.extra.insert(key, Value::String(value.to_owned()));
            }
        }
        doc
    }

    /// The request from its parts when the format has no request line.
    fn request_parts(&self, doc: &mut LogDocument) {
        if let Some(method) = self.method.and_then(present) {
            doc.http.request.method = Some(fields::method(method));
        }
        if let Some(protocol) = self.protocol.and_then(present) {
            doc.http.version = Some(fields::version(protocol.strip_prefix("HTTP/").unwrap_or(protocol)));
        }
        let query = self.query.and_then(present).map(|q| q.strip_prefix('?').unwrap_or(q)).filter(|q| !q.is_empty());
        let target = match (self.target.and_then(present), self.path.and_then(present), query) {
            (Some(target), _, _) => Cow::Borrowed(target),
            (None, Some(path), Some(query)) => Cow::Owned(format!("{path}?{query}")),
            (None, Some(path), None) => Cow::Borrowed(path),
            (None, None, _) => return,
        };
        doc.url = fields::url_parts(&target);
    }
}

/// The document's own top-level names, which an unknown variable must not take.
fn is_document_name(name: &str) -> bool {
    matches!(
        name,
        "event" | "source" | "destination" | "user" | "http" | "url" | "user_agent" | "tls" | "firesight" | "firehose"
    )
}

/// `TLSv1.3` as protocol `tls`, version `1.3`; `SSLv3` as `ssl`, `3`.
fn tls(value: &str) -> Tls {
    match value.split_once('v') {
        Some((protocol, version)) if !protocol.is_empty() && protocol.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Tls { version: Some(version.to_owned()), version_protocol: Some(protocol.to_ascii_lowercase()) }
        }
        _ => Tls { version: Some(value.to_owned()), version_protocol: None },
    }
}

/// An Apache `%{format}t` time: with its zone when the format has one, else taken as UTC.
fn strftime(value: &str, format: &str) -> Result<DateTime<Utc>, ParseError> {
    DateTime::parse_from_str(value, format)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(value, format).map(|t| t.and_utc()))
        .map_err(|_| ParseError::BadTimestamp(snippet(value)))
}

/// A decimal number of `unit` nanoseconds (`0.123` seconds is 123,000,000), exactly: no float.
pub(crate) fn decimal_ns(text: &str, unit: u64) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = if whole.is_empty() && !fraction.is_empty() { 0 } else { digits(whole)? };
    let mut ns = whole.checked_mul(unit)?;
    if !fraction.is_empty() {
        let fraction = fraction.get(..fraction.len().min(18))?;
        let value = u128::from(digits(fraction)?);
        let scale = 10u128.pow(u32::try_from(fraction.len()).ok()?);
        ns = ns.checked_add(u64::try_from(value * u128::from(unit) / scale).ok()?)?;
    }
    Some(ns)
}

/// nginx's upstream time list: `0.010`, `0.010, 0.020`, `0.010, 0.020 : 0.030`, with `-` for a server
/// that gave no time. The sum of the times in nanoseconds (none when no entry had one) and the entries.
fn upstream_list(value: &str) -> Option<(Option<u64>, u32)> {
    let mut sum: Option<u64> = None;
    let mut entries = 0u32;
    for entry in value.split([',', ':']) {
        let entry = entry.trim_matches(|c| c == ' ' || c == '\t');
        entries += 1;
        if entry == "-" || entry.is_empty() {
            continue;
        }
        let ns = decimal_ns(entry, 1_000_000_000)?;
        sum = Some(sum.unwrap_or(0).checked_add(ns)?);
    }
    Some((sum, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_durations_are_exact() {
        assert_eq!(decimal_ns("0.123", 1_000_000_000), Some(123_000_000));
        assert_eq!(decimal_ns("2", 1_000_000_000), Some(2_000_000_000));
        assert_eq!(decimal_ns("1234", 1_000), Some(1_234_000));
        assert_eq!(decimal_ns("1.5", 1_000_000), Some(1_500_000));
        assert_eq!(decimal_ns("1157689324.156", 1_000_000_000), Some(1_157_689_324_156_000_000));
        for bad in ["", "-", "1.2.3", "x", "-1", "1e3", "."] {
            assert_eq!(decimal_ns(bad, 1_000_000_000), None, "{bad:?}");
        }
    }

    #[test]
    fn upstream_lists() {
        assert_eq!(upstream_list("0.010"), Some((Some(10_000_000), 1)));
        assert_eq!(upstream_list("0.010, 0.020"), Some((Some(30_000_000), 2)));
        assert_eq!(upstream_list("0.010, 0.020 : 0.030"), Some((Some(60_000_000), 3)));
        assert_eq!(upstream_list("-"), Some((None, 1)));
        assert_eq!(upstream_list("-, 0.004"), Some((Some(4_000_000), 2)));
        assert_eq!(upstream_list("0.0x1"), None);
    }

    #[test]
    fn tls_versions() {
        assert_eq!(tls("TLSv1.3"), Tls { version: Some("1.3".into()), version_protocol: Some("tls".into()) });
        assert_eq!(tls("SSLv3"), Tls { version: Some("3".into()), version_protocol: Some("ssl".into()) });
        assert_eq!(tls("weird"), Tls { version: Some("weird".into()), version_protocol: None });
    }
}
