//! Kinesis Data Streams, read directly: the agents' stream, beside Firehose or instead of it. This file
//! owns the AWS SDK client (region and credentials from the SDK's chain, as for CloudWatch Logs) and the
//! four calls the consumer makes, with their errors classified. [`leases`] keeps who reads which shard
//! and how far in the state database, [`balance`] decides which leases this replica takes, [`shard`]
//! reads one shard into the ingest core, and [`consumer`] runs it all.

pub mod balance;
pub mod consumer;
pub mod leases;
pub mod shard;

use std::time::Duration;

use aws_sdk_kinesis::Client;
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kinesis::primitives::DateTime as AwsDateTime;
use aws_sdk_kinesis::types::ShardIteratorType;
use chrono::{DateTime, Utc};

pub use consumer::{Consumer, StreamStatus};

use crate::config::KinesisConfig;

/// A failed Kinesis call, classified so the caller knows what to do next.
#[derive(Debug, thiserror::Error)]
pub enum KinesisError {
    /// `ProvisionedThroughputExceededException` or another throttle: the shard's read limits (5 calls,
    /// 2 MB per second, shared by every consumer) are spent; back off.
    #[error("Kinesis throttled the request")]
    Throttled(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The shard iterator is older than 5 minutes; get a new one from the checkpoint.
    #[error("the shard iterator expired")]
    ExpiredIterator(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The stream or shard does not exist (any more).
    #[error("stream or shard not found")]
    NotFound(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Unreachable, timed out, or a 5xx: try again later.
    #[error("Kinesis is unavailable")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Anything else (permissions, a bad request, a KMS key that cannot be used): the operator fixes it.
    #[error("Kinesis request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl KinesisError {
    fn from_sdk<E>(err: SdkError<E>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or("").to_owned();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let transport =
            matches!(err, SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_));
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(err);
        if transport {
            return KinesisError::Transient(boxed);
        }
        match code.as_str() {
            "ProvisionedThroughputExceededException"
            | "LimitExceededException"
            | "ThrottlingException"
            | "KMSThrottlingException" => KinesisError::Throttled(boxed),
            "ExpiredIteratorException" => KinesisError::ExpiredIterator(boxed),
            "ResourceNotFoundException" => KinesisError::NotFound(boxed),
            "InternalFailure" | "InternalFailureException" | "ServiceUnavailable" | "ServiceUnavailableException" => {
                KinesisError::Transient(boxed)
            }
            _ if status == Some(429) => KinesisError::Throttled(boxed),
            _ if status.is_some_and(|s| s >= 500) => KinesisError::Transient(boxed),
            _ => KinesisError::Sdk(boxed),
        }
    }
}

/// A stream as DescribeStreamSummary names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub arn: String,
    pub name: String,
    pub status: String,
}

/// One shard as ListShards describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub shard_id: String,
    /// The shard it was split from, or the first of the two it was merged from.
    pub parent: Option<String>,
    /// The second parent of a merge.
    pub adjacent_parent: Option<String>,
    /// Set once the shard is closed (split or merged): no record after it.
    pub ending_sequence: Option<String>,
}

impl ShardInfo {
    pub fn parents(&self) -> Vec<String> {
        self.parent.iter().chain(&self.adjacent_parent).cloned().collect()
    }
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    TrimHorizon,
    Latest,
    At(DateTime<Utc>),
    After(String),
}

/// One record as GetRecords returns it.
#[derive(Debug, Clone)]
pub struct FetchedRecord {
    pub sequence_number: String,
    pub partition_key: String,
    pub arrival: Option<DateTime<Utc>>,
    pub data: Vec<u8>,
}

/// One GetRecords answer.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    pub records: Vec<FetchedRecord>,
    /// `None` once a closed shard is read to its end.
    pub next_iterator: Option<String>,
    pub millis_behind_latest: Option<i64>,
    /// The shards that continue this one, returned at a closed shard's end (real Kinesis; emulators
    /// may leave it out).
    pub child_shards: Vec<String>,
    /// Sum of the records' data sizes.
    pub bytes: usize,
}

/// A Kinesis client configured from firesight's settings.
#[derive(Clone, Debug)]
pub struct Kinesis {
    client: Client,
}

impl Kinesis {
    pub async fn from_config(config: &KinesisConfig) -> Self {
        let shared = crate::aws::shared_config(crate::aws::Reach {
            region: config.region.as_ref(),
            endpoint_url: config.endpoint_url.as_ref(),
            access_key_id: config.access_key_id.as_ref(),
            secret_access_key: config.secret_access_key.as_ref(),
        })
        .await;
        // Retries are the shard reader's (paced per shard, with jitter); the SDK's would ignore the pacing.
        let config = aws_sdk_kinesis::config::Builder::from(&shared)
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

    /// The stream's ARN, name and status; `stream` is a name or an ARN.
    pub async fn describe(&self, stream: &str) -> Result<StreamInfo, KinesisError> {
        let request = self.client.describe_stream_summary();
        let request = if stream.starts_with("arn:") { request.stream_arn(stream) } else { request.stream_name(stream) };
        let out = request.send().await.map_err(KinesisError::from_sdk)?;
        let summary = out.stream_description_summary();
        Ok(StreamInfo {
            arn: summary.map(|s| s.stream_arn().to_owned()).unwrap_or_default(),
            name: summary.map(|s| s.stream_name().to_owned()).unwrap_or_default(),
            status: summary.map(|s| s.stream_status().as_str().to_owned()).unwrap_or_default(),
        })
    }

    /// Every shard of the stream still within its retention, open and closed.
    pub async fn shards(&self, stream_arn: &str) -> Result<Vec<ShardInfo>, KinesisError> {
        let mut shards = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // With a NextToken, ListShards refuses the stream's name or ARN.
            let request = match &token {
                Some(t) => self.client.list_shards().next_token(t),
                None => self.client.list_shards().stream_arn(stream_arn),
            };
            let out = request.send().await.map_err(KinesisError::from_sdk)?;
            shards.extend(out.shards().iter().map(|s| ShardInfo {
                shard_id: s.shard_id().to_owned(),
                parent: s.parent_shard_id().map(str::to_owned),
                adjacent_parent: s.adjacent_parent_shard_id().map(str::to_owned),
                ending_sequence: s.sequence_number_range().and_then(|r| r.ending_sequence_number()).map(str::to_owned),
            }));
            token = out.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
            if token.is_none() {
                return Ok(shards);
            }
        }
    }

    pub async fn iterator(&self, stream_arn: &str, shard_id: &str, from: &Position) -> Result<String, KinesisError> {
        let request = self.client.get_shard_iterator().stream_arn(stream_arn).shard_id(shard_id);
        let request = match from {
            Position::TrimHorizon => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            Position::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            Position::At(time) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(AwsDateTime::from_millis(time.timestamp_millis())),
            Position::After(sequence) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).starting_sequence_number(sequence)
            }
        };
        let out = request.send().await.map_err(KinesisError::from_sdk)?;
        out.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| KinesisError::Sdk("GetShardIterator answered without an iterator".into()))
    }

    pub async fn records(&self, stream_arn: &str, iterator: &str, limit: u32) -> Result<RecordBatch, KinesisError> {
        let out = self
            .client
            .get_records()
            .stream_arn(stream_arn)
            .shard_iterator(iterator)
            .limit(limit as i32)
            .send()
            .await
            .map_err(KinesisError::from_sdk)?;
        let mut bytes = 0;
        let records = out
            .records()
            .iter()
            .map(|r| {
                bytes += r.data().as_ref().len();
                FetchedRecord {
                    sequence_number: r.sequence_number().to_owned(),
                    partition_key: r.partition_key().to_owned(),
                    arrival: r
                        .approximate_arrival_timestamp()
                        .and_then(|t| t.to_millis().ok())
                        .and_then(DateTime::from_timestamp_millis),
                    data: r.data().as_ref().to_vec(),
                }
            })
            .collect();
        Ok(RecordBatch {
            records,
            next_iterator: out.next_shard_iterator().filter(|i| !i.is_empty()).map(str::to_owned),
            millis_behind_latest: out.millis_behind_latest(),
            child_shards: out.child_shards().iter().map(|c| c.shard_id().to_owned()).collect(),
            bytes,
        })
    }
}
