//! AWS Signature Version 4 towards Amazon OpenSearch Service (`es`) and OpenSearch Serverless (`aoss`).
//!
//! Credentials come from the AWS SDK's default chain (environment, shared profile, web identity / IRSA,
//! ECS task role, EC2 instance role), optionally exchanged with STS for an assumed role, and are cached
//! here and refreshed [`REFRESH_BEFORE`] their expiry. The signing itself is the `opensearch` crate's
//! `aws-auth` feature: it signs the request after it is built, so the payload hash
//! (`x-amz-content-sha256`, which Serverless requires) covers exactly the bytes sent, the query string is
//! canonicalised from the URL as sent, and every header set at that point is signed.
//!
//! A refused request is told apart here: a signature AWS does not accept, a clock too far from AWS's
//! (SigV4 allows five minutes) and an IAM policy that does not allow the call. No credential, token or
//! signature is ever part of an error.

use std::time::{Duration, SystemTime};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use chrono::{DateTime, Utc};

use super::text::truncate;
use crate::config::OpenSearchConfig;
use crate::store::StoreError;

/// Credentials are renewed this long before they expire, so a request never carries expired ones.
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// How far apart two clocks may be before SigV4 refuses a request.
const MAX_SKEW_SECS: i64 = 300;

/// What signs requests: the cached credentials, the region and the service name.
#[derive(Clone, Debug)]
pub struct Signing {
    pub credentials: SharedCredentialsProvider,
    pub region: Region,
    pub service: &'static str,
}

impl Signing {
    /// Resolves the region and the credential chain and fetches credentials once, so a start without
    /// any fails at once with the reason.
    pub async fn from_config(config: &OpenSearchConfig) -> Result<Self, StoreError> {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(region) = &config.aws_region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        let region = sdk.region().cloned().ok_or_else(|| {
            StoreError::Credentials(
                "no AWS region: set FIRESIGHT_OPENSEARCH__AWS_REGION (or AWS_REGION) to the domain's region".into(),
            )
        })?;
        let chain = sdk
            .credentials_provider()
            .ok_or_else(|| StoreError::Credentials("the AWS SDK has no credential chain configured".into()))?;
        let source = match &config.aws_role_arn {
            None => chain,
            Some(role) => {
                let assumed = aws_config::sts::AssumeRoleProvider::builder(role.clone())
                    .session_name("firesight-opensearch")
                    .configure(&sdk)
                    .build()
                    .await;
                SharedCredentialsProvider::new(assumed)
            }
        };
        let credentials = SharedCredentialsProvider::new(Refreshing::new(source));
        let signing = Signing { credentials, region, service: config.aws_service.signing_name() };
        signing.credentials().await?;
        Ok(signing)
    }

    /// Current credentials (from the cache unless they are about to expire).
    pub async fn credentials(&self) -> Result<Credentials, StoreError> {
        self.credentials.provide_credentials().await.map_err(|e| StoreError::Credentials(describe(&e)))
    }
}

/// The chain's error with its causes, which name the providers tried and why each had nothing.
fn describe(error: &CredentialsError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Caches what a provider returns until [`REFRESH_BEFORE`] its expiry; one refresh at a time. When a
/// refresh fails and the cached credentials have not expired yet, they are used meanwhile.
#[derive(Debug)]
struct Refreshing {
    source: SharedCredentialsProvider,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl Refreshing {
    fn new(source: SharedCredentialsProvider) -> Self {
        Self { source, cached: tokio::sync::Mutex::new(None) }
    }

    async fn current(&self) -> Result<Credentials, CredentialsError> {
        let mut cached = self.cached.lock().await;
        let now = SystemTime::now();
        if let Some(credentials) = cached.as_ref()
            && credentials.expiry().is_none_or(|expiry| expiry > now + REFRESH_BEFORE)
        {
            return Ok(credentials.clone());
        }
        match self.source.provide_credentials().await {
            Ok(fresh) => {
                tracing::debug!(expires = ?fresh.expiry(), "OpenSearch signing credentials renewed");
                *cached = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match cached.as_ref() {
                Some(still_valid) if still_valid.expiry().is_some_and(|expiry| expiry > now) => {
                    tracing::warn!(error = %describe(&e), "renewing the OpenSearch signing credentials failed; using the current ones until they expire");
                    Ok(still_valid.clone())
                }
                _ => Err(e),
            },
        }
    }
}

impl ProvideCredentials for Refreshing {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.current())
    }
}

/// Why AWS refused a request with 403, from its answer: the body's `message` (`Message` on some
/// endpoints) and the `Date` header, which gives the skew when the signature's time was refused.
pub fn refusal(body: &str, date_header: Option<&str>) -> StoreError {
    let parsed = serde_json::from_str::<serde_json::Value>(body).ok();
    if parsed.as_ref().and_then(|v| v.pointer("/error/type")).and_then(|t| t.as_str()) == Some("Forbidden") {
        // OpenSearch Serverless's 403 does not say why.
        return StoreError::SignatureRefused(
            "OpenSearch Serverless answered 403 Forbidden without a reason: the signature or the credentials were \
             refused, or no data access policy grants this principal the permission"
                .into(),
        );
    }
    let message = parsed
        .and_then(|v| v.get("message").or_else(|| v.get("Message")).and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| body.trim().to_owned());
    let message = truncate(&message, 500);
    let skew = date_header.and_then(|d| DateTime::parse_from_rfc2822(d).ok()).map(|server| {
        let server: DateTime<Utc> = server.into();
        (Utc::now() - server).num_seconds()
    });
    let lower = message.to_ascii_lowercase();
    let time_refused = lower.contains("signature expired") || lower.contains("signature not yet current");
    match skew {
        Some(skew) if time_refused || skew.abs() > MAX_SKEW_SECS => StoreError::ClockSkew { skew_secs: skew, message },
        None if time_refused => StoreError::ClockSkew { skew_secs: 0, message },
        _ if lower.contains("signature") || lower.contains("security token") || lower.contains("access key") => {
            StoreError::SignatureRefused(message)
        }
        _ => StoreError::AccessDenied(message),
    }
}

/// A credentials provider for tests and benches: fixed keys.
pub fn static_credentials(access_key: &str, secret: &str, region: &str, service: &'static str) -> Signing {
    let provider = Credentials::new(access_key, secret, None, None, "firesight-static");
    Signing { credentials: SharedCredentialsProvider::new(provider), region: Region::new(region.to_owned()), service }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_told_apart() {
        let mismatch = r#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}"#;
        assert!(
            matches!(refusal(mismatch, None), StoreError::SignatureRefused(m) if m.starts_with("The request signature"))
        );
        let expired = r#"{"message":"Signature expired: 20261207T100000Z is now earlier than 20261207T101500Z (20261207T102000Z - 5 min.)"}"#;
        let date = (Utc::now() + chrono::Duration::minutes(20)).to_rfc2822();
        match refusal(expired, Some(&date)) {
            StoreError::ClockSkew { skew_secs, .. } => assert!((-1210..=-1190).contains(&skew_secs), "{skew_secs}"),
            other => panic!("{other:?}"),
        }
        let token = r#"{"message":"The security token included in the request is invalid."}"#;
        assert!(matches!(refusal(token, None), StoreError::SignatureRefused(_)));
        let serverless = r#"{"status":403,"request-id":"x","error":{"reason":"403 Forbidden","type":"Forbidden"}}"#;
        assert!(matches!(refusal(serverless, None), StoreError::SignatureRefused(m) if m.contains("Serverless")));
        let iam = r#"{"Message":"User: arn:aws:iam::123456789012:user/x is not authorized to perform: es:ESHttpPost"}"#;
        assert!(
            matches!(refusal(iam, Some(&Utc::now().to_rfc2822())), StoreError::AccessDenied(m) if m.contains("es:ESHttpPost"))
        );
    }
}
