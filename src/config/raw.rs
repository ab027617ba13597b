//! Raw serde structs for gateway.toml: the file exactly as written, with spans.
//!
//! Nothing here is validated beyond TOML syntax and key names; `deny_unknown_fields`
//! on every table makes a typo an error instead of a silently ignored setting.
//! Fields keep their spans so that validation can point at <file:line:column>.

use serde::{Deserialize, Deserializer, de};
use toml::Spanned;

/// Top level of gateway.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    /// `[gateway]`: identity of this gateway.
    pub gateway: Option<RawGateway>,
    /// `[simulator]`: built-in Modbus device(s).
    pub simulator: Option<Spanned<RawSimulator>>,
    /// `[http]`: health and JSON API listener.
    pub http: Option<RawHttp>,
    /// `[opcua]`: the OPC UA server.
    pub opcua: Option<Spanned<RawOpcua>>,
    /// `[mqtt]`: the Sparkplug B edge node.
    pub mqtt: Option<Spanned<RawMqtt>>,
    /// `[[device]]`: the devices to poll.
    #[serde(default)]
    pub device: Vec<Spanned<RawDevice>>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGateway {
    /// Root folder name in OPC UA and `gateway` label in metrics. Default: `defaults::GATEWAY_NAME`.
    pub name: Option<Spanned<String>>,
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    /// Socket address for /metrics, /healthz, /readyz and /api/*. Default: `defaults::HTTP_LISTEN`.
    pub listen: Option<Spanned<String>>,
    /// Whether /metrics exports a series per tag. Default: `defaults::METRICS_TAG_VALUES`.
    pub metrics_tag_values: Option<Spanned<bool>>,
    /// How long /readyz waits for every device's first poll before it reports ready anyway.
    /// Default: `defaults::READY_GRACE`.
    pub ready_grace: Option<Spanned<String>>,
    /// Open connections at once. Default: `defaults::HTTP_MAX_CONNECTIONS`.
    pub max_connections: Option<Spanned<i64>>,
    /// A connection with no traffic for this long is closed. Default: `defaults::HTTP_IDLE_TIMEOUT`.
    pub idle_timeout: Option<Spanned<String>>,
}

/// `[opcua]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpcua {
    /// Whether the server runs. Default: true when the section exists.
    pub enabled: Option<Spanned<bool>>,
    /// Socket address to bind. Default: `defaults::OPCUA_LISTEN`.
    pub listen: Option<Spanned<String>>,
    /// Host name put in endpoint URLs. Default: the machine's host name.
    pub hostname: Option<Spanned<String>>,
    /// Own certificate, trusted/ and rejected/ client certificates. Default: `defaults::OPCUA_PKI_DIR`.
    pub pki_dir: Option<Spanned<String>>,
    /// Endpoints offered (`Security::NAMES`). Default: `defaults::OPCUA_SECURITY`.
    pub security: Option<Spanned<Vec<Spanned<String>>>>,
    /// "off" or "read"; anonymous sessions never write. Default: off (`defaults::OPCUA_ANONYMOUS_READ`).
    pub anonymous: Option<Spanned<String>>,
    /// Users for username/password logins. Default: none.
    #[serde(default)]
    pub user: Vec<Spanned<RawOpcuaUser>>,
    /// Concurrent sessions. Default: `defaults::OPCUA_MAX_SESSIONS`.
    pub max_sessions: Option<Spanned<i64>>,
    /// Open TCP connections. Default: `defaults::OPCUA_MAX_CONNECTIONS`.
    pub max_connections: Option<Spanned<i64>>,
    /// Subscriptions one session may hold. Default: `defaults::OPCUA_MAX_SUBSCRIPTIONS_PER_SESSION`.
    pub max_subscriptions_per_session: Option<Spanned<i64>>,
    /// Monitored items per subscription and per request. Default: derived from the tag count.
    pub max_monitored_items: Option<Spanned<i64>>,
    /// Largest message in bytes. Default: `defaults::OPCUA_MAX_MESSAGE_SIZE`.
    pub max_message_size: Option<Spanned<i64>>,
    /// Chunks per message. Default: as many as `max_message_size` needs.
    pub max_chunk_count: Option<Spanned<i64>>,
    /// Shortest publishing interval granted. Default: `defaults::OPCUA_MIN_PUBLISHING_INTERVAL`.
    pub min_publishing_interval: Option<Spanned<String>>,
    /// Shortest sampling interval granted. Default: `defaults::OPCUA_MIN_SAMPLING_INTERVAL`.
    pub min_sampling_interval: Option<Spanned<String>>,
    /// Longest one Write request may take. Default: `defaults::OPCUA_MAX_WRITE_TIME`.
    pub max_write_time: Option<Spanned<String>>,
}

/// `[mqtt]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMqtt {
    /// Whether the edge node runs. Default: true when the section exists.
    pub enabled: Option<Spanned<bool>>,
    /// Broker, `mqtt://host[:port]` or `mqtts://host[:port]`. Required.
    pub url: Option<Spanned<String>>,
    /// Sparkplug group. Required.
    pub group_id: Option<Spanned<String>>,
    /// Sparkplug edge node. Default: `[gateway] name`.
    pub edge_node_id: Option<Spanned<String>>,
    /// Births only while this host application's STATE is online. Default: none.
    pub primary_host_id: Option<Spanned<String>>,
    /// MQTT client id. Default: `edge-gateway-<edge_node_id>`.
    pub client_id: Option<Spanned<String>>,
    /// Login name at the broker. Default: none.
    pub username: Option<Spanned<String>>,
    /// File whose first line is the password. Default: none.
    pub password_file: Option<Spanned<String>>,
    /// CA certificates (PEM) the broker's certificate must chain to (mqtts). Default: none.
    pub ca_file: Option<Spanned<String>>,
    /// Client certificate (PEM) for brokers that ask for one (mqtts). Default: none.
    pub cert_file: Option<Spanned<String>>,
    /// The client certificate's private key (PEM). Required with `cert_file`.
    pub key_file: Option<Spanned<String>>,
    /// MQTT keep-alive. Default: `defaults::MQTT_KEEP_ALIVE`.
    pub keep_alive: Option<Spanned<String>>,
    /// Whether DCMD may write tags marked writable. Default: `defaults::MQTT_WRITES`.
    pub writes: Option<Spanned<bool>>,
    /// Store-and-forward log folder. Default: `defaults::MQTT_BUFFER_DIR`.
    pub buffer_dir: Option<Spanned<String>>,
    /// Largest log on disk. Default: `defaults::MQTT_BUFFER_MAX_BYTES`.
    pub buffer_max_bytes: Option<Spanned<i64>>,
    /// Oldest record kept. Default: `defaults::MQTT_BUFFER_MAX_AGE`.
    pub buffer_max_age: Option<Spanned<String>>,
}

/// `[[opcua.user]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawOpcuaUser {
    /// Login name. Required.
    pub name: Option<Spanned<String>>,
    /// argon2id PHC string from `edge-gateway hash-password`. Required.
    pub password_hash: Option<Spanned<String>>,
    /// Whether this user may write writable tags. Default: false.
    pub can_write: Option<Spanned<bool>>,
}

/// `[simulator]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimulator {
    /// Whether `run` starts the simulator beside the gateway. Default: true.
    pub enabled: Option<Spanned<bool>>,
    /// Modbus TCP listen address. Default: `defaults::SIMULATOR_LISTEN`.
    pub listen: Option<Spanned<String>>,
    /// Serial port (or pty) to also serve Modbus RTU on. Default: none.
    pub rtu_port: Option<Spanned<String>>,
    /// Baud rate for `rtu_port`. Default: `defaults::SIMULATOR_RTU_BAUD`.
    pub rtu_baud: Option<Spanned<i64>>,
    /// Register contents and generators. Default: none (every register reads 0).
    #[serde(default)]
    pub register: Vec<Spanned<RawSimRegister>>,
    /// Address ranges answered with a Modbus exception. Default: none.
    #[serde(default)]
    pub exception: Vec<Spanned<RawSimException>>,
}

/// `[[simulator.register]]`: one simulated value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimRegister {
    /// Unit id that holds the value. Default: `defaults::UNIT`.
    pub unit: Option<Spanned<i64>>,
    /// Register kind; not needed with a Modicon address.
    pub kind: Option<Spanned<String>>,
    /// 0-based address (with `kind`) or a Modicon string. Required.
    pub address: Spanned<RawAddress>,
    /// Value type. Default: bool on coils and discrete inputs, else u16.
    #[serde(rename = "type")]
    pub data_type: Option<Spanned<String>>,
    /// Byte/word order. Default: `defaults::ORDER`.
    pub order: Option<Spanned<String>>,
    /// String length in registers. Default: `defaults::SIMULATOR_STRING_LENGTH`.
    pub length: Option<Spanned<i64>>,
    /// Initial or constant value. Default: 0, false or "".
    pub value: Option<Spanned<toml::Value>>,
    /// constant | ramp | sine | counter | `random_walk` | toggle. Default: constant.
    pub generator: Option<Spanned<String>>,
    /// Lower bound of ramp, sine and `random_walk`. Default: `defaults::SIMULATOR_MIN`.
    pub min: Option<Spanned<f64>>,
    /// Upper bound of ramp, sine and `random_walk`. Default: `defaults::SIMULATOR_MAX`.
    pub max: Option<Spanned<f64>>,
    /// Period of ramp, sine, counter and toggle. Default: `defaults::SIMULATOR_PERIOD`.
    pub period: Option<Spanned<String>>,
    /// Step of counter and `random_walk`. Default: `defaults::SIMULATOR_STEP`.
    pub step: Option<Spanned<f64>>,
}

/// `[[simulator.exception]]`: a range the simulator refuses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSimException {
    /// Unit id that answers with the exception. Default: `defaults::UNIT`.
    pub unit: Option<Spanned<i64>>,
    /// Register kind of the range. Required.
    pub kind: Spanned<String>,
    /// First 0-based address of the range. Required.
    pub start: Spanned<i64>,
    /// Addresses in the range. Default: 1.
    pub count: Option<Spanned<i64>>,
    /// Exception code answered. Default: `defaults::SIMULATOR_EXCEPTION_CODE`.
    pub code: Option<Spanned<i64>>,
}

/// `[[device]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDevice {
    /// Device name: folder in OPC UA, `device` label in metrics. Required.
    pub name: Option<Spanned<String>>,
    /// "tcp" or "rtu". Required.
    pub protocol: Option<Spanned<String>>,
    /// tcp: "address:port"; the port defaults to `defaults::MODBUS_PORT`. Required for tcp.
    pub host: Option<Spanned<String>>,
    /// rtu: serial device, best a /dev/serial/by-id/ path. Required for rtu.
    pub port: Option<Spanned<String>>,
    /// rtu: baud rate. Default: `defaults::BAUD`.
    pub baud: Option<Spanned<i64>>,
    /// rtu: "none", "even" or "odd". Default: `defaults::PARITY`.
    pub parity: Option<Spanned<String>>,
    /// rtu: 1 or 2. Default: `defaults::STOP_BITS`.
    pub stop_bits: Option<Spanned<i64>>,
    /// rtu: 7 or 8. Default: `defaults::DATA_BITS`.
    pub data_bits: Option<Spanned<i64>>,
    /// Unit id (slave address). Default: `defaults::UNIT`.
    pub unit: Option<Spanned<i64>>,
    /// Poll interval. Default: `defaults::POLL`.
    pub poll: Option<Spanned<String>>,
    /// Per-request timeout. Default: `defaults::TIMEOUT`.
    pub timeout: Option<Spanned<String>>,
    /// Extra attempts after a timeout or link error. Default: `defaults::RETRIES`.
    pub retries: Option<Spanned<i64>>,
    /// Default byte/word order of the device's tags. Default: `defaults::ORDER`.
    pub order: Option<Spanned<String>>,
    /// Registers a block may read through to join two tags. Default: `defaults::MAX_GAP`.
    pub max_gap: Option<Spanned<i64>>,
    /// Registers per request. Default: `defaults::MAX_BLOCK`.
    pub max_block: Option<Spanned<i64>>,
    /// How long a value stays uncertain after polls fail. Default: `defaults::STALE_AFTER_POLLS` × poll.
    pub stale_after: Option<Spanned<String>>,
    /// Quiet time after a connect. Default: `defaults::PAUSE_AFTER_CONNECT`.
    pub pause_after_connect: Option<Spanned<String>>,
    /// Quiet time between two requests. Default: `defaults::PAUSE_BETWEEN_REQUESTS`.
    pub pause_between_requests: Option<Spanned<String>>,
    /// rtu: timeouts in a row before the slave is demoted. Default: `defaults::DEMOTE_AFTER`.
    pub demote_after: Option<Spanned<i64>>,
    /// Clean cycles before split blocks are tried whole again. Default: `defaults::MERGE_AFTER`.
    pub merge_after: Option<Spanned<i64>>,
    /// rtu: how long a demoted slave is skipped. Default: `defaults::DEMOTE_FOR`.
    pub demote_for: Option<Spanned<String>>,
    /// First reconnect delay. Default: `defaults::BACKOFF_MIN`.
    pub backoff_min: Option<Spanned<String>>,
    /// Longest reconnect delay. Default: `defaults::BACKOFF_MAX`.
    pub backoff_max: Option<Spanned<String>>,
    /// The device's tags. Default: none (the device is not polled).
    #[serde(default)]
    pub tag: Vec<Spanned<RawTag>>,
}

/// `[[device.tag]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTag {
    /// Tag name, unique within its device. Required.
    pub name: Option<Spanned<String>>,
    /// coil, discrete, input or holding; not needed with a Modicon address.
    pub kind: Option<Spanned<String>>,
    /// 0-based address (with `kind`) or a Modicon string ("40001"). Required.
    pub address: Option<Spanned<RawAddress>>,
    /// Value type. Default: bool on coils and discrete inputs; required on registers.
    #[serde(rename = "type")]
    pub data_type: Option<Spanned<String>>,
    /// Byte/word order. Default: the device's `order`.
    pub order: Option<Spanned<String>>,
    /// Bit 0..=15 of a register, for a bool. Default: none.
    pub bit: Option<Spanned<i64>>,
    /// String length in registers. Required for strings.
    pub length: Option<Spanned<i64>>,
    /// Multiplier: value × scale + offset. Default: none (unscaled).
    pub scale: Option<Spanned<f64>>,
    /// Added after scaling. Default: 0.
    pub offset: Option<Spanned<f64>>,
    /// Engineering unit, e.g. "V". Default: none.
    pub unit: Option<Spanned<String>>,
    /// Free text shown to clients. Default: none.
    pub description: Option<Spanned<String>>,
    /// Whether clients allowed to write may write it. Default: false.
    pub writable: Option<Spanned<bool>>,
    /// Smallest change that counts as a change. Default: none (every change).
    pub deadband: Option<Spanned<f64>>,
    /// Engineering range `[min, max]` (OPC UA `EURange`). Default: none.
    pub range: Option<Spanned<Vec<f64>>>,
}

/// An address as written: a 0-based number, or a Modicon-style string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawAddress {
    Number(i64),
    Modicon(String),
}

impl<'de> Deserialize<'de> for RawAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = RawAddress;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    r#"a 0-based register number (0) or a Modicon address string ("40001")"#,
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawAddress, E> {
                Ok(RawAddress::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawAddress, E> {
                Ok(RawAddress::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawAddress, E> {
                Ok(RawAddress::Modicon(v.to_owned()))
            }
        }
        d.deserialize_any(Visitor)
    }
}
