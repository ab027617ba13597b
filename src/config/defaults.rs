//! Every config default, named once.
//!
//! The field docs in `raw.rs` quote these names; validation, the bus and the
//! CLI use them instead of literals, so a default changes in one place.

use std::time::Duration;

use super::{Parity, Security};
use crate::modbus::protocol::MAX_READ_REGISTERS;
use crate::tags::WordOrder;

/// `[gateway] name`.
pub const GATEWAY_NAME: &str = "edge-gateway";

/// `[http] listen`.
pub const HTTP_LISTEN: &str = "127.0.0.1:9898";
/// `[http] metrics_tag_values`.
pub const METRICS_TAG_VALUES: bool = true;
/// `[http] ready_grace`.
pub const READY_GRACE: Duration = Duration::from_secs(30);
/// `[http] max_connections`: scrapers, health checks and API clients at once.
pub const HTTP_MAX_CONNECTIONS: usize = 256;
/// `[http] idle_timeout`: a connection silent this long (a keep-alive with no
/// next request, a client that stopped reading) is closed.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The Modbus TCP port when `host` names none (Modbus/TCP, §4.1: port 502).
pub const MODBUS_PORT: u16 = 502;
/// `baud` of an RTU device.
pub const BAUD: u32 = 19_200;
/// `parity` of an RTU device (the Modbus serial line default, §2.5.1).
pub const PARITY: Parity = Parity::Even;
/// `stop_bits` of an RTU device.
pub const STOP_BITS: u8 = 1;
/// `data_bits` of an RTU device.
pub const DATA_BITS: u8 = 8;
/// `unit` (slave address).
pub const UNIT: u8 = 1;
/// `poll`.
pub const POLL: Duration = Duration::from_secs(1);
/// `timeout`, per request.
pub const TIMEOUT: Duration = Duration::from_millis(500);
/// `retries` after a timeout or a link error, within one cycle.
pub const RETRIES: u32 = 1;
/// `order` of multi-register values (big-endian, the Modbus default).
pub const ORDER: WordOrder = WordOrder::Abcd;
/// `max_gap`: registers a block may read through to join two tags.
pub const MAX_GAP: u16 = 8;
/// `max_block`: registers per request.
pub const MAX_BLOCK: u16 = MAX_READ_REGISTERS;
/// `stale_after` = this many polls.
pub const STALE_AFTER_POLLS: u32 = 3;
/// `pause_after_connect`.
pub const PAUSE_AFTER_CONNECT: Duration = Duration::ZERO;
/// `pause_between_requests`.
pub const PAUSE_BETWEEN_REQUESTS: Duration = Duration::ZERO;
/// `demote_after`: consecutive timeouts before an RTU slave is demoted.
pub const DEMOTE_AFTER: u32 = 3;
/// `merge_after`: clean cycles after which blocks split by exception 02 are
/// tried whole again (a PLC that was still booting has mapped them since).
pub const MERGE_AFTER: u32 = 10;
/// `demote_for`: how long a demoted slave is skipped.
pub const DEMOTE_FOR: Duration = Duration::from_secs(30);
/// `backoff_min`: first reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// `backoff_max`: longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// `[simulator] listen`.
pub const SIMULATOR_LISTEN: &str = "127.0.0.1:5020";
/// `[simulator] rtu_baud`.
pub const SIMULATOR_RTU_BAUD: u32 = BAUD;
/// `[[simulator.register]] length` of a string.
pub const SIMULATOR_STRING_LENGTH: u16 = 8;
/// `[[simulator.register]] min`.
pub const SIMULATOR_MIN: f64 = 0.0;
/// `[[simulator.register]] max`.
pub const SIMULATOR_MAX: f64 = 100.0;
/// `[[simulator.register]] step`.
pub const SIMULATOR_STEP: f64 = 1.0;
/// `[[simulator.register]] period`.
pub const SIMULATOR_PERIOD: Duration = Duration::from_secs(10);
/// `[[simulator.exception]] code` (02, illegal data address).
pub const SIMULATOR_EXCEPTION_CODE: u8 = 2;

/// `[opcua] listen`.
pub const OPCUA_LISTEN: &str = "0.0.0.0:4840";
/// `[opcua] pki_dir`.
pub const OPCUA_PKI_DIR: &str = "pki";
/// `[opcua] security`: encrypted endpoints only.
pub const OPCUA_SECURITY: [Security; 2] = [
    Security::Basic256Sha256SignEncrypt,
    Security::Aes256Sha256RsaPssSignEncrypt,
];
/// `[opcua] anonymous = "read"`: off unless asked for (secure by default).
pub const OPCUA_ANONYMOUS_READ: bool = false;
/// `[opcua] max_sessions`.
pub const OPCUA_MAX_SESSIONS: usize = 20;
/// `[opcua] max_connections`: every session's connection, plus room for
/// clients that only ask for endpoints.
pub const OPCUA_MAX_CONNECTIONS: usize = 50;
/// `[opcua] max_subscriptions_per_session`.
pub const OPCUA_MAX_SUBSCRIPTIONS_PER_SESSION: usize = 5;
/// `[opcua] max_message_size`, in bytes.
pub const OPCUA_MAX_MESSAGE_SIZE: usize = 4 * 1024 * 1024;
/// `[opcua] min_publishing_interval`.
pub const OPCUA_MIN_PUBLISHING_INTERVAL: Duration = Duration::from_millis(50);
/// `[opcua] max_write_time`: the longest one Write request may take, whatever
/// the client's timeoutHint.
pub const OPCUA_MAX_WRITE_TIME: Duration = Duration::from_secs(10);
/// `[opcua] min_sampling_interval`.
pub const OPCUA_MIN_SAMPLING_INTERVAL: Duration = Duration::from_millis(50);

/// The MQTT port of an `mqtt://` broker URL without one.
pub const MQTT_PORT: u16 = 1883;
/// The MQTT port of an `mqtts://` broker URL without one.
pub const MQTTS_PORT: u16 = 8883;
/// `[mqtt] keep_alive`.
pub const MQTT_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// `[mqtt] writes`: DCMD writes nothing unless asked to (secure by default).
pub const MQTT_WRITES: bool = false;
/// `[mqtt] buffer_dir`, inside the state directory.
pub const MQTT_BUFFER_DIR: &str = "buffer";
/// `[mqtt] buffer_max_bytes`: 256 MiB.
pub const MQTT_BUFFER_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// `[mqtt] buffer_max_age`: a week of outage.
pub const MQTT_BUFFER_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
