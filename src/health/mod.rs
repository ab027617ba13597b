//! Liveness and readiness.
//!
//! Liveness: every bus task beats when it goes idle with no poll overdue
//! (announcing how long it will be idle: it counts as beating until then),
//! before every poll request attempt and at the end of every cycle, never
//! for a write. A bus task that stops beating for longer than its
//! limit is wedged or starved (a poll attempt takes at most a connect, a drain
//! and a timeout plus pauses, and a bounded number of writes may come first, so
//! the limit is derived from its devices' settings). A server task that ends
//! (`Health::watch`) fails liveness too. Readiness: every device has finished
//! one poll cycle, or the grace period since start-up has passed.
//!
//! `/healthz` and the systemd watchdog both ask `liveness`, so systemd restarts
//! exactly the gateway that `/healthz` calls unhealthy.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

mod mqtt;
mod reload;

pub use mqtt::{MESSAGE_TYPES, MqttState, MqttStats, WriteOutcome};
pub use reload::ReloadStats;

use crate::append::{AppendVec, Full};
use crate::config::DeviceConfig;
use crate::lock::lock;
use crate::tags::TagStore;

/// Slack on top of the longest step a bus can take between two beats.
const LIVENESS_SLACK: Duration = Duration::from_secs(10);

/// Heartbeat of one bus task.
#[derive(Debug)]
pub struct BusBeat {
    pub key: String,
    /// Milliseconds since `Health::started` until which the bus counts as
    /// beating: its last beat, or the end of the idle time it announced.
    last: AtomicU64,
    /// The liveness limit in milliseconds: a reload that changes the bus's
    /// devices changes it.
    limit_ms: AtomicU64,
    /// The bus was stopped by a reload: it no longer beats, and need not.
    retired: AtomicBool,
}

impl BusBeat {
    fn new(key: String, limit: Duration, last: u64) -> Self {
        BusBeat {
            key,
            last: AtomicU64::new(last),
            limit_ms: AtomicU64::new(millis(limit)),
            retired: AtomicBool::new(false),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Shared health state: bus heartbeats, readiness grace, northbound session count.
#[derive(Debug)]
pub struct Health {
    started: Instant,
    ready_grace: Duration,
    buses: AppendVec<BusBeat>,
    /// Server tasks that ended (`watch`): the gateway no longer serves them.
    stopped: Mutex<Vec<&'static str>>,
    /// Open OPC UA sessions; the OPC UA server updates it, `/metrics` reports it.
    pub opcua_sessions: AtomicU64,
    /// The Sparkplug edge node's state and counters; it writes them, `/metrics`
    /// and `/healthz` report them.
    pub mqtt: MqttStats,
    /// The last config read (start-up or SIGHUP); the reload check writes
    /// it, `/metrics` reports it.
    pub reload: ReloadStats,
}

/// The longest a bus may go between beats: a request attempt (a connect, a
/// drain of up to two timeouts, the timeout itself, the pauses) twice over,
/// the `writes_between_polls` writes that may go first (two requests each, for
/// a bit's read-modify-write), plus slack.
pub fn liveness_limit<'a>(
    devices: impl IntoIterator<Item = &'a DeviceConfig>,
    writes_between_polls: u32,
) -> Duration {
    let step = devices
        .into_iter()
        .map(|d| d.timeout.saturating_mul(4) + d.pause_after_connect + d.pause_between_requests)
        .max()
        .unwrap_or_default();
    step.saturating_mul(2)
        + step.saturating_mul(2).saturating_mul(writes_between_polls)
        + LIVENESS_SLACK
}

impl Health {
    /// Health for these buses (key and liveness limit each).
    pub fn new(buses: Vec<(String, Duration)>, ready_grace: Duration) -> Self {
        Health {
            started: Instant::now(),
            ready_grace,
            buses: AppendVec::new(
                buses
                    .into_iter()
                    .map(|(key, limit)| BusBeat::new(key, limit, 0))
                    .collect(),
            ),
            stopped: Mutex::new(Vec::new()),
            opcua_sessions: AtomicU64::new(0),
            mqtt: MqttStats::default(),
            reload: ReloadStats::default(),
        }
    }

    /// Watch the server task `name` ("HTTP server"): once it ends by itself
    /// (returned, failed or panicked), liveness fails naming it. Aborting it
    /// through the returned handle (a shutdown) does not count.
    pub fn watch(self: &Arc<Self>, name: &'static str, task: JoinHandle<()>) -> AbortHandle {
        let abort = task.abort_handle();
        let health = self.clone();
        tokio::spawn(async move {
            match task.await {
                Err(e) if e.is_cancelled() => {}
                _ => {
                    tracing::error!(service = name, "a server task ended; liveness fails");
                    lock(&health.stopped).push(name);
                }
            }
        });
        abort
    }

    fn now_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    /// Watch a bus a reload started; returns its slot for `beat`. It counts
    /// as having beaten now.
    pub fn add_bus(&self, key: String, limit: Duration) -> Result<usize, Full> {
        let slot = self
            .buses
            .extend([BusBeat::new(key, limit, self.now_ms())])?;
        Ok(slot.start)
    }

    /// Stop watching a bus a reload stopped.
    pub fn retire_bus(&self, bus: usize) {
        if let Some(b) = self.buses.get(bus) {
            b.retired.store(true, Ordering::Relaxed);
        }
    }

    /// A new liveness limit for a bus whose devices a reload changed.
    pub fn set_limit(&self, bus: usize, limit: Duration) {
        if let Some(b) = self.buses.get(bus) {
            b.limit_ms.store(millis(limit), Ordering::Relaxed);
        }
    }

    /// Record that bus `bus` made progress.
    pub fn beat(&self, bus: usize) {
        if let Some(b) = self.buses.get(bus) {
            b.last.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// Record that bus `bus` made progress and is idle, with nothing due,
    /// until `until`: it counts as beating until then, so a bus waiting for
    /// a long poll interval need not wake only to say it is alive.
    pub fn beat_until(&self, bus: usize, until: Instant) {
        if let Some(b) = self.buses.get(bus) {
            let ms = until.saturating_duration_since(self.started).as_millis();
            b.last
                .store(u64::try_from(ms).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
    }

    /// `Err` naming the first bus that has not beaten within its limit.
    pub fn liveness(&self) -> Result<(), String> {
        if let Some(name) = lock(&self.stopped).first() {
            return Err(format!("the {name} stopped"));
        }
        let now = self.now_ms();
        for b in self.buses.iter() {
            if b.retired.load(Ordering::Relaxed) {
                continue;
            }
            let silent = Duration::from_millis(now.saturating_sub(b.last.load(Ordering::Relaxed)));
            let limit = Duration::from_millis(b.limit_ms.load(Ordering::Relaxed));
            if silent > limit {
                return Err(format!(
                    "bus {} made no progress for {silent:?} (limit {limit:?})",
                    b.key
                ));
            }
        }
        Ok(())
    }

    /// `Err` listing devices not polled yet, until the grace period has passed.
    pub fn readiness(&self, store: &TagStore) -> Result<(), String> {
        let waiting: Vec<String> = store
            .devices()
            .filter(|&d| store.device_meta(d).is_some_and(|m| m.polled))
            .filter(|&d| {
                store
                    .device_status(d)
                    .is_some_and(|s| s.last_cycle_at.is_none())
            })
            .filter_map(|d| store.device_meta(d).map(|m| m.name.clone()))
            .collect();
        if waiting.is_empty() || self.started.elapsed() >= self.ready_grace {
            Ok(())
        } else {
            Err(format!(
                "waiting for the first poll of: {}",
                waiting.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::DeviceId;

    #[tokio::test(start_paused = true)]
    async fn a_retired_bus_need_not_beat_and_an_added_one_must() {
        let health = Health::new(
            vec![("tcp://a".into(), Duration::from_secs(12))],
            Duration::from_secs(30),
        );
        let added = health
            .add_bus("tcp://b".into(), Duration::from_secs(5))
            .unwrap();
        assert_eq!(added, 1);
        tokio::time::sleep(Duration::from_secs(4)).await;
        health.beat(0);
        assert!(
            health.liveness().is_ok(),
            "an added bus counts as beating when added"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let err = health.liveness().unwrap_err();
        assert!(err.contains("tcp://b"), "{err}");
        health.retire_bus(added);
        assert!(health.liveness().is_ok());
        health.set_limit(0, Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(health.liveness().unwrap_err().contains("tcp://a"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_bus_that_stops_beating_fails_liveness_after_its_limit() {
        let health = Health::new(
            vec![("tcp://a".into(), Duration::from_secs(12))],
            Duration::from_secs(30),
        );
        health.beat(0);
        tokio::time::sleep(Duration::from_secs(11)).await;
        assert!(health.liveness().is_ok());
        tokio::time::sleep(Duration::from_secs(2)).await;
        let err = health.liveness().unwrap_err();
        assert!(err.contains("tcp://a made no progress"), "{err}");
        health.beat(0);
        assert!(health.liveness().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bus_beats_until_the_time_it_announced() {
        let health = Health::new(
            vec![("tcp://a".into(), Duration::from_secs(12))],
            Duration::from_secs(30),
        );
        health.beat_until(0, Instant::now() + Duration::from_secs(600));
        tokio::time::sleep(Duration::from_secs(611)).await;
        assert!(
            health.liveness().is_ok(),
            "idle as announced, within the limit"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let err = health.liveness().unwrap_err();
        assert!(err.contains("tcp://a made no progress for 13s"), "{err}");
    }

    #[tokio::test]
    async fn a_server_task_that_ends_fails_liveness() {
        let health = Arc::new(Health::new(vec![], Duration::from_secs(30)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        health.watch(
            "OPC UA server",
            tokio::spawn(async move {
                let _ = stopped.await;
            }),
        );
        let aborted = health.watch("HTTP server", tokio::spawn(std::future::pending()));
        aborted.abort();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(health.liveness().is_ok(), "an aborted task is a shutdown");
        let _ = stop.send(());
        for _ in 0..100 {
            if health.liveness().is_err() {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(health.liveness().unwrap_err(), "the OPC UA server stopped");
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_waits_for_first_polls_until_the_grace_period() {
        let store = TagStore::new(
            vec![crate::tags::DeviceMeta {
                polled: true,
                name: "m".into(),
                poll: Duration::from_secs(1),
                stale_after: Duration::from_secs(3),
                bus: "tcp://127.0.0.1:502".into(),
            }],
            vec![],
        );
        let health = Health::new(vec![], Duration::from_secs(30));
        assert!(health.readiness(&store).unwrap_err().contains('m'));
        store.update_device(DeviceId::new(0), |s| {
            s.last_cycle_at = Some(std::time::SystemTime::now());
        });
        assert!(health.readiness(&store).is_ok());
        store.update_device(DeviceId::new(0), |s| s.last_cycle_at = None);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(health.readiness(&store).is_ok(), "grace period over");
    }
}
