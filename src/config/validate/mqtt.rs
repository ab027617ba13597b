//! `[mqtt]`: the broker URL, the Sparkplug ids, credentials and TLS files,
//! DCMD writes, and the store-and-forward bounds.

use std::path::PathBuf;

use toml::Spanned;

use super::super::defaults;
use super::super::mqtt::{Broker, BufferLimits, MqttConfig, MqttTls, sparkplug_id_problem};
use super::super::raw::RawMqtt;
use super::Builder;

/// Shortest and longest keep-alive: MQTT carries it in seconds in a u16.
const KEEP_ALIVE_RANGE: std::ops::RangeInclusive<u64> = 5..=65_535;
/// Smallest store-and-forward log worth having: a few segments.
const MIN_BUFFER_BYTES: i64 = 1024 * 1024;
/// Largest store-and-forward log accepted: 1 TiB (more is a typo).
const MAX_BUFFER_BYTES: i64 = 1024 * 1024 * 1024 * 1024;

impl Builder<'_> {
    /// The edge node, or `None` when the section is disabled; `gateway_name`
    /// is the default edge node id.
    pub(super) fn mqtt(&mut self, m: Spanned<RawMqtt>, gateway_name: &str) -> Option<MqttConfig> {
        let span = m.span();
        let m = m.into_inner();
        let p = "mqtt: ";
        if m.enabled.as_ref().is_some_and(|e| !*e.get_ref()) {
            return None;
        }
        // Both required keys are reported, in one message when both are missing.
        let absent: Vec<&str> = [
            (
                m.url.is_none(),
                "`url` (the broker, like \"mqtt://127.0.0.1:1883\")",
            ),
            (
                m.group_id.is_none(),
                "`group_id` (the Sparkplug group of this gateway)",
            ),
        ]
        .into_iter()
        .filter_map(|(gone, what)| gone.then_some(what))
        .collect();
        if !absent.is_empty() {
            let keys = if absent.len() == 1 { "key" } else { "keys" };
            self.missing(&span, format!("{p}missing {keys} {}", absent.join(" and ")));
        }
        let broker = match m.url.as_ref() {
            None => None,
            Some(u) => match Broker::parse(u.get_ref()) {
                Ok(b) => Some(b),
                Err(e) => {
                    self.d.error(&u.span(), format!("{p}url: {e}"));
                    None
                }
            },
        };
        let group_id = match m.group_id.as_ref() {
            None => String::new(),
            Some(g) => self.sparkplug_id("group_id", g),
        };
        let edge_node_id = if let Some(e) = m.edge_node_id.as_ref() {
            self.sparkplug_id("edge_node_id", e)
        } else {
            if let Some(why) = sparkplug_id_problem(gateway_name) {
                self.d.error(
                    &span,
                    format!("{p}the default edge_node_id is [gateway] name {gateway_name:?}, which {why}; set edge_node_id"),
                );
            }
            gateway_name.to_owned()
        };
        let primary_host_id = m
            .primary_host_id
            .as_ref()
            .map(|h| self.sparkplug_id("primary_host_id", h));
        let client_id = match m.client_id.as_ref() {
            None => format!("edge-gateway-{edge_node_id}"),
            Some(c) if c.get_ref().is_empty() || c.get_ref().len() > 65_535 => {
                self.d
                    .error(&c.span(), format!("{p}client_id: must be 1 to 65535 bytes"));
                String::new()
            }
            Some(c) => c.get_ref().clone(),
        };
        let username = m.username.as_ref().map(|u| u.get_ref().clone());
        let password_file = m.password_file.as_ref().map(|f| PathBuf::from(f.get_ref()));
        if let (Some(f), None) = (m.password_file.as_ref(), m.username.as_ref()) {
            self.d.error(
                &f.span(),
                format!("{p}password_file: needs `username`, the name it is the password of"),
            );
        }
        let tls_keys = [&m.ca_file, &m.cert_file, &m.key_file];
        let tls = match &broker {
            Some(b) if b.tls => Some(self.mqtt_tls(&m)),
            Some(_) => {
                if let Some(k) = tls_keys.into_iter().flatten().next() {
                    self.d.error(
                        &k.span(),
                        format!(
                            "{p}ca_file, cert_file and key_file are for TLS: use an mqtts:// url"
                        ),
                    );
                }
                None
            }
            None => None,
        };
        if let (Some(b), Some(f)) = (&broker, &m.password_file)
            && !b.tls
            && !b.is_loopback()
        {
            self.d.warn(
                &f.span(),
                format!("{p}the password goes to {b} in clear text: anyone on the network between them can read it"),
            );
        }
        let keep_alive = self.duration(
            p,
            "keep_alive",
            m.keep_alive.as_ref(),
            defaults::MQTT_KEEP_ALIVE,
            false,
        );
        if !KEEP_ALIVE_RANGE.contains(&keep_alive.as_secs())
            && let Some(k) = m.keep_alive.as_ref()
        {
            self.d.error(
                &k.span(),
                format!(
                    "{p}keep_alive: must be {}s to {}s",
                    KEEP_ALIVE_RANGE.start(),
                    KEEP_ALIVE_RANGE.end()
                ),
            );
        }
        let max_bytes = self.int(
            p,
            "buffer_max_bytes",
            m.buffer_max_bytes.as_ref(),
            MIN_BUFFER_BYTES..=MAX_BUFFER_BYTES,
            i64::try_from(defaults::MQTT_BUFFER_MAX_BYTES).unwrap_or(i64::MAX),
        );
        let max_age = self.duration(
            p,
            "buffer_max_age",
            m.buffer_max_age.as_ref(),
            defaults::MQTT_BUFFER_MAX_AGE,
            false,
        );
        let dir = match m.buffer_dir.as_ref() {
            Some(d) if d.get_ref().is_empty() => {
                self.d
                    .error(&d.span(), format!("{p}buffer_dir: must not be empty"));
                PathBuf::from(defaults::MQTT_BUFFER_DIR)
            }
            Some(d) => PathBuf::from(d.get_ref()),
            None => PathBuf::from(defaults::MQTT_BUFFER_DIR),
        };
        Some(MqttConfig {
            broker: broker.unwrap_or_else(|| Broker {
                host: String::new(),
                port: defaults::MQTT_PORT,
                tls: false,
            }),
            client_id,
            group_id,
            edge_node_id,
            primary_host_id,
            username,
            password_file,
            tls,
            keep_alive,
            writes: m
                .writes
                .as_ref()
                .map_or(defaults::MQTT_WRITES, |w| *w.get_ref()),
            buffer: BufferLimits {
                dir,
                max_bytes: u64::try_from(max_bytes).unwrap_or(defaults::MQTT_BUFFER_MAX_BYTES),
                max_age,
            },
        })
    }

    /// A group, edge node or host id: usable as one topic level.
    fn sparkplug_id(&mut self, key: &str, v: &Spanned<String>) -> String {
        if let Some(why) = sparkplug_id_problem(v.get_ref()) {
            self.d.error(&v.span(), format!("mqtt: {key}: {why}"));
        }
        v.get_ref().clone()
    }

    /// The CA and client certificate of an `mqtts://` broker.
    fn mqtt_tls(&mut self, m: &RawMqtt) -> MqttTls {
        let path = |v: &Option<Spanned<String>>| v.as_ref().map(|f| PathBuf::from(f.get_ref()));
        let client = match (&m.cert_file, &m.key_file) {
            (Some(c), Some(k)) => Some((PathBuf::from(c.get_ref()), PathBuf::from(k.get_ref()))),
            (None, None) => None,
            (Some(c), None) => {
                self.d.error(
                    &c.span(),
                    "mqtt: cert_file: needs `key_file`, its private key",
                );
                None
            }
            (None, Some(k)) => {
                self.d.error(
                    &k.span(),
                    "mqtt: key_file: needs `cert_file`, the certificate it belongs to",
                );
                None
            }
        };
        MqttTls {
            ca_file: path(&m.ca_file),
            client,
        }
    }
}
