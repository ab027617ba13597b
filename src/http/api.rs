//! `/api/tags`, `/api/devices`, `/api/buses` and `/api/summary`: the store
//! and the device counters as JSON.
//!
//! Field names are part of the public contract (DESIGN.md): add fields
//! freely, rename none. A tag's `value` is `null` whenever
//! its quality makes the last value unusable, so a client cannot mistake a
//! stale number for a live one; `cause` and `exception_code` say why.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::AppState;
use super::time::rfc3339;
use crate::config::format_duration;
use crate::modbus::bus::Outcome;
use crate::tags::{BadCause, Quality, TagMeta, TagSnapshot, TagStore};

/// The header that carries how many tags matched before `offset` and `limit`.
pub const TOTAL_COUNT_HEADER: &str = "x-total-count";

/// Optional filters and paging for `/api/tags`.
#[derive(Debug, Deserialize)]
pub(super) struct TagFilter {
    /// Only this device's tags.
    device: Option<String>,
    /// Only tags of this quality.
    quality: Option<QualityLevel>,
    /// Only tags whose name contains this text, ignoring case.
    search: Option<String>,
    /// Skip this many matching tags.
    offset: Option<usize>,
    /// Return at most this many.
    limit: Option<usize>,
}

/// A quality without its cause, as a filter.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum QualityLevel {
    Good,
    Uncertain,
    Bad,
}

impl QualityLevel {
    fn matches(self, q: Quality) -> bool {
        matches!(
            (self, q),
            (QualityLevel::Good, Quality::Good)
                | (QualityLevel::Uncertain, Quality::Uncertain(_))
                | (QualityLevel::Bad, Quality::Bad(_))
        )
    }
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

/// `/api/tags[?device=&quality=&search=&offset=&limit=]`: every matching tag
/// with its value, quality, timestamp and age, in config order; the number
/// that matched before paging is in the `X-Total-Count` header.
pub(super) async fn tags(
    State(s): State<AppState>,
    Query(filter): Query<TagFilter>,
) -> impl IntoResponse {
    let store = &s.store;
    let now = SystemTime::now();
    let search = filter.search.as_deref().map(str::to_lowercase);
    let wanted = filter.offset.unwrap_or(0)
        ..filter
            .offset
            .unwrap_or(0)
            .saturating_add(filter.limit.unwrap_or(usize::MAX));
    // One instant for the whole response, as for a scrape. The value is
    // copied only for the tags on the page; the rest are only counted.
    let instant = tokio::time::Instant::now();
    let matching = store.tags().filter(|(_, m)| {
        filter
            .device
            .as_ref()
            .is_none_or(|d| d == store.device_name(m.device))
            && search
                .as_ref()
                .is_none_or(|text| m.name.to_lowercase().contains(text.as_str()))
    });
    let mut total = 0usize;
    let mut list = Vec::new();
    for (id, m) in matching {
        if let Some(wanted_quality) = filter.quality
            && !store
                .quality_at(id, instant)
                .is_some_and(|q| wanted_quality.matches(q))
        {
            continue;
        }
        if wanted.contains(&total)
            && let Some(snap) = store.snapshot_at(id, instant)
        {
            list.push(tag_json(store, m, &snap, now));
        }
        total += 1;
    }
    ([(TOTAL_COUNT_HEADER, HeaderValue::from(total))], Json(list))
}

/// One tag of `/api/tags`.
fn tag_json(store: &TagStore, m: &TagMeta, snap: &TagSnapshot, now: SystemTime) -> Json_ {
    let (quality, cause, code) = quality_json(snap.quality);
    let age = snap
        .source_time
        .map(|t| now.duration_since(t).unwrap_or_default().as_secs_f64());
    json!({
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
        "age_seconds": age,
        "writable": m.writable,
    })
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
                "bus": meta.bus,
                "polled": meta.polled,
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

/// `/api/buses`: every bus (a TCP connection or a serial line) with its
/// devices and its measured load: the share of wall time its last cycles
/// keep it busy (each polled device's last cycle time over its poll
/// interval). Above 1 the bus cannot keep its poll intervals.
pub(super) async fn buses(State(s): State<AppState>) -> impl IntoResponse {
    let store = &s.store;
    let mut buses: BTreeMap<&str, (Vec<&str>, f64)> = BTreeMap::new();
    for d in store.devices() {
        let (Some(meta), Some(status)) = (store.device_meta(d), store.device_status(d)) else {
            continue;
        };
        let bus = buses.entry(meta.bus.as_str()).or_default();
        bus.0.push(&meta.name);
        if meta.polled && !meta.poll.is_zero() {
            bus.1 += status.last_poll_duration.as_secs_f64() / meta.poll.as_secs_f64();
        }
    }
    let list: Vec<Json_> = buses
        .into_iter()
        .map(|(bus, (devices, load))| {
            json!({
                "bus": bus,
                "protocol": bus.split_once("://").map_or("", |(p, _)| p),
                "devices": devices,
                "load": load,
            })
        })
        .collect();
    Json(list)
}

/// `/api/summary`: how many devices are up and how many tags are of each
/// quality, in one walk of the store (what a dashboard tile or the status
/// page's header needs, without fetching every tag).
pub(super) async fn summary(State(s): State<AppState>) -> impl IntoResponse {
    let store = &s.store;
    let (up, devices) = super::devices_up(store);
    let (mut good, mut uncertain, mut bad) = (0usize, 0usize, 0usize);
    let now = tokio::time::Instant::now();
    for (id, _) in store.tags() {
        match store.quality_at(id, now) {
            Some(Quality::Good) => good += 1,
            Some(Quality::Uncertain(_)) => uncertain += 1,
            Some(Quality::Bad(_)) | None => bad += 1,
        }
    }
    Json(json!({
        "devices": devices,
        "devices_up": up,
        "tags": good + uncertain + bad,
        "good": good,
        "uncertain": uncertain,
        "bad": bad,
    }))
}
