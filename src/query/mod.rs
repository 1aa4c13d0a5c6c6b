//! The read path's vocabulary: the query model ([`model`]) that the HTTP edge builds from query
//! parameters, each log store translates, and the read service ([`crate::read`]) caches.

pub mod model;
pub mod params;
