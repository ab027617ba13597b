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
    let (records, bytes, dropped) = m.buffer();
    for (name, kind, help, v) in [
        (
            "edge_gateway_mqtt_buffer_records",
            "gauge",
            "Records in the store-and-forward log, waiting to be replayed.",
            records,
        ),
        (
            "edge_gateway_mqtt_buffer_bytes",
            "gauge",
            "Bytes of the store-and-forward log on disk.",
            bytes,
        ),
        (
            "edge_gateway_mqtt_buffer_dropped_total",
            "counter",
            "Records the store-and-forward log dropped: over buffer_max_bytes or buffer_max_age, or for a device gone from the config.",
            dropped,
        ),
        (
            "edge_gateway_mqtt_buffer_replayed_total",
            "counter",
            "Records replayed from the store-and-forward log as historical DDATA.",
            m.replayed(),
        ),
    ] {
        header(out, name, kind, help);
        sample_int(out, name, &[], v);
    }
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
