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
//!   and retries the halves at once, so one unmapped register never blanks its
//!   neighbours; after `merge_after` clean cycles the planned blocks are tried
//!   again (a PLC that was booting), with a doubling wait while they are refused;
//! - writes arrive on a channel and jump the poll queue between two requests,
//!   at most `WRITES_BETWEEN_POLLS` of them while a poll is due.
//!
//! Liveness: the bus beats when it is idle with nothing overdue and after every
//! poll request attempt, never for a write, so a bus that stops polling (wedged,
//! or starved) stops beating.
//!
//! Reload: devices are added to and removed from a running bus between two
//! cycles (`reshape`), so the other devices on it keep their rhythm and the
//! connection.
//!
//! Files: `layout` plans buses and blocks (pure), `poll` runs a device's cycle,
//! `write` is the write path, `reshape` the reload of a bus's devices.

mod counters;
mod layout;
mod poll;
mod reshape;
mod write;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

pub use counters::{Counters, DeviceCounters, Function, Histogram, Outcome, POLL_BUCKETS};
pub use layout::{
    BusPlan, DevicePlan, bus_key, bus_target, canonical_port, plan_buses, plan_buses_with,
};
pub use reshape::Reshape;

use super::link::{Link, Target};
use super::transport::Connector;
use crate::health::Health;
use crate::tags::{DeviceId, TagStore, Value};
use crate::write::WriteError;

/// Pending writes a bus queues before `write` answers `Busy`.
pub const WRITE_QUEUE: usize = 64;

/// Writes a bus sends between two poll requests while a poll is due: writes
/// jump the poll queue, but twenty sessions writing back to back must not
/// starve the polls (and leave every tag showing an old value).
pub const WRITES_BETWEEN_POLLS: u32 = 4;

/// A request to a bus task.
#[derive(Debug)]
pub enum Command {
    /// Write `value` to tag `tag` (index within the device) of device `device`;
    /// nothing is sent for it after `deadline`.
    Write {
        device: DeviceId,
        tag: usize,
        value: Value,
        deadline: Instant,
        reply: WriteReply,
    },
}

/// Where a bus sends a write's result.
pub type WriteReply = oneshot::Sender<Result<Value, WriteError>>;

/// How long a caller waits past its deadline for the bus's own answer. The
/// bus sends nothing after the deadline and ends its last wait there, so the
/// answer normally comes from the bus; this only covers the few instructions
/// between the bus's deadline check and its frame leaving, so that a caller
/// that gives up (a bus stuck in a poll) is never answered before a request
/// made on its behalf.
pub const WRITE_ANSWER_GRACE: Duration = Duration::from_millis(50);

/// Sends commands to a running bus task.
#[derive(Debug, Clone)]
pub struct BusHandle {
    tx: mpsc::Sender<Command>,
    /// Reloads are rare and must not be refused for a full write queue.
    reshape: mpsc::UnboundedSender<Reshape>,
}

impl BusHandle {
    /// Change the bus's devices before its next cycle; false when the bus
    /// task has ended.
    pub fn reshape(&self, change: Reshape) -> bool {
        self.reshape.send(change).is_ok()
    }

    /// Write a tag through this bus and wait for the device's answer, at
    /// most until `deadline` (plus `WRITE_ANSWER_GRACE`); returns the value
    /// now in the store.
    pub async fn write(
        &self,
        device: DeviceId,
        tag: usize,
        value: Value,
        deadline: Instant,
    ) -> Result<Value, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .try_send(Command::Write {
                device,
                tag,
                value,
                deadline,
                reply,
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => WriteError::busy(),
                mpsc::error::TrySendError::Closed(_) => WriteError::closed(),
            })?;
        match tokio::time::timeout_at(deadline + WRITE_ANSWER_GRACE, answer).await {
            Ok(answer) => answer.unwrap_or_else(|_| Err(WriteError::closed())),
            Err(_) => Err(WriteError::deadline_passed()),
        }
    }
}

/// How long a bus with nothing to poll waits for writes before it beats again.
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// Start a bus task (number `index` in `health`). It runs until the returned
/// handle and all its clones are dropped.
pub fn spawn(
    plan: BusPlan,
    store: Arc<TagStore>,
    counters: Arc<Counters>,
    health: Arc<Health>,
    index: usize,
    connector: Arc<dyn Connector>,
) -> (BusHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(WRITE_QUEUE);
    let (reshape, reshapes) = mpsc::unbounded_channel();
    let mut bus = Bus::new(plan, store, counters, rx, health, index, connector);
    bus.reshapes = Some(reshapes);
    let task = tokio::spawn(bus.run());
    (BusHandle { tx, reshape }, task)
}

struct DeviceRun {
    plan: DevicePlan,
    next_due: Instant,
    consecutive_timeouts: u32,
    demoted_until: Option<Instant>,
    /// Last reported state, so logs say "down" and "back" once, not every poll.
    was_up: Option<bool>,
    overrunning: bool,
    /// Exception 02 splits and their undoing (`poll::Bus::settle_splits`).
    splits: SplitState,
}

/// Blocks split by exception 02 are tried whole again after `merge_after`
/// clean cycles (a PLC that was still booting maps them later); a merge that
/// is refused again doubles the wait, up to `MERGE_BACKOFF_CAP` times.
#[derive(Debug, Default)]
struct SplitState {
    /// The blocks as planned, while some are split.
    planned: Option<Vec<super::plan::Block>>,
    /// Clean cycles since the last split.
    clean_cycles: u32,
    /// Clean cycles to wait before the next merge; 0 until the first split.
    wait: u32,
    /// A merge was made and has not been answered in full yet.
    merging: bool,
}

/// The longest wait before a merge, in multiples of `merge_after`.
const MERGE_BACKOFF_CAP: u32 = 64;

impl DeviceRun {
    /// A device to poll, due at `now`.
    fn new(plan: DevicePlan, now: Instant) -> Self {
        DeviceRun {
            plan,
            next_due: now,
            consecutive_timeouts: 0,
            demoted_until: None,
            was_up: None,
            overrunning: false,
            splits: SplitState::default(),
        }
    }

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
    counters: Arc<Counters>,
    rx: mpsc::Receiver<Command>,
    pause_after_connect: Duration,
    health: Arc<Health>,
    /// This bus's slot in `health`.
    index: usize,
    /// Writes sent since the last poll request (`WRITES_BETWEEN_POLLS`).
    writes_since_poll: u32,
    /// Device changes from a reload; `None` once every sender is gone.
    reshapes: Option<mpsc::UnboundedReceiver<Reshape>>,
}

impl Bus {
    fn new(
        plan: BusPlan,
        store: Arc<TagStore>,
        counters: Arc<Counters>,
        rx: mpsc::Receiver<Command>,
        health: Arc<Health>,
        index: usize,
        connector: Arc<dyn Connector>,
    ) -> Self {
        let rtu = matches!(plan.target, Target::Rtu { .. });
        let backoff = plan.devices.first().map_or(
            crate::config::Backoff {
                min: crate::config::defaults::BACKOFF_MIN,
                max: crate::config::defaults::BACKOFF_MAX,
            },
            |d| d.config.backoff,
        );
        let now = Instant::now();
        let devices: Vec<DeviceRun> = plan
            .devices
            .into_iter()
            .filter(|d| !d.blocks.is_empty())
            .map(|plan| DeviceRun::new(plan, now))
            .collect();
        let pause_after_connect = reshape::pause_after_connect(&devices);
        Bus {
            key: plan.key,
            rtu,
            link: Link::with_connector(plan.target, backoff, connector),
            devices,
            store,
            counters,
            rx,
            pause_after_connect,
            health,
            index,
            writes_since_poll: 0,
            reshapes: None,
        }
    }

    async fn run(mut self) {
        tracing::info!(bus = %self.key, devices = self.devices.len(), "bus started");
        loop {
            let next = self
                .devices
                .iter()
                .enumerate()
                .min_by_key(|(_, d)| d.due())
                .map(|(i, d)| (i, d.due()));
            let now = Instant::now();
            let overdue = next.is_some_and(|(_, due)| due <= now);
            // A bus with no device to poll only waits for writes.
            let (index, due) = next.map_or((None, now + IDLE_WAKE), |(i, due)| (Some(i), due));
            if !overdue {
                // Idle until `due` (or a write): it counts as beating until
                // then, with no wake-ups just to say so.
                self.health.beat_until(self.index, due);
            }
            // A due poll goes first once writes had their share.
            let writes_may_go = !overdue || self.writes_since_poll < WRITES_BETWEEN_POLLS;
            tokio::select! {
                biased;
                cmd = self.rx.recv(), if writes_may_go => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => break,
                },
                change = reshape::next(self.reshapes.as_mut()), if self.reshapes.is_some() => match change {
                    Some(change) => self.reshape(change),
                    None => self.reshapes = None,
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

    fn counters(&self, device: DeviceId) -> Option<&DeviceCounters> {
        self.counters.device(device)
    }
}
