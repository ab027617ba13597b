//! `edge-gateway check`: the poll plan of a validated config, without
//! connecting to anything. Per bus and device the read blocks, requests per
//! cycle against one request per tag, and for RTU the estimated bus load: a
//! warning above [`BUS_LOAD_WARNING`], and a refusal ([`super::EXIT_BUS_OVERLOADED`])
//! above [`BUS_LOAD_LIMIT`], where the bus cannot keep its poll intervals.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use crate::config::{Config, DeviceConfig, Parity, SerialSettings, Transport, format_duration};
use crate::modbus::bus::{DevicePlan, plan_buses};
use crate::modbus::link::Target;
use crate::modbus::plan::{self, Block};

/// RTU bus load above which `check` warns.
pub const BUS_LOAD_WARNING: f64 = 0.8;
/// RTU bus load above which `check` fails: more bus time per cycle than there is.
pub const BUS_LOAD_LIMIT: f64 = 1.0;

/// Bytes of a read request on an RTU line: address, function, start, count, CRC.
const RTU_READ_REQUEST_BYTES: u32 = 8;
/// Fixed bytes of a read response: address, function, byte count, CRC.
const RTU_READ_RESPONSE_OVERHEAD: u32 = 5;

/// Estimated time of one block on an RTU line: both frames and both silent intervals.
pub fn rtu_block_time(block: &Block, serial: &SerialSettings, pause: Duration) -> Duration {
    let data = if block.kind.is_bit() {
        u32::from(block.count).div_ceil(8)
    } else {
        u32::from(block.count) * 2
    };
    let chars = RTU_READ_REQUEST_BYTES + RTU_READ_RESPONSE_OVERHEAD + data;
    serial.char_time() * chars + serial.inter_frame_gap() * 2 + pause
}

/// The estimated load of one serial bus.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialLoad {
    /// The bus, as `rtu:///dev/ttyUSB0`.
    pub bus: String,
    /// Bus time per second of polling, summed over its devices (1.0 = 100 %).
    pub load: f64,
}

impl SerialLoad {
    /// True above [`BUS_LOAD_LIMIT`]: the bus cannot keep its poll intervals.
    pub fn overloaded(&self) -> bool {
        self.load > BUS_LOAD_LIMIT
    }

    /// True above [`BUS_LOAD_WARNING`], whether or not overloaded.
    pub fn high(&self) -> bool {
        self.load > BUS_LOAD_WARNING
    }
}

/// What `check` found: the printed plan and the load of every serial bus.
#[derive(Debug, Clone)]
pub struct CheckReport {
    /// The plan as printed, one line per bus, device, block and total.
    pub text: String,
    /// Every RTU bus, in plan order.
    pub serial: Vec<SerialLoad>,
}

/// How `check` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The config is valid and every serial bus can keep up (warnings aside).
    Ok,
    /// The config is valid, but a serial bus is estimated above [`BUS_LOAD_LIMIT`].
    Overloaded,
}

fn parity_letter(p: Parity) -> char {
    match p {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
    }
}

/// One device of the plan; `c` is its full config (the plan keeps only a
/// compact copy of each tag, without names).
fn describe_device(out: &mut String, d: &DevicePlan, c: &DeviceConfig) {
    let naive = plan::naive_requests(&d.spans);
    let _ = writeln!(
        out,
        "  device {} (unit {}, poll {}, timeout {}): {} tags -> {} requests per cycle (naive: {naive})",
        c.name,
        c.unit,
        format_duration(c.poll),
        format_duration(c.timeout),
        c.tags.len(),
        d.blocks.len()
    );
    for b in &d.blocks {
        let names: Vec<&str> = b
            .tags
            .iter()
            .filter_map(|&t| c.tags.get(t).map(|t| t.name.as_str()))
            .collect();
        let unit = if b.kind.is_bit() { "bits" } else { "registers" };
        let end = u32::from(b.start) + u32::from(b.count).saturating_sub(1);
        let _ = writeln!(
            out,
            "    {:<8} {:>5}..={:<5} ({:>3} {unit:<9}) {}",
            b.kind.as_str(),
            b.start,
            end,
            b.count,
            names.join(", ")
        );
    }
}

/// The plan `check` prints: per bus and device the read blocks, requests per
/// cycle against one-request-per-tag, and for RTU the estimated bus load.
pub fn check_report(config: &Config) -> CheckReport {
    let mut out = String::new();
    let mut serial_loads = Vec::new();
    let (mut total_requests, mut total_naive, mut total_tags) = (0usize, 0usize, 0usize);
    for bus in plan_buses(config) {
        let _ = writeln!(out, "bus {}", bus.key);
        let mut load = 0.0;
        for d in &bus.devices {
            describe_device(
                &mut out,
                d,
                config.devices.get(d.id.index()).unwrap_or(&d.config),
            );
            total_requests += d.blocks.len();
            total_naive += plan::naive_requests(&d.spans);
            total_tags += d.tags.len();
            if let Transport::Rtu { serial, .. } = &d.config.transport {
                let cycle: Duration = d
                    .blocks
                    .iter()
                    .map(|b| rtu_block_time(b, serial, d.config.pause_between_requests))
                    .sum();
                let share = cycle.as_secs_f64() / d.config.poll.as_secs_f64().max(1e-6);
                load += share;
                let _ = writeln!(
                    out,
                    "    estimated bus time per cycle: {:.1} ms of {} ({:.1} %)",
                    cycle.as_secs_f64() * 1000.0,
                    format_duration(d.config.poll),
                    share * 100.0
                );
            }
        }
        if let Target::Rtu { serial, .. } = &bus.target {
            let _ = writeln!(
                out,
                "  serial {} {}{}{}: estimated bus load {:.1} % (frames and silent intervals; device turnaround time not included)",
                serial.baud,
                serial.data_bits,
                parity_letter(serial.parity),
                serial.stop_bits,
                load * 100.0
            );
            let bus_load = SerialLoad {
                bus: bus.key.clone(),
                load,
            };
            if bus_load.overloaded() {
                let _ = writeln!(
                    out,
                    "  error: bus load above {:.0} %: the bus cannot keep these poll intervals; poll less often, raise the baud rate, or move tags to fewer blocks",
                    BUS_LOAD_LIMIT * 100.0
                );
            } else if bus_load.high() {
                let _ = writeln!(
                    out,
                    "  warning: bus load above {:.0} %: poll less often, raise the baud rate, or move tags to fewer blocks",
                    BUS_LOAD_WARNING * 100.0
                );
            }
            serial_loads.push(bus_load);
        }
    }
    let _ = writeln!(
        out,
        "total: {} devices, {total_tags} tags, {total_requests} requests per cycle (naive: {total_naive})",
        config.devices.len()
    );
    CheckReport {
        text: out,
        serial: serial_loads,
    }
}

/// Run `check` on a loaded config: config warnings and bus-load warnings and
/// errors to `err`, the plan and the verdict line to `out`.
pub fn check(
    config: &Config,
    path: &Path,
    out: &mut impl Write,
    err: &mut impl Write,
) -> io::Result<CheckOutcome> {
    for w in &config.warnings {
        writeln!(err, "{w}")?;
    }
    let report = check_report(config);
    out.write_all(report.text.as_bytes())?;
    let mut outcome = CheckOutcome::Ok;
    for s in &report.serial {
        if s.overloaded() {
            outcome = CheckOutcome::Overloaded;
            writeln!(
                err,
                "error: bus {}: estimated load {:.1} % is above {:.0} %; it cannot keep its poll intervals",
                s.bus,
                s.load * 100.0,
                BUS_LOAD_LIMIT * 100.0
            )?;
        } else if s.high() {
            writeln!(
                err,
                "warning: bus {}: estimated load {:.1} % is above {:.0} %",
                s.bus,
                s.load * 100.0,
                BUS_LOAD_WARNING * 100.0
            )?;
        }
    }
    match outcome {
        CheckOutcome::Ok => writeln!(out, "{}: OK", path.display())?,
        CheckOutcome::Overloaded => writeln!(
            err,
            "{}: refused: a serial bus is overloaded (exit {})",
            path.display(),
            super::EXIT_BUS_OVERLOADED
        )?,
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::Kind;

    #[test]
    fn rtu_block_time_counts_frames_and_gaps() {
        let serial = SerialSettings {
            baud: 9600,
            parity: Parity::Even,
            stop_bits: 1,
            data_bits: 8,
        };
        let block = Block {
            kind: Kind::Input,
            start: 0,
            count: 10,
            tags: vec![0],
        };
        // 8 + 5 + 20 = 33 chars of 11 bits at 9600 baud, plus 2 × 3.5 chars.
        let expected = (33.0 + 7.0) * 11.0 / 9600.0;
        let got = rtu_block_time(&block, &serial, Duration::ZERO).as_secs_f64();
        assert!((got - expected).abs() < 1e-6, "{got} vs {expected}");
    }

    fn rtu_config(baud: u32, poll: &str, tags: usize) -> Config {
        let mut text = format!(
            "[[device]]\nname = \"d\"\nprotocol = \"rtu\"\nport = \"/dev/ttyS9\"\nbaud = {baud}\npoll = \"{poll}\"\nmax_gap = 0\n"
        );
        for i in 0..tags {
            let _ = write!(
                text,
                "[[device.tag]]\nname = \"t{i}\"\naddress = \"{}\"\ntype = \"u16\"\n",
                40_001 + 2 * i
            );
        }
        match Config::parse(&text, "t.toml") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_bus_over_its_time_budget_is_overloaded_and_refused() {
        // One register at 1200 baud 8E1: (8 + 5 + 2 + 7) chars × 11 bits ≈ 202 ms per 100 ms.
        let config = rtu_config(1200, "100ms", 1);
        let report = check_report(&config);
        assert_eq!(report.serial.len(), 1);
        assert!(report.serial[0].overloaded(), "{report:?}");
        assert!(
            report.text.contains("  error: bus load above 100 %"),
            "{}",
            report.text
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let outcome = check(&config, Path::new("t.toml"), &mut out, &mut err).unwrap();
        assert_eq!(outcome, CheckOutcome::Overloaded);
        assert!(!String::from_utf8_lossy(&out).contains("t.toml: OK"));
    }

    #[test]
    fn a_busy_bus_warns_and_a_quiet_one_does_not() {
        // 2 blocks of one register at 9600 baud: 2 × 22 chars × 11 bits ≈ 50.4 ms per 60 ms.
        let busy = check_report(&rtu_config(9600, "60ms", 2));
        assert!(
            busy.serial[0].high() && !busy.serial[0].overloaded(),
            "{busy:?}"
        );
        assert!(
            busy.text.contains("  warning: bus load above 80 %"),
            "{}",
            busy.text
        );
        let quiet = check_report(&rtu_config(9600, "1s", 2));
        assert!(!quiet.serial[0].high(), "{quiet:?}");
        assert!(!quiet.text.contains("warning"), "{}", quiet.text);
    }
}
