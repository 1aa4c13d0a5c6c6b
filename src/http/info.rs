//! `GET /v1/info`: what this service is and which backends it runs on. The smallest authenticated route,
//! so clients can check a key.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::app::App;

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    /// Always `firesight`.
    #[schema(example = "firesight")]
    pub name: &'static str,
    /// Release version.
    #[schema(example = "0.1.0")]
    pub version: &'static str,
    /// Id of the answering process (one per replica and start).
    pub instance_id: String,
    /// Log store backend: `opensearch` or `embedded`.
    #[schema(example = "opensearch")]
    pub store: &'static str,
    /// State database backend: `sqlite` or `postgres`.
    #[schema(example = "sqlite")]
    pub state_db: &'static str,
    /// Whether the CloudWatch Logs delivery-error poller is enabled.
    pub cloudwatch_enabled: bool,
}

/// Describe this service.
#[utoipa::path(get, path = "/v1/info", tag = "service",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Service description", body = ServiceInfo),
        crate::http::problem::UnauthorizedResponse))]
pub async fn info(State(app): State<App>) -> Json<ServiceInfo> {
    Json(ServiceInfo {
        name: "firesight",
        version: env!("CARGO_PKG_VERSION"),
        instance_id: app.instance.id.clone(),
        store: app.store.kind(),
        state_db: app.db.backend().as_str(),
        cloudwatch_enabled: app.cloudwatch.is_some(),
    })
}
