//! Read path service: answers `/v1/logs` and `/v1/stats` from the log store, with hot aggregates
//! cached ([`cache`]) and the shares and comparisons of each answer computed once ([`response`]).
//! What a query asks and what a store answers is the [`crate::query`] model.

pub mod cache;
pub mod response;
pub mod service;
