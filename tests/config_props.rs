//! Properties of `Config::parse`: it never panics, whatever the text, and what it
//! accepts respects the invariants the rest of the gateway relies on.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use edge_gateway::config::{Config, ConfigError, Severity};
use edge_gateway::tags::DataType;
use proptest::prelude::*;

/// A TOML string literal for `s`, escaped as TOML wants it.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// An address value as written in the file: a number, a Modicon-like string, or junk.
fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<i64>().prop_map(|n| n.to_string()),
        4 => (-10i64..70_000).prop_map(|n| n.to_string()),
        2 => (65_520i64..65_540).prop_map(|n| n.to_string()),
        1 => "[0-9]{0,7}".prop_map(|s| toml_str(&s)),
        4 => "[0134][0-9]{4,5}".prop_map(|s| toml_str(&s)),
        1 => ".{0,8}".prop_map(|s| toml_str(&s)),
        1 => Just("1.5".to_owned()),
        1 => Just("true".to_owned()),
    ]
}

/// `key = value` with probability `p`, else nothing, with the value from `values`.
fn optional_line(
    key: &'static str,
    p: f64,
    values: impl Strategy<Value = String>,
) -> impl Strategy<Value = String> {
    prop::option::weighted(p, values)
        .prop_map(move |v| v.map_or_else(String::new, |v| format!("{key} = {v}\n")))
}

fn kind() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("coil"),
        Just("discrete"),
        Just("input"),
        Just("holding"),
        Just("register"),
    ]
    .prop_map(toml_str)
}

fn data_type() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "bool", "u16", "i16", "u32", "i32", "u64", "i64", "f32", "f64", "string",
        ])
        .prop_map(toml_str),
        1 => ".{0,6}".prop_map(|s| toml_str(&s)),
    ]
}

fn small_or_any_int() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-3i64..20).prop_map(|n| n.to_string()),
        1 => (-3i64..200).prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
    ]
}

/// A valid config whose second tag has random address, kind, type, bit and length.
fn config_with_random_tag() -> impl Strategy<Value = String> {
    (
        optional_line("kind", 0.7, kind()),
        address(),
        optional_line("type", 0.9, data_type()),
        optional_line("bit", 0.3, small_or_any_int()),
        optional_line("length", 0.3, small_or_any_int()),
    )
        .prop_map(|(kind, address, data_type, bit, length)| {
            format!(
                r#"[[device]]
name = "plc"
protocol = "tcp"
host = "10.0.0.1"
poll = "2s"

[[device.tag]]
name = "fixed"
address = "40001"
type = "f32"

[[device.tag]]
name = "random"
{kind}address = {address}
{data_type}{bit}{length}"#
            )
        })
}

/// What the engine relies on for every accepted tag.
fn check_accepted(config: &Config) -> Result<(), TestCaseError> {
    prop_assert!(
        config
            .warnings
            .iter()
            .all(|w| w.severity == Severity::Warning)
    );
    for device in &config.devices {
        for tag in &device.tags {
            let count = u32::from(tag.count());
            prop_assert!(count >= 1, "tag {} reads no registers", tag.name);
            prop_assert!(
                u32::from(tag.address) + count <= 65_536,
                "tag {} runs past 65535: {} + {}",
                tag.name,
                tag.address,
                count
            );
            if let Some(bit) = tag.encoding.bit {
                prop_assert!(bit <= 15, "tag {} has bit {}", tag.name, bit);
                prop_assert_eq!(tag.encoding.data_type, DataType::Bool);
                prop_assert!(!tag.kind.is_bit());
            }
            if tag.kind.is_bit() {
                prop_assert_eq!(tag.encoding.data_type, DataType::Bool);
            }
            if !tag.kind.is_bit() {
                prop_assert!(count <= u32::from(device.limits.max_registers));
            }
        }
    }
    Ok(())
}

/// Every diagnostic points inside `text`: a line that exists and a column
/// on it (one past its end at most, where a value is missing). A span that
/// went wrong (an offset from the blanked copy, a byte instead of a char
/// count) lands outside.
fn check_refused(text: &str, err: &ConfigError) -> Result<(), TestCaseError> {
    match err {
        ConfigError::Invalid { diagnostics, .. } => {
            prop_assert!(diagnostics.iter().any(|d| d.severity == Severity::Error));
            let lines: Vec<&str> = text.split('\n').collect();
            for d in diagnostics {
                prop_assert!(
                    d.line >= 1 && d.line <= lines.len(),
                    "line out of the file: {}",
                    d
                );
                let width = lines[d.line - 1].chars().count();
                prop_assert!(
                    d.column >= 1 && d.column <= width + 1,
                    "column {} beyond line {} ({} chars): {}",
                    d.column,
                    d.line,
                    width,
                    d
                );
            }
        }
        ConfigError::Read { .. } => prop_assert!(false, "parse returned a read error"),
    }
    Ok(())
}

fn check(text: &str) -> Result<(), TestCaseError> {
    match Config::parse(text, "gateway.toml") {
        Ok(config) => check_accepted(&config),
        Err(err) => check_refused(text, &err),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn parse_never_panics_on_toml_like_text(
        text in r#"(\[\[device(\.tag)?\]\]\n|[a-z_]{1,10} = ("[^"\n]{0,8}"?|-?[0-9]{1,6}|true|\[)\n|[\[\]"= .\n#]){0,30}"#
    ) {
        check(&text)?;
    }

    #[test]
    fn parse_never_panics_when_one_tag_gets_random_address_type_bit_and_length(
        text in config_with_random_tag()
    ) {
        check(&text)?;
    }
}
