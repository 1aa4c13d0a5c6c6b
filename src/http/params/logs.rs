//! The parameters of `/v1/logs` and `/v1/logs/export` beside the shared filters.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::param_set;
use crate::query::model::Order;

/// `order`: newest first (default) or oldest first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    Desc,
    Asc,
}

impl From<SortOrder> for Order {
    fn from(o: SortOrder) -> Order {
        match o {
            SortOrder::Desc => Order::Desc,
            SortOrder::Asc => Order::Asc,
        }
    }
}

/// `/v1/logs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Documents per page (default `FIRESIGHT_QUERY__DEFAULT_PAGE_SIZE`, 100).
    #[param(minimum = 1, maximum = 1000)]
    pub size: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(max_length = 8192)]
    pub cursor: Option<String>,
    /// `desc` (newest first, default) or `asc`.
    #[param(inline)]
    pub order: Option<SortOrder>,
}

/// `format` of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

/// `/v1/logs/export`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `csv` or `ndjson`; default from `Accept`, else `csv`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
    /// `desc` (newest first, default) or `asc`.
    #[param(inline)]
    pub order: Option<SortOrder>,
}

param_set!(PageParams, ExportParams);

const _: () = assert!(crate::query::model::MAX_PAGE_SIZE == 1000, "the page sizes documented here go up to 1000");
