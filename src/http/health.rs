//! `/healthz` and `/readyz`: the HTTP face of the probes.
//!
//! The decisions live in `crate::health` (bus heartbeats, the readiness
//! grace); this module only turns them into status codes and a small JSON
//! body. Liveness and readiness answer different questions, so a device being
//! down fails neither: restarting the gateway would not bring it back.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::tags::TagStore;

/// Devices that answered their last cycle, and the total.
pub fn devices_up(store: &TagStore) -> (usize, usize) {
    let total = store.devices().count();
    let up = store
        .devices()
        .filter(|&d| store.device_status(d).is_some_and(|s| s.connected))
        .count();
    (up, total)
}

/// Liveness: 200 while every bus task makes progress, 503 when one is wedged.
/// A device being down is not a liveness failure: restarting would not fix it.
/// A broker that is away fails neither probe either: the edge node
/// reconnects by itself; `mqtt` says where it stands.
pub(super) async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let (up, total) = devices_up(&s.store);
    let (code, mut body) = match s.health.liveness() {
        Ok(()) => (
            StatusCode::OK,
            json!({ "status": "ok", "devices": total, "devices_up": up }),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "status": "unhealthy", "error": e, "devices": total, "devices_up": up }),
        ),
    };
    let m = &s.health.mqtt;
    if m.enabled()
        && let Some(o) = body.as_object_mut()
    {
        o.insert(
            "mqtt".into(),
            json!({ "state": m.state().as_str(), "last_error": m.last_error() }),
        );
    }
    (code, Json(body))
}

/// Readiness: 200 once every device was polled once (or after `ready_grace`).
pub(super) async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.readiness(&s.store) {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "error": e })),
        ),
    }
}
