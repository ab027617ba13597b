//! edge-gateway: polls Modbus TCP/RTU devices into one tag model and serves it northbound.
//!
//! # Layout
//!
//! Data flows down this list; a module uses only those above it, except that
//! the northbound faces (`opcua`, `mqtt`, `http`) write through `engine`, and none of
//! them imports another face.
//!
//! - [`config`]: gateway.toml, parsed (`raw`) and validated (`validate/`) into a
//!   typed `Config`; every default named in `defaults`; every problem located.
//! - [`tags`]: the tag model, the quality rules and the `TagStore` with its
//!   change tracking; `DeviceId` and `TagId`. Knows no northbound protocol.
//! - [`modbus`]: the Modbus vocabulary (`protocol`), the codec and the block
//!   planner (pure), one connection (`link`), and the bus tasks (`bus/`) with
//!   their request counters.
//! - [`write`](mod@write): the write error every face maps to its own status.
//! - [`engine`]: builds the store, the counters and the bus tasks from a
//!   `Config`; the one write entry point.
//! - [`health`], [`systemd`]: liveness and readiness from bus heartbeats; `sd_notify`.
//! - [`opcua`]: the OPC UA server over the store; [`mqtt`]: the Sparkplug B
//!   edge node; [`http`]: `/metrics`, health probes and the JSON API.
//! - [`sim`]: the built-in Modbus simulator, the demo default and the test peer.
//! - [`app`]: one file per CLI command; `main.rs` only parses arguments.
//! - [`lock`]: the one poison-tolerant mutex lock; [`append`]: the append-only
//!   vector the store, the counters and the bus heartbeats grow in on a reload.

pub mod app;
pub mod append;
pub mod config;
pub mod engine;
pub mod health;
pub mod http;
pub mod lock;
pub mod modbus;
pub mod mqtt;
pub mod opcua;
pub mod sim;
pub mod systemd;
pub mod tags;
pub mod write;
