//! edge-gateway: polls Modbus TCP/RTU devices into one tag model and serves it northbound.
//!
//! The module map follows DESIGN.md: `config` → `modbus::plan` → `modbus::bus`
//! tasks → `tags::TagStore` → `http` (and later OPC UA and metrics).

pub mod app;
pub mod config;
pub mod engine;
pub mod health;
pub mod http;
pub mod lock;
pub mod modbus;
pub mod opcua;
pub mod sim;
pub mod systemd;
pub mod tags;
pub mod write;
