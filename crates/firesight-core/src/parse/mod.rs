//! The access-log parser: one record of a Firehose delivery (or one line of `firesight ingest`) in, one
//! [`LogDocument`] out, for the enricher to complete (GeoIP, user agent, bot, visitor) and the log store
//! to index. Pure and synchronous; a record that cannot be parsed yields a [`ParseError`] whose text is
//! the `reason` of its dead-letter document.
//!
//! [`parse_line`] recognises the format by the first byte: `{` is JSON, anything else a text line.
//! A configured log format ([`format`], `FIRESIGHT_PARSE__LOG_FORMAT`) replaces this recognition for
//! the sources it applies to: [`parse_owned_with`] parses every line with it, and nothing else.
//!
//! # Text lines (`combined`, `common`)
//!
//! Apache/Nginx combined and common log format, `client ident authuser [timestamp] "request" status
//! size ["referrer" "user agent"]`, with the variants real servers write: an X-Forwarded-For list before
//! the client (plain, quoted, IPv6), a virtual-host prefix (`vhost[:port] client ...`), host names as
//! clients, `""` and `-` requests, `\x`-escaped bytes and `\"` inside quoted fields, trailing fields after
//! the user agent. The client is the first public address of the list, else its first entry
//! (Filebeat's choice); the whole list goes to `firesight.forwarded_for`. Quoted fields are kept as
//! written, escapes included (Filebeat does the same); `-` becomes an absent field, except the size,
//! where it is 0.
//!
//! # Kinesis Agent `LOGTOJSON` (`kinesis_agent_json`)
//!
//! What the agent's `COMBINEDAPACHELOG`/`COMMONAPACHELOG` conversion writes: all-string fields `host`,
//! `ident`, `authuser`, `datetime`, `request`, `response`, `bytes`, `referer` (or `referrer`), `agent`,
//! with `null` or `-` for a missing value. Recognised by `host` + `datetime` + `request`; mapped like a
//! text line.
//!
//! # JSON from an enrichment Lambda (`json`)
//!
//! Any other JSON object. ECS names are looked up nested (`{"http":{"response":{"status_code":200}}}`),
//! dotted (`{"http.response.status_code":200}`) or mixed; then the flat names common Lambdas use, in
//! this order (first present wins):
//!
//! | document field | accepted names |
//! |---|---|
//! | `@timestamp` (required) | `@timestamp`, `timestamp`, `time`, `datetime`, `date`, `time_iso8601`, `time_local`, `ts`: RFC 3339 / ISO-8601 (no offset means UTC), `10/Oct/2000:13:55:36 -0700`, RFC 2822, or epoch seconds / millis / micros / nanos (number or string) |
//! | `source.*` | `source.ip`/`client.ip`, `source.address`/`client.address`, `source.domain` taken as given; otherwise the client is chosen, as for text lines, from `client_ip`, `clientip`, `clientIp`, `client`, `remote_addr`, `remote_ip`, `remoteIP`, `remote_address`, `ip`, `c-ip` and an X-Forwarded-For in `x_forwarded_for`, `http_x_forwarded_for`, `xff`, `forwarded_for`, `X-Forwarded-For` (string or array) |
//! | `source.geo.*`, `source.as.*` | ECS names only |
//! | `destination.*` | `destination.domain`, `vhost`, `server_name`; `destination.port`, `server_port` |
//! | `user.name` | `user.name`, `remote_user`, `authuser`, `user`, `username` |
//! | `http.request.method` | `http.request.method`, `method`, `request_method`, `verb`, `httpMethod` |
//! | `http.version` | `http.version`, `http_version`, `protocol`, `server_protocol`, `httpVersion` (`HTTP/` dropped) |
//! | `url.original` | `url.original`, `url`, `request_uri`, `uri`, `requestUri`; else built from the path and query |
//! | `url.path`, `url.query`, `url.extension` | `url.path`, `path`, `request_path`, `uri_path`; `url.query`, `query`, `query_string`, `querystring`, `args`; `url.extension`; else derived from `url.original` |
//! | request line | `request`, `request_line` (`GET /x HTTP/1.1`) fill the method, target and version left open |
//! | `http.response.status_code` | `http.response.status_code`, `status`, `status_code`, `statusCode`, `response`, `sc-status` |
//! | `http.response.body.bytes` | `http.response.body.bytes`, `bytes`, `body_bytes_sent`, `bytes_sent`, `response_bytes`, `size`, `sc-bytes` |
//! | `http.request.referrer` | `http.request.referrer`, `referrer`, `referer`, `http_referer`, `http_referrer` |
//! | `user_agent.*` | `user_agent.original`, `user_agent`, `http_user_agent`, `useragent`, `userAgent`, `agent`, `ua`; ECS `user_agent.name`, `.version`, `.os.*`, `.device.name` |
//! | `event.*` | `event.original` (else the record itself), `event.dataset`, `event.ingested` |
//!
//! Strings `-` and `""` and `null` count as absent; a name holding an object or array where a scalar is
//! expected is not this field (Filebeat's `agent` object is not a user agent) and is left alone. A
//! non-numeric status or size is an error, as in a text line. `firesight.status_class`,
//! `firesight.referrer_host` and `firesight.record_format` are always computed here.
//!
//! Everything not mapped goes to `extra` unchanged, so the Lambda's own enrichment (`country`, `city`,
//! `browser`, `os`, `device`, `geoip`/`geo` objects, ...) is kept in the indexed document. The
//! exception is a leftover under one of the document's own top-level names (`source`, `http`, ...),
//! which would collide with the typed field: it moves to dotted keys (`source.port`), or `<name>_value`
//! for a scalar.

mod error;
mod fields;
pub mod format;
mod json;
mod record;
mod text;
mod time;

#[cfg(test)]
mod tests;

pub use error::ParseError;
pub use format::{FormatError, Formats, LogFormat};
pub use json::parse_json_record;
pub use text::parse_text_line;

use crate::document::LogDocument;
use error::{snippet, trim_line_end};

/// Parses one record, recognising its format: JSON when it starts with `{`, else an Apache/Nginx line.
///
/// # Errors
///
/// A [`ParseError`] naming what is wrong when the record is empty or is not one of the accepted formats.
pub fn parse_line(line: &str) -> Result<LogDocument, ParseError> {
    let line = trim_line_end(line);
    match line.trim_start().as_bytes().first() {
        None => Err(ParseError::Empty),
        Some(b'{') => parse_json_record(line),
        Some(_) => parse_text_line(line),
    }
}

/// [`parse_line`] taking the line by value, for the ingest path: a text line's document keeps the line's
/// own buffer as `event.original` instead of copying it (a few hundred bytes per line).
///
/// # Errors
///
/// As [`parse_line`], with the line handed back (it goes to the dead-letter store).
pub fn parse_owned(mut line: String) -> Result<LogDocument, (ParseError, String)> {
    let trimmed = trim_line_end(&line);
    let parsed = match trimmed.trim_start().as_bytes().first() {
        None => Err(ParseError::Empty),
        Some(b'{') => parse_json_record(trimmed),
        Some(_) => {
            let len = trimmed.len();
            match text::scan(trimmed.trim_start()) {
                Ok(record) => {
                    let mut doc = record.into_document(String::new());
                    line.truncate(len);
                    doc.event.original = line;
                    return Ok(doc);
                }
                Err(e) => Err(e),
            }
        }
    };
    parsed.map_err(|e| (e, line))
}

/// [`parse_owned`] with a configured format, or auto-detection when there is none.
///
/// # Errors
///
/// As [`parse_owned`]; with a format, [`LogFormat::parse`]'s errors (no fallback to auto-detection).
pub fn parse_owned_with(line: String, format: Option<&LogFormat>) -> Result<LogDocument, (ParseError, String)> {
    match format {
        Some(format) => format.parse_owned(line),
        None => parse_owned(line),
    }
}

/// [`parse_line`] for raw bytes; invalid UTF-8 is replaced (`event.original` is lossy UTF-8).
///
/// # Errors
///
/// As [`parse_line`].
pub fn parse_bytes(line: &[u8]) -> Result<LogDocument, ParseError> {
    parse_line(&String::from_utf8_lossy(line))
}
