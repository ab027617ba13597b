//! The built-in Modbus simulator: the demo's stand-in for hardware and the test peer.
//!
//! It serves every configured unit id from its own four tables over Modbus TCP
//! and, optionally, Modbus RTU on a serial port or pty, using tokio-modbus's
//! server. Generators move values on a 100 ms tick so the demo shows live data.
//! Faults (delay, silence, exception ranges, dropped connections, stop/start)
//! are switched at run time through the `Simulator` API, which the tests use.
//!
//! A unit id the simulator does not serve gets exception 0x0B over TCP (what a
//! Modbus gateway answers for an absent target) and silence over RTU (what an
//! absent slave does on a real line).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::Service;
use tokio_serial::{SerialPortBuilderExt, SerialStream};

use crate::config::{Generator, SimException, SimRegister, SimulatorConfig};
use crate::modbus::backoff::splitmix64;
use crate::modbus::codec::{self, Encoding};
use crate::tags::{Kind, Value};

/// Generators move on this tick.
pub const TICK: Duration = Duration::from_millis(100);
/// Registers per read request (Modbus application protocol §6.3).
const MAX_READ_REGISTERS: u16 = 125;
/// Bits per read request (§6.1).
const MAX_READ_BITS: u16 = 2000;
/// Exception code a gateway answers for an absent target device.
const GATEWAY_TARGET_FAILED: u8 = 0x0B;

/// The four tables of one unit id, full size so any address can be read.
struct Tables {
    coils: Vec<bool>,
    discrete: Vec<bool>,
    input: Vec<u16>,
    holding: Vec<u16>,
}

impl Tables {
    fn new() -> Self {
        let n = 65_536;
        Tables {
            coils: vec![false; n],
            discrete: vec![false; n],
            input: vec![0; n],
            holding: vec![0; n],
        }
    }

    fn words_mut(&mut self, kind: Kind) -> Option<&mut Vec<u16>> {
        match kind {
            Kind::Input => Some(&mut self.input),
            Kind::Holding => Some(&mut self.holding),
            _ => None,
        }
    }

    fn bits_mut(&mut self, kind: Kind) -> Option<&mut Vec<bool>> {
        match kind {
            Kind::Coil => Some(&mut self.coils),
            Kind::Discrete => Some(&mut self.discrete),
            _ => None,
        }
    }
}

/// Faults that apply to one unit (or to all, as the default).
#[derive(Debug, Clone, Default)]
struct UnitFaults {
    /// Never answer.
    silent: bool,
    /// Answer every request this late.
    delay: Duration,
    /// Let `skip` requests pass, then answer `n` requests this late.
    delay_next: Option<DelayNext>,
}

#[derive(Debug, Clone, Copy)]
struct DelayNext {
    skip: u32,
    n: u32,
    delay: Duration,
}

#[derive(Default)]
struct Faults {
    all: UnitFaults,
    units: HashMap<u8, UnitFaults>,
    exceptions: Vec<SimException>,
}

struct State {
    units: HashMap<u8, Tables>,
    generators: Vec<(SimRegister, f64)>,
    rng: u64,
}

struct Shared {
    state: Mutex<State>,
    faults: Mutex<Faults>,
    requests: Mutex<HashMap<u8, u64>>,
    connections: AtomicU64,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A running simulator. Dropping it stops every server it runs.
pub struct Simulator {
    shared: Arc<Shared>,
    tcp: Mutex<Option<(SocketAddr, JoinHandle<()>)>>,
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
        let mut generators = Vec::new();
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
            if r.generator != Generator::Constant {
                let start = r.initial.as_f64().unwrap_or(0.0);
                generators.push((r.clone(), start));
            }
        }
        for e in &config.exceptions {
            units.entry(e.unit).or_insert_with(Tables::new);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                units,
                generators,
                rng: 0x5EED,
            }),
            faults: Mutex::new(Faults {
                exceptions: config.exceptions.clone(),
                ..Faults::default()
            }),
            requests: Mutex::new(HashMap::new()),
            connections: AtomicU64::new(0),
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
                shared.connections.fetch_add(1, Ordering::Relaxed);
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

    /// Drop every open TCP connection but keep listening (a device that resets its sockets).
    pub async fn drop_connections(&self) -> Result<(), SimError> {
        let addr = lock(&self.tcp).as_ref().map(|(a, _)| *a);
        if let Some(addr) = addr {
            self.stop_tcp();
            // The abort completes at the task's next await; yield so the socket is really closed.
            tokio::task::yield_now().await;
            self.start_tcp(addr).await?;
        }
        Ok(())
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

    fn with_faults(&self, unit: Option<u8>, f: impl FnOnce(&mut UnitFaults)) {
        let mut faults = lock(&self.shared.faults);
        match unit {
            Some(u) => f(faults.units.entry(u).or_default()),
            None => f(&mut faults.all),
        }
    }

    /// Stop answering (one unit, or all with `None`): the device goes silent.
    pub fn set_silent(&self, unit: Option<u8>, silent: bool) {
        self.with_faults(unit, |f| f.silent = silent);
    }

    /// Answer every request this late.
    pub fn set_delay(&self, unit: Option<u8>, delay: Duration) {
        self.with_faults(unit, |f| f.delay = delay);
    }

    /// Let the next `skip` requests pass, then answer `n` requests this late.
    pub fn delay_next(&self, unit: Option<u8>, skip: u32, n: u32, delay: Duration) {
        self.with_faults(unit, |f| f.delay_next = Some(DelayNext { skip, n, delay }));
    }

    /// Answer requests touching this range with an exception.
    pub fn add_exception(&self, e: SimException) {
        lock(&self.shared.faults).exceptions.push(e);
    }

    /// Remove every fault set at run time, and the configured exception ranges.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// Requests received for a unit so far.
    pub fn requests(&self, unit: u8) -> u64 {
        lock(&self.shared.requests).get(&unit).copied().unwrap_or(0)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// Set one register or bit (bits: nonzero = on).
    pub fn set_raw(&self, unit: u8, kind: Kind, address: u16, value: u16) {
        let mut state = lock(&self.shared.state);
        let tables = state.units.entry(unit).or_insert_with(Tables::new);
        let a = usize::from(address);
        if let Some(slot) = tables.words_mut(kind).and_then(|w| w.get_mut(a)) {
            *slot = value;
        }
        if let Some(slot) = tables.bits_mut(kind).and_then(|b| b.get_mut(a)) {
            *slot = value != 0;
        }
    }

    /// Read one register or bit (bits as 0/1).
    pub fn get_raw(&self, unit: u8, kind: Kind, address: u16) -> Option<u16> {
        let mut state = lock(&self.shared.state);
        let tables = state.units.get_mut(&unit)?;
        let a = usize::from(address);
        if let Some(w) = tables.words_mut(kind) {
            return w.get(a).copied();
        }
        tables
            .bits_mut(kind)
            .and_then(|b| b.get(a))
            .map(|b| u16::from(*b))
    }

    /// Store a typed value at an address with an encoding.
    pub fn set_value(
        &self,
        unit: u8,
        kind: Kind,
        address: u16,
        value: &Value,
        encoding: &Encoding,
    ) -> Result<(), codec::CodecError> {
        let mut state = lock(&self.shared.state);
        let tables = state.units.entry(unit).or_insert_with(Tables::new);
        write_value(tables, kind, address, value, encoding)
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

fn write_value(
    tables: &mut Tables,
    kind: Kind,
    address: u16,
    value: &Value,
    encoding: &Encoding,
) -> Result<(), codec::CodecError> {
    let a = usize::from(address);
    if let Some(bits) = tables.bits_mut(kind) {
        if let (Some(slot), Value::Bool(b)) = (bits.get_mut(a), value) {
            *slot = *b;
        }
        return Ok(());
    }
    let regs = codec::encode(value, encoding)?;
    if let Some(words) = tables.words_mut(kind) {
        for (slot, r) in words.iter_mut().skip(a).zip(regs) {
            *slot = r;
        }
    }
    Ok(())
}

impl Shared {
    fn tick(&self) {
        let t = self.started.elapsed().as_secs_f64();
        let mut state = lock(&self.state);
        let State {
            units,
            generators,
            rng,
        } = &mut *state;
        for (reg, current) in generators.iter_mut() {
            let value = match reg.generator {
                Generator::Constant => continue,
                Generator::Ramp { min, max, period } => {
                    min + (max - min) * ((t / period.as_secs_f64().max(1e-3)) % 1.0)
                }
                Generator::Sine { min, max, period } => {
                    let phase = std::f64::consts::TAU * t / period.as_secs_f64().max(1e-3);
                    min + (max - min) * (0.5 + 0.5 * phase.sin())
                }
                Generator::Counter { step, period } => {
                    let ticks = (period.as_secs_f64() / TICK.as_secs_f64()).max(1.0);
                    *current += step / ticks;
                    *current
                }
                Generator::RandomWalk { min, max, step } => {
                    let r = (splitmix64(rng) >> 11) as f64 / (1u64 << 53) as f64;
                    *current =
                        (*current + step * (2.0 * r - 1.0)).clamp(min.min(max), max.max(min));
                    *current
                }
                Generator::Toggle { period } => {
                    let on = (t / period.as_secs_f64().max(1e-3)) as u64 % 2 == 1;
                    if let Some(tables) = units.get_mut(&reg.unit) {
                        let _ = write_value(
                            tables,
                            reg.kind,
                            reg.address,
                            &Value::Bool(on),
                            &reg.encoding,
                        );
                    }
                    continue;
                }
            };
            let typed = if matches!(
                reg.encoding.data_type,
                crate::tags::DataType::F32 | crate::tags::DataType::F64
            ) {
                Value::F64(value)
            } else {
                Value::F64(value.floor())
            };
            if let Some(tables) = units.get_mut(&reg.unit)
                && write_value(tables, reg.kind, reg.address, &typed, &reg.encoding).is_err()
            {
                // A counter past its type's range wraps to zero, as a device counter does.
                *current = 0.0;
            }
        }
    }

    /// Decide the fault for this request: None = stay silent, else the delay.
    fn fault_for(&self, unit: u8) -> Option<Duration> {
        let mut faults = lock(&self.faults);
        let Faults { all, units, .. } = &mut *faults;
        let mut delay = Duration::ZERO;
        for f in [Some(all), units.get_mut(&unit)].into_iter().flatten() {
            if f.silent {
                return None;
            }
            delay = delay.max(f.delay);
            f.delay_next = match f.delay_next {
                Some(DelayNext {
                    skip: 0,
                    n,
                    delay: d,
                }) => {
                    delay = delay.max(d);
                    n.checked_sub(1).filter(|n| *n > 0).map(|n| DelayNext {
                        skip: 0,
                        n,
                        delay: d,
                    })
                }
                Some(DelayNext { skip, n, delay: d }) => Some(DelayNext {
                    skip: skip - 1,
                    n,
                    delay: d,
                }),
                None => None,
            };
        }
        Some(delay)
    }

    fn exception_for(&self, unit: u8, kind: Kind, start: u16, count: u16) -> Option<u8> {
        let faults = lock(&self.faults);
        let end = u32::from(start) + u32::from(count);
        faults.exceptions.iter().find_map(|e| {
            let e_end = u32::from(e.start) + u32::from(e.count);
            (e.unit == unit
                && e.kind == kind
                && u32::from(e.start) < end
                && u32::from(start) < e_end)
                .then_some(e.code)
        })
    }

    fn answer(&self, unit: u8, request: &Request<'_>) -> Result<Option<Response>, ExceptionCode> {
        let (kind, start, count) = match request {
            Request::ReadCoils(a, n) => (Kind::Coil, *a, *n),
            Request::ReadDiscreteInputs(a, n) => (Kind::Discrete, *a, *n),
            Request::ReadInputRegisters(a, n) => (Kind::Input, *a, *n),
            Request::ReadHoldingRegisters(a, n) => (Kind::Holding, *a, *n),
            Request::WriteSingleCoil(a, _) => (Kind::Coil, *a, 1),
            Request::WriteMultipleCoils(a, v) => {
                (Kind::Coil, *a, u16::try_from(v.len()).unwrap_or(u16::MAX))
            }
            Request::WriteSingleRegister(a, _) => (Kind::Holding, *a, 1),
            Request::WriteMultipleRegisters(a, v) => (
                Kind::Holding,
                *a,
                u16::try_from(v.len()).unwrap_or(u16::MAX),
            ),
            _ => return Err(ExceptionCode::IllegalFunction),
        };
        let limit = if kind.is_bit() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        };
        if count == 0 || count > limit {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if u32::from(start) + u32::from(count) > 65_536 {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        if let Some(code) = self.exception_for(unit, kind, start, count) {
            return Err(ExceptionCode::new(code));
        }
        let mut state = lock(&self.state);
        let Some(tables) = state.units.get_mut(&unit) else {
            return Err(ExceptionCode::new(GATEWAY_TARGET_FAILED));
        };
        let range = usize::from(start)..usize::from(start) + usize::from(count);
        let words = |w: &Vec<u16>| {
            w.get(range.clone())
                .map(<[u16]>::to_vec)
                .unwrap_or_default()
        };
        let bits = |b: &Vec<bool>| {
            b.get(range.clone())
                .map(<[bool]>::to_vec)
                .unwrap_or_default()
        };
        Ok(Some(match request {
            Request::ReadCoils(..) => Response::ReadCoils(bits(&tables.coils)),
            Request::ReadDiscreteInputs(..) => Response::ReadDiscreteInputs(bits(&tables.discrete)),
            Request::ReadInputRegisters(..) => Response::ReadInputRegisters(words(&tables.input)),
            Request::ReadHoldingRegisters(..) => {
                Response::ReadHoldingRegisters(words(&tables.holding))
            }
            Request::WriteSingleCoil(a, v) => {
                if let Some(slot) = tables.coils.get_mut(usize::from(*a)) {
                    *slot = *v;
                }
                Response::WriteSingleCoil(*a, *v)
            }
            Request::WriteMultipleCoils(a, v) => {
                for (slot, b) in tables.coils.iter_mut().skip(usize::from(*a)).zip(v.iter()) {
                    *slot = *b;
                }
                Response::WriteMultipleCoils(*a, count)
            }
            Request::WriteSingleRegister(a, v) => {
                if let Some(slot) = tables.holding.get_mut(usize::from(*a)) {
                    *slot = *v;
                }
                Response::WriteSingleRegister(*a, *v)
            }
            Request::WriteMultipleRegisters(a, v) => {
                for (slot, w) in tables
                    .holding
                    .iter_mut()
                    .skip(usize::from(*a))
                    .zip(v.iter())
                {
                    *slot = *w;
                }
                Response::WriteMultipleRegisters(*a, count)
            }
            _ => return Err(ExceptionCode::IllegalFunction),
        }))
    }
}

/// The tokio-modbus service: one per connection or serial port.
#[derive(Clone)]
struct SimService {
    shared: Arc<Shared>,
    rtu: bool,
}

type SimFuture = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

impl Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = SimFuture;

    fn call(&self, req: Self::Request) -> Self::Future {
        let shared = self.shared.clone();
        let rtu = self.rtu;
        Box::pin(async move {
            let unit = req.slave;
            *lock(&shared.requests).entry(unit).or_default() += 1;
            let Some(delay) = shared.fault_for(unit) else {
                return Ok(None);
            };
            let served: HashSet<u8> = lock(&shared.state).units.keys().copied().collect();
            if rtu && (unit == 0 || !served.contains(&unit)) {
                // Broadcast or an absent slave: nobody answers on a serial line.
                if unit == 0 {
                    for u in served {
                        let _ = shared.answer(u, &req.request);
                    }
                }
                return Ok(None);
            }
            let answer = shared.answer(unit, &req.request);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        })
    }
}
