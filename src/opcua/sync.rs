//! Value sync: changed tags pushed into the address space, and the `_Status`
//! variables and session gauge refreshed once a second.
//!
//! The server samples the tag store: once per `min_sampling_interval` at
//! most, it drains the tags that changed since the last push (the store's
//! change tracking) and pushes their latest state. However many changes
//! arrive, a push costs one store read per changed tag, and a burst never
//! makes the server fall behind: an unchanged tag costs nothing.

use std::sync::Arc;
use std::time::Duration;

use opcua::server::node_manager::memory::InMemoryNodeManager;
use opcua::server::{ServerHandle, SubscriptionCache};
use opcua::types::{DateTime, NodeId, VariableId, Variant};
use tokio::time::MissedTickBehavior;

use super::nodes::{GatewayNodes, NodeMap};
use super::pki;
use super::values;
use crate::health::Health;
use crate::tags::{ChangeCursor, TagId, TagStore};

/// Changes pushed to the address space in one call, at most, so that one
/// call does not hold the address space's lock for long.
const PUSH_BATCH: usize = 4096;
/// How often `_Status` variables and the session gauge are refreshed.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Push the latest state of these tags into the address space.
fn push(
    ids: &[TagId],
    store: &TagStore,
    nm: &InMemoryNodeManager<GatewayNodes>,
    subs: &SubscriptionCache,
    map: &NodeMap,
) {
    let now = DateTime::now();
    for chunk in ids.chunks(PUSH_BATCH) {
        let values = chunk.iter().filter_map(|&id| {
            let node = map.node(id)?;
            let s = store.snapshot(id)?;
            Some((
                node,
                None,
                values::data_value(s.value.as_ref(), s.quality, s.source_time, now),
            ))
        });
        if let Err(e) = nm.set_values(subs, values) {
            tracing::warn!(error = %e, "OPC UA value push failed");
        }
    }
}

/// Push changed tags into the address space, at most once per `period`; the
/// first push carries every tag.
pub(super) async fn push_values(
    store: Arc<TagStore>,
    changes: ChangeCursor,
    nm: Arc<InMemoryNodeManager<GatewayNodes>>,
    subs: Arc<SubscriptionCache>,
    map: Arc<NodeMap>,
    period: Duration,
) {
    let mut ids = Vec::with_capacity(store.len());
    let mut pace = tokio::time::interval(period.max(Duration::from_millis(1)));
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        changes.changed().await;
        ids.clear();
        changes.drain(&mut ids);
        push(&ids, &store, &nm, &subs, &map);
        // Changes that arrive until the next tick are pushed together.
        pace.tick().await;
    }
}

/// `_Status` variables and the open-session gauge, once a second; the
/// rejected-certificates folder pruned once a minute.
pub(super) async fn refresh_status(
    store: Arc<TagStore>,
    nm: Arc<InMemoryNodeManager<GatewayNodes>>,
    subs: Arc<SubscriptionCache>,
    map: Arc<NodeMap>,
    handle: ServerHandle,
    health: Arc<Health>,
    pki_dir: std::path::PathBuf,
) {
    let mut tick = tokio::time::interval(STATUS_PERIOD);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks = ticks.wrapping_add(1);
        if ticks % 60 == 1 {
            match pki::prune_rejected(&pki_dir, pki::MAX_REJECTED) {
                Ok(0) => {}
                Ok(n) => tracing::warn!(removed = n, "pruned old rejected client certificates"),
                Err(e) => tracing::warn!(error = %e, "cannot prune rejected client certificates"),
            }
        }
        let now = DateTime::now();
        let mut values: Vec<(NodeId, Variant, DateTime)> = Vec::new();
        for (d, nodes) in store.devices().zip(map.status.iter()) {
            let Some(s) = store.device_status(d) else {
                continue;
            };
            // The time the status describes: the device's last cycle.
            let at = s.last_cycle_at.map_or(now, values::datetime);
            values.push((nodes.connected.clone(), Variant::Boolean(s.connected), at));
            values.push((
                nodes.last_error.clone(),
                Variant::String(s.last_error.unwrap_or_default().as_str().into()),
                at,
            ));
            values.push((
                nodes.poll_duration.clone(),
                Variant::Double(s.last_poll_duration.as_secs_f64() * 1000.0),
                at,
            ));
            values.push((
                nodes.requests_per_cycle.clone(),
                Variant::UInt32(s.requests_per_cycle),
                at,
            ));
        }
        let dvs = values.iter().map(|(id, v, at)| {
            let dv = opcua::types::DataValue {
                value: Some(v.clone()),
                status: Some(opcua::types::StatusCode::Good),
                source_timestamp: Some(*at),
                server_timestamp: Some(now),
                ..Default::default()
            };
            (id, None, dv)
        });
        if let Err(e) = nm.set_values(&subs, dvs) {
            tracing::warn!(error = %e, "OPC UA status push failed");
        }
        let sessions = match handle
            .info()
            .summary()
            .get(VariableId::Server_ServerDiagnostics_ServerDiagnosticsSummary_CurrentSessionCount)
            .and_then(|dv| dv.value)
        {
            Some(Variant::UInt32(n)) => u64::from(n),
            _ => 0,
        };
        health
            .opcua_sessions
            .store(sessions, std::sync::atomic::Ordering::Relaxed);
    }
}
