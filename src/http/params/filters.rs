//! The filters every `/v1/logs` and `/v1/stats` endpoint takes, declared once: the struct is both the
//! parser and the documentation. A new filter is a field here (with its bounds), a field of
//! [`Filters`], and one clause per store.

use serde::Deserialize;
use utoipa::IntoParams;

use super::{ParamError, err, forms, param_set};
use crate::query::model::{Filters, Query};
use crate::query::params::{self as values, Resolve};

/// The filters every `/v1/logs` and `/v1/stats` endpoint takes. Values of one parameter are ORed
/// (repeat the name), different parameters are ANDed.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Start, inclusive: RFC 3339 or relative (`now-24h`; units s, m, h, d, w). Default: `to` minus 24 h. Must be before `to`.
    #[param(schema_with = forms::time)]
    pub from: Option<String>,
    /// End, exclusive: RFC 3339 or relative. Default `now`. Relative times are aligned to
    /// `FIRESIGHT_QUERY__ALIGN_SECS`. The range may span at most `FIRESIGHT_QUERY__MAX_RANGE_DAYS`.
    #[param(schema_with = forms::time)]
    pub to: Option<String>,
    /// Status code (`404`) or class (`4xx`); repeatable.
    #[serde(default)]
    #[param(schema_with = forms::statuses)]
    pub status: Vec<String>,
    /// HTTP method; repeatable.
    #[serde(default)]
    #[param(schema_with = forms::methods)]
    pub method: Vec<String>,
    /// Exact request path; repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub path: Vec<String>,
    /// Request path prefix (at most 512 characters: the search engine builds an automaton of it).
    #[param(max_length = 512)]
    pub path_prefix: Option<String>,
    /// Client country, ISO 3166-1 alpha-2; repeatable.
    #[serde(default)]
    #[param(schema_with = forms::countries)]
    pub country: Vec<String>,
    /// Client city name; repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub city: Vec<String>,
    /// Browser family (e.g. `Chrome`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub browser: Vec<String>,
    /// Operating-system family (e.g. `Windows`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub os: Vec<String>,
    /// Device family (e.g. `iPhone`, `Spider`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub device: Vec<String>,
    /// Only bots (`true`) or only non-bots (`false`). Every known crawler is a bot.
    pub bot: Option<bool>,
    /// Crawler name (e.g. `Googlebot`, `GPTBot`), from the `crawler-user-agents` list; repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub crawler: Vec<String>,
    /// Crawler category; repeatable.
    #[serde(default)]
    #[param(schema_with = forms::crawler_categories)]
    pub crawler_category: Vec<String>,
    /// Client address or CIDR block; repeatable.
    #[serde(default)]
    #[param(schema_with = forms::client_ips)]
    pub client_ip: Vec<String>,
    /// Referrer host (e.g. `www.google.com`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub referrer_host: Vec<String>,
    /// Virtual host the request was served for (`destination.domain`, e.g. `shop.example`); repeatable.
    #[serde(default)]
    #[param(max_items = 100, max_length = 1024)]
    pub vhost: Vec<String>,
    /// Free text over the path and the user agent.
    #[param(max_length = 256)]
    pub q: Option<String>,
}

param_set!(FilterParams);

impl FilterParams {
    /// The query model: the time range resolved, every value checked and in its canonical form.
    pub fn query(self, resolve: &Resolve) -> Result<Query, ParamError> {
        let range = values::range(self.from.as_deref(), self.to.as_deref(), resolve)?;
        let mut f = Filters {
            status: self.status.iter().map(|v| values::status("status", v)).collect::<Result<_, _>>()?,
            method: self.method.iter().map(|v| v.to_ascii_uppercase()).collect(),
            path: self.path,
            path_prefix: self.path_prefix,
            country: self.country.iter().map(|v| v.to_ascii_uppercase()).collect(),
            city: self.city,
            browser: self.browser,
            os: self.os,
            device: self.device,
            bot: self.bot,
            crawler: self.crawler,
            crawler_category: self.crawler_category,
            client_ip: self.client_ip.iter().map(|v| values::client_ip("client_ip", v)).collect::<Result<_, _>>()?,
            referrer_host: self.referrer_host.iter().map(|h| h.to_ascii_lowercase()).collect(),
            vhost: self.vhost,
            q: self.q,
        };
        if self.method.iter().any(|v| !v.chars().all(|c| c.is_ascii_alphabetic())) {
            return Err(err("method", "must be an HTTP method such as GET"));
        }
        if self.country.iter().any(|v| v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic())) {
            return Err(err("country", "must be an ISO 3166-1 alpha-2 code such as DE"));
        }
        f.normalise();
        Ok(Query { range, filters: f })
    }
}
