//! Read path: the query model, parameter parsing and validation, the aggregate cache, and the service
//! the `/v1/logs` and `/v1/stats` handlers call.

pub mod model;
