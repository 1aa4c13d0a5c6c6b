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

/// The one table of what each refusal answers: its HTTP status (Firehose treats 413 as permanent, 200
/// as success, and retries everything else) and a stable code recorded for correlation. `CODES` is
/// derived from the same rows, so a new variant cannot be missing from it.
macro_rules! refusals {
    ($($variant:ident => $status:ident, $code:literal;)*) => {
        impl FirehoseError {
            /// Every [`code`](Self::code), for bounded labels.
            pub const CODES: &'static [&'static str] = &[$($code),*];

            /// Every status a refusal can answer (with repeats), for the endpoint's documentation.
            pub const STATUSES: &'static [StatusCode] = &[$(StatusCode::$status),*];

            pub fn status(&self) -> StatusCode {
                match self {
                    $(FirehoseError::$variant { .. } => StatusCode::$status,)*
                }
            }

            /// A stable name for the kind of refusal, recorded for correlation.
            pub fn code(&self) -> &'static str {
                match self {
                    $(FirehoseError::$variant { .. } => $code,)*
                }
            }
        }
    };
}

refusals! {
    Unauthorized => UNAUTHORIZED, "unauthorized";
    NotConfigured => UNAUTHORIZED, "not_configured";
    MissingHeader => BAD_REQUEST, "missing_header";
    BadHeader => BAD_REQUEST, "bad_header";
    UnsupportedEncoding => UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding";
    BodyTooLarge => PAYLOAD_TOO_LARGE, "body_too_large";
    DecompressedTooLarge => PAYLOAD_TOO_LARGE, "decompressed_too_large";
    BadGzip => BAD_REQUEST, "bad_gzip";
    BadJson => BAD_REQUEST, "bad_json";
    RequestIdMismatch => BAD_REQUEST, "request_id_mismatch";
    TooManyRecords => PAYLOAD_TOO_LARGE, "too_many_records";
    NoRecords => BAD_REQUEST, "no_records";
    BadBase64 => BAD_REQUEST, "bad_base64";
    BadRecord => BAD_REQUEST, "bad_record";
    ReadBody => BAD_REQUEST, "read_body";
    StoreUnavailable => SERVICE_UNAVAILABLE, "store_unavailable";
    ShuttingDown => SERVICE_UNAVAILABLE, "shutting_down";
    Internal => INTERNAL_SERVER_ERROR, "internal";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        let mut codes = FirehoseError::CODES.to_vec();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), FirehoseError::CODES.len());
        assert_eq!(FirehoseError::BadJson("x".into()).code(), "bad_json");
        assert_eq!(FirehoseError::UnsupportedEncoding("br".into()).status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
