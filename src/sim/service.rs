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

use super::Shared;
use crate::lock::lock;
use crate::modbus::protocol::{fits_address_space, max_read, read_target};
use crate::tags::Kind;

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
    let written = |v: usize| u16::try_from(v).unwrap_or(u16::MAX);
    let (kind, start, count) = match (read_target(request), request) {
        (Some(read), _) => read,
        (None, Request::WriteSingleCoil(a, _)) => (Kind::Coil, *a, 1),
        (None, Request::WriteMultipleCoils(a, v)) => (Kind::Coil, *a, written(v.len())),
        (None, Request::WriteSingleRegister(a, _)) => (Kind::Holding, *a, 1),
        (None, Request::WriteMultipleRegisters(a, v)) => (Kind::Holding, *a, written(v.len())),
        _ => return Err(ExceptionCode::IllegalFunction),
    };
    // Writes are held to the read limits too, slightly looser than the spec's
    // write limits (§6.11: 1968 coils, §6.12: 123 registers): a lenient device.
    if count == 0 || count > max_read(kind) {
        return Err(ExceptionCode::IllegalDataValue);
    }
    if !fits_address_space(start, count) {
        return Err(ExceptionCode::IllegalDataAddress);
    }
    let exception = lock(&shared.faults).exception_for(unit, kind, start, count);
    if let Some(code) = exception {
        return Err(ExceptionCode::new(code));
    }
    let mut state = lock(&shared.state);
    let Some(tables) = state.units.get_mut(&unit) else {
        return Err(ExceptionCode::GatewayTargetDevice);
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
