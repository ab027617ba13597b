//! A bus task: every device behind one TCP endpoint or one serial port.
//!
//! Requests on a bus are serialized; buses run independently, so a dead device
//! on one bus never delays another. Within a bus, devices are polled by
//! deadline; a cycle that overruns is counted and logged once, and the next one
//! starts at once instead of queueing missed cycles.
//!
//! Faults and what they cost:
//! - a device that times out ends its cycle (the remaining blocks are marked
//!   with the same cause), so a dead device costs one timeout (plus retries) per
//!   cycle, not one per block;
//! - on an RTU bus a slave that timed out `demote_after` times in a row is
//!   demoted: skipped for `demote_for`, then probed with one request;
//! - exception 02 (illegal data address) on a multi-tag block splits the block
//!   and retries the halves at once; the split plan is kept for the life of the
//!   process, so one unmapped register never blanks its neighbours;
//! - writes arrive on a channel and jump the poll queue between two requests.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tokio_modbus::prelude::{Request, Response};

use super::codec::{self, CodecError};
use super::link::{Link, LinkError, Reply, Target};
use super::plan::{self, Block, Span};
use crate::config::{Config, DeviceConfig, Transport};
use crate::health::Health;
use crate::tags::{BadCause, Kind, TagId, TagStore, Value};
use crate::telemetry::{DeviceCounters, Function, Outcome};

/// Pending writes a bus queues before `write` answers `Busy`.
pub const WRITE_QUEUE: usize = 64;
/// Modbus exception 02: illegal data address.
const ILLEGAL_DATA_ADDRESS: u8 = 2;
/// Modbus exception 06: server device busy; worth another try.
const DEVICE_BUSY: u8 = 6;

/// A device with its read plan.
#[derive(Debug, Clone)]
pub struct DevicePlan {
    /// Index of the device in the config and the store.
    pub id: usize,
    pub config: DeviceConfig,
    /// Store id of each tag, by tag index within the device.
    pub tag_ids: Vec<TagId>,
    /// Footprint of each tag, by tag index within the device.
    pub spans: Vec<Span>,
    pub blocks: Vec<Block>,
}

impl DevicePlan {
    /// Plan a device whose first tag has store id `first_tag`.
    pub fn new(id: usize, config: DeviceConfig, first_tag: TagId) -> Self {
        let spans: Vec<Span> = config
            .tags
            .iter()
            .enumerate()
            .map(|(index, t)| Span {
                index,
                kind: t.kind,
                address: t.address,
                count: t.count(),
            })
            .collect();
        let blocks = plan::plan(&spans, &config.limits);
        let tag_ids = (0..config.tags.len()).map(|i| first_tag + i).collect();
        DevicePlan {
            id,
            config,
            tag_ids,
            spans,
            blocks,
        }
    }
}

/// Devices sharing one link.
#[derive(Debug, Clone)]
pub struct BusPlan {
    /// `tcp://host:port` or `rtu:///dev/ttyUSB0`.
    pub key: String,
    pub target: Target,
    pub devices: Vec<DevicePlan>,
}

/// Group the config's devices into buses. Tag ids run in config order.
pub fn plan_buses(config: &Config) -> Vec<BusPlan> {
    let mut buses: Vec<BusPlan> = Vec::new();
    let mut next_tag = 0;
    for (id, dev) in config.devices.iter().enumerate() {
        let plan = DevicePlan::new(id, dev.clone(), next_tag);
        next_tag += dev.tags.len();
        let key = match &dev.transport {
            // /dev/serial/by-id/... and /dev/ttyUSB0 may be one port: one bus.
            Transport::Rtu { port, .. } => std::fs::canonicalize(port).map_or_else(
                |_| dev.transport.bus_key(),
                |p| format!("rtu://{}", p.display()),
            ),
            Transport::Tcp { .. } => dev.transport.bus_key(),
        };
        match buses.iter_mut().find(|b| b.key == key) {
            Some(bus) => bus.devices.push(plan),
            None => {
                let target = match &dev.transport {
                    Transport::Tcp { endpoint } => Target::Tcp(endpoint.clone()),
                    Transport::Rtu { port, serial } => Target::Rtu {
                        port: port.clone(),
                        serial: *serial,
                    },
                };
                buses.push(BusPlan {
                    key,
                    target,
                    devices: vec![plan],
                });
            }
        }
    }
    buses
}

/// Why a write did not reach the device or was refused by it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteError {
    #[error("no such tag")]
    UnknownTag,
    #[error("tag is not writable")]
    NotWritable,
    #[error("{0}")]
    Encode(#[from] CodecError),
    #[error("device did not answer within {0:?}")]
    Timeout(Duration),
    #[error("device unreachable: {0}")]
    Communication(String),
    #[error("device refused the write with Modbus exception {0}")]
    Exception(u8),
    #[error("too many writes pending on this bus")]
    Busy,
    #[error("gateway is shutting down")]
    Closed,
}

impl From<LinkError> for WriteError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Timeout(d) => WriteError::Timeout(d),
            other => WriteError::Communication(other.to_string()),
        }
    }
}

/// A request to a bus task.
#[derive(Debug)]
pub enum Command {
    /// Write `value` to tag `tag` (index within the device) of device `device`.
    Write {
        device: usize,
        tag: usize,
        value: Value,
        reply: oneshot::Sender<Result<Value, WriteError>>,
    },
}

/// Sends commands to a running bus task.
#[derive(Debug, Clone)]
pub struct BusHandle {
    tx: mpsc::Sender<Command>,
}

impl BusHandle {
    /// Write a tag through this bus and wait for the device's answer; returns the value now in the store.
    pub async fn write(
        &self,
        device: usize,
        tag: usize,
        value: Value,
    ) -> Result<Value, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Command::Write {
                device,
                tag,
                value,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => WriteError::Busy,
                mpsc::error::TrySendError::Closed(_) => WriteError::Closed,
            })?;
        answer.await.unwrap_or(Err(WriteError::Closed))
    }
}

/// Longest a bus task sleeps without beating its heartbeat.
const IDLE_BEAT: Duration = Duration::from_secs(1);

/// Start a bus task (number `index` in `health`). It runs until the returned
/// handle and all its clones are dropped.
pub fn spawn(
    plan: BusPlan,
    store: Arc<TagStore>,
    health: Arc<Health>,
    index: usize,
) -> (BusHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let task = tokio::spawn(Bus::new(plan, store, rx, health, index).run());
    (BusHandle { tx }, task)
}

struct DeviceRun {
    plan: DevicePlan,
    next_due: Instant,
    consecutive_timeouts: u32,
    demoted_until: Option<Instant>,
    /// Last reported state, so logs say "down" and "back" once, not every poll.
    was_up: Option<bool>,
    overrunning: bool,
}

impl DeviceRun {
    /// A demoted device stays on its poll rhythm (without I/O, see `poll_device`)
    /// so that its tags age from uncertain to bad on time.
    fn due(&self) -> Instant {
        self.next_due
    }
}

struct Bus {
    key: String,
    rtu: bool,
    link: Link,
    devices: Vec<DeviceRun>,
    store: Arc<TagStore>,
    rx: mpsc::Receiver<Command>,
    pause_after_connect: Duration,
    health: Arc<Health>,
    /// This bus's slot in `health`.
    index: usize,
}

/// How one request for a block ended, as far as the cycle is concerned.
enum BlockOutcome {
    Answered,
    Split,
    /// The link failed: the rest of the cycle gets this cause.
    LinkDown(BadCause, String),
}

impl Bus {
    fn new(
        plan: BusPlan,
        store: Arc<TagStore>,
        rx: mpsc::Receiver<Command>,
        health: Arc<Health>,
        index: usize,
    ) -> Self {
        let rtu = matches!(plan.target, Target::Rtu { .. });
        let backoff = plan.devices.first().map_or(
            crate::config::Backoff {
                min: Duration::from_millis(200),
                max: Duration::from_secs(30),
            },
            |d| d.config.backoff,
        );
        let pause_after_connect = plan
            .devices
            .iter()
            .map(|d| d.config.pause_after_connect)
            .max()
            .unwrap_or_default();
        let now = Instant::now();
        let devices = plan
            .devices
            .into_iter()
            .filter(|d| !d.blocks.is_empty())
            .map(|plan| DeviceRun {
                plan,
                next_due: now,
                consecutive_timeouts: 0,
                demoted_until: None,
                was_up: None,
                overrunning: false,
            })
            .collect();
        Bus {
            key: plan.key,
            rtu,
            link: Link::new(plan.target, backoff),
            devices,
            store,
            rx,
            pause_after_connect,
            health,
            index,
        }
    }

    async fn run(mut self) {
        tracing::info!(bus = %self.key, devices = self.devices.len(), "bus started");
        loop {
            self.health.beat(self.index);
            let next = self
                .devices
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| d.due())
                .map(|(i, d)| (i, d.due()));
            // Wake at least every IDLE_BEAT so a long poll interval still beats.
            let wake = Instant::now() + IDLE_BEAT;
            let (index, due) = match next {
                Some((i, due)) if due <= wake => (Some(i), due),
                _ => (None, wake),
            };
            tokio::select! {
                biased;
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                () = sleep_until(due) => {
                    if let Some(index) = index {
                        self.poll_device(index).await;
                    }
                }
            }
        }
        tracing::info!(bus = %self.key, "bus stopped");
    }

    fn counters(&self, device: usize) -> Option<&DeviceCounters> {
        self.store.counters(device)
    }

    async fn poll_device(&mut self, index: usize) {
        let started = Instant::now();
        let Some(dev) = self.devices.get(index) else {
            return;
        };
        let id = dev.plan.id;
        if let Some(until) = dev.demoted_until
            && started < until
        {
            // Demoted: no request until `until`; the tags still see a failed poll.
            for block in &dev.plan.blocks {
                self.fail_block(index, block, BadCause::Timeout);
            }
            let msg = format!(
                "demoted after repeated timeouts; next probe in {:?}",
                until - started
            );
            self.finish_cycle(index, started, false, Some((BadCause::Timeout, msg)));
            return;
        }
        let probing = dev.demoted_until.is_some();
        let timeout = dev.plan.config.timeout;
        let mut retries = if probing { 0 } else { dev.plan.config.retries };
        let pause = dev.plan.config.pause_between_requests;
        let unit = dev.plan.config.unit;
        let mut answered = false;
        let mut failure: Option<(BadCause, String)> = None;
        let mut queue: std::collections::VecDeque<usize> = (0..dev.plan.blocks.len()).collect();

        while let Some(bi) = queue.pop_front() {
            // Writes jump the poll queue.
            while let Ok(cmd) = self.rx.try_recv() {
                self.handle(cmd).await;
            }
            let Some(block) = self
                .devices
                .get(index)
                .and_then(|d| d.plan.blocks.get(bi))
                .cloned()
            else {
                continue;
            };
            if let Some((cause, _)) = &failure {
                self.fail_block(index, &block, *cause);
                continue;
            }
            let reply = self
                .request(unit, read_request(&block), timeout, retries, pause, id)
                .await;
            match self.apply_read(index, bi, &block, reply) {
                BlockOutcome::Answered => answered = true,
                BlockOutcome::Split => {
                    answered = true;
                    // The halves take the old slot and a new one at the end; read both now.
                    let new = self
                        .devices
                        .get(index)
                        .map_or(0, |d| d.plan.blocks.len().saturating_sub(1));
                    queue.push_front(new);
                    queue.push_front(bi);
                }
                BlockOutcome::LinkDown(cause, msg) => {
                    self.fail_block(index, &block, cause);
                    failure = Some((cause, msg));
                }
            }
            if answered && probing {
                // A demoted slave that answers is back in full service.
                retries = self.devices.get(index).map_or(0, |d| d.plan.config.retries);
            }
        }
        self.finish_cycle(index, started, answered, failure);
    }

    /// One request with retries on timeouts, link errors and "device busy".
    async fn request(
        &mut self,
        unit: u8,
        req: Request<'static>,
        timeout: Duration,
        retries: u32,
        pause: Duration,
        device: usize,
    ) -> Reply {
        let mut attempt = 0u32;
        loop {
            // Each step from here (connect, request, drain, pauses) is bounded.
            self.health.beat(self.index);
            if !self.link.is_connected() {
                let attempts = self.link.connect_attempts;
                let connected = self.link.ensure_connected(timeout).await;
                // Count real attempts only; a call inside the backoff window makes none.
                if self.link.connect_attempts > attempts
                    && let Some(c) = self.counters(device)
                {
                    DeviceCounters::bump(&c.connects);
                }
                match connected {
                    Ok(true) => self.link.pause(self.pause_after_connect),
                    Ok(false) => {}
                    Err(e) => return Err(e),
                }
            }
            let reply = self.link.call(unit, req.clone(), timeout).await;
            self.link.pause(pause);
            if let (Some(c), Some(function)) = (self.counters(device), Function::of(&req)) {
                let (outcome, code) = match &reply {
                    Ok(Ok(_)) => (Outcome::Ok, None),
                    Ok(Err(code)) => (Outcome::Exception, Some(*code)),
                    Err(LinkError::Timeout(_)) => (Outcome::Timeout, None),
                    Err(_) => (Outcome::Error, None),
                };
                c.request(function, outcome, code);
            }
            let retryable = match &reply {
                Ok(Err(code)) => *code == DEVICE_BUSY,
                Err(LinkError::Backoff(..)) => false,
                Err(_) => true,
                Ok(Ok(_)) => false,
            };
            if !retryable || attempt >= retries {
                return reply;
            }
            attempt += 1;
            if matches!(reply, Ok(Err(_))) {
                self.link.pause(pause.max(Duration::from_millis(100)));
            }
        }
    }

    fn fail_block(&self, index: usize, block: &Block, cause: BadCause) {
        let Some(dev) = self.devices.get(index) else {
            return;
        };
        let (at, now) = (SystemTime::now(), Instant::now());
        for &t in &block.tags {
            if let Some(&id) = dev.plan.tag_ids.get(t) {
                self.store.set_failed(id, cause, at, now);
            }
        }
    }

    fn apply_read(&mut self, index: usize, bi: usize, block: &Block, reply: Reply) -> BlockOutcome {
        let Some(dev) = self.devices.get_mut(index) else {
            return BlockOutcome::Answered;
        };
        match reply {
            Ok(Ok(response)) => {
                dev.consecutive_timeouts = 0;
                dev.demoted_until = None;
                store_block(&self.store, &dev.plan, block, &response);
                BlockOutcome::Answered
            }
            Ok(Err(code)) => {
                dev.consecutive_timeouts = 0;
                dev.demoted_until = None;
                if code == ILLEGAL_DATA_ADDRESS
                    && let Some((a, b)) = plan::split(block, &dev.plan.spans)
                {
                    tracing::info!(device = %dev.plan.config.name, kind = block.kind.as_str(), start = block.start, count = block.count,
                            left = ?(a.start, a.count), right = ?(b.start, b.count), "exception 2 on a block: splitting it for the life of the process");
                    if let Some(slot) = dev.plan.blocks.get_mut(bi) {
                        *slot = a;
                    }
                    dev.plan.blocks.push(b);
                    return BlockOutcome::Split;
                }
                self.fail_block(index, block, BadCause::Exception(code));
                BlockOutcome::Answered
            }
            Err(e) => {
                let cause = match e {
                    LinkError::Timeout(_) => {
                        dev.consecutive_timeouts = dev.consecutive_timeouts.saturating_add(1);
                        if self.rtu && dev.consecutive_timeouts >= dev.plan.config.demote_after {
                            let until = Instant::now() + dev.plan.config.demote_for;
                            if dev.demoted_until.is_none() {
                                tracing::warn!(device = %dev.plan.config.name, timeouts = dev.consecutive_timeouts,
                                    demote_for = ?dev.plan.config.demote_for, "slave demoted: skipped on the bus until it answers a probe");
                            }
                            dev.demoted_until = Some(until);
                        }
                        BadCause::Timeout
                    }
                    _ => BadCause::Communication,
                };
                BlockOutcome::LinkDown(cause, e.to_string())
            }
        }
    }

    fn finish_cycle(
        &mut self,
        index: usize,
        started: Instant,
        answered: bool,
        failure: Option<(BadCause, String)>,
    ) {
        let now = Instant::now();
        let Some(dev) = self.devices.get_mut(index) else {
            return;
        };
        let name = dev.plan.config.name.clone();
        let up = answered || failure.is_none();
        match (dev.was_up, up) {
            (Some(true), false) | (None, false) => {
                let error = failure.as_ref().map_or("", |(_, m)| m.as_str());
                tracing::warn!(device = %name, bus = %self.key, error, "device down");
            }
            (Some(false), true) => tracing::info!(device = %name, bus = %self.key, "device back"),
            (None, true) => tracing::info!(device = %name, bus = %self.key, "device up"),
            _ => {}
        }
        dev.was_up = Some(up);
        let poll = dev.plan.config.poll;
        dev.next_due += poll;
        if dev.next_due < now {
            if let Some(c) = self.store.counters(dev.plan.id) {
                DeviceCounters::bump(&c.overruns);
            }
            if !dev.overrunning {
                tracing::warn!(device = %name, poll = ?poll, took = ?now - started, "poll cycle overran its interval; polling as fast as the bus allows");
            }
            dev.overrunning = true;
            dev.next_due = now;
        } else if dev.overrunning {
            dev.overrunning = false;
            tracing::info!(device = %name, "poll cycle back within its interval");
        }
        let requests = u32::try_from(dev.plan.blocks.len()).unwrap_or(u32::MAX);
        let demoted = dev.demoted_until.is_some();
        self.store.update_device(dev.plan.id, |s| {
            s.connected = up;
            s.last_error = failure.map(|(_, m)| m);
            s.last_poll_duration = now - started;
            s.requests_per_cycle = requests;
            s.last_cycle_at = Some(SystemTime::now());
            s.demoted = demoted;
        });
        if let Some(c) = self.store.counters(dev.plan.id) {
            DeviceCounters::bump(&c.cycles);
            c.poll_duration.observe(now - started);
        }
    }

    async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Write {
                device,
                tag,
                value,
                reply,
            } => {
                if reply.is_closed() {
                    // The caller gave up (and reported a timeout): a write that
                    // arrives late would surprise the operator, so it is dropped.
                    tracing::warn!(
                        device,
                        tag,
                        "write dropped: its caller stopped waiting before the bus was free"
                    );
                    return;
                }
                let result = self.write(device, tag, value).await;
                if let Err(e) = &result {
                    let names = self.devices.iter().find(|d| d.plan.id == device).map(|d| {
                        let tag = d.plan.config.tags.get(tag).map_or("?", |t| t.name.as_str());
                        (d.plan.config.name.clone(), tag.to_owned())
                    });
                    let (device, tag) = names.unwrap_or_default();
                    tracing::warn!(device = %device, tag = %tag, error = %e, "write failed");
                }
                let _ = reply.send(result);
            }
        }
    }

    async fn write(
        &mut self,
        device: usize,
        tag: usize,
        value: Value,
    ) -> Result<Value, WriteError> {
        let dev = self
            .devices
            .iter()
            .find(|d| d.plan.id == device)
            .ok_or(WriteError::UnknownTag)?;
        let cfg = dev
            .plan
            .config
            .tags
            .get(tag)
            .ok_or(WriteError::UnknownTag)?
            .clone();
        let id = *dev.plan.tag_ids.get(tag).ok_or(WriteError::UnknownTag)?;
        let (unit, timeout, pause) = (
            dev.plan.config.unit,
            dev.plan.config.timeout,
            dev.plan.config.pause_between_requests,
        );
        if !cfg.writable {
            return Err(WriteError::NotWritable);
        }
        let written = match (cfg.kind, cfg.encoding.bit) {
            (Kind::Coil, _) => {
                let Value::Bool(on) = value else {
                    return Err(CodecError::TypeMismatch {
                        expected: crate::tags::DataType::Bool,
                        got: "non-bool",
                    }
                    .into());
                };
                self.write_request(
                    unit,
                    Request::WriteSingleCoil(cfg.address, on),
                    timeout,
                    pause,
                    device,
                )
                .await?;
                Value::Bool(on)
            }
            (Kind::Holding, Some(bit)) => {
                // Read-modify-write: FC3 then FC6. Not atomic: a bit the PLC flips in
                // between is overwritten with what was read (documented in the README).
                let Value::Bool(on) = value else {
                    return Err(CodecError::TypeMismatch {
                        expected: crate::tags::DataType::Bool,
                        got: "non-bool",
                    }
                    .into());
                };
                let current = match self
                    .write_request(
                        unit,
                        Request::ReadHoldingRegisters(cfg.address, 1),
                        timeout,
                        pause,
                        device,
                    )
                    .await?
                {
                    Response::ReadHoldingRegisters(r) => r.first().copied().unwrap_or(0),
                    _ => return Err(WriteError::Communication("unexpected response".into())),
                };
                let word = codec::with_bit(current, bit, on);
                self.write_request(
                    unit,
                    Request::WriteSingleRegister(cfg.address, word),
                    timeout,
                    pause,
                    device,
                )
                .await?;
                Value::Bool(on)
            }
            (Kind::Holding, None) => {
                let regs = codec::encode(&value, &cfg.encoding)?;
                let req = match regs.as_slice() {
                    [one] => Request::WriteSingleRegister(cfg.address, *one),
                    _ => Request::WriteMultipleRegisters(cfg.address, regs.clone().into()),
                };
                self.write_request(unit, req, timeout, pause, device)
                    .await?;
                codec::decode(&regs, &cfg.encoding)?
            }
            (Kind::Input | Kind::Discrete, _) => return Err(WriteError::NotWritable),
        };
        if let Some(c) = self.store.counters(device) {
            DeviceCounters::bump(&c.writes);
        }
        self.store
            .set_written(id, written.clone(), SystemTime::now(), Instant::now());
        let device_name = self
            .devices
            .iter()
            .find(|d| d.plan.id == device)
            .map_or("", |d| d.plan.config.name.as_str());
        tracing::info!(device = %device_name, tag = %cfg.name, value = %written, "write acknowledged");
        Ok(written)
    }

    /// Writes are not retried: the device may have acted on a request whose answer was lost.
    async fn write_request(
        &mut self,
        unit: u8,
        req: Request<'static>,
        timeout: Duration,
        pause: Duration,
        device: usize,
    ) -> Result<Response, WriteError> {
        match self.request(unit, req, timeout, 0, pause, device).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(code)) => Err(WriteError::Exception(code)),
            Err(e) => Err(e.into()),
        }
    }
}

fn read_request(block: &Block) -> Request<'static> {
    match block.kind {
        Kind::Coil => Request::ReadCoils(block.start, block.count),
        Kind::Discrete => Request::ReadDiscreteInputs(block.start, block.count),
        Kind::Input => Request::ReadInputRegisters(block.start, block.count),
        Kind::Holding => Request::ReadHoldingRegisters(block.start, block.count),
    }
}

/// Decode every tag of a block from its response into the store.
fn store_block(store: &TagStore, plan: &DevicePlan, block: &Block, response: &Response) {
    let (at, now) = (SystemTime::now(), Instant::now());
    for &t in &block.tags {
        let (Some(&id), Some(span), Some(tag)) = (
            plan.tag_ids.get(t),
            plan.spans.get(t),
            plan.config.tags.get(t),
        ) else {
            continue;
        };
        let offset = usize::from(span.address.saturating_sub(block.start));
        let decoded = match response {
            Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => {
                bits.get(offset).map(|b| Ok(codec::decode_bit(*b)))
            }
            Response::ReadHoldingRegisters(regs) | Response::ReadInputRegisters(regs) => regs
                .get(offset..offset.saturating_add(usize::from(span.count)))
                .map(|r| codec::decode(r, &tag.encoding)),
            _ => None,
        };
        match decoded {
            Some(Ok(value)) => store.set_good(id, value, at, now),
            Some(Err(e)) => {
                tracing::debug!(device = %plan.config.name, tag = %tag.name, error = %e, "decode failed");
                store.set_failed(id, BadCause::Decode, at, now);
            }
            None => store.set_failed(id, BadCause::Communication, at, now),
        }
    }
}
