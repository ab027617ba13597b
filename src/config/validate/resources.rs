//! Resources a config claims once: listen addresses and serial ports.
//!
//! `run` would fail to bind a second listener on a taken address, and
//! systemd would restart it every few seconds; a device pointed at one of
//! the gateway's own listeners would poll it as Modbus: both are errors at
//! `check`, each at its place. Two names for one serial port (a by-id link
//! and its ttyUSB target) are one bus, as `run` plans it; `check` says so
//! and holds the devices on it to one set of serial settings.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

use super::super::{DeviceConfig, Transport};
use super::Builder;

/// One listen address of the gateway and where the config sets it (`None`:
/// the default, no key).
#[derive(Debug, Clone)]
pub(super) struct Listener {
    /// The key, as messages name it: "http: listen".
    pub(super) what: &'static str,
    pub(super) addr: SocketAddr,
    pub(super) span: Option<Range<usize>>,
    /// Devices may poll it (the simulator is there to be polled).
    pub(super) pollable: bool,
}

/// True when sockets bound to `a` and `b` cannot both listen: the same
/// port (not 0) and one address covers the other. A wildcard covers its own
/// family; `[::]` covers IPv4 as well (Linux binds it dual-stack).
pub(super) fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.port() != 0 && (covers(a.ip(), b.ip()) || covers(b.ip(), a.ip()))
}

fn covers(wide: IpAddr, other: IpAddr) -> bool {
    wide == other || (wide.is_unspecified() && (wide.is_ipv6() || other.is_ipv4()))
}

/// True when a client connecting to `target` reaches a socket listening on
/// `listen` on this machine (literal addresses only; names are not resolved).
pub(super) fn reaches(target: SocketAddr, listen: SocketAddr) -> bool {
    target.port() == listen.port()
        && (target.ip() == listen.ip()
            || (listen.ip().is_unspecified()
                && (target.ip().is_loopback() || target.ip().is_unspecified())))
}

/// True for a port named by enumeration order (`/dev/ttyUSB0`,
/// `/dev/ttyACM1`), which can change when the adapter is replugged.
pub(super) fn enumerated_usb_port(port: &str) -> bool {
    ["/dev/ttyUSB", "/dev/ttyACM"].iter().any(|prefix| {
        port.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

impl Builder<'_> {
    /// Every pair of clashing listeners, and every device that would poll a
    /// listener of the gateway's own.
    pub(super) fn check_listeners(
        &mut self,
        listeners: &[Listener],
        devices: &[(Range<usize>, DeviceConfig)],
    ) {
        for (i, b) in listeners.iter().enumerate() {
            for a in listeners.iter().take(i) {
                if !clash(a.addr, b.addr) {
                    continue;
                }
                // Point at a key the user wrote; the later one when both are.
                let Some(span) = b.span.clone().or_else(|| a.span.clone()) else {
                    continue;
                };
                let (first, second) = if b.span.is_some() { (a, b) } else { (b, a) };
                let place = first.span.as_ref().map_or_else(
                    || " (its default)".to_owned(),
                    |s| format!(" (line {})", self.d.locate(s.start).0),
                );
                self.d.error(
                    &span,
                    format!(
                        "{}: {} clashes with {} {}{place}; two listeners cannot share an address and port",
                        second.what, second.addr, first.what, first.addr
                    ),
                );
            }
        }
        for (span, dev) in devices {
            let Transport::Tcp { endpoint } = &dev.transport else {
                continue;
            };
            let Ok(target) = endpoint.parse::<SocketAddr>() else {
                continue;
            };
            for l in listeners.iter().filter(|l| !l.pollable) {
                if reaches(target, l.addr) {
                    self.d.error(
                        span,
                        format!(
                            "device {:?}: host {endpoint} is the gateway's own {} listener ({}), not a Modbus device",
                            dev.name,
                            l.what.trim_end_matches(": listen"),
                            l.addr
                        ),
                    );
                }
            }
        }
    }

    /// Serial ports: a name that changes on replug is a warning, and so is a
    /// second name for a port (the devices share its bus).
    pub(super) fn check_serial_ports(&mut self, devices: &[(Range<usize>, DeviceConfig)]) {
        // The first device seen on each bus, by the bus `run` would put it on.
        let mut first_on_bus: HashMap<String, (&str, &str)> = HashMap::new();
        let mut warned: Vec<&str> = Vec::new();
        for (span, dev) in devices {
            let Transport::Rtu { port, .. } = &dev.transport else {
                continue;
            };
            if enumerated_usb_port(port) && !warned.contains(&port.as_str()) {
                warned.push(port);
                self.d.warn(
                    span,
                    format!(
                        "device {:?}: port {port} is numbered in plug-in order and can change when the adapter is replugged or the box reboots; use its /dev/serial/by-id/ name (ls -l /dev/serial/by-id)",
                        dev.name
                    ),
                );
            }
            // A port that does not resolve (not plugged in yet) keeps its name as
            // its key, so it never meets another name here; `run` reports it.
            let key = bus_key(dev);
            match first_on_bus.get(&key) {
                Some((other_port, other_dev)) if *other_port != port.as_str() => {
                    self.d.warn(
                        span,
                        format!(
                            "device {:?}: port {port} is the same serial port as {other_port} of device {other_dev:?} ({}); they share one bus",
                            dev.name,
                            key.trim_start_matches("rtu://")
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    first_on_bus.insert(key, (port, &dev.name));
                }
            }
        }
    }
}

/// The bus a device is on, as `run` plans it: serial ports by their
/// canonical path, so a by-id link and the tty it points at are one bus.
pub(super) fn bus_key(dev: &DeviceConfig) -> String {
    match &dev.transport {
        Transport::Rtu { port, .. } => std::fs::canonicalize(port).map_or_else(
            |_| dev.transport.bus_key(),
            |p| format!("rtu://{}", p.display()),
        ),
        Transport::Tcp { .. } => dev.transport.bus_key(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    #[test]
    fn listeners_clash_on_one_port_when_one_address_covers_the_other() {
        assert!(clash(a("127.0.0.1:4840"), a("127.0.0.1:4840")));
        assert!(clash(a("0.0.0.0:4840"), a("127.0.0.1:4840")));
        assert!(clash(a("[::]:4840"), a("10.0.0.5:4840")));
        assert!(clash(a("[::1]:80"), a("[::]:80")));
        assert!(!clash(a("0.0.0.0:4840"), a("[::1]:4840")));
        assert!(!clash(a("127.0.0.1:4840"), a("127.0.0.2:4840")));
        assert!(!clash(a("127.0.0.1:4840"), a("127.0.0.1:4841")));
        assert!(!clash(a("127.0.0.1:0"), a("127.0.0.1:0")));
    }

    #[test]
    fn a_device_reaches_a_listener_on_its_address_or_behind_a_wildcard() {
        assert!(reaches(a("127.0.0.1:9898"), a("127.0.0.1:9898")));
        assert!(reaches(a("127.0.0.1:9898"), a("0.0.0.0:9898")));
        assert!(!reaches(a("10.0.0.5:502"), a("0.0.0.0:502")));
        assert!(!reaches(a("127.0.0.1:502"), a("127.0.0.1:9898")));
    }

    #[test]
    fn usb_ports_named_by_plug_in_order_are_recognised() {
        assert!(enumerated_usb_port("/dev/ttyUSB0"));
        assert!(enumerated_usb_port("/dev/ttyACM12"));
        assert!(!enumerated_usb_port("/dev/ttyUSB"));
        assert!(!enumerated_usb_port("/dev/ttyS0"));
        assert!(!enumerated_usb_port(
            "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
        ));
    }
}
