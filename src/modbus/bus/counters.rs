//! The Modbus request counters: per device, requests by function and outcome,
//! exceptions by code, cycles, overruns, connects, writes, and the
//! poll-duration histogram.
//!
//! Written by bus tasks on every request and cycle, read by `/metrics` and
//! `/api/devices` at request time. They live with the Modbus code, not in the
//! tag store, which knows no protocol. Everything is a relaxed atomic: the poll path
//! never takes a lock and never allocates for telemetry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_modbus::prelude::Request;

use crate::append::{AppendVec, Full};
use crate::modbus::protocol::{ExceptionCode, exception_number};
use crate::tags::DeviceId;

/// Modbus function codes the gateway uses, as metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    ReadCoils,
    ReadDiscreteInputs,
    ReadHoldingRegisters,
    ReadInputRegisters,
    WriteSingleCoil,
    WriteSingleRegister,
    WriteMultipleCoils,
    WriteMultipleRegisters,
}

impl Function {
    /// Every function, in label order.
    pub const ALL: [Function; 8] = [
        Function::ReadCoils,
        Function::ReadDiscreteInputs,
        Function::ReadHoldingRegisters,
        Function::ReadInputRegisters,
        Function::WriteSingleCoil,
        Function::WriteSingleRegister,
        Function::WriteMultipleCoils,
        Function::WriteMultipleRegisters,
    ];

    /// The function a request uses; `None` for ones the gateway never sends.
    pub fn of(request: &Request<'_>) -> Option<Function> {
        Some(match request {
            Request::ReadCoils(..) => Function::ReadCoils,
            Request::ReadDiscreteInputs(..) => Function::ReadDiscreteInputs,
            Request::ReadHoldingRegisters(..) => Function::ReadHoldingRegisters,
            Request::ReadInputRegisters(..) => Function::ReadInputRegisters,
            Request::WriteSingleCoil(..) => Function::WriteSingleCoil,
            Request::WriteSingleRegister(..) => Function::WriteSingleRegister,
            Request::WriteMultipleCoils(..) => Function::WriteMultipleCoils,
            Request::WriteMultipleRegisters(..) => Function::WriteMultipleRegisters,
            _ => return None,
        })
    }

    /// Label value, e.g. `read_holding_registers`.
    pub fn as_str(self) -> &'static str {
        match self {
            Function::ReadCoils => "read_coils",
            Function::ReadDiscreteInputs => "read_discrete_inputs",
            Function::ReadHoldingRegisters => "read_holding_registers",
            Function::ReadInputRegisters => "read_input_registers",
            Function::WriteSingleCoil => "write_single_coil",
            Function::WriteSingleRegister => "write_single_register",
            Function::WriteMultipleCoils => "write_multiple_coils",
            Function::WriteMultipleRegisters => "write_multiple_registers",
        }
    }
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A normal response.
    Ok,
    /// A Modbus exception response.
    Exception,
    /// No answer in time.
    Timeout,
    /// Connection failure or malformed response.
    Error,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Exception,
        Outcome::Timeout,
        Outcome::Error,
    ];

    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exception => "exception",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

/// Upper bounds of the poll-duration buckets, in seconds: 1 ms (a fast TCP
/// device) to 5 s (a long RTU cycle at low baud).
pub const POLL_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A fixed-bucket histogram of durations.
#[derive(Debug)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    buckets: [AtomicU64; POLL_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }
}

impl Histogram {
    /// Record one duration.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let slot = POLL_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(POLL_BUCKETS.len());
        if let Some(b) = self.buckets.get(slot) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Cumulative counts per bound (the last is +Inf), the sum in seconds, and the count.
    pub fn snapshot(&self) -> (Vec<u64>, f64, u64) {
        let mut total = 0u64;
        let cumulative = self
            .buckets
            .iter()
            .map(|b| {
                total = total.saturating_add(b.load(Ordering::Relaxed));
                total
            })
            .collect();
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        (cumulative, sum, self.count.load(Ordering::Relaxed))
    }
}

/// Counters of one device.
#[derive(Debug)]
pub struct DeviceCounters {
    /// Requests by function and outcome, indexed like `Function::ALL` × `Outcome::ALL`.
    requests: [[AtomicU64; 4]; 8],
    /// Exception responses by exception code.
    exceptions: [AtomicU64; 256],
    /// Duration of complete poll cycles.
    pub poll_duration: Histogram,
    pub cycles: AtomicU64,
    pub overruns: AtomicU64,
    /// Connection attempts (TCP connects, serial port opens).
    pub connects: AtomicU64,
    /// Writes the device acknowledged.
    pub writes: AtomicU64,
}

impl Default for DeviceCounters {
    fn default() -> Self {
        DeviceCounters {
            requests: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
            exceptions: std::array::from_fn(|_| AtomicU64::new(0)),
            poll_duration: Histogram::default(),
            cycles: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            connects: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }
}

fn index<T: PartialEq>(all: &[T], x: &T) -> usize {
    all.iter().position(|a| a == x).unwrap_or(0)
}

impl DeviceCounters {
    /// Add one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a request; `exception` is the code of an exception response.
    pub fn request(&self, function: Function, outcome: Outcome, exception: Option<ExceptionCode>) {
        let f = index(&Function::ALL, &function);
        let o = index(&Outcome::ALL, &outcome);
        if let Some(c) = self.requests.get(f).and_then(|row| row.get(o)) {
            Self::bump(c);
        }
        if let Some(c) =
            exception.and_then(|code| self.exceptions.get(usize::from(exception_number(code))))
        {
            Self::bump(c);
        }
    }

    /// Requests of one function and outcome.
    pub fn requests(&self, function: Function, outcome: Outcome) -> u64 {
        let (f, o) = (
            index(&Function::ALL, &function),
            index(&Outcome::ALL, &outcome),
        );
        self.requests
            .get(f)
            .and_then(|row| row.get(o))
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Requests of one outcome over all functions.
    pub fn outcome_total(&self, outcome: Outcome) -> u64 {
        Function::ALL
            .iter()
            .map(|f| self.requests(*f, outcome))
            .sum()
    }

    /// Exception responses per code, only the codes seen.
    pub fn exceptions(&self) -> Vec<(u8, u64)> {
        (0..=u8::MAX)
            .filter_map(|code| {
                let n = self
                    .exceptions
                    .get(usize::from(code))?
                    .load(Ordering::Relaxed);
                (n > 0).then_some((code, n))
            })
            .collect()
    }
}

/// The counters of every device, indexed by device id: one per device the
/// store ever gave an id, a reload's new devices appended.
#[derive(Debug)]
pub struct Counters {
    devices: AppendVec<DeviceCounters>,
}

impl Counters {
    /// Zeroed counters for `devices` devices.
    pub fn new(devices: usize) -> Self {
        Counters {
            devices: AppendVec::new((0..devices).map(|_| DeviceCounters::default()).collect()),
        }
    }

    /// Zeroed counters for every device id below `devices` that has none yet.
    pub fn cover(&self, devices: usize) -> Result<(), Full> {
        let missing = devices.saturating_sub(self.devices.len());
        self.devices
            .extend((0..missing).map(|_| DeviceCounters::default()))
            .map(|_| ())
    }

    /// One device's counters; `None` for an unknown device.
    pub fn device(&self, device: DeviceId) -> Option<&DeviceCounters> {
        self.devices.get(device.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_with_inf_last() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(500));
        h.observe(Duration::from_millis(30));
        h.observe(Duration::from_secs(10));
        let (buckets, sum, count) = h.snapshot();
        assert_eq!(buckets.len(), POLL_BUCKETS.len() + 1);
        assert_eq!(buckets.first(), Some(&1));
        assert_eq!(buckets.get(5), Some(&2), "30 ms is within the 50 ms bucket");
        assert_eq!(buckets.last(), Some(&3));
        assert_eq!(count, 3);
        assert!((sum - 10.0305).abs() < 1e-9);
    }

    #[test]
    fn requests_are_counted_by_function_and_outcome() {
        let c = DeviceCounters::default();
        c.request(Function::ReadHoldingRegisters, Outcome::Ok, None);
        c.request(
            Function::ReadHoldingRegisters,
            Outcome::Exception,
            Some(ExceptionCode::IllegalDataAddress),
        );
        c.request(
            Function::ReadCoils,
            Outcome::Exception,
            Some(ExceptionCode::IllegalDataAddress),
        );
        assert_eq!(c.requests(Function::ReadHoldingRegisters, Outcome::Ok), 1);
        assert_eq!(c.outcome_total(Outcome::Exception), 2);
        assert_eq!(c.exceptions(), vec![(2, 2)]);
    }
}
