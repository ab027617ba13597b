//! `edge-gateway read`: one Modbus read, decoded and printed with the raw
//! registers, for commissioning. It takes its endpoint, address and type
//! spellings from the same parsers as the config, so what works here works in
//! gateway.toml.

use std::fmt::Write as _;
use std::io::{self, Write};
use std::time::Duration;

use tokio_modbus::prelude::Response;

use crate::config::{self, EndpointError, SerialSettings, TagConfig};
use crate::modbus::codec::{self, Encoding};
use crate::modbus::link::{Link, LinkError, Target};
use crate::modbus::protocol::{
    ADDRESS_END, ExceptionCode, MAX_READ_BITS, MAX_READ_REGISTERS, exception_name,
    exception_number, max_read, read_request,
};
use crate::tags::{DataType, Kind, Value, WordOrder};

/// Reconnect backoff of the probe's one link; it connects once.
const PROBE_BACKOFF: Duration = Duration::from_millis(100);

/// The `read` arguments, typed.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Modbus TCP endpoint as the user typed it; see [`config::parse_tcp_endpoint`].
    pub host: Option<String>,
    /// Serial port for Modbus RTU, when there is no `host`.
    pub port: Option<String>,
    /// Line settings for `port`.
    pub serial: SerialSettings,
    /// Unit id (slave address).
    pub unit: u8,
    /// Register kind; `None` when `address` is a Modicon string.
    pub kind: Option<Kind>,
    /// A 0-based number (with `kind`) or a Modicon string such as "40001".
    pub address: String,
    /// Number of values (not registers).
    pub count: u16,
    /// How to decode each value.
    pub data_type: DataType,
    /// Byte/word order of multi-register values.
    pub order: WordOrder,
    /// String length in registers (type string).
    pub length: u16,
    /// Response timeout.
    pub timeout: Duration,
}

/// Why `read` printed no values.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `--address` is not an address of the kind given.
    #[error("--address: {0}")]
    Address(String),
    /// `--host` is not a TCP endpoint.
    #[error("--host {host:?}: {source}")]
    Host {
        /// As given.
        host: String,
        /// What is wrong with it.
        source: EndpointError,
    },
    /// Neither `--host` nor `--port`.
    #[error("give --host for Modbus TCP or --port for RTU")]
    NoTarget,
    /// A bit table with a register type, or the other way round.
    #[error("coils and discrete inputs read as --type bool; registers as a numeric type or string")]
    TypeMismatch,
    /// The read itself failed.
    #[error(transparent)]
    Probe(#[from] ProbeError),
    /// The values could not be printed.
    #[error("writing the output: {0}")]
    Write(#[from] io::Error),
}

/// The probe `options` describe, and a warning when a 0-based address looks
/// like a Modicon one.
pub fn plan_probe(options: &ReadOptions) -> Result<(Probe, Option<String>), ReadError> {
    let (kind, address, hint) =
        config::parse_address(options.kind, &options.address).map_err(ReadError::Address)?;
    let warning = hint.map(|_| {
        let text = options.address.trim();
        format!(
            "warning: with --kind, --address {text} is the 0-based protocol address; if the manual says {text}, drop --kind (then it is {} {})",
            kind.as_str(),
            text.parse::<u32>()
                .map_or(0, |n| n % 10_000)
                .saturating_sub(1)
        )
    });
    if kind.is_bit() != (options.data_type == DataType::Bool) {
        return Err(ReadError::TypeMismatch);
    }
    let target = match (&options.host, &options.port) {
        (Some(host), _) => {
            Target::Tcp(
                config::parse_tcp_endpoint(host).map_err(|source| ReadError::Host {
                    host: host.clone(),
                    source,
                })?,
            )
        }
        (None, Some(port)) => Target::Rtu {
            port: port.clone(),
            serial: options.serial,
        },
        (None, None) => return Err(ReadError::NoTarget),
    };
    let probe = Probe {
        target,
        unit: options.unit,
        kind,
        address,
        count: options.count,
        encoding: Encoding {
            data_type: options.data_type,
            order: options.order,
            bit: None,
            length: options.length,
            scale: None,
            offset: 0.0,
        },
        timeout: options.timeout.max(Duration::from_millis(1)),
    };
    Ok((probe, warning))
}

/// Run `read`: the address warning (if any) to `err`, the values to `out`.
pub async fn read(
    options: &ReadOptions,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<(), ReadError> {
    let (probe, warning) = plan_probe(options)?;
    if let Some(w) = warning {
        writeln!(err, "{w}")?;
    }
    let lines = self::probe(&probe).await?;
    out.write_all(format_probe(&probe, &lines).as_bytes())?;
    Ok(())
}

/// What `read` probes.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The TCP endpoint or serial port.
    pub target: Target,
    /// Unit id (slave address).
    pub unit: u8,
    /// The register table to read.
    pub kind: Kind,
    /// 0-based protocol address of the first value.
    pub address: u16,
    /// Number of values (not registers).
    pub count: u16,
    /// How each value is decoded.
    pub encoding: Encoding,
    /// How long to wait for the response.
    pub timeout: Duration,
}

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// No connection, a timeout, or a malformed response.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The device answered with a Modbus exception.
    #[error("device answered with Modbus exception {number} ({name})", number = exception_number(*.0), name = exception_name(*.0))]
    Exception(ExceptionCode),
    /// The values would run past the end of the address space.
    #[error("{count} values of {per} registers from {address} run past register 65535")]
    Range {
        /// First address.
        address: u16,
        /// Values asked for.
        count: u16,
        /// Registers per value.
        per: u16,
    },
    /// More than one request can carry.
    #[error(
        "{0} registers do not fit in one request (at most {MAX_READ_REGISTERS}, or {MAX_READ_BITS} bits)"
    )]
    TooMany(u32),
}

/// One probed value: its address, the raw registers, and the decoded value or why not.
pub type ProbeLine = (u16, Vec<u16>, Result<Value, codec::CodecError>);

/// Read `count` consecutive values once, for commissioning.
pub async fn probe(p: &Probe) -> Result<Vec<ProbeLine>, ProbeError> {
    let per = TagConfig::footprint(p.kind, &p.encoding).max(1);
    let total = u32::from(per) * u32::from(p.count);
    if u32::from(p.address) + total > ADDRESS_END {
        return Err(ProbeError::Range {
            address: p.address,
            count: p.count,
            per,
        });
    }
    let n = u16::try_from(total)
        .ok()
        .filter(|n| *n >= 1 && *n <= max_read(p.kind))
        .ok_or(ProbeError::TooMany(total))?;
    let backoff = crate::config::Backoff {
        min: PROBE_BACKOFF,
        max: PROBE_BACKOFF,
    };
    let mut link = Link::new(p.target.clone(), backoff);
    let request = read_request(p.kind, p.address, n);
    let response = link
        .call(p.unit, request, p.timeout, None)
        .await?
        .map_err(ProbeError::Exception)?;
    let lines = match response {
        Response::ReadCoils(bits) | Response::ReadDiscreteInputs(bits) => bits
            .iter()
            .take(usize::from(n))
            .zip(p.address..)
            .map(|(b, a)| (a, vec![u16::from(*b)], Ok(codec::decode_bit(*b))))
            .collect(),
        Response::ReadHoldingRegisters(regs) | Response::ReadInputRegisters(regs) => regs
            .chunks(usize::from(per))
            .zip((0u32..).map(|i| u32::from(p.address) + i * u32::from(per)))
            .map(|(r, a)| {
                (
                    u16::try_from(a).unwrap_or(u16::MAX),
                    r.to_vec(),
                    codec::decode(r, &p.encoding),
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(lines)
}

/// Human form of a probe result, one value per line.
pub fn format_probe(p: &Probe, lines: &[ProbeLine]) -> String {
    let mut out = String::new();
    let prefix = match p.kind {
        Kind::Coil => 0,
        Kind::Discrete => 1,
        Kind::Input => 3,
        Kind::Holding => 4,
    };
    for (address, raw, value) in lines {
        let hex: Vec<String> = raw.iter().map(|r| format!("0x{r:04X}")).collect();
        let shown = match value {
            Ok(v) => v.to_string(),
            Err(e) => format!("<{e}>"),
        };
        let modicon = u32::from(*address) + 1 + prefix * 100_000;
        let _ = writeln!(
            out,
            "{:<8} {address:>5} ({modicon:06})  {:<6} = {shown:<24} [{}]",
            p.kind.as_str(),
            p.encoding.data_type.as_str(),
            hex.join(" ")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Parity;

    fn options(host: &str) -> ReadOptions {
        ReadOptions {
            host: Some(host.to_owned()),
            port: None,
            serial: SerialSettings {
                baud: 19_200,
                parity: Parity::Even,
                stop_bits: 1,
                data_bits: 8,
            },
            unit: 1,
            kind: None,
            address: "40001".into(),
            count: 1,
            data_type: DataType::U16,
            order: WordOrder::Abcd,
            length: 8,
            timeout: Duration::from_secs(1),
        }
    }

    fn endpoint(host: &str) -> String {
        match plan_probe(&options(host)) {
            Ok((
                Probe {
                    target: Target::Tcp(e),
                    ..
                },
                None,
            )) => e,
            other => panic!("{host}: {other:?}"),
        }
    }

    #[test]
    fn hosts_without_a_port_get_the_modbus_port_as_in_the_config() {
        assert_eq!(endpoint("127.0.0.1"), "127.0.0.1:502");
        assert_eq!(endpoint("::1"), "[::1]:502");
        assert_eq!(endpoint("[::1]:5020"), "[::1]:5020");
        assert_eq!(endpoint("plc.local"), "plc.local:502");
    }

    #[test]
    fn a_bad_port_a_bad_address_and_a_bit_type_mismatch_are_refused() {
        assert!(matches!(
            plan_probe(&options("10.0.0.1:0")),
            Err(ReadError::Host { .. })
        ));
        let mut o = options("10.0.0.1");
        o.address = "50001".into();
        assert!(matches!(plan_probe(&o), Err(ReadError::Address(_))));
        let mut o = options("10.0.0.1");
        o.data_type = DataType::Bool;
        assert!(matches!(plan_probe(&o), Err(ReadError::TypeMismatch)));
    }

    #[test]
    fn a_0_based_address_that_looks_modicon_gets_a_warning() {
        let mut o = options("10.0.0.1");
        o.kind = Some(Kind::Holding);
        o.address = "40001".into();
        let (probe, warning) = plan_probe(&o).unwrap();
        assert_eq!(probe.address, 40_001, "with --kind the number is 0-based");
        assert!(
            warning.is_some_and(|w| w.contains("drop --kind (then it is holding 0)")),
            "{probe:?}"
        );
    }

    #[test]
    fn every_spelling_table_names_each_variant_once_as_as_str_does() {
        for (name, kind) in Kind::NAMES {
            assert_eq!(kind.as_str(), *name);
        }
        for (name, t) in DataType::NAMES {
            assert_eq!(t.as_str(), *name);
        }
        for (name, order) in WordOrder::NAMES {
            assert_eq!(order.as_str().to_ascii_lowercase(), *name);
        }
        assert_eq!(Kind::NAMES.len(), 4);
        assert_eq!(WordOrder::NAMES.len(), 4);
        assert_eq!(Parity::NAMES.len(), 3);
    }
}
