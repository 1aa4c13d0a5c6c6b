//! The seed pipeline end to end (`dev/seed-pipeline.sh`, smaller traffic): nginx, the agent, Kinesis in
//! moto, the Firehose simulator with firesight-lambda in `cargo lambda watch`, OpenSearch and firesight's
//! HTTP endpoint as destinations, S3 and CloudWatch Logs for the failures; with an outage, a burst of
//! lines that are not requests, a log rotation and a shard split. The script compares every request
//! nginx logged with both firesight processes' answers; this test runs it and reads its summary.

use std::process::Command;

use serde_json::Value;

use crate::harness::require_moto;

#[tokio::test(flavor = "multi_thread")]
async fn the_seed_pipeline_delivers_every_request_once_and_recovers_the_outage() {
    let moto = require_moto().await;
    let root = env!("CARGO_MANIFEST_DIR");
    let work = tempfile::tempdir().unwrap();
    let summary_path = work.path().join("summary.json");
    let output = tokio::task::spawn_blocking({
        let summary_path = summary_path.clone();
        let work = work.path().join("run");
        move || {
            Command::new("bash")
                .current_dir(root)
                .arg("dev/seed-pipeline.sh")
                .args(["--requests", "600", "--rate", "100", "--outage-seconds", "20", "--retry-seconds", "6"])
                .args(["--garbage", "12", "--json"])
                .arg(&summary_path)
                .arg("--work")
                .arg(&work)
                .env("FIRESIGHT_TEST_MOTO_URL", &moto)
                .env("FIRESIGHT_SEED_BIN", env!("CARGO_BIN_EXE_firesight"))
                .output()
                .expect("run dev/seed-pipeline.sh")
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let logs = |name: &str| std::fs::read_to_string(work.path().join("run/logs").join(name)).unwrap_or_default();
    let tail =
        |s: String| s.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
    assert!(
        output.status.success(),
        "the pipeline failed ({}):\n{stdout}\n--- stderr\n{}\n--- firesight-a\n{}\n--- firesight-b\n{}",
        output.status,
        tail(stderr.to_string()),
        tail(logs("firesight-a.log")),
        tail(logs("firesight-b.log")),
    );

    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    let served = summary["requests_served"].as_u64().unwrap();
    assert!(served >= 600, "nginx served {served} requests");
    assert_eq!(summary["rotations"], 1, "{stdout}");
    for mode in ["a", "b"] {
        let m = &summary["modes"][mode];
        assert_eq!(m["documents"].as_u64(), Some(served), "mode {mode}: {stdout}");
        let checks = m["checks"].as_array().unwrap();
        for name in [
            "every request served is a document, once",
            "counts by status",
            "counts by path",
            "counts by country",
            "the outage is one incident covering every error",
            "the incident's records are all back",
        ] {
            let check =
                checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("mode {mode}: no check {name:?}"));
            assert_eq!(check["ok"], true, "mode {mode}: {name}: {}", check["detail"]);
        }
        assert!(
            m["stats"]["delivery_failed"].as_u64().unwrap() > 0,
            "mode {mode}: the outage lost nothing to S3: {stdout}"
        );
        assert!(summary["latency_seconds"][mode]["median"].as_f64().is_some(), "mode {mode}: a probe never arrived");
    }
    // The lines that are not requests: through the SINGLELINE flow they failed in the Lambda and were kept
    // in S3 (and dead-lettered on replay); the LOGTOJSON flow skipped them at the agent, as the agent does.
    assert_eq!(summary["modes"]["a"]["stats"]["processing_failed"], 12, "{stdout}");
    let agent_b = summary["agent"].as_object().unwrap().values().find(|a| a["option"] == "LOGTOJSON").unwrap();
    assert_eq!(agent_b["skipped"], 12, "{stdout}");
}
