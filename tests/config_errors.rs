//! Golden tests for gateway.toml diagnostics: every test feeds config text to
//! `Config::parse` and pins the full `file:line:column: severity: message` lines.
//!
//! Devices set `poll = "2s"` unless the test is about timing, so that the
//! timeout × (retries + 1) > poll warning stays out of tests about other things.

use std::net::SocketAddr;
use std::time::Duration;

use edge_gateway::config::{Backoff, Config, ConfigError, Link, Severity};
use edge_gateway::tags::{DataType, Kind, WordOrder};

const FILE: &str = "gateway.toml";

/// Display strings of all diagnostics (errors and warnings) of a refused config.
fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, FILE) {
        Ok(c) => panic!(
            "config was accepted, expected errors; warnings: {:#?}\n---\n{text}",
            c.warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        ),
        Err(ConfigError::Invalid { file, diagnostics }) => {
            assert_eq!(file, FILE);
            assert!(
                diagnostics.iter().any(|d| d.severity == Severity::Error),
                "refused without an error: {diagnostics:#?}"
            );
            diagnostics.iter().map(ToString::to_string).collect()
        }
        Err(e) => panic!("unexpected error kind: {e}"),
    }
}

/// Display strings of the warnings of an accepted config.
fn warnings(text: &str) -> Vec<String> {
    let config = accept(text);
    assert!(
        config
            .warnings
            .iter()
            .all(|w| w.severity == Severity::Warning),
        "an accepted config carries an error: {:#?}",
        config.warnings
    );
    config.warnings.iter().map(ToString::to_string).collect()
}

fn accept(text: &str) -> Config {
    match Config::parse(text, FILE) {
        Ok(c) => c,
        Err(e) => panic!("config was refused:\n{e}\n---\n{text}"),
    }
}

const NONE: [&str; 0] = [];

// ---------------------------------------------------------------------------
// Unknown keys and TOML syntax

#[test]
fn unknown_key_in_a_tag_is_reported_at_the_key_with_the_valid_keys() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
unti = "mm"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:1: error: unknown field `unti`, expected one of `name`, `kind`, `address`, `type`, `order`, `bit`, `length`, `scale`, `offset`, `unit`, `description`, `writable`, `deadband`, `range`"
        ]
    );
}

#[test]
fn misspelled_type_key_is_reported_once_without_a_follow_on_missing_key() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "temp"
kind = "holding"
address = 0
tpye = "u16"
"#;
    // Today there is also, first:
    // gateway.toml:7:1: error: device "plc" tag "temp": missing key `type` (bool, u16, ...)
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:1: error: unknown field `tpye`, expected one of `name`, `kind`, `address`, `type`, `order`, `bit`, `length`, `scale`, `offset`, `unit`, `description`, `writable`, `deadband`, `range`"
        ]
    );
}

#[test]
fn misspelled_name_key_is_reported_once_without_a_follow_on_missing_key() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
nmae = "level"
kind = "holding"
address = 0
type = "u16"
"#;
    // Today there is also, first:
    // gateway.toml:7:1: error: device "plc" tag: missing key `name`
    assert_eq!(
        errors(text),
        [
            "gateway.toml:8:1: error: unknown field `nmae`, expected one of `name`, `kind`, `address`, `type`, `order`, `bit`, `length`, `scale`, `offset`, `unit`, `description`, `writable`, `deadband`, `range`"
        ]
    );
}

#[test]
fn two_unknown_keys_in_different_tables_are_reported_in_one_run() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"
retires = 2

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
writeable = true
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:6:1: error: unknown field `retires`, expected one of `name`, `protocol`, `host`, `port`, `baud`, `parity`, `stop_bits`, `data_bits`, `unit`, `poll`, `timeout`, `retries`, `order`, `max_gap`, `max_block`, `stale_after`, `pause_after_connect`, `pause_between_requests`, `demote_after`, `demote_for`, `backoff_min`, `backoff_max`, `tag`",
            "gateway.toml:13:1: error: unknown field `writeable`, expected one of `name`, `kind`, `address`, `type`, `order`, `bit`, `length`, `scale`, `offset`, `unit`, `description`, `writable`, `deadband`, `range`",
        ]
    );
}

#[test]
fn unclosed_string_reports_line_and_column_of_the_syntax_error() {
    let text = r#"[[device]]
name = "plc
protocol = "tcp"
host = "10.0.0.1"
"#;
    // Column 12 is the end of line 2, where the closing quote is missing.
    assert_eq!(
        errors(text),
        ["gateway.toml:2:12: error: invalid basic string, expected `\"`"]
    );
}

#[test]
fn config_error_display_counts_errors_and_lists_each_diagnostic() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"
retires = 2

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
writeable = true
"#;
    let err = Config::parse(text, FILE).unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(lines[0], "2 errors in gateway.toml:");
    assert!(lines[1].starts_with("gateway.toml:6:1: error: unknown field `retires`"));
    assert!(lines[2].starts_with("gateway.toml:13:1: error: unknown field `writeable`"));
}

// ---------------------------------------------------------------------------
// Names

#[test]
fn duplicate_device_name_points_at_the_second_device_and_names_the_first_line() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"

[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.2"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:1: error: device \"plc\": duplicate device name (first defined on line 1)"
        ]
    );
}

#[test]
fn duplicate_tag_name_within_a_device_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"

[[device.tag]]
name = "level"
address = "40002"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:1: error: device \"plc\" tag \"level\": duplicate tag name (first defined on line 7)"
        ]
    );
}

#[test]
fn same_tag_name_in_two_devices_is_fine() {
    let text = r#"[[device]]
name = "tank1"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"

[[device]]
name = "tank2"
protocol = "tcp"
host = "10.0.0.2"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(warnings(text), NONE);
    let config = accept(text);
    let names: Vec<(&str, &str)> = config
        .devices
        .iter()
        .flat_map(|d| d.tags.iter().map(|t| (d.name.as_str(), t.name.as_str())))
        .collect();
    assert_eq!(names, [("tank1", "level"), ("tank2", "level")]);
}

// ---------------------------------------------------------------------------
// Addresses

#[test]
fn address_above_65535_is_out_of_range() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 70000
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:10:11: error: device \"plc\" tag \"level\": address 70000 is out of range (0..=65535)"
        ]
    );
}

#[test]
fn negative_address_is_out_of_range() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = -1
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:10:11: error: device \"plc\" tag \"level\": address -1 is out of range (0..=65535)"
        ]
    );
}

#[test]
fn u32_at_the_last_register_runs_past_65535() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "energy"
kind = "holding"
address = 65535
type = "u32"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:10:11: error: device \"plc\" tag \"energy\": address: holding 65535 + 2 registers runs past 65535"
        ]
    );
}

#[test]
fn string_of_four_registers_at_65534_runs_past_65535() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "serial"
kind = "holding"
address = 65534
type = "string"
length = 4
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:10:11: error: device \"plc\" tag \"serial\": address: holding 65534 + 4 registers runs past 65535"
        ]
    );
}

#[test]
fn modicon_holding_address_with_kind_input_is_rejected_as_disagreeing() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "input"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:10:11: error: device \"plc\" tag \"level\": address \"40001\" is a holding address but kind = \"input\"; drop `kind` or make them agree"
        ]
    );
}

#[test]
fn modicon_address_with_prefix_5_is_not_a_modicon_address() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
address = "50001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:9:11: error: device \"plc\" tag \"level\": address \"50001\" is not a Modicon address; write \"40001\" (holding 0), \"30001\" (input 0), \"10001\" (discrete 0), \"00001\" (coil 0), or a 0-based number with `kind`"
        ]
    );
}

#[test]
fn modicon_register_zero_is_out_of_range() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
address = "40000"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:9:11: error: device \"plc\" tag \"level\": address \"40000\" is out of range: the register number after the leading digit must be 1..=9999"
        ]
    );
}

#[test]
fn numeric_40001_on_holding_is_accepted_with_a_hint_at_modicon() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 40001
type = "u16"
"#;
    assert_eq!(
        warnings(text),
        [
            "gateway.toml:10:11: warning: device \"plc\" tag \"level\": address 40001 is taken as the 0-based protocol address 40001; if the manual says 40001, write address = \"40001\" (= holding 0)"
        ]
    );
    assert_eq!(accept(text).devices[0].tags[0].address, 40001);
}

// ---------------------------------------------------------------------------
// Types, kinds and bits

#[test]
fn f32_on_a_coil_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "pump"
kind = "coil"
address = 0
type = "f32"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:8: error: device \"plc\" tag \"pump\": type: f32 is not allowed on a coil; coils and discrete inputs are bool"
        ]
    );
}

#[test]
fn writable_input_register_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "input"
address = 0
type = "u16"
writable = true
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:12: error: device \"plc\" tag \"level\": writable: an input register cannot be written (Modbus has no write function for it)"
        ]
    );
}

#[test]
fn writable_discrete_input_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "door"
kind = "discrete"
address = 0
writable = true
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:12: error: device \"plc\" tag \"door\": writable: a discrete input cannot be written (Modbus has no write function for it)"
        ]
    );
}

#[test]
fn bit_16_is_out_of_range() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "alarm"
kind = "holding"
address = 0
type = "bool"
bit = 16
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:7: error: device \"plc\" tag \"alarm\": bit: 16 is out of range (0..=15, 0 = least significant)"
        ]
    );
}

#[test]
fn bit_on_a_u32_tag_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "count"
kind = "holding"
address = 0
type = "u32"
bit = 3
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:12:7: error: device \"plc\" tag \"count\": bit: only applies to type = \"bool\" (one bit of one register), not to u32"
        ]
    );
}

#[test]
fn bool_on_a_holding_register_without_bit_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "alarm"
kind = "holding"
address = 0
type = "bool"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:8: error: device \"plc\" tag \"alarm\": type: bool on a holding register needs `bit` (0..=15)"
        ]
    );
}

#[test]
fn bool_on_an_input_register_without_bit_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "alarm"
kind = "input"
address = 0
type = "bool"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:8: error: device \"plc\" tag \"alarm\": type: bool on an input register needs `bit` (0..=15)"
        ]
    );
}

#[test]
fn string_without_length_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "serial"
kind = "holding"
address = 0
type = "string"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:8: error: device \"plc\" tag \"serial\": type: string needs `length` (in registers, two characters each)"
        ]
    );
}

// ---------------------------------------------------------------------------
// Scaling

#[test]
fn zero_scale_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
scale = 0
"#;
    assert_eq!(
        errors(text),
        ["gateway.toml:12:9: error: device \"plc\" tag \"level\": scale: must not be zero"]
    );
}

#[test]
fn scale_on_a_bool_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "pump"
kind = "coil"
address = 0
scale = 2.0
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:9: error: device \"plc\" tag \"pump\": scale: only applies to numeric types, not bool"
        ]
    );
}

#[test]
fn negative_deadband_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
deadband = -0.5
"#;
    assert_eq!(
        errors(text),
        ["gateway.toml:12:12: error: device \"plc\" tag \"level\": deadband: must not be negative"]
    );
}

// ---------------------------------------------------------------------------
// Links

#[test]
fn rtu_device_without_port_is_rejected_at_the_device() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:1:1: error: device \"meter\": missing key `port` (e.g. \"/dev/ttyUSB0\") for protocol = \"rtu\""
        ]
    );
}

#[test]
fn tcp_device_without_host_is_rejected_at_the_device() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:1:1: error: device \"plc\": missing key `host` (\"address:port\") for protocol = \"tcp\""
        ]
    );
}

#[test]
fn host_on_an_rtu_device_is_rejected() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/ttyUSB0"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:5:8: error: device \"meter\": host: only applies to protocol = \"tcp\"; an rtu device has `port`"
        ]
    );
}

#[test]
fn baud_on_a_tcp_device_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
baud = 9600
poll = "2s"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        ["gateway.toml:5:8: error: device \"plc\": baud: only applies to protocol = \"rtu\""]
    );
}

#[test]
fn unit_id_0_on_rtu_is_out_of_range() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/ttyUSB0"
unit = 0
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
"#;
    assert_eq!(
        errors(text),
        ["gateway.toml:5:8: error: device \"meter\": unit: 0 is out of range (1..=247)"]
    );
}

#[test]
fn rtu_devices_on_one_port_with_different_baud_are_rejected() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/ttyUSB0"
baud = 9600
unit = 1
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"

[[device]]
name = "drive"
protocol = "rtu"
port = "/dev/ttyUSB0"
baud = 19200
unit = 2
poll = "2s"

[[device.tag]]
name = "speed"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:14:1: error: device \"drive\": serial settings on /dev/ttyUSB0 differ from device \"meter\" on the same port (baud, parity, stop_bits, data_bits must match)"
        ]
    );
}

#[test]
fn rtu_devices_on_one_port_with_identical_settings_share_the_bus() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/ttyUSB0"
baud = 9600
parity = "none"
stop_bits = 2
unit = 1
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"

[[device]]
name = "drive"
protocol = "rtu"
port = "/dev/ttyUSB0"
baud = 9600
parity = "none"
stop_bits = 2
unit = 2
poll = "2s"

[[device.tag]]
name = "speed"
address = "40001"
type = "u16"
"#;
    assert_eq!(warnings(text), NONE);
    let config = accept(text);
    let keys: Vec<String> = config.devices.iter().map(|d| d.link.bus_key()).collect();
    assert_eq!(keys, ["rtu:///dev/ttyUSB0", "rtu:///dev/ttyUSB0"]);
    assert_eq!(config.devices[0].link, config.devices[1].link);
}

// ---------------------------------------------------------------------------
// Durations and timing

#[test]
fn zero_poll_is_rejected() {
    // timeout is set so that the fallback poll (1s) does not also draw the timing warning.
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "0s"
timeout = "100ms"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        ["gateway.toml:5:8: error: device \"plc\": poll: must be more than zero"]
    );
}

#[test]
fn poll_without_unit_suggests_one() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "5"
timeout = "100ms"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:5:8: error: device \"plc\": poll: \"5\" has no unit; write \"5s\" or \"5ms\""
        ]
    );
}

#[test]
fn invalid_poll_is_not_compared_with_the_timeout() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "5"
timeout = "800ms"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    // Today there is also:
    // gateway.toml:6:11: warning: device "plc": timeout × (retries + 1) = 1600ms is more
    // than poll = 1s; a silent device will make every cycle overrun
    assert_eq!(
        errors(text),
        [
            "gateway.toml:5:8: error: device \"plc\": poll: \"5\" has no unit; write \"5s\" or \"5ms\""
        ]
    );
}

#[test]
fn timeout_that_is_not_a_duration_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"
timeout = "fast"

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:6:11: error: device \"plc\": timeout: \"fast\" is not a duration; write a number with a unit: \"250ms\", \"2s\", \"1m\""
        ]
    );
}

#[test]
fn timeout_times_attempts_above_poll_is_a_warning_at_the_timeout() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "1s"
timeout = "400ms"
retries = 2

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        warnings(text),
        [
            "gateway.toml:6:11: warning: device \"plc\": timeout × (retries + 1) = 1200ms is more than poll = 1s; a silent device will make every cycle overrun"
        ]
    );
}

#[test]
fn timeout_times_attempts_equal_to_poll_is_accepted_without_warning() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "1200ms"
timeout = "400ms"
retries = 2

[[device.tag]]
name = "level"
address = "40001"
type = "u16"
"#;
    assert_eq!(warnings(text), NONE);
}

// ---------------------------------------------------------------------------
// Overlapping tags

#[test]
fn f32_starting_inside_another_f32_is_rejected() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "flow"
kind = "holding"
address = 0
type = "f32"

[[device.tag]]
name = "pressure"
kind = "holding"
address = 1
type = "f32"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:13:1: error: device \"plc\" tag \"pressure\": holding 1..3 overlaps tag \"flow\" (holding 0..2); a value cannot cross into another (the same registers may be read as another type only over the same or a contained range)"
        ]
    );
}

#[test]
fn same_registers_read_as_u32_and_f32_is_only_a_warning() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "raw"
kind = "holding"
address = 0
type = "u32"

[[device.tag]]
name = "value"
kind = "holding"
address = 0
type = "f32"
"#;
    assert_eq!(
        warnings(text),
        [
            "gateway.toml:13:1: warning: device \"plc\" tag \"value\": holding 0..2 overlaps tag \"raw\" (holding 0..2): the same registers are read as u32 and f32"
        ]
    );
    assert_eq!(accept(text).devices[0].tags.len(), 2);
}

#[test]
fn bit_tags_and_a_u16_on_one_status_register_are_accepted_without_warning() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "running"
kind = "holding"
address = 10
type = "bool"
bit = 0

[[device.tag]]
name = "fault"
kind = "holding"
address = 10
type = "bool"
bit = 1

[[device.tag]]
name = "status"
kind = "holding"
address = 10
type = "u16"
"#;
    assert_eq!(warnings(text), NONE);
    let bits: Vec<Option<u8>> = accept(text).devices[0]
        .tags
        .iter()
        .map(|t| t.encoding.bit)
        .collect();
    assert_eq!(bits, [Some(0), Some(1), None]);
}

// ---------------------------------------------------------------------------
// Several problems at once

#[test]
fn four_errors_in_four_devices_are_all_reported_in_line_order() {
    let text = r#"[[device]]
name = "valve"
protocol = "tcp"
host = "10.0.0.4"
poll = "2s"

[[device.tag]]
name = "open"
address = "00001"

[[device.tag]]
name = "open"
address = "00002"

[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "level"
kind = "holding"
address = 70000
type = "u16"

[[device]]
name = "meter"
protocol = "rtu"
poll = "2s"

[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"

[[device]]
name = "drive"
protocol = "tcp"
host = "10.0.0.3"
poll = "2s"
timeout = "fast"

[[device.tag]]
name = "speed"
address = "40001"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        [
            "gateway.toml:11:1: error: device \"valve\" tag \"open\": duplicate tag name (first defined on line 7)",
            "gateway.toml:24:11: error: device \"plc\" tag \"level\": address 70000 is out of range (0..=65535)",
            "gateway.toml:27:1: error: device \"meter\": missing key `port` (e.g. \"/dev/ttyUSB0\") for protocol = \"rtu\"",
            "gateway.toml:42:11: error: device \"drive\": timeout: \"fast\" is not a duration; write a number with a unit: \"250ms\", \"2s\", \"1m\"",
        ]
    );
}

// ---------------------------------------------------------------------------
// A valid config and its defaults

const MINIMAL: &str = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"

[[device.tag]]
name = "level"
kind = "holding"
address = 0
type = "u16"
"#;

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
        d.link,
        Link::Tcp {
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
    assert_eq!(t.encoding.offset, 0.0);
    assert!(!t.writable);
    assert_eq!(t.deadband, None);
    assert_eq!(t.unit, None);
    assert_eq!(t.line, 6);
}

#[test]
fn minimal_config_with_default_timing_has_no_warnings() {
    // Defaults: 500ms × (1 + 1) = 1s, exactly the 1s poll; equality does not warn.
    assert_eq!(warnings(MINIMAL), NONE);
}

#[test]
fn a_u32_and_its_two_u16_halves_are_accepted_with_warnings() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
[[device.tag]]
name = "total"
address = "40001"
type = "u32"
[[device.tag]]
name = "high"
address = "40001"
type = "u16"
[[device.tag]]
name = "low"
address = "40002"
type = "u16"
"#;
    let w = warnings(text);
    assert_eq!(w.len(), 2, "{w:#?}");
    assert!(
        w.iter()
            .all(|l| l.contains("the same registers are read as")),
        "{w:#?}"
    );
}

#[test]
fn rtu_overrun_warning_counts_the_drain_after_each_timeout() {
    let text = r#"[[device]]
name = "meter"
protocol = "rtu"
port = "/dev/ttyUSB0"
poll = "1s"
timeout = "300ms"
retries = 1
[[device.tag]]
name = "v"
address = "30001"
type = "f32"
"#;
    assert_eq!(
        warnings(text),
        vec![
            "gateway.toml:6:11: warning: device \"meter\": 2 × timeout (the wait, then a drain for a late reply) × (retries + 1) = 1200ms is more than poll = 1s; a silent device will make every cycle overrun"
        ]
    );
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

#[test]
fn opcua_refuses_deprecated_and_unknown_policies_and_write_for_anonymous() {
    let text = format!(
        "[opcua]\nsecurity = [\"basic128rsa15-sign\", \"basic256\", \"tls\"]\nanonymous = \"write\"\n{OPCUA_DEVICE}"
    );
    let e = errors(&text);
    assert!(e.iter().any(|l| l.starts_with("gateway.toml:2:13: error: opcua: security: \"basic128rsa15-sign\" is a deprecated policy")), "{e:#?}");
    assert!(
        e.iter().any(|l| l.starts_with(
            "gateway.toml:2:35: error: opcua: security: \"basic256\" is a deprecated policy"
        )),
        "{e:#?}"
    );
    assert!(
        e.iter().any(|l| l.starts_with(
            "gateway.toml:2:47: error: opcua: security: \"tls\" is not an endpoint; use \"none\","
        )),
        "{e:#?}"
    );
    assert!(e.iter().any(|l| l == "gateway.toml:3:13: error: opcua: anonymous: \"write\" is not allowed; use \"off\" or \"read\" (anonymous sessions can never write)"), "{e:#?}");
}

#[test]
fn opcua_refuses_a_password_hash_that_is_not_argon2id() {
    let text = format!(
        "[opcua]\nanonymous = \"read\"\n[[opcua.user]]\nname = \"op\"\npassword_hash = \"secret\"\n{OPCUA_DEVICE}"
    );
    assert_eq!(
        errors(&text),
        vec![
            "gateway.toml:5:17: error: opcua: user \"op\": password_hash is not an argon2id hash; make one with `edge-gateway hash-password`"
        ]
    );
}

#[test]
fn opcua_where_nobody_could_log_in_is_refused() {
    let text = format!("[opcua]\nanonymous = \"off\"\n{OPCUA_DEVICE}");
    assert_eq!(
        errors(&text),
        vec![
            "gateway.toml:1:1: error: opcua: nobody could log in: set anonymous = \"read\", or add [[opcua.user]] and a sign-encrypt endpoint"
        ]
    );
}

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
fn range_must_be_min_below_max_on_a_numeric_tag_and_underscore_names_are_reserved() {
    let text = r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
[[device.tag]]
name = "level"
address = "40001"
type = "u16"
range = [10.0, 5.0]
[[device.tag]]
name = "_Status"
address = "40002"
type = "u16"
"#;
    assert_eq!(
        errors(text),
        vec![
            "gateway.toml:9:9: error: device \"plc\" tag \"level\": range: must be [min, max] with min < max",
            "gateway.toml:11:8: error: device \"plc\" tag \"_Status\": name: a leading '_' is reserved for the gateway's own nodes (_Status)",
        ]
    );
}
