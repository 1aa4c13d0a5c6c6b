//! The parameters of `/v1/logs/tail` beside the shared filters: the stream's own bounds, and the
//! `Last-Event-ID` header that resumes it.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Deserialize;
use utoipa::IntoParams;

use super::param_set;
use crate::config::MAX_TAIL_DURATION_SECS;
use crate::forms::TAIL_EVENT_ID;
use crate::http::problem::ApiError;
use crate::tail::EventId;

/// Most documents one stream may be asked for (`limit`).
pub const MAX_TAIL_LIMIT: u64 = 100_000;

/// `/v1/logs/tail`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TailParams {
    /// End the stream after this many seconds. It ends after `FIRESIGHT_TAIL__MAX_DURATION_SECS`
    /// (default 3,600) in any case.
    #[param(minimum = 1, maximum = 86400)]
    pub max_duration: Option<u64>,
    /// End the stream after this many documents.
    #[param(minimum = 1, maximum = 100000)]
    pub limit: Option<u64>,
}

param_set!(TailParams);

const _: () = assert!(MAX_TAIL_DURATION_SECS == 86_400, "`max_duration` is documented up to 86400");
const _: () = assert!(MAX_TAIL_LIMIT == 100_000, "`limit` is documented up to 100000");

/// The headers of `/v1/logs/tail` (documentation; [`LastEventId`] reads them).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct TailHeaders {
    /// The `id` of the last event received: the stream continues right after it, without gaps or
    /// repeats while the buffer (`FIRESIGHT_TAIL__BUFFER` documents) still holds what followed; a `lag`
    /// event counts what it no longer holds; an id of another process (a restart, another replica)
    /// gets a `reset` event. EventSource sends it by itself when it reconnects.
    #[serde(rename = "Last-Event-ID")]
    #[param(rename = "Last-Event-ID", value_type = String, required = false, pattern = "^[0-9a-f]{8}-[0-9]{1,19}$")]
    pub last_event_id: Option<String>,
}

/// Extractor: the `Last-Event-ID` header, in the form the documentation states, or a 400 naming it.
pub struct LastEventId(pub Option<EventId>);

impl<S: Send + Sync> FromRequestParts<S> for LastEventId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all("last-event-id").iter();
        let Some(value) = values.next() else { return Ok(LastEventId(None)) };
        let bad = |detail: &str| ApiError::validation("Last-Event-ID", detail);
        if values.next().is_some() {
            return Err(bad("give it once"));
        }
        let text = value.to_str().map_err(|_| bad(TAIL_EVENT_ID.message))?;
        if !TAIL_EVENT_ID.matches(text) {
            return Err(bad(TAIL_EVENT_ID.message));
        }
        EventId::parse(text).map(|id| LastEventId(Some(id))).ok_or_else(|| bad(TAIL_EVENT_ID.message))
    }
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    #[test]
    fn the_documented_header_form_is_the_checked_one() {
        let params = super::TailHeaders::into_params(|| None);
        let json = serde_json::to_value(&params[0]).unwrap();
        assert_eq!(json["name"], "Last-Event-ID");
        assert_eq!(json["in"], "header");
        assert_eq!(json["required"], false);
        assert_eq!(json["schema"]["pattern"], crate::forms::TAIL_EVENT_ID.pattern);
        assert!(json["description"].as_str().unwrap().contains("`reset` event"), "{json}");
    }
}
