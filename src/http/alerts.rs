//! `/v1/alerts`: webhook endpoints, rules, incidents, and the events sent to webhooks. Handlers parse
//! and bound the input and call one [`Alerts`](crate::alerts::Alerts) method.

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;

use super::params::Params;
use super::params::alerts::{IncidentListParams, ListParams, MAX_ID_LEN, RedeliverParams};
use super::problem::{
    ApiError, BadRequestResponse, ConflictResponse, ForbiddenTargetResponse, NotFoundResponse, PayloadTooLargeResponse,
    Problem, UnauthorizedResponse, UnavailableResponse,
};
use crate::alerts::model::*;
use crate::app::App;

/// A JSON request body whose errors are problem documents naming what is wrong (an unknown field, a
/// missing one, a wrong type).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: 0 }
            } else {
                ApiError::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
    }
}

fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty()
        || id.len() > MAX_ID_LEN
        || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ApiError::Missing(format!("no such id {:?}", id.chars().take(MAX_ID_LEN).collect::<String>())));
    }
    Ok(())
}

/// Create a webhook endpoint.
///
/// Events are POSTed to `url` signed per the Standard Webhooks specification: headers `webhook-id`
/// (the event id, the same on every retry), `webhook-timestamp` (unix seconds of the attempt) and
/// `webhook-signature` (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the secret's
/// base64-decoded part after `whsec_`). The secret is in this response only. A 2xx answer within the
/// timeout counts as delivered; anything else is retried on the configured schedule.
#[utoipa::path(post, path = "/v1/alerts/webhooks", tag = "alerts", security(("api_key" = [])),
    request_body = WebhookCreate,
    responses(
        (status = 201, description = "Created; `secret` is shown only now", body = CreatedWebhook),
        BadRequestResponse, UnauthorizedResponse, ForbiddenTargetResponse, PayloadTooLargeResponse,
        (status = 501, description = "`FIRESIGHT_SECRETS_KEY` is not set and the service listens beyond loopback",
            body = Problem, content_type = "application/problem+json"),
        UnavailableResponse,
    ))]
pub async fn create_webhook(
    State(app): State<App>,
    JsonBody(input): JsonBody<WebhookCreate>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::CREATED, Json(app.alerts.create_webhook(input).await?)))
}

/// List webhook endpoints.
///
/// Oldest first, without secrets.
#[utoipa::path(get, path = "/v1/alerts/webhooks", tag = "alerts", security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookPage),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn list_webhooks(
    State(app): State<App>,
    Params(page): Params<ListParams>,
) -> Result<Json<WebhookPage>, ApiError> {
    Ok(Json(app.alerts.webhooks(page.cursor.as_deref(), page.size()).await?))
}

/// Get a webhook endpoint.
#[utoipa::path(get, path = "/v1/alerts/webhooks/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The webhook (never its secret)", body = Webhook),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn get_webhook(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Webhook>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.webhook(&id).await?))
}

/// Update a webhook endpoint.
///
/// Fields not given stay as they are; a new `url` is checked like a new webhook's.
#[utoipa::path(patch, path = "/v1/alerts/webhooks/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    request_body = WebhookUpdate,
    responses(
        (status = 200, description = "The updated webhook", body = Webhook),
        BadRequestResponse, UnauthorizedResponse, ForbiddenTargetResponse, NotFoundResponse, PayloadTooLargeResponse,
        UnavailableResponse,
    ))]
pub async fn update_webhook(
    State(app): State<App>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<WebhookUpdate>,
) -> Result<Json<Webhook>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.update_webhook(&id, input).await?))
}

/// Delete a webhook endpoint.
///
/// Its queued deliveries and its attempt history go with it.
#[utoipa::path(delete, path = "/v1/alerts/webhooks/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn delete_webhook(State(app): State<App>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    app.alerts.delete_webhook(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a test event.
///
/// Sends one signed `alert.test` event (a sample firing alert with `"test": true`) to the webhook now,
/// whatever its subscriptions, records the attempt and returns it. Not retried.
#[utoipa::path(post, path = "/v1/alerts/webhooks/{id}/test", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 200, description = "The attempt: `success`, the receiver's status, latency, error", body = TestResult),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn test_webhook(State(app): State<App>, Path(id): Path<String>) -> Result<Json<TestResult>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.test_webhook(&id).await?))
}

/// List delivery attempts of a webhook.
///
/// Newest first: every HTTP request made to the webhook, with its status, latency and error.
#[utoipa::path(get, path = "/v1/alerts/webhooks/{id}/attempts", tag = "alerts", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "Webhook id"),
        ListParams,
    ),
    responses(
        (status = 200, description = "A page of attempts", body = AttemptPage),
        BadRequestResponse, UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn list_attempts(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(page): Params<ListParams>,
) -> Result<Json<AttemptPage>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.attempts(&id, page.cursor.as_deref(), page.size()).await?))
}

/// Create an alert rule.
///
/// Rules are evaluated every `FIRESIGHT_ALERTS__EVALUATION_INTERVAL_SECS` over the window ending
/// then. A rule whose condition holds opens an incident and sends `alert.firing`; later evaluations
/// keep it open; when the condition clears it resolves and sends `alert.resolved`. After opening an
/// incident the rule opens no other one within its cooldown.
#[utoipa::path(post, path = "/v1/alerts/rules", tag = "alerts", security(("api_key" = [])),
    request_body = RuleCreate,
    responses(
        (status = 201, description = "Created", body = Rule),
        BadRequestResponse, UnauthorizedResponse, PayloadTooLargeResponse, UnavailableResponse,
    ))]
pub async fn create_rule(
    State(app): State<App>,
    JsonBody(input): JsonBody<RuleCreate>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::CREATED, Json(app.alerts.create_rule(input).await?)))
}

/// List alert rules.
#[utoipa::path(get, path = "/v1/alerts/rules", tag = "alerts", security(("api_key" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "A page of rules, oldest first", body = RulePage),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn list_rules(State(app): State<App>, Params(page): Params<ListParams>) -> Result<Json<RulePage>, ApiError> {
    Ok(Json(app.alerts.rules(page.cursor.as_deref(), page.size()).await?))
}

/// Get an alert rule.
#[utoipa::path(get, path = "/v1/alerts/rules/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 200, description = "The rule", body = Rule),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn get_rule(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Rule>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.rule(&id).await?))
}

/// Update an alert rule.
///
/// Fields not given stay as they are; the kind cannot change. The next evaluation uses the new values.
#[utoipa::path(patch, path = "/v1/alerts/rules/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Rule id")),
    request_body = RuleUpdate,
    responses(
        (status = 200, description = "The updated rule", body = Rule),
        BadRequestResponse, UnauthorizedResponse, NotFoundResponse, ConflictResponse, PayloadTooLargeResponse,
        UnavailableResponse,
    ))]
pub async fn update_rule(
    State(app): State<App>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<RuleUpdate>,
) -> Result<Json<Rule>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.update_rule(&id, input).await?))
}

/// Delete an alert rule.
///
/// Its open incident is closed without an event; past incidents stay listed.
#[utoipa::path(delete, path = "/v1/alerts/rules/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Rule id")),
    responses(
        (status = 204, description = "Deleted"),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn delete_rule(State(app): State<App>, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    check_id(&id)?;
    app.alerts.delete_rule(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// List incidents.
///
/// Newest first. An incident is open while its rule's condition holds and resolved once it clears;
/// `findings` holds the latest evaluation: window, counts, top codes and links to `/v1` queries.
#[utoipa::path(get, path = "/v1/alerts/incidents", tag = "alerts", security(("api_key" = [])),
    params(IncidentListParams, ListParams),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentPage),
        BadRequestResponse, UnauthorizedResponse, UnavailableResponse,
    ))]
pub async fn list_incidents(
    State(app): State<App>,
    Params((filter, page)): Params<(IncidentListParams, ListParams)>,
) -> Result<Json<IncidentPage>, ApiError> {
    let incidents = app.alerts.incidents(filter.status, filter.rule_id.as_deref(), page.cursor.as_deref(), page.size());
    Ok(Json(incidents.await?))
}

/// Get an incident.
#[utoipa::path(get, path = "/v1/alerts/incidents/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Incident id")),
    responses(
        (status = 200, description = "The incident", body = Incident),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn get_incident(State(app): State<App>, Path(id): Path<String>) -> Result<Json<Incident>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.incident(&id).await?))
}

/// Get an event.
///
/// The body webhooks received (the `json` format) and its deliveries: status, attempts, next attempt.
#[utoipa::path(get, path = "/v1/alerts/events/{id}", tag = "alerts", security(("api_key" = [])),
    params(("id" = String, Path, description = "Event id (the `webhook-id` header)")),
    responses(
        (status = 200, description = "The event and its deliveries", body = EventView),
        UnauthorizedResponse, NotFoundResponse, UnavailableResponse,
    ))]
pub async fn get_event(State(app): State<App>, Path(id): Path<String>) -> Result<Json<EventView>, ApiError> {
    check_id(&id)?;
    Ok(Json(app.alerts.event(&id).await?))
}

/// Redeliver an event.
///
/// Queues the event again, with the same `webhook-id`, for `webhook_id` or for every webhook it went
/// to before (409 without `webhook_id` when it went to none). The dispatcher sends it within a second
/// or so; follow it with `GET /v1/alerts/events/{id}`.
#[utoipa::path(post, path = "/v1/alerts/events/{id}/redeliver", tag = "alerts", security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "Event id"),
        RedeliverParams,
    ),
    responses(
        (status = 202, description = "Queued", body = Redelivery),
        BadRequestResponse, UnauthorizedResponse, NotFoundResponse, ConflictResponse, UnavailableResponse,
    ))]
pub async fn redeliver(
    State(app): State<App>,
    Path(id): Path<String>,
    Params(params): Params<RedeliverParams>,
) -> Result<impl IntoResponse, ApiError> {
    check_id(&id)?;
    if let Some(w) = &params.webhook_id {
        check_id(w)?;
    }
    Ok((StatusCode::ACCEPTED, Json(app.alerts.redeliver(&id, params.webhook_id.as_deref()).await?)))
}
