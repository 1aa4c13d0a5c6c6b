//! Firehose delivery-error events as CloudWatch Logs holds them: a JSON object with
//! `deliveryStreamARN`, `destination`, `deliveryStreamVersionId`, `message`, `errorCode` and, with a
//! transforming Lambda, `processor` (see the Firehose guide, "Monitoring Kinesis Data Firehose Using
//! CloudWatch Logs"). Pure functions: the poller stores what [`parse_event`] returns, and a message that
//! is not of this shape is kept raw as [`Family::Unknown`], never dropped.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which part of the pipeline failed, from the error code's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// `HttpEndpoint.*`: delivery to an HTTP endpoint destination (such as firesight itself).
    HttpEndpoint,
    /// `Lambda.*`: the transforming Lambda function.
    Lambda,
    /// `S3.*`: the S3 destination or backup bucket.
    S3,
    /// `ES.*` and `OS.*`: the Amazon OpenSearch Service destination.
    Opensearch,
    /// `Splunk.*`.
    Splunk,
    /// `Redshift.*`.
    Redshift,
    /// A bare HTTP status as the code (`400`, `503`): OpenSearch answered that status.
    HttpStatus,
    /// `InternalError`: Firehose's own fault, retried by Firehose.
    Internal,
    /// A well-formed event with a code of a family firesight does not know (a newer destination).
    Other,
    /// Not a Firehose delivery-error event at all; kept raw.
    Unknown,
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::HttpEndpoint,
        Family::Lambda,
        Family::S3,
        Family::Opensearch,
        Family::Splunk,
        Family::Redshift,
        Family::HttpStatus,
        Family::Internal,
        Family::Other,
        Family::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Family::HttpEndpoint => "http_endpoint",
            Family::Lambda => "lambda",
            Family::S3 => "s3",
            Family::Opensearch => "opensearch",
            Family::Splunk => "splunk",
            Family::Redshift => "redshift",
            Family::HttpStatus => "http_status",
            Family::Internal => "internal",
            Family::Other => "other",
            Family::Unknown => "unknown",
        }
    }

    pub fn parse(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == name)
    }

    /// The family of an error code.
    pub fn of_code(code: &str) -> Family {
        let prefix = code.split('.').next().unwrap_or("");
        match prefix {
            "HttpEndpoint" => Family::HttpEndpoint,
            "Lambda" => Family::Lambda,
            "S3" => Family::S3,
            "ES" | "OS" | "Elasticsearch" | "OpenSearch" | "AmazonOpenSearchService" => Family::Opensearch,
            "Splunk" => Family::Splunk,
            "Redshift" => Family::Redshift,
            "InternalError" => Family::Internal,
            _ if is_http_status(code) => Family::HttpStatus,
            _ => Family::Other,
        }
    }
}

fn is_http_status(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && (b'1'..=b'5').contains(&code.as_bytes()[0])
}

/// One delivery error, as understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedError {
    /// Delivery stream name: from the ARN, else from the log group (`/aws/kinesisfirehose/<stream>`).
    pub stream: String,
    pub stream_arn: Option<String>,
    pub destination: Option<String>,
    pub version_id: Option<i64>,
    pub error_code: Option<String>,
    pub family: Family,
    /// The OpenSearch error type when the message embeds OpenSearch's JSON (`mapper_parsing_exception`).
    pub error_type: Option<String>,
    /// The HTTP status the destination answered, when the code or message says.
    pub http_status: Option<u16>,
    pub processor: Option<String>,
    pub message: Option<String>,
}

/// The event's wire shape. Unknown fields (`esDocumentId`, ...) are allowed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "deliveryStreamARN")]
    delivery_stream_arn: Option<String>,
    destination: Option<serde_json::Value>,
    delivery_stream_version_id: Option<serde_json::Value>,
    message: Option<serde_json::Value>,
    error_code: Option<serde_json::Value>,
    processor: Option<String>,
}

/// Understands one CloudWatch event message from `log_group`. A message that is not a JSON object with
/// at least an `errorCode` or a `deliveryStreamARN` is [`Family::Unknown`], with only the stream name
/// the log group gives.
pub fn parse_event(log_group: &str, raw: &str) -> ParsedError {
    let fallback_stream = stream_from_log_group(log_group);
    let event = serde_json::from_str::<Event>(raw.trim())
        .ok()
        .filter(|e| e.error_code.is_some() || e.delivery_stream_arn.is_some());
    let Some(event) = event else {
        return ParsedError {
            stream: fallback_stream,
            stream_arn: None,
            destination: None,
            version_id: None,
            error_code: None,
            family: Family::Unknown,
            error_type: None,
            http_status: None,
            processor: None,
            message: None,
        };
    };
    let error_code = event.error_code.as_ref().and_then(scalar_text).filter(|c| !c.is_empty());
    let message = event.message.as_ref().map(|m| scalar_text(m).unwrap_or_else(|| m.to_string()));
    let family = match &error_code {
        Some(code) => Family::of_code(code),
        None => Family::Other,
    };
    let http_status = error_code
        .as_deref()
        .filter(|c| is_http_status(c))
        .and_then(|c| c.parse().ok())
        .or_else(|| message.as_deref().and_then(status_in_message));
    let error_type = message.as_deref().and_then(opensearch_error_type);
    ParsedError {
        stream: event.delivery_stream_arn.as_deref().and_then(stream_from_arn).unwrap_or(fallback_stream),
        stream_arn: event.delivery_stream_arn,
        destination: event.destination.as_ref().and_then(scalar_text),
        version_id: event.delivery_stream_version_id.as_ref().and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }),
        error_code,
        family,
        error_type,
        http_status,
        processor: event.processor,
        message,
    }
}

fn scalar_text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `arn:aws:firehose:us-east-1:123456789012:deliverystream/weblogs` → `weblogs`.
pub fn stream_from_arn(arn: &str) -> Option<String> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let name = resource.strip_prefix("deliverystream/")?;
    (!name.is_empty()).then(|| name.to_owned())
}

/// `/aws/kinesisfirehose/weblogs` → `weblogs`; any other group name is its own last segment.
pub fn stream_from_log_group(log_group: &str) -> String {
    log_group.trim_end_matches('/').rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or(log_group).to_owned()
}

/// The status in HTTP-endpoint messages: `... Response received with status code. 400: {...}`,
/// `... endpoint destination. 413: {...}` or `Raw response received: 200 {...}`: three digits after a
/// space, then `: ` or ` {`.
fn status_in_message(message: &str) -> Option<u16> {
    let bytes = message.as_bytes();
    (1..bytes.len().saturating_sub(4)).find_map(|i| {
        let digits = std::str::from_utf8(&bytes[i..i + 3]).ok()?;
        let after = &bytes[i + 3..i + 5];
        let framed = bytes[i - 1] == b' ' && (after == b": " || after == b" {");
        (framed && is_http_status(digits)).then(|| digits.parse().ok()).flatten()
    })
}

/// The OpenSearch error type in a message embedding OpenSearch's JSON: the first JSON object in the
/// message, read for `error.type`, `type` or `error.root_cause[0].type`; otherwise the first
/// `"type":"<..._exception>"` in the text (a truncated body).
pub fn opensearch_error_type(message: &str) -> Option<String> {
    for (start, _) in message.match_indices('{') {
        let mut stream = serde_json::Deserializer::from_str(&message[start..]).into_iter::<serde_json::Value>();
        if let Some(Ok(value)) = stream.next()
            && let Some(t) = type_in(&value)
        {
            return Some(t);
        }
    }
    let at = message.find("\"type\"")?;
    let rest = message[at + 6..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let value = &rest[..rest.find('"')?];
    (value.ends_with("_exception") || value.ends_with("_error")).then(|| value.to_owned())
}

fn type_in(value: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    if let Some(error) = value.get("error") {
        if let Some(t) = error.get("type").and_then(text) {
            return Some(t);
        }
        if let Some(t) = error.pointer("/root_cause/0/type").and_then(text) {
            return Some(t);
        }
        if let Some(t) = error.as_str().filter(|s| s.ends_with("_exception")) {
            return Some(t.to_owned());
        }
    }
    value.get("type").and_then(text).filter(|t| t.contains('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP: &str = "/aws/kinesisfirehose/weblogs";

    fn fixture(path: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/firehose").join(path),
        )
        .unwrap()
    }

    #[test]
    fn documented_http_endpoint_events() {
        let e = parse_event(GROUP, &fixture("aws-docs/examples/delivery_error_HttpEndpoint.DestinationException.json"));
        assert_eq!(e.stream, "ronald-test");
        assert_eq!(e.error_code.as_deref(), Some("HttpEndpoint.DestinationException"));
        assert_eq!(e.family, Family::HttpEndpoint);
        assert_eq!(e.http_status, Some(413));
        assert_eq!(e.version_id, Some(1));
        assert_eq!(e.destination.as_deref(), Some("custom.firehose.endpoint.com..."));
        assert_eq!(e.processor.as_deref(), Some("arn:aws:lambda:us-east-1:379522611494:function:httpLambdaProcessing"));
        assert_eq!(e.error_type, None);

        let e = parse_event(
            GROUP,
            &fixture("aws-docs/examples/delivery_error_HttpEndpoint.InvalidResponseFromDestination.json"),
        );
        assert_eq!(e.family, Family::HttpEndpoint);
        assert_eq!(e.error_code.as_deref(), Some("HttpEndpoint.InvalidResponseFromDestination"));
        assert_eq!(e.http_status, Some(200), "Raw response received: 200 {{...}}");
    }

    #[test]
    fn real_world_messages_give_the_endpoint_status() {
        let text = fixture("real-world/firehose_error_messages_quoted_in_github_issues.txt");
        let messages: Vec<&str> = text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        assert_eq!(messages.len(), 2);
        for m in messages {
            let event = serde_json::json!({
                "deliveryStreamARN": "arn:aws:firehose:eu-west-1:123456789012:deliverystream/edge-logs",
                "destination": "logs.example.com",
                "deliveryStreamVersionId": 3,
                "message": m,
                "errorCode": "HttpEndpoint.DestinationException",
            });
            let e = parse_event(GROUP, &event.to_string());
            assert_eq!(e.stream, "edge-logs");
            assert_eq!(e.http_status, Some(400), "{m}");
            assert_eq!(e.message.as_deref(), Some(m));
        }
    }

    #[test]
    fn every_documented_code_has_its_family() {
        let table = fixture("aws-docs/examples/delivery_error_codes_from_docs.tsv");
        let mut rows = 0;
        for line in table.lines().skip(1) {
            let code = line.split('\t').next().unwrap();
            rows += 1;
            let expected = match code.split('.').next().unwrap() {
                "S3" => Family::S3,
                "Redshift" => Family::Redshift,
                "Splunk" => Family::Splunk,
                "HttpEndpoint" => Family::HttpEndpoint,
                "Lambda" => Family::Lambda,
                "InternalError" => Family::Internal,
                other => panic!("undocumented family {other}"),
            };
            let event = serde_json::json!({
                "deliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/s",
                "destination": "x", "deliveryStreamVersionId": 1, "message": "m", "errorCode": code,
            });
            assert_eq!(parse_event(GROUP, &event.to_string()).family, expected, "{code}");
        }
        assert_eq!(rows, 61);
    }

    #[test]
    fn opensearch_codes_and_error_types() {
        assert_eq!(Family::of_code("OS.ConnectionFailed"), Family::Opensearch);
        assert_eq!(Family::of_code("ES.ServiceException"), Family::Opensearch);
        assert_eq!(Family::of_code("400"), Family::HttpStatus);
        assert_eq!(Family::of_code("Snowflake.InvalidUrl"), Family::Other);
        assert_eq!(Family::of_code("4000"), Family::Other);

        let message = r#"{"type":"mapper_parsing_exception","reason":"failed to parse field [http.response.status_code] of type [long]","caused_by":{"type":"illegal_argument_exception","reason":"For input string: \"abc\""}}"#;
        let event = serde_json::json!({
            "deliveryStreamARN": "arn:aws:firehose:us-east-1:123456789012:deliverystream/to-opensearch",
            "destination": "arn:aws:es:us-east-1:123456789012:domain/logs",
            "deliveryStreamVersionId": 2,
            "message": message,
            "errorCode": "400",
            "esDocumentId": "49545...",
        });
        let e = parse_event(GROUP, &event.to_string());
        assert_eq!(e.family, Family::HttpStatus);
        assert_eq!(e.http_status, Some(400));
        assert_eq!(e.error_type.as_deref(), Some("mapper_parsing_exception"));
        assert_eq!(e.stream, "to-opensearch");

        let wrapped = r#"Error received from Elasticsearch cluster. {"error":{"root_cause":[{"type":"cluster_block_exception","reason":"index [x] blocked"}],"type":"cluster_block_exception","reason":"blocked"},"status":403}"#;
        assert_eq!(opensearch_error_type(wrapped).as_deref(), Some("cluster_block_exception"));
        let truncated =
            r#"OpenSearch said {"error":{"type":"es_rejected_execution_exception","reason":"rejected execution of"#;
        assert_eq!(opensearch_error_type(truncated).as_deref(), Some("es_rejected_execution_exception"));
        assert_eq!(opensearch_error_type("Delivery failed: connection reset"), None);
    }

    #[test]
    fn unknown_shapes_are_kept_with_the_group_stream() {
        for raw in ["plain text line", "[1,2,3]", r#"{"level":"info","msg":"hello"}"#, ""] {
            let e = parse_event("/aws/kinesisfirehose/clicks", raw);
            assert_eq!(e.family, Family::Unknown, "{raw}");
            assert_eq!(e.stream, "clicks");
        }
        // A delivery error without an ARN takes the stream from the log group.
        let e = parse_event("/aws/kinesisfirehose/clicks", r#"{"errorCode":"S3.AccessDenied","message":"denied"}"#);
        assert_eq!((e.family, e.stream.as_str()), (Family::S3, "clicks"));
    }

    #[test]
    fn arns() {
        assert_eq!(
            stream_from_arn("arn:aws:firehose:us-east-1:123456789012:deliverystream/a-b").as_deref(),
            Some("a-b")
        );
        assert_eq!(stream_from_arn("arn:aws-cn:firehose:cn-north-1:1:deliverystream/x").as_deref(), Some("x"));
        assert_eq!(stream_from_arn("arn:aws:s3:::bucket"), None);
        assert_eq!(stream_from_arn("nonsense"), None);
    }
}
