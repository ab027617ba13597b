//! `[simulator]`: the built-in device's listeners, its registers with their
//! generators, and the address ranges it answers with an exception.

use std::ops::Range;

use toml::Spanned;

use super::super::address::resolve_address;
use super::super::raw::{RawSimRegister, RawSimulator};
use super::super::{Generator, SimException, SimRegister, SimulatorConfig, TagConfig, defaults};
use super::Builder;
use crate::modbus::codec::Encoding;
use crate::modbus::protocol::{ADDRESS_END, MAX_READ_REGISTERS, fits_address_space};
use crate::tags::{DataType, Value};

impl Builder<'_> {
    pub(super) fn simulator(&mut self, s: Spanned<RawSimulator>) -> SimulatorConfig {
        let s = s.into_inner();
        let p = "simulator: ";
        let enabled = s.enabled.as_ref().is_none_or(|e| *e.get_ref());
        let listen = self.socket_addr(
            "simulator: listen",
            s.listen.as_ref(),
            defaults::SIMULATOR_LISTEN,
        );
        let rtu = s.rtu_port.as_ref().map(|port| {
            let baud = self.narrow(
                p,
                "rtu_baud",
                s.rtu_baud.as_ref(),
                300..=1_000_000,
                defaults::SIMULATOR_RTU_BAUD,
            );
            (port.get_ref().clone(), baud)
        });
        let mut registers = Vec::new();
        for r in s.register {
            let span = r.span();
            if let Some(reg) = self.sim_register(r.get_ref(), &span) {
                registers.push(reg);
            }
        }
        let mut exceptions = Vec::new();
        for e in s.exception {
            let e = e.into_inner();
            let Some(kind) = self.kind("simulator exception: ", &e.kind) else {
                continue;
            };
            let start = self.int(
                "simulator exception: ",
                "start",
                Some(&e.start),
                0..=65_535,
                0,
            );
            let count = self.int(
                "simulator exception: ",
                "count",
                e.count.as_ref(),
                1..=i64::from(ADDRESS_END) - start,
                1,
            );
            exceptions.push(SimException {
                unit: u8::try_from(self.int(
                    "simulator exception: ",
                    "unit",
                    e.unit.as_ref(),
                    0..=255,
                    1,
                ))
                .unwrap_or(1),
                kind,
                start: u16::try_from(start).unwrap_or(0),
                count: u16::try_from(count).unwrap_or(u16::MAX),
                code: u8::try_from(self.int(
                    "simulator exception: ",
                    "code",
                    e.code.as_ref(),
                    1..=255,
                    2,
                ))
                .unwrap_or(2),
            });
        }
        SimulatorConfig {
            enabled,
            listen,
            rtu,
            registers,
            exceptions,
        }
    }

    fn sim_register(&mut self, r: &RawSimRegister, span: &Range<usize>) -> Option<SimRegister> {
        let p = "simulator register: ";
        let kind = match r.kind.as_ref() {
            Some(k) => Some(self.kind(p, k)?),
            None => None,
        };
        let (kind, address, _) = match resolve_address(kind, r.address.get_ref()) {
            Ok(x) => x,
            Err(e) => {
                self.d.error(&r.address.span(), format!("{p}{e}"));
                return None;
            }
        };
        let data_type = match r.data_type.as_ref() {
            Some(t) => self.data_type(p, t)?,
            None if kind.is_bit() => DataType::Bool,
            None => DataType::U16,
        };
        if kind.is_bit() != (data_type == DataType::Bool) {
            self.d.error(
                span,
                format!(
                    "{p}{} registers hold {}",
                    kind.as_str(),
                    if kind.is_bit() {
                        "bool only"
                    } else {
                        "numbers or strings; use a tag with `bit` to read bits"
                    }
                ),
            );
            return None;
        }
        let length = match (data_type, r.length.as_ref()) {
            (DataType::String, v) => self.narrow(
                p,
                "length",
                v,
                1..=i64::from(MAX_READ_REGISTERS),
                defaults::SIMULATOR_STRING_LENGTH,
            ),
            _ => 0,
        };
        let encoding = Encoding {
            data_type,
            order: self.order(p, r.order.as_ref(), defaults::ORDER),
            bit: None,
            length,
            scale: None,
            offset: 0.0,
        };
        let count = TagConfig::footprint(kind, &encoding);
        if !fits_address_space(address, count) {
            self.d.error(
                &r.address.span(),
                format!("{p}address {address} + {count} registers runs past 65535"),
            );
            return None;
        }
        let initial = match r.value.as_ref() {
            None => default_value(data_type),
            Some(v) => {
                if let Some(x) = toml_to_value(v.get_ref(), data_type) {
                    x
                } else {
                    self.d.error(
                        &v.span(),
                        format!(
                            "{p}value: {} is not a valid {}",
                            v.get_ref(),
                            data_type.as_str()
                        ),
                    );
                    return None;
                }
            }
        };
        let min = r
            .min
            .as_ref()
            .map_or(defaults::SIMULATOR_MIN, |v| *v.get_ref());
        let max = r
            .max
            .as_ref()
            .map_or(defaults::SIMULATOR_MAX, |v| *v.get_ref());
        let step = r
            .step
            .as_ref()
            .map_or(defaults::SIMULATOR_STEP, |v| *v.get_ref());
        let period = self.duration(
            p,
            "period",
            r.period.as_ref(),
            defaults::SIMULATOR_PERIOD,
            false,
        );
        let generator = match r.generator.as_ref().map(|g| g.get_ref().as_str()) {
            None | Some("constant") => Generator::Constant,
            Some("ramp") => Generator::Ramp { min, max, period },
            Some("sine") => Generator::Sine { min, max, period },
            Some("counter") => Generator::Counter { step, period },
            Some("random_walk") => Generator::RandomWalk { min, max, step },
            Some("toggle") => Generator::Toggle { period },
            Some(other) => {
                let s = r.generator.as_ref().map_or(span.clone(), Spanned::span);
                self.d.error(&s, format!("{p}generator: {other:?} is not a generator; use constant, ramp, sine, counter, random_walk or toggle"));
                return None;
            }
        };
        let wants_bool = matches!(generator, Generator::Toggle { .. });
        if generator != Generator::Constant
            && (wants_bool != (data_type == DataType::Bool) || data_type == DataType::String)
        {
            self.d.error(
                span,
                format!(
                    "{p}generator does not fit type {} (toggle is for bool, the others for numbers)",
                    data_type.as_str()
                ),
            );
            return None;
        }
        Some(SimRegister {
            unit: u8::try_from(self.int(p, "unit", r.unit.as_ref(), 0..=255, 1)).unwrap_or(1),
            kind,
            address,
            encoding,
            initial,
            generator,
        })
    }
}

fn default_value(t: DataType) -> Value {
    match t {
        DataType::Bool => Value::Bool(false),
        DataType::String => Value::String(String::new()),
        _ => Value::F64(0.0),
    }
}

/// A config value as a `Value` for `data_type` (numbers as f64/i64, converted on encode).
fn toml_to_value(v: &toml::Value, t: DataType) -> Option<Value> {
    match (t, v) {
        (DataType::Bool, toml::Value::Boolean(b)) => Some(Value::Bool(*b)),
        (DataType::String, toml::Value::String(s)) => Some(Value::String(s.clone())),
        (DataType::Bool | DataType::String, _) => None,
        (_, toml::Value::Integer(i)) => Some(Value::I64(*i)),
        (_, toml::Value::Float(f)) => Some(Value::F64(*f)),
        _ => None,
    }
}
