//! CloudWatch Embedded Metric Format: one JSON line per invocation on stdout, which CloudWatch Logs
//! turns into metrics in the `firesight/Lambda` namespace, by delivery stream.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::transform::Counts;

pub fn line(stream: &str, counts: &Counts, duration: Duration, now: DateTime<Utc>) -> String {
    json!({
        "_aws": {
            "Timestamp": now.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": "firesight/Lambda",
                "Dimensions": [["DeliveryStream"]],
                "Metrics": [
                    { "Name": "RecordsOk", "Unit": "Count" },
                    { "Name": "RecordsDropped", "Unit": "Count" },
                    { "Name": "RecordsFailed", "Unit": "Count" },
                    { "Name": "Documents", "Unit": "Count" },
                    { "Name": "InputBytes", "Unit": "Bytes" },
                    { "Name": "OutputBytes", "Unit": "Bytes" },
                    { "Name": "OkInputBytes", "Unit": "Bytes" },
                    { "Name": "OkOutputBytes", "Unit": "Bytes" },
                    { "Name": "TransformDuration", "Unit": "Milliseconds" }
                ]
            }]
        },
        "DeliveryStream": stream,
        "RecordsOk": counts.ok,
        "RecordsDropped": counts.dropped,
        "RecordsFailed": counts.failed,
        "Documents": counts.documents,
        "InputBytes": counts.input_bytes,
        "OutputBytes": counts.output_bytes,
        "OkInputBytes": counts.ok_input_bytes,
        "OkOutputBytes": counts.ok_output_bytes,
        "TransformDuration": duration.as_secs_f64() * 1000.0
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_has_its_value() {
        let counts = Counts {
            ok: 3,
            dropped: 1,
            failed: 2,
            documents: 3,
            input_bytes: 10,
            output_bytes: 30,
            ok_input_bytes: 6,
            ok_output_bytes: 30,
        };
        let line: serde_json::Value =
            serde_json::from_str(&line("s", &counts, Duration::from_millis(5), Utc::now())).unwrap();
        for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(line[name].is_number(), "{name}");
        }
        assert_eq!(line["RecordsFailed"], 2);
        assert_eq!(line["DeliveryStream"], "s");
    }
}
