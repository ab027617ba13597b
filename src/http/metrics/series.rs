//! The per-tag series: `edge_gateway_tag_value` and `edge_gateway_tag_good`.
//!
//! Their label sets change only when a reload adds or removes a device (tag
//! ids are indexes and never reused), so each tag's escaped `device` and
//! `tag` labels are rendered once per shape of the store (`TagStore::shape`)
//! into one block of text, and each distinct `unit` label once; a scrape
//! copies a tag's labels and writes only its value. A removed tag keeps an
//! empty entry and has no series. That costs about 40 bytes per tag (4 MB at
//! 100,000 tags), where whole pre-rendered lines would cost three times as
//! much. Samples come in the order the first renderer wrote them: every
//! value in tag id order, then every good flag in tag id order.

use std::collections::HashMap;

use super::text;
use super::{TAG_GOOD, TAG_VALUE, header};
use crate::tags::{Quality, TagId, TagStore};

/// Output is handed to `spill` about this often, so that a gzipped scrape
/// never holds the whole plain body.
pub(super) const SPILL_AT: usize = 64 * 1024;

/// What a scrape saw of one tag in the value pass, for the good pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Good,
    NotGood,
    /// No snapshot (an id the store does not know): no series at all, as before.
    Missing,
}

/// Every tag's labels, rendered once per store shape.
#[derive(Debug, Default)]
pub(super) struct TagSeries {
    /// `{device="…",tag="…"` of every tag, back to back in tag id order.
    labels: Vec<u8>,
    /// Per tag, in tag id order: where its labels end in `labels`.
    ends: Vec<u32>,
    /// Per tag, in tag id order: its entry in `units`.
    unit_of: Vec<u16>,
    /// `,unit="…"} ` for each distinct unit.
    units: Vec<Box<[u8]>>,
}

impl TagSeries {
    /// Render the labels of every tag in `store`; `None` if they do not fit
    /// the compact layout (over 4 GB of labels or 65,536 distinct units),
    /// far beyond any real gateway.
    pub(super) fn new(store: &TagStore) -> Option<Self> {
        let mut series = TagSeries {
            labels: Vec::with_capacity(store.len() * 32),
            ends: Vec::with_capacity(store.len()),
            unit_of: Vec::with_capacity(store.len()),
            units: Vec::new(),
        };
        let mut unit_index: HashMap<&str, u16> = HashMap::new();
        for id in (0..store.len()).map(TagId::new) {
            let Some(meta) = store.meta(id) else {
                // Removed: an empty entry keeps the others at their ids.
                series.ends.push(u32::try_from(series.labels.len()).ok()?);
                series.unit_of.push(0);
                continue;
            };
            let labels = &mut series.labels;
            labels.extend_from_slice(b"{device=\"");
            text::escape(labels, store.device_name(meta.device));
            labels.extend_from_slice(b"\",tag=\"");
            text::escape(labels, &meta.name);
            labels.push(b'"');
            series.ends.push(u32::try_from(labels.len()).ok()?);
            let unit = meta.unit.as_deref().unwrap_or("");
            let index = if let Some(i) = unit_index.get(unit) {
                *i
            } else {
                let i = u16::try_from(series.units.len()).ok()?;
                let mut suffix = b",unit=\"".to_vec();
                text::escape(&mut suffix, unit);
                suffix.extend_from_slice(b"\"} ");
                series.units.push(suffix.into_boxed_slice());
                unit_index.insert(unit, i);
                i
            };
            series.unit_of.push(index);
        }
        Some(series)
    }

    /// The labels of every tag with its unit suffix, in tag id order.
    fn each(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let mut start = 0;
        self.ends.iter().zip(&self.unit_of).map(move |(end, unit)| {
            let end = *end as usize;
            let labels = self.labels.get(start..end).unwrap_or_default();
            start = end;
            let unit = self.units.get(usize::from(*unit)).map_or(&b""[..], |u| u);
            (labels, unit)
        })
    }

    /// Append both families for the store's current state, handing `out` to
    /// `spill` whenever it holds more than `SPILL_AT` bytes.
    pub(super) fn render(
        &self,
        out: &mut Vec<u8>,
        store: &TagStore,
        spill: &mut dyn FnMut(&mut Vec<u8>),
    ) {
        header(
            out,
            TAG_VALUE,
            "gauge",
            "Current value of a numeric or bool tag; absent while the tag is bad.",
        );
        // One snapshot per tag serves both families, so a scrape never shows a
        // tag good without its value, or the reverse.
        let mut seen = Vec::with_capacity(self.ends.len());
        let now = tokio::time::Instant::now();
        for (i, (labels, unit)) in self.each().enumerate() {
            let Some(snap) = store.snapshot_at(TagId::new(i), now) else {
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
                out.extend_from_slice(TAG_VALUE.as_bytes());
                out.extend_from_slice(labels);
                out.extend_from_slice(unit);
                if text::value(out, v) {
                    out.push(b'\n');
                } else {
                    out.truncate(mark);
                }
            }
            if out.len() > SPILL_AT {
                spill(out);
            }
        }
        header(
            out,
            TAG_GOOD,
            "gauge",
            "1 when the tag's quality is good, else 0.",
        );
        for ((labels, _), seen) in self.each().zip(seen) {
            let flag: &[u8] = match seen {
                Seen::Good => b"} 1\n",
                Seen::NotGood => b"} 0\n",
                Seen::Missing => continue,
            };
            out.extend_from_slice(TAG_GOOD.as_bytes());
            out.extend_from_slice(labels);
            out.extend_from_slice(flag);
            if out.len() > SPILL_AT {
                spill(out);
            }
        }
    }
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
                bus: "tcp://127.0.0.1:502".into(),
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
        let series = TagSeries::new(&store).unwrap();
        let mut out = Vec::new();
        series.render(&mut out, &store, &mut |_| {});
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

    /// Output handed out in pieces adds up to the output written whole, and
    /// no piece is much over `SPILL_AT`.
    #[test]
    fn spilled_pieces_add_up_to_the_whole_body() {
        let tags: u16 = 5000;
        let store = TagStore::new(
            vec![DeviceMeta {
                name: "farm".into(),
                polled: true,
                poll: Duration::from_secs(1),
                stale_after: Duration::from_secs(3),
                bus: "tcp://127.0.0.1:502".into(),
            }],
            (0..tags)
                .map(|t| {
                    tag(
                        &format!("t{t}"),
                        DataType::U16,
                        Some(["V", "A", "kWh"][usize::from(t % 3)]),
                    )
                })
                .collect(),
        );
        let (at, now) = (SystemTime::now(), Instant::now());
        for t in 0..tags {
            store.set_good(TagId::new(usize::from(t)), Value::U16(t), at, now);
        }
        let series = TagSeries::new(&store).unwrap();
        assert_eq!(series.units.len(), 3);
        let mut whole = Vec::new();
        series.render(&mut whole, &store, &mut |_| {});
        let (mut joined, mut pieces, mut out) = (Vec::new(), 0, Vec::new());
        series.render(&mut out, &store, &mut |p| {
            assert!(p.len() < SPILL_AT + 200, "{}", p.len());
            joined.append(p);
            pieces += 1;
        });
        joined.append(&mut out);
        assert!(pieces > 2, "{pieces} pieces");
        assert_eq!(joined, whole);
        let text = String::from_utf8(whole).unwrap();
        assert!(text.contains("edge_gateway_tag_value{device=\"farm\",tag=\"t4\",unit=\"A\"} 4\n"));
        assert!(text.contains("edge_gateway_tag_good{device=\"farm\",tag=\"t4999\"} 1\n"));
    }
}
