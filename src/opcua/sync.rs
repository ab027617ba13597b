//! Value sync: the tag store's change feed pushed into the address space,
//! and the `_Status` variables and session gauge refreshed once a second.
//!
//! Values are pushed, never polled: a client's subscription sees a change as
//! soon as the feed carries it. After the feed lagged, every tag is synced
//! again from the store (its latest state), never replayed from old changes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use opcua::server::node_manager::memory::InMemoryNodeManager;
use opcua::server::{ServerHandle, SubscriptionCache};
use opcua::types::{DateTime, NodeId, VariableId, Variant};
use tokio::sync::broadcast::error::RecvError;

use super::nodes::{GatewayNodes, NodeMap};
use super::pki;
use super::values;
use crate::health::Health;
use crate::tags::{TagChange, TagId, TagStore};

/// Changes pushed to the address space in one call, at most.
const PUSH_BATCH: usize = 4096;
/// How often `_Status` variables and the session gauge are refreshed.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Every tag's current state, for the first push and after the feed lagged.
fn full_sync(
    store: &TagStore,
    nm: &InMemoryNodeManager<GatewayNodes>,
    subs: &SubscriptionCache,
    map: &NodeMap,
) {
    let now = DateTime::now();
    let values: Vec<_> = map
        .tags
        .iter()
        .enumerate()
        .filter_map(|(id, node)| {
            let s = store.snapshot(TagId::new(id))?;
            Some((
                node,
                None,
                values::data_value(s.value.as_ref(), s.quality, s.source_time, now),
            ))
        })
        .collect();
    for chunk in values.chunks(PUSH_BATCH) {
        if let Err(e) = nm.set_values(subs, chunk.iter().map(|(n, r, d)| (*n, *r, d.clone()))) {
            tracing::warn!(error = %e, "OPC UA full sync failed");
        }
    }
}

/// Push every change from the tag store's feed into the address space, in batches.
///
/// A batch never holds two changes of one tag: the stack stores each value in
/// its node and notifies from the node, so the first of two changes in one
/// call would be lost (a true→false pulse would vanish).
pub(super) async fn push_values(
    store: Arc<TagStore>,
    nm: Arc<InMemoryNodeManager<GatewayNodes>>,
    subs: Arc<SubscriptionCache>,
    map: Arc<NodeMap>,
) {
    let mut feed = store.subscribe();
    full_sync(&store, &nm, &subs, &map);
    let mut batch: Vec<TagChange> = Vec::with_capacity(PUSH_BATCH);
    let mut in_batch: HashSet<TagId> = HashSet::with_capacity(PUSH_BATCH);
    let mut carry: Option<TagChange> = None;
    loop {
        let first = match carry.take() {
            Some(c) => c,
            None => match feed.recv().await {
                Ok(c) => c,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!(
                        missed = n,
                        "OPC UA fell behind the change feed; resynchronising every tag"
                    );
                    // Start from now: replaying the buffered backlog after the
                    // full sync would move values and timestamps backwards.
                    feed = feed.resubscribe();
                    full_sync(&store, &nm, &subs, &map);
                    continue;
                }
                Err(RecvError::Closed) => return,
            },
        };
        let now = DateTime::now();
        batch.clear();
        in_batch.clear();
        in_batch.insert(first.id);
        batch.push(first);
        while batch.len() < PUSH_BATCH {
            match feed.try_recv() {
                Ok(c) if in_batch.contains(&c.id) => {
                    carry = Some(c);
                    break;
                }
                Ok(c) => {
                    in_batch.insert(c.id);
                    batch.push(c);
                }
                Err(_) => break,
            }
        }
        let values = batch.iter().filter_map(|c| {
            let node = map.node(c.id)?;
            Some((
                node,
                None,
                values::data_value(c.value.as_ref(), c.quality, Some(c.source_time), now),
            ))
        });
        if let Err(e) = nm.set_values(&subs, values) {
            tracing::warn!(error = %e, "OPC UA value push failed");
        }
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
