//! The write path: a write jumps the poll queue, is refused before any I/O
//! when the tag is not writable or the value does not encode, and is never
//! retried (the device may have acted on a request whose answer was lost).

use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_modbus::prelude::{Request, Response};

use super::super::codec::{self, CodecError};
use super::super::link::LinkError;
use super::super::protocol::{device_unreachable, exception_number};
use super::DeviceCounters;
use super::{Bus, Command, WriteReply};
use crate::tags::{DeviceId, Kind, Value};
use crate::write::{WriteError, WriteErrorKind};

impl From<LinkError> for WriteError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Timeout(d) => WriteError::timeout(d),
            LinkError::Expired => WriteError::deadline_passed(),
            other => WriteError::communication(other),
        }
    }
}

impl From<CodecError> for WriteError {
    fn from(e: CodecError) -> Self {
        let kind = match e {
            CodecError::TypeMismatch { .. } => WriteErrorKind::TypeMismatch,
            _ => WriteErrorKind::OutOfRange,
        };
        WriteError::new(kind, e.to_string())
    }
}

impl Bus {
    pub(super) async fn handle(&mut self, cmd: Command) {
        match cmd {
            Command::Write {
                device,
                tag,
                value,
                deadline,
                reply,
            } => {
                if reply.is_closed() || Instant::now() >= deadline {
                    // The caller was answered (a timeout) while the bus was busy:
                    // a write that arrives late would surprise the operator.
                    let (device, tag) = self.names(device, tag);
                    tracing::warn!(
                        device,
                        tag,
                        "write dropped: its deadline passed before the bus was free"
                    );
                    let _ = reply.send(Err(WriteError::deadline_passed()));
                    return;
                }
                self.writes_since_poll = self.writes_since_poll.saturating_add(1);
                let result = self.write(device, tag, value, deadline, &reply).await;
                if let Err(e) = &result {
                    let (device, tag) = self.names(device, tag);
                    tracing::warn!(device, tag, error = %e, "write failed");
                }
                let _ = reply.send(result);
            }
        }
    }

    /// Device and tag names for a log line, from the store.
    fn names(&self, device: DeviceId, tag: usize) -> (&str, &str) {
        let tag = self
            .devices
            .iter()
            .find(|d| d.plan.id == device)
            .and_then(|d| d.plan.tag_id(tag))
            .and_then(|id| self.store.meta(id))
            .map_or("?", |m| &*m.name);
        let device = self
            .store
            .device_meta(device)
            .map_or("?", |m| m.name.as_str());
        (device, tag)
    }

    async fn write(
        &mut self,
        device: DeviceId,
        tag: usize,
        value: Value,
        deadline: Instant,
        caller: &WriteReply,
    ) -> Result<Value, WriteError> {
        let dev = self
            .devices
            .iter()
            .find(|d| d.plan.id == device)
            .ok_or_else(WriteError::unknown_tag)?;
        let cfg = dev
            .plan
            .tags
            .get(tag)
            .ok_or_else(WriteError::unknown_tag)?
            .clone();
        let id = dev.plan.tag_id(tag).ok_or_else(WriteError::unknown_tag)?;
        let to = Destination {
            unit: dev.plan.config.unit,
            timeout: dev.plan.config.timeout,
            pause: dev.plan.config.pause_between_requests,
            device,
            deadline,
        };
        if !cfg.writable {
            return Err(WriteError::not_writable());
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
                self.write_request(&to, caller, Request::WriteSingleCoil(cfg.address, on))
                    .await?;
                Value::Bool(on)
            }
            (Kind::Holding, Some(bit)) => {
                // Read-modify-write: FC3 then FC6. Not atomic: a bit the PLC flips in
                // between is overwritten with what was read (documented in the README).
                // The FC6 is under the same deadline as the FC3: it is not sent
                // once the caller was answered.
                let Value::Bool(on) = value else {
                    return Err(CodecError::TypeMismatch {
                        expected: crate::tags::DataType::Bool,
                        got: "non-bool",
                    }
                    .into());
                };
                let current = match self
                    .write_request(&to, caller, Request::ReadHoldingRegisters(cfg.address, 1))
                    .await?
                {
                    Response::ReadHoldingRegisters(r) => r.first().copied().unwrap_or(0),
                    _ => return Err(WriteError::communication("unexpected response")),
                };
                let word = codec::with_bit(current, bit, on);
                self.write_request(&to, caller, Request::WriteSingleRegister(cfg.address, word))
                    .await?;
                Value::Bool(on)
            }
            (Kind::Holding, None) => {
                let regs = codec::encode(&value, &cfg.encoding)?;
                let req = match regs.as_slice() {
                    [one] => Request::WriteSingleRegister(cfg.address, *one),
                    _ => Request::WriteMultipleRegisters(cfg.address, regs.clone().into()),
                };
                self.write_request(&to, caller, req).await?;
                codec::decode(&regs, &cfg.encoding)?
            }
            (Kind::Input | Kind::Discrete, _) => return Err(WriteError::not_writable()),
        };
        if let Some(c) = self.counters.device(device) {
            DeviceCounters::bump(&c.writes);
        }
        self.store
            .set_written(id, written.clone(), SystemTime::now(), Instant::now());
        let (device, tag) = self.names(device, tag);
        tracing::info!(device, tag, value = %written, "write acknowledged");
        Ok(written)
    }

    /// Writes are not retried: the device may have acted on a request whose
    /// answer was lost. Nothing is sent once the caller stopped waiting.
    async fn write_request(
        &mut self,
        to: &Destination,
        caller: &WriteReply,
        req: Request<'static>,
    ) -> Result<Response, WriteError> {
        if caller.is_closed() {
            return Err(WriteError::deadline_passed());
        }
        let reply = self
            .request(
                to.unit,
                req,
                to.timeout,
                0,
                to.pause,
                to.device,
                Some(to.deadline),
            )
            .await;
        match reply {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(code)) if device_unreachable(code) => Err(WriteError::communication(format!(
                "the gateway in front of it answered exception {}",
                exception_number(code)
            ))),
            Ok(Err(code)) => Err(WriteError::exception(code)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Where and by when the requests of one write go.
struct Destination {
    unit: u8,
    timeout: Duration,
    pause: Duration,
    device: DeviceId,
    deadline: Instant,
}
