//! The S3 client of the replay: region and credentials from the SDK's chain (or the configuration, for
//! emulators), path-style addressing behind an endpoint override, and the two calls a replay makes:
//! ListObjectsV2 and GetObject, the latter read as a stream (never a whole object in memory).

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use crate::config::{S3Config, S3Location};

/// A failed S3 call.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    /// The bucket does not exist, or the key vanished between listing and reading.
    #[error("S3 answered {code}: no such bucket or key")]
    NotFound { code: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// Credentials or the IAM policy refuse it: `s3:ListBucket` on the bucket and `s3:GetObject` on the
    /// backup prefix are needed.
    #[error("S3 refused access ({code}): grant s3:ListBucket and s3:GetObject on the backup prefix")]
    AccessDenied { code: String, source: Box<dyn std::error::Error + Send + Sync> },
    /// Unreachable, timed out, throttled or a 5xx: try again later.
    #[error("S3 is unavailable")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("S3 request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Reading an object's body failed part way.
    #[error("reading the object failed")]
    Read(#[source] std::io::Error),
}

impl S3Error {
    fn from_sdk<E>(err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or("").to_owned();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let transport =
            matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_));
        let source: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        match (code.as_str(), status) {
            _ if transport => S3Error::Transient(source),
            ("NoSuchBucket" | "NoSuchKey" | "NotFound", _) | (_, Some(404)) => S3Error::NotFound { code, source },
            ("AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken", _) | (_, Some(403)) => {
                S3Error::AccessDenied { code, source }
            }
            ("SlowDown" | "RequestTimeout" | "InternalError", _) | (_, Some(429 | 500..)) => S3Error::Transient(source),
            _ => S3Error::Sdk(source),
        }
    }

    /// Whether a later try may succeed without the operator.
    pub fn is_retryable(&self) -> bool {
        matches!(self, S3Error::Transient(_) | S3Error::Read(_))
    }
}

/// One object as ListObjectsV2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    pub last_modified: Option<DateTime<Utc>>,
}

/// One page of a listing, and where the next starts.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub next: Option<String>,
}

/// An S3 client configured from firesight's settings.
#[derive(Clone, Debug)]
pub struct S3 {
    client: Client,
}

impl S3 {
    pub async fn from_config(config: &S3Config) -> Self {
        let shared = crate::aws::shared_config(crate::aws::Reach {
            region: config.region.as_ref(),
            endpoint_url: config.endpoint_url.as_ref(),
            access_key_id: config.access_key_id.as_ref(),
            secret_access_key: config.secret_access_key.as_ref(),
        })
        .await;
        let s3 = aws_sdk_s3::config::Builder::from(&shared)
            // Emulators and most VPC endpoints answer only path-style requests.
            .force_path_style(config.endpoint_url.is_some())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build();
        Self { client: Client::from_conf(s3) }
    }

    /// One page (up to 1,000 objects) of the keys under `location`, in key order.
    pub async fn list(&self, location: &S3Location, continuation: Option<&str>) -> Result<ListPage, S3Error> {
        let mut request = self.client.list_objects_v2().bucket(&location.bucket).max_keys(1000);
        if !location.prefix.is_empty() {
            request = request.prefix(&location.prefix);
        }
        if let Some(token) = continuation {
            request = request.continuation_token(token);
        }
        let out = request.send().await.map_err(S3Error::from_sdk)?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_owned(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    last_modified: o
                        .last_modified()
                        .and_then(|t| t.to_millis().ok())
                        .and_then(DateTime::from_timestamp_millis),
                })
            })
            .collect();
        let next = out.next_continuation_token().filter(|t| !t.is_empty()).map(str::to_owned);
        Ok(ListPage { objects, next: if out.is_truncated() == Some(true) { next } else { None } })
    }

    /// The object's bytes as a buffered stream, gunzipped when they are gzip (told by the magic bytes,
    /// not the name: Firehose names compressed objects `.gz` only for some formats).
    pub async fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn AsyncBufRead + Send + Unpin>, S3Error> {
        let out = self.client.get_object().bucket(bucket).key(key).send().await.map_err(S3Error::from_sdk)?;
        let mut body = BufReader::with_capacity(256 * 1024, out.body.into_async_read());
        let is_gzip = body.fill_buf().await.map_err(S3Error::Read)?.starts_with(&[0x1f, 0x8b]);
        Ok(if is_gzip {
            let mut decoder = async_compression::tokio::bufread::GzipDecoder::new(body);
            // Concatenated gzip members (appended uploads) read as one stream.
            decoder.multiple_members(true);
            Box::new(BufReader::with_capacity(256 * 1024, decoder))
        } else {
            Box::new(body)
        })
    }
}
