//! Operations: `/healthz` (the process answers), `/readyz` (it can reach its database)
//! and the OpenAPI document itself.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::rest::Health;

use super::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(metrics))
}

/// This API's OpenAPI 3.1 document (also committed as `protocol/openapi.json`).
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
async fn openapi_json() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| super::openapi().to_pretty_json().expect("the OpenAPI document serializes"));
    ([(axum::http::header::CONTENT_TYPE, "application/json")], doc.as_str())
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".into() })
}

/// The node can serve: its database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health))
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.services.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(Health { status: "ok".into() })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable".into() }))
        }
    }
}

/// Counters and gauges of this node, in the Prometheus text format (0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::fmt::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let hub = &state.services.hub;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("salon_gateway_sockets", "gauge", "Open gateway sockets on this node.", hub.sockets() as u64);
    metric(
        "salon_gateway_active_conversations",
        "gauge",
        "Conversations with at least one subscribed socket on this node.",
        hub.active_conversations() as u64,
    );
    metric(
        "salon_events_published_total",
        "counter",
        "Conversation events published to this node's hub.",
        hub.stats.events_published.load(Relaxed),
    );
    metric(
        "salon_frames_queued_total",
        "counter",
        "Frames queued for sockets (one event fans out to many).",
        hub.stats.frames_queued.load(Relaxed),
    );
    metric(
        "salon_slow_consumer_closes_total",
        "counter",
        "Sockets closed because their queue overflowed (close code 4009).",
        hub.stats.slow_consumers.load(Relaxed),
    );
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
