//! gateway.toml: parse, validate, and build the typed `Config`.
//!
//! Two phases. `raw` holds serde structs that mirror the file (unknown keys are
//! errors); `validate` turns them into `Config`, in which invalid states cannot be
//! represented. Every problem is collected, not just the first, and each names
//! <file:line:column> and the key or value at fault.

mod address;
mod changes;
pub mod defaults;
mod diag;
pub mod duration;
mod endpoint;
mod mqtt;
mod paths;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use address::parse_address;
pub use changes::{ConfigChanges, RunningConfig};
pub use diag::{Diagnostic, Severity};
pub use duration::{format_duration, parse_duration};
pub use endpoint::{EndpointError, parse_tcp_endpoint};
pub use mqtt::{Broker, BufferLimits, MqttConfig, MqttTls, sparkplug_id_problem};

use crate::modbus::codec::Encoding;
use crate::modbus::plan::Limits;
use crate::tags::{Kind, Value};

/// A config that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{} in {file}:\n{}", count_errors(.diagnostics), render(.diagnostics))]
    Invalid {
        file: String,
        diagnostics: Vec<Diagnostic>,
    },
}

fn count_errors(d: &[Diagnostic]) -> String {
    match d.iter().filter(|d| d.severity == Severity::Error).count() {
        1 => "1 error".to_owned(),
        n => format!("{n} errors"),
    }
}

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Name of this gateway (OPC UA root folder, metrics label).
    pub gateway_name: String,
    /// Where /metrics, /healthz, /readyz and /api/* listen.
    pub http_listen: SocketAddr,
    /// Whether /metrics exports a series per tag (off for very large tag counts).
    pub metrics_tag_values: bool,
    /// /readyz reports ready after this long even if a device was never polled.
    pub ready_grace: Duration,
    /// Open HTTP connections at once; more are refused.
    pub http_max_connections: usize,
    /// An HTTP connection with no traffic for this long is closed.
    pub http_idle_timeout: Duration,
    /// The built-in simulator, when configured.
    pub simulator: Option<SimulatorConfig>,
    /// The OPC UA server, when configured and enabled.
    pub opcua: Option<OpcuaConfig>,
    /// The Sparkplug B edge node, when configured and enabled.
    pub mqtt: Option<MqttConfig>,
    /// Devices in config order; a device's index is its id everywhere.
    pub devices: Vec<DeviceConfig>,
    /// Accepted but suspicious settings, for `check` and the start-up log.
    pub warnings: Vec<Diagnostic>,
}

impl Config {
    /// Read and validate a config file.
    ///
    /// The parse tree of a large config takes tens of times the file's size
    /// (about 320 MB for 100k tags), far more than the result. It is built on
    /// a short-lived thread, which the allocator gives its own arena, and the
    /// result is copied out before that thread's copy is dropped: the arena
    /// then empties entirely and goes back to the operating system, where
    /// freed parse nodes interleaved with the result in one heap would stay
    /// resident for the life of the daemon.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let parsed = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("config-load".into())
                .spawn_scoped(scope, || Self::load_here(path))
                .map(std::thread::ScopedJoinHandle::join)
        });
        let config = match parsed {
            Ok(Ok(result)) => result.map(copied_here),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // No thread to spare: parse here, at the cost of the resident peak.
            Err(_) => Self::load_here(path),
        };
        config.map(|c| c.relative_to(path))
    }

    /// Read and validate on the calling thread.
    fn load_here(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Validate config text; `file` names it in diagnostics.
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        validate::validate(text, file)
    }
}

/// A copy made by the calling thread, in its arena; the original, made on
/// the parse thread, is dropped (see `Config::load`).
fn copied_here(made_elsewhere: Config) -> Config {
    let copy = made_elsewhere.clone();
    drop(made_elsewhere);
    copy
}

/// The protocol a device speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Modbus TCP.
    Tcp,
    /// Modbus RTU over a serial line.
    Rtu,
}

/// How a device is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// Modbus TCP to `host:port`.
    Tcp { endpoint: String },
    /// Modbus RTU on a serial port.
    Rtu {
        port: String,
        serial: SerialSettings,
    },
}

impl Transport {
    /// Devices with the same key share one bus task.
    pub fn bus_key(&self) -> String {
        match self {
            Transport::Tcp { endpoint } => format!("tcp://{endpoint}"),
            Transport::Rtu { port, .. } => format!("rtu://{port}"),
        }
    }

    /// The protocol spoken over this transport.
    pub fn protocol(&self) -> Protocol {
        match self {
            Transport::Tcp { .. } => Protocol::Tcp,
            Transport::Rtu { .. } => Protocol::Rtu,
        }
    }
}

/// Serial line settings of an RTU port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialSettings {
    pub baud: u32,
    pub parity: Parity,
    pub stop_bits: u8,
    pub data_bits: u8,
}

impl SerialSettings {
    /// Bits on the wire per character: start + data + parity + stop.
    pub fn bits_per_char(&self) -> u32 {
        let parity = u32::from(self.parity != Parity::None);
        1 + u32::from(self.data_bits) + parity + u32::from(self.stop_bits)
    }

    /// Time one character takes on the wire.
    pub fn char_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.bits_per_char()) / f64::from(self.baud.max(1)))
    }

    /// The silent interval that ends an RTU frame: 3.5 characters, fixed at
    /// 1.75 ms above 19200 baud (Modbus over serial line, §2.5.1.1).
    pub fn inter_frame_gap(&self) -> Duration {
        if self.baud > 19_200 {
            Duration::from_micros(1750)
        } else {
            self.char_time().mul_f64(3.5)
        }
    }
}

/// Serial parity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Parity {
    /// Config and CLI spellings, the one table both parse with.
    pub const NAMES: &[(&str, Parity)] = &[
        ("none", Parity::None),
        ("even", Parity::Even),
        ("odd", Parity::Odd),
    ];

    /// The spelling of this parity in `NAMES`.
    pub fn as_str(self) -> &'static str {
        match self {
            Parity::None => "none",
            Parity::Even => "even",
            Parity::Odd => "odd",
        }
    }
}

/// Reconnect backoff of a bus: doubling from `min` to `max`, with jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub min: Duration,
    pub max: Duration,
}

/// One device to poll.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    pub name: String,
    pub transport: Transport,
    /// Modbus unit id (slave address).
    pub unit: u8,
    pub poll: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Extra attempts after a timeout or transport error, within one cycle.
    pub retries: u32,
    /// Coalescing limits for read blocks.
    pub limits: Limits,
    /// How long a value stays `uncertain` after polls start failing.
    pub stale_after: Duration,
    /// Quiet time after a (re)connect before the first request; some gateways need it.
    pub pause_after_connect: Duration,
    /// Quiet time between two requests to this device.
    pub pause_between_requests: Duration,
    /// RTU: consecutive timeouts before the slave is demoted.
    pub demote_after: u32,
    /// RTU: how long a demoted slave is skipped.
    pub demote_for: Duration,
    /// Clean cycles after which blocks split by exception 02 are tried whole again.
    pub merge_after: u32,
    pub backoff: Backoff,
    pub tags: Vec<TagConfig>,
}

impl DeviceConfig {
    /// A copy of the device's settings without its tags, for a bus plan that
    /// keeps its own compact copy of each tag.
    #[must_use]
    pub fn without_tags(&self) -> DeviceConfig {
        let DeviceConfig {
            name,
            transport,
            unit,
            poll,
            timeout,
            retries,
            limits,
            stale_after,
            pause_after_connect,
            pause_between_requests,
            demote_after,
            demote_for,
            merge_after,
            backoff,
            tags: _,
        } = self;
        DeviceConfig {
            name: name.clone(),
            transport: transport.clone(),
            unit: *unit,
            poll: *poll,
            timeout: *timeout,
            retries: *retries,
            limits: *limits,
            stale_after: *stale_after,
            pause_after_connect: *pause_after_connect,
            pause_between_requests: *pause_between_requests,
            demote_after: *demote_after,
            demote_for: *demote_for,
            merge_after: *merge_after,
            backoff: *backoff,
            tags: Vec::new(),
        }
    }
}

/// One tag of a device.
#[derive(Debug, Clone)]
pub struct TagConfig {
    pub name: String,
    pub kind: Kind,
    /// 0-based protocol address.
    pub address: u16,
    pub encoding: Encoding,
    pub unit: Option<String>,
    pub description: Option<String>,
    pub writable: bool,
    pub deadband: Option<f64>,
    /// Engineering range (OPC UA `EURange`), min < max.
    pub range: Option<(f64, f64)>,
    /// Line in the config, for messages at run time.
    pub line: usize,
}

impl TagConfig {
    /// Registers (or bits) this tag reads.
    pub fn count(&self) -> u16 {
        Self::footprint(self.kind, &self.encoding)
    }

    /// Registers (or bits) a value of `encoding` takes in a table of `kind`:
    /// one bit of a coil or discrete table, else the encoding's registers.
    pub fn footprint(kind: Kind, encoding: &Encoding) -> u16 {
        if kind.is_bit() {
            1
        } else {
            encoding.register_count()
        }
    }
}

/// The built-in simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Whether `run` starts it beside the gateway (`simulate` always does).
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Serial port and baud to also serve RTU on.
    pub rtu: Option<(String, u32)>,
    pub registers: Vec<SimRegister>,
    pub exceptions: Vec<SimException>,
}

/// One simulated value.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRegister {
    pub unit: u8,
    pub kind: Kind,
    pub address: u16,
    pub encoding: Encoding,
    pub initial: Value,
    pub generator: Generator,
}

/// How a simulated value moves.
#[derive(Debug, Clone, PartialEq)]
pub enum Generator {
    /// Keeps its value (clients may write it).
    Constant,
    /// min → max linearly over `period`, then again.
    Ramp {
        min: f64,
        max: f64,
        period: Duration,
    },
    /// A sine between min and max with this period.
    Sine {
        min: f64,
        max: f64,
        period: Duration,
    },
    /// Adds `step` every `period`, wrapping at the type's limits.
    Counter { step: f64, period: Duration },
    /// Random steps of at most `step` every tick, kept within min..max.
    RandomWalk { min: f64, max: f64, step: f64 },
    /// A bool that flips every `period`.
    Toggle { period: Duration },
}

/// An address range the simulator answers with an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimException {
    pub unit: u8,
    pub kind: Kind,
    pub start: u16,
    pub count: u16,
    pub code: u8,
}

/// An OPC UA endpoint the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// No signing or encryption: anonymous read only (a password would cross in clear).
    None,
    Basic256Sha256Sign,
    Basic256Sha256SignEncrypt,
    Aes128Sha256RsaOaepSignEncrypt,
    Aes256Sha256RsaPssSignEncrypt,
}

impl Security {
    /// Config spellings, in the order they are documented.
    pub const NAMES: [(&'static str, Security); 5] = [
        ("none", Security::None),
        ("basic256sha256-sign", Security::Basic256Sha256Sign),
        (
            "basic256sha256-sign-encrypt",
            Security::Basic256Sha256SignEncrypt,
        ),
        (
            "aes128-sha256-rsaoaep-sign-encrypt",
            Security::Aes128Sha256RsaOaepSignEncrypt,
        ),
        (
            "aes256-sha256-rsapss-sign-encrypt",
            Security::Aes256Sha256RsaPssSignEncrypt,
        ),
    ];

    /// True for endpoints that encrypt, the only ones that accept passwords.
    pub fn encrypts(self) -> bool {
        !matches!(self, Security::None | Security::Basic256Sha256Sign)
    }
}

/// A user who may log in with a password.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcuaUser {
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub can_write: bool,
}

/// Bounds on what OPC UA clients may ask of the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OpcuaLimits {
    pub max_sessions: usize,
    /// Open TCP connections; the oldest that never said Hello makes room.
    pub max_connections: usize,
    pub max_subscriptions_per_session: usize,
    /// Per subscription and per request; `None`: derived from the tag count.
    pub max_monitored_items: Option<usize>,
    pub max_message_size: usize,
    /// `None`: as many chunks as `max_message_size` needs.
    pub max_chunk_count: Option<usize>,
    pub min_publishing_interval: Duration,
    pub min_sampling_interval: Duration,
    /// The longest one Write request may take; a client's shorter timeoutHint wins.
    pub max_write_time: Duration,
}

/// The OPC UA server.
#[derive(Debug, Clone, PartialEq)]
pub struct OpcuaConfig {
    pub listen: SocketAddr,
    /// Host name in endpoint URLs; `None`: the machine's host name.
    pub hostname: Option<String>,
    pub pki_dir: std::path::PathBuf,
    pub security: Vec<Security>,
    /// Anonymous sessions allowed (always read-only).
    pub anonymous_read: bool,
    pub users: Vec<OpcuaUser>,
    pub limits: OpcuaLimits,
}
