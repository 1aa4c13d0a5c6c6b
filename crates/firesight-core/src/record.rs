//! What one record (a Firehose record, a Kinesis record) carries, as lines of text: a gzip-compressed
//! payload is decompressed (bounded), a CloudWatch Logs subscription message gives its events' messages
//! (each with its own time), and text splits into its newline-separated lines. Agents' JSON records
//! (the Kinesis Agent's `LOGTOJSON`, or any JSON object) stay one line each; the parser reads them.

use std::io::Read;

use chrono::{DateTime, Utc};
use flate2::read::MultiGzDecoder;
use serde::Deserialize;

/// Largest decompressed size of one gzip record (a CloudWatch Logs payload); records are at most
/// 1,024,000 bytes compressed and log text compresses about 10:1.
pub const MAX_RECORD_DECOMPRESSED: usize = 16 * 1024 * 1024;

/// One line of a record, with the time to use when the line carries none (a CloudWatch Logs event's).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordLine {
    pub text: String,
    pub fallback_time: Option<DateTime<Utc>>,
}

/// A payload that cannot be read as lines at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{reason}")]
pub struct Unreadable {
    pub reason: String,
    /// The payload as lossy UTF-8, for the dead-letter store.
    pub raw: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GzipError {
    #[error("not valid gzip: {0}")]
    Invalid(String),
    #[error("decompresses to more than {limit} bytes")]
    TooLarge { limit: usize },
}

/// Decompresses `body` into at most `limit` bytes (a gzip bomb stops at the limit with bounded memory).
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, GzipError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
    let read = MultiGzDecoder::new(body)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| GzipError::Invalid(e.to_string()))?;
    if read > limit {
        return Err(GzipError::TooLarge { limit });
    }
    Ok(out)
}

/// A CloudWatch Logs subscription message (gzip-compressed JSON inside a record).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudWatchLogsMessage {
    /// `DATA_MESSAGE` carries events; `CONTROL_MESSAGE` only checks the destination is reachable.
    pub message_type: String,
    #[serde(default)]
    pub log_group: Option<String>,
    #[serde(default)]
    pub log_stream: Option<String>,
    #[serde(default)]
    pub log_events: Vec<CloudWatchLogEvent>,
}

#[derive(Debug, Deserialize)]
pub struct CloudWatchLogEvent {
    pub id: String,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub message: String,
}

/// The lines of one record's payload. A CloudWatch Logs `CONTROL_MESSAGE` and an empty record give no
/// line; a gzip payload that does not decompress, or a compressed subscription message that does not
/// parse, is [`Unreadable`].
pub fn lines(data: &[u8]) -> Result<Vec<RecordLine>, Unreadable> {
    let decompressed;
    let was_gzip = data.starts_with(&[0x1f, 0x8b]);
    let payload: &[u8] = if was_gzip {
        match gunzip(data, MAX_RECORD_DECOMPRESSED) {
            Ok(bytes) => {
                decompressed = bytes;
                &decompressed
            }
            Err(e) => {
                return Err(Unreadable {
                    reason: format!("gzip record: {e}"),
                    raw: String::from_utf8_lossy(data).into_owned(),
                });
            }
        }
    } else {
        data
    };

    if looks_like_cloudwatch(payload) {
        // One record may carry several concatenated subscription messages.
        let messages: Result<Vec<CloudWatchLogsMessage>, _> =
            serde_json::Deserializer::from_slice(payload).into_iter::<CloudWatchLogsMessage>().collect();
        match messages {
            Ok(messages) => {
                let mut out = Vec::new();
                for m in messages.into_iter().filter(|m| m.message_type == "DATA_MESSAGE") {
                    // CONTROL_MESSAGE is a reachability probe without log data.
                    for event in m.log_events {
                        let time = DateTime::<Utc>::from_timestamp_millis(event.timestamp);
                        out.extend(
                            split_lines(&event.message)
                                .map(|line| RecordLine { text: line.to_owned(), fallback_time: time }),
                        );
                    }
                }
                return Ok(out);
            }
            // Subscription payloads always arrive gzip-compressed; a plain JSON record that merely
            // mentions "messageType" is a log record of its own.
            Err(e) if was_gzip => {
                return Err(Unreadable {
                    reason: format!("CloudWatch Logs payload: {e}"),
                    raw: String::from_utf8_lossy(payload).into_owned(),
                });
            }
            Err(_) => {}
        }
    }

    let text = String::from_utf8_lossy(payload);
    Ok(split_lines(&text).map(|line| RecordLine { text: line.to_owned(), fallback_time: None }).collect())
}

fn looks_like_cloudwatch(payload: &[u8]) -> bool {
    let starts_as_object = payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    starts_as_object && memchr::memmem::find(payload, b"\"messageType\"").is_some()
}

/// Lines of a text: a record may hold several newline-separated lines (agents batch them).
pub fn split_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).filter(|l| !l.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_split_into_lines_without_blanks() {
        let lines: Vec<&str> = split_lines("a\r\nb\n\n  \nc").collect();
        assert_eq!(lines, ["a", "b", "c"]);
    }

    #[test]
    fn empty_and_blank_records_have_no_line() {
        assert_eq!(lines(b"").unwrap(), []);
        assert_eq!(lines(b"\n \r\n").unwrap(), []);
    }

    #[test]
    fn a_broken_gzip_record_is_unreadable() {
        let err = lines(&[0x1f, 0x8b, 1, 2, 3]).unwrap_err();
        assert!(err.reason.starts_with("gzip record"), "{err}");
    }
}
