//! Any text into the config loader: no panic, and a refused config names at
//! least one error, each at a line and column of the file.
#![no_main]

use edge_gateway::config::{Config, ConfigError, Severity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse(text, "fuzz.toml") {
        Ok(config) => {
            for w in &config.warnings {
                assert!(
                    w.line >= 1 && w.column >= 1,
                    "warning without a place: {w:?}"
                );
            }
        }
        Err(ConfigError::Invalid { diagnostics, .. }) => {
            assert!(
                diagnostics.iter().any(|d| d.severity == Severity::Error),
                "refused without an error: {diagnostics:?}"
            );
            for d in &diagnostics {
                assert!(
                    d.line >= 1 && d.column >= 1,
                    "diagnostic without a place: {d:?}"
                );
                assert_eq!(d.file, "fuzz.toml");
            }
        }
        Err(e) => panic!("parse gave a non-diagnostic error: {e}"),
    }
});
