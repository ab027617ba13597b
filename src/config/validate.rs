//! Phase two: raw structs → `Config`, collecting every problem with its place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::diag::Diagnostics;
use super::raw::{
    RawAddress, RawConfig, RawDevice, RawOpcua, RawSimRegister, RawSimulator, RawTag,
};
use super::{
    Backoff, Config, ConfigError, DEFAULT_HTTP_LISTEN, DeviceConfig, Generator, Link, OpcuaConfig,
    OpcuaLimits, OpcuaUser, Parity, Security, SerialSettings, SimException, SimRegister,
    SimulatorConfig, TagConfig, parse_duration,
};
use crate::modbus::codec::Encoding;
use crate::modbus::plan::Limits;
use crate::tags::{DataType, Kind, Value, WordOrder};

/// More serde errors than this in one file are not worth reporting one by one.
const MAX_SYNTAX_ERRORS: usize = 20;
/// Bits per read request for coils and discrete inputs (Modbus application protocol §6.1).
const MAX_BITS: u16 = 2000;
/// Registers per read request (Modbus application protocol §6.3).
const MAX_REGISTERS: i64 = 125;

pub(super) fn validate(text: &str, file: &str) -> Result<Config, ConfigError> {
    let mut diags = Diagnostics::new(file, text);
    let raw = parse_raw(text, &mut diags);
    let config = raw.map(|raw| build(raw, &mut diags));
    match config {
        Some(mut config) if !diags.has_errors() => {
            config.warnings = diags.into_sorted();
            Ok(config)
        }
        _ => Err(ConfigError::Invalid {
            file: file.to_owned(),
            diagnostics: diags.into_sorted(),
        }),
    }
}

/// Deserialize the raw structs. serde stops at the first problem, so on an error
/// that points at a complete `key = value` line, that line is blanked (keeping
/// every offset) and parsing resumes: one run reports every unknown key.
fn parse_raw(text: &str, diags: &mut Diagnostics) -> Option<RawConfig> {
    let mut text = text.to_owned();
    for _ in 0..MAX_SYNTAX_ERRORS {
        match toml::from_str::<RawConfig>(&text) {
            Ok(raw) => return Some(raw),
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                diags.error(&span, e.message().trim().replace('\n', " "));
                if !blank_line_at(&mut text, span.start) {
                    return None;
                }
            }
        }
    }
    None
}

/// Blank the line holding `offset` if it is a self-contained `key = value` line.
fn blank_line_at(text: &mut String, offset: usize) -> bool {
    let start = text
        .get(..offset)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i.saturating_add(1));
    let end = text
        .get(offset..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| i.saturating_add(offset));
    let Some(line) = text.get(start..end) else {
        return false;
    };
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') || !trimmed.contains('=') || line.trim().is_empty() {
        return false;
    }
    if toml::from_str::<toml::Table>(line).is_err() {
        return false;
    }
    let blank = " ".repeat(end.saturating_sub(start));
    text.replace_range(start..end, &blank);
    true
}

/// Context prefix of a message: where in the model the key sits.
fn ctx(device: &str, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("device {device:?} tag {t:?}: "),
        None => format!("device {device:?}: "),
    }
}

struct Builder<'a> {
    d: &'a mut Diagnostics,
}

/// "a coil", "an input": the kind with its article.
fn a_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Coil => "a coil",
        Kind::Discrete => "a discrete input",
        Kind::Input => "an input register",
        Kind::Holding => "a holding register",
    }
}

impl Builder<'_> {
    /// Report a missing key, unless the table already has an error (a misspelt
    /// key is reported as unknown, and its absence would only repeat that).
    fn missing(&mut self, span: &Range<usize>, message: String) {
        if !self.d.table_has_error(span) {
            self.d.error(span, message);
        }
    }

    fn duration(
        &mut self,
        prefix: &str,
        key: &str,
        v: Option<&Spanned<String>>,
        default: Duration,
        allow_zero: bool,
    ) -> Duration {
        let Some(v) = v else { return default };
        match parse_duration(v.get_ref()) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.d
                    .error(&v.span(), format!("{prefix}{key}: must be more than zero"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.d.error(&v.span(), format!("{prefix}{key}: {e}"));
                default
            }
        }
    }

    fn int(
        &mut self,
        prefix: &str,
        key: &str,
        v: Option<&Spanned<i64>>,
        range: std::ops::RangeInclusive<i64>,
        default: i64,
    ) -> i64 {
        let Some(v) = v else { return default };
        let n = *v.get_ref();
        if range.contains(&n) {
            n
        } else {
            self.d.error(
                &v.span(),
                format!(
                    "{prefix}{key}: {n} is out of range ({}..={})",
                    range.start(),
                    range.end()
                ),
            );
            default
        }
    }

    fn name(
        &mut self,
        what: &str,
        v: Option<&Spanned<String>>,
        span: &Range<usize>,
        allow_dot: bool,
    ) -> String {
        let Some(v) = v else {
            if !self.d.table_has_error(span) {
                self.d.error(span, format!("{what}: missing key `name`"));
            }
            return String::new();
        };
        let name = v.get_ref();
        let ok_char =
            |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || (allow_dot && c == '.');
        if name.is_empty() || !name.chars().all(ok_char) {
            let allowed = if allow_dot {
                "letters, digits, '_', '-' and '.'"
            } else {
                "letters, digits, '_' and '-'"
            };
            self.d.error(
                &v.span(),
                format!("{what}: name {name:?} must be non-empty and use only {allowed}"),
            );
        }
        name.clone()
    }
}

fn build(raw: RawConfig, d: &mut Diagnostics) -> Config {
    let mut b = Builder { d };
    let gateway_name = match raw.gateway.as_ref().and_then(|g| g.name.as_ref()) {
        Some(n) if n.get_ref().trim().is_empty() || n.get_ref().contains('/') => {
            b.d.error(
                &n.span(),
                "gateway: name must be non-empty and must not contain '/'",
            );
            String::new()
        }
        Some(n) => n.get_ref().clone(),
        None => "edge-gateway".to_owned(),
    };
    let http_listen = socket_addr(
        &mut b,
        "http: listen",
        raw.http.as_ref().and_then(|h| h.listen.as_ref()),
        DEFAULT_HTTP_LISTEN,
    );
    let metrics_tag_values = raw
        .http
        .as_ref()
        .and_then(|h| h.metrics_tag_values.as_ref())
        .is_none_or(|v| *v.get_ref());
    let ready_grace = b.duration(
        "http: ",
        "ready_grace",
        raw.http.as_ref().and_then(|h| h.ready_grace.as_ref()),
        Duration::from_secs(30),
        true,
    );
    let simulator = raw.simulator.map(|s| build_simulator(&mut b, s));
    let opcua = raw.opcua.and_then(|o| build_opcua(&mut b, o));

    let mut devices = Vec::new();
    let mut seen: HashMap<String, Range<usize>> = HashMap::new();
    for dev in raw.device {
        let span = dev.span();
        let Some(device) = build_device(&mut b, dev.into_inner(), &span) else {
            continue;
        };
        if let Some(first) = seen.get(&device.name) {
            let (line, _) = b.d_locate(first.start);
            b.d.error(
                &span,
                format!(
                    "device {:?}: duplicate device name (first defined on line {line})",
                    device.name
                ),
            );
        } else {
            seen.insert(device.name.clone(), span.clone());
        }
        devices.push((span, device));
    }
    check_buses(&mut b, &devices);
    Config {
        gateway_name,
        http_listen,
        metrics_tag_values,
        ready_grace,
        simulator,
        opcua,
        devices: devices.into_iter().map(|(_, d)| d).collect(),
        warnings: Vec::new(),
    }
}

impl Builder<'_> {
    fn d_locate(&self, offset: usize) -> (usize, usize) {
        self.d.locate(offset)
    }
}

fn socket_addr(
    b: &mut Builder,
    what: &str,
    v: Option<&Spanned<String>>,
    default: &str,
) -> SocketAddr {
    let fallback = || SocketAddr::from(([127, 0, 0, 1], 0));
    let Some(v) = v else {
        return default.parse().unwrap_or_else(|_| fallback());
    };
    match v.get_ref().parse() {
        Ok(a) => a,
        Err(_) => {
            b.d.error(&v.span(), format!("{what}: {:?} is not an IP address with a port, like \"127.0.0.1:9898\" or \"[::1]:9898\"", v.get_ref()));
            fallback()
        }
    }
}

/// The value a spelling table gives `name`, if any.
fn lookup<T: Copy>(names: &[(&str, T)], name: &str) -> Option<T> {
    names.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

fn parse_kind(b: &mut Builder, prefix: &str, v: &Spanned<String>) -> Option<Kind> {
    match lookup(Kind::NAMES, v.get_ref()) {
        Some(k) => Some(k),
        None => {
            let other = v.get_ref();
            b.d.error(&v.span(), format!("{prefix}kind: {other:?} is not a register kind; use \"coil\", \"discrete\", \"input\" or \"holding\""));
            None
        }
    }
}

fn parse_type(b: &mut Builder, prefix: &str, v: &Spanned<String>) -> Option<DataType> {
    Some(match lookup(DataType::NAMES, v.get_ref()) {
        Some(t) => t,
        None => {
            let other = v.get_ref();
            b.d.error(&v.span(), format!("{prefix}type: {other:?} is not a type; use bool, u16, i16, u32, i32, u64, i64, f32, f64 or string"));
            return None;
        }
    })
}

fn parse_order(
    b: &mut Builder,
    prefix: &str,
    v: Option<&Spanned<String>>,
    default: WordOrder,
) -> WordOrder {
    let Some(v) = v else { return default };
    match lookup(WordOrder::NAMES, &v.get_ref().to_ascii_lowercase()) {
        Some(o) => o,
        None => {
            let other = v.get_ref().to_ascii_uppercase();
            b.d.error(&v.span(), format!("{prefix}order: {other:?} is not a byte order; use \"ABCD\" (big-endian), \"CDAB\" (word-swapped), \"BADC\" (byte-swapped) or \"DCBA\" (little-endian)"));
            default
        }
    }
}

/// Resolve an address and an optional explicit kind into (kind, 0-based address).
/// Modicon strings: "40001" (5 digits, registers 1..9999) or "400001" (6 digits,
/// registers 1..65536); leading digit 0 = coil, 1 = discrete, 3 = input, 4 = holding.
pub(crate) fn resolve_address(
    kind: Option<Kind>,
    addr: &RawAddress,
) -> Result<(Kind, u16, Option<String>), String> {
    match addr {
        RawAddress::Number(n) => {
            let Some(kind) = kind else {
                return Err(format!(
                    "address {n} needs a `kind` (coil, discrete, input, holding), or write a Modicon address string such as \"40001\""
                ));
            };
            let address = u16::try_from(*n)
                .map_err(|_| format!("address {n} is out of range (0..=65535)"))?;
            let hint = modicon_lookalike(kind, *n).map(|s| {
                format!("address {n} is taken as the 0-based protocol address {n}; if the manual says {n}, write address = \"{s}\" (= {} {})", kind.as_str(), modicon_offset(*n))
            });
            Ok((kind, address, hint))
        }
        RawAddress::Modicon(s) => {
            let bad = || {
                format!(
                    "address {s:?} is not a Modicon address; write \"40001\" (holding 0), \"30001\" (input 0), \"10001\" (discrete 0), \"00001\" (coil 0), or a 0-based number with `kind`"
                )
            };
            if !(s.len() == 5 || s.len() == 6) || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let (prefix, rest) = s.split_at(1);
            let number: u32 = rest.parse().map_err(|_| bad())?;
            let modicon_kind = match prefix {
                "0" => Kind::Coil,
                "1" => Kind::Discrete,
                "3" => Kind::Input,
                "4" => Kind::Holding,
                _ => return Err(bad()),
            };
            let address = number
                .checked_sub(1)
                .and_then(|a| u16::try_from(a).ok())
                .ok_or_else(|| format!("address {s:?} is out of range: the register number after the leading digit must be 1..={}", if s.len() == 5 { 9999 } else { 65536 }))?;
            if let Some(k) = kind
                && k != modicon_kind
            {
                return Err(format!(
                    "address {s:?} is a {} address but kind = {:?}; drop `kind` or make them agree",
                    modicon_kind.as_str(),
                    k.as_str()
                ));
            }
            Ok((modicon_kind, address, None))
        }
    }
}

fn modicon_offset(n: i64) -> i64 {
    if n >= 100_000 {
        (n % 100_000) - 1
    } else {
        (n % 10_000) - 1
    }
}

/// A numeric address that looks like a Modicon one for its own kind (e.g. 40001 on holding).
fn modicon_lookalike(kind: Kind, n: i64) -> Option<String> {
    let digit = match kind {
        Kind::Coil => return None,
        Kind::Discrete => 1,
        Kind::Input => 3,
        Kind::Holding => 4,
    };
    let five = (digit * 10_000 + 1..=digit * 10_000 + 9999).contains(&n);
    five.then(|| format!("{n}"))
}

fn build_device(b: &mut Builder, dev: RawDevice, span: &Range<usize>) -> Option<DeviceConfig> {
    let name = b.name("device", dev.name.as_ref(), span, false);
    let p = ctx(&name, None);
    let protocol = match dev.protocol.as_ref() {
        None => {
            b.missing(
                span,
                format!("{p}missing key `protocol` (\"tcp\" or \"rtu\")"),
            );
            None
        }
        Some(v) => match v.get_ref().as_str() {
            "tcp" => Some(true),
            "rtu" => Some(false),
            other => {
                b.d.error(
                    &v.span(),
                    format!("{p}protocol: {other:?} is not supported; use \"tcp\" or \"rtu\""),
                );
                None
            }
        },
    };
    let serial_keys = [
        ("baud", dev.baud.as_ref().map(Spanned::span)),
        ("parity", dev.parity.as_ref().map(Spanned::span)),
        ("stop_bits", dev.stop_bits.as_ref().map(Spanned::span)),
        ("data_bits", dev.data_bits.as_ref().map(Spanned::span)),
        ("port", dev.port.as_ref().map(Spanned::span)),
        ("demote_after", dev.demote_after.as_ref().map(Spanned::span)),
        ("demote_for", dev.demote_for.as_ref().map(Spanned::span)),
    ];
    let link = match protocol {
        Some(true) => {
            for (key, s) in &serial_keys {
                if let Some(s) = s {
                    b.d.error(s, format!("{p}{key}: only applies to protocol = \"rtu\""));
                }
            }
            match dev.host.as_ref() {
                None => {
                    b.missing(
                        span,
                        format!("{p}missing key `host` (\"address:port\") for protocol = \"tcp\""),
                    );
                    None
                }
                Some(h) => tcp_endpoint(b, &p, h).map(|endpoint| Link::Tcp { endpoint }),
            }
        }
        Some(false) => {
            if let Some(h) = dev.host.as_ref() {
                b.d.error(
                    &h.span(),
                    format!(
                        "{p}host: only applies to protocol = \"tcp\"; an rtu device has `port`"
                    ),
                );
            }
            let serial = SerialSettings {
                baud: u32::try_from(b.int(&p, "baud", dev.baud.as_ref(), 300..=1_000_000, 19_200))
                    .unwrap_or(19_200),
                parity: match dev.parity.as_ref() {
                    None => Parity::Even,
                    Some(v) => match lookup(Parity::NAMES, v.get_ref()) {
                        Some(parity) => parity,
                        None => {
                            let other = v.get_ref();
                            b.d.error(&v.span(), format!("{p}parity: {other:?} is not a parity; use \"none\", \"even\" or \"odd\""));
                            Parity::Even
                        }
                    },
                },
                stop_bits: u8::try_from(b.int(&p, "stop_bits", dev.stop_bits.as_ref(), 1..=2, 1))
                    .unwrap_or(1),
                data_bits: u8::try_from(b.int(&p, "data_bits", dev.data_bits.as_ref(), 7..=8, 8))
                    .unwrap_or(8),
            };
            match dev.port.as_ref() {
                None => {
                    b.missing(
                        span,
                        format!(
                            "{p}missing key `port` (e.g. \"/dev/ttyUSB0\") for protocol = \"rtu\""
                        ),
                    );
                    None
                }
                Some(port) if port.get_ref().trim().is_empty() => {
                    b.d.error(
                        &port.span(),
                        format!("{p}port: must name a serial device such as \"/dev/ttyUSB0\""),
                    );
                    None
                }
                Some(port) => Some(Link::Rtu {
                    port: port.get_ref().clone(),
                    serial,
                }),
            }
        }
        None => None,
    };
    let unit_range = if protocol == Some(false) {
        1..=247
    } else {
        0..=255
    };
    let unit = u8::try_from(b.int(&p, "unit", dev.unit.as_ref(), unit_range, 1)).unwrap_or(1);
    let poll = b.duration(&p, "poll", dev.poll.as_ref(), Duration::from_secs(1), false);
    let timeout = b.duration(
        &p,
        "timeout",
        dev.timeout.as_ref(),
        Duration::from_millis(500),
        false,
    );
    let retries = u32::try_from(b.int(&p, "retries", dev.retries.as_ref(), 0..=10, 1)).unwrap_or(1);
    let order = parse_order(b, &p, dev.order.as_ref(), WordOrder::Abcd);
    let max_block = b.int(
        &p,
        "max_block",
        dev.max_block.as_ref(),
        1..=MAX_REGISTERS,
        MAX_REGISTERS,
    );
    let max_gap = b.int(&p, "max_gap", dev.max_gap.as_ref(), 0..=MAX_REGISTERS, 8);
    let limits = Limits {
        max_gap: u16::try_from(max_gap).unwrap_or(8),
        max_registers: u16::try_from(max_block).unwrap_or(125),
        max_bits: MAX_BITS,
    };
    let stale_after = b.duration(
        &p,
        "stale_after",
        dev.stale_after.as_ref(),
        poll.saturating_mul(3),
        false,
    );
    let pause_after_connect = b.duration(
        &p,
        "pause_after_connect",
        dev.pause_after_connect.as_ref(),
        Duration::ZERO,
        true,
    );
    let pause_between_requests = b.duration(
        &p,
        "pause_between_requests",
        dev.pause_between_requests.as_ref(),
        Duration::ZERO,
        true,
    );
    let demote_after =
        u32::try_from(b.int(&p, "demote_after", dev.demote_after.as_ref(), 1..=1000, 3))
            .unwrap_or(3);
    let demote_for = b.duration(
        &p,
        "demote_for",
        dev.demote_for.as_ref(),
        Duration::from_secs(30),
        false,
    );
    let backoff = Backoff {
        min: b.duration(
            &p,
            "backoff_min",
            dev.backoff_min.as_ref(),
            Duration::from_millis(200),
            false,
        ),
        max: b.duration(
            &p,
            "backoff_max",
            dev.backoff_max.as_ref(),
            Duration::from_secs(30),
            false,
        ),
    };
    if backoff.max < backoff.min {
        let s = dev
            .backoff_max
            .as_ref()
            .or(dev.backoff_min.as_ref())
            .map_or(span.clone(), Spanned::span);
        b.d.error(
            &s,
            format!("{p}backoff_max must not be less than backoff_min"),
        );
    }
    // On RTU every timeout is followed by a drain of up to one more timeout, so a
    // late reply cannot be taken for the next request's answer.
    let per_attempt = if protocol == Some(false) {
        timeout.saturating_mul(2)
    } else {
        timeout
    };
    let attempts = per_attempt.saturating_mul(retries.saturating_add(1));
    let what = if protocol == Some(false) {
        "2 × timeout (the wait, then a drain for a late reply) × (retries + 1)"
    } else {
        "timeout × (retries + 1)"
    };
    if attempts > poll && !b.d.table_has_error(span) {
        let s = dev.timeout.as_ref().map_or(span.clone(), Spanned::span);
        b.d.warn(&s, format!("{p}{what} = {} is more than poll = {}; a silent device will make every cycle overrun", super::format_duration(attempts), super::format_duration(poll)));
    }
    if dev.tag.is_empty() {
        b.d.warn(span, format!("{p}has no tags; it will not be polled"));
    }

    let mut tags = Vec::new();
    let mut tag_names: HashMap<String, usize> = HashMap::new();
    for t in dev.tag {
        let tspan = t.span();
        if let Some(tag) = build_tag(b, &name, order, &limits, t.into_inner(), &tspan) {
            if let Some(line) = tag_names.get(&tag.name) {
                b.d.error(
                    &tspan,
                    format!(
                        "{}duplicate tag name (first defined on line {line})",
                        ctx(&name, Some(&tag.name))
                    ),
                );
            } else {
                tag_names.insert(tag.name.clone(), tag.line);
            }
            tags.push((tspan, tag));
        }
    }
    check_overlaps(b, &name, &tags);
    Some(DeviceConfig {
        name,
        link: link?,
        unit,
        poll,
        timeout,
        retries,
        limits,
        stale_after,
        pause_after_connect,
        pause_between_requests,
        demote_after,
        demote_for,
        backoff,
        tags: tags.into_iter().map(|(_, t)| t).collect(),
    })
}

fn tcp_endpoint(b: &mut Builder, p: &str, h: &Spanned<String>) -> Option<String> {
    super::parse_tcp_endpoint(h.get_ref())
        .map_err(|e| b.d.error(&h.span(), format!("{p}host: {e}")))
        .ok()
}

fn build_tag(
    b: &mut Builder,
    device: &str,
    device_order: WordOrder,
    limits: &Limits,
    t: RawTag,
    span: &Range<usize>,
) -> Option<TagConfig> {
    let name = b.name(
        &format!("device {device:?} tag"),
        t.name.as_ref(),
        span,
        true,
    );
    let p = ctx(device, Some(&name));
    let line = b.d_locate(span.start).0;
    let explicit_kind = match t.kind.as_ref() {
        Some(k) => Some(parse_kind(b, &p, k)?),
        None => None,
    };
    let Some(addr) = t.address.as_ref() else {
        b.missing(span, format!("{p}missing key `address`"));
        return None;
    };
    let (kind, address, hint) = match resolve_address(explicit_kind, addr.get_ref()) {
        Ok(r) => r,
        Err(e) => {
            b.d.error(&addr.span(), format!("{p}{e}"));
            return None;
        }
    };
    if let Some(h) = hint {
        b.d.warn(&addr.span(), format!("{p}{h}"));
    }
    let data_type = match t.data_type.as_ref() {
        Some(v) => parse_type(b, &p, v)?,
        None if kind.is_bit() => DataType::Bool,
        None => {
            b.missing(
                span,
                format!(
                    "{p}missing key `type` (bool, u16, i16, u32, i32, u64, i64, f32, f64, string)"
                ),
            );
            return None;
        }
    };
    let type_span = t.data_type.as_ref().map_or(span.clone(), Spanned::span);
    let mut ok = true;
    if kind.is_bit() && data_type != DataType::Bool {
        b.d.error(
            &type_span,
            format!(
                "{p}type: {} is not allowed on {}; coils and discrete inputs are bool",
                data_type.as_str(),
                a_kind(kind)
            ),
        );
        ok = false;
    }
    let bit = match t.bit.as_ref() {
        None => None,
        Some(v) => {
            let n = *v.get_ref();
            if kind.is_bit() {
                b.d.error(&v.span(), format!("{p}bit: only applies to a bool read from a register; {} is already one bit", a_kind(kind)));
                ok = false;
            } else if data_type != DataType::Bool {
                b.d.error(&v.span(), format!("{p}bit: only applies to type = \"bool\" (one bit of one register), not to {}", data_type.as_str()));
                ok = false;
            } else if !(0..=15).contains(&n) {
                b.d.error(
                    &v.span(),
                    format!("{p}bit: {n} is out of range (0..=15, 0 = least significant)"),
                );
                ok = false;
            }
            u8::try_from(n).ok()
        }
    };
    if !kind.is_bit() && data_type == DataType::Bool && t.bit.is_none() {
        b.d.error(
            &type_span,
            format!("{p}type: bool on {} needs `bit` (0..=15)", a_kind(kind)),
        );
        ok = false;
    }
    let length = match (data_type, t.length.as_ref()) {
        (DataType::String, None) => {
            b.d.error(
                &type_span,
                format!("{p}type: string needs `length` (in registers, two characters each)"),
            );
            ok = false;
            1
        }
        (DataType::String, Some(v)) => u16::try_from(b.int(
            &p,
            "length",
            Some(v),
            1..=i64::from(limits.max_registers),
            1,
        ))
        .unwrap_or(1),
        (_, Some(v)) => {
            b.d.error(
                &v.span(),
                format!("{p}length: only applies to type = \"string\""),
            );
            ok = false;
            0
        }
        (_, None) => 0,
    };
    let order = parse_order(b, &p, t.order.as_ref(), device_order);
    let numeric = data_type.is_numeric();
    for (key, v) in [
        ("scale", t.scale.as_ref()),
        ("offset", t.offset.as_ref()),
        ("deadband", t.deadband.as_ref()),
    ] {
        if let Some(v) = v {
            if !numeric {
                b.d.error(
                    &v.span(),
                    format!(
                        "{p}{key}: only applies to numeric types, not {}",
                        data_type.as_str()
                    ),
                );
                ok = false;
            } else if !v.get_ref().is_finite() {
                b.d.error(&v.span(), format!("{p}{key}: must be a finite number"));
                ok = false;
            }
        }
    }
    if let Some(s) = t.scale.as_ref().filter(|s| *s.get_ref() == 0.0) {
        b.d.error(&s.span(), format!("{p}scale: must not be zero"));
        ok = false;
    }
    if let Some(db) = t.deadband.as_ref().filter(|v| *v.get_ref() < 0.0) {
        b.d.error(&db.span(), format!("{p}deadband: must not be negative"));
        ok = false;
    }
    let writable = t.writable.as_ref().is_some_and(|w| *w.get_ref());
    if writable && matches!(kind, Kind::Input | Kind::Discrete) {
        if let Some(w) = t.writable.as_ref() {
            b.d.error(
                &w.span(),
                format!(
                    "{p}writable: {} cannot be written (Modbus has no write function for it)",
                    a_kind(kind)
                ),
            );
        }
        ok = false;
    }
    let encoding = Encoding {
        data_type,
        order,
        bit: if kind.is_bit() { None } else { bit },
        length,
        scale: t.scale.as_ref().map(|s| *s.get_ref()),
        offset: t.offset.as_ref().map_or(0.0, |o| *o.get_ref()),
    };
    let count = if kind.is_bit() {
        1
    } else {
        encoding.register_count()
    };
    if u32::from(address) + u32::from(count) > 65_536 {
        b.d.error(
            &addr.span(),
            format!(
                "{p}address: {} {address} + {count} registers runs past 65535",
                kind.as_str()
            ),
        );
        ok = false;
    }
    if !kind.is_bit() && count > limits.max_registers {
        b.d.error(
            span,
            format!(
                "{p}needs {count} registers, more than max_block = {} allows in one request",
                limits.max_registers
            ),
        );
        ok = false;
    }
    let range = match t.range.as_ref() {
        None => None,
        Some(r) if !numeric => {
            b.d.error(
                &r.span(),
                format!("{p}range: only applies to numeric types"),
            );
            None
        }
        Some(r) => match r.get_ref().as_slice() {
            [lo, hi] if lo.is_finite() && hi.is_finite() && lo < hi => Some((*lo, *hi)),
            _ => {
                b.d.error(
                    &r.span(),
                    format!("{p}range: must be [min, max] with min < max"),
                );
                None
            }
        },
    };
    if name.starts_with('_') {
        let s = t.name.as_ref().map_or(span.clone(), Spanned::span);
        b.d.error(
            &s,
            format!("{p}name: a leading '_' is reserved for the gateway's own nodes (_Status)"),
        );
        ok = false;
    }
    if let Some(u) = t.unit.as_ref().filter(|u| u.get_ref().trim().is_empty()) {
        b.d.error(
            &u.span(),
            format!("{p}unit: must not be empty (leave the key out instead)"),
        );
    }
    if !ok || name.is_empty() {
        return None;
    }
    Some(TagConfig {
        name,
        kind,
        address,
        encoding,
        unit: t.unit.map(Spanned::into_inner),
        description: t.description.map(Spanned::into_inner),
        writable,
        deadband: t.deadband.map(Spanned::into_inner),
        range,
        line,
    })
}

/// Tags of one device that read the same registers. Several bit tags on one
/// register are the normal way to read a status word and never conflict; the
/// same registers read with different types is legitimate but worth a warning;
/// a partial overlap of multi-register values is almost always a typo.
fn check_overlaps(b: &mut Builder, device: &str, tags: &[(Range<usize>, TagConfig)]) {
    let mut words: Vec<(&Range<usize>, &TagConfig)> = tags
        .iter()
        .filter(|(_, t)| t.encoding.bit.is_none())
        .map(|(s, t)| (s, t))
        .collect();
    words.sort_by_key(|(_, t)| (t.kind, t.address, t.count()));
    let mut furthest: Option<(&TagConfig, u32)> = None;
    for (span, t) in words {
        let start = u32::from(t.address);
        let end = start + u32::from(t.count());
        if let Some((prev, prev_end)) = furthest.filter(|(p, _)| p.kind == t.kind)
            && start < prev_end
        {
            // Nested ranges (the same registers as another type, or a u32 and its
            // u16 halves) are deliberate reinterpretations; crossing ranges are typos.
            let same = end <= prev_end || t.address == prev.address;
            let msg = format!(
                "{}{} {}..{} overlaps tag {:?} ({} {}..{})",
                ctx(device, Some(&t.name)),
                t.kind.as_str(),
                start,
                end,
                prev.name,
                prev.kind.as_str(),
                prev.address,
                prev_end
            );
            if same {
                b.d.warn(
                    span,
                    format!(
                        "{msg}: the same registers are read as {} and {}",
                        prev.encoding.data_type.as_str(),
                        t.encoding.data_type.as_str()
                    ),
                );
            } else {
                b.d.error(
                    span,
                    format!("{msg}; a value cannot cross into another (the same registers may be read as another type only over the same or a contained range)"),
                );
            }
        }
        if furthest.is_none_or(|(p, e)| p.kind != t.kind || end > e) {
            furthest = Some((t, end));
        }
    }
    let mut bits: Vec<(&Range<usize>, &TagConfig)> = tags
        .iter()
        .filter(|(_, t)| t.encoding.bit.is_some())
        .map(|(s, t)| (s, t))
        .collect();
    bits.sort_by_key(|(_, t)| (t.kind, t.address, t.encoding.bit));
    for pair in bits.windows(2) {
        if let [(_, a), (span, t)] = pair
            && a.kind == t.kind
            && a.address == t.address
            && a.encoding.bit == t.encoding.bit
        {
            b.d.warn(
                span,
                format!(
                    "{}reads the same bit as tag {:?}",
                    ctx(device, Some(&t.name)),
                    a.name
                ),
            );
        }
    }
}

/// Devices on one bus must agree on what belongs to the bus.
fn check_buses(b: &mut Builder, devices: &[(Range<usize>, DeviceConfig)]) {
    let mut first: HashMap<String, &DeviceConfig> = HashMap::new();
    let mut units: HashMap<(String, u8), &str> = HashMap::new();
    for (span, dev) in devices {
        let key = dev.link.bus_key();
        if let Some(other) = first.get(&key) {
            if let (Link::Rtu { serial: a, .. }, Link::Rtu { serial: s, port }) =
                (&other.link, &dev.link)
                && a != s
            {
                b.d.error(span, format!("device {:?}: serial settings on {port} differ from device {:?} on the same port (baud, parity, stop_bits, data_bits must match)", dev.name, other.name));
            }
            if other.backoff != dev.backoff {
                b.d.error(span, format!("device {:?}: backoff_min/backoff_max differ from device {:?} on the same bus {key}", dev.name, other.name));
            }
        } else {
            first.insert(key.clone(), dev);
        }
        if let Some(other) = units.get(&(key.clone(), dev.unit)) {
            b.d.warn(
                span,
                format!(
                    "device {:?}: same bus and unit {} as device {:?}; the device is polled twice",
                    dev.name, dev.unit, other
                ),
            );
        } else {
            units.insert((key, dev.unit), &dev.name);
        }
    }
}

fn build_simulator(b: &mut Builder, s: Spanned<RawSimulator>) -> SimulatorConfig {
    let s = s.into_inner();
    let p = "simulator: ";
    let enabled = s.enabled.as_ref().is_none_or(|e| *e.get_ref());
    let listen = socket_addr(b, "simulator: listen", s.listen.as_ref(), "127.0.0.1:5020");
    let rtu = s.rtu_port.as_ref().map(|port| {
        let baud =
            u32::try_from(b.int(p, "rtu_baud", s.rtu_baud.as_ref(), 300..=1_000_000, 19_200))
                .unwrap_or(19_200);
        (port.get_ref().clone(), baud)
    });
    let mut registers = Vec::new();
    for r in s.register {
        let span = r.span();
        if let Some(reg) = build_sim_register(b, r.into_inner(), &span) {
            registers.push(reg);
        }
    }
    let mut exceptions = Vec::new();
    for e in s.exception {
        let e = e.into_inner();
        let Some(kind) = parse_kind(b, "simulator exception: ", &e.kind) else {
            continue;
        };
        let start = b.int(
            "simulator exception: ",
            "start",
            Some(&e.start),
            0..=65_535,
            0,
        );
        let count = b.int(
            "simulator exception: ",
            "count",
            e.count.as_ref(),
            1..=65_536 - start,
            1,
        );
        exceptions.push(SimException {
            unit: u8::try_from(b.int("simulator exception: ", "unit", e.unit.as_ref(), 0..=255, 1))
                .unwrap_or(1),
            kind,
            start: u16::try_from(start).unwrap_or(0),
            count: u16::try_from(count).unwrap_or(u16::MAX),
            code: u8::try_from(b.int("simulator exception: ", "code", e.code.as_ref(), 1..=255, 2))
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

fn build_sim_register(
    b: &mut Builder,
    r: RawSimRegister,
    span: &Range<usize>,
) -> Option<SimRegister> {
    let p = "simulator register: ";
    let kind = match r.kind.as_ref() {
        Some(k) => Some(parse_kind(b, p, k)?),
        None => None,
    };
    let (kind, address, _) = match resolve_address(kind, r.address.get_ref()) {
        Ok(x) => x,
        Err(e) => {
            b.d.error(&r.address.span(), format!("{p}{e}"));
            return None;
        }
    };
    let data_type = match r.data_type.as_ref() {
        Some(t) => parse_type(b, p, t)?,
        None if kind.is_bit() => DataType::Bool,
        None => DataType::U16,
    };
    if kind.is_bit() != (data_type == DataType::Bool) {
        b.d.error(
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
        (DataType::String, v) => u16::try_from(b.int(p, "length", v, 1..=125, 8)).unwrap_or(8),
        _ => 0,
    };
    let encoding = Encoding {
        data_type,
        order: parse_order(b, p, r.order.as_ref(), WordOrder::Abcd),
        bit: None,
        length,
        scale: None,
        offset: 0.0,
    };
    let count = if kind.is_bit() {
        1
    } else {
        encoding.register_count()
    };
    if u32::from(address) + u32::from(count) > 65_536 {
        b.d.error(
            &r.address.span(),
            format!("{p}address {address} + {count} registers runs past 65535"),
        );
        return None;
    }
    let initial = match r.value.as_ref() {
        None => default_value(data_type),
        Some(v) => match toml_to_value(v.get_ref(), data_type) {
            Some(x) => x,
            None => {
                b.d.error(
                    &v.span(),
                    format!(
                        "{p}value: {} is not a valid {}",
                        v.get_ref(),
                        data_type.as_str()
                    ),
                );
                return None;
            }
        },
    };
    let min = r.min.as_ref().map_or(0.0, |v| *v.get_ref());
    let max = r.max.as_ref().map_or(100.0, |v| *v.get_ref());
    let step = r.step.as_ref().map_or(1.0, |v| *v.get_ref());
    let period = b.duration(
        p,
        "period",
        r.period.as_ref(),
        Duration::from_secs(10),
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
            b.d.error(&s, format!("{p}generator: {other:?} is not a generator; use constant, ramp, sine, counter, random_walk or toggle"));
            return None;
        }
    };
    let wants_bool = matches!(generator, Generator::Toggle { .. });
    if generator != Generator::Constant
        && (wants_bool != (data_type == DataType::Bool) || data_type == DataType::String)
    {
        b.d.error(
            span,
            format!(
                "{p}generator does not fit type {} (toggle is for bool, the others for numbers)",
                data_type.as_str()
            ),
        );
        return None;
    }
    Some(SimRegister {
        unit: u8::try_from(b.int(p, "unit", r.unit.as_ref(), 0..=255, 1)).unwrap_or(1),
        kind,
        address,
        encoding,
        initial,
        generator,
    })
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

fn build_opcua(b: &mut Builder, o: Spanned<RawOpcua>) -> Option<OpcuaConfig> {
    let span = o.span();
    let o = o.into_inner();
    let p = "opcua: ";
    if o.enabled.as_ref().is_some_and(|e| !*e.get_ref()) {
        return None;
    }
    let listen = socket_addr(b, "opcua: listen", o.listen.as_ref(), "0.0.0.0:4840");
    let security = match o.security.as_ref() {
        None => vec![
            Security::Basic256Sha256SignEncrypt,
            Security::Aes256Sha256RsaPssSignEncrypt,
        ],
        Some(list) => {
            let mut out = Vec::new();
            for name in list.get_ref() {
                let n = name.get_ref().to_ascii_lowercase();
                match Security::NAMES.iter().find(|(k, _)| *k == n) {
                    Some((_, s)) if !out.contains(s) => out.push(*s),
                    Some(_) => b.d.warn(&name.span(), format!("{p}security: {n:?} is listed twice")),
                    None if n.starts_with("basic128rsa15") || n == "basic256" || n.starts_with("basic256-") => b.d.error(
                        &name.span(),
                        format!("{p}security: {n:?} is a deprecated policy (SHA-1, PKCS#1 v1.5) and is not offered"),
                    ),
                    None => b.d.error(
                        &name.span(),
                        format!(
                            "{p}security: {n:?} is not an endpoint; use {}",
                            Security::NAMES.iter().map(|(k, _)| format!("{k:?}")).collect::<Vec<_>>().join(", ")
                        ),
                    ),
                }
            }
            if out.is_empty() && !b.d.table_has_error(&span) {
                b.d.error(
                    &list.span(),
                    format!("{p}security: offer at least one endpoint"),
                );
            }
            out
        }
    };
    let anonymous_read = match o.anonymous.as_ref() {
        None => false,
        Some(a) => match a.get_ref().as_str() {
            "off" => false,
            "read" => true,
            other => {
                b.d.error(&a.span(), format!("{p}anonymous: {other:?} is not allowed; use \"off\" or \"read\" (anonymous sessions can never write)"));
                false
            }
        },
    };
    let mut users: Vec<OpcuaUser> = Vec::new();
    for u in o.user {
        let uspan = u.span();
        let u = u.into_inner();
        let name = b.name("opcua user", u.name.as_ref(), &uspan, true);
        let hash = match u.password_hash.as_ref() {
            None => {
                b.missing(&uspan, format!("{p}user {name:?}: missing key `password_hash` (make one with `edge-gateway hash-password`)"));
                String::new()
            }
            Some(h) => {
                let ok = argon2::password_hash::PasswordHash::new(h.get_ref())
                    .is_ok_and(|ph| ph.algorithm.as_str() == "argon2id");
                if !ok {
                    b.d.error(&h.span(), format!("{p}user {name:?}: password_hash is not an argon2id hash; make one with `edge-gateway hash-password`"));
                }
                h.get_ref().clone()
            }
        };
        if users.iter().any(|x| x.name == name) {
            b.d.error(&uspan, format!("{p}user {name:?}: duplicate user name"));
        }
        users.push(OpcuaUser {
            name,
            password_hash: hash,
            can_write: u.can_write.as_ref().is_some_and(|w| *w.get_ref()),
        });
    }
    if !users.is_empty() && !security.iter().any(|s| s.encrypts()) {
        b.d.warn(&span, format!("{p}users are configured but no sign-encrypt endpoint is offered; passwords are only accepted on those"));
    }
    if !anonymous_read
        && (users.is_empty() || !security.iter().any(|s| s.encrypts()))
        && !b.d.table_has_error(&span)
    {
        b.d.error(&span, format!("{p}nobody could log in: set anonymous = \"read\", or add [[opcua.user]] and a sign-encrypt endpoint"));
    }
    let mut limit =
        |key: &str,
         v: Option<&Spanned<i64>>,
         range: std::ops::RangeInclusive<i64>,
         default: i64| { usize::try_from(b.int(p, key, v, range, default)).unwrap_or(0) };
    // Defaults bound what a client can make the server hold: sessions ×
    // subscriptions × items, and message size × connections before login.
    let max_sessions = limit("max_sessions", o.max_sessions.as_ref(), 1..=1000, 20);
    let max_subscriptions_per_session = limit(
        "max_subscriptions_per_session",
        o.max_subscriptions_per_session.as_ref(),
        1..=1000,
        5,
    );
    let max_monitored_items = o
        .max_monitored_items
        .as_ref()
        .map(|v| limit("max_monitored_items", Some(v), 1..=1_000_000, 0));
    let max_message_size = limit(
        "max_message_size",
        o.max_message_size.as_ref(),
        65_536..=268_435_456,
        4 * 1024 * 1024,
    );
    let max_chunk_count = o
        .max_chunk_count
        .as_ref()
        .map(|v| limit("max_chunk_count", Some(v), 1..=65_535, 0));
    let limits = OpcuaLimits {
        max_sessions,
        max_subscriptions_per_session,
        max_monitored_items,
        max_message_size,
        max_chunk_count,
        min_publishing_interval: b.duration(
            p,
            "min_publishing_interval",
            o.min_publishing_interval.as_ref(),
            Duration::from_millis(50),
            false,
        ),
        min_sampling_interval: b.duration(
            p,
            "min_sampling_interval",
            o.min_sampling_interval.as_ref(),
            Duration::from_millis(50),
            false,
        ),
    };
    Some(OpcuaConfig {
        listen,
        hostname: o.hostname.map(Spanned::into_inner),
        pki_dir: o
            .pki_dir
            .map_or_else(|| "pki".into(), |p| p.into_inner().into()),
        security,
        anonymous_read,
        users,
        limits,
    })
}
