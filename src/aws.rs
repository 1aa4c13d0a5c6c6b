//! The AWS SDK's shared configuration for firesight's clients (CloudWatch Logs, Kinesis, S3): region and
//! credentials from the SDK's normal chain (`AWS_*` variables, profiles, web identity, container and
//! instance roles), with an endpoint override for emulators and VPC endpoints and optional static keys.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;

use crate::config::Secret;

/// What a client section of the configuration says about reaching AWS.
pub struct Reach<'a> {
    pub region: Option<&'a String>,
    pub endpoint_url: Option<&'a String>,
    pub access_key_id: Option<&'a String>,
    pub secret_access_key: Option<&'a Secret>,
}

/// The SDK configuration each service client builds on.
pub async fn shared_config(reach: Reach<'_>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = reach.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = reach.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if let (Some(id), Some(secret)) = (reach.access_key_id, reach.secret_access_key) {
        loader = loader.credentials_provider(Credentials::new(id, secret.expose(), None, None, "firesight-config"));
    }
    loader.load().await
}
