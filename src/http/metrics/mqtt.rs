//! The Sparkplug edge node's families: session state, messages and bytes
//! published, DCMD writes. Absent when `[mqtt]` is not configured.

use super::{header, sample_int};
use crate::health::{MqttState, MqttStats, WriteOutcome};

/// Append the edge node's families, if it is configured.
pub(super) fn render(out: &mut Vec<u8>, m: &MqttStats) {
    if !m.enabled() {
        return;
    }
    let state = m.state();
    header(
        out,
        "edge_gateway_mqtt_connected",
        "gauge",
        "1 while the Sparkplug edge node is connected to its broker.",
    );
    sample_int(
        out,
        "edge_gateway_mqtt_connected",
        &[],
        u64::from(state != MqttState::Disconnected),
    );
    header(
        out,
        "edge_gateway_mqtt_online",
        "gauge",
        "1 while the edge node is born and publishing (the primary host, if any, is online).",
    );
    sample_int(
        out,
        "edge_gateway_mqtt_online",
        &[],
        u64::from(state == MqttState::Online),
    );
    header(
        out,
        "edge_gateway_mqtt_messages_total",
        "counter",
        "Sparkplug messages published (births, data, deaths) and commands received (NCMD, DCMD), by type.",
    );
    for (kind, n) in m.messages_by_type() {
        sample_int(
            out,
            "edge_gateway_mqtt_messages_total",
            &[("type", kind)],
            n,
        );
    }
    header(
        out,
        "edge_gateway_mqtt_bytes_total",
        "counter",
        "Payload bytes of Sparkplug messages published and commands received.",
    );
    sample_int(out, "edge_gateway_mqtt_bytes_total", &[], m.bytes());
    header(
        out,
        "edge_gateway_mqtt_writes_total",
        "counter",
        "DCMD metrics by outcome: written, refused before any device was asked, or failed at the device.",
    );
    for o in WriteOutcome::ALL {
        sample_int(
            out,
            "edge_gateway_mqtt_writes_total",
            &[("outcome", o.as_str())],
            m.writes(o),
        );
    }
}
