//! `[[device]]`: transport and serial line, unit, timing, read limits, and the
//! rules that devices sharing one bus must agree on.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::super::raw::RawDevice;
use super::super::{
    Backoff, DeviceConfig, Parity, Protocol, SerialSettings, TagConfig, Transport, defaults,
    format_duration,
};
use super::{Builder, ctx};
use crate::modbus::plan::Limits;
use crate::modbus::protocol::{MAX_READ_BITS, MAX_READ_REGISTERS};

impl Builder<'_> {
    /// One device and its tags; `None` when it cannot be polled as written.
    pub(super) fn device(&mut self, dev: RawDevice, span: &Range<usize>) -> Option<DeviceConfig> {
        let name = self.name("device", dev.name.as_ref(), span, false);
        let p = ctx(&name, None);
        let protocol = self.protocol(&p, &dev, span);
        let transport = protocol.and_then(|protocol| self.transport(&p, protocol, &dev, span));
        let unit_range = if protocol == Some(Protocol::Rtu) {
            1..=247
        } else {
            0..=255
        };
        let unit = self.narrow(&p, "unit", dev.unit.as_ref(), unit_range, defaults::UNIT);
        let poll = self.duration(&p, "poll", dev.poll.as_ref(), defaults::POLL, false);
        let timeout = self.duration(
            &p,
            "timeout",
            dev.timeout.as_ref(),
            defaults::TIMEOUT,
            false,
        );
        let retries = self.narrow(
            &p,
            "retries",
            dev.retries.as_ref(),
            0..=10,
            defaults::RETRIES,
        );
        let order = self.order(&p, dev.order.as_ref(), defaults::ORDER);
        let limits = self.limits(&p, &dev);
        let stale_after = self.duration(
            &p,
            "stale_after",
            dev.stale_after.as_ref(),
            poll.saturating_mul(defaults::STALE_AFTER_POLLS),
            false,
        );
        let pause_after_connect = self.duration(
            &p,
            "pause_after_connect",
            dev.pause_after_connect.as_ref(),
            defaults::PAUSE_AFTER_CONNECT,
            true,
        );
        let pause_between_requests = self.duration(
            &p,
            "pause_between_requests",
            dev.pause_between_requests.as_ref(),
            defaults::PAUSE_BETWEEN_REQUESTS,
            true,
        );
        let demote_after = self.narrow(
            &p,
            "demote_after",
            dev.demote_after.as_ref(),
            1..=1000,
            defaults::DEMOTE_AFTER,
        );
        let merge_after = self.narrow(
            &p,
            "merge_after",
            dev.merge_after.as_ref(),
            1..=1_000_000,
            defaults::MERGE_AFTER,
        );
        let demote_for = self.duration(
            &p,
            "demote_for",
            dev.demote_for.as_ref(),
            defaults::DEMOTE_FOR,
            false,
        );
        let backoff = self.backoff(&p, &dev, span);
        self.warn_if_attempts_outlast_poll(&p, &dev, span, protocol, timeout, retries, poll);
        if dev.tag.is_empty() {
            self.d
                .warn(span, format!("{p}has no tags; it will not be polled"));
        }
        let tags = self.device_tags(&name, order, limits, dev.tag);
        Some(DeviceConfig {
            name,
            transport: transport?,
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
            merge_after,
            backoff,
            tags,
        })
    }

    /// `protocol`: "tcp" or "rtu".
    fn protocol(&mut self, p: &str, dev: &RawDevice, span: &Range<usize>) -> Option<Protocol> {
        let Some(v) = dev.protocol.as_ref() else {
            self.missing(
                span,
                format!("{p}missing key `protocol` (\"tcp\" or \"rtu\")"),
            );
            return None;
        };
        match v.get_ref().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "rtu" => Some(Protocol::Rtu),
            other => {
                self.d.error(
                    &v.span(),
                    format!("{p}protocol: {other:?} is not supported; use \"tcp\" or \"rtu\""),
                );
                None
            }
        }
    }

    /// Where the device is reached; keys of the other protocol are errors.
    fn transport(
        &mut self,
        p: &str,
        protocol: Protocol,
        dev: &RawDevice,
        span: &Range<usize>,
    ) -> Option<Transport> {
        match protocol {
            Protocol::Tcp => {
                let serial_keys = [
                    ("baud", dev.baud.as_ref().map(Spanned::span)),
                    ("parity", dev.parity.as_ref().map(Spanned::span)),
                    ("stop_bits", dev.stop_bits.as_ref().map(Spanned::span)),
                    ("data_bits", dev.data_bits.as_ref().map(Spanned::span)),
                    ("port", dev.port.as_ref().map(Spanned::span)),
                    ("demote_after", dev.demote_after.as_ref().map(Spanned::span)),
                    ("demote_for", dev.demote_for.as_ref().map(Spanned::span)),
                ];
                for (key, s) in &serial_keys {
                    if let Some(s) = s {
                        self.d
                            .error(s, format!("{p}{key}: only applies to protocol = \"rtu\""));
                    }
                }
                let Some(h) = dev.host.as_ref() else {
                    self.missing(
                        span,
                        format!("{p}missing key `host` (\"address:port\") for protocol = \"tcp\""),
                    );
                    return None;
                };
                match super::super::parse_tcp_endpoint(h.get_ref()) {
                    Ok(endpoint) => Some(Transport::Tcp { endpoint }),
                    Err(e) => {
                        self.d.error(&h.span(), format!("{p}host: {e}"));
                        None
                    }
                }
            }
            Protocol::Rtu => {
                if let Some(h) = dev.host.as_ref() {
                    self.d.error(
                        &h.span(),
                        format!(
                            "{p}host: only applies to protocol = \"tcp\"; an rtu device has `port`"
                        ),
                    );
                }
                let serial = self.serial_settings(p, dev);
                match dev.port.as_ref() {
                    None => {
                        self.missing(
                            span,
                            format!(
                                "{p}missing key `port` (e.g. \"/dev/ttyUSB0\") for protocol = \"rtu\""
                            ),
                        );
                        None
                    }
                    Some(port) if port.get_ref().trim().is_empty() => {
                        self.d.error(
                            &port.span(),
                            format!("{p}port: must name a serial device such as \"/dev/ttyUSB0\""),
                        );
                        None
                    }
                    Some(port) => Some(Transport::Rtu {
                        port: port.get_ref().clone(),
                        serial,
                    }),
                }
            }
        }
    }

    /// Baud, parity, stop and data bits of an RTU line.
    fn serial_settings(&mut self, p: &str, dev: &RawDevice) -> SerialSettings {
        let baud = self.narrow(
            p,
            "baud",
            dev.baud.as_ref(),
            300..=1_000_000,
            defaults::BAUD,
        );
        let parity = match dev.parity.as_ref() {
            None => defaults::PARITY,
            Some(v) => super::lookup(Parity::NAMES, v.get_ref()).unwrap_or_else(|| {
                let (other, names) = (v.get_ref(), super::one_of(Parity::NAMES, true));
                self.d.error(
                    &v.span(),
                    format!("{p}parity: {other:?} is not a parity; use {names}"),
                );
                defaults::PARITY
            }),
        };
        SerialSettings {
            baud,
            parity,
            stop_bits: self.narrow(
                p,
                "stop_bits",
                dev.stop_bits.as_ref(),
                1..=2,
                defaults::STOP_BITS,
            ),
            data_bits: self.narrow(
                p,
                "data_bits",
                dev.data_bits.as_ref(),
                7..=8,
                defaults::DATA_BITS,
            ),
        }
    }

    /// `max_block` and `max_gap`, within the protocol's read limits.
    fn limits(&mut self, p: &str, dev: &RawDevice) -> Limits {
        let registers = 1..=i64::from(MAX_READ_REGISTERS);
        let gap = 0..=i64::from(MAX_READ_REGISTERS);
        let max_registers = self.narrow(
            p,
            "max_block",
            dev.max_block.as_ref(),
            registers,
            defaults::MAX_BLOCK,
        );
        let max_gap = self.narrow(p, "max_gap", dev.max_gap.as_ref(), gap, defaults::MAX_GAP);
        Limits {
            max_gap,
            max_registers,
            max_bits: MAX_READ_BITS,
        }
    }

    /// Reconnect backoff; max below min is an error.
    fn backoff(&mut self, p: &str, dev: &RawDevice, span: &Range<usize>) -> Backoff {
        let backoff = Backoff {
            min: self.duration(
                p,
                "backoff_min",
                dev.backoff_min.as_ref(),
                defaults::BACKOFF_MIN,
                false,
            ),
            max: self.duration(
                p,
                "backoff_max",
                dev.backoff_max.as_ref(),
                defaults::BACKOFF_MAX,
                false,
            ),
        };
        if backoff.max < backoff.min {
            let s = dev
                .backoff_max
                .as_ref()
                .or(dev.backoff_min.as_ref())
                .map_or(span.clone(), Spanned::span);
            self.d.error(
                &s,
                format!("{p}backoff_max must not be less than backoff_min"),
            );
        }
        backoff
    }

    /// A silent device costs every attempt of a cycle; if that outlasts the
    /// poll interval, every cycle overruns.
    #[allow(clippy::too_many_arguments)]
    fn warn_if_attempts_outlast_poll(
        &mut self,
        p: &str,
        dev: &RawDevice,
        span: &Range<usize>,
        protocol: Option<Protocol>,
        timeout: Duration,
        retries: u32,
        poll: Duration,
    ) {
        let rtu = protocol == Some(Protocol::Rtu);
        // On RTU every timeout is followed by a drain of up to one more timeout, so a
        // late reply cannot be taken for the next request's answer.
        let per_attempt = if rtu {
            timeout.saturating_mul(2)
        } else {
            timeout
        };
        let attempts = per_attempt.saturating_mul(retries.saturating_add(1));
        let what = if rtu {
            "2 × timeout (the wait, then a drain for a late reply) × (retries + 1)"
        } else {
            "timeout × (retries + 1)"
        };
        if attempts > poll && !self.d.table_has_error(span) {
            let s = dev.timeout.as_ref().map_or(span.clone(), Spanned::span);
            self.d.warn(&s, format!("{p}{what} = {} is more than poll = {}; a silent device will make every cycle overrun", format_duration(attempts), format_duration(poll)));
        }
    }

    /// The device's tags, without duplicates by name, checked for overlaps.
    fn device_tags(
        &mut self,
        device: &str,
        order: crate::tags::WordOrder,
        limits: Limits,
        raw: Vec<Spanned<super::super::raw::RawTag>>,
    ) -> Vec<TagConfig> {
        let mut tags = Vec::new();
        let mut tag_names: HashMap<String, usize> = HashMap::new();
        for t in raw {
            let tspan = t.span();
            let Some(tag) = self.tag(device, order, limits, t.into_inner(), &tspan) else {
                continue;
            };
            if let Some(line) = tag_names.get(&tag.name) {
                self.d.error(
                    &tspan,
                    format!(
                        "{}duplicate tag name (first defined on line {line})",
                        ctx(device, Some(&tag.name))
                    ),
                );
            } else {
                tag_names.insert(tag.name.clone(), tag.line);
            }
            tags.push((tspan, tag));
        }
        self.check_overlaps(device, &tags);
        tags.into_iter().map(|(_, t)| t).collect()
    }

    /// Devices on one bus must agree on what belongs to the bus.
    pub(super) fn check_buses(&mut self, devices: &[(Range<usize>, DeviceConfig)]) {
        let mut first: HashMap<String, &DeviceConfig> = HashMap::new();
        let mut units: HashMap<(String, u8), &str> = HashMap::new();
        for (span, dev) in devices {
            let key = super::resources::bus_key(dev);
            if let Some(other) = first.get(&key) {
                if let (Transport::Rtu { serial: a, .. }, Transport::Rtu { serial: s, port }) =
                    (&other.transport, &dev.transport)
                    && a != s
                {
                    self.d.error(span, format!("device {:?}: serial settings on {port} differ from device {:?} on the same port (baud, parity, stop_bits, data_bits must match)", dev.name, other.name));
                }
                if other.backoff != dev.backoff {
                    self.d.error(span, format!("device {:?}: backoff_min/backoff_max differ from device {:?} on the same bus {key}", dev.name, other.name));
                }
            } else {
                first.insert(key.clone(), dev);
            }
            if let Some(other) = units.get(&(key.clone(), dev.unit)) {
                self.d.warn(
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
}
