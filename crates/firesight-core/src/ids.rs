//! Deterministic document ids. Firehose keeps a delivery's request id across retries, so an id derived
//! from (request id, record index, line index) makes a replay write the same ids and the store answers
//! "already there" instead of duplicating; two identical lines of one delivery still get two ids.
//! Backfill derives ids from the file's content (its first bytes) and the line number, so re-running the
//! same file, even renamed or grown by appends, writes nothing twice.

use base64::Engine;
use sha2::{Digest, Sha256};

/// 120 bits of SHA-256 over length-prefixed parts, URL-safe base64 (20 characters).
pub fn doc_id(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..15])
}

pub fn firehose_id(request_id: &str, record: usize, line: usize) -> String {
    doc_id(&[b"firehose", request_id.as_bytes(), &(record as u64).to_le_bytes(), &(line as u64).to_le_bytes()])
}

pub fn backfill_id(content_key: &[u8], line_number: u64) -> String {
    doc_id(&[b"file", content_key, &line_number.to_le_bytes()])
}

/// A line transformed by the Lambda: Firehose keeps a record's id across the Lambda's retries.
pub fn lambda_id(delivery_stream: &str, record_id: &str, line: usize) -> String {
    doc_id(&[b"lambda", delivery_stream.as_bytes(), record_id.as_bytes(), &(line as u64).to_le_bytes()])
}

/// A line of a record read from a Kinesis data stream: its place in the stream never changes, so a
/// re-read after a restart or a lease takeover writes the same ids. `sub_sequence` is the user record's
/// index within a KPL aggregated record (`None` for a plain record).
pub fn kinesis_id(stream_arn: &str, shard_id: &str, sequence: &str, sub_sequence: Option<u64>, line: usize) -> String {
    let sub = sub_sequence.map(u64::to_le_bytes);
    doc_id(&[
        b"kinesis",
        stream_arn.as_bytes(),
        shard_id.as_bytes(),
        sequence.as_bytes(),
        sub.as_ref().map_or(&[][..], |s| &s[..]),
        &(line as u64).to_le_bytes(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(firehose_id("r1", 0, 0), firehose_id("r1", 0, 0));
        assert_ne!(firehose_id("r1", 0, 0), firehose_id("r1", 0, 1));
        assert_ne!(firehose_id("r1", 0, 1), firehose_id("r1", 1, 0));
        assert_ne!(firehose_id("r1", 0, 0), firehose_id("r2", 0, 0));
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        assert_ne!(doc_id(&[b"ab", b"c"]), doc_id(&[b"a", b"bc"]));
        assert_eq!(firehose_id("r1", 0, 0).len(), 20);
        assert_ne!(kinesis_id("s", "shard-0", "1", None, 0), kinesis_id("s", "shard-0", "1", Some(0), 0));
        assert_ne!(kinesis_id("s", "shard-0", "1", Some(0), 0), kinesis_id("s", "shard-0", "1", Some(1), 0));
        assert_ne!(kinesis_id("s", "shard-0", "1", None, 0), kinesis_id("s", "shard-1", "1", None, 0));
    }
}
