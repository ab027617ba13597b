//! The per-tag series: `edge_gateway_tag_value` and `edge_gateway_tag_good`.
//!
//! Their label sets never change while the gateway runs (the store is built
//! once and tag ids are indexes), so each tag's series name and escaped
//! labels are rendered once, when the HTTP server starts, into one block of
//! text; a scrape copies a tag's prefix and writes only its value. Samples
//! come in the order the first renderer wrote them: every value in tag id
//! order, then every good flag in tag id order.

use super::text;
use super::{TAG_GOOD, TAG_VALUE, header};
use crate::tags::{Quality, TagId, TagStore};

/// The prefixes of one tag, as ends in `TagSeries::text`; each starts where
/// the previous one ends.
#[derive(Debug, Clone, Copy)]
struct Ends {
    /// End of `edge_gateway_tag_value{device="…",tag="…",unit="…"} `.
    value: usize,
    /// End of `edge_gateway_tag_good{device="…",tag="…"} `, right after the value prefix.
    good: usize,
}

/// What a scrape saw of one tag in the value pass, for the good pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Good,
    NotGood,
    /// No snapshot (an id the store does not know): no series at all, as before.
    Missing,
}

/// Every tag's series prefixes, rendered once per store.
#[derive(Debug, Default)]
pub(super) struct TagSeries {
    /// Every prefix, back to back in tag id order.
    text: Vec<u8>,
    /// Per tag, in tag id order.
    ends: Vec<Ends>,
}

impl TagSeries {
    /// Render the prefixes of every tag in `store`.
    pub(super) fn new(store: &TagStore) -> Self {
        let mut text = Vec::with_capacity(store.len() * 128);
        let mut ends = Vec::with_capacity(store.len());
        for (_, meta) in store.tags() {
            text.extend_from_slice(TAG_VALUE.as_bytes());
            labels(&mut text, store.device_name(meta.device), &meta.name);
            text.extend_from_slice(b",unit=\"");
            text::escape(&mut text, meta.unit.as_deref().unwrap_or(""));
            text.extend_from_slice(b"\"} ");
            let value = text.len();
            text.extend_from_slice(TAG_GOOD.as_bytes());
            labels(&mut text, store.device_name(meta.device), &meta.name);
            text.extend_from_slice(b"} ");
            ends.push(Ends {
                value,
                good: text.len(),
            });
        }
        TagSeries { text, ends }
    }

    /// Append both families for the store's current state.
    pub(super) fn render(&self, out: &mut Vec<u8>, store: &TagStore) {
        header(
            out,
            TAG_VALUE,
            "gauge",
            "Current value of a numeric or bool tag; absent while the tag is bad.",
        );
        // One snapshot per tag serves both families, so a scrape never shows a
        // tag good without its value, or the reverse.
        let mut seen = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for (i, ends) in self.ends.iter().enumerate() {
            let prefix = self.text.get(start..ends.value).unwrap_or_default();
            start = ends.good;
            let Some(snap) = store.snapshot(TagId::new(i)) else {
                seen.push(Seen::Missing);
                continue;
            };
            seen.push(if matches!(snap.quality, Quality::Good) {
                Seen::Good
            } else {
                Seen::NotGood
            });
            if let Some(v) = snap.usable_value() {
                let mark = out.len();
                out.extend_from_slice(prefix);
                if text::value(out, v) {
                    out.push(b'\n');
                } else {
                    out.truncate(mark);
                }
            }
        }
        header(
            out,
            TAG_GOOD,
            "gauge",
            "1 when the tag's quality is good, else 0.",
        );
        for (ends, seen) in self.ends.iter().zip(seen) {
            let prefix = self.text.get(ends.value..ends.good).unwrap_or_default();
            let flag: &[u8] = match seen {
                Seen::Good => b"1\n",
                Seen::NotGood => b"0\n",
                Seen::Missing => continue,
            };
            out.extend_from_slice(prefix);
            out.extend_from_slice(flag);
        }
    }
}

/// `{device="…",tag="…"` without the closing brace.
fn labels(out: &mut Vec<u8>, device: &str, tag: &str) {
    out.extend_from_slice(b"{device=\"");
    text::escape(out, device);
    out.extend_from_slice(b"\",tag=\"");
    text::escape(out, tag);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use tokio::time::Instant;

    use super::*;
    use crate::tags::{BadCause, DataType, DeviceId, DeviceMeta, TagMeta, Value};

    fn tag(name: &str, data_type: DataType, unit: Option<&str>) -> TagMeta {
        TagMeta {
            device: DeviceId::new(0),
            name: name.into(),
            data_type,
            unit: unit.map(Into::into),
            description: None,
            writable: false,
            deadband: None,
        }
    }

    /// The exact text of both families for a good, a bad, a string and a
    /// never-polled tag: what the renderer before pre-rendered prefixes wrote.
    #[test]
    fn both_families_are_written_as_before() {
        let store = TagStore::new(
            vec![DeviceMeta {
                name: "line \"3\"".into(),
                polled: true,
                poll: Duration::from_secs(1),
                stale_after: Duration::from_secs(3),
            }],
            vec![
                tag("volts", DataType::F32, Some("V")),
                tag("gone", DataType::U16, None),
                tag("label", DataType::String, None),
                tag("new\\line", DataType::I32, Some("°C")),
            ],
        );
        let (at, now) = (SystemTime::now(), Instant::now());
        store.set_good(TagId::new(0), Value::F32(230.1), at, now);
        store.set_failed(TagId::new(1), BadCause::Communication, at, now);
        store.set_good(TagId::new(2), Value::String("AB".into()), at, now);
        let series = TagSeries::new(&store);
        let mut out = Vec::new();
        series.render(&mut out, &store);
        let d = "device=\"line \\\"3\\\"\"";
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "# HELP edge_gateway_tag_value Current value of a numeric or bool tag; absent while the tag is bad.\n\
                 # TYPE edge_gateway_tag_value gauge\n\
                 edge_gateway_tag_value{{{d},tag=\"volts\",unit=\"V\"}} 230.1\n\
                 # HELP edge_gateway_tag_good 1 when the tag's quality is good, else 0.\n\
                 # TYPE edge_gateway_tag_good gauge\n\
                 edge_gateway_tag_good{{{d},tag=\"volts\"}} 1\n\
                 edge_gateway_tag_good{{{d},tag=\"gone\"}} 0\n\
                 edge_gateway_tag_good{{{d},tag=\"label\"}} 1\n\
                 edge_gateway_tag_good{{{d},tag=\"new\\\\line\"}} 0\n"
            )
        );
    }
}
