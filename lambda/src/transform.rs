//! One Firehose transformation event in, one answer out: every input record gets exactly one output
//! record with its id. Pure apart from the clock passed in.
//!
//! Per record: its payload's lines ([`firesight_core::record`]: plain text, gzip, CloudWatch Logs
//! subscriptions), each made a document exactly as the service does ([`firesight_core::line`]).
//! - `Ok`: the documents as JSON lines, with `event.id` (deterministic from the delivery stream, the
//!   record id and the line) and the delivery's metadata under `firehose.*`.
//! - `Dropped`: an empty record, a CloudWatch Logs control message, or every line dropped by the
//!   settings (paths, bots).
//! - `ProcessingFailed`: a payload that cannot be read, a line that cannot be parsed, several lines when
//!   the destination takes one document per record, or a response that would pass Lambda's 6 MB. The
//!   record's own bytes are answered back when they fit; Firehose writes the record as it arrived to the
//!   S3 `processing-failed/` prefix, and the reason is logged with the record id.

use std::collections::HashMap;

use aws_lambda_events::event::firehose::{
    KinesisFirehoseEvent, KinesisFirehoseEventRecord, KinesisFirehoseResponse, KinesisFirehoseResponseRecord,
};
use chrono::{DateTime, Utc};
use firesight_core::document::{FirehoseMeta, KinesisMeta, LogDocument};
use firesight_core::enrich::Enricher;
use firesight_core::{ids, line, record};

use crate::settings::{MultiLine, PartitionKey, Settings};

/// Lambda's limit on a synchronous response (6,291,556 bytes), less room for the JSON envelope.
pub const RESPONSE_BUDGET: usize = 6_000_000;
/// JSON around one output record besides its id and data: result, metadata, punctuation.
const RECORD_OVERHEAD: usize = 100;

pub struct Transformer {
    pub settings: Settings,
    pub enricher: Enricher,
}

/// What one invocation did, for its metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ok: usize,
    pub dropped: usize,
    pub failed: usize,
    pub documents: usize,
    pub input_bytes: usize,
    pub output_bytes: usize,
    /// Input and output bytes of the records answered `Ok`: how much larger the documents are.
    pub ok_input_bytes: usize,
    pub ok_output_bytes: usize,
}

enum Outcome {
    /// The documents as JSON lines, the partition keys, how many documents.
    Ok(Vec<u8>, HashMap<String, String>, usize),
    Dropped,
    Failed(String),
}

impl Transformer {
    pub fn transform(&self, event: &KinesisFirehoseEvent, now: DateTime<Utc>) -> (KinesisFirehoseResponse, Counts) {
        let mut counts = Counts::default();
        let stream = event.delivery_stream_arn.as_deref().unwrap_or("");
        // Room kept so that every later record can at least be answered (as a failure without data).
        let mut reserved: usize = event.records.iter().map(minimal_answer).sum();
        let mut used = 0usize;
        let mut response = KinesisFirehoseResponse::default();
        for (index, input) in event.records.iter().enumerate() {
            counts.input_bytes += input.data.len();
            reserved -= minimal_answer(input);
            let fits = |data_len: usize| used + b64_len(data_len) + minimal_answer(input) + reserved <= RESPONSE_BUDGET;
            let mut outcome = self.record(event, input, index, stream, now);
            if let Outcome::Ok(data, _, _) = &outcome
                && !fits(data.len())
            {
                outcome = Outcome::Failed(format!(
                    "the answer would pass Lambda's 6 MB response limit; lower the processor's BufferSizeInMBs \
                     (documents are {:.1} times their lines)",
                    data.len() as f64 / input.data.len().max(1) as f64
                ));
            }
            let mut out = KinesisFirehoseResponseRecord::default();
            out.record_id = input.record_id.clone();
            match outcome {
                Outcome::Ok(data, keys, documents) => {
                    counts.ok += 1;
                    counts.documents += documents;
                    counts.ok_input_bytes += input.data.len();
                    counts.ok_output_bytes += data.len();
                    out.result = Some("Ok".into());
                    *out.data = data;
                    out.metadata.partition_keys = keys;
                }
                Outcome::Dropped => {
                    counts.dropped += 1;
                    out.result = Some("Dropped".into());
                }
                Outcome::Failed(reason) => {
                    counts.failed += 1;
                    tracing::warn!(
                        record_id = input.record_id.as_deref().unwrap_or(""),
                        index,
                        reason,
                        "record not transformed"
                    );
                    out.result = Some("ProcessingFailed".into());
                    // Firehose keeps the record as it arrived; it is answered back when there is room.
                    if fits(input.data.len()) {
                        *out.data = input.data.to_vec();
                    }
                }
            }
            used += b64_len(out.data.len()) + minimal_answer(input);
            counts.output_bytes += out.data.len();
            response.records.push(out);
        }
        (response, counts)
    }

    fn record(
        &self,
        event: &KinesisFirehoseEvent,
        input: &KinesisFirehoseEventRecord,
        index: usize,
        stream: &str,
        now: DateTime<Utc>,
    ) -> Outcome {
        let lines = match record::lines(&input.data) {
            Ok(lines) => lines,
            Err(unreadable) => return Outcome::Failed(unreadable.reason),
        };
        if lines.len() > 1 && self.settings.multi_line == MultiLine::Fail {
            return Outcome::Failed(format!(
                "the record carries {} lines and the destination takes one document per record \
                 (FIRESIGHT_LAMBDA__MULTI_LINE=ndjson answers them as JSON lines)",
                lines.len()
            ));
        }
        let record_id = input.record_id.as_deref().unwrap_or("");
        let meta = metadata(event, input, index);
        let mut data = Vec::new();
        let mut keys = HashMap::new();
        let mut kept = 0;
        for (n, line) in lines.into_iter().enumerate() {
            let format = self.settings.log_format.as_deref();
            let mut doc = match line::document(line.text, line.fallback_time, format, &self.enricher, now) {
                Ok(doc) => doc,
                Err((e, _)) => return Outcome::Failed(format!("line {}: {e}", n + 1)),
            };
            if self.drops(&doc) {
                continue;
            }
            doc.event.id = Some(ids::lambda_id(stream, record_id, n));
            doc.firehose = Some(meta.clone());
            if !self.settings.include_original {
                doc.event.original.clear();
            }
            if self.settings.compact {
                compact(&mut doc);
            }
            if kept == 0 {
                keys = self.partition_keys(&doc);
            }
            serde_json::to_writer(&mut data, &doc).expect("documents serialise");
            data.push(b'\n');
            kept += 1;
        }
        if kept == 0 { Outcome::Dropped } else { Outcome::Ok(data, keys, kept) }
    }

    fn drops(&self, doc: &LogDocument) -> bool {
        (self.settings.drop_bots && doc.firesight.bot == Some(true))
            || doc.url.path.as_deref().is_some_and(|p| self.settings.drops_path(p))
    }

    fn partition_keys(&self, doc: &LogDocument) -> HashMap<String, String> {
        self.settings
            .partition_keys
            .iter()
            .map(|key| match key {
                PartitionKey::Date => ("date".to_owned(), doc.timestamp.format("%Y-%m-%d").to_string()),
                PartitionKey::Hour => ("hour".to_owned(), doc.timestamp.format("%H").to_string()),
                PartitionKey::Vhost => {
                    let host = doc.destination.as_ref().and_then(|d| d.domain.as_deref()).unwrap_or("unknown");
                    ("vhost".to_owned(), host.to_owned())
                }
                PartitionKey::StatusClass => {
                    let class = doc.firesight.status_class.as_deref().unwrap_or("unknown");
                    ("status_class".to_owned(), class.to_owned())
                }
            })
            .collect()
    }
}

/// Leaves only what the query API reads (`store/opensearch/dsl/fields.rs` in the service).
fn compact(doc: &mut LogDocument) {
    doc.event.original.clear();
    doc.url.original = None;
    doc.source.address = None;
    doc.firehose = None;
    if let Some(geo) = doc.source.geo.as_mut() {
        let geo = std::sync::Arc::make_mut(geo);
        geo.continent_code = None;
        geo.continent_name = None;
        geo.region_iso_code = None;
        geo.region_name = None;
        geo.postal_code = None;
        geo.timezone = None;
    }
}

/// The delivery's metadata for `firehose.*`.
fn metadata(event: &KinesisFirehoseEvent, input: &KinesisFirehoseEventRecord, index: usize) -> FirehoseMeta {
    FirehoseMeta {
        request_id: event.invocation_id.clone(),
        source_arn: event.delivery_stream_arn.clone(),
        arrival_time: Some(input.approximate_arrival_timestamp.0),
        record_index: u32::try_from(index).ok(),
        common_attributes: None,
        record_id: input.record_id.clone(),
        kinesis: input.kinesis_firehose_record_metadata.as_ref().map(|k| KinesisMeta {
            stream_arn: event.source_kinesis_stream_arn.clone(),
            shard_id: k.shard_id.clone(),
            partition_key: k.partition_key.clone(),
            sequence_number: k.sequence_number.clone(),
            subsequence_number: Some(k.subsequence_number),
            arrival_time: Some(k.approximate_arrival_timestamp.0),
        }),
    }
}

/// The smallest answer for a record: its id, a result, no data.
fn minimal_answer(input: &KinesisFirehoseEventRecord) -> usize {
    input.record_id.as_deref().map_or(0, str::len) + RECORD_OVERHEAD
}

fn b64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::event::firehose::KinesisFirehoseEventRecord;
    use firesight_core::enrich::UserAgentParser;
    use firesight_core::parse::LogFormat;

    use super::*;

    fn transformer(log_format: Option<&str>) -> Transformer {
        let settings = Settings {
            log_format: log_format.map(|f| std::sync::Arc::new(LogFormat::compile(f).unwrap())),
            ..Settings::default()
        };
        Transformer { settings, enricher: Enricher::new(None, UserAgentParser::new().unwrap()) }
    }

    fn event(lines: &[&str]) -> KinesisFirehoseEvent {
        let mut event = KinesisFirehoseEvent::default();
        event.delivery_stream_arn = Some("arn:aws:firehose:eu-west-1:111122223333:deliverystream/weblogs".into());
        for (i, line) in lines.iter().enumerate() {
            let mut record = KinesisFirehoseEventRecord::default();
            record.record_id = Some(format!("r{i}"));
            *record.data = line.as_bytes().to_vec();
            event.records.push(record);
        }
        event
    }

    /// NGINX's admin guide, "Configuring Logging" (https://docs.nginx.com/nginx/admin-guide/monitoring/logging/).
    const UPSTREAM_TIME: &str = r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time""#;

    #[test]
    fn the_configured_format_is_honoured() {
        let timed = r#"203.0.113.5 - - [10/Oct/2020:13:55:36 +0000] "GET /api/items HTTP/1.1" 200 512 "-" "curl/7.68.0" rt=0.052 uct="0.001" uht="0.050" urt="0.050""#;
        let combined = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let (response, counts) = transformer(Some(UPSTREAM_TIME)).transform(&event(&[timed, combined]), Utc::now());
        assert_eq!((counts.ok, counts.failed), (1, 1));
        let doc: serde_json::Value = serde_json::from_slice(&response.records[0].data).unwrap();
        assert_eq!(doc["event"]["duration"], 52_000_000);
        assert_eq!(doc["firesight"]["upstream"]["response_duration"], 50_000_000);
        assert_eq!(doc["firesight"]["record_format"], "nginx_log_format");
        // A line of another format is ProcessingFailed, as any line that does not parse.
        assert_eq!(response.records[1].result.as_deref(), Some("ProcessingFailed"));

        // Without a format, the same lines are recognised: the timed one as combined with a trailer.
        let (response, counts) = transformer(None).transform(&event(&[timed, combined]), Utc::now());
        assert_eq!((counts.ok, counts.failed), (2, 0));
        let doc: serde_json::Value = serde_json::from_slice(&response.records[0].data).unwrap();
        assert!(doc["event"].get("duration").is_none());
    }

    #[test]
    fn crawlers_are_named_and_dropped_with_the_bots() {
        let gptbot = r#"203.0.113.7 - - [10/Oct/2020:13:55:36 +0000] "GET /robots.txt HTTP/1.1" 200 64 "-" "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)""#;
        let (response, counts) = transformer(None).transform(&event(&[gptbot]), Utc::now());
        assert_eq!(counts.ok, 1);
        let doc: serde_json::Value = serde_json::from_slice(&response.records[0].data).unwrap();
        assert_eq!(doc["firesight"]["crawler"], serde_json::json!({ "name": "GPTBot", "category": "ai" }));
        assert_eq!(doc["firesight"]["bot"], true);

        let mut dropping = transformer(None);
        dropping.settings.drop_bots = true;
        let (response, _) = dropping.transform(&event(&[gptbot]), Utc::now());
        assert_eq!(response.records[0].result.as_deref(), Some("Dropped"));
    }
}
