//! What Firehose writes to S3 when it gives up on a record, as its developer guide documents it, and
//! what firesight derives from it: the failure's kind, the delivery stream (from the object's name),
//! the access-log lines inside, and each line's document id. Pure; unit-tested without S3.
//!
//! The formats, from the Amazon Data Firehose Developer Guide:
//! - **OpenSearch destination** ("Handle data delivery failures", `retry.html`; the API reference of
//!   `S3BackupMode`): the skipped documents go under `AmazonOpenSearchService-failed/` appended to the
//!   prefix (`elasticsearch-failed` as `!{firehose:error-output-type}` in "Custom Prefixes for Amazon S3
//!   Objects", and `elasticsearch_failed/` in older editions of the guide), one JSON document per line:
//!   `attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`,
//!   `esDocumentId` ("intended Elasticsearch document ID"), `esIndexName`, `esTypeName`, `rawData`
//!   (base64 of the document data).
//! - **HTTP endpoint destination** (same page, "HTTP endpoint destination"): the example error record
//!   has `attemptsMade`, `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`,
//!   `rawData`, `subsequenceNumber`, `dataId`; the objects lie under `http-endpoint-failed/`.
//! - **Data transformation** ("Handle failure in data transformation"): records the Lambda failed are
//!   delivered under `processing-failed/` (`processing_failed` in older editions) with `attemptsMade`,
//!   `arrivalTimestamp`, `errorCode`, `errorMessage`, `attemptEndingTimestamp`, `rawData` and
//!   `lambdaArn`; `rawData` is the record as it entered Firehose, before the transformation.
//! - **Format conversion** ("Handling errors for data format conversion") spells the error fields
//!   `ErrorCode`/`ErrorMessage` in one edition and `lastErrorCode`/`lastErrorMessage` in another, with
//!   `sequenceNumber` and `subSequenceNumber`: every spelling is accepted for every kind.
//! - **Object names** ("Configure Amazon S3 object name format", "Custom Prefixes"): `<evaluated
//!   prefix><stream name>-<stream version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><extension>`; the error
//!   type may stand anywhere in a custom `ErrorOutputPrefix`, and the default one is `<prefix><error
//!   type>/YYYY/MM/dd/HH/`.
//!
//! Timestamps are milliseconds since the epoch (numbers in the examples; strings are accepted too).

use std::sync::LazyLock;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::ingest::ids;
use crate::record::{self, RecordLine};

/// The error types Firehose names in its error prefixes (every documented spelling).
const ERROR_TYPES: [(&str, FailureKind); 10] = [
    ("AmazonOpenSearchService-failed", FailureKind::OpenSearch),
    ("AmazonOpenSearchServerless-failed", FailureKind::OpenSearch),
    ("elasticsearch-failed", FailureKind::OpenSearch),
    ("elasticsearch_failed", FailureKind::OpenSearch),
    ("http-endpoint-failed", FailureKind::HttpEndpoint),
    ("processing-failed", FailureKind::Processing),
    ("processing_failed", FailureKind::Processing),
    ("splunk-failed", FailureKind::Other),
    ("format-conversion-failed", FailureKind::Other),
    ("format_conversion_failed", FailureKind::Other),
];

/// Which delivery gave up on a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The OpenSearch destination refused or never acknowledged the document.
    OpenSearch,
    /// The HTTP endpoint destination (firesight's own `/v1/firehose`, for instance) did not answer 200.
    HttpEndpoint,
    /// The transformation Lambda failed or answered `ProcessingFailed`.
    Processing,
    /// Splunk, format conversion, or a record whose kind neither its fields nor its key tell.
    Other,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::OpenSearch => "opensearch",
            FailureKind::HttpEndpoint => "http_endpoint",
            FailureKind::Processing => "processing",
            FailureKind::Other => "other",
        }
    }
}

/// What an object's key tells: whether it holds failed records at all, of which kind, and the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectName {
    pub kind: FailureKind,
    /// The error type as written in the key (`processing-failed`, ...).
    pub error_type: &'static str,
    /// The delivery stream, from Firehose's object name; `None` for a name Firehose did not give.
    pub stream: Option<String>,
}

static OBJECT_NAME: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(?P<stream>[A-Za-z0-9_.-]+?)-(?P<version>\d+)-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    )
    .expect("valid object name pattern")
});

/// Reads an object's key. `None` when no error type appears in it: such an object is Firehose's
/// backup of delivered data (the `AllData` backup mode), not a failure, and is never replayed.
pub fn object_name(key: &str) -> Option<ObjectName> {
    let (error_type, kind) = ERROR_TYPES.iter().find(|(name, _)| key.contains(name)).copied()?;
    let base = key.rsplit('/').next().unwrap_or(key);
    // An `ErrorOutputPrefix` that does not end with '/' glues the error type to the name.
    let base = ERROR_TYPES.iter().find_map(|(name, _)| base.strip_prefix(name)).unwrap_or(base);
    let stream = OBJECT_NAME.captures(base).map(|c| c["stream"].to_owned());
    Some(ObjectName { kind, error_type, stream })
}

/// One line of an error object, every documented spelling accepted.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct FailedRecord {
    #[serde(rename = "attemptsMade")]
    pub attempts_made: Option<Value>,
    #[serde(rename = "arrivalTimestamp")]
    pub arrival_timestamp: Option<Value>,
    #[serde(rename = "errorCode", alias = "ErrorCode", alias = "lastErrorCode")]
    pub error_code: Option<String>,
    #[serde(rename = "errorMessage", alias = "ErrorMessage", alias = "lastErrorMessage")]
    pub error_message: Option<String>,
    #[serde(rename = "attemptEndingTimestamp")]
    pub attempt_ending_timestamp: Option<Value>,
    #[serde(rename = "rawData")]
    pub raw_data: Option<String>,
    #[serde(rename = "esDocumentId")]
    pub es_document_id: Option<String>,
    #[serde(rename = "esIndexName")]
    pub es_index_name: Option<String>,
    #[serde(rename = "dataId")]
    pub data_id: Option<String>,
    #[serde(rename = "subsequenceNumber", alias = "subSequenceNumber")]
    pub subsequence_number: Option<Value>,
    #[serde(rename = "sequenceNumber")]
    pub sequence_number: Option<String>,
    #[serde(rename = "lambdaArn")]
    pub lambda_arn: Option<String>,
}

/// Why a line of an error object is not a failed record firesight can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("not a Firehose failed record (JSON): {0}")]
    NotJson(String),
    #[error("the failed record has no rawData")]
    NoRawData,
    #[error("rawData is not base64: {0}")]
    BadBase64(String),
}

/// A failed record, read: its identity, its error and its lines (or why its payload is unreadable).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub kind: FailureKind,
    pub error_code: String,
    pub error_message: String,
    pub attempt_ending: Option<DateTime<Utc>>,
    pub arrival: Option<DateTime<Utc>>,
    /// What identifies the record, hashed into its lines' ids.
    identity: Identity,
    pub lines: Result<Vec<RecordLine>, record::Unreadable>,
}

#[derive(Debug, Clone)]
enum Identity {
    /// The id Firehose meant to index the document under (OpenSearch destination).
    EsDocument(String),
    /// The HTTP endpoint's record id and its sub-sequence (a KPL user record's index).
    Data { data_id: String, subsequence: u64 },
    /// A Kinesis-sourced record's place (format conversion).
    Sequence { sequence: String, subsequence: u64 },
    /// Nothing documented identifies it (a transformation failure): its place in the backup (the object
    /// and the line), with the arrival time and a digest of its bytes. Identical lines often arrive in
    /// the same millisecond (one agent batch), so the content alone would merge them.
    Content { arrival_ms: i64, digest: [u8; 32], place: [u8; 32] },
}

/// Parses one line of an error object. `fallback` is the kind its key names; `place` is the object's
/// location and the line's number in it (stable, so replaying an object again finds the same ids).
pub fn decode(line: &[u8], fallback: FailureKind, place: (&str, u64)) -> Result<Decoded, RecordError> {
    let rec: FailedRecord = serde_json::from_slice(line).map_err(|e| RecordError::NotJson(e.to_string()))?;
    let raw = rec.raw_data.as_deref().ok_or(RecordError::NoRawData)?;
    let data = base64_engine().decode(raw.trim().as_bytes()).map_err(|e| RecordError::BadBase64(e.to_string()))?;
    let kind = if rec.es_document_id.is_some() || rec.es_index_name.is_some() {
        FailureKind::OpenSearch
    } else if rec.data_id.is_some() {
        FailureKind::HttpEndpoint
    } else if rec.lambda_arn.is_some() {
        FailureKind::Processing
    } else {
        fallback
    };
    let arrival = rec.arrival_timestamp.as_ref().and_then(millis).and_then(DateTime::from_timestamp_millis);
    let subsequence = rec.subsequence_number.as_ref().and_then(millis).map_or(0, |n| n.max(0) as u64);
    let identity = match (&rec.es_document_id, &rec.data_id, &rec.sequence_number) {
        (Some(id), _, _) if !id.is_empty() => Identity::EsDocument(id.clone()),
        (_, Some(data_id), _) if !data_id.is_empty() => Identity::Data { data_id: data_id.clone(), subsequence },
        (_, _, Some(seq)) if !seq.is_empty() => Identity::Sequence { sequence: seq.clone(), subsequence },
        _ => Identity::Content {
            arrival_ms: arrival.map_or(0, |t| t.timestamp_millis()),
            digest: <sha2::Sha256 as sha2::Digest>::digest(&data).into(),
            place: <sha2::Sha256 as sha2::Digest>::digest([place.0.as_bytes(), &place.1.to_le_bytes()].concat()).into(),
        },
    };
    Ok(Decoded {
        kind,
        error_code: rec.error_code.unwrap_or_default(),
        error_message: rec.error_message.unwrap_or_default(),
        attempt_ending: rec
            .attempt_ending_timestamp
            .as_ref()
            .and_then(millis)
            .and_then(DateTime::from_timestamp_millis),
        arrival,
        identity,
        lines: record::lines(&data),
    })
}

impl Decoded {
    /// The document id of line `n` of `count`:
    /// - an OpenSearch failure's only line keeps `esDocumentId`, the id Firehose meant to index it
    ///   under, so a replay and a later successful delivery into the same index coincide;
    /// - a line the transformation Lambda already made a document keeps that document's `event.id`
    ///   (`ids::lambda_id`: the same whichever path delivers it);
    /// - otherwise a hash of what identifies the record (`dataId` and `subsequenceNumber`,
    ///   `esDocumentId`, the sequence number, or the record's place in the backup with its arrival time
    ///   and bytes) and the line's place.
    ///
    /// An HTTP endpoint failure cannot be matched with the document firesight's endpoint would have
    /// written: that id comes from the delivery's request id, which the failed record does not carry.
    pub fn line_id(&self, n: usize, count: usize, text: &str) -> String {
        if let Identity::EsDocument(id) = &self.identity
            && count == 1
            && id.len() <= 512
        {
            return id.clone();
        }
        if let Some(id) = lambda_document_id(text) {
            return id;
        }
        let line = (n as u64).to_le_bytes();
        match &self.identity {
            Identity::EsDocument(id) => ids::doc_id(&[b"replay-es", id.as_bytes(), &line]),
            Identity::Data { data_id, subsequence } => {
                ids::doc_id(&[b"replay-data", data_id.as_bytes(), &subsequence.to_le_bytes(), &line])
            }
            Identity::Sequence { sequence, subsequence } => {
                ids::doc_id(&[b"replay-seq", sequence.as_bytes(), &subsequence.to_le_bytes(), &line])
            }
            Identity::Content { arrival_ms, digest, place } => {
                ids::doc_id(&[b"replay-content", &arrival_ms.to_le_bytes(), digest, place, &line])
            }
        }
    }

    /// The id of the whole record, for a dead letter of a payload that gives no line.
    pub fn record_id(&self) -> String {
        ids::doc_id(&[b"replay-record", self.line_id(usize::MAX, 2, "").as_bytes()])
    }
}

/// The `event.id` of a document firesight's Lambda wrote (a JSON line with `"event": {"id": ...}`).
fn lambda_document_id(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Doc {
        event: Option<Event>,
    }
    #[derive(Deserialize)]
    struct Event {
        id: Option<String>,
    }
    let body = text.trim_start();
    if !body.starts_with('{') || !body.contains("\"id\"") {
        return None;
    }
    let id = serde_json::from_str::<Doc>(body).ok()?.event?.id?;
    (!id.is_empty() && id.len() <= 512).then_some(id)
}

/// Padded standard base64 as Firehose writes it; unpadded and trailing bits accepted.
fn base64_engine() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

/// A number of milliseconds, written as a JSON number or a string of digits.
fn millis(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    #[test]
    fn keys_tell_the_kind_and_the_stream() {
        let n = object_name("backup/http-endpoint-failed/2026/12/07/10/weblogs-3-2026-12-07-10-01-02-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab.gz")
            .unwrap();
        assert_eq!(
            (n.kind, n.error_type, n.stream.as_deref()),
            (FailureKind::HttpEndpoint, "http-endpoint-failed", Some("weblogs"))
        );
        let n = object_name(
            "e/2026/12/07/processing-failedmy-stream.v2-1-2026-12-07-10-01-02-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab",
        )
        .unwrap();
        assert_eq!((n.kind, n.stream.as_deref()), (FailureKind::Processing, Some("my-stream.v2")));
        assert_eq!(object_name("x/elasticsearch_failed/file").unwrap().stream, None);
        assert_eq!(object_name("x/AmazonOpenSearchService-failed/f").unwrap().kind, FailureKind::OpenSearch);
        // Delivered data backed up beside the failures is not a failure.
        assert!(
            object_name("backup/2026/12/07/10/weblogs-3-2026-12-07-10-01-02-0b1c2d3e-aaaa-bbbb-cccc-0123456789ab")
                .is_none()
        );
    }

    #[test]
    fn the_documented_examples_decode() {
        // The HTTP endpoint example of the developer guide, with its own rawData.
        let http = r#"{"attemptsMade":5,"arrivalTimestamp":1594265943615,"errorCode":"HttpEndpoint.DestinationException","errorMessage":"Unauthorized","attemptEndingTimestamp":1594266081318,"rawData":"c2FtcGxlIHJhdyBkYXRh","subsequenceNumber":0,"dataId":"49607357361271740811418664280693044274821622880012337186.0"}"#;
        let d = decode(http.as_bytes(), FailureKind::Other, ("o", 0)).unwrap();
        assert_eq!(d.kind, FailureKind::HttpEndpoint);
        assert_eq!(d.error_code, "HttpEndpoint.DestinationException");
        assert_eq!(d.attempt_ending.unwrap().timestamp_millis(), 1_594_266_081_318);
        assert_eq!(d.lines.as_ref().unwrap()[0].text, "sample raw data");
        // The old guide's placeholders are strings; capitalised error fields are accepted.
        let os = format!(
            r#"{{"attemptsMade":"1","arrivalTimestamp":"1594265943615","ErrorCode":"400","ErrorMessage":"mapper_parsing_exception","attemptEndingTimestamp":"1594266081318","esDocumentId":"abc.0","esIndexName":"weblogs","esTypeName":"","rawData":"{}"}}"#,
            b64("one line")
        );
        let d = decode(os.as_bytes(), FailureKind::Other, ("o", 0)).unwrap();
        assert_eq!((d.kind, d.error_code.as_str()), (FailureKind::OpenSearch, "400"));
        assert_eq!(d.line_id(0, 1, "one line"), "abc.0");
        assert_ne!(d.line_id(0, 2, "x"), d.line_id(1, 2, "x"));
        let p = format!(
            r#"{{"attemptsMade":4,"arrivalTimestamp":1,"errorCode":"Lambda.FunctionError","errorMessage":"boom","attemptEndingTimestamp":2,"rawData":"{}","lambdaArn":"arn:aws:lambda:eu-west-1:1:function:f"}}"#,
            b64("a\nb\n")
        );
        let d = decode(p.as_bytes(), FailureKind::Other, ("o", 0)).unwrap();
        assert_eq!(d.kind, FailureKind::Processing);
        assert_eq!(d.lines.as_ref().unwrap().len(), 2);
        assert_eq!(
            d.line_id(0, 2, "a"),
            decode(p.as_bytes(), FailureKind::Other, ("o", 0)).unwrap().line_id(0, 2, "a")
        );
        // The same bytes arriving in the same millisecond are two records when they lie in two places.
        assert_ne!(
            d.line_id(0, 1, "a"),
            decode(p.as_bytes(), FailureKind::Other, ("o", 1)).unwrap().line_id(0, 1, "a")
        );
        assert!(matches!(decode(b"nope", FailureKind::Other, ("o", 0)), Err(RecordError::NotJson(_))));
        assert_eq!(decode(b"{}", FailureKind::Other, ("o", 0)).unwrap_err(), RecordError::NoRawData);
        assert!(matches!(
            decode(br#"{"rawData":"***"}"#, FailureKind::Other, ("o", 0)),
            Err(RecordError::BadBase64(_))
        ));
    }

    #[test]
    fn a_lambda_document_keeps_its_event_id() {
        let line = r#"{"@timestamp":"2026-12-07T10:00:00Z","event":{"id":"lambda-id-1"}}"#;
        let rec = format!(r#"{{"dataId":"1.0","rawData":"{}"}}"#, b64(line));
        let d = decode(rec.as_bytes(), FailureKind::Other, ("o", 0)).unwrap();
        assert_eq!(d.line_id(0, 1, line), "lambda-id-1");
        assert_ne!(d.record_id(), d.line_id(0, 1, "plain"));
    }
}
