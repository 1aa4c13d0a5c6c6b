//! The `firesight` command: parses the command line, loads the configuration, starts logging and hands
//! over to the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use firesight::config::Config;
use tokio_util::sync::CancellationToken;

/// firesight: web access logs from Amazon Kinesis Data Firehose, searchable and aggregated, with
/// delivery-error tracking and alerts.
///
/// Configuration comes from built-in defaults, then the optional TOML file given with --config, then
/// FIRESIGHT_* environment variables (nested keys joined with "__", e.g. FIRESIGHT_OPENSEARCH__URL).
/// See the README for every setting.
#[derive(Debug, Parser)]
#[command(name = "firesight", version, about, long_about)]
struct Cli {
    /// TOML configuration file, layered over the defaults and under the environment.
    #[arg(long, short, global = true, env = "FIRESIGHT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API and the background workers until SIGTERM or Ctrl-C.
    Serve {
        /// Listen address; overrides FIRESIGHT_LISTEN and the file.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Load sample traffic (a real 10,000-line access log, shifted to end now) when the store has
        /// nothing from the last 24 hours. Without API keys configured, prints a key for this run.
        #[arg(long)]
        demo: bool,
    },
    /// Apply the state-database migrations and exit (they also run at every start).
    Migrate,
    /// Backfill access-log files through the same parse, enrich and index path as the Firehose
    /// endpoint. Plain or gzip files, `-` for standard input. Re-running on the same file adds nothing.
    Ingest {
        /// Files to read, in order.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// No progress bar (the summary is still printed).
        #[arg(long)]
        quiet: bool,
        /// The files' log format: a preset (combined, common, vhost_combined, nginx_main, ...), an
        /// nginx log_format or an Apache LogFormat string, or auto; overrides FIRESIGHT_PARSE__LOG_FORMAT.
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<String>,
    },
    /// Replay the records Firehose gave up on from its S3 backup: lists the error objects under
    /// s3://BUCKET/PREFIX (processing-failed, http-endpoint-failed, AmazonOpenSearchService-failed, ...),
    /// reads them as streams (plain or gzip) and sends every failed record through the same parse,
    /// enrich, index and dead-letter path as the Firehose endpoint. Document ids come from the failed
    /// record, so running it twice adds nothing. Prints a summary per Firehose error code.
    Replay {
        /// Where the stream's failed records are: the S3 backup bucket and the error output prefix
        /// (or the prefix they share), e.g. s3://weblogs-backup/errors/.
        #[arg(value_name = "S3_URL")]
        location: String,
        /// Only records whose attempts ended at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Only records whose attempts ended before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Read and count, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// No progress bar (the summary is still printed).
        #[arg(long)]
        quiet: bool,
    },
    /// Copy the access logs from one log store to another under their own ids, e.g. from the embedded
    /// store to OpenSearch when one machine is no longer enough. Both stores come from the same
    /// configuration (data directory, OpenSearch settings). Re-running copies only what is missing.
    MigrateStore {
        /// Store to read.
        #[arg(long, value_enum)]
        from: StoreArg,
        /// Store to write.
        #[arg(long, value_enum)]
        to: StoreArg,
        /// Copy only documents at or after this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Copy only documents before this time (RFC 3339).
        #[arg(long, value_name = "TIME")]
        until: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Print the OpenAPI document (JSON) the service serves at /openapi.json.
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Load and validate the configuration, then print it with secrets redacted.
    CheckConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StoreArg {
    Embedded,
    Opensearch,
}

impl From<StoreArg> for firesight::config::StoreKind {
    fn from(arg: StoreArg) -> Self {
        match arg {
            StoreArg::Embedded => firesight::config::StoreKind::Embedded,
            StoreArg::Opensearch => firesight::config::StoreKind::OpenSearch,
        }
    }
}

/// jemalloc rather than glibc's allocator or mimalloc: documents are built on one thread and freed on
/// tantivy's indexing threads, and glibc's arenas then contend on a lock (about a tenth of the embedded
/// store's indexing CPU); mimalloc kept 100-190 MiB more resident than jemalloc at the same speed
/// (both measured in BENCHMARKS.md). Its options are built in from `.cargo/config.toml`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi { output } = &cli.command {
        return print_openapi(output.as_deref());
    }
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("firesight: {}", firesight::telemetry::chain(&e));
            return ExitCode::from(2);
        }
    };
    if let Command::Serve { listen, demo } = &cli.command {
        if let Some(addr) = listen {
            config.listen = *addr;
        }
        config.demo |= *demo;
        if let Err(e) = config.validate() {
            eprintln!("firesight: {e}");
            return ExitCode::from(2);
        }
        if config.demo && config.api_keys.is_empty() && !config.auth.disabled {
            // A newcomer's first run: a key for this run only, shown once on the terminal (never logged).
            let key = format!("demo-{}", uuid::Uuid::new_v4().simple());
            println!("firesight demo: API key for this run: {key}");
            println!("  Dashboard: http://{}/ (enter the key when it asks)", config.listen);
            println!(
                "  curl -H 'Authorization: Bearer {key}' 'http://{}/v1/stats/summary?from=now-24h'",
                config.listen
            );
            println!("  Swagger UI: http://{}/docs/ (Authorize with the key)", config.listen);
            config.api_keys.push(firesight::config::Secret::new(key));
        }
    }
    if let Command::Ingest { log_format: Some(format), .. } = &cli.command {
        config.parse.log_format = Some(format.clone());
    }
    if let Command::CheckConfig = cli.command {
        if let Err(e) = firesight::app::build_formats(&config) {
            eprintln!("{e:#}");
            return ExitCode::FAILURE;
        }
        println!("{}", serde_json::to_string_pretty(&config).expect("config serialises"));
        eprintln!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    firesight::telemetry::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Ingest { files, quiet, .. } => ingest(config, files, !quiet).await,
            Command::Replay { location, since, until, dry_run, quiet } => {
                replay(config, location, firesight::replay::Range { since, until }, dry_run, !quiet).await
            }
            Command::MigrateStore { from, to, since, until } => {
                migrate_store(config, from.into(), to.into(), since, until).await
            }
            Command::Openapi { .. } | Command::CheckConfig => unreachable!("handled above"),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "firesight failed");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    firesight::run(config, listener, shutdown).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    let db = firesight::state::StateDb::connect(&config.database_url()).await?;
    db.migrate().await?;
    tracing::info!(backend = db.backend().as_str(), "state database migrated");
    Ok(())
}

async fn ingest(config: Config, files: Vec<PathBuf>, progress: bool) -> anyhow::Result<()> {
    let store = firesight::store::for_bulk_load(&config).await?;
    let status = store.prepare().await.map_err(anyhow::Error::new)?;
    tracing::info!(store = status.kind, version = ?status.version, "log store ready");
    let enricher = std::sync::Arc::new(firesight::app::build_enricher(&config)?);
    let metrics = std::sync::Arc::new(firesight::metrics::Metrics::new());
    let formats = firesight::app::build_formats(&config)?;
    let ingestor = firesight::ingest::Ingestor::new(store.clone(), enricher, metrics).with_formats(formats);
    let summary = firesight::ingest::backfill::run(
        &ingestor,
        &files,
        progress && std::io::IsTerminal::is_terminal(&std::io::stderr()),
    )
    .await?;
    store.refresh().await.map_err(anyhow::Error::new)?;
    println!("{summary}");
    Ok(())
}

async fn replay(
    config: Config,
    location: String,
    range: firesight::replay::Range,
    dry_run: bool,
    progress: bool,
) -> anyhow::Result<()> {
    use firesight::replay::{ReplayRequest, Replayer, repo::Origin};
    let location = firesight::config::S3Location::parse(&location).map_err(anyhow::Error::msg)?;
    if let (Some(since), Some(until)) = (range.since, range.until) {
        anyhow::ensure!(since < until, "--since must be before --until");
    }
    let db = firesight::state::StateDb::connect(&config.database_url()).await?;
    db.migrate().await?;
    let store = firesight::store::for_bulk_load(&config).await?;
    let status = store.prepare().await.map_err(anyhow::Error::new)?;
    tracing::info!(store = status.kind, version = ?status.version, "log store ready");
    let enricher = std::sync::Arc::new(firesight::app::build_enricher(&config)?);
    let metrics = std::sync::Arc::new(firesight::metrics::Metrics::new());
    let formats = firesight::app::build_formats(&config)?;
    let ingestor = firesight::ingest::Ingestor::new(store.clone(), enricher, metrics).with_formats(formats);
    let s3 = firesight::replay::s3::S3::from_config(&config.s3).await;
    let replayer = Replayer::new(s3, ingestor, config.s3.clone(), db.clone(), config.alerts.public_url.clone());
    let request = ReplayRequest { location, range, dry_run, origin: Origin::Cli };
    let started = std::time::Instant::now();
    let replay = replayer.begin(&request).await?;
    let bar = if progress && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} [{elapsed_precise}] {human_pos} records ({per_sec})")
            .expect("valid progress template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let result = replayer.run(&request, replay, &bar).await;
    bar.finish_and_clear();
    store.refresh().await.map_err(anyhow::Error::new)?;
    db.close().await;
    let replay = result?;
    println!("{}", firesight::replay::summary(&replay, started.elapsed()));
    Ok(())
}

async fn migrate_store(
    config: Config,
    from: firesight::config::StoreKind,
    to: firesight::config::StoreKind,
    since: Option<chrono::DateTime<chrono::Utc>>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> anyhow::Result<()> {
    anyhow::ensure!(from != to, "--from and --to name the same store");
    let store = |kind| {
        let mut config = config.clone();
        config.store = kind;
        async move { firesight::store::from_config(&config).await }
    };
    let chain = anyhow::Error::new::<firesight::store::StoreError>;
    let (source, target) = (store(from).await?, store(to).await?);
    source.prepare().await.map_err(chain)?;
    target.prepare().await.map_err(chain)?;
    // By default every time a store can hold (years 1 to 9999).
    let since = since.unwrap_or_else(|| "0001-01-01T00:00:00Z".parse().expect("valid time"));
    let until = until.unwrap_or_else(|| "9999-12-31T23:59:59.999Z".parse().expect("valid time"));
    let started = std::time::Instant::now();
    let summary = firesight::store::copy::copy(source.as_ref(), target.as_ref(), since, until, |s| {
        tracing::debug!(read = s.read, created = s.created, "copying");
    })
    .await
    .map_err(anyhow::Error::new)?;
    println!(
        "{} documents read from {}: {} copied to {}, {} already there, {} refused, in {:.1} s",
        summary.read,
        from.as_str(),
        summary.created,
        to.as_str(),
        summary.duplicates,
        summary.rejected,
        started.elapsed().as_secs_f64()
    );
    anyhow::ensure!(summary.rejected == 0, "{} documents were refused by {}", summary.rejected, to.as_str());
    Ok(())
}

async fn stop_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
    shutdown.cancel();
}

fn print_openapi(output: Option<&std::path::Path>) -> ExitCode {
    let json = firesight::http::openapi_json();
    match output {
        None => {
            print!("{json}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(path, json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("firesight: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}
