//! The `_bulk` wire format: encoding documents into NDJSON `create` actions routed to their daily index,
//! and reading every item of the answer (a 200 with `"errors": true` is a partial failure).

use std::io::Write;

use serde_json::Value;

use crate::store::{DeadLetter, IndexDoc, ItemOutcome, StoreError};

/// Upper bound of one bulk request body; OpenSearch's default `http.max_content_length` is 100 MiB and
/// 5-15 MiB requests index fastest.
const MAX_BULK_BYTES: usize = 8 * 1024 * 1024;
/// Rough size of one encoded access-log document, to cut chunks without encoding twice.
const TYPICAL_DOC_BYTES: usize = 1200;

pub fn chunks(docs: &[IndexDoc]) -> impl Iterator<Item = &[IndexDoc]> {
    docs.chunks((MAX_BULK_BYTES / TYPICAL_DOC_BYTES).max(1))
}

/// `<prefix>-YYYY.MM.DD` of the document's own time (UTC).
pub fn daily_index(prefix: &str, timestamp: &chrono::DateTime<chrono::Utc>) -> String {
    format!("{prefix}-{}", timestamp.format("%Y.%m.%d"))
}

pub fn encode_docs(prefix: &str, docs: &[IndexDoc]) -> Vec<u8> {
    let mut body = Vec::with_capacity(docs.len() * TYPICAL_DOC_BYTES);
    for item in docs {
        let index = daily_index(prefix, &item.doc.timestamp);
        // `create` rather than `index`: a replayed id answers 409 instead of rewriting the document.
        let _ = writeln!(body, r#"{{"create":{{"_index":"{index}","_id":"{}"}}}}"#, item.id);
        // The id travels in the document too, as `event.id` (a keyword with doc values): searches order
        // hits of the same millisecond by it without building `_id`'s field data (`dsl::search`).
        serde_json::to_writer(&mut body, &with_id_inside(item)).expect("documents serialise");
        body.push(b'\n');
    }
    body
}

/// The document with its id as `event.id`.
pub fn with_id_inside(item: &IndexDoc) -> std::borrow::Cow<'_, crate::document::LogDocument> {
    if item.doc.event.id.as_deref() == Some(item.id.as_str()) {
        return std::borrow::Cow::Borrowed(&item.doc);
    }
    let mut doc = item.doc.clone();
    doc.event.id = Some(item.id.clone());
    std::borrow::Cow::Owned(doc)
}

pub fn encode_dead_letters(index: &str, letters: &[DeadLetter]) -> Vec<u8> {
    let mut body = Vec::new();
    for letter in letters {
        let _ = writeln!(body, r#"{{"create":{{"_index":"{index}","_id":"{}"}}}}"#, letter.id);
        serde_json::to_writer(&mut body, letter).expect("dead letters serialise");
        body.push(b'\n');
    }
    body
}

/// One outcome per sent item, in order.
pub fn outcomes(response: &Value, sent: usize) -> Result<Vec<ItemOutcome>, StoreError> {
    let items = response
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| StoreError::Protocol("bulk answer without items".into()))?;
    if items.len() != sent {
        return Err(StoreError::Protocol(format!("bulk answer has {} items for {sent} sent", items.len()).into()));
    }
    Ok(items.iter().map(item_outcome).collect())
}

fn item_outcome(item: &Value) -> ItemOutcome {
    let result = item.get("create").or_else(|| item.get("index")).unwrap_or(item);
    let status = result.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
    let reason = || {
        let error = result.get("error");
        let kind = error.and_then(|e| e.get("type")).and_then(Value::as_str).unwrap_or("unknown_error");
        let why = error.and_then(|e| e.get("reason")).and_then(Value::as_str).unwrap_or("");
        format!("{kind}: {why}")
    };
    match status {
        200 | 201 => ItemOutcome::Created,
        409 => ItemOutcome::Duplicate,
        429 | 500..=599 => ItemOutcome::Retry { status, reason: reason() },
        _ => ItemOutcome::Rejected { status, reason: reason() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_item_of_a_partial_failure_is_classified() {
        let answer = json!({"took": 3, "errors": true, "items": [
            {"create": {"_id": "a", "status": 201}},
            {"create": {"_id": "b", "status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
            {"create": {"_id": "c", "status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"create": {"_id": "d", "status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [source.ip]"}}},
            {"create": {"_id": "e", "status": 503, "error": {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}}}
        ]});
        let got = outcomes(&answer, 5).unwrap();
        assert_eq!(got[0], ItemOutcome::Created);
        assert_eq!(got[1], ItemOutcome::Duplicate);
        assert!(matches!(&got[2], ItemOutcome::Retry { status: 429, .. }));
        assert!(
            matches!(&got[3], ItemOutcome::Rejected { status: 400, reason } if reason.starts_with("mapper_parsing_exception"))
        );
        assert!(matches!(&got[4], ItemOutcome::Retry { status: 503, .. }));
        assert!(outcomes(&answer, 4).is_err(), "an answer with the wrong item count is not trusted");
    }

    #[test]
    fn documents_go_to_the_index_of_their_day() {
        let ts = chrono::DateTime::parse_from_rfc3339("2015-05-17T23:59:59-02:00").unwrap().to_utc();
        assert_eq!(daily_index("weblogs", &ts), "weblogs-2015.05.18");
    }
}
