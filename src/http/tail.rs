//! `/v1/logs/tail`: the live tail as Server-Sent Events. The handler checks the parameters, opens a
//! stream on the [`TailHub`](crate::tail::TailHub) and writes each of its messages as one event.

use std::borrow::Cow;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::params::Params;
use super::params::filters::FilterParams;
use super::params::tail::{LastEventId, TailHeaders, TailParams};
use super::problem::{ApiError, BadRequestResponse, TooManyTailsResponse, UnauthorizedResponse};
use super::stats::resolve;
use crate::app::App;
use crate::document::LogDocument;
use crate::forms::TAIL_EVENT_ID;
use crate::read::response::LogItem;
use crate::tail::{LagReason, Matcher, Message, ResetReason, TailRequest};

/// How long EventSource waits before reconnecting to a stream that ended.
const RECONNECT: Duration = Duration::from_secs(1);

/// Follow access logs live.
///
/// Server-Sent Events of the access-log documents this process newly indexes, from any source (Firehose
/// deliveries, backfills, the demo), from the moment the stream opens, with the filters of `/v1/logs`.
/// Documents already indexed (replayed deliveries) and lines that could not be parsed are never sent.
/// A document is sent once the log store has acknowledged it: `/v1/logs` finds it from then on on the
/// embedded store, after the index's refresh (about a second) on OpenSearch.
///
/// Events (each one's `data` is JSON):
/// - `log`: one matching document, as `/v1/logs` lists it (`id` plus the document).
/// - `lag`: `{"skipped": n, "reason": "behind" | "rate"}`, documents not sent; the stream goes on after
///   them. `behind`: documents, matching or not, that left the buffer (the `FIRESIGHT_TAIL__BUFFER` most
///   recent) before this stream read them: a slow client, or a resume from too far back. `rate`:
///   matching documents over `FIRESIGHT_TAIL__MAX_EVENTS_PER_SECOND` (default 500, in bursts of one
///   second's worth).
/// - `reset`: `{"reason": "other_process" | "unknown_position", "last_event_id": "..."}`: the
///   `Last-Event-ID` was issued by another process (a restart, another replica) or names a position this
///   one never reached. The stream starts at the newest document; what was indexed in between is not
///   known here (`/v1/logs` has it).
/// - comments: `: open` first, at once (from then on nothing newly indexed is missed), then
///   `: keep-alive` every `FIRESIGHT_TAIL__KEEP_ALIVE_SECS` (default 15) on an idle stream.
///
/// Every event but a plain keep-alive has an `id` (`<epoch>-<seq>`): the position up to which the
/// stream has accounted for every document; a keep-alive carries one when documents the filters passed
/// over moved it. Send the last one back as `Last-Event-ID` to resume without gaps or repeats.
///
/// `from` and `to` bound the documents' own `@timestamp` only when given (`from=now-1h` leaves out old
/// records arriving late), relative times resolved when the stream opens; their defaults do not apply.
///
/// Bounds: at most `FIRESIGHT_TAIL__MAX_CLIENTS` (default 16) streams are open at once (429 beyond);
/// each ends after `max_duration` seconds or `FIRESIGHT_TAIL__MAX_DURATION_SECS` (default 3,600),
/// whichever comes first, or after `limit` documents, or when the service stops. Reconnect with
/// `Last-Event-ID` to go on.
///
/// A stream shows what this process indexes: with several replicas behind a load balancer, each
/// replica's tail shows the share of the traffic it received.
#[utoipa::path(get, path = "/v1/logs/tail", tag = "logs", security(("api_key" = [])),
    params(FilterParams, TailParams, TailHeaders),
    responses(
        (status = 200, description = "An event stream (`text/event-stream`): `log`, `lag` and `reset` events and \
comments, until `max_duration`, `limit`, `FIRESIGHT_TAIL__MAX_DURATION_SECS` or shutdown ends it",
            content_type = "text/event-stream", body = TailStreamEvent),
        BadRequestResponse, UnauthorizedResponse, TooManyTailsResponse,
    ))]
pub async fn tail(
    State(app): State<App>,
    Params((filters, params)): Params<(FilterParams, TailParams)>,
    LastEventId(resume): LastEventId,
) -> Result<Response, ApiError> {
    let (from_given, to_given) = (filters.from.is_some(), filters.to.is_some());
    let query = filters.query(&resolve(&app.query))?;
    let matcher =
        Matcher::new(query.filters, from_given.then_some(query.range.from), to_given.then_some(query.range.to));
    let request = TailRequest {
        matcher,
        resume,
        max_duration: params.max_duration.map(Duration::from_secs),
        limit: params.limit,
    };
    let tail = app.tail.subscribe(request)?;
    let events = futures::stream::unfold(tail, |mut tail| async move {
        let message = tail.next().await?;
        Some((Ok::<_, Infallible>(event(message)), tail))
    });
    let mut response = Sse::new(events).into_response();
    // Proxies that buffer responses (nginx) would hold the events back.
    response.headers_mut().insert(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"));
    Ok(response)
}

/// A `log` event's data: the document as `/v1/logs` returns it.
#[derive(Serialize)]
struct Item<'a> {
    id: &'a str,
    #[serde(flatten)]
    document: &'a LogDocument,
}

/// `data` of a `lag` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TailLag {
    /// Documents not sent; the stream goes on after them.
    #[schema(minimum = 1)]
    pub skipped: u64,
    pub reason: TailLagReason,
}

/// `behind`: documents, matching or not, that left the buffer before the stream read them. `rate`:
/// matching documents over the stream's events per second.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TailLagReason {
    Behind,
    Rate,
}

/// `data` of a `reset` event.
#[derive(Debug, Serialize, ToSchema)]
pub struct TailReset {
    pub reason: TailResetReason,
    /// The `Last-Event-ID` that could not be resumed.
    #[schema(pattern = "^[0-9a-f]{8}-[0-9]{1,19}$")]
    pub last_event_id: String,
}

/// `other_process`: the id was issued by another process (a restart, another replica).
/// `unknown_position`: this process never reached that position.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TailResetReason {
    OtherProcess,
    UnknownPosition,
}

/// One event of the stream, as an event-stream reader dispatches it: its type, its `id` and its `data`
/// (JSON). Comments and messages without data (the opening message, keep-alives) dispatch no event.
pub struct TailStreamEvent;

impl PartialSchema for TailStreamEvent {
    fn schema() -> RefOr<Schema> {
        let event = |name: &str, data: &str, description: &str| {
            ObjectBuilder::new()
                .description(Some(description))
                .property("event", ObjectBuilder::new().schema_type(Type::String).enum_values(Some([name])))
                .property("id", ObjectBuilder::new().schema_type(Type::String).pattern(Some(TAIL_EVENT_ID.pattern)))
                .property(
                    "data",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .content_media_type("application/json")
                        .content_schema(Some(Ref::from_schema_name(data))),
                )
                .required("event")
                .required("id")
                .required("data")
        };
        OneOfBuilder::new()
            .item(event("log", "LogItem", "A matching document"))
            .item(event("lag", "TailLag", "Documents not sent"))
            .item(event("reset", "TailReset", "A `Last-Event-ID` that could not be resumed"))
            .description(Some(
                "One event: its type, its `id` (the stream's position) and its `data`, JSON. Comments and \
messages without data (the opening message, keep-alives) dispatch no event.",
            ))
            .into()
    }
}

impl ToSchema for TailStreamEvent {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TailEvent")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((LogItem::name().into_owned(), LogItem::schema()));
        schemas.push((TailLag::name().into_owned(), TailLag::schema()));
        schemas.push((TailLagReason::name().into_owned(), TailLagReason::schema()));
        schemas.push((TailReset::name().into_owned(), TailReset::schema()));
        schemas.push((TailResetReason::name().into_owned(), TailResetReason::schema()));
    }
}

fn json(data: &impl Serialize) -> String {
    serde_json::to_string(data).expect("event data serialises")
}

fn event(message: Message) -> Event {
    match message {
        Message::Open { id } => Event::default().comment("open").id(id.to_string()).retry(RECONNECT),
        Message::Reset { id, reason, requested } => {
            let reason = match reason {
                ResetReason::OtherProcess => TailResetReason::OtherProcess,
                ResetReason::Unknown => TailResetReason::UnknownPosition,
            };
            let data = TailReset { reason, last_event_id: requested.to_string() };
            Event::default().event("reset").id(id.to_string()).data(json(&data))
        }
        Message::Log { id, event } => {
            let item = Item { id: &event.item.id, document: &event.item.doc };
            Event::default().event("log").id(id.to_string()).data(json(&item))
        }
        Message::Lag { id, skipped, reason } => {
            let reason = match reason {
                LagReason::Behind => TailLagReason::Behind,
                LagReason::Rate => TailLagReason::Rate,
            };
            Event::default().event("lag").id(id.to_string()).data(json(&TailLag { skipped, reason }))
        }
        Message::KeepAlive { id } => {
            let keep_alive = Event::default().comment("keep-alive");
            match id {
                Some(id) => keep_alive.id(id.to_string()),
                None => keep_alive,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ids the spec states for events and `reset` data are the form the header is checked against.
    #[test]
    fn the_documented_event_ids_are_the_checked_form() {
        let spec = serde_json::to_value(crate::http::openapi()).unwrap();
        let schemas = &spec["components"]["schemas"];
        assert_eq!(schemas["TailReset"]["properties"]["last_event_id"]["pattern"], TAIL_EVENT_ID.pattern);
        let events = schemas["TailEvent"]["oneOf"].as_array().unwrap();
        let names: Vec<&str> = events.iter().map(|e| e["properties"]["event"]["enum"][0].as_str().unwrap()).collect();
        assert_eq!(names, ["log", "lag", "reset"]);
        for e in events {
            assert_eq!(e["properties"]["id"]["pattern"], TAIL_EVENT_ID.pattern);
            assert_eq!(e["properties"]["data"]["contentMediaType"], "application/json");
        }
        let ok = &spec["paths"]["/v1/logs/tail"]["get"]["responses"]["200"]["content"]["text/event-stream"];
        assert_eq!(ok["schema"]["$ref"], "#/components/schemas/TailEvent");
        assert_eq!(
            serde_json::to_value(TailLag { skipped: 3, reason: TailLagReason::Behind }).unwrap(),
            serde_json::json!({"skipped": 3, "reason": "behind"})
        );
    }
}
