//! Wire types of the Firehose HTTP endpoint delivery protocol, version 1.0:
//! <https://docs.aws.amazon.com/firehose/latest/dev/httpdeliveryrequestresponse.html>
//! and the CloudWatch Logs subscription payload some records carry:
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const HEADER_PROTOCOL_VERSION: &str = "x-amz-firehose-protocol-version";
pub const HEADER_REQUEST_ID: &str = "x-amz-firehose-request-id";
pub const HEADER_SOURCE_ARN: &str = "x-amz-firehose-source-arn";
pub const HEADER_ACCESS_KEY: &str = "x-amz-firehose-access-key";
pub const HEADER_COMMON_ATTRIBUTES: &str = "x-amz-firehose-common-attributes";
pub const PROTOCOL_VERSION: &str = "1.0";

/// Most bytes a record's `data` holds before base64, per the spec.
pub const MAX_RECORD_BYTES: usize = 1_024_000;

/// The delivery Firehose POSTs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseRequest {
    /// Same as the `X-Amz-Firehose-Request-Id` header; kept across retries of one delivery.
    #[schema(pattern = "[^\\t\\n\\f\\r ]")]
    pub request_id: String,
    /// When Firehose generated the request, milliseconds since the epoch.
    #[serde(default, deserialize_with = "whole_millis")]
    pub timestamp: Option<i64>,
    /// 1 to 10,000 records (`FIRESIGHT_FIREHOSE__MAX_RECORDS`).
    #[schema(min_items = 1, max_items = 10000)]
    pub records: Vec<FirehoseRecord>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct FirehoseRecord {
    /// The record's bytes, base64 with padding (at most 1,024,000 bytes decoded). May be empty.
    #[schema(pattern = "^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$", max_length = 1365336)]
    pub data: String,
}

/// The answer Firehose expects, for success and failure alike.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FirehoseResponse {
    /// The request id of the delivery being answered.
    pub request_id: String,
    /// When firesight processed the request, milliseconds since the epoch.
    pub timestamp: i64,
    /// On failure, why (at most 8,192 characters).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

/// `X-Amz-Firehose-Common-Attributes`: `{"commonAttributes": {name: value}}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommonAttributes {
    pub common_attributes: BTreeMap<String, String>,
}

/// Milliseconds as a JSON number: `1764115200000` or `1764115200000.0` (JSON Schema's `integer` admits
/// both).
fn whole_millis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let n: Option<serde_json::Number> = Option::deserialize(d)?;
    n.map(|n| match (n.as_i64(), n.as_f64()) {
        (Some(whole), _) => Ok(whole),
        (None, Some(f)) if f.fract() == 0.0 && f.abs() < 2f64.powi(53) => Ok(f as i64),
        _ => Err(serde::de::Error::custom("timestamp must be whole milliseconds")),
    })
    .transpose()
}
