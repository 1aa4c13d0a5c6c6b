//! From request bytes to source lines: bounded gzip decompression (a gzip bomb stops at the limit with
//! bounded memory), the JSON envelope, base64 records, CloudWatch Logs subscription payloads, and
//! newline-separated lines inside a record. Pure and synchronous; the receiver runs it on a blocking
//! thread.

use std::sync::Arc;

use base64::Engine;

use super::errors::FirehoseError;
use super::models::{FirehoseRequest, MAX_RECORD_BYTES};
use crate::document::FirehoseMeta;
use crate::ingest::{SourceLine, ids};
use crate::record::{self, GzipError};

/// Decompresses `body` into at most `limit` bytes.
pub fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, FirehoseError> {
    record::gunzip(body, limit).map_err(|e| match e {
        GzipError::Invalid(reason) => FirehoseError::BadGzip(reason),
        GzipError::TooLarge { limit } => FirehoseError::DecompressedTooLarge { limit },
    })
}

/// Parses the JSON envelope and checks the record count.
pub fn parse_request(body: &[u8], max_records: usize) -> Result<FirehoseRequest, FirehoseError> {
    let request: FirehoseRequest = serde_json::from_slice(body).map_err(|e| FirehoseError::BadJson(e.to_string()))?;
    if request.records.is_empty() {
        return Err(FirehoseError::NoRecords);
    }
    if request.records.len() > max_records {
        return Err(FirehoseError::TooManyRecords { count: request.records.len(), limit: max_records });
    }
    Ok(request)
}

/// Every line of every record, each with its deterministic id. A record whose content cannot be
/// understood (not the envelope: its payload) becomes a line marked for the dead-letter store, so one
/// bad record neither drops silently nor makes Firehose retry the whole batch forever.
pub fn lines(request: &FirehoseRequest, meta: &Arc<FirehoseMeta>) -> Result<Vec<SourceLine>, FirehoseError> {
    let mut out = Vec::with_capacity(request.records.len());
    // Padded standard base64, as Firehose writes it; the unused low bits of the last symbol are not
    // checked (RFC 4648 allows decoders to ignore them, and the spec's pattern cannot state them).
    let b64 = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    for (index, record) in request.records.iter().enumerate() {
        let data = b64
            .decode(record.data.as_bytes())
            .map_err(|e| FirehoseError::BadBase64 { index, reason: e.to_string() })?;
        if data.len() > MAX_RECORD_BYTES {
            return Err(FirehoseError::BadRecord {
                index,
                reason: format!("{} bytes exceed the {MAX_RECORD_BYTES}-byte record limit", data.len()),
            });
        }
        record_lines(&request.request_id, index, &data, meta, &mut out);
    }
    Ok(out)
}

fn record_lines(request_id: &str, index: usize, data: &[u8], meta: &Arc<FirehoseMeta>, out: &mut Vec<SourceLine>) {
    let line = |line_no: usize, text: String, fallback_time, reject| SourceLine {
        id: ids::firehose_id(request_id, index, line_no),
        text,
        fallback_time,
        firehose: Some(meta.clone()),
        reject,
    };
    match record::lines(data) {
        Ok(lines) => {
            out.extend(lines.into_iter().enumerate().map(|(n, l)| line(n, l.text, l.fallback_time, None)));
        }
        Err(unreadable) => out.push(line(0, unreadable.raw, None, Some(unreadable.reason))),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn meta() -> Arc<FirehoseMeta> {
        Arc::new(FirehoseMeta { request_id: Some("r".into()), ..Default::default() })
    }

    fn request(records: &[&[u8]]) -> FirehoseRequest {
        let b64 = base64::engine::general_purpose::STANDARD;
        let json = serde_json::json!({"requestId": "r", "timestamp": 1, "records":
            records.iter().map(|r| serde_json::json!({"data": b64.encode(r)})).collect::<Vec<_>>()});
        parse_request(json.to_string().as_bytes(), 10_000).unwrap()
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_limit() {
        let bomb = gzip(&vec![0u8; 8 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        assert!(matches!(gunzip(&bomb, 1024 * 1024), Err(FirehoseError::DecompressedTooLarge { .. })));
        assert_eq!(gunzip(&bomb, 8 * 1024 * 1024).unwrap().len(), 8 * 1024 * 1024);
    }

    #[test]
    fn records_with_several_lines_give_one_line_each_with_distinct_ids() {
        let req = request(&[b"a\nb\n", b"a"]);
        let lines = lines(&req, &meta()).unwrap();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a", "b", "a"]);
        let mut ids: Vec<&str> = lines.iter().map(|l| l.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 3, "identical lines in one delivery stay distinct");
    }

    #[test]
    fn cloudwatch_subscription_records_are_unpacked_and_control_messages_skipped() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firehose/otel-awsfirehosereceiver");
        let single = std::fs::read(format!("{dir}/cwlog_single_record")).unwrap();
        let multiple = std::fs::read(format!("{dir}/cwlog_multiple_records")).unwrap();
        let control = std::fs::read(format!("{dir}/cwlog_only_control")).unwrap();
        let req = request(&[&gzip(&single), &gzip(&multiple), &gzip(&control)]);
        let lines = lines(&req, &meta()).unwrap();
        assert_eq!(lines[0].text, "Hello world, here is our first log message!");
        assert_eq!(lines[0].fallback_time.unwrap().timestamp_millis(), 1725544035523);
        let expected_multiple: usize = serde_json::Deserializer::from_slice(&multiple)
            .into_iter::<serde_json::Value>()
            .map(|m| m.unwrap()["logEvents"].as_array().unwrap().len())
            .sum();
        assert_eq!(lines.len(), 1 + expected_multiple, "control messages add no lines");
        assert!(lines.iter().all(|l| l.reject.is_none()));
    }

    #[test]
    fn undecodable_record_content_is_kept_for_the_dead_letter_store() {
        let mut bad_gzip = gzip(b"hello");
        bad_gzip.truncate(8);
        let bad_cw = gzip(b"{\"messageType\": \"DATA_MESSAGE\", \"logEvents\": 5}");
        let req = request(&[&bad_gzip, &bad_cw]);
        let lines = lines(&req, &meta()).unwrap();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].reject.as_deref().unwrap().starts_with("gzip record"));
        assert!(lines[1].reject.as_deref().unwrap().starts_with("CloudWatch Logs payload"));
    }

    #[test]
    fn envelope_errors_are_refused() {
        assert!(matches!(parse_request(b"{", 10), Err(FirehoseError::BadJson(_))));
        let none = br#"{"requestId":"r","timestamp":1,"records":[]}"#;
        assert!(matches!(parse_request(none, 10), Err(FirehoseError::NoRecords)));
        let three = br#"{"requestId":"r","timestamp":1,"records":[{"data":""},{"data":""},{"data":""}]}"#;
        assert!(matches!(parse_request(three, 2), Err(FirehoseError::TooManyRecords { count: 3, limit: 2 })));
        let req = parse_request(br#"{"requestId":"r","records":[{"data":"!!"}]}"#, 10).unwrap();
        assert!(matches!(lines(&req, &meta()), Err(FirehoseError::BadBase64 { index: 0, .. })));
    }
}
