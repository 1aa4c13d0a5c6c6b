//! `firesight migrate-store`: a user outgrowing one machine moves the embedded store's access logs to
//! OpenSearch (and back), with the real binary. Every document arrives once, under its own id, and a
//! second run copies nothing.

use crate::harness::{count, drop_prefix, fixture, require_opensearch, run_firesight as firesight, unique};

#[tokio::test]
async fn the_embedded_store_moves_to_opensearch_and_back_once() {
    let os = require_opensearch().await;
    let prefix = unique("it-migrate-");
    let embedded = tempfile::tempdir().unwrap();
    let back = tempfile::tempdir().unwrap();
    let env = |dir: &std::path::Path| {
        vec![
            ("FIRESIGHT_DATA_DIR", dir.display().to_string()),
            ("FIRESIGHT_OPENSEARCH__URL", os.clone()),
            ("FIRESIGHT_OPENSEARCH__INDEX_PREFIX", prefix.clone()),
            ("FIRESIGHT_OPENSEARCH__REPLICAS", "0".to_owned()),
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
