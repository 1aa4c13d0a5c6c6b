//! `TestApp`: the real service on a `127.0.0.1:0` listener with its own data directory, its own
//! OpenSearch index prefix and, on PostgreSQL, its own schema. Services that are not running make the
//! test fail with the command that starts them; nothing is skipped.

use std::time::Duration;

use firesight::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const START_SERVICES: &str =
    "start them with `dev/services.sh up` (or run everything with `dev/test.sh`)";

pub fn opensearch_url() -> String {
    std::env::var("FIRESIGHT_TEST_OPENSEARCH_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned())
}

pub fn postgres_url() -> String {
    std::env::var("FIRESIGHT_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        "postgres://firesight:firesight@127.0.0.1:5432/firesight_test".to_owned()
    })
}

pub fn moto_url() -> String {
    std::env::var("FIRESIGHT_TEST_MOTO_URL").unwrap_or_else(|_| "http://127.0.0.1:5055".to_owned())
}

pub const API_KEY: &str = "test-key-0123456789";

/// A short random name, safe for index prefixes and schema names.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}{}", &id[..12])
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// Fails the test unless OpenSearch answers.
pub async fn require_opensearch() -> String {
    let url = opensearch_url();
    match http().get(&url).send().await {
        Ok(r) if r.status().is_success() => url,
        Ok(r) => panic!(
            "OpenSearch at {url} answered {}; {START_SERVICES}",
            r.status()
        ),
        Err(e) => panic!("OpenSearch is not reachable at {url} ({e}); {START_SERVICES}"),
    }
}

/// Fails the test unless moto answers.
pub async fn require_moto() -> String {
    let url = moto_url();
    match http().get(format!("{url}/moto-api/")).send().await {
        Ok(_) => url,
        Err(e) => panic!("moto_server is not reachable at {url} ({e}); {START_SERVICES}"),
    }
}

/// Creates a fresh schema on the test PostgreSQL and returns a URL whose connections use it.
pub async fn postgres_schema_url() -> (String, String) {
    let base = postgres_url();
    let pool = sqlx::PgPool::connect(&base).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is not reachable at {base} ({e}); {START_SERVICES}")
    });
    let schema = unique("t_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        schema,
    )
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub index_prefix: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    _data_dir: tempfile::TempDir,
}

pub struct TestAppBuilder {
    pairs: Vec<(String, String)>,
}

impl TestAppBuilder {
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_owned(), value.into()));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let index_prefix = unique("it-");
        let mut pairs: Vec<(String, String)> = vec![
            ("LISTEN".into(), "127.0.0.1:0".into()),
            ("DATA_DIR".into(), data_dir.path().display().to_string()),
            ("API_KEYS".into(), API_KEY.into()),
            ("OPENSEARCH__URL".into(), opensearch_url()),
            ("OPENSEARCH__INDEX_PREFIX".into(), index_prefix.clone()),
            ("OPENSEARCH__REPLICAS".into(), "0".into()),
            ("LOG__LEVEL".into(), "warn".into()),
        ];
        for (k, v) in self.pairs {
            pairs.retain(|(existing, _)| existing != &k);
            pairs.push((k, v));
        }
        let config = Config::from_pairs(&pairs).expect("test configuration is valid");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let handle = tokio::spawn(firesight::run(config, listener, shutdown.clone()));
        let app = TestApp {
            base: format!("http://{addr}"),
            client: http(),
            index_prefix,
            shutdown,
            handle: Some(handle),
            _data_dir: data_dir,
        };
        app.wait_live().await;
        app
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { pairs: Vec::new() }
    }

    pub async fn spawn() -> TestApp {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(API_KEY)
    }

    async fn wait_live(&self) {
        for _ in 0..100 {
            if let Some(handle) = &self.handle {
                assert!(!handle.is_finished(), "the service exited during start");
            }
            if let Ok(r) = self.client.get(self.url("/health/live")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the service did not become live");
    }

    /// Polls `/health/ready` until it answers 200 or `timeout` passes; returns the last body.
    pub async fn wait_ready(&self, timeout: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self
                .client
                .get(self.url("/health/ready"))
                .send()
                .await
                .unwrap();
            let ok = r.status().is_success();
            let body: serde_json::Value = r.json().await.unwrap();
            if ok || tokio::time::Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Stops the service the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
