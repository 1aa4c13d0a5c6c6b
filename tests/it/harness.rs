//! `TestApp`: the real service on a `127.0.0.1:0` listener with its own data directory, its own
//! OpenSearch index prefix and, on PostgreSQL, its own schema. Services that are not running make the
//! test fail with the command that starts them; nothing is skipped.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use firesight::Config;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const START_SERVICES: &str = "start them with `dev/services.sh up` (or run everything with `dev/test.sh`)";

pub fn opensearch_url() -> String {
    std::env::var("FIRESIGHT_TEST_OPENSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9201".to_owned())
}

pub fn postgres_url() -> String {
    std::env::var("FIRESIGHT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://firesight:firesight@127.0.0.1:5432/firesight_test".to_owned())
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
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// Fails the test unless OpenSearch answers.
pub async fn require_opensearch() -> String {
    let url = opensearch_url();
    match http().get(&url).send().await {
        Ok(r) if r.status().is_success() => url,
        Ok(r) => panic!("OpenSearch at {url} answered {}; {START_SERVICES}", r.status()),
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
    let pool = sqlx::PgPool::connect(&base)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {base} ({e}); {START_SERVICES}"));
    let schema = unique("t_");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&pool).await.unwrap();
    pool.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    (format!("{base}{sep}options=-c%20search_path%3D{schema}"), schema)
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub index_prefix: String,
    shutdown: CancellationToken,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
    /// The real binary, when the test needs its own process environment (AWS credentials).
    child: Option<std::process::Child>,
    _data_dir: tempfile::TempDir,
}

pub struct TestAppBuilder {
    pairs: Vec<(String, String)>,
    /// Set: run `firesight serve` as a child process with exactly these extra variables.
    process_env: Option<Vec<(String, String)>>,
}

impl TestAppBuilder {
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.pairs.retain(|(k, _)| k != key);
        self.pairs.push((key.to_owned(), value.into()));
        self
    }

    /// Runs the real binary in its own process with this environment variable (and no inherited
    /// `AWS_*` or `FIRESIGHT_*` one, no shared AWS profile, no instance metadata).
    pub fn process_env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.process_env.get_or_insert_with(Vec::new).push((key.to_owned(), value.into()));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let data_dir = tempfile::tempdir().unwrap();
        let index_prefix = unique("it-");
        let mut pairs: Vec<(String, String)> = vec![
            ("LISTEN".into(), "127.0.0.1:0".into()),
            ("DATA_DIR".into(), data_dir.path().display().to_string()),
            ("API_KEYS".into(), API_KEY.into()),
            ("STORE".into(), "opensearch".into()),
            ("FIREHOSE__ACCESS_KEYS".into(), format!("old-rotated-key,{}", crate::firehose_client::ACCESS_KEY)),
            ("OPENSEARCH__URL".into(), opensearch_url()),
            ("OPENSEARCH__INDEX_PREFIX".into(), index_prefix.clone()),
            ("OPENSEARCH__REPLICAS".into(), "0".into()),
            ("LOG__LEVEL".into(), "warn".into()),
        ];
        for (k, v) in self.pairs {
            pairs.retain(|(existing, _)| existing != &k);
            pairs.push((k, v));
        }
        if let Some(env) = self.process_env {
            return spawn_process(pairs, env, index_prefix, data_dir).await;
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
            child: None,
            _data_dir: data_dir,
        };
        app.wait_live().await;
        app
    }
}

/// The real binary with none of this process's `FIRESIGHT_*` or `AWS_*` variables, no shared AWS
/// profile (`home` stands for the home directory) and no instance metadata: it sees only what the test
/// sets.
pub fn firesight_command(home: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_firesight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FIRESIGHT_") || key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    let nowhere = home.join("no-aws-profile");
    command
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true");
    command
}

/// Runs a one-shot command of the real binary with these variables (full names) and returns its
/// standard output; fails the test when it does not succeed.
pub fn run_firesight(args: &[&str], env: &[(&str, String)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut command = firesight_command(home.path());
    command.env("FIRESIGHT_LOG__LEVEL", "warn").args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().expect("run firesight");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "firesight {args:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

async fn spawn_process(
    pairs: Vec<(String, String)>,
    env: Vec<(String, String)>,
    index_prefix: String,
    data_dir: tempfile::TempDir,
) -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = firesight_command(data_dir.path());
    command
        .arg("serve")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(data_dir.path().join("stderr.log")).unwrap());
    for (key, value) in pairs {
        let value = if key == "LISTEN" { format!("127.0.0.1:{port}") } else { value };
        command.env(format!("FIRESIGHT_{key}"), value);
    }
    command.envs(env);
    let child = command.spawn().expect("start firesight");
    let app = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: http(),
        index_prefix,
        shutdown: CancellationToken::new(),
        handle: None,
        child: Some(child),
        _data_dir: data_dir,
    };
    app.wait_live().await;
    app
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder { pairs: Vec::new(), process_env: None }
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

    /// What the child process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self._data_dir.path().join("stderr.log")).unwrap_or_default()
    }

    async fn wait_live(&self) {
        for _ in 0..200 {
            if let Some(handle) = &self.handle {
                assert!(!handle.is_finished(), "the service exited during start");
            }
            if self.child.is_some() {
                assert!(self.child_running(), "the service exited during start: {}", self.stderr());
            }
            if let Ok(r) = self.client.get(self.url("/health/live")).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the service did not become live");
    }

    /// Polls `/health/ready` until it answers 200 or `timeout` passes; returns the last body.
    pub async fn wait_ready(&self, timeout: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let r = self.client.get(self.url("/health/ready")).send().await.unwrap();
            let ok = r.status().is_success();
            let body: serde_json::Value = r.json().await.unwrap();
            if ok || tokio::time::Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn child_running(&self) -> bool {
        // `try_wait` needs `&mut`; a process that exited has a status in /proc no longer.
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| stat.split(' ').nth(2).is_none_or(|state| state != "Z"))
            .unwrap_or(false)
    }

    /// Stops the service the way SIGTERM does and waits for it to finish.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        if let Some(handle) = self.handle.take() {
            handle.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A TCP forwarder in front of a real service, so a test can take the service away from firesight
/// (connections refused) and bring it back without stopping the server other tests share.
pub struct TcpProxy {
    pub port: u16,
    target: String,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TcpProxy {
    pub async fn start(target: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut proxy = TcpProxy { port, target: target.to_owned(), task: None };
        proxy.serve(listener);
        proxy
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        self.task = Some(tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { break };
                let target = target.clone();
                conns.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    /// Closes the listener and every open connection: the service is unreachable.
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort(); // dropping the JoinSet aborts every forwarded connection
        }
    }

    /// Listens again on the same port.
    pub async fn resume(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot rebind proxy port {}: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes NDJSON `_bulk` actions straight to OpenSearch, as another tool (or an older firesight) would,
/// refreshed, and fails the test on any item error.
pub async fn bulk(os: &str, ndjson: String) {
    let request = http().post(format!("{os}/_bulk?refresh=true")).header("content-type", "application/x-ndjson");
    let answer = json(request.body(ndjson)).await;
    assert_eq!(answer["errors"], false, "{answer}");
}

/// Sends a request to a test's service and reads its JSON answer.
pub async fn json(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// Counts documents in an index pattern after a refresh.
pub async fn count(os: &str, pattern: &str) -> u64 {
    let client = http();
    client.post(format!("{os}/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true")).send().await.unwrap();
    let r = json(client.get(format!("{os}/{pattern}/_count?ignore_unavailable=true&allow_no_indices=true"))).await;
    r["count"].as_u64().unwrap_or_else(|| panic!("count of {pattern}: {r}"))
}

/// Runs an OpenSearch search and returns the answer.
pub async fn search(os: &str, pattern: &str, body: serde_json::Value) -> serde_json::Value {
    json(http().post(format!("{os}/{pattern}/_search")).json(&body)).await
}

/// Deletes the indices and templates a test created.
pub async fn drop_prefix(os: &str, prefix: &str) {
    let client = http();
    let _ = client.delete(format!("{os}/{prefix}-*,{prefix}_deadletter?ignore_unavailable=true")).send().await;
    let _ = client.delete(format!("{os}/_index_template/{prefix}-template")).send().await;
    let _ = client.delete(format!("{os}/_index_template/{prefix}_deadletter-template")).send().await;
}

pub fn fixture(path: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(path)
}

/// The real 10,000-line Apache log (elastic/examples, Apache-2.0).
pub fn real_log_lines() -> Vec<String> {
    let bytes = std::fs::read(fixture("access_logs/elastic_examples_apache_logs.log")).unwrap();
    String::from_utf8_lossy(&bytes).lines().map(str::to_owned).collect()
}

/// The records of RFC 4180 CSV, read by the `csv` crate (a reader independent of firesight's writer),
/// after the text passed the strict grammar check of [`rfc_4180_records`], which must read the same.
pub fn csv_records(text: &str) -> Vec<Vec<String>> {
    let strict = rfc_4180_records(text);
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let records: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("the csv crate reads the export").iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(records, strict, "the csv crate and the grammar check read different records");
    records
}

/// The records of RFC 4180 CSV: each ends with CRLF (the last one may not), fields are separated by
/// commas, and a quoted field (`"a, ""b"""`) may hold commas, doubled quotes and line breaks. Anything
/// else fails the test: a quote inside an unquoted field, text after a closing quote, a quote that never
/// closes, a bare CR or LF between records.
fn rfc_4180_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let n = records.len() + 1;
        let mut record = Vec::new();
        loop {
            let (field, after) = match rest.strip_prefix('"') {
                Some(quoted) => {
                    let mut field = String::new();
                    let mut inside = quoted;
                    loop {
                        let end =
                            inside.find('"').unwrap_or_else(|| panic!("CSV record {n}: unterminated quoted field"));
                        field.push_str(&inside[..end]);
                        inside = &inside[end + 1..];
                        match inside.strip_prefix('"') {
                            Some(after_doubled) => {
                                field.push('"');
                                inside = after_doubled;
                            }
                            None => break,
                        }
                    }
                    (field, inside)
                }
                None => {
                    let end = rest.find([',', '\r', '\n']).unwrap_or(rest.len());
                    let field = &rest[..end];
                    assert!(!field.contains('"'), "CSV record {n}: quote inside the unquoted field {field:?}");
                    (field.to_owned(), &rest[end..])
                }
            };
            record.push(field);
            if let Some(next_field) = after.strip_prefix(',') {
                rest = next_field;
            } else if let Some(next_record) = after.strip_prefix("\r\n") {
                rest = next_record;
                break;
            } else {
                assert!(after.is_empty(), "CSV record {n}: {after:.20?} where a comma or CRLF should be");
                rest = after;
                break;
            }
        }
        records.push(record);
    }
    records
}

/// A CSV file with a header record ([`csv_records`]) as rows of column name → value. Every row has
/// exactly the header's number of fields, and column names are unique.
pub fn csv_rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut records = csv_records(text).into_iter();
    let header = records.next().expect("CSV has a header record");
    assert_eq!(
        header.iter().collect::<HashSet<_>>().len(),
        header.len(),
        "CSV header names a column twice: {header:?}"
    );
    records
        .enumerate()
        .map(|(i, record)| {
            assert_eq!(record.len(), header.len(), "CSV row {} has {} fields: {record:?}", i + 1, record.len());
            header.iter().cloned().zip(record).collect()
        })
        .collect()
}

#[test]
fn csv_follows_rfc_4180() {
    let text = "id,text,n\r\n1,\"a, \"\"b\"\"\",2\r\n2,\"two\r\nlines\",\r\n3,,\"\"";
    assert_eq!(
        csv_records(text),
        [vec!["id", "text", "n"], vec!["1", "a, \"b\"", "2"], vec!["2", "two\r\nlines", ""], vec!["3", "", ""],]
    );
    assert_eq!(csv_records("a\r\n"), [vec!["a"]]);
    assert_eq!(csv_records(""), Vec::<Vec<String>>::new());
    let rows = csv_rows("id,text\r\n1,\"x,y\"\r\n");
    assert_eq!((rows.len(), rows[0]["id"].as_str(), rows[0]["text"].as_str()), (1, "1", "x,y"));

    for bad in ["a\"b,c", "\"a\"b,c", "\"a,b", "a\nb", "a\rb"] {
        assert!(std::panic::catch_unwind(|| csv_records(bad)).is_err(), "{bad:?} was accepted");
    }
    for bad in ["a,b\r\n\r\n1,2\r\n", "a,b\r\n1\r\n", "a,b\r\n1,2,3\r\n", "a,a\r\n1,2\r\n"] {
        assert!(std::panic::catch_unwind(|| csv_rows(bad)).is_err(), "{bad:?} was accepted");
    }
}
