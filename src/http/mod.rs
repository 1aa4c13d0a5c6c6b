//! The HTTP edge: routes with their OpenAPI documentation side by side, and the layers every request
//! passes (request id, tracing, metrics, timeout, body limit, API key, problem+json for every error).

pub mod alerts;
pub mod auth;
pub mod dashboard;
pub mod delivery_errors;
pub mod firehose;
pub mod health;
pub mod info;
mod links;
pub mod logs;
pub mod params;
pub mod problem;
pub mod replays;
pub mod stats;
pub mod tail;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{BoxError, Json, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::App;
use crate::metrics::{HttpLabels, Metrics, RouteLabels};
use crate::read::service::QueryService;
use problem::{ApiError, PROBLEM_JSON, problem_for_status, problem_response};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl FromRef<App> for Arc<QueryService> {
    fn from_ref(app: &App) -> Self {
        app.query.clone()
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "firesight",
        description = "Query web access logs delivered by Amazon Kinesis Data Firehose, follow Firehose \
delivery errors, and get alerted when the pipeline breaks.\n\nEvery `/v1` route needs an API key sent as \
`Authorization: Bearer <key>` (except `/v1/firehose`, which checks Firehose's `X-Amz-Firehose-Access-Key`). \
Errors are `application/problem+json` documents with a stable `code`."
    ),
    modifiers(&SecurityAddon, &WebhooksAddon),
    components(schemas(problem::Problem, crate::alerts::model::AlertEvent)),
    tags(
        (name = "health", description = "Liveness, readiness and metrics; no API key needed"),
        (name = "service", description = "About this service"),
        (name = "ingest", description = "Receive access logs from Amazon Kinesis Data Firehose"),
        (name = "logs", description = "Search and export access-log documents"),
        (name = "stats", description = "Aggregates over access logs: top-N, timelines, summaries, visit times, geography. \
Answers are cached briefly (`ETag`, `Cache-Control`; `If-None-Match` gets 304)."),
        (name = "delivery-errors", description = "Firehose delivery errors polled from CloudWatch Logs, correlated with \
ingest volume and grouped into incidents; replays of the records Firehose backed up to S3 after giving up on them"),
        (name = "alerts", description = "Alert rules over delivery errors, ingest silence and 5xx rates; incidents; \
signed webhooks (Standard Webhooks) delivered through an outbox with retries. The events webhooks receive are \
described under `webhooks`."),
    )
)]
struct ApiDoc;

struct SecurityAddon;

impl Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key from `FIRESIGHT_API_KEYS`"))
                    .build(),
            ),
        );
    }
}

/// The events firesight POSTs to webhook endpoints, as OpenAPI 3.1 `webhooks`.
struct WebhooksAddon;

impl Modify for WebhooksAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder};
        use utoipa::openapi::request_body::RequestBodyBuilder;
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let signed = "Signed per the Standard Webhooks specification: headers `webhook-id` (the event id, \
the same on every retry and redelivery: deduplicate with it), `webhook-timestamp` (unix seconds) and \
`webhook-signature` (`v1,<base64 HMAC-SHA256 of \"{webhook-id}.{webhook-timestamp}.{body}\">`, keyed with the \
base64-decoded part of the hook's `whsec_` secret). Answer 2xx within the timeout; anything else is retried.";
        let mut paths = PathsBuilder::new();
        for (name, summary) in [
            ("alert.firing", "A rule's condition holds: an incident opened"),
            ("alert.resolved", "A rule's condition cleared: its incident resolved"),
            ("alert.test", "Sent by POST /v1/alerts/webhooks/{id}/test"),
            (
                "alert.endpoint_disabled",
                "Another webhook failed every attempt for FIRESIGHT_ALERTS__DISABLE_AFTER_SECS and was disabled",
            ),
            (
                "replay.completed",
                "A replay of the records Firehose backed up to S3 finished, with its counts per error code",
            ),
        ] {
            let body = RequestBodyBuilder::new()
                .description(Some(
                    "`json` hooks receive this document; `slack` hooks receive `{\"text\": \"...\"}` (Slack mrkdwn), \
signed the same way.",
                ))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("AlertEvent"))).build(),
                )
                .required(Some(utoipa::openapi::Required::True))
                .build();
            let operation = OperationBuilder::new()
                .summary(Some(summary))
                .description(Some(signed))
                .tag("alerts")
                .request_body(Some(body))
                .response("200", ResponseBuilder::new().description("Any 2xx: delivered").build())
                .build();
            paths = paths.path(name, PathItem::new(HttpMethod::Post, operation));
        }
        openapi.webhooks = Some(paths.build());
    }
}

/// Public routes: liveness, readiness and metrics, for probes and scrapers without a key.
fn public_routes() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::metrics))
}

/// The REST API under `/v1`: JSON in, JSON or problem+json out, behind an API key.
fn v1_routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(info::info))
        .routes(routes!(logs::search))
        .routes(routes!(logs::export))
        .routes(routes!(tail::tail))
        .routes(routes!(stats::top))
        .routes(routes!(stats::timeline))
        .routes(routes!(stats::summary))
        .routes(routes!(stats::visit_times))
        .routes(routes!(stats::geo))
        .routes(routes!(delivery_errors::list))
        .routes(routes!(delivery_errors::summary))
        .routes(routes!(delivery_errors::correlation))
        .routes(routes!(delivery_errors::incidents))
        .routes(routes!(replays::start, replays::list))
        .routes(routes!(replays::get))
        .routes(routes!(alerts::create_webhook, alerts::list_webhooks))
        .routes(routes!(alerts::get_webhook, alerts::update_webhook, alerts::delete_webhook))
        .routes(routes!(alerts::test_webhook))
        .routes(routes!(alerts::list_attempts))
        .routes(routes!(alerts::create_rule, alerts::list_rules))
        .routes(routes!(alerts::get_rule, alerts::update_rule, alerts::delete_rule))
        .routes(routes!(alerts::list_incidents))
        .routes(routes!(alerts::get_incident))
        .routes(routes!(alerts::get_event))
        .routes(routes!(alerts::redeliver))
}

/// Every documented route. The spec and the router come from these definitions.
fn api_routes() -> OpenApiRouter<App> {
    public_routes().merge(v1_routes()).merge(firehose::routes())
}

/// The OpenAPI document the service serves at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut openapi = api_routes().into_openapi();
    document_uri_limit(&mut openapi);
    links::add(&mut openapi);
    openapi
}

/// Every operation with query parameters can meet the HTTP server's limit on the request target.
fn document_uri_limit(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::ResponseBuilder;
    use utoipa::openapi::path::ParameterIn;
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for operation in operations.into_iter().flatten() {
            let has_query = operation
                .parameters
                .iter()
                .flatten()
                .any(|p| matches!(p, utoipa::openapi::RefOr::T(p) if p.parameter_in == ParameterIn::Query));
            if has_query {
                operation.responses.responses.insert(
                    "414".to_owned(),
                    ResponseBuilder::new()
                        .description("The request target (path and query) is longer than 65,534 bytes")
                        .build()
                        .into(),
                );
            }
        }
    }
}

/// The spec as committed under `openapi/openapi.json`: pretty JSON with a trailing newline.
pub fn openapi_json() -> String {
    let mut json = serde_json::to_string_pretty(&openapi()).expect("the OpenAPI document serialises");
    json.push('\n');
    json
}

/// The complete application router with every layer.
pub fn router(app: App) -> Router {
    let spec = openapi();
    let limits = &app.config.http;
    let (public, _) = public_routes().split_for_parts();
    let (v1, _) = v1_routes().split_for_parts();
    // Every path under `/v1` but the Firehose endpoint belongs to the REST API, unknown ones included:
    // they are refused without a key before they reveal whether they exist.
    let v1 = v1
        .route("/v1", any(unknown_route))
        .route("/v1/{*rest}", any(unknown_route))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(app.api_keys.clone(), auth::require_api_key));
    // The REST limits. They do not fit Firehose: its bodies reach 64 MiB and its deadline is its own;
    // the receiver bounds both itself and answers in Firehose's format.
    let rest = public
        .method_not_allowed_fallback(method_not_allowed)
        .merge(v1)
        .layer(
            ServiceBuilder::new()
                .layer(axum::error_handling::HandleErrorLayer::new(handle_timeout))
                .timeout(limits.request_timeout()),
        )
        .layer(middleware::from_fn_with_state(limits.body_limit_bytes, limit_bodies));
    let (firehose, _) = firehose::routes().split_for_parts();

    rest.merge(firehose)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .merge(dashboard::routes())
        // A route layer sees the matched route template, which keeps the metric labels bounded.
        .route_layer(middleware::from_fn_with_state(app.metrics.clone(), record_metrics))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                    HeaderName::from_static("x-amz-firehose-access-key"),
                ]))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let request_id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(problem_for_bare_errors))
                .layer(CatchPanicLayer::custom(|_| {
                    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
                })),
        )
        .with_state(app)
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The REST body limit: refused up front by `Content-Length`, and enforced while streaming for chunked
/// bodies.
async fn limit_bodies(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return ApiError::PayloadTooLarge { limit }.into_response();
    }
    next.run(request.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)))).await
}

async fn handle_timeout(err: BoxError) -> Response {
    if err.is::<tower::timeout::error::Elapsed>() {
        ApiError::Timeout.into_response()
    } else {
        ApiError::Internal(anyhow::anyhow!(err)).into_response()
    }
}

/// Errors produced below the handlers (body limit, axum's own rejections) arrive as plain text; give
/// them the same problem+json shape as every other error, and put the request id into every problem.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if content_type.starts_with("application/json") {
        return response; // endpoints with their own error format (Firehose)
    }
    let request_id = request_id.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned);
    if content_type.starts_with(PROBLEM_JSON) {
        if request_id.is_none() {
            return response;
        }
        return with_request_id(response, request_id).await;
    }
    let mut problem = problem_for_status(status);
    problem.request_id = request_id;
    let mut rewritten = problem_response(status, problem);
    for name in [header::WWW_AUTHENTICATE, header::RETRY_AFTER, header::ALLOW] {
        if let Some(v) = response.headers().get(&name) {
            rewritten.headers_mut().insert(name, v.clone());
        }
    }
    rewritten
}

/// Adds `request_id` to a problem document built by a handler.
async fn with_request_id(response: Response, request_id: Option<String>) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (parts.status, "").into_response();
    };
    let Ok(mut problem) = serde_json::from_slice::<problem::Problem>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    problem.request_id = request_id;
    parts.headers.remove(header::CONTENT_LENGTH);
    let mut response = Response::from_parts(parts, Json(problem).into_response().into_body());
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// Takes only the metrics as its state: a middleware's state is cloned for every request, and the
/// whole `App` is not cheap to clone.
async fn record_metrics(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let elapsed: Duration = started.elapsed();
    let status = response.status();
    // Swagger UI assets are many paths under one prefix; keep the label set bounded.
    let route = if route.starts_with("/docs") { "/docs".to_owned() } else { route };
    metrics
        .http_requests
        .get_or_create(&HttpLabels { method: method.clone(), route: route.clone(), status: status.as_u16() })
        .inc();
    metrics.http_request_duration.get_or_create(&RouteLabels { method, route }).observe(elapsed.as_secs_f64());
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::debug!("answered 500");
    }
    response
}

/// Compares a committed spec with the generated one; `Some(explanation)` when they differ.
pub fn openapi_drift(committed: &str) -> Option<String> {
    let generated = openapi_json();
    if committed == generated {
        return None;
    }
    let first_diff = committed
        .lines()
        .zip(generated.lines())
        .enumerate()
        .find(|(_, (c, g))| c != g)
        .map(|(i, (c, g))| format!("first difference at line {}:\n  committed: {c}\n  generated: {g}", i + 1))
        .unwrap_or_else(|| "the files differ in length".to_owned());
    Some(format!(
        "openapi/openapi.json is out of date with the code; regenerate it with \
`cargo run -- openapi --output openapi/openapi.json` and commit it.\n{first_diff}"
    ))
}
