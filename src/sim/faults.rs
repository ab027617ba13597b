//! The injectable faults: silence, fixed and one-shot delays, exception ranges.
//!
//! Faults are kept per unit id and for all units at once; a request meets the
//! union of both (silent if either is, the longer delay). Exception ranges come
//! from the config and are matched against the request's whole address range,
//! so a block read that only touches a faulty register fails as a device would.
//! Faults decide *whether and when* to answer; what the answer is belongs to
//! the service.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::SimException;
use crate::tags::Kind;

/// Faults that apply to one unit (or to all, as the default).
#[derive(Debug, Clone, Default)]
pub(super) struct UnitFaults {
    /// Never answer.
    pub(super) silent: bool,
    /// Answer every request this late.
    pub(super) delay: Duration,
    /// Let `skip` requests pass, then answer `n` requests this late.
    pub(super) delay_next: Option<DelayNext>,
}

/// A delay for a window of upcoming requests (a device that stalls briefly).
#[derive(Debug, Clone, Copy)]
pub(super) struct DelayNext {
    /// Requests still to pass undelayed.
    pub(super) skip: u32,
    /// Requests to delay once `skip` reaches 0.
    pub(super) n: u32,
    pub(super) delay: Duration,
}

/// Every fault in force.
#[derive(Default)]
pub(super) struct Faults {
    /// Faults for every unit.
    all: UnitFaults,
    /// Faults for one unit each, on top of `all`.
    units: HashMap<u8, UnitFaults>,
    /// Address ranges that answer with an exception code.
    exceptions: Vec<SimException>,
}

impl Faults {
    /// The configured exception ranges; no run-time fault yet.
    pub(super) fn new(exceptions: Vec<SimException>) -> Self {
        Faults {
            exceptions,
            ..Faults::default()
        }
    }

    /// The faults of one unit, or of all units with `None`.
    pub(super) fn unit_mut(&mut self, unit: Option<u8>) -> &mut UnitFaults {
        match unit {
            Some(u) => self.units.entry(u).or_default(),
            None => &mut self.all,
        }
    }

    /// Decide the fault for this request: None = stay silent, else the delay.
    ///
    /// Counts the request against any `delay_next` window, so call it once per request.
    pub(super) fn fault_for(&mut self, unit: u8) -> Option<Duration> {
        let Faults { all, units, .. } = self;
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
                    // skip > 0: the arm above took 0.
                    skip: skip - 1,
                    n,
                    delay: d,
                }),
                None => None,
            };
        }
        Some(delay)
    }

    /// The exception code for a request on `unit`'s `kind` table at `start..start + count`,
    /// if it overlaps a configured exception range.
    pub(super) fn exception_for(&self, unit: u8, kind: Kind, start: u16, count: u16) -> Option<u8> {
        // In u32 so that a range ending at 65 536 does not overflow.
        let end = u32::from(start) + u32::from(count);
        self.exceptions.iter().find_map(|e| {
            let e_end = u32::from(e.start) + u32::from(e.count);
            (e.unit == unit
                && e.kind == kind
                && u32::from(e.start) < end
                && u32::from(start) < e_end)
                .then_some(e.code)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_next_skips_then_delays_a_window_then_ends() {
        let mut faults = Faults::default();
        let d = Duration::from_millis(250);
        faults.unit_mut(Some(1)).delay_next = Some(DelayNext {
            skip: 1,
            n: 2,
            delay: d,
        });
        let seen: Vec<_> = (0..4).map(|_| faults.fault_for(1)).collect();
        let zero = Some(Duration::ZERO);
        assert_eq!(seen, [zero, Some(d), Some(d), zero]);
        assert_eq!(faults.fault_for(2), zero, "another unit is not delayed");
    }

    #[test]
    fn silence_for_all_units_wins_over_a_unit_delay() {
        let mut faults = Faults::default();
        faults.unit_mut(Some(1)).delay = Duration::from_secs(1);
        faults.unit_mut(None).silent = true;
        assert_eq!(faults.fault_for(1), None);
    }
}
