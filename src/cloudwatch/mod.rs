//! CloudWatch Logs, the source of Firehose's delivery-error events (control path). This module owns the
//! AWS SDK client: region and credentials come from the SDK's normal chain (`AWS_*` variables, profiles,
//! instance roles), with an endpoint override for emulators and VPC endpoints.

use aws_config::BehaviorVersion;
use aws_sdk_cloudwatchlogs::Client;
use aws_sdk_cloudwatchlogs::config::{Credentials, Region};

use crate::config::CloudWatchConfig;

#[derive(Debug, thiserror::Error)]
pub enum CloudWatchError {
    #[error("CloudWatch Logs request failed")]
    Sdk(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A CloudWatch Logs client configured from firesight's settings.
#[derive(Clone, Debug)]
pub struct CloudWatch {
    client: Client,
}

impl CloudWatch {
    pub async fn from_config(config: &CloudWatchConfig) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(endpoint) = &config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            loader = loader.credentials_provider(Credentials::new(id, secret.expose(), None, None, "firesight-config"));
        }
        let shared = loader.load().await;
        Self { client: Client::new(&shared) }
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
            .map_err(|e| CloudWatchError::Sdk(Box::new(e)))
    }
}
