//! Any bytes as an NCMD/DCMD payload: decoded or refused, never a panic,
//! and never more metrics than the decoder promises to hand on.
#![no_main]

use edge_gateway::mqtt::payload::{MAX_COMMAND_METRICS, decode_command};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(metrics) = decode_command(data) {
        assert!(metrics.len() <= MAX_COMMAND_METRICS);
    }
});
