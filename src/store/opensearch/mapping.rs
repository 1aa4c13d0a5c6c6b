//! The canonical access-log document as OpenSearch sees it: an index template for the daily indices
//! `<prefix>-YYYY.MM.DD`. Field names follow the Elastic Common Schema (ECS) so that dashboards and users
//! who know Filebeat's output recognise them; firesight's own additions live under `firesight.*` and the
//! Firehose delivery metadata under `firehose.*`.
//!
//! `dynamic: false` keeps fields a user's Lambda added in `_source` without letting them grow the
//! mapping: nothing already accepted is lost, and a stray field cannot cause a mapping explosion.

use serde_json::{Value, json};

/// Bumped whenever the mapping changes, so a running cluster gets the new template at start.
pub const TEMPLATE_VERSION: u64 = 4;

pub fn template_name(prefix: &str) -> String {
    format!("{prefix}-template")
}

fn keyword() -> Value {
    json!({ "type": "keyword", "ignore_above": 1024 })
}

pub fn index_template(prefix: &str, replicas: u32) -> Value {
    json!({
        "index_patterns": [format!("{prefix}-*")],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": { "managed_by": "firesight", "description": "firesight access-log daily indices" },
        "template": {
            "settings": {
                "index": {
                    "number_of_shards": 1,
                    "number_of_replicas": replicas,
                    "refresh_interval": "1s",
                    "codec": "best_compression",
                    "sort.field": ["@timestamp"],
                    "sort.order": ["desc"]
                }
            },
            "mappings": {
                "dynamic": false,
                "properties": {
                    "@timestamp": { "type": "date", "format": "strict_date_optional_time||epoch_millis" },
                    "event": { "properties": {
                        "original": { "type": "keyword", "index": false, "doc_values": false },
                        "id": keyword(),
                        "ingested": { "type": "date" },
                        "dataset": keyword(),
                        "outcome": keyword(),
                        "duration": { "type": "long" }
                    }},
                    "source": { "properties": {
                        "ip": { "type": "ip" },
                        "address": keyword(),
                        "domain": keyword(),
                        "geo": { "properties": {
                            "continent_code": keyword(),
                            "continent_name": keyword(),
                            "country_iso_code": keyword(),
                            "country_name": keyword(),
                            "region_iso_code": keyword(),
                            "region_name": keyword(),
                            "city_name": keyword(),
                            "postal_code": keyword(),
                            "timezone": keyword(),
                            "location": { "type": "geo_point" }
                        }},
                        "as": { "properties": {
                            "number": { "type": "long" },
                            "organization": { "properties": { "name": keyword() } }
                        }}
                    }},
                    "destination": { "properties": { "domain": keyword(), "port": { "type": "integer" } } },
                    "network": { "properties": { "forwarded_ip": { "type": "ip" } } },
                    "user": { "properties": { "name": keyword() } },
                    "http": { "properties": {
                        "version": keyword(),
                        "request": { "properties": {
                            "method": keyword(),
                            "referrer": keyword(),
                            "bytes": { "type": "long" }
                        }},
                        "response": { "properties": {
                            "status_code": { "type": "short" },
                            "body": { "properties": { "bytes": { "type": "long" } } },
                            "bytes": { "type": "long" }
                        }}
                    }},
                    "url": { "properties": {
                        "original": {
                            "type": "keyword", "ignore_above": 8192,
                            "fields": { "text": { "type": "text" } }
                        },
                        "path": {
                            "type": "keyword", "ignore_above": 4096,
                            "fields": { "text": { "type": "text" } }
                        },
                        "query": { "type": "keyword", "ignore_above": 4096 },
                        "extension": keyword(),
                        "scheme": keyword()
                    }},
                    "user_agent": { "properties": {
                        "original": {
                            "type": "keyword", "ignore_above": 2048,
                            "fields": { "text": { "type": "text" } }
                        },
                        "name": keyword(),
                        "version": keyword(),
                        "os": { "properties": {
                            "name": keyword(),
                            "version": keyword(),
                            "full": keyword()
                        }},
                        "device": { "properties": { "name": keyword() } }
                    }},
                    "tls": { "properties": { "version": keyword(), "version_protocol": keyword() } },
                    "firesight": { "properties": {
                        "status_class": keyword(),
                        "referrer_host": keyword(),
                        "bot": { "type": "boolean" },
                        "crawler": { "properties": { "name": keyword(), "category": keyword() } },
                        "visitor": keyword(),
                        "forwarded_for": keyword(),
                        "record_format": keyword(),
                        "upstream": { "properties": {
                            "response_duration": { "type": "long" },
                            "connect_duration": { "type": "long" },
                            "header_duration": { "type": "long" },
                            "attempts": { "type": "integer" }
                        }}
                    }},
                    "firehose": { "properties": {
                        "request_id": keyword(),
                        "source_arn": keyword(),
                        "arrival_time": { "type": "date", "format": "strict_date_optional_time||epoch_millis" },
                        "record_index": { "type": "integer" },
                        "common_attributes": { "type": "flat_object" },
                        "record_id": keyword(),
                        "kinesis": { "properties": {
                            "stream_arn": keyword(),
                            "shard_id": keyword(),
                            "partition_key": keyword(),
                            "sequence_number": keyword(),
                            "subsequence_number": { "type": "long" },
                            "arrival_time": { "type": "date" }
                        }}
                    }}
                }
            }
        }
    })
}

/// A template as OpenSearch Serverless accepts it: Serverless manages shards, replicas, refresh and
/// storage itself and refuses those index settings, so only the mappings remain.
pub fn serverless(mut template: Value) -> Value {
    if let Some(inner) = template.get_mut("template").and_then(Value::as_object_mut) {
        inner.remove("settings");
    }
    template
}

/// Records that could not be parsed or indexed. One index, outside the `<prefix>-*` pattern so queries
/// over the daily indices never see them.
pub fn dead_letter_index(prefix: &str) -> String {
    format!("{prefix}_deadletter")
}

pub fn dead_letter_template_name(prefix: &str) -> String {
    format!("{prefix}_deadletter-template")
}

pub fn dead_letter_template(prefix: &str, replicas: u32) -> Value {
    json!({
        "index_patterns": [dead_letter_index(prefix)],
        "priority": 200,
        "version": TEMPLATE_VERSION,
        "_meta": { "managed_by": "firesight", "description": "firesight dead letters" },
        "template": {
            "settings": { "index": { "number_of_shards": 1, "number_of_replicas": replicas } },
            "mappings": {
                "dynamic": false,
                "properties": {
                    "@timestamp": { "type": "date" },
                    "reason": { "type": "text", "fields": { "keyword": keyword() } },
                    "stage": keyword(),
                    "source": keyword(),
                    "raw": { "type": "keyword", "index": false, "doc_values": false },
                    "raw_base64": { "type": "binary" },
                    "firehose": { "properties": {
                        "request_id": keyword(),
                        "source_arn": keyword(),
                        "arrival_time": { "type": "date" },
                        "record_index": { "type": "integer" }
                    }},
                    "failed_delivery": { "properties": {
                        "error_code": keyword(),
                        "error_message": { "type": "text" },
                        "object": keyword(),
                        "attempt_ending": { "type": "date" }
                    }}
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_targets_the_prefix_and_maps_ecs_fields() {
        let t = index_template("weblogs", 0);
        assert_eq!(t["index_patterns"][0], "weblogs-*");
        let props = &t["template"]["mappings"]["properties"];
        assert_eq!(props["@timestamp"]["type"], "date");
        assert_eq!(props["source"]["properties"]["ip"]["type"], "ip");
        assert_eq!(props["source"]["properties"]["geo"]["properties"]["location"]["type"], "geo_point");
        assert_eq!(props["http"]["properties"]["response"]["properties"]["status_code"]["type"], "short");
        assert_eq!(props["event"]["properties"]["duration"]["type"], "long");
        assert_eq!(props["destination"]["properties"]["domain"]["type"], "keyword");
        assert_eq!(props["firesight"]["properties"]["upstream"]["properties"]["response_duration"]["type"], "long");
        assert_eq!(props["firesight"]["properties"]["crawler"]["properties"]["name"]["type"], "keyword");
        assert_eq!(props["firesight"]["properties"]["crawler"]["properties"]["category"]["type"], "keyword");
        assert_eq!(t["template"]["settings"]["index"]["number_of_replicas"], 0);
        let s = serverless(t);
        assert!(s["template"].get("settings").is_none());
        assert_eq!(s["template"]["mappings"]["properties"]["event"]["properties"]["id"]["type"], "keyword");
    }
}
