//! `edge-gateway run`: the gateway itself. Starts the simulator (when enabled),
//! the bus tasks, HTTP, OPC UA and the Sparkplug edge node; keeps systemd informed (READY, STATUS, and
//! WATCHDOG only while every bus task makes progress); and on SIGHUP reloads
//! the config on disk: its device changes are applied live (`Engine::reshape`,
//! then the OPC UA namespace; `/metrics` and Sparkplug follow the store), the
//! settings outside the devices are reported and wait for a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::RunError;
use super::simulate::start_simulator;
use crate::config::{Config, ConfigChanges, RunningConfig};
use crate::engine::{Engine, Reshaped};
use crate::health::Health;
use crate::http::AppState;
use crate::http::metrics::MetricsOptions;
use crate::opcua::OpcuaServer;
use crate::systemd;
use crate::tags::TagStore;

/// Run the gateway (and the simulator, when enabled) until `shutdown` resolves.
/// `config_path` is re-validated on SIGHUP (systemd's `ExecReload`). The
/// config is dropped once everything is started: each part keeps what it needs.
pub async fn run(
    config: Config,
    config_path: Option<&Path>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    // Before anything else, so `process_start_time_seconds` is the start-up time.
    crate::http::process::mark_process_start();
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let _sim = match &config.simulator {
        Some(s) if s.enabled => Some(start_simulator(s, None).await?),
        _ => None,
    };
    let engine = Arc::new(Engine::start(&config));
    let state = AppState {
        store: engine.store().clone(),
        counters: engine.counters().clone(),
        health: engine.health().clone(),
        metrics: MetricsOptions {
            gateway: config.gateway_name.clone(),
            tag_values: config.metrics_tag_values,
        },
    };
    let limits = crate::http::HttpLimits {
        max_connections: config.http_max_connections,
        idle_timeout: config.http_idle_timeout,
    };
    let (bound, http) = crate::http::serve_with(config.http_listen, state, limits)
        .await
        .map_err(|source| RunError::Http {
            addr: config.http_listen,
            source,
        })?;
    let opcua = match &config.opcua {
        Some(o) => Some(Arc::new(
            crate::opcua::start(&config, o, engine.clone(), engine.health().clone()).await?,
        )),
        None => None,
    };
    let mqtt = match &config.mqtt {
        Some(m) => Some(crate::mqtt::start(m, engine.clone(), engine.health())?),
        None => None,
    };
    tracing::info!(gateway = %config.gateway_name, devices = config.devices.len(), tags = engine.store().len(), http = %bound, "gateway running");
    // Before READY=1: systemd may send a reload the moment it hears READY,
    // and SIGHUP's default action would end the process.
    let hangups = hangup_signals();
    // The config is valid and every listener is bound: ready as far as systemd is concerned.
    notify(&format!(
        "READY=1\nSTATUS=started: {} devices, {} tags",
        config.devices.len(),
        engine.store().len()
    ));
    let running = RunningConfig::of(&config);
    drop(config);
    super::memory::release_free_memory();
    let supervisor = tokio::spawn(supervise(
        engine.store().clone(),
        engine.health().clone(),
        systemd::watchdog_interval(),
    ));
    let reload = match (config_path, hangups) {
        (Some(p), Some(h)) => Some(tokio::spawn(reload_on_hangup(
            p.to_path_buf(),
            running,
            Live {
                engine: engine.clone(),
                opcua: opcua.clone(),
            },
            h,
        ))),
        _ => None,
    };
    shutdown.await;
    tracing::info!("shutting down");
    notify("STOPPING=1");
    supervisor.abort();
    if let Some(r) = reload {
        r.abort();
    }
    if let Some(node) = mqtt {
        node.stop().await;
    }
    http.abort();
    engine.shutdown();
    Ok(())
}

fn notify(state: &str) {
    if let Err(e) = systemd::notify(state) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Longest gap between two STATUS updates.
const STATUS_PERIOD: Duration = Duration::from_secs(5);

/// Keep systemd informed: STATUS when the summary changes, and WATCHDOG=1 at
/// half the watchdog interval, but only while every bus task makes progress,
/// so systemd restarts a gateway whose bus task is wedged.
async fn supervise(store: Arc<TagStore>, health: Arc<Health>, watchdog: Option<Duration>) {
    let period = watchdog.map_or(STATUS_PERIOD, |w| (w / 2).min(STATUS_PERIOD));
    let mut last_status = String::new();
    let mut was_live = true;
    loop {
        let (up, total) = crate::http::devices_up(&store);
        let live = health.liveness();
        let status = match &live {
            Ok(()) => format!("STATUS={up}/{total} devices up"),
            Err(e) => format!("STATUS=unhealthy: {e}"),
        };
        let mut message = String::new();
        if status != last_status {
            message.push_str(&status);
            last_status = status;
        }
        match &live {
            Ok(()) if watchdog.is_some() => message.push_str("\nWATCHDOG=1"),
            Err(e) if was_live => {
                tracing::error!(error = %e, "liveness check failed; withholding the systemd watchdog ping");
            }
            _ => {}
        }
        was_live = live.is_ok();
        if !message.is_empty() {
            notify(message.trim_start());
        }
        tokio::time::sleep(period).await;
    }
}

/// SIGHUP, caught from now on (None where there is no such signal).
#[cfg(unix)]
type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
type Hangups = ();

fn hangup_signals() -> Option<Hangups> {
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(error = %e, "cannot catch SIGHUP; reload will not work");
                None
            }
        }
    }
    #[cfg(not(unix))]
    None
}

/// What a reload changes in the running gateway.
struct Live {
    engine: Arc<Engine>,
    opcua: Option<Arc<OpcuaServer>>,
}

impl Live {
    /// Apply `new`'s device changes: the engine first (buses and store),
    /// then the OPC UA namespace over the reshaped store.
    fn apply(&self, new: &Config, changes: &ConfigChanges) -> Result<Reshaped, String> {
        let done = self
            .engine
            .reshape(new, changes)
            .map_err(|e| e.to_string())?;
        if let Some(opcua) = &self.opcua {
            let nodes = opcua.reload(new).map_err(|e| e.to_string())?;
            tracing::info!(
                followed = nodes.followed,
                gone = nodes.gone,
                "reload: OPC UA namespace replaced; monitored items followed their tags or were told BadNodeIdUnknown"
            );
        }
        Ok(done)
    }
}

/// On SIGHUP, validate the config file on disk and apply its device
/// changes; the settings that need a restart are reported and left as they
/// are, and a refused config changes nothing, so a bad edit never takes the
/// gateway down.
async fn reload_on_hangup(path: PathBuf, mut running: RunningConfig, live: Live, mut hup: Hangups) {
    #[cfg(unix)]
    while hup.recv().await.is_some() {
        let health = live.engine.health();
        // Reading 100k tags takes half a second: off the runtime's workers,
        // which keep polling meanwhile.
        let file = path.clone();
        let read = match tokio::task::spawn_blocking(move || Config::load(&file)).await {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %e, "reload: reading the config failed");
                continue;
            }
        };
        let Ok(new) = read else {
            health.reload.record(false, std::time::SystemTime::now());
            if let Err(e) = read {
                tracing::warn!(config = %path.display(), "reload: the config on disk is refused, keep running the old one:\n{e}");
            }
            notify("STATUS=config on disk is refused; still running the old one");
            continue;
        };
        let changes = ConfigChanges::between(&running, &new);
        let summary = changes.summary();
        if changes.is_empty() {
            health.reload.record(true, std::time::SystemTime::now());
            tracing::info!(config = %path.display(), "reload: the config on disk is valid and is the running one ({summary})");
            notify(&format!(
                "STATUS=config on disk is valid and is the running one ({summary})"
            ));
            continue;
        }
        if !changes.devices_differ() {
            health.reload.record(true, std::time::SystemTime::now());
            tracing::warn!(config = %path.display(), "reload: the config on disk is valid: {summary}; nothing applied, restart the service to apply it");
            notify(&format!(
                "STATUS=config on disk is valid: {summary}; restart to apply"
            ));
            continue;
        }
        match live.apply(&new, &changes) {
            Ok(done) => {
                health.reload.record(true, std::time::SystemTime::now());
                running = running.with_devices_of(&new);
                let waiting = if changes.applies_live() {
                    ""
                } else {
                    " (those settings wait for a restart)"
                };
                tracing::info!(config = %path.display(), started = done.started.len(), stopped = done.stopped.len(),
                    buses_restarted = ?done.restarted_buses, buses_stopped = ?done.stopped_buses,
                    "reload applied: {summary}{waiting}");
                notify(&format!("STATUS=reload applied: {summary}{waiting}"));
                // The parse of a large file peaks far above what runs: give
                // it back, as after start-up.
                drop(new);
                super::memory::release_free_memory();
            }
            Err(e) => {
                health.reload.record(false, std::time::SystemTime::now());
                tracing::error!(config = %path.display(), error = %e, "reload: the device changes could not be applied");
                notify(&format!("STATUS=reload failed: {e}"));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, &mut running, live, &mut hup);
}
