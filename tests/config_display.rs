//! The `Display` of a refused config as a whole (the per-diagnostic lines are
//! pinned by the golden cases in `config_cases/`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use edge_gateway::config::Config;

#[test]
fn config_error_display_counts_errors_and_lists_each_diagnostic() {
    // The same config as the golden case of that name: two unknown keys.
    let text = include_str!(
        "config_cases/two_unknown_keys_in_different_tables_are_reported_in_one_run/gateway.toml"
    );
    let err = Config::parse(text, "gateway.toml").unwrap_err().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert_eq!(lines[0], "2 errors in gateway.toml:");
    assert!(lines[1].starts_with("gateway.toml:6:1: error: unknown field `retires`"));
    assert!(lines[2].starts_with("gateway.toml:13:1: error: unknown field `writeable`"));
}
