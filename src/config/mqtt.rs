//! The validated `[mqtt]` section: which broker, who the edge node is, what
//! DCMD may do, and how much the store-and-forward log may hold.

use std::path::PathBuf;
use std::time::Duration;

use super::defaults;

/// The Sparkplug B edge node's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttConfig {
    pub broker: Broker,
    pub client_id: String,
    /// Sparkplug group id: the first topic level after the namespace.
    pub group_id: String,
    /// Sparkplug edge node id: this gateway on the broker.
    pub edge_node_id: String,
    /// The host application whose STATE gates births; `None`: birth on connect.
    pub primary_host_id: Option<String>,
    pub username: Option<String>,
    /// Read at start-up: the password itself never sits in the config.
    pub password_file: Option<PathBuf>,
    /// CA and client certificate for `mqtts://`; `None` for `mqtt://`.
    pub tls: Option<MqttTls>,
    pub keep_alive: Duration,
    /// Whether DCMD may write tags marked writable.
    pub writes: bool,
    pub buffer: BufferLimits,
}

/// A broker address from `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    /// A host name or an IP address (without brackets).
    pub host: String,
    pub port: u16,
    /// `mqtts://`: TLS to the broker.
    pub tls: bool,
}

/// TLS settings of an `mqtts://` broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttTls {
    /// CA certificates to trust; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate and its key, for brokers that ask for one.
    pub client: Option<(PathBuf, PathBuf)>,
}

/// Where the store-and-forward log lives and how much it may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BufferLimits {
    pub dir: PathBuf,
    /// Beyond this the oldest records are dropped (and counted).
    pub max_bytes: u64,
    /// Records older than this are dropped (and counted).
    pub max_age: Duration,
}

impl Broker {
    /// Parse `mqtt://host[:port]` or `mqtts://host[:port]`; IPv6 hosts in
    /// brackets. Credentials, paths and queries are refused, not ignored.
    pub fn parse(url: &str) -> Result<Broker, String> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else {
            return Err(format!(
                "{url:?} is not a broker URL; use \"mqtt://host:1883\" or \"mqtts://host:8883\""
            ));
        };
        if rest.contains('@') {
            return Err("put credentials in `username` and `password_file`, not in the URL".into());
        }
        if rest.contains(['/', '?', '#']) {
            return Err(format!(
                "{url:?}: a broker URL has no path or query, only host and port"
            ));
        }
        let default_port = if tls {
            defaults::MQTTS_PORT
        } else {
            defaults::MQTT_PORT
        };
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed '[' in the host"))?;
            match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None if after.is_empty() => (host, None),
                None => return Err(format!("{url:?}: expected ':port' after ']'")),
            }
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} names no host"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(format!("{url:?}: port {p:?} is not 1..=65535")),
            },
        };
        Ok(Broker {
            host: host.to_owned(),
            port,
            tls,
        })
    }

    /// Whether the broker is this machine (a password sent in clear stays on it).
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost"
            || self
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|a| a.is_loopback())
    }
}

impl std::fmt::Display for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Why a Sparkplug id (group, edge node, host, device) cannot be used: the
/// topic namespace reserves '/', '+' and '#' (Sparkplug 3.0, §4.1.1).
pub fn sparkplug_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("must not be empty")
    } else if id.contains(['/', '+', '#']) {
        Some("must not contain '/', '+' or '#' (they are MQTT topic separators and wildcards)")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn broker(host: &str, port: u16, tls: bool) -> Broker {
        Broker {
            host: host.into(),
            port,
            tls,
        }
    }

    #[test]
    fn urls_with_and_without_ports_and_tls() {
        assert_eq!(
            Broker::parse("mqtt://127.0.0.1:1884"),
            Ok(broker("127.0.0.1", 1884, false))
        );
        assert_eq!(
            Broker::parse("mqtt://broker"),
            Ok(broker("broker", 1883, false))
        );
        assert_eq!(
            Broker::parse("mqtts://broker.plant"),
            Ok(broker("broker.plant", 8883, true))
        );
        assert_eq!(
            Broker::parse("mqtt://[::1]:1999"),
            Ok(broker("::1", 1999, false))
        );
        assert_eq!(
            Broker::parse("mqtts://[::1]"),
            Ok(broker("::1", 8883, true))
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for (url, says) in [
            ("tcp://broker:1883", "not a broker URL"),
            ("mqtt://user:pw@broker", "credentials"),
            ("mqtt://broker/topic", "no path"),
            ("mqtt://:1883", "no host"),
            ("mqtt://broker:0", "not 1..=65535"),
            ("mqtt://broker:http", "not 1..=65535"),
            ("mqtt://[::1", "unclosed"),
            ("mqtt://[::1]x", "':port'"),
        ] {
            let e = Broker::parse(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
    }

    #[test]
    fn loopback_brokers() {
        assert!(broker("127.0.0.1", 1, false).is_loopback());
        assert!(broker("::1", 1, false).is_loopback());
        assert!(broker("localhost", 1, false).is_loopback());
        assert!(!broker("10.0.0.5", 1, false).is_loopback());
        assert!(!broker("broker", 1, false).is_loopback());
    }

    #[test]
    fn sparkplug_ids_exclude_topic_characters() {
        assert_eq!(sparkplug_id_problem("line-3"), None);
        assert!(sparkplug_id_problem("").is_some());
        for bad in ["a/b", "a+", "#"] {
            assert!(sparkplug_id_problem(bad).is_some(), "{bad}");
        }
    }

    proptest! {
        /// A broker prints as a URL that parses back to itself.
        #[test]
        fn display_round_trips(host in "[a-z0-9.-]{1,20}|[0-9a-f:]{2,20}", port in 1u16.., tls: bool) {
            let b = Broker { host: host.trim_end_matches(':').to_owned(), port, tls };
            prop_assume!(!b.host.is_empty());
            prop_assert_eq!(Broker::parse(&b.to_string()), Ok(b));
        }

        /// No text makes the parser panic.
        #[test]
        fn any_text_is_answered(url in ".{0,40}") {
            let _ = Broker::parse(&url);
        }
    }
}
