//! One integration-test binary: every test starts the real service (`firesight::run` on port 0)
//! against the real local services that `dev/services.sh up` starts.

mod alerts;
mod alerts_latency;
mod alerts_locks;
mod dashboard;
mod dataset;
mod delivery_errors;
mod embedded_default;
mod embedded_store;
mod firehose;
mod firehose_client;
mod foundation;
mod harness;
mod kinesis;
mod lambda;
mod layout;
mod log_formats;
mod migrate_store;
mod pipeline;
mod query_api;
mod replay;
mod scenarios;
mod scenarios_durations;
mod schemathesis;
mod secrets;
mod sigv4;
mod store_paging;
mod store_queries;
mod tail;
