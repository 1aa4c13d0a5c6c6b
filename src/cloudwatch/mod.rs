//! CloudWatch Logs, the source of Firehose's delivery-error events (control path). This module owns the
//! AWS SDK client: region and credentials come from the SDK's normal chain (`AWS_*` variables, profiles,
//! instance roles), with an endpoint override for emulators and VPC endpoints. [`EventSource`] is the
//! seam the [`poller`] reads through; [`RateLimiter`] keeps it under the account's request quota.

pub mod poller;
pub mod ratelimit;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::retry::RetryConfig;
use aws_sdk_cloudwatchlogs::config::timeout::TimeoutConfig;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};

pub use poller::{Poller, StepReport};
pub use ratelimit::RateLimiter;

use crate::config::CloudWatchConfig;

/// A failed CloudWatch Logs call, classified so the caller knows whether to retry.
#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    /// `ThrottlingException` or HTTP 429: over the request quota; back off.
    #[error("CloudWatch Logs throttled the request")]
    Throttled(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Unreachable, timed out, or a 5xx: try again later.
    #[error("CloudWatch Logs is unavailable")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The pagination token is no longer valid (tokens expire after 24 hours).
    #[error("CloudWatch Logs refused the pagination token")]
    InvalidToken(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The log group does not exist (any more).
    #[error("log group not found")]
    NotFound(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (permissions, a bad request): retrying will not help.
    #[error("CloudWatch Logs request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl CloudWatchError {
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudWatchError::Throttled(_) | CloudWatchError::Transient(_) => true,
            CloudWatchError::InvalidToken(_) | CloudWatchError::NotFound(_) | CloudWatchError::Sdk(_) => false,
        }
    }

    fn from_sdk<E>(err: SdkError<E>, paginating: bool) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or("").to_owned();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let transport =
            matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_));
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        if transport {
            return CloudWatchError::Transient(boxed);
        }
        match code.as_str() {
            "ThrottlingException" | "Throttling" | "TooManyRequestsException" | "RequestLimitExceeded" => {
                CloudWatchError::Throttled(boxed)
            }
            "ServiceUnavailableException" | "InternalFailure" | "InternalServerError" => {
                CloudWatchError::Transient(boxed)
            }
            "ResourceNotFoundException" => CloudWatchError::NotFound(boxed),
            "InvalidParameterException" if paginating => CloudWatchError::InvalidToken(boxed),
            _ if status == Some(429) => CloudWatchError::Throttled(boxed),
            _ if status.is_some_and(|s| s >= 500) => CloudWatchError::Transient(boxed),
            _ => CloudWatchError::Sdk(boxed),
        }
    }
}

/// One event as FilterLogEvents returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedEvent {
    pub event_id: String,
    pub log_stream: String,
    /// Unix milliseconds.
    pub timestamp: i64,
    pub ingestion_time: Option<i64>,
    pub message: String,
}

/// One FilterLogEvents page.
#[derive(Debug, Clone, Default)]
pub struct EventPage {
    pub events: Vec<FetchedEvent>,
    pub next_token: Option<String>,
}

/// One FilterLogEvents request.
#[derive(Debug, Clone)]
pub struct FilterRequest<'a> {
    pub log_group: &'a str,
    /// Empty: every stream of the group.
    pub log_streams: &'a [String],
    /// Unix milliseconds, inclusive.
    pub start_ms: i64,
    pub limit: u32,
    pub next_token: Option<&'a str>,
}

/// Where delivery-error events come from.
#[async_trait]
pub trait EventSource: Send + Sync + 'static {
    /// One page of log group names starting with `prefix`.
    async fn log_groups(
        &self,
        prefix: &str,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), CloudWatchError>;

    async fn filter_events(&self, request: &FilterRequest<'_>) -> Result<EventPage, CloudWatchError>;
}

/// A CloudWatch Logs client configured from firesight's settings.
#[derive(Clone, Debug)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    pub async fn from_config(config: &CloudWatchConfig) -> Self {
        let shared = crate::aws::shared_config(crate::aws::Reach {
            region: config.region.as_ref(),
            endpoint_url: config.endpoint_url.as_ref(),
            access_key_id: config.access_key_id.as_ref(),
            secret_access_key: config.secret_access_key.as_ref(),
        })
        .await;
        // Retries are the poller's (rate-limited, with jitter); the SDK's own would bypass the limiter.
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(&shared)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            )
            .build();
        Self { client: Client::from_conf(config) }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The cheapest authenticated call, for readiness.
    pub async fn ping(&self) -> Result<(), CloudWatchError> {
        self.client
            .describe_log_groups()
            .limit(1)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| CloudWatchError::from_sdk(e, false))
    }
}

#[async_trait]
impl EventSource for CloudWatch {
    async fn log_groups(
        &self,
        prefix: &str,
        next_token: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), CloudWatchError> {
        let out = self
            .client
            .describe_log_groups()
            .log_group_name_prefix(prefix)
            .set_next_token(next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| CloudWatchError::from_sdk(e, next_token.is_some()))?;
        let names = out.log_groups().iter().filter_map(|g| g.log_group_name().map(str::to_owned)).collect();
        Ok((names, out.next_token().map(str::to_owned)))
    }

    async fn filter_events(&self, request: &FilterRequest<'_>) -> Result<EventPage, CloudWatchError> {
        let streams = (!request.log_streams.is_empty()).then(|| request.log_streams.to_vec());
        let out = self
            .client
            .filter_log_events()
            .log_group_name(request.log_group)
            .set_log_stream_names(streams)
            .start_time(request.start_ms)
            .limit(request.limit as i32)
            .set_next_token(request.next_token.map(str::to_owned))
            .send()
            .await
            .map_err(|e| CloudWatchError::from_sdk(e, request.next_token.is_some()))?;
        let events = out
            .events()
            .iter()
            .filter_map(|e| {
                Some(FetchedEvent {
                    event_id: e.event_id()?.to_owned(),
                    log_stream: e.log_stream_name().unwrap_or_default().to_owned(),
                    timestamp: e.timestamp()?,
                    ingestion_time: e.ingestion_time(),
                    message: e.message().unwrap_or_default().to_owned(),
                })
            })
            .collect();
        Ok(EventPage { events, next_token: out.next_token().map(str::to_owned).filter(|t| !t.is_empty()) })
    }
}
