//! A poll cycle of one device: its blocks in order, each request with its
//! retries, the answers decoded into the store, and the cycle's end (device
//! up or down, overruns, status and counters).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_modbus::prelude::{Request, Response};

use super::super::codec;
use super::super::link::{LinkError, Reply, within};
use super::super::plan::{self, Block};
use super::super::protocol::{
    ExceptionCode, device_unreachable, exception_name, exception_number, read_request,
};
use super::{Bus, DevicePlan, MERGE_BACKOFF_CAP, WRITES_BETWEEN_POLLS};
use super::{DeviceCounters, Function, Outcome};
use crate::tags::{BadCause, DeviceId, TagStore};

/// How one request for a block ended, as far as the cycle is concerned.
pub(super) enum BlockOutcome {
    Answered,
    Split,
    /// The link failed: the rest of the cycle gets this cause.
    LinkDown(BadCause, String),
}

impl Bus {
    pub(super) async fn poll_device(&mut self, index: usize) {
        let started = Instant::now();
        if self.link.follow_path() {
            self.undemote_all();
        }
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
        let mut split = false;
        let mut failure: Option<(BadCause, String)> = None;
        let mut queue: std::collections::VecDeque<usize> = (0..dev.plan.blocks.len()).collect();

        while let Some(bi) = queue.pop_front() {
            // Writes jump the poll queue, within their share of the bus.
            while self.writes_since_poll < WRITES_BETWEEN_POLLS
                && let Ok(cmd) = self.rx.try_recv()
            {
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
                .request(
                    unit,
                    read_request(block.kind, block.start, block.count),
                    timeout,
                    retries,
                    pause,
                    id,
                    None,
                )
                .await;
            self.writes_since_poll = 0;
            match self.apply_read(index, bi, &block, reply) {
                BlockOutcome::Answered => answered = true,
                BlockOutcome::Split => {
                    answered = true;
                    split = true;
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
        self.settle_splits(index, split, answered && failure.is_none());
        self.finish_cycle(index, started, answered, failure);
    }

    /// Another adapter behind the port's name: every slave gets a fresh chance.
    fn undemote_all(&mut self) {
        for d in &mut self.devices {
            d.demoted_until = None;
            d.consecutive_timeouts = 0;
        }
    }

    /// After a cycle: count clean cycles while blocks are split, and try the
    /// planned blocks again once there were enough (see `SplitState`).
    fn settle_splits(&mut self, index: usize, split: bool, clean: bool) {
        let Some(dev) = self.devices.get_mut(index) else {
            return;
        };
        let base = dev.plan.config.merge_after.max(1);
        let s = &mut dev.splits;
        if split {
            s.clean_cycles = 0;
            s.wait = if s.merging {
                s.wait
                    .saturating_mul(2)
                    .min(base.saturating_mul(MERGE_BACKOFF_CAP))
            } else {
                s.wait.max(base)
            };
            s.merging = false;
            return;
        }
        if !clean {
            return;
        }
        if s.merging {
            s.merging = false;
            s.wait = base;
            tracing::info!(device = %dev.plan.config.name, requests = dev.plan.blocks.len(), "split blocks answered whole again");
        }
        if s.planned.is_some() {
            s.clean_cycles = s.clean_cycles.saturating_add(1);
            if s.clean_cycles >= s.wait
                && let Some(planned) = s.planned.take()
            {
                tracing::info!(device = %dev.plan.config.name, after = s.clean_cycles, "trying split blocks whole again");
                dev.plan.blocks = planned;
                s.clean_cycles = 0;
                s.merging = true;
            }
        }
    }

    /// One request with retries on timeouts, link errors and "device busy";
    /// with a `deadline`, nothing is sent after it (see `Link::call`).
    #[allow(clippy::too_many_arguments)] // one request's whole setting, passed at two call sites
    pub(super) async fn request(
        &mut self,
        unit: u8,
        req: Request<'static>,
        timeout: Duration,
        retries: u32,
        pause: Duration,
        device: DeviceId,
        deadline: Option<Instant>,
    ) -> Reply {
        let mut attempt = 0u32;
        loop {
            // Each step from here (connect, request, drain, pauses) is bounded.
            // Only polls (no deadline) count as progress: writes alone do not
            // keep a bus live.
            if deadline.is_none() {
                self.health.beat(self.index);
            }
            if !self.link.is_connected() {
                let attempts = self.link.connect_attempts;
                let connected = self.link.ensure_connected(within(timeout, deadline)?).await;
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
            let reply = self.link.call(unit, req.clone(), timeout, deadline).await;
            if matches!(reply, Err(LinkError::Expired)) {
                return reply;
            }
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
                Ok(Err(code)) => *code == ExceptionCode::ServerDeviceBusy,
                Ok(Ok(_)) | Err(LinkError::Backoff(..) | LinkError::Expired) => false,
                Err(_) => true,
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
            if let Some(id) = dev.plan.tag_id(t) {
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
            Ok(Err(code)) if device_unreachable(code) => {
                // The TCP gateway in front answered; the device behind it did not.
                BlockOutcome::LinkDown(
                    BadCause::Communication,
                    format!(
                        "the gateway in front of the device answered exception {} ({})",
                        exception_number(code),
                        exception_name(code)
                    ),
                )
            }
            Ok(Err(code)) => {
                dev.consecutive_timeouts = 0;
                dev.demoted_until = None;
                if code == ExceptionCode::IllegalDataAddress
                    && let Some((a, b)) = plan::split(block, &dev.plan.spans)
                {
                    tracing::info!(device = %dev.plan.config.name, kind = block.kind.as_str(), start = block.start, count = block.count,
                            left = ?(a.start, a.count), right = ?(b.start, b.count), "exception 2 on a block: splitting it");
                    if dev.splits.planned.is_none() {
                        dev.splits.planned = Some(dev.plan.blocks.clone());
                    }
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
                let mut newly_demoted = false;
                let cause = match e {
                    LinkError::Timeout(_) => {
                        dev.consecutive_timeouts = dev.consecutive_timeouts.saturating_add(1);
                        if self.rtu && dev.consecutive_timeouts >= dev.plan.config.demote_after {
                            let until = Instant::now() + dev.plan.config.demote_for;
                            if dev.demoted_until.is_none() {
                                tracing::warn!(device = %dev.plan.config.name, timeouts = dev.consecutive_timeouts,
                                    demote_for = ?dev.plan.config.demote_for, "slave demoted: skipped on the bus until it answers a probe");
                                newly_demoted = true;
                            }
                            dev.demoted_until = Some(until);
                        }
                        BadCause::Timeout
                    }
                    _ => BadCause::Communication,
                };
                if newly_demoted
                    && self.devices.iter().all(|d| d.demoted_until.is_some())
                    && self.link.reopen_port()
                {
                    // Nobody answered, and the name leads elsewhere now: a fresh start.
                    self.undemote_all();
                }
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
        self.health.beat(self.index);
        let Some(dev) = self.devices.get_mut(index) else {
            return;
        };
        let name = dev.plan.config.name.clone();
        let up = answered || failure.is_none();
        match (dev.was_up, up) {
            (Some(true) | None, false) => {
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
            if let Some(c) = self.counters.device(dev.plan.id) {
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
            s.last_cycle = Some(now);
            s.demoted = demoted;
        });
        if let Some(c) = self.counters.device(dev.plan.id) {
            DeviceCounters::bump(&c.cycles);
            c.poll_duration.observe(now - started);
        }
    }
}

/// Decode every tag of a block from its response into the store.
fn store_block(store: &TagStore, plan: &DevicePlan, block: &Block, response: &Response) {
    let (at, now) = (SystemTime::now(), Instant::now());
    for &t in &block.tags {
        let (Some(id), Some(span), Some(tag)) =
            (plan.tag_id(t), plan.spans.get(t), plan.tags.get(t))
        else {
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
                let tag = store.meta(id).map_or("?", |m| &*m.name);
                tracing::debug!(device = %plan.config.name, tag, error = %e, "decode failed");
                store.set_failed(id, BadCause::Decode, at, now);
            }
            None => store.set_failed(id, BadCause::Communication, at, now),
        }
    }
}
