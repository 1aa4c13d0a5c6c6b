//! Why a delivery was refused, and how Firehose must be told: each error knows its HTTP status (which
//! decides whether Firehose retries) and the `errorMessage` it sends back.

use axum::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    #[error("missing or wrong X-Amz-Firehose-Access-Key")]
    Unauthorized,
    #[error("no Firehose access key is configured on this endpoint (set FIRESIGHT_FIREHOSE__ACCESS_KEYS)")]
    NotConfigured,
    #[error("missing header {0}")]
    MissingHeader(&'static str),
    #[error("header {header}: {reason}")]
    BadHeader { header: &'static str, reason: String },
    #[error("unsupported Content-Encoding {0:?} (only gzip or none)")]
    UnsupportedEncoding(String),
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("decompressed body exceeds {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
    #[error("body is not a valid Firehose request: {0}")]
    BadJson(String),
    #[error("requestId {body:?} in the body differs from the X-Amz-Firehose-Request-Id header {header:?}")]
    RequestIdMismatch { header: String, body: String },
    #[error("{count} records exceed the limit of {limit} per request")]
    TooManyRecords { count: usize, limit: usize },
    #[error("the request holds no records")]
    NoRecords,
    #[error("record {index}: data is not valid base64: {reason}")]
    BadBase64 { index: usize, reason: String },
    #[error("record {index}: {reason}")]
    BadRecord { index: usize, reason: String },
    #[error("could not read the request body: {0}")]
    ReadBody(String),
    #[error("the log store is unavailable; retry later")]
    StoreUnavailable,
    #[error("the service is shutting down; retry later")]
    ShuttingDown,
    #[error("internal error; retry later")]
    Internal,
}

impl FirehoseError {
    /// Firehose treats 413 as permanent, 200 as success, and retries everything else.
    pub fn status(&self) -> StatusCode {
        match self {
            FirehoseError::Unauthorized | FirehoseError::NotConfigured => StatusCode::UNAUTHORIZED,
            FirehoseError::BodyTooLarge { .. }
            | FirehoseError::DecompressedTooLarge { .. }
            | FirehoseError::TooManyRecords { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            FirehoseError::MissingHeader(_)
            | FirehoseError::BadHeader { .. }
            | FirehoseError::BadGzip(_)
            | FirehoseError::BadJson(_)
            | FirehoseError::RequestIdMismatch { .. }
            | FirehoseError::NoRecords
            | FirehoseError::BadBase64 { .. }
            | FirehoseError::BadRecord { .. }
            | FirehoseError::ReadBody(_) => StatusCode::BAD_REQUEST,
            FirehoseError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FirehoseError::StoreUnavailable | FirehoseError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            FirehoseError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl FirehoseError {
    /// Every [`code`](Self::code), for bounded labels.
    pub const CODES: [&'static str; 18] = [
        "unauthorized",
        "not_configured",
        "missing_header",
        "bad_header",
        "unsupported_encoding",
        "body_too_large",
        "decompressed_too_large",
        "bad_gzip",
        "bad_json",
        "request_id_mismatch",
        "too_many_records",
        "no_records",
        "bad_base64",
        "bad_record",
        "read_body",
        "store_unavailable",
        "shutting_down",
        "internal",
    ];

    /// A stable name for the kind of refusal, recorded for correlation.
    pub fn code(&self) -> &'static str {
        match self {
            FirehoseError::Unauthorized => "unauthorized",
            FirehoseError::NotConfigured => "not_configured",
            FirehoseError::MissingHeader(_) => "missing_header",
            FirehoseError::BadHeader { .. } => "bad_header",
            FirehoseError::UnsupportedEncoding(_) => "unsupported_encoding",
            FirehoseError::BodyTooLarge { .. } => "body_too_large",
            FirehoseError::DecompressedTooLarge { .. } => "decompressed_too_large",
            FirehoseError::BadGzip(_) => "bad_gzip",
            FirehoseError::BadJson(_) => "bad_json",
            FirehoseError::RequestIdMismatch { .. } => "request_id_mismatch",
            FirehoseError::TooManyRecords { .. } => "too_many_records",
            FirehoseError::NoRecords => "no_records",
            FirehoseError::BadBase64 { .. } => "bad_base64",
            FirehoseError::BadRecord { .. } => "bad_record",
            FirehoseError::ReadBody(_) => "read_body",
            FirehoseError::StoreUnavailable => "store_unavailable",
            FirehoseError::ShuttingDown => "shutting_down",
            FirehoseError::Internal => "internal",
        }
    }
}
