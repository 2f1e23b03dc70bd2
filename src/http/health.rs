//! Operations: `/healthz` (the process answers), `/readyz` (it can reach its database)
//! and the OpenAPI document itself.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, response::IntoResponse};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use salon_protocol::rest::{Health, Readiness};

use super::AppState;
use crate::bus::BusState;
use crate::metrics::Exposition;

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

/// The node can serve: its database answers and, in cluster mode, it has reached Redis.
/// A node that lost Redis or a peer keeps serving, correctly but checking the database on
/// every delivery: 200 with `status: "degraded"`, so a load balancer keeps it.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness))
)]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = match state.services.store.ping().await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "readiness check: database unreachable");
            false
        }
    };
    let bus = state.services.bus.state();
    let (code, status) = match (database, bus) {
        (false, _) | (_, BusState::Starting) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, BusState::Degraded) => (StatusCode::OK, "degraded"),
        (true, _) => (StatusCode::OK, "ok"),
    };
    let body = Readiness {
        status: status.into(),
        database: if database { "ok" } else { "unreachable" }.into(),
        bus: bus.as_str().into(),
    };
    (code, Json(body))
}

/// Counters, gauges and histograms of this node, in the Prometheus text format (0.0.4).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"))
)]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let hub = &state.services.hub;
    let mut out = Exposition::default();
    out.gauge("salon_gateway_sockets", "Open gateway sockets on this node.", hub.sockets() as f64);
    out.gauge(
        "salon_gateway_active_conversations",
        "Conversations with at least one subscribed socket on this node.",
        hub.active_conversations() as f64,
    );
    out.counter(
        "salon_events_published_total",
        "Conversation events applied to this node's hub (its own and other nodes').",
        hub.stats.events_published.load(Relaxed),
    );
    out.counter(
        "salon_frames_queued_total",
        "Frames queued for sockets (one event fans out to many).",
        hub.stats.frames_queued.load(Relaxed),
    );
    out.counter(
        "salon_events_delivered_total",
        "Published events written to sockets.",
        hub.stats.frames_written.load(Relaxed),
    );
    out.histogram(
        "salon_fanout_latency_seconds",
        "From an event's publication (on any node) to its write to a socket on this node.",
        &hub.stats.fanout_latency,
    );
    out.histogram(
        "salon_post_commit_seconds",
        "Each stored post's time in the store: from handing it over to having the commit's answer (and being resumed).",
        &state.services.messages.commit_latency,
    );
    out.counter(
        "salon_slow_consumer_closes_total",
        "Sockets closed because their queue overflowed (close code 4009).",
        hub.stats.slow_consumers.load(Relaxed),
    );
    let state_now = state.services.bus.state();
    let states = [BusState::Embedded, BusState::Starting, BusState::Healthy, BusState::Degraded];
    let values: Vec<(&str, f64)> = states.iter().map(|s| (s.as_str(), f64::from(u8::from(*s == state_now)))).collect();
    out.labelled_gauge(
        "salon_bus_state",
        "The node's link to the cluster (1 for the current state).",
        "state",
        &values,
    );
    if let Some(bus) = state.services.bus.stats() {
        out.counter("salon_bus_published_total", "Messages published to Redis.", bus.published.load(Relaxed));
        out.counter(
            "salon_bus_publish_errors_total",
            "Failed Redis publications (each followed by a reconnection).",
            bus.publish_errors.load(Relaxed),
        );
        out.counter("salon_bus_received_total", "Messages received from Redis.", bus.received.load(Relaxed));
        out.counter(
            "salon_bus_reconnects_total",
            "Times the Redis subscription was re-established after a loss.",
            bus.reconnects.load(Relaxed),
        );
        out.counter(
            "salon_bus_dropped_total",
            "Events dropped while Redis was unreachable (recovered from the database).",
            bus.dropped.load(Relaxed),
        );
        out.counter(
            "salon_bus_removal_ack_timeouts_total",
            "Removals that returned before every node confirmed them.",
            bus.ack_timeouts.load(Relaxed),
        );
        out.gauge(
            "salon_bus_subscribed_channels",
            "Redis channels this node is subscribed to.",
            bus.subscribed_channels.load(Relaxed) as f64,
        );
        out.gauge("salon_bus_peers", "Other nodes heard from recently.", bus.peers.load(Relaxed) as f64);
        out.histogram(
            "salon_bus_receive_lag_seconds",
            "From publication on another node to reception here through Redis.",
            &bus.receive_lag,
        );
        out.histogram(
            "salon_bus_removal_wait_seconds",
            "How long removals waited for every node's confirmation.",
            &bus.removal_wait,
        );
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], out.text)
}
