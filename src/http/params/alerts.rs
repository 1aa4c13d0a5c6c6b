//! The query parameters of the `/v1/alerts` list endpoints.

use serde::Deserialize;
use utoipa::IntoParams;

use super::param_set;
use crate::alerts::model::IncidentStatus;

/// Longest id accepted in a path, a cursor or a parameter.
pub const MAX_ID_LEN: usize = 64;

/// A page of a list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub size: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 64, pattern = "^[^\\x00]+$")]
    pub cursor: Option<String>,
}

/// `GET /v1/alerts/incidents`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentListParams {
    /// `open` or `resolved`; both when absent.
    #[param(inline)]
    pub status: Option<IncidentStatus>,
    /// Only this rule's incidents.
    #[param(max_length = 64, pattern = "^[^\\x00]+$")]
    pub rule_id: Option<String>,
}

/// `POST /v1/alerts/events/{id}/redeliver`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RedeliverParams {
    /// Send to this webhook only.
    #[param(max_length = 64, pattern = "^[^\\x00]+$")]
    pub webhook_id: Option<String>,
}

param_set!(ListParams, IncidentListParams, RedeliverParams);

const _: () = assert!(crate::query::model::MAX_PAGE_SIZE == 1000, "the page sizes documented here go up to 1000");

const _: () = assert!(MAX_ID_LEN == 64, "the documented max_length of ids");

impl ListParams {
    pub fn size(&self) -> u32 {
        self.size.unwrap_or(100)
    }
}
