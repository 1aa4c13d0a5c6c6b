//! The part of firesight that turns one access-log line into an enriched document, shared by the
//! service (`firesight`) and the Firehose data-transformation Lambda (`firesight-lambda`): the canonical
//! document ([`document`]), the special-purpose address table ([`net`]), the parsers ([`parse`]), GeoIP
//! and user-agent enrichment ([`enrich`]) the payloads a record can carry ([`record`]), a line made a document ([`line`]), deterministic ids
//! ([`ids`]) and the Kinesis Producer Library's aggregated records taken apart ([`kpl`]). No I/O
//! beyond reading the GeoIP database, no async runtime, no server dependency.

pub mod document;
pub mod enrich;
pub mod ids;
pub mod kpl;
pub mod line;
pub mod net;
pub mod parse;
pub mod record;
