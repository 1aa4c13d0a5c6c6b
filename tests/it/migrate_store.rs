//! `firesight migrate-store`: a user outgrowing one machine moves the embedded store's access logs to
//! OpenSearch (and back), with the real binary. Every document arrives once, under its own id, and a
//! second run copies nothing.

use std::process::Command;

use crate::harness::{count, drop_prefix, fixture, require_opensearch, unique};

fn firesight(args: &[&str], env: &[(&str, String)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_firesight"));
    for (key, _) in std::env::vars() {
        if key.starts_with("FIRESIGHT_") {
            command.env_remove(key);
        }
    }
    command.env("FIRESIGHT_LOG__LEVEL", "warn").args(args);
    for (key, value) in env {
        command.env(format!("FIRESIGHT_{key}"), value);
    }
    let output = command.output().expect("run firesight");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "firesight {args:?} failed: {stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[tokio::test]
async fn the_embedded_store_moves_to_opensearch_and_back_once() {
    let os = require_opensearch().await;
    let prefix = unique("it-migrate-");
    let embedded = tempfile::tempdir().unwrap();
    let back = tempfile::tempdir().unwrap();
    let env = |dir: &std::path::Path| {
        vec![
            ("DATA_DIR", dir.display().to_string()),
            ("OPENSEARCH__URL", os.clone()),
            ("OPENSEARCH__INDEX_PREFIX", prefix.clone()),
            ("OPENSEARCH__REPLICAS", "0".to_owned()),
        ]
    };
    let log = fixture("access_logs/elastic_examples_apache_logs.log");
    let ingested = firesight(&["ingest", "--quiet", log.to_str().unwrap()], &env(embedded.path()));
    assert!(ingested.contains("9999 indexed"), "{ingested}");

    let moved = firesight(&["migrate-store", "--from", "embedded", "--to", "opensearch"], &env(embedded.path()));
    assert!(
        moved.starts_with("9999 documents read from embedded: 9999 copied to opensearch, 0 already there"),
        "{moved}"
    );
    assert_eq!(count(&os, &format!("{prefix}-*")).await, 9_999);
    let again = firesight(&["migrate-store", "--from", "embedded", "--to", "opensearch"], &env(embedded.path()));
    assert!(
        again.starts_with("9999 documents read from embedded: 0 copied to opensearch, 9999 already there"),
        "{again}"
    );
    assert_eq!(count(&os, &format!("{prefix}-*")).await, 9_999);

    // And back into an empty data directory, limited to one day.
    let day = firesight(
        &[
            "migrate-store",
            "--from",
            "opensearch",
            "--to",
            "embedded",
            "--since",
            "2015-05-18T00:00:00Z",
            "--until",
            "2015-05-19T00:00:00Z",
        ],
        &env(back.path()),
    );
    let copied: u64 = day.split(' ').next().unwrap().parse().unwrap();
    assert!((2_000..4_000).contains(&copied), "{day}");
    assert!(day.contains(&format!("{copied} copied to embedded, 0 already there")), "{day}");
    drop_prefix(&os, &prefix).await;
}
