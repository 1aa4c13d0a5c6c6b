//! `firesight-lambda`: firesight's parse and enrich as an Amazon Data Firehose data-transformation
//! function (Lambda runtime `provided.al2023`, handler `bootstrap`). The GeoIP database and the
//! user-agent rules are opened once per container, before the first invocation; their caches live
//! across invocations. Logs are JSON lines; each invocation also prints one CloudWatch Embedded Metric
//! Format line (records ok / dropped / failed, documents, bytes, duration).

mod emf;
mod event;
mod settings;
mod transform;

use std::time::Instant;

use aws_lambda_events::event::firehose::{KinesisFirehoseEvent, KinesisFirehoseResponse};
use firesight_core::enrich::{Enricher, GeoIp, UserAgentParser};
use lambda_runtime::{Error, LambdaEvent, service_fn};

use settings::Settings;
use transform::Transformer;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AWS_LAMBDA_LOG_LEVEL")
                .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    let started = Instant::now();
    let transformer = init().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    tracing::info!(init_ms = started.elapsed().as_millis() as u64, "ready");
    let transformer = &transformer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let payload = event::decode(event.payload).map_err(|e| format!("not a Firehose transformation event: {e}"))?;
        Ok::<KinesisFirehoseResponse, Error>(handle(transformer, payload))
    }))
    .await
}

fn init() -> Result<Transformer, Error> {
    let settings = Settings::from_env()?;
    let started = Instant::now();
    let geo = match &settings.city_db {
        Some(city) => Some(
            GeoIp::open(city, settings.asn_db.as_deref())
                .map_err(|e| format!("opening the GeoIP database {}: {e}", city.display()))?,
        ),
        None => {
            tracing::warn!("no FIRESIGHT_GEOIP__CITY_DB: documents get no geolocation");
            None
        }
    };
    let geoip_ms = started.elapsed().as_millis() as u64;
    let user_agents = UserAgentParser::new().map_err(|e| format!("loading the user-agent rules: {e}"))?;
    tracing::info!(geoip_ms, user_agents_ms = started.elapsed().as_millis() as u64 - geoip_ms, "enrichment loaded");
    Ok(Transformer { settings, enricher: Enricher::new(geo, user_agents) })
}

fn handle(transformer: &Transformer, event: KinesisFirehoseEvent) -> KinesisFirehoseResponse {
    let started = Instant::now();
    let (response, counts) = transformer.transform(&event, chrono::Utc::now());
    let stream = event.delivery_stream_arn.as_deref().and_then(|arn| arn.rsplit('/').next()).unwrap_or("unknown");
    println!("{}", emf::line(stream, &counts, started.elapsed(), chrono::Utc::now()));
    response
}
