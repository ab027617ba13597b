//! `/api/tags` and `/api/devices`: the store and the device counters as JSON.
//!
//! Field names are part of the public contract (DESIGN.md): add fields
//! freely, rename none. A tag's `value` is `null` whenever
//! its quality makes the last value unusable, so a client cannot mistake a
//! stale number for a live one; `cause` and `exception_code` say why.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::AppState;
use super::time::rfc3339;
use crate::config::format_duration;
use crate::modbus::bus::Outcome;
use crate::tags::{BadCause, Quality};

/// Optional filter for `/api/tags`.
#[derive(Debug, Deserialize)]
pub(super) struct TagFilter {
    /// Only this device's tags.
    device: Option<String>,
}

/// A quality as `(quality, cause, exception_code)` fields.
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

/// `/api/tags[?device=NAME]`: every tag with its value, quality and timestamp.
pub(super) async fn tags(
    State(s): State<AppState>,
    Query(filter): Query<TagFilter>,
) -> impl IntoResponse {
    let store = &s.store;
    let list: Vec<Json_> = store
        .tags()
        .filter(|(_, m)| {
            filter
                .device
                .as_ref()
                .is_none_or(|d| d == store.device_name(m.device))
        })
        .filter_map(|(id, m)| {
            let snap = store.snapshot(id)?;
            let (quality, cause, code) = quality_json(snap.quality);
            Some(json!({
                "device": store.device_name(m.device),
                "tag": &*m.name,
                "type": m.data_type,
                "value": snap.usable_value().map_or(Json_::Null, crate::tags::Value::to_json),
                "unit": m.unit.as_deref(),
                "description": m.description.as_deref(),
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

/// `/api/devices`: every device's link state, last cycle and counters.
pub(super) async fn devices(State(s): State<AppState>) -> impl IntoResponse {
    let store = &s.store;
    let list: Vec<Json_> = store
        .devices()
        .filter_map(|d| {
            let meta = store.device_meta(d)?;
            let status = store.device_status(d)?;
            let c = s.counters.device(d)?;
            let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
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
