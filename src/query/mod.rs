//! Read path: the query model, parameter parsing and validation, the aggregate cache, and the service
//! the `/v1/logs` and `/v1/stats` handlers call. Translation for a backend lives with its store adapter.

pub mod cache;
pub mod model;
pub mod params;
pub mod response;
pub mod service;
