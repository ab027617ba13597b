//! `edge-gateway run`: the gateway itself. Starts the simulator (when enabled),
//! the bus tasks, HTTP, OPC UA and the Sparkplug edge node; keeps systemd informed (READY, STATUS, and
//! WATCHDOG only while every bus task makes progress); and on SIGHUP checks the
//! config on disk without applying it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::RunError;
use super::simulate::start_simulator;
use crate::config::{Config, ConfigChanges, RunningConfig};
use crate::engine::Engine;
use crate::health::Health;
use crate::http::AppState;
use crate::http::metrics::MetricsOptions;
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
    let _opcua = match &config.opcua {
        Some(o) => {
            Some(crate::opcua::start(&config, o, engine.clone(), engine.health().clone()).await?)
        }
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
        (Some(p), Some(h)) => Some(tokio::spawn(check_on_hangup(
            p.to_path_buf(),
            running,
            engine.health().clone(),
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

/// On SIGHUP, validate the config file on disk and report what applying it
/// would change (by device, and the settings that need a restart). Applying
/// it still needs a restart, so a bad edit never takes the gateway down.
async fn check_on_hangup(
    path: PathBuf,
    running: RunningConfig,
    health: Arc<Health>,
    mut hup: Hangups,
) {
    #[cfg(unix)]
    while hup.recv().await.is_some() {
        let read = Config::load(&path);
        health
            .reload
            .record(read.is_ok(), std::time::SystemTime::now());
        match read {
            Ok(new) => {
                let changes = ConfigChanges::between(&running, &new);
                let summary = changes.summary();
                if changes.is_empty() {
                    tracing::info!(config = %path.display(), "reload: the config on disk is valid and is the running one ({summary})");
                    notify(&format!(
                        "STATUS=config on disk is valid and is the running one ({summary})"
                    ));
                } else {
                    tracing::info!(config = %path.display(), "reload: the config on disk is valid: {summary}; restart the service to apply it");
                    notify(&format!(
                        "STATUS=config on disk is valid: {summary}; restart to apply"
                    ));
                }
            }
            Err(e) => {
                tracing::warn!(config = %path.display(), "reload: the config on disk is refused, keep running the old one:\n{e}");
                notify("STATUS=config on disk is refused; still running the old one");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (path, running, health, &mut hup);
}
