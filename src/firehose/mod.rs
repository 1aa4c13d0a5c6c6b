//! Write path entry: the Amazon Kinesis Data Firehose HTTP endpoint, `POST /v1/firehose`.
//! `models` holds the wire types, `errors` what can go wrong and the status Firehose gets for it,
//! `decode` turns request bytes into lines, `receiver` runs a delivery through the ingest core, and
//! `rejections` counts the deliveries it refused for the delivery-error correlation. The HTTP route
//! (`crate::http::firehose`) answers in Firehose's own JSON format, never problem+json.

pub mod decode;
pub mod errors;
pub mod models;
pub mod receiver;
pub mod rejections;
