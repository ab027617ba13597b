//! The value generators that animate simulated registers on every tick.
//!
//! Time-based generators (ramp, sine, toggle) are a function of the time since
//! the simulator started, so a missed tick never skews them; stateful ones
//! (counter, random walk) advance once per tick from their current value. The
//! random walk uses a fixed seed, so a simulator run is reproducible.
//!
//! A generated value that its register's type cannot hold (a counter past
//! `u16::MAX`) restarts from zero, as a device counter wraps.

use std::collections::HashMap;

use super::TICK;
use super::tables::{Tables, write_value};
use crate::config::{Generator, SimRegister};
use crate::modbus::backoff::splitmix64;
use crate::tags::{DataType, Value};

/// Seed of the random walk: fixed so that runs repeat.
const SEED: u64 = 0x5EED;

/// Every animated register with its current value.
pub(super) struct Generators {
    /// The register and the value it last took (the start for stateful generators).
    registers: Vec<(SimRegister, f64)>,
    /// State of the random walk's splitmix64 stream.
    rng: u64,
}

impl Generators {
    pub(super) fn new() -> Self {
        Generators {
            registers: Vec::new(),
            rng: SEED,
        }
    }

    /// Animate a configured register; a `Constant` one needs no generator and is skipped.
    pub(super) fn add(&mut self, register: &SimRegister) {
        if register.generator != Generator::Constant {
            let start = register.initial.as_f64().unwrap_or(0.0);
            self.registers.push((register.clone(), start));
        }
    }

    /// Advance every generator to `t` seconds since start and write the values into `units`.
    pub(super) fn tick(&mut self, units: &mut HashMap<u8, Tables>, t: f64) {
        let Generators { registers, rng } = self;
        for (reg, current) in registers.iter_mut() {
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
                    // Whole periods since start: t >= 0, so the floor is never negative.
                    let periods = (t / period.as_secs_f64().max(1e-3)).floor();
                    let on = periods.rem_euclid(2.0) >= 1.0;
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
            // An integer register holds whole steps; a float one the exact value.
            let typed = if matches!(reg.encoding.data_type, DataType::F32 | DataType::F64) {
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
}
