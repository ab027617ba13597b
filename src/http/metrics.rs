//! `/metrics`: the Prometheus text exposition format (0.0.4), rendered from the
//! tag store, the device counters and /proc (see `process`) at scrape time.
//!
//! Nothing is recorded per tag on the poll path: tag series are read from the
//! store when Prometheus asks. A bad tag has no `edge_gateway_tag_value`
//! sample (its series goes stale, which is honest) and `edge_gateway_tag_good`
//! says why it is missing. The classic text format is written directly rather
//! than through a client library: tag series are dynamic and come from the
//! store, which both client crates would need a custom collector for, and the
//! classic format is the one `promtool check metrics` lints.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::process::ProcessStats;
use crate::health::Health;
use crate::modbus::bus::{Counters, DeviceCounters, Function, Outcome, POLL_BUCKETS};
use crate::tags::{TagStore, Value};

/// What `/metrics` includes.
#[derive(Debug, Clone)]
pub struct MetricsOptions {
    /// `gateway` label of `edge_gateway_build_info`.
    pub gateway: String,
    /// Whether to export `edge_gateway_tag_value` and `edge_gateway_tag_good`
    /// (off for very large tag counts).
    pub tag_values: bool,
}

/// Content type of the classic text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Escape a label value: backslash, double quote and newline.
fn escape(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// A float as the text format writes it (`+Inf`, `-Inf`, `NaN`).
fn number(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Write `name{k="v",...} value`.
fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push_str("=\"");
            escape(out, v);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    number(out, value);
    out.push('\n');
}

/// Render every metric.
pub fn render(
    store: &TagStore,
    counters: &Counters,
    health: &Health,
    opts: &MetricsOptions,
) -> String {
    let mut out = String::with_capacity(
        4096 + if opts.tag_values {
            store.len() * 160
        } else {
            0
        },
    );
    if opts.tag_values {
        render_tags(&mut out, store);
    }
    render_devices(&mut out, store, counters);
    header(
        &mut out,
        "edge_gateway_opcua_sessions",
        "gauge",
        "Open OPC UA sessions.",
    );
    sample(
        &mut out,
        "edge_gateway_opcua_sessions",
        &[],
        health.opcua_sessions.load(Ordering::Relaxed) as f64,
    );
    header(
        &mut out,
        "edge_gateway_build_info",
        "gauge",
        "Version of the running gateway; always 1.",
    );
    sample(
        &mut out,
        "edge_gateway_build_info",
        &[
            ("version", env!("CARGO_PKG_VERSION")),
            ("gateway", &opts.gateway),
        ],
        1.0,
    );
    render_process(&mut out);
    out
}

fn render_tags(out: &mut String, store: &TagStore) {
    header(
        out,
        "edge_gateway_tag_value",
        "gauge",
        "Current value of a numeric or bool tag; absent while the tag is bad.",
    );
    let mut good = String::with_capacity(store.len() * 64);
    header(
        &mut good,
        "edge_gateway_tag_good",
        "gauge",
        "1 when the tag's quality is good, else 0.",
    );
    for (id, meta) in store.tags() {
        let Some(snap) = store.snapshot(id) else {
            continue;
        };
        let labels = [
            ("device", meta.device_name.as_str()),
            ("tag", meta.name.as_str()),
        ];
        let is_good = matches!(snap.quality, crate::tags::Quality::Good);
        sample(
            &mut good,
            "edge_gateway_tag_good",
            &labels,
            if is_good { 1.0 } else { 0.0 },
        );
        let value = match snap.usable_value() {
            Some(Value::String(_)) | None => continue,
            Some(v) => v.as_display_f64(),
        };
        if let Some(v) = value {
            let unit = meta.unit.as_deref().unwrap_or("");
            sample(
                out,
                "edge_gateway_tag_value",
                &[labels[0], labels[1], ("unit", unit)],
                v,
            );
        }
    }
    out.push_str(&good);
}

/// Reads one per-device counter.
type Read = fn(&DeviceCounters) -> u64;

fn render_devices(out: &mut String, store: &TagStore, counters: &Counters) {
    let devices: Vec<(String, crate::tags::DeviceStatus, bool)> = store
        .devices()
        .filter_map(|d| {
            let meta = store.device_meta(d)?;
            Some((meta.name.clone(), store.device_status(d)?, meta.polled))
        })
        .collect();
    header(
        out,
        "edge_gateway_device_up",
        "gauge",
        "1 when the device answered its last poll cycle.",
    );
    // A device without tags is never polled: no up/down to report.
    for (name, status, _) in devices.iter().filter(|d| d.2) {
        sample(
            out,
            "edge_gateway_device_up",
            &[("device", name)],
            if status.connected { 1.0 } else { 0.0 },
        );
    }
    header(
        out,
        "edge_gateway_poll_duration_seconds",
        "histogram",
        "Duration of complete poll cycles.",
    );
    for (d, (name, _, _)) in store.devices().zip(devices.iter()) {
        let Some(c) = counters.device(d) else {
            continue;
        };
        let (buckets, sum, count) = c.poll_duration.snapshot();
        for (i, n) in buckets.iter().enumerate() {
            let le = POLL_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), std::string::ToString::to_string);
            sample(
                out,
                "edge_gateway_poll_duration_seconds_bucket",
                &[("device", name), ("le", &le)],
                *n as f64,
            );
        }
        sample(
            out,
            "edge_gateway_poll_duration_seconds_sum",
            &[("device", name)],
            sum,
        );
        sample(
            out,
            "edge_gateway_poll_duration_seconds_count",
            &[("device", name)],
            count as f64,
        );
    }
    header(
        out,
        "edge_gateway_modbus_requests_total",
        "counter",
        "Modbus requests by function and outcome (ok, exception, timeout, error).",
    );
    for (d, (name, _, _)) in store.devices().zip(devices.iter()) {
        let Some(c) = counters.device(d) else {
            continue;
        };
        for f in Function::ALL {
            for o in Outcome::ALL {
                let n = c.requests(f, o);
                if n > 0 {
                    sample(
                        out,
                        "edge_gateway_modbus_requests_total",
                        &[
                            ("device", name),
                            ("function", f.as_str()),
                            ("outcome", o.as_str()),
                        ],
                        n as f64,
                    );
                }
            }
        }
    }
    header(
        out,
        "edge_gateway_modbus_exceptions_total",
        "counter",
        "Modbus exception responses by exception code.",
    );
    for (d, (name, _, _)) in store.devices().zip(devices.iter()) {
        let Some(c) = counters.device(d) else {
            continue;
        };
        for (code, n) in c.exceptions() {
            sample(
                out,
                "edge_gateway_modbus_exceptions_total",
                &[("device", name), ("code", &code.to_string())],
                n as f64,
            );
        }
    }
    let families: [(&str, &str, Read); 3] = [
        (
            "edge_gateway_poll_overruns_total",
            "Poll cycles that ended after the next one was due.",
            |c| c.overruns.load(Ordering::Relaxed),
        ),
        (
            "edge_gateway_connects_total",
            "Connection attempts (TCP connects, serial port opens).",
            |c| c.connects.load(Ordering::Relaxed),
        ),
        (
            "edge_gateway_writes_total",
            "Writes the device acknowledged.",
            |c| c.writes.load(Ordering::Relaxed),
        ),
    ];
    for (metric, help, get) in families {
        header(out, metric, "counter", help);
        for (d, (name, _, _)) in store.devices().zip(devices.iter()) {
            if let Some(c) = counters.device(d) {
                sample(out, metric, &[("device", name)], get(c) as f64);
            }
        }
    }
}

/// The process family, in the process collector's order; a figure that could
/// not be read has neither its sample nor its header.
fn render_process(out: &mut String) {
    let p = ProcessStats::read();
    let family: [(&str, &str, &str, Option<f64>); 6] = [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            p.cpu_seconds,
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            p.start_time,
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            p.resident_bytes,
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
            p.virtual_bytes,
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
            p.open_fds,
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
            p.max_fds,
        ),
    ];
    for (name, kind, help, value) in family {
        if let Some(v) = value {
            header(out, name, kind, help);
            sample(out, name, &[], v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        sample(&mut out, "m", &[("unit", "a\"b\\c\nd")], 1.5);
        assert_eq!(out, "m{unit=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    }

    #[test]
    fn special_floats_use_the_text_format_spelling() {
        let mut out = String::new();
        for v in [f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 1e21] {
            number(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "+Inf -Inf NaN 1000000000000000000000 ");
    }
}
