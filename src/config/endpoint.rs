//! Modbus TCP endpoints as users write them: "host:port", "[v6]:port", or a
//! bare address or name that gets the Modbus port. Shared by the config and
//! the `read` command, so both accept the same spellings (IPv6 included).

use std::net::SocketAddr;

use super::defaults::MODBUS_PORT;

/// The endpoint `host` names, as "address:port"; the error says what is wrong.
pub fn tcp_endpoint(host: &str) -> Result<String, String> {
    let host = host.trim();
    if host.is_empty() {
        return Err("must be \"address:port\", e.g. \"192.168.1.20:502\"".to_owned());
    }
    if host.parse::<SocketAddr>().is_ok() {
        return Ok(host.to_owned());
    }
    if let Some((name, port)) = host.rsplit_once(':') {
        if !name.contains(':') || name.starts_with('[') {
            return match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(host.to_owned()),
                _ => Err(format!("{port:?} is not a TCP port (1..=65535)")),
            };
        }
        // A bare IPv6 address.
        return Ok(format!("[{host}]:{MODBUS_PORT}"));
    }
    Ok(format!("{host}:{MODBUS_PORT}"))
}

#[cfg(test)]
mod tests {
    use super::tcp_endpoint;

    #[test]
    fn endpoints_get_the_modbus_port_when_they_name_none() {
        assert_eq!(tcp_endpoint("10.0.0.1").as_deref(), Ok("10.0.0.1:502"));
        assert_eq!(tcp_endpoint("plc.local").as_deref(), Ok("plc.local:502"));
        assert_eq!(tcp_endpoint("::1").as_deref(), Ok("[::1]:502"));
        assert_eq!(tcp_endpoint("[::1]:5020").as_deref(), Ok("[::1]:5020"));
        assert_eq!(
            tcp_endpoint(" 127.0.0.1:5020 ").as_deref(),
            Ok("127.0.0.1:5020")
        );
    }

    #[test]
    fn a_bad_port_or_an_empty_host_is_refused() {
        assert!(tcp_endpoint("plc:0").is_err());
        assert!(tcp_endpoint("plc:http").is_err());
        assert!(tcp_endpoint("  ").is_err());
    }
}
