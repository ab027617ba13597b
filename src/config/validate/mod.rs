//! Phase two: raw structs → `Config`, collecting every problem with its place.
//!
//! `validate` is the entry. A `Builder` carries the diagnostics and the small
//! checks every section shares (durations, integers in range, names, the
//! spellings of kinds, types and orders); each section's rules live in their
//! own file: `device` (transport, serial line, timing, buses), `tag` (address,
//! type, scaling, access, overlaps), `simulator`, `opcua`, and `resources`
//! (listen addresses and serial ports, each claimed once).

mod device;
mod mqtt;
mod opcua;
mod resources;
mod simulator;
mod tag;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::diag::Diagnostics;
use super::raw::RawConfig;
use super::{Config, ConfigError, defaults, parse_duration};
use crate::tags::{DataType, Kind, WordOrder};
use resources::Listener;

/// More serde errors than this in one file are not worth reporting one by one.
const MAX_SYNTAX_ERRORS: usize = 20;

pub(super) fn validate(text: &str, file: &str) -> Result<Config, ConfigError> {
    let mut diags = Diagnostics::new(file, text);
    let raw = parse_raw(text, &mut diags);
    let config = raw.map(|raw| Builder { d: &mut diags }.build(raw));
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

/// "a coil", "an input": the kind with its article.
fn a_kind(kind: Kind) -> &'static str {
    match kind {
        Kind::Coil => "a coil",
        Kind::Discrete => "a discrete input",
        Kind::Input => "an input register",
        Kind::Holding => "a holding register",
    }
}

/// The value a spelling table gives `name`, if any.
fn lookup<T: Copy>(names: &[(&str, T)], name: &str) -> Option<T> {
    names.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
}

/// The spellings of a table for a message: `"a", "b" or "c"` (quoted) or
/// `a, b or c`, so a new variant needs no new message.
fn one_of<T>(names: &[(&str, T)], quoted: bool) -> String {
    let words: Vec<String> = names
        .iter()
        .map(|(n, _)| {
            if quoted {
                format!("{n:?}")
            } else {
                (*n).to_owned()
            }
        })
        .collect();
    match words.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Builds the `Config` section by section, reporting into the diagnostics.
struct Builder<'a> {
    d: &'a mut Diagnostics,
}

impl Builder<'_> {
    /// The whole config: gateway, http, simulator, opcua, mqtt, then the devices.
    fn build(&mut self, raw: RawConfig) -> Config {
        let gateway_name = match raw.gateway.as_ref().and_then(|g| g.name.as_ref()) {
            Some(n) if n.get_ref().trim().is_empty() || n.get_ref().contains('/') => {
                self.d.error(
                    &n.span(),
                    "gateway: name must be non-empty and must not contain '/'",
                );
                String::new()
            }
            Some(n) => n.get_ref().clone(),
            None => defaults::GATEWAY_NAME.to_owned(),
        };
        let http = raw.http.as_ref();
        let http_listen = self.socket_addr(
            "http: listen",
            http.and_then(|h| h.listen.as_ref()),
            defaults::HTTP_LISTEN,
        );
        let mut listeners = vec![Listener {
            what: "http: listen",
            addr: http_listen,
            span: http.and_then(|h| h.listen.as_ref()).map(Spanned::span),
            pollable: false,
        }];
        let simulator_listen_span = raw
            .simulator
            .as_ref()
            .and_then(|s| s.get_ref().listen.as_ref())
            .map(Spanned::span);
        let opcua_listen_span = raw
            .opcua
            .as_ref()
            .and_then(|o| o.get_ref().listen.as_ref())
            .map(Spanned::span);
        let metrics_tag_values = http
            .and_then(|h| h.metrics_tag_values.as_ref())
            .map_or(defaults::METRICS_TAG_VALUES, |v| *v.get_ref());
        let ready_grace = self.duration(
            "http: ",
            "ready_grace",
            http.and_then(|h| h.ready_grace.as_ref()),
            defaults::READY_GRACE,
            true,
        );
        let http_max_connections = self.int(
            "http: ",
            "max_connections",
            http.and_then(|h| h.max_connections.as_ref()),
            1..=65_536,
            i64::try_from(defaults::HTTP_MAX_CONNECTIONS).unwrap_or(i64::MAX),
        );
        let http_max_connections = usize::try_from(http_max_connections).unwrap_or(1);
        let http_idle_timeout = self.duration(
            "http: ",
            "idle_timeout",
            http.and_then(|h| h.idle_timeout.as_ref()),
            defaults::HTTP_IDLE_TIMEOUT,
            false,
        );
        let simulator = raw.simulator.map(|s| self.simulator(s));
        let opcua = raw.opcua.and_then(|o| self.opcua(o));
        let mqtt = raw.mqtt.and_then(|m| self.mqtt(m, &gateway_name));
        if let Some(s) = simulator.as_ref().filter(|s| s.enabled) {
            listeners.push(Listener {
                what: "simulator: listen",
                addr: s.listen,
                span: simulator_listen_span,
                pollable: true,
            });
        }
        if let Some(o) = &opcua {
            listeners.push(Listener {
                what: "opcua: listen",
                addr: o.listen,
                span: opcua_listen_span,
                pollable: false,
            });
        }
        if raw.device.is_empty() {
            self.d.warn(
                &(0..0),
                "no [[device]] is configured: the gateway polls nothing and serves no tags",
            );
        }

        let mut devices = Vec::new();
        let mut seen: HashMap<String, Range<usize>> = HashMap::new();
        for dev in raw.device {
            let span = dev.span();
            let Some(device) = self.device(dev.into_inner(), &span) else {
                continue;
            };
            if let Some(first) = seen.get(&device.name) {
                let (line, _) = self.d.locate(first.start);
                self.d.error(
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
        self.check_buses(&devices);
        self.check_serial_ports(&devices);
        self.check_listeners(&listeners, &devices);
        Config {
            gateway_name,
            http_listen,
            metrics_tag_values,
            ready_grace,
            http_max_connections,
            http_idle_timeout,
            simulator,
            opcua,
            mqtt,
            devices: devices.into_iter().map(|(_, d)| d).collect(),
            warnings: Vec::new(),
        }
    }

    /// Report a missing key, unless the table already has an error (a misspelt
    /// key is reported as unknown, and its absence would only repeat that).
    fn missing(&mut self, span: &Range<usize>, message: String) {
        if !self.d.table_has_error(span) {
            self.d.error(span, message);
        }
    }

    /// A duration key, or `default` when it is absent or wrong.
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

    /// An integer key within `range`, or `default` when it is absent or out of range.
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

    /// An integer key narrowed to `T`; the range check guarantees it fits.
    fn narrow<T: TryFrom<i64> + Copy + Into<i64>>(
        &mut self,
        prefix: &str,
        key: &str,
        v: Option<&Spanned<i64>>,
        range: std::ops::RangeInclusive<i64>,
        default: T,
    ) -> T {
        T::try_from(self.int(prefix, key, v, range, default.into())).unwrap_or(default)
    }

    /// The `name` of a device, tag or user: non-empty, with a safe alphabet.
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

    /// A listen address such as "127.0.0.1:9898".
    fn socket_addr(
        &mut self,
        what: &str,
        v: Option<&Spanned<String>>,
        default: &str,
    ) -> SocketAddr {
        let fallback = || SocketAddr::from(([127, 0, 0, 1], 0));
        let Some(v) = v else {
            return default.parse().unwrap_or_else(|_| fallback());
        };
        if let Ok(a) = v.get_ref().parse() {
            a
        } else {
            self.d.error(&v.span(), format!("{what}: {:?} is not an IP address with a port, like \"127.0.0.1:9898\" or \"[::1]:9898\"", v.get_ref()));
            fallback()
        }
    }

    /// A register kind: coil, discrete, input or holding.
    fn kind(&mut self, prefix: &str, v: &Spanned<String>) -> Option<Kind> {
        let kind = lookup(Kind::NAMES, v.get_ref());
        if kind.is_none() {
            let (other, names) = (v.get_ref(), one_of(Kind::NAMES, true));
            self.d.error(
                &v.span(),
                format!("{prefix}kind: {other:?} is not a register kind; use {names}"),
            );
        }
        kind
    }

    /// A value type: bool, u16 … f64, string.
    fn data_type(&mut self, prefix: &str, v: &Spanned<String>) -> Option<DataType> {
        let data_type = lookup(DataType::NAMES, v.get_ref());
        if data_type.is_none() {
            let (other, names) = (v.get_ref(), one_of(DataType::NAMES, false));
            self.d.error(
                &v.span(),
                format!("{prefix}type: {other:?} is not a type; use {names}"),
            );
        }
        data_type
    }

    /// A byte/word order, or `default` when absent or wrong.
    fn order(
        &mut self,
        prefix: &str,
        v: Option<&Spanned<String>>,
        default: WordOrder,
    ) -> WordOrder {
        let Some(v) = v else { return default };
        if let Some(order) = lookup(WordOrder::NAMES, &v.get_ref().to_ascii_lowercase()) {
            order
        } else {
            let other = v.get_ref().to_ascii_uppercase();
            self.d.error(&v.span(), format!("{prefix}order: {other:?} is not a byte order; use \"ABCD\" (big-endian), \"CDAB\" (word-swapped), \"BADC\" (byte-swapped) or \"DCBA\" (little-endian)"));
            default
        }
    }
}
