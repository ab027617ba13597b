//! HTTP: `/metrics`, `/healthz`, `/readyz`, `/api/tags` and `/api/devices`.
//!
//! Nothing here is on the poll path: every response is built from the store,
//! the counters and the health state at request time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value as Json_, json};
use tokio::net::TcpListener;

use crate::config::format_duration;
use crate::health::Health;
use crate::metrics::MetricsOptions;
use crate::tags::{BadCause, Quality, TagStore};
use crate::telemetry::Outcome;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<TagStore>,
    pub health: Arc<Health>,
    pub metrics: MetricsOptions,
}

/// Build the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/api/tags", get(tags))
        .route("/api/devices", get(devices))
        .with_state(state)
}

/// Bind and serve until the task is dropped; returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok((bound, task))
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    let body = crate::metrics::render(&s.store, &s.health, &s.metrics);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            crate::metrics::CONTENT_TYPE,
        )],
        body,
    )
}

/// Devices that answered their last cycle, and the total.
pub fn devices_up(store: &TagStore) -> (usize, usize) {
    let total = store.device_count();
    let up = (0..total)
        .filter(|&d| store.device_status(d).is_some_and(|s| s.connected))
        .count();
    (up, total)
}

/// Liveness: 200 while every bus task makes progress, 503 when one is wedged.
/// A device being down is not a liveness failure: restarting would not fix it.
async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let (up, total) = devices_up(&s.store);
    match s.health.liveness() {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "devices": total, "devices_up": up })),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "unhealthy", "error": e, "devices": total, "devices_up": up })),
        ),
    }
}

/// Readiness: 200 once every device was polled once (or after `ready_grace`).
async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    match s.health.readiness(&s.store) {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "error": e })),
        ),
    }
}

/// Optional filter for `/api/tags`.
#[derive(Debug, Deserialize)]
struct TagFilter {
    device: Option<String>,
}

fn quality_json(q: Quality) -> (Json_, Json_, Json_) {
    let cause = q.cause().map_or(Json_::Null, |c| Json_::from(c.as_str()));
    let code = match q.cause() {
        Some(BadCause::Exception(code)) => {
            Json_::from(crate::modbus::protocol::exception_number(code))
        }
        _ => Json_::Null,
    };
    (Json_::from(q.level()), cause, code)
}

async fn tags(State(s): State<AppState>, Query(filter): Query<TagFilter>) -> impl IntoResponse {
    let store = &s.store;
    let list: Vec<Json_> = store
        .metas()
        .iter()
        .enumerate()
        .filter(|(_, m)| filter.device.as_ref().is_none_or(|d| *d == m.device_name))
        .filter_map(|(id, m)| {
            let snap = store.snapshot(id)?;
            let (quality, cause, code) = quality_json(snap.quality);
            Some(json!({
                "device": m.device_name,
                "tag": m.name,
                "type": m.data_type,
                "value": snap.usable_value().map_or(Json_::Null, |v| v.to_json()),
                "unit": m.unit,
                "description": m.description,
                "quality": quality,
                "cause": cause,
                "exception_code": code,
                "source_timestamp": snap.source_time.map(rfc3339),
                "writable": m.writable,
            }))
        })
        .collect();
    Json(list)
}

async fn devices(State(s): State<AppState>) -> impl IntoResponse {
    let store = &s.store;
    let list: Vec<Json_> = (0..store.device_count())
        .filter_map(|d| {
            let meta = store.device_meta(d)?;
            let status = store.device_status(d)?;
            let c = store.counters(d)?;
            let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
            Some(json!({
                "device": meta.name,
                "poll": format_duration(meta.poll),
                "connected": status.connected,
                "demoted": status.demoted,
                "last_error": status.last_error,
                "poll_duration_ms": status.last_poll_duration.as_secs_f64() * 1000.0,
                "requests_per_cycle": status.requests_per_cycle,
                "last_cycle": status.last_cycle_at.map(rfc3339),
                "requests": {
                    "ok": c.outcome_total(Outcome::Ok),
                    "exception": c.outcome_total(Outcome::Exception),
                    "timeout": c.outcome_total(Outcome::Timeout),
                    "error": c.outcome_total(Outcome::Error),
                },
                "cycles": n(&c.cycles),
                "overruns": n(&c.overruns),
                "writes": n(&c.writes),
            }))
        })
        .collect();
    Json(list)
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-22T01:02:03.456Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day); Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_309_323_456);
        assert_eq!(rfc3339(t), "2026-11-22T01:02:03.456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }
}
