//! Value sync: changed tags handed to the subscriptions, and the `_Status`
//! variables and session gauge refreshed once a second.
//!
//! The server samples the tag store: once per `min_sampling_interval` at
//! most, it drains the tags that changed since the last look (the store's
//! change tracking) and hands the latest state of the monitored ones to the
//! subscriptions. However many changes arrive, a round costs one store read
//! per changed, monitored tag, and a burst never
//! makes the server fall behind: an unchanged tag costs nothing.

use std::sync::Arc;
use std::time::Duration;

use opcua::server::ServerHandle;
use opcua::types::{VariableId, Variant};
use tokio::time::MissedTickBehavior;

use super::manager::GatewayNodes;
use super::pki;
use crate::health::Health;
use crate::tags::ChangeCursor;

/// How often `_Status` variables and the session gauge are refreshed.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// Hand changed tags to the subscriptions, at most once per `period`; the
/// first round carries every tag.
pub(super) async fn push_values(nm: Arc<GatewayNodes>, changes: ChangeCursor, period: Duration) {
    let mut ids = Vec::with_capacity(nm.engine.store().len());
    let mut pace = tokio::time::interval(period.max(Duration::from_millis(1)));
    pace.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        changes.changed().await;
        ids.clear();
        changes.drain(&mut ids);
        nm.notify_changed(&ids);
        // Changes that arrive until the next tick are handed over together.
        pace.tick().await;
    }
}

/// `_Status` variables and the open-session gauge, once a second; the
/// rejected-certificates folder pruned once a minute.
pub(super) async fn refresh_status(
    nm: Arc<GatewayNodes>,
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
        nm.notify_status();
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
