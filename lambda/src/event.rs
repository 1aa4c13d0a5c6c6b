//! The transformation event as Firehose sends it, read leniently where its documented examples differ
//! from `aws_lambda_events`' types: Kinesis-sourced records carry `kinesisRecordMetadata.subsequenceNumber`
//! as an empty string (`""`) or a numeric string (`"123456"`) as often as a number, and
//! `kinesisRecordMetadata.approximateArrivalTimestamp` as an RFC 3339 string as well as epoch
//! milliseconds. Each is turned into the number the typed event expects before it is decoded; a payload
//! that still does not decode is an invocation error, which Firehose retries and then backs up.

use aws_lambda_events::event::firehose::KinesisFirehoseEvent;
use serde_json::Value;

pub fn decode(mut payload: Value) -> Result<KinesisFirehoseEvent, serde_json::Error> {
    if let Some(records) = payload.get_mut("records").and_then(Value::as_array_mut) {
        for record in records {
            millis(record.get_mut("approximateArrivalTimestamp"));
            if let Some(meta) = record.get_mut("kinesisRecordMetadata").filter(|m| m.is_object()) {
                millis(meta.get_mut("approximateArrivalTimestamp"));
                if let Some(sub) = meta.get_mut("subsequenceNumber") {
                    *sub = match &*sub {
                        Value::String(s) if s.trim().is_empty() => Value::from(0),
                        Value::String(s) => s.trim().parse::<i64>().map(Value::from).unwrap_or_else(|_| sub.clone()),
                        Value::Null => Value::from(0),
                        other => other.clone(),
                    };
                }
            }
        }
    }
    serde_json::from_value(payload)
}

/// An RFC 3339 string or a fractional number becomes whole epoch milliseconds.
fn millis(value: Option<&mut Value>) {
    let Some(value) = value else { return };
    let ms = match &*value {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.timestamp_millis())
            .ok()
            .or_else(|| s.trim().parse::<i64>().ok()),
        Value::Number(n) if !n.is_i64() => n.as_f64().map(|f| f as i64),
        _ => None,
    };
    if let Some(ms) = ms {
        *value = Value::from(ms);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::decode;

    fn event(meta: serde_json::Value) -> serde_json::Value {
        json!({
            "invocationId": "inv", "deliveryStreamArn": "arn:aws:firehose:us-east-1:123456789012:deliverystream/s",
            "sourceKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s", "region": "us-east-1",
            "records": [{"recordId": "1", "approximateArrivalTimestamp": 1495072949453i64, "data": "SGVsbG8=",
                         "kinesisRecordMetadata": meta}]
        })
    }

    #[test]
    fn the_shapes_of_the_documented_examples_decode() {
        // The Lambda console's Firehose test event: empty sub-sequence number, RFC 3339 arrival time.
        let e = decode(event(json!({"shardId": "shardId-000000000000", "partitionKey": "k",
            "approximateArrivalTimestamp": "2012-04-23T18:25:43.511Z",
            "sequenceNumber": "49546986683135544286507457936321625675700192471156785154", "subsequenceNumber": ""})))
        .unwrap();
        let meta = e.records[0].kinesis_firehose_record_metadata.as_ref().unwrap();
        assert_eq!(meta.subsequence_number, 0);
        // (aws_lambda_events reads milliseconds through a float: a millisecond either way.)
        assert!((meta.approximate_arrival_timestamp.0.timestamp_millis() - 1_335_205_543_511).abs() <= 1);
        // The blueprint's example: a numeric string.
        let e = decode(event(json!({"shardId": "shardId-000000000000", "partitionKey": "k",
            "approximateArrivalTimestamp": 1495072949453i64,
            "sequenceNumber": "49545115243490985018280067714973144582180062593244200961", "subsequenceNumber": "123456"})))
        .unwrap();
        assert_eq!(e.records[0].kinesis_firehose_record_metadata.as_ref().unwrap().subsequence_number, 123_456);
        // A number stays a number.
        let e = decode(event(json!({"shardId": "s", "partitionKey": "k", "approximateArrivalTimestamp": 1,
            "sequenceNumber": "1", "subsequenceNumber": 7})))
        .unwrap();
        assert_eq!(e.records[0].kinesis_firehose_record_metadata.as_ref().unwrap().subsequence_number, 7);
    }

    #[test]
    fn what_is_not_a_number_still_fails() {
        assert!(
            decode(event(json!({"shardId": "s", "partitionKey": "k", "approximateArrivalTimestamp": 1,
            "sequenceNumber": "1", "subsequenceNumber": "seven"})))
            .is_err()
        );
    }
}
