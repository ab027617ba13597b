//! Answering Modbus requests: the tokio-modbus `Service` and the request handling.
//!
//! One `SimService` serves each TCP connection or serial port. Every request is
//! counted, then meets the faults (silence, delay), then is answered from the
//! unit's tables. Checks run in the order a device runs them (Modbus
//! application protocol §7, the exception flow charts of §6): function, then
//! quantity (exception 3), then address range (2), then configured exception
//! ranges, then the unit itself.
//!
//! Over TCP a unit id the simulator does not serve gets exception 0x0B (what a
//! Modbus gateway answers for an absent target); over RTU it gets silence (what
//! an absent slave does on a real line), and broadcast (unit 0) is applied to
//! every served unit without an answer.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_modbus::prelude::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_modbus::server::Service;

use super::{Shared, lock};
use crate::tags::Kind;

/// Registers per read request (Modbus application protocol §6.3).
const MAX_READ_REGISTERS: u16 = 125;
/// Bits per read request (§6.1).
const MAX_READ_BITS: u16 = 2000;
/// Exception code a gateway answers for an absent target device.
const GATEWAY_TARGET_FAILED: u8 = 0x0B;

/// The tokio-modbus service: one per connection or serial port.
#[derive(Clone)]
pub(super) struct SimService {
    pub(super) shared: Arc<Shared>,
    /// Serial line semantics: absent units and broadcasts get no answer.
    pub(super) rtu: bool,
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
            let Some(delay) = lock(&shared.faults).fault_for(unit) else {
                return Ok(None);
            };
            let served: HashSet<u8> = lock(&shared.state).units.keys().copied().collect();
            if rtu && (unit == 0 || !served.contains(&unit)) {
                // Broadcast or an absent slave: nobody answers on a serial line.
                if unit == 0 {
                    for u in served {
                        let _ = answer(&shared, u, &req.request);
                    }
                }
                return Ok(None);
            }
            let answer = answer(&shared, unit, &req.request);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer
        })
    }
}

/// Apply one request to `unit`'s tables and build its response, or the exception
/// a device would answer.
fn answer(
    shared: &Shared,
    unit: u8,
    request: &Request<'_>,
) -> Result<Option<Response>, ExceptionCode> {
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
    // Writes are held to the read limits too, slightly looser than the spec's
    // write limits (§6.11: 1968 coils, §6.12: 123 registers): a lenient device.
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
    let exception = lock(&shared.faults).exception_for(unit, kind, start, count);
    if let Some(code) = exception {
        return Err(ExceptionCode::new(code));
    }
    let mut state = lock(&shared.state);
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
        Request::ReadHoldingRegisters(..) => Response::ReadHoldingRegisters(words(&tables.holding)),
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
