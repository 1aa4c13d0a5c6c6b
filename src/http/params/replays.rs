//! The parameters of `/v1/delivery-errors/replays`.

use serde::Deserialize;
use utoipa::IntoParams;

use super::{ParamError, forms, param_set};
use crate::query::params::{self as values, Resolve};
use crate::replay::Range;

/// `POST /v1/delivery-errors/replays`: which failed records to replay.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayStartParams {
    /// Records whose attempts ended at or after this time (`attemptEndingTimestamp`): RFC 3339 or
    /// relative (`now-24h`; units s, m, h, d, w). Default: `to` minus 24 h. Must be before `to`.
    #[param(schema_with = forms::time)]
    pub from: Option<String>,
    /// Records whose attempts ended before this time: RFC 3339 or relative. Default `now`. At most
    /// `FIRESIGHT_QUERY__MAX_RANGE_DAYS` after `from`.
    #[param(schema_with = forms::time)]
    pub to: Option<String>,
    /// `s3://BUCKET/PREFIX` within one of the configured locations (`FIRESIGHT_S3_REPLAY__BUCKETS`);
    /// every configured location when absent.
    #[param(max_length = 1100, pattern = "^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^\\x00-\\x1f\\x7f]*)?$")]
    pub location: Option<String>,
    /// Read and count, write nothing (default `false`).
    pub dry_run: Option<bool>,
}

impl ReplayStartParams {
    pub fn range(&self, resolve: &Resolve) -> Result<Range, ParamError> {
        let range = values::range(self.from.as_deref(), self.to.as_deref(), resolve)?;
        Ok(Range { since: Some(range.from), until: Some(range.to) })
    }
}

/// `GET /v1/delivery-errors/replays`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReplayListParams {
    /// How many of the newest replays (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<u32>,
}

param_set!(ReplayStartParams, ReplayListParams);
