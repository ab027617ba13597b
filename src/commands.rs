//! What the CLI subcommands do; `main.rs` only parses arguments and calls these.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_modbus::prelude::{Request, Response};

use crate::config::{Config, DeviceConfig, Parity, SerialSettings, Transport, format_duration};
use crate::engine::Engine;
use crate::health::Health;
use crate::http::AppState;
use crate::http::metrics::MetricsOptions;
use crate::modbus::bus::{DevicePlan, plan_buses};
use crate::modbus::codec::{self, Encoding};
use crate::modbus::link::{Link, LinkError, Target};
use crate::modbus::plan::{self, Block};
use crate::sim::{SimError, Simulator};
use crate::systemd;
use crate::tags::TagStore;
use crate::tags::{Kind, Value};

/// RTU bus load above which `check` warns.
pub const BUS_LOAD_WARNING: f64 = 0.8;

/// A failure of `run` or `simulate` after the config was accepted.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Simulator(#[from] SimError),
    #[error("cannot serve HTTP on {addr}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the config has no [simulator] section")]
    NoSimulator,
    #[error(transparent)]
    Opcua(#[from] crate::opcua::OpcuaError),
}

/// Run the gateway (and the simulator, when enabled) until `shutdown` resolves.
/// `config_path` is re-validated on SIGHUP (systemd's `ExecReload`).
pub async fn run(
    config: &Config,
    config_path: Option<&Path>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    for w in &config.warnings {
        tracing::warn!("{w}");
    }
    let _sim = match &config.simulator {
        Some(s) if s.enabled => Some(start_simulator(s, None).await?),
        _ => None,
    };
    let engine = Arc::new(Engine::start(config));
    let state = AppState {
        store: engine.store().clone(),
        counters: engine.counters().clone(),
        health: engine.health().clone(),
        metrics: MetricsOptions {
            gateway: config.gateway_name.clone(),
            tag_values: config.metrics_tag_values,
        },
    };
    let (bound, http) = crate::http::serve(config.http_listen, state)
        .await
        .map_err(|source| RunError::Http {
            addr: config.http_listen,
            source,
        })?;
    let _opcua = match &config.opcua {
        Some(o) => {
            Some(crate::opcua::start(config, o, engine.clone(), engine.health().clone()).await?)
        }
        None => None,
    };
    tracing::info!(gateway = %config.gateway_name, devices = config.devices.len(), tags = engine.store().len(), http = %bound, "gateway running");
    // The config is valid and every listener is bound: ready as far as systemd is concerned.
    notify(&format!(
        "READY=1\nSTATUS=started: {} devices, {} tags",
        config.devices.len(),
        engine.store().len()
    ));
    let supervisor = tokio::spawn(supervise(
        engine.store().clone(),
        engine.health().clone(),
        systemd::watchdog_interval(),
    ));
    let reload = config_path.map(|p| tokio::spawn(check_on_hangup(p.to_path_buf())));
    shutdown.await;
    tracing::info!("shutting down");
    notify("STOPPING=1");
    supervisor.abort();
    if let Some(r) = reload {
        r.abort();
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
                tracing::error!(error = %e, "liveness check failed; withholding the systemd watchdog ping")
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

/// On SIGHUP, validate the config file on disk and report; applying it needs a
/// restart (hot reload is future work), so a bad edit never takes the gateway down.
async fn check_on_hangup(path: PathBuf) {
    #[cfg(unix)]
    {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            match Config::load(&path) {
                Ok(_) => {
                    tracing::info!(config = %path.display(), "reload: the config on disk is valid; restart the service to apply it");
                    notify("STATUS=config on disk is valid; restart to apply");
                }
                Err(e) => {
                    tracing::warn!(config = %path.display(), "reload: the config on disk is refused, keep running the old one:\n{e}");
                    notify("STATUS=config on disk is refused; still running the old one");
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Start the simulator's servers from its config; `listen` overrides its TCP address.
pub async fn start_simulator(
    s: &crate::config::SimulatorConfig,
    listen: Option<SocketAddr>,
) -> Result<Arc<Simulator>, SimError> {
    let sim = Simulator::new(s)?;
    sim.start_tcp(listen.unwrap_or(s.listen)).await?;
    if let Some((port, baud)) = &s.rtu {
        sim.serve_rtu_port(port, *baud)?;
    }
    Ok(sim)
}

/// Run only the simulator until `shutdown` resolves.
pub async fn simulate(
    config: &Config,
    listen: Option<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let s = config.simulator.as_ref().ok_or(RunError::NoSimulator)?;
    let _sim = start_simulator(s, listen).await?;
    shutdown.await;
    Ok(())
}

/// Bytes of a read request on an RTU line: address, function, start, count, CRC.
const RTU_READ_REQUEST_BYTES: u32 = 8;
/// Fixed bytes of a read response: address, function, byte count, CRC.
const RTU_READ_RESPONSE_OVERHEAD: u32 = 5;

/// Estimated time of one block on an RTU line: both frames and both silent intervals.
pub fn rtu_block_time(block: &Block, serial: &SerialSettings, pause: Duration) -> Duration {
    let data = if block.kind.is_bit() {
        u32::from(block.count).div_ceil(8)
    } else {
        u32::from(block.count) * 2
    };
    let chars = RTU_READ_REQUEST_BYTES + RTU_READ_RESPONSE_OVERHEAD + data;
    serial.char_time() * chars + serial.inter_frame_gap() * 2 + pause
}

fn parity_letter(p: Parity) -> char {
    match p {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
    }
}

fn describe_device(out: &mut String, d: &DevicePlan) {
    let c: &DeviceConfig = &d.config;
    let naive = plan::naive_requests(&d.spans);
    let _ = writeln!(
        out,
        "  device {} (unit {}, poll {}, timeout {}): {} tags -> {} requests per cycle (naive: {naive})",
        c.name,
        c.unit,
        format_duration(c.poll),
        format_duration(c.timeout),
        c.tags.len(),
        d.blocks.len()
    );
    for b in &d.blocks {
        let names: Vec<&str> = b
            .tags
            .iter()
            .filter_map(|&t| c.tags.get(t).map(|t| t.name.as_str()))
            .collect();
        let unit = if b.kind.is_bit() { "bits" } else { "registers" };
        let end = u32::from(b.start) + u32::from(b.count).saturating_sub(1);
        let _ = writeln!(
            out,
            "    {:<8} {:>5}..={:<5} ({:>3} {unit:<9}) {}",
            b.kind.as_str(),
            b.start,
            end,
            b.count,
            names.join(", ")
        );
    }
}

/// The report `check` prints: per bus and device the read blocks, requests per
/// cycle against one-request-per-tag, and for RTU the estimated bus load.
pub fn check_report(config: &Config) -> (String, bool) {
    let mut out = String::new();
    let mut overloaded = false;
    let (mut total_requests, mut total_naive, mut total_tags) = (0usize, 0usize, 0usize);
    for bus in plan_buses(config) {
        let _ = writeln!(out, "bus {}", bus.key);
        let mut load = 0.0;
        for d in &bus.devices {
            describe_device(&mut out, d);
            total_requests += d.blocks.len();
            total_naive += plan::naive_requests(&d.spans);
            total_tags += d.config.tags.len();
            if let Transport::Rtu { serial, .. } = &d.config.transport {
                let cycle: Duration = d
                    .blocks
                    .iter()
                    .map(|b| rtu_block_time(b, serial, d.config.pause_between_requests))
                    .sum();
                let share = cycle.as_secs_f64() / d.config.poll.as_secs_f64().max(1e-6);
                load += share;
                let _ = writeln!(
                    out,
                    "    estimated bus time per cycle: {:.1} ms of {} ({:.1} %)",
                    cycle.as_secs_f64() * 1000.0,
                    format_duration(d.config.poll),
                    share * 100.0
                );
            }
        }
        if let Target::Rtu { serial, .. } = &bus.target {
            let _ = writeln!(
                out,
                "  serial {} {}{}{}: estimated bus load {:.1} % (frames and silent intervals; device turnaround time not included)",
                serial.baud,
                serial.data_bits,
                parity_letter(serial.parity),
                serial.stop_bits,
                load * 100.0
            );
            if load > BUS_LOAD_WARNING {
                overloaded = true;
                let _ = writeln!(
                    out,
                    "  warning: bus load above {:.0} %: poll less often, raise the baud rate, or move tags to fewer blocks",
                    BUS_LOAD_WARNING * 100.0
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "total: {} devices, {total_tags} tags, {total_requests} requests per cycle (naive: {total_naive})",
        config.devices.len()
    );
    (out, overloaded)
}

/// What `read` probes.
#[derive(Debug, Clone)]
pub struct Probe {
    pub target: Target,
    pub unit: u8,
    pub kind: Kind,
    pub address: u16,
    /// Number of values (not registers).
    pub count: u16,
    pub encoding: Encoding,
    pub timeout: Duration,
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("device answered with Modbus exception {0} ({name})", name = exception_name(*.0))]
    Exception(u8),
    #[error("{count} values of {per} registers from {address} run past register 65535")]
    Range { address: u16, count: u16, per: u16 },
    #[error("{0} registers do not fit in one request (at most 125, or 2000 bits)")]
    TooMany(u32),
}

/// The Modbus name of an exception code.
pub fn exception_name(code: u8) -> &'static str {
    match code {
        1 => "illegal function",
        2 => "illegal data address",
        3 => "illegal data value",
        4 => "server device failure",
        5 => "acknowledge",
        6 => "server device busy",
        8 => "memory parity error",
        10 => "gateway path unavailable",
        11 => "gateway target device failed to respond",
        _ => "unknown",
    }
}

/// One probed value: its address, the raw registers, and the decoded value or why not.
pub type ProbeLine = (u16, Vec<u16>, Result<Value, codec::CodecError>);

/// Read `count` consecutive values once, for commissioning.
pub async fn probe(p: &Probe) -> Result<Vec<ProbeLine>, ProbeError> {
    let per = if p.kind.is_bit() {
        1
    } else {
        p.encoding.register_count().max(1)
    };
    let total = u32::from(per) * u32::from(p.count);
    if u32::from(p.address) + total > 65_536 {
        return Err(ProbeError::Range {
            address: p.address,
            count: p.count,
            per,
        });
    }
    let limit = if p.kind.is_bit() { 2000 } else { 125 };
    let n = u16::try_from(total)
        .ok()
        .filter(|n| *n >= 1 && *n <= limit)
        .ok_or(ProbeError::TooMany(total))?;
    let backoff = crate::config::Backoff {
        min: Duration::from_millis(100),
        max: Duration::from_millis(100),
    };
    let mut link = Link::new(p.target.clone(), backoff);
    let request = match p.kind {
        Kind::Coil => Request::ReadCoils(p.address, n),
        Kind::Discrete => Request::ReadDiscreteInputs(p.address, n),
        Kind::Input => Request::ReadInputRegisters(p.address, n),
        Kind::Holding => Request::ReadHoldingRegisters(p.address, n),
    };
    let response = link
        .call(p.unit, request, p.timeout)
        .await?
        .map_err(|code| ProbeError::Exception(u8::from(code)))?;
    let lines = match response {
        Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => bits
            .iter()
            .take(usize::from(n))
            .zip(p.address..)
            .map(|(b, a)| (a, vec![u16::from(*b)], Ok(codec::decode_bit(*b))))
            .collect(),
        Response::ReadHoldingRegisters(regs) | Response::ReadInputRegisters(regs) => regs
            .chunks(usize::from(per))
            .zip((0u32..).map(|i| u32::from(p.address) + i * u32::from(per)))
            .map(|(r, a)| {
                (
                    u16::try_from(a).unwrap_or(u16::MAX),
                    r.to_vec(),
                    codec::decode(r, &p.encoding),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(lines)
}

/// Human form of a probe result, one value per line.
pub fn format_probe(p: &Probe, lines: &[ProbeLine]) -> String {
    let mut out = String::new();
    let prefix = match p.kind {
        Kind::Coil => 0,
        Kind::Discrete => 1,
        Kind::Input => 3,
        Kind::Holding => 4,
    };
    for (address, raw, value) in lines {
        let hex: Vec<String> = raw.iter().map(|r| format!("0x{r:04X}")).collect();
        let shown = match value {
            Ok(v) => v.to_string(),
            Err(e) => format!("<{e}>"),
        };
        let modicon = u32::from(*address) + 1 + prefix * 100_000;
        let _ = writeln!(
            out,
            "{:<8} {address:>5} ({modicon:06})  {:<6} = {shown:<24} [{}]",
            p.kind.as_str(),
            p.encoding.data_type.as_str(),
            hex.join(" ")
        );
    }
    out
}

/// Hash a password for `[[opcua.user]] password_hash` (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    Ok(argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// True when `password` matches a PHC hash made by `hash_password`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_password_verifies_and_wrong_one_does_not() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "s3cret"));
        assert!(!verify_password(&h, "S3cret"));
        assert!(!verify_password("garbage", "s3cret"));
    }

    #[test]
    fn rtu_block_time_counts_frames_and_gaps() {
        let serial = SerialSettings {
            baud: 9600,
            parity: Parity::Even,
            stop_bits: 1,
            data_bits: 8,
        };
        let block = Block {
            kind: Kind::Input,
            start: 0,
            count: 10,
            tags: vec![0],
        };
        // 8 + 5 + 20 = 33 chars of 11 bits at 9600 baud, plus 2 × 3.5 chars.
        let expected = (33.0 + 7.0) * 11.0 / 9600.0;
        let got = rtu_block_time(&block, &serial, Duration::ZERO).as_secs_f64();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }
}
