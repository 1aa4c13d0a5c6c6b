//! OpenSearch adapter of the log store: talks to the cluster over its REST API with the `opensearch`
//! crate, checks the version, and keeps the index template for the daily indices installed. The read
//! path ([`read`]) builds its requests with [`dsl`].

mod aws;
mod bulk;
pub mod dsl;
mod mapping;
mod read;
mod serverless;
mod text;
mod timeseries;

pub use aws::{REFRESH_BEFORE, Signing, static_credentials};

pub use bulk::{daily_index, encode_docs};
pub use mapping::{dead_letter_index, dead_letter_template, dead_letter_template_name, index_template, template_name};

use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use opensearch::OpenSearch;
use opensearch::auth::Credentials;
use opensearch::http::headers::{ACCEPT_ENCODING, CONTENT_TYPE, DATE, HeaderMap, HeaderValue};
use opensearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use opensearch::http::{Method, Url};
use serde_json::Value;

use super::{DeadLetter, IndexDoc, ItemOutcome, LogStore, StoreError, StoreStatus};
use crate::config::{AuthMode, OpenSearchConfig};
use crate::query::model::{
    DurationTimelineRequest, DurationTimelineResult, GeoRequest, GeoResult, Query, SearchPage, SearchRequest,
    SlowestRequest, SlowestResult, SummaryResult, TimelineRequest, TimelineResult, TopRequest, TopResult,
    VisitTimesRequest, VisitTimesResult,
};
use dsl::FieldMap;
use serverless::Serverless;
use text::truncate;

/// The oldest OpenSearch major version whose APIs firesight uses (composable templates).
const MIN_MAJOR: u64 = 2;
/// `_bulk` requests of one batch sent at once (a Firehose delivery is two chunks, a backfill batch eight).
const BULKS_IN_FLIGHT: usize = 2;

pub struct OpenSearchStore {
    client: OpenSearch,
    index_prefix: String,
    replicas: u32,
    /// Index pattern the read path searches (`read_index`, default `<prefix>-*`).
    read_index: String,
    /// Where each logical field lives in the read indices.
    fields: FieldMap,
    /// SigV4 signing, when `auth = sigv4`.
    signing: Option<Signing>,
    /// The target is an OpenSearch Serverless collection: only the operations it supports.
    serverless: Option<Serverless>,
}

impl OpenSearchStore {
    /// A store without SigV4 (`auth` = `none` or `basic`); [`OpenSearchStore::connect`] handles every
    /// mode.
    pub fn new(config: &OpenSearchConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.auth_mode() != AuthMode::Sigv4,
            "opensearch.auth = sigv4 needs the AWS credential chain: use OpenSearchStore::connect"
        );
        Self::build(config, None)
    }

    /// The store as configured; with `auth = sigv4` it resolves the region and the credential chain
    /// first and fails when no credentials can be found.
    pub async fn connect(config: &OpenSearchConfig) -> Result<Self, StoreError> {
        let signing = match config.auth_mode() {
            AuthMode::Sigv4 => Some(Signing::from_config(config).await?),
            AuthMode::None | AuthMode::Basic => None,
        };
        Self::build(config, signing).map_err(|e| StoreError::Protocol(e.into()))
    }

    /// A store signing with the given credentials (tests and benches).
    pub fn with_signing(config: &OpenSearchConfig, signing: Signing) -> anyhow::Result<Self> {
        Self::build(config, Some(signing))
    }

    fn build(config: &OpenSearchConfig, signing: Option<Signing>) -> anyhow::Result<Self> {
        let serverless = config.serverless().then(|| Serverless::new(config.collection_type));
        let url = Url::parse(&config.url)?;
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url))
            .timeout(Duration::from_secs(config.timeout_secs))
            .disable_proxy();
        if let Some(signing) = &signing {
            builder = builder
                .auth(Credentials::AwsSigV4(signing.credentials.clone(), signing.region.clone()))
                .service_name(signing.service);
        } else if let (AuthMode::Basic, Some(user), Some(password)) =
            (config.auth_mode(), &config.username, &config.password)
        {
            builder = builder.auth(Credentials::Basic(user.clone(), password.expose().to_owned()));
        }
        Ok(Self {
            client: OpenSearch::new(builder.build()?),
            index_prefix: config.index_prefix.clone(),
            replicas: config.replicas,
            read_index: config
                .read_index
                .as_deref()
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map_or_else(|| format!("{}-*", config.index_prefix), str::to_owned),
            fields: match &serverless {
                Some(s) if !s.custom_ids() => FieldMap::from_config(&config.fields).with_ids_in_documents(),
                _ => FieldMap::from_config(&config.fields),
            },
            signing,
            serverless,
        })
    }

    /// The index pattern queries read.
    pub fn read_index(&self) -> &str {
        &self.read_index
    }

    pub fn index_prefix(&self) -> &str {
        &self.index_prefix
    }

    /// Sends one request and returns the JSON body of a 2xx answer.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, StoreError> {
        let body = body.map(|b| serde_json::to_vec(&b).expect("JSON values serialise"));
        self.send(method, path, "application/json", body).await
    }

    /// Sends one request (signed when SigV4 is on, over the body exactly as sent) and returns the JSON
    /// body of a 2xx answer; a refusal of the signature, the clock or the policy is its own error.
    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, StoreError> {
        if let Some(signing) = &self.signing {
            // From the cache; renews before expiry, and says so when the chain has nothing.
            signing.credentials().await?;
        }
        let mut headers = uncompressed(HeaderMap::new());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let response = self
            .client
            .send(method, path, headers, None::<&()>, body, None)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        let status = response.status_code().as_u16();
        let date = response.headers().get(DATE).and_then(|d| d.to_str().ok()).map(str::to_owned);
        // Bytes, not text: serde_json validates UTF-8 itself, without a lossy copy first.
        let bytes = response.bytes().await.map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        if status == 403 && self.signing.is_some() {
            return Err(aws::refusal(&String::from_utf8_lossy(&bytes), date.as_deref()));
        }
        if !(200..300).contains(&status) {
            return Err(StoreError::Rejected { status, body: truncate(&String::from_utf8_lossy(&bytes), 2000) });
        }
        serde_json::from_slice(&bytes).map_err(|e| StoreError::Protocol(Box::new(e)))
    }

    async fn version(&self) -> Result<String, StoreError> {
        if self.serverless.is_some() {
            // Serverless has no root endpoint (it answers 404) and no versions to check.
            return Ok("serverless".to_owned());
        }
        let info = self.call(Method::Get, "/", None).await?;
        let version = info
            .pointer("/version/number")
            .and_then(Value::as_str)
            .ok_or_else(|| StoreError::Protocol("no version.number in the root endpoint's answer".into()))?
            .to_owned();
        // Elasticsearch answers the same endpoint; its 7.x/8.x APIs diverge from OpenSearch's.
        let distribution = info.pointer("/version/distribution").and_then(Value::as_str);
        let major: u64 = version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        if distribution != Some("opensearch") || major < MIN_MAJOR {
            return Err(StoreError::UnsupportedVersion { found: version, required: "OpenSearch 2.x or later" });
        }
        Ok(version)
    }

    /// Sends one `_bulk` request and returns its parsed answer. A whole-request failure is an error;
    /// per-item failures are in the answer.
    async fn bulk(&self, body: Vec<u8>) -> Result<Value, StoreError> {
        self.send(Method::Post, BULK_PATH, "application/x-ndjson", Some(body)).await
    }

    /// One chunk of a batch: encoded, sent, and its items read.
    async fn index_chunk(&self, chunk: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        if self.serverless.as_ref().is_some_and(|s| !s.custom_ids()) {
            return self.index_chunk_without_ids(chunk).await;
        }
        let body = bulk::encode_docs(&self.index_prefix, chunk);
        let response = self.bulk(body).await?;
        bulk::outcomes(&response, chunk.len())
    }

    async fn template_installed(&self) -> Result<bool, StoreError> {
        let path = format!("/_index_template/{}", template_name(&self.index_prefix));
        match self.call(Method::Get, &path, None).await {
            Ok(found) => {
                let wanted = index_template(&self.index_prefix, self.replicas);
                let installed_version = found.pointer("/index_templates/0/index_template/version");
                Ok(installed_version == wanted.get("version"))
            }
            Err(StoreError::Rejected { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl LogStore for OpenSearchStore {
    fn kind(&self) -> &'static str {
        "opensearch"
    }

    async fn prepare(&self) -> Result<StoreStatus, StoreError> {
        let version = self.version().await?;
        let for_target = |template: Value| match self.serverless {
            Some(_) => mapping::serverless(template),
            None => template,
        };
        let path = format!("/_index_template/{}", template_name(&self.index_prefix));
        self.call(Method::Put, &path, Some(for_target(index_template(&self.index_prefix, self.replicas)))).await?;
        let path = format!("/_index_template/{}", dead_letter_template_name(&self.index_prefix));
        let dead_letters = for_target(dead_letter_template(&self.index_prefix, self.replicas));
        self.call(Method::Put, &path, Some(dead_letters)).await?;
        if self.serverless.is_none() {
            // Daily indices created under an older template get the fields added since (a mapping only
            // grows); Serverless does not offer the operation, its indices get them the next day.
            let template = index_template(&self.index_prefix, self.replicas);
            let mappings = template.pointer("/template/mappings").cloned();
            let path = format!("/{}-*/_mapping?allow_no_indices=true&ignore_unavailable=true", self.index_prefix);
            if let Err(e) = self.call(Method::Put, &path, mappings).await {
                tracing::warn!(
                    error = crate::telemetry::chain(&e),
                    "could not add new fields to the existing daily indices"
                );
            }
        }
        Ok(StoreStatus { kind: self.kind(), version: Some(version), schema_installed: true })
    }

    async fn index(&self, docs: &[IndexDoc]) -> Result<Vec<ItemOutcome>, StoreError> {
        // Up to BULKS_IN_FLIGHT chunks of one batch at once, answers kept in order: the node indexes
        // one chunk while the next is encoded and sent, instead of waiting between them.
        let chunks: Vec<_> = bulk::chunks(docs).map(|chunk| self.index_chunk(chunk)).collect();
        let answers: Vec<Vec<ItemOutcome>> =
            futures::stream::iter(chunks).buffered(BULKS_IN_FLIGHT).try_collect().await?;
        Ok(answers.into_iter().flatten().collect())
    }

    async fn dead_letter(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        if letters.is_empty() {
            return Ok(());
        }
        let index = dead_letter_index(&self.index_prefix);
        let body = match &self.serverless {
            Some(s) if !s.custom_ids() => serverless::encode_dead_letters_without_ids(&index, letters),
            _ => bulk::encode_dead_letters(&index, letters),
        };
        let response = self.bulk(body).await?;
        // A dead letter that cannot be written must not be acknowledged as handled.
        for outcome in bulk::outcomes(&response, letters.len())? {
            match outcome {
                ItemOutcome::Created | ItemOutcome::Duplicate => {}
                ItemOutcome::Retry { status, reason } | ItemOutcome::Rejected { status, reason } => {
                    return Err(StoreError::Rejected { status, body: reason });
                }
            }
        }
        Ok(())
    }

    async fn refresh(&self) -> Result<(), StoreError> {
        if self.serverless.is_some() {
            // No `_refresh` on Serverless: it makes writes searchable by itself (about 10 s).
            return Ok(());
        }
        let path = format!(
            "/{}-*,{}/_refresh?ignore_unavailable=true&allow_no_indices=true",
            self.index_prefix,
            dead_letter_index(&self.index_prefix)
        );
        self.call(Method::Post, &path, None).await.map(|_| ())
    }

    async fn status(&self) -> Result<StoreStatus, StoreError> {
        let version = self.version().await?;
        let schema_installed = self.template_installed().await?;
        Ok(StoreStatus { kind: self.kind(), version: Some(version), schema_installed })
    }

    // Read path: `query.rs`.

    async fn search(&self, request: &SearchRequest) -> Result<SearchPage, StoreError> {
        self.read_search(request).await
    }

    async fn stored_ids(&self, ids: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        self.read_stored_ids(ids).await
    }

    async fn top(&self, request: &TopRequest) -> Result<TopResult, StoreError> {
        self.read_top(request).await
    }

    async fn timeline(&self, request: &TimelineRequest) -> Result<TimelineResult, StoreError> {
        self.read_timeline(request).await
    }

    async fn duration_timeline(&self, request: &DurationTimelineRequest) -> Result<DurationTimelineResult, StoreError> {
        self.read_duration_timeline(request).await
    }

    async fn slowest(&self, request: &SlowestRequest) -> Result<SlowestResult, StoreError> {
        self.read_slowest(request).await
    }

    async fn summary(&self, query: &Query) -> Result<SummaryResult, StoreError> {
        self.read_summary(query).await
    }

    async fn visit_times(&self, request: &VisitTimesRequest) -> Result<VisitTimesResult, StoreError> {
        self.read_visit_times(request).await
    }

    async fn geo(&self, request: &GeoRequest) -> Result<GeoResult, StoreError> {
        self.read_geo(request).await
    }
}

/// `_bulk`, answering only what [`bulk::outcomes`] reads: each item's status and error. The full answer
/// repeats index, id, version, shards and sequence numbers for every document (about 200 bytes each),
/// which OpenSearch serialises and firesight parses for nothing.
const BULK_PATH: &str = "/_bulk?filter_path=items.*.status,items.*.error.type,items.*.error.reason";

/// Asks OpenSearch for an uncompressed answer. The client advertises gzip by default and OpenSearch
/// then compresses every answer (a `_bulk` answer is hundreds of kilobytes): CPU on both sides, on the
/// same host or in the same VPC, for bandwidth that is not short.
fn uncompressed(mut headers: HeaderMap) -> HeaderMap {
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    headers
}
