//! The wired service: every long-lived component, built once from the configuration by [`App::start`]
//! and shared (cheaply cloned) by the HTTP handlers and the background workers.

use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::alerts::{AlertStorage, Alerts};
use crate::cloudwatch::CloudWatch;
use crate::config::Config;
use crate::delivery_errors::DeliveryErrors;
use crate::delivery_errors::repo::DeliveryRepo;
use crate::enrich::{Enricher, GeoIp, UserAgentParser};
use crate::firehose::receiver::Receiver;
use crate::firehose::rejections::RejectionLog;
use crate::ingest::Ingestor;
use crate::keys::KeySet;
use crate::kinesis::Kinesis;
use crate::kinesis::consumer::StreamStatuses;
use crate::metrics::Metrics;
use crate::parse::Formats;
use crate::read::service::QueryService;
use crate::replay::Replays;
use crate::replay::s3::S3;
use crate::state::{Instance, StateDb};
use crate::store::{self, LogStore};
use crate::tail::TailHub;

/// The wired service, behind one `Arc`: axum clones a handler's or middleware's state for every request,
/// and the components themselves (clients, configuration, worker handles) are not cheap to clone.
#[derive(Clone)]
pub struct App(Arc<Components>);

impl std::ops::Deref for App {
    type Target = Components;

    fn deref(&self) -> &Components {
        &self.0
    }
}

/// Every long-lived component of [`App`].
pub struct Components {
    pub config: Arc<Config>,
    pub instance: Arc<Instance>,
    pub db: StateDb,
    pub store: Arc<dyn LogStore>,
    pub cloudwatch: Option<CloudWatch>,
    /// The Kinesis Data Streams client, when streams are configured.
    pub kinesis: Option<Kinesis>,
    /// What the Kinesis consumer reports of each configured stream (empty when off).
    pub kinesis_streams: StreamStatuses,
    pub metrics: Arc<Metrics>,
    pub api_keys: KeySet,
    pub ingestor: Ingestor,
    pub receiver: Receiver,
    /// Behind an `Arc`: the stats handlers take it as their whole state, once per request.
    pub query: Arc<QueryService>,
    /// Delivery errors polled from CloudWatch Logs, and their correlation with ingest.
    pub delivery_errors: DeliveryErrors,
    /// firesight's own refused Firehose deliveries, counted for that correlation.
    pub rejections: Arc<RejectionLog>,
    /// Alert rules, incidents and webhook delivery.
    pub alerts: Alerts,
    /// Newly indexed documents for live tails (`/v1/logs/tail`).
    pub tail: Arc<TailHub>,
    /// Replays of the records Firehose backed up to S3 (the S3 client only when locations are configured).
    pub replays: Replays,
    /// Cancelled when the service stops; long operations check it.
    pub shutdown: CancellationToken,
}

impl App {
    /// Connects the state database and migrates it, and builds the log store and AWS clients. The log
    /// store is not contacted here: the service starts while OpenSearch is still coming up, and
    /// readiness says so.
    pub async fn start(config: Config, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let db = crate::state::StateDb::connect(&config.database_url()).await.context("opening the state database")?;
        db.migrate().await.context("migrating the state database")?;
        let instance = Instance::current();
        db.register_instance(&instance).await.context("registering this instance")?;

        let store = store::from_config(&config).await.context("configuring the log store")?;
        let cloudwatch = match config.cloudwatch.enabled {
            true => Some(CloudWatch::from_config(&config.cloudwatch).await),
            false => None,
        };
        let kinesis = match config.kinesis.enabled() {
            true => Some(Kinesis::from_config(&config.kinesis).await),
            false => None,
        };
        let api_keys = KeySet::new(&config.api_keys, config.auth.disabled);
        let enricher = Arc::new(build_enricher(&config)?);
        let metrics = Arc::new(Metrics::new());
        let tail = Arc::new(TailHub::new(&config.tail, metrics.clone(), shutdown.clone()));
        let query = Arc::new(QueryService::new(store.clone(), config.query.clone(), metrics.clone()));
        let ingestor = Ingestor::new(store.clone(), enricher, metrics.clone())
            .with_tail(tail.clone())
            .with_listener(Arc::new(query.cache().clone()))
            .with_formats(build_formats(&config)?);
        let rejections = Arc::new(RejectionLog::new());
        let receiver = Receiver::new(&config.firehose, ingestor.clone(), shutdown.clone(), rejections.clone());
        let delivery = DeliveryErrors::new(DeliveryRepo::new(db.clone()), store.clone());
        let old_keys: Vec<&str> = config.secrets_old_keys.iter().map(|k| k.expose()).collect();
        let secrets =
            crate::alerts::secrets::SecretBox::new(config.secrets_key.as_ref().map(|k| k.expose()), &old_keys)
                .context("FIRESIGHT_SECRETS_KEY")?;
        let alerts = Alerts::new(
            &config.alerts,
            AlertStorage {
                db: db.clone(),
                secrets: Arc::new(secrets),
                loopback_only: config.listen.ip().is_loopback(),
            },
            DeliveryRepo::new(db.clone()),
            store.clone(),
            &instance.id,
            metrics.clone(),
        );
        let replayer = match config.s3_replay.enabled() {
            true => Some(crate::replay::Replayer::new(
                S3::from_config(&config.s3).await,
                ingestor.clone(),
                config.s3.clone(),
                db.clone(),
                config.alerts.public_url.clone(),
            )),
            false => None,
        };
        let replays = Replays::new(replayer, db.clone(), config.s3_replay.locations(), shutdown.clone());
        let rewrapped = alerts.repo().rewrap_secrets().await.context("sealing webhook secrets with the current key")?;
        if rewrapped > 0 {
            tracing::info!(webhooks = rewrapped, "webhook secrets sealed with the current FIRESIGHT_SECRETS_KEY");
        }
        Ok(Self(Arc::new(Components {
            config: Arc::new(config),
            instance: Arc::new(instance),
            db,
            store,
            cloudwatch,
            kinesis,
            kinesis_streams: StreamStatuses::default(),
            metrics,
            api_keys,
            ingestor,
            receiver,
            query,
            delivery_errors: delivery,
            rejections,
            alerts,
            tail,
            replays,
            shutdown,
        })))
    }
}

/// GeoIP from the configured databases (a corrupt file stops the start with its name), user agents
/// from the embedded uap-core rules.
/// The configured log formats, compiled.
///
/// # Errors
///
/// A format that does not compile, naming its setting.
pub fn build_formats(config: &Config) -> anyhow::Result<Formats> {
    let sources = config.parse.sources.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let formats = Formats::from_settings(config.parse.log_format.as_deref(), sources).map_err(|(key, e)| {
        let setting =
            if key == "log_format" { "parse.log_format".to_owned() } else { format!("parse.sources.\"{key}\"") };
        anyhow::Error::new(e).context(format!("invalid configuration: {setting}"))
    })?;
    if let Some(format) = formats.default_format() {
        tracing::info!(format = format.spec(), "log format configured");
    }
    Ok(formats)
}

pub fn build_enricher(config: &Config) -> anyhow::Result<Enricher> {
    let geo = match &config.geoip.city_db {
        Some(city) => {
            let geo = GeoIp::open(city, config.geoip.asn_db.as_deref())
                .with_context(|| format!("opening the GeoIP database {}", city.display()))?;
            tracing::info!(db = %city.display(), kind = geo.database_type(), asn = geo.has_asn(), "GeoIP enrichment on");
            Some(geo)
        }
        None => {
            tracing::warn!("no GeoIP database configured (FIRESIGHT_GEOIP__CITY_DB): documents get no geolocation");
            None
        }
    };
    let user_agents = UserAgentParser::new().context("loading the user-agent rules")?;
    Ok(Enricher::new(geo, user_agents))
}
