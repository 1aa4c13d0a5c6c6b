//! The OpenSearch DSL of the read path: the backend-independent query model ([`crate::query::model`])
//! translated into requests over the read indices (`opensearch.read_index`, default `<prefix>-*`), with
//! every logical field resolved through the field map, and the answers parsed back. The adapter sends
//! them (`store::opensearch::read`).
//!
//! - [`fields`]: the field map (ECS names by default, renamed or absent per configuration);
//! - [`filters`]: time range + filters → `bool.filter`;
//! - [`aggs`]: top, timeline, summary, visit times, geo;
//! - [`search`]: search pages with a `search_after` cursor.
//!
//! Every request is built deterministically (same request → same bytes) and searches with
//! `ignore_unavailable` / `allow_no_indices`, so a range before the first index answers zeros.

pub mod aggs;
pub mod fields;
pub mod filters;
pub mod search;
pub mod slowest;

#[cfg(test)]
mod tests;

pub use fields::{Field, FieldMap};
pub use filters::filter_dsl;
