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
//!
//! A scrape of 100,000 tags is about 15 MB of text, so the work per tag is
//! kept to a few copies and a number: the labels are escaped once
//! (`series`), numbers are formatted without `core::fmt` (`text`), the body
//! buffers are kept for the next scrape (`pool`), and the body is gzipped as
//! it is rendered when the scraper accepts gzip (`gzip`), so that the plain
//! text of a Prometheus scrape never exists whole.

mod gzip;
mod mqtt;
mod pool;
mod series;
mod text;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;

use super::process::ProcessStats;
use crate::health::Health;
use crate::lock::lock;
use crate::modbus::bus::{Counters, DeviceCounters, Function, Outcome, POLL_BUCKETS};
use crate::tags::TagStore;
pub use gzip::{Encoding, GZIP_LEVEL};
use pool::Pool;
use series::TagSeries;

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

const TAG_VALUE: &str = "edge_gateway_tag_value";
const TAG_GOOD: &str = "edge_gateway_tag_good";

/// Renders `/metrics` for one store: built once when the HTTP server starts,
/// and used by every scrape.
#[derive(Debug)]
pub struct MetricsRenderer {
    store: Arc<TagStore>,
    counters: Arc<Counters>,
    health: Arc<Health>,
    opts: MetricsOptions,
    /// The tag series labels of `store` and the store shape they were
    /// rendered at; `None` without `tag_values` or when they do not fit.
    series: Mutex<(u64, Option<Arc<TagSeries>>)>,
    /// `le` label values of the poll histogram, `+Inf` last.
    buckets: Vec<String>,
    /// Plain bodies, kept between scrapes.
    plain: Arc<Pool>,
    /// Compressed bodies, kept between scrapes.
    gzipped: Arc<Pool>,
}

impl MetricsRenderer {
    /// A renderer for this store, its counters and health, with the tag
    /// series prefixes rendered now.
    pub fn new(
        store: Arc<TagStore>,
        counters: Arc<Counters>,
        health: Arc<Health>,
        opts: MetricsOptions,
    ) -> Self {
        let series = Mutex::new((
            store.shape(),
            opts.tag_values.then(|| render_labels(&store)).flatten(),
        ));
        let buckets = POLL_BUCKETS
            .iter()
            .map(|b| {
                let mut le = Vec::new();
                text::float(&mut le, *b);
                String::from_utf8_lossy(&le).into_owned()
            })
            .chain(["+Inf".to_owned()])
            .collect();
        MetricsRenderer {
            store,
            counters,
            health,
            opts,
            series,
            buckets,
            plain: Arc::new(Pool::default()),
            gzipped: Arc::new(Pool::default()),
        }
    }

    /// Append every metric to `out`, handing `out` to `spill` now and then
    /// (after each large stretch and each family) so that it can be drained.
    pub fn render_into(&self, out: &mut Vec<u8>, spill: &mut dyn FnMut(&mut Vec<u8>)) {
        if let Some(series) = self.series() {
            series.render(out, &self.store, spill);
            spill(out);
        }
        self.render_devices(out);
        spill(out);
        header(
            out,
            "edge_gateway_opcua_sessions",
            "gauge",
            "Open OPC UA sessions.",
        );
        sample_int(
            out,
            "edge_gateway_opcua_sessions",
            &[],
            self.health.opcua_sessions.load(Ordering::Relaxed),
        );
        header(
            out,
            "edge_gateway_build_info",
            "gauge",
            "Version of the running gateway; always 1.",
        );
        sample_int(
            out,
            "edge_gateway_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("gateway", &self.opts.gateway),
            ],
            1,
        );
        render_reload(out, &self.health.reload);
        mqtt::render(out, &self.health.mqtt);
        render_process(out);
    }

    /// The tag series labels for the store as it is now: rendered again
    /// after a reload added or removed a device.
    fn series(&self) -> Option<Arc<TagSeries>> {
        if !self.opts.tag_values {
            return None;
        }
        let mut series = lock(&self.series);
        let shape = self.store.shape();
        if series.0 != shape {
            *series = (shape, render_labels(&self.store));
        }
        series.1.clone()
    }

    /// The body of one scrape in `wanted` encoding, and the encoding it is in
    /// (plain if compression failed). Its buffer goes back to the renderer
    /// when the response drops it, for the next scrape to reuse.
    ///
    /// A gzipped body is compressed as it is rendered, in pieces of about
    /// 64 KiB: the plain text of a large scrape never exists whole.
    pub fn body(&self, wanted: Encoding) -> (Encoding, Bytes) {
        if wanted == Encoding::Gzip {
            let mut gzipped = self.gzipped.take();
            let mut stream = gzip::Stream::new(std::mem::take(gzipped.buf()), GZIP_LEVEL);
            let mut piece = Vec::with_capacity(2 * series::SPILL_AT);
            self.render_into(&mut piece, &mut |p| stream.write(p));
            stream.write(&mut piece);
            match stream.finish() {
                Ok(out) => {
                    *gzipped.buf() = out;
                    return (Encoding::Gzip, gzipped.into_bytes());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "gzip of /metrics failed; sending it plain");
                }
            }
        }
        let mut plain = self.plain.take();
        self.render_into(plain.buf(), &mut |_| {});
        (Encoding::Identity, plain.into_bytes())
    }

    fn render_devices(&self, out: &mut Vec<u8>) {
        let (store, counters) = (&*self.store, &*self.counters);
        let devices: Vec<(&str, bool, bool)> = store
            .devices()
            .filter_map(|d| {
                let meta = store.device_meta(d)?;
                Some((
                    meta.name.as_str(),
                    store.device_status(d)?.connected,
                    meta.polled,
                ))
            })
            .collect();
        header(
            out,
            "edge_gateway_device_up",
            "gauge",
            "1 when the device answered its last poll cycle.",
        );
        // A device without tags is never polled: no up/down to report.
        for (name, connected, _) in devices.iter().filter(|d| d.2) {
            sample_int(
                out,
                "edge_gateway_device_up",
                &[("device", name)],
                u64::from(*connected),
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
                let le = self.buckets.get(i).map_or("+Inf", String::as_str);
                sample_int(
                    out,
                    "edge_gateway_poll_duration_seconds_bucket",
                    &[("device", name), ("le", le)],
                    *n,
                );
            }
            sample(
                out,
                "edge_gateway_poll_duration_seconds_sum",
                &[("device", name)],
                sum,
            );
            sample_int(
                out,
                "edge_gateway_poll_duration_seconds_count",
                &[("device", name)],
                count,
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
                        sample_int(
                            out,
                            "edge_gateway_modbus_requests_total",
                            &[
                                ("device", name),
                                ("function", f.as_str()),
                                ("outcome", o.as_str()),
                            ],
                            n,
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
                sample_int(
                    out,
                    "edge_gateway_modbus_exceptions_total",
                    &[("device", name), ("code", &code.to_string())],
                    n,
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
                    sample_int(out, metric, &[("device", name)], get(c));
                }
            }
        }
    }
}

/// Reads one per-device counter.
type Read = fn(&DeviceCounters) -> u64;

fn header(out: &mut Vec<u8>, name: &str, kind: &str, help: &str) {
    for part in [
        "# HELP ",
        name,
        " ",
        help,
        "\n# TYPE ",
        name,
        " ",
        kind,
        "\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
}

/// Write `name{k="v",...} ` up to the value.
/// The tag series labels of `store`, or `None` (said once per shape) when
/// they do not fit.
fn render_labels(store: &TagStore) -> Option<Arc<TagSeries>> {
    let series = TagSeries::new(store);
    if series.is_none() {
        tracing::warn!(
            tags = store.len(),
            "too many tag labels or units for /metrics; the per-tag series are left out"
        );
    }
    series.map(Arc::new)
}

fn series(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)]) {
    out.extend_from_slice(name.as_bytes());
    if !labels.is_empty() {
        out.push(b'{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"=\"");
            text::escape(out, v);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
}

/// Write `name{k="v",...} value`.
fn sample(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], value: f64) {
    series(out, name, labels);
    text::float(out, value);
    out.push(b'\n');
}

/// Write `name{k="v",...} count`.
fn sample_int(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], value: u64) {
    series(out, name, labels);
    text::unsigned(out, value);
    out.push(b'\n');
}

/// The process family, in the process collector's order; a figure that could
/// not be read has neither its sample nor its header.
fn render_reload(out: &mut Vec<u8>, reload: &crate::health::ReloadStats) {
    header(
        out,
        "edge_gateway_config_last_reload_successful",
        "gauge",
        "1 if the last config read (start-up or SIGHUP) was valid, 0 if it was refused.",
    );
    sample_int(
        out,
        "edge_gateway_config_last_reload_successful",
        &[],
        u64::from(reload.last_successful()),
    );
    header(
        out,
        "edge_gateway_config_last_reload_success_timestamp_seconds",
        "gauge",
        "When the config was last read and found valid, in seconds since the Unix epoch.",
    );
    sample(
        out,
        "edge_gateway_config_last_reload_success_timestamp_seconds",
        &[],
        reload.last_success_seconds(),
    );
}

fn render_process(out: &mut Vec<u8>) {
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
