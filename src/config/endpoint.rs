//! Modbus TCP endpoints as users write them: `host` in gateway.toml and
//! `edge-gateway read --host`, parsed by one function so both accept the same.

use std::net::{IpAddr, SocketAddr};

use super::defaults::MODBUS_PORT as DEFAULT_MODBUS_PORT;

/// Why a text is not a Modbus TCP endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Nothing but whitespace.
    #[error("must be \"address:port\", e.g. \"192.168.1.20:502\"")]
    Empty,
    /// The part after the last `:` is not a port number 1..=65535.
    #[error("{0:?} is not a TCP port (1..=65535)")]
    Port(String),
}

/// Normalize a TCP endpoint to `"host:port"`, ready to connect to.
///
/// Accepts `"192.168.1.20:502"`, `"plc.local:502"`, `"[::1]:5020"`, and
/// without a port (then [`DEFAULT_MODBUS_PORT`]) `"192.168.1.20"`,
/// `"plc.local"`, `"::1"` and `"[::1]"`. Names are resolved when connecting.
pub fn parse_tcp_endpoint(text: &str) -> Result<String, EndpointError> {
    let host = text.trim();
    if host.is_empty() {
        return Err(EndpointError::Empty);
    }
    if let Ok(addr) = host.parse::<SocketAddr>() {
        // Port 0 means "any port" to a listener; no device answers on it.
        if addr.port() == 0 {
            return Err(EndpointError::Port("0".into()));
        }
        return Ok(host.to_owned());
    }
    // A bare IPv4 or IPv6 address, bracketed or not.
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_MODBUS_PORT).to_string());
    }
    match host.rsplit_once(':') {
        // "name:port" or "[v6]:port".
        Some((name, port)) if !name.contains(':') || name.starts_with('[') => {
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(host.to_owned()),
                _ => Err(EndpointError::Port(port.to_owned())),
            }
        }
        // Colons but no brackets: an IPv6 address the parser does not know
        // (a zone id, "fe80::1%eth0"), left for the resolver.
        Some(_) => Ok(format!("[{host}]:{DEFAULT_MODBUS_PORT}")),
        None => Ok(format!("{host}:{DEFAULT_MODBUS_PORT}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_with_and_without_port() {
        for (given, want) in [
            ("127.0.0.1:5020", "127.0.0.1:5020"),
            (" 127.0.0.1 ", "127.0.0.1:502"),
            ("[::1]:5020", "[::1]:5020"),
            ("::1", "[::1]:502"),
            ("[::1]", "[::1]:502"),
            ("fe80::1", "[fe80::1]:502"),
            ("plc.local", "plc.local:502"),
            ("plc.local:1502", "plc.local:1502"),
        ] {
            assert_eq!(parse_tcp_endpoint(given).as_deref(), Ok(want), "{given}");
        }
    }

    #[test]
    fn empty_and_bad_ports_are_refused() {
        assert_eq!(parse_tcp_endpoint("  "), Err(EndpointError::Empty));
        assert_eq!(
            parse_tcp_endpoint("plc.local:0"),
            Err(EndpointError::Port("0".into()))
        );
        assert_eq!(
            parse_tcp_endpoint("10.0.0.1:0"),
            Err(EndpointError::Port("0".into()))
        );
        assert_eq!(
            parse_tcp_endpoint("10.0.0.1:70000"),
            Err(EndpointError::Port("70000".into()))
        );
        assert_eq!(
            parse_tcp_endpoint("[::1]:x"),
            Err(EndpointError::Port("x".into()))
        );
    }
}
