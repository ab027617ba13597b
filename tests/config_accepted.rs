//! Fields of accepted configs: defaults applied, values kept. The diagnostic lines
//! of these configs (their warnings) are pinned by the golden cases in
//! `config_cases/`; where a config is shared, it is read from its case directory
//! so there is one copy of the text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use std::net::SocketAddr;
use std::time::Duration;

use edge_gateway::config::{Backoff, Config, Transport};
use edge_gateway::tags::{DataType, Kind, WordOrder};

const FILE: &str = "gateway.toml";

fn accept(text: &str) -> Config {
    match Config::parse(text, FILE) {
        Ok(c) => c,
        Err(e) => panic!("config was refused:\n{e}\n---\n{text}"),
    }
}

#[test]
fn same_tag_name_in_two_devices_is_fine() {
    let text = include_str!("config_cases/same_tag_name_in_two_devices_is_fine/gateway.toml");
    let config = accept(text);
    let names: Vec<(&str, &str)> = config
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(|t| (d.name.as_str(), t.name.as_str())))
        .collect();
    assert_eq!(names, [("tank1", "level"), ("tank2", "level")]);
}

#[test]
fn numeric_40001_on_holding_is_accepted_with_a_hint_at_modicon() {
    let text = include_str!(
        "config_cases/numeric_40001_on_holding_is_accepted_with_a_hint_at_modicon/gateway.toml"
    );
    assert_eq!(accept(text).devices[0].tags[0].address, 40001);
}

#[test]
fn rtu_devices_on_one_port_with_identical_settings_share_the_bus() {
    let text = include_str!(
        "config_cases/rtu_devices_on_one_port_with_identical_settings_share_the_bus/gateway.toml"
    );
    let config = accept(text);
    // What `run` does with it: one bus task with both devices on it.
    let buses = edge_gateway::modbus::bus::plan_buses(&config);
    assert_eq!(buses.len(), 1, "one bus for one port");
    let on_bus: Vec<usize> = buses[0].devices.iter().map(|d| d.id.index()).collect();
    assert_eq!(on_bus, [0, 1]);
    assert_eq!(
        buses[0].key,
        "rtu:///dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0"
    );
}

#[test]
fn same_registers_read_as_u32_and_f32_is_only_a_warning() {
    let text = include_str!(
        "config_cases/same_registers_read_as_u32_and_f32_is_only_a_warning/gateway.toml"
    );
    assert_eq!(accept(text).devices[0].tags.len(), 2);
}

#[test]
fn bit_tags_and_a_u16_on_one_status_register_are_accepted_without_warning() {
    let text = include_str!(
        "config_cases/bit_tags_and_a_u16_on_one_status_register_are_accepted_without_warning/gateway.toml"
    );
    let bits: Vec<Option<u8>> = accept(text).devices[0]
        .tags
        .iter()
        .map(|t| t.encoding.bit)
        .collect();
    assert_eq!(bits, [Some(0), Some(1), None]);
}

/// The config of the golden case `minimal_config_with_default_timing_has_no_warnings`.
const MINIMAL: &str =
    include_str!("config_cases/minimal_config_with_default_timing_has_no_warnings/gateway.toml");

#[test]
fn minimal_tcp_config_is_accepted_with_defaults_applied() {
    let config = accept(MINIMAL);
    assert_eq!(config.gateway_name, "edge-gateway");
    assert_eq!(
        config.http_listen,
        "127.0.0.1:9898".parse::<SocketAddr>().unwrap()
    );
    assert!(config.simulator.is_none());
    assert_eq!(config.devices.len(), 1);

    let d = &config.devices[0];
    assert_eq!(d.name, "plc");
    assert_eq!(
        d.transport,
        Transport::Tcp {
            endpoint: "10.0.0.1:502".to_owned()
        }
    );
    assert_eq!(d.unit, 1);
    assert_eq!(d.poll, Duration::from_secs(1));
    assert_eq!(d.timeout, Duration::from_millis(500));
    assert_eq!(d.retries, 1);
    assert_eq!(d.limits.max_registers, 125);
    assert_eq!(d.limits.max_gap, 8);
    assert_eq!(d.limits.max_bits, 2000);
    assert_eq!(d.stale_after, Duration::from_secs(3));
    assert_eq!(d.pause_after_connect, Duration::ZERO);
    assert_eq!(d.pause_between_requests, Duration::ZERO);
    assert_eq!(d.demote_after, 3);
    assert_eq!(d.demote_for, Duration::from_secs(30));
    assert_eq!(
        d.backoff,
        Backoff {
            min: Duration::from_millis(200),
            max: Duration::from_secs(30)
        }
    );

    assert_eq!(d.tags.len(), 1);
    let t = &d.tags[0];
    assert_eq!(t.name, "level");
    assert_eq!(t.kind, Kind::Holding);
    assert_eq!(t.address, 0);
    assert_eq!(t.encoding.data_type, DataType::U16);
    assert_eq!(t.encoding.order, WordOrder::Abcd);
    assert_eq!(t.encoding.bit, None);
    assert_eq!(t.encoding.scale, None);
    assert_eq!(t.encoding.offset.to_bits(), 0.0f64.to_bits(), "no offset");
    assert!(!t.writable);
    assert_eq!(t.deadband, None);
    assert_eq!(t.unit, None);
    assert_eq!(t.line, 6);
}

const OPCUA_DEVICE: &str = r#"
[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
[[device.tag]]
name = "t"
address = "40001"
type = "u16"
"#;

/// Stays inline: the argon2id hash is made at run time, so this config cannot be
/// a fixed file.
#[test]
fn opcua_defaults_are_encrypted_endpoints_without_anonymous() {
    let hash = edge_gateway::opcua::password::hash_password("pw").unwrap();
    let text = format!(
        "[opcua]\n[[opcua.user]]\nname = \"op\"\npassword_hash = \"{hash}\"\ncan_write = true\n{OPCUA_DEVICE}"
    );
    let config = accept(&text);
    let o = config.opcua.expect("opcua configured");
    assert_eq!(o.listen.to_string(), "0.0.0.0:4840");
    assert!(!o.anonymous_read);
    assert!(o.security.iter().all(|s| s.encrypts()), "{:?}", o.security);
    assert_eq!(
        o.limits.max_monitored_items, None,
        "derived from the tag count"
    );
    assert_eq!(o.limits.max_subscriptions_per_session, 5);
    assert_eq!(o.limits.max_message_size, 4 * 1024 * 1024);
    assert!(o.users[0].can_write);
}

#[test]
fn a_relative_pki_dir_is_relative_to_the_config_file_not_the_working_directory() {
    let dir = std::env::temp_dir().join(format!("eg-pki-rel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        "[opcua]\nlisten = \"127.0.0.1:0\"\npki_dir = \"pki\"\nsecurity = [\"none\"]\nanonymous = \"read\"\n",
    )
    .unwrap();
    let config = edge_gateway::config::Config::load(&file).unwrap();
    assert_eq!(config.opcua.unwrap().pki_dir, dir.join("pki"));
    std::fs::write(
        &file,
        "[opcua]\nlisten = \"127.0.0.1:0\"\npki_dir = \"/var/lib/edge-gateway/pki\"\nsecurity = [\"none\"]\nanonymous = \"read\"\n",
    )
    .unwrap();
    let config = edge_gateway::config::Config::load(&file).unwrap();
    assert_eq!(
        config.opcua.unwrap().pki_dir,
        std::path::PathBuf::from("/var/lib/edge-gateway/pki")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mqtt_defaults_follow_the_gateway_name_and_files_resolve_against_their_folders() {
    let dir = std::env::temp_dir().join(format!("eg-mqtt-rel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        "[gateway]\nname = \"line-3\"\n\n[mqtt]\nurl = \"mqtt://[::1]\"\ngroup_id = \"plant1\"\nusername = \"gw\"\npassword_file = \"mqtt.password\"\n",
    )
    .unwrap();
    let m = Config::load(&file).unwrap().mqtt.unwrap();
    assert_eq!(m.broker.to_string(), "mqtt://[::1]:1883");
    assert_eq!(
        (m.edge_node_id.as_str(), m.client_id.as_str()),
        ("line-3", "edge-gateway-line-3")
    );
    assert_eq!(m.primary_host_id, None);
    assert!(!m.writes, "DCMD writes are off unless asked for");
    assert_eq!(m.keep_alive, Duration::from_secs(30));
    assert_eq!(m.password_file, Some(dir.join("mqtt.password")));
    // Inside the service's state directory under systemd, else beside the config.
    let state = std::env::var_os("STATE_DIRECTORY").map_or(dir.clone(), std::path::PathBuf::from);
    assert_eq!(m.buffer.dir, state.join("buffer"));
    assert_eq!(m.buffer.max_bytes, 256 * 1024 * 1024);
    assert_eq!(m.buffer.max_age, Duration::from_secs(7 * 24 * 3600));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_disabled_mqtt_section_is_no_edge_node() {
    let config = accept("[mqtt]\nenabled = false\nurl = \"mqtt://127.0.0.1\"\ngroup_id = \"g\"\n");
    assert!(config.mqtt.is_none());
}

#[test]
fn mqtts_takes_a_ca_and_a_client_certificate_resolved_against_the_config_folder() {
    let dir = std::env::temp_dir().join(format!("eg-mqtts-rel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gateway.toml");
    std::fs::write(
        &file,
        "[mqtt]\nurl = \"mqtts://broker.plant\"\ngroup_id = \"plant1\"\nusername = \"gw\"\npassword_file = \"/etc/edge-gateway/mqtt.password\"\nca_file = \"pki/broker-ca.pem\"\ncert_file = \"pki/gw.pem\"\nkey_file = \"pki/gw.key\"\n\n[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"10.0.0.1:502\"\n[[device.tag]]\nname = \"level\"\naddress = \"40001\"\ntype = \"u16\"\n",
    )
    .unwrap();
    let config = Config::load(&file).unwrap();
    // TLS: the password to another machine is no clear-text warning.
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let m = config.mqtt.unwrap();
    assert_eq!(m.broker.to_string(), "mqtts://broker.plant:8883");
    let tls = m.tls.unwrap();
    assert_eq!(tls.ca_file, Some(dir.join("pki/broker-ca.pem")));
    assert_eq!(
        tls.client,
        Some((dir.join("pki/gw.pem"), dir.join("pki/gw.key")))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
