//! The built-in Modbus simulator: the demo's stand-in for hardware and the test peer.
//!
//! It serves every configured unit id from its own four tables over Modbus TCP
//! and, optionally, Modbus RTU on a serial port or pty, using tokio-modbus's
//! server. Generators move values on a 100 ms tick so the demo shows live data.
//! Faults (delay, silence, exception ranges, stop/start of the TCP server) are
//! switched at run time through the `Simulator` handle, which the tests use.
//!
//! Layout: `tables` holds the unit tables, `generators` animates them,
//! `faults` decides whether and when a request is answered, and `service`
//! answers it. This file is the handle: it owns the servers' tasks, and
//! dropping it stops them all.
//!
//! Locks are never held across an await, and never two at once: each of
//! `state`, `faults` and `requests` is taken and released on its own.

mod faults;
mod generators;
mod service;
mod tables;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::config::SimulatorConfig;
use crate::lock::lock;
use crate::modbus::codec;
use crate::tags::Kind;
use faults::{DelayNext, Faults};
use generators::Generators;
use service::SimService;
use tables::{Tables, write_value};

/// Generators move on this tick.
pub const TICK: Duration = Duration::from_millis(100);

/// The simulated devices: their tables and the generators that move them.
struct State {
    units: HashMap<u8, Tables>,
    generators: Generators,
}

/// What the handle, the ticker and every connection's service share.
struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    /// Requests received per unit id, answered or not.
    requests: Mutex<HashMap<u8, u64>>,
    /// Time zero of the time-based generators.
    started: Instant,
}

/// A running simulator. Dropping it stops every server it runs.
pub struct Simulator {
    shared: Arc<Shared>,
    /// The TCP server: its bound address and its task.
    tcp: Mutex<Option<(SocketAddr, JoinHandle<()>)>>,
    /// The ticker and the RTU servers, aborted on drop.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator").finish_non_exhaustive()
    }
}

/// A simulator that could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("simulator register unit {unit} {kind} {address}")]
    Value {
        unit: u8,
        kind: &'static str,
        address: u16,
        source: codec::CodecError,
    },
    #[error("simulator cannot listen on {addr}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("simulator cannot open serial port {port}")]
    Serial {
        port: String,
        source: tokio_serial::Error,
    },
}

impl Simulator {
    /// Build the tables from the config (no server yet). Must run inside a tokio runtime.
    pub fn new(config: &SimulatorConfig) -> Result<Arc<Simulator>, SimError> {
        let mut units: HashMap<u8, Tables> = HashMap::new();
        let mut generators = Generators::new();
        for r in &config.registers {
            let tables = units.entry(r.unit).or_insert_with(Tables::new);
            write_value(tables, r.kind, r.address, &r.initial, &r.encoding).map_err(|source| {
                SimError::Value {
                    unit: r.unit,
                    kind: r.kind.as_str(),
                    address: r.address,
                    source,
                }
            })?;
            generators.add(r);
        }
        // A unit with only exception ranges is still served (and answers them).
        for e in &config.exceptions {
            units.entry(e.unit).or_insert_with(Tables::new);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State { units, generators }),
            faults: Mutex::new(Faults::new(config.exceptions.clone())),
            requests: Mutex::new(HashMap::new()),
            started: Instant::now(),
        });
        let sim = Arc::new(Simulator {
            shared: shared.clone(),
            tcp: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
        });
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tick.tick().await;
                shared.tick();
            }
        });
        lock(&sim.tasks).push(ticker);
        Ok(sim)
    }

    /// Serve Modbus TCP on `addr` (port 0 picks a free one); returns the bound address.
    pub async fn start_tcp(&self, addr: SocketAddr) -> Result<SocketAddr, SimError> {
        self.stop_tcp();
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Listen { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| SimError::Listen { addr, source })?;
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let server = tokio_modbus::server::tcp::Server::new(listener);
            let on_connected = |stream: tokio::net::TcpStream, _peer: SocketAddr| {
                let _ = stream.set_nodelay(true);
                let service = SimService {
                    shared: shared.clone(),
                    rtu: false,
                };
                async move { Ok(Some((service, stream))) }
            };
            if let Err(e) = server
                .serve(
                    &on_connected,
                    |e| tracing::debug!(error = %e, "simulator connection ended"),
                )
                .await
            {
                tracing::warn!(error = %e, "simulator TCP server stopped");
            }
        });
        *lock(&self.tcp) = Some((bound, task));
        tracing::info!(listen = %bound, "simulator serving Modbus TCP");
        Ok(bound)
    }

    /// Stop serving TCP: the listener closes and every open connection is dropped.
    pub fn stop_tcp(&self) {
        if let Some((_, task)) = lock(&self.tcp).take() {
            task.abort();
        }
    }

    /// Serve Modbus RTU on an open serial stream (one end of a pty pair in tests).
    pub fn serve_rtu_stream(&self, stream: SerialStream) {
        let service = SimService {
            shared: self.shared.clone(),
            rtu: true,
        };
        let task = tokio::spawn(async move {
            if let Err(e) = tokio_modbus::server::rtu::Server::new(stream)
                .serve_forever(service)
                .await
            {
                tracing::warn!(error = %e, "simulator RTU server stopped");
            }
        });
        lock(&self.tasks).push(task);
    }

    /// Serve Modbus RTU on a serial port by path.
    pub fn serve_rtu_port(&self, port: &str, baud: u32) -> Result<(), SimError> {
        let stream = tokio_serial::new(port, baud)
            .open_native_async()
            .map_err(|source| SimError::Serial {
                port: port.to_owned(),
                source,
            })?;
        self.serve_rtu_stream(stream);
        tracing::info!(port, baud, "simulator serving Modbus RTU");
        Ok(())
    }

    /// Stop answering (one unit, or all with `None`): the device goes silent.
    pub fn set_silent(&self, unit: Option<u8>, silent: bool) {
        lock(&self.shared.faults).unit_mut(unit).silent = silent;
    }

    /// Answer every request this late.
    pub fn set_delay(&self, unit: Option<u8>, delay: Duration) {
        lock(&self.shared.faults).unit_mut(unit).delay = delay;
    }

    /// Let the next `skip` requests pass, then answer `n` requests this late.
    pub fn delay_next(&self, unit: Option<u8>, skip: u32, n: u32, delay: Duration) {
        lock(&self.shared.faults).unit_mut(unit).delay_next = Some(DelayNext { skip, n, delay });
    }

    /// Requests received for a unit so far.
    pub fn requests(&self, unit: u8) -> u64 {
        lock(&self.shared.requests).get(&unit).copied().unwrap_or(0)
    }

    /// Read one register or bit (bits as 0/1).
    pub fn get_raw(&self, unit: u8, kind: Kind, address: u16) -> Option<u16> {
        lock(&self.shared.state)
            .units
            .get_mut(&unit)?
            .get_raw(kind, address)
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.stop_tcp();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

impl Shared {
    /// One generator tick.
    fn tick(&self) {
        let t = self.started.elapsed().as_secs_f64();
        let mut state = lock(&self.state);
        let State { units, generators } = &mut *state;
        generators.tick(units, t);
    }
}
