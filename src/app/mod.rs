//! What the CLI commands do, one file per command (as mini-redis's `cmd/`);
//! `main.rs` only parses arguments and calls these.
//!
//! - `run`: the gateway itself, with the systemd supervisor and the SIGHUP config check
//! - `check`: the poll plan and the estimated load of every serial bus
//! - `simulate`: only the built-in Modbus simulator
//! - `read`: one Modbus read, decoded, for commissioning
//! - `pki`: list, trust and reject OPC UA client certificates
//! - `hash_password`: a password hash for `[[opcua.user]]`
//!
//! `memory` keeps the heap freed at start-up out of the daemon's resident set.
//!
//! Exit codes are part of the CLI contract and named here, beside the commands
//! that cause them.

use std::net::SocketAddr;

pub mod check;
pub mod hash_password;
pub mod memory;
pub mod pki;
pub mod read;
pub mod run;
pub mod simulate;

/// Exit code for any error not named below (a port in use, a failed `read`).
pub const EXIT_ERROR: u8 = 1;
/// Threads of tokio's blocking pool (/metrics rendering, password checks,
/// key generation). Tokio's default is 512: a burst of logins could spawn
/// hundreds of argon2 threads, each with its memory; the systemd unit's
/// `TasksMax=` counts on this bound.
pub const MAX_BLOCKING_THREADS: usize = 16;
/// Most runtime worker threads (one per core, up to this).
pub const MAX_WORKER_THREADS: usize = 8;
/// Exit code when the config is refused: invalid, or the file cannot be read.
pub const EXIT_CONFIG_REFUSED: u8 = 2;
/// Exit code of `check` when a serial bus is estimated above 100 % load.
pub const EXIT_BUS_OVERLOADED: u8 = 3;

/// A failure of `run` or `simulate` after the config was accepted.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulator could not be built or could not listen.
    #[error(transparent)]
    Simulator(#[from] crate::sim::SimError),
    /// The HTTP listener could not be bound.
    #[error("cannot serve HTTP on {addr}")]
    Http {
        /// The configured `[http] listen`.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// `simulate` with a config that has nothing to simulate.
    #[error("the config has no [simulator] section")]
    NoSimulator,
    /// The OPC UA server could not start.
    #[error(transparent)]
    Opcua(#[from] crate::opcua::OpcuaError),
    /// The Sparkplug edge node could not start.
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::MqttError),
}
