//! Raw serde structs for gateway.toml: the file exactly as written, with spans.
//!
//! Nothing here is validated beyond TOML syntax and key names; `deny_unknown_fields`
//! on every table makes a typo an error instead of a silently ignored setting.
//! Fields keep their spans so that validation can point at file:line:column.

use serde::{Deserialize, Deserializer, de};
use toml::Spanned;

/// Top level of gateway.toml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// `[gateway]`: identity of this gateway.
    pub gateway: Option<RawGateway>,
    /// `[simulator]`: built-in Modbus device(s).
    pub simulator: Option<Spanned<RawSimulator>>,
    /// `[http]`: health and JSON API listener.
    pub http: Option<RawHttp>,
    /// `[opcua]`: the OPC UA server.
    pub opcua: Option<Spanned<RawOpcua>>,
    /// `[[device]]`: the devices to poll.
    #[serde(default)]
    pub device: Vec<Spanned<RawDevice>>,
}

/// `[gateway]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// Root folder name in OPC UA and `gateway` label in metrics.
    pub name: Option<Spanned<String>>,
}

/// `[http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Socket address for /metrics, /healthz, /readyz and /api/*.
    pub listen: Option<Spanned<String>>,
    /// Whether /metrics exports a series per tag.
    pub metrics_tag_values: Option<Spanned<bool>>,
    /// How long /readyz waits for every device's first poll before it reports ready anyway.
    pub ready_grace: Option<Spanned<String>>,
}

/// `[opcua]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpcua {
    /// Whether the server runs (default true when the section exists).
    pub enabled: Option<Spanned<bool>>,
    /// Socket address to bind.
    pub listen: Option<Spanned<String>>,
    /// Host name put in endpoint URLs; default: the machine's host name.
    pub hostname: Option<Spanned<String>>,
    /// Own certificate, trusted/ and rejected/ client certificates.
    pub pki_dir: Option<Spanned<String>>,
    /// Endpoints offered.
    pub security: Option<Spanned<Vec<Spanned<String>>>>,
    /// "off" or "read".
    pub anonymous: Option<Spanned<String>>,
    /// Users for username/password logins.
    #[serde(default)]
    pub user: Vec<Spanned<RawOpcuaUser>>,
    pub max_sessions: Option<Spanned<i64>>,
    pub max_subscriptions_per_session: Option<Spanned<i64>>,
    pub max_monitored_items: Option<Spanned<i64>>,
    pub max_message_size: Option<Spanned<i64>>,
    pub max_chunk_count: Option<Spanned<i64>>,
    pub min_publishing_interval: Option<Spanned<String>>,
    pub min_sampling_interval: Option<Spanned<String>>,
}

/// `[[opcua.user]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOpcuaUser {
    pub name: Option<Spanned<String>>,
    /// argon2id PHC string from `edge-gateway hash-password`.
    pub password_hash: Option<Spanned<String>>,
    pub can_write: Option<Spanned<bool>>,
}

/// `[simulator]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimulator {
    /// Whether `run` starts the simulator beside the gateway.
    pub enabled: Option<Spanned<bool>>,
    /// Modbus TCP listen address.
    pub listen: Option<Spanned<String>>,
    /// Optional serial port (or pty) to also serve Modbus RTU on.
    pub rtu_port: Option<Spanned<String>>,
    /// Baud rate for `rtu_port`.
    pub rtu_baud: Option<Spanned<i64>>,
    /// Register contents and generators.
    #[serde(default)]
    pub register: Vec<Spanned<RawSimRegister>>,
    /// Address ranges answered with a Modbus exception.
    #[serde(default)]
    pub exception: Vec<Spanned<RawSimException>>,
}

/// `[[simulator.register]]`: one simulated value.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimRegister {
    pub unit: Option<Spanned<i64>>,
    pub kind: Option<Spanned<String>>,
    pub address: Spanned<RawAddress>,
    #[serde(rename = "type")]
    pub data_type: Option<Spanned<String>>,
    pub order: Option<Spanned<String>>,
    pub length: Option<Spanned<i64>>,
    /// Initial or constant value.
    pub value: Option<Spanned<toml::Value>>,
    /// constant | ramp | sine | counter | random_walk | toggle
    pub generator: Option<Spanned<String>>,
    pub min: Option<Spanned<f64>>,
    pub max: Option<Spanned<f64>>,
    pub period: Option<Spanned<String>>,
    pub step: Option<Spanned<f64>>,
}

/// `[[simulator.exception]]`: a range the simulator refuses.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimException {
    pub unit: Option<Spanned<i64>>,
    pub kind: Spanned<String>,
    pub start: Spanned<i64>,
    pub count: Option<Spanned<i64>>,
    pub code: Option<Spanned<i64>>,
}

/// `[[device]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub name: Option<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<String>>,
    pub baud: Option<Spanned<i64>>,
    pub parity: Option<Spanned<String>>,
    pub stop_bits: Option<Spanned<i64>>,
    pub data_bits: Option<Spanned<i64>>,
    pub unit: Option<Spanned<i64>>,
    pub poll: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub retries: Option<Spanned<i64>>,
    pub order: Option<Spanned<String>>,
    pub max_gap: Option<Spanned<i64>>,
    pub max_block: Option<Spanned<i64>>,
    pub stale_after: Option<Spanned<String>>,
    pub pause_after_connect: Option<Spanned<String>>,
    pub pause_between_requests: Option<Spanned<String>>,
    pub demote_after: Option<Spanned<i64>>,
    pub demote_for: Option<Spanned<String>>,
    pub backoff_min: Option<Spanned<String>>,
    pub backoff_max: Option<Spanned<String>>,
    #[serde(default)]
    pub tag: Vec<Spanned<RawTag>>,
}

/// `[[device.tag]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTag {
    pub name: Option<Spanned<String>>,
    pub kind: Option<Spanned<String>>,
    pub address: Option<Spanned<RawAddress>>,
    #[serde(rename = "type")]
    pub data_type: Option<Spanned<String>>,
    pub order: Option<Spanned<String>>,
    pub bit: Option<Spanned<i64>>,
    pub length: Option<Spanned<i64>>,
    pub scale: Option<Spanned<f64>>,
    pub offset: Option<Spanned<f64>>,
    pub unit: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    pub writable: Option<Spanned<bool>>,
    pub deadband: Option<Spanned<f64>>,
    /// Engineering range `[min, max]` (OPC UA EURange).
    pub range: Option<Spanned<Vec<f64>>>,
}

/// An address as written: a 0-based number, or a Modicon-style string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawAddress {
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
