//! `[[device.tag]]`: address and kind, type, bit and length, scaling, access,
//! range, and the overlaps between the tags of one device.
//!
//! Each check reports every problem it finds and says whether the tag can
//! still be built; a tag with any error is left out, so a refused config never
//! carries a half-understood tag.

use std::ops::Range;

use toml::Spanned;

use super::super::TagConfig;
use super::super::address::resolve_address;
use super::super::raw::RawTag;
use super::{Builder, a_kind, ctx};
use crate::modbus::codec::Encoding;
use crate::modbus::plan::Limits;
use crate::modbus::protocol::fits_address_space;
use crate::tags::{DataType, Kind, WordOrder};

impl Builder<'_> {
    /// One tag of `device`; `None` when it has an error.
    pub(super) fn tag(
        &mut self,
        device: &str,
        device_order: WordOrder,
        limits: Limits,
        t: RawTag,
        span: &Range<usize>,
    ) -> Option<TagConfig> {
        let name = self.name(
            &format!("device {device:?} tag"),
            t.name.as_ref(),
            span,
            true,
        );
        let p = ctx(device, Some(&name));
        let line = self.d.locate(span.start).0;
        let (kind, address) = self.tag_address(&p, &t, span)?;
        let data_type = self.tag_type(&p, &t, kind, span)?;
        let type_span = t.data_type.as_ref().map_or(span.clone(), Spanned::span);
        let mut ok = self.type_fits_kind(&p, kind, data_type, &type_span);
        let bit = self.tag_bit(&p, &t, kind, data_type, &type_span, &mut ok);
        let length = self.tag_length(&p, &t, data_type, &type_span, limits, &mut ok);
        let order = self.order(&p, t.order.as_ref(), device_order);
        ok &= self.tag_scaling(&p, &t, data_type);
        let writable = t.writable.as_ref().is_some_and(|w| *w.get_ref());
        ok &= self.tag_access(&p, &t, kind, writable);
        let encoding = Encoding {
            data_type,
            order,
            bit: if kind.is_bit() { None } else { bit },
            length,
            scale: t.scale.as_ref().map(|s| *s.get_ref()),
            offset: t.offset.as_ref().map_or(0.0, |o| *o.get_ref()),
        };
        ok &= self.tag_footprint(&p, &t, kind, address, &encoding, limits, span);
        let range = self.tag_range(&p, &t, data_type);
        ok &= self.tag_name_not_reserved(&p, &t, &name, span);
        if let Some(u) = t.unit.as_ref().filter(|u| u.get_ref().trim().is_empty()) {
            self.d.error(
                &u.span(),
                format!("{p}unit: must not be empty (leave the key out instead)"),
            );
        }
        if !ok || name.is_empty() {
            return None;
        }
        Some(TagConfig {
            name,
            kind,
            address,
            encoding,
            unit: t.unit.map(Spanned::into_inner),
            description: t.description.map(Spanned::into_inner),
            writable,
            deadband: t.deadband.map(Spanned::into_inner),
            range,
            line,
        })
    }

    /// Kind and 0-based address, from `kind` + a number or a Modicon string.
    fn tag_address(&mut self, p: &str, t: &RawTag, span: &Range<usize>) -> Option<(Kind, u16)> {
        let explicit_kind = match t.kind.as_ref() {
            Some(k) => Some(self.kind(p, k)?),
            None => None,
        };
        let Some(addr) = t.address.as_ref() else {
            self.missing(span, format!("{p}missing key `address`"));
            return None;
        };
        match resolve_address(explicit_kind, addr.get_ref()) {
            Ok((kind, address, hint)) => {
                if let Some(h) = hint {
                    self.d.warn(&addr.span(), format!("{p}{h}"));
                }
                Some((kind, address))
            }
            Err(e) => {
                self.d.error(&addr.span(), format!("{p}{e}"));
                None
            }
        }
    }

    /// `type`; coils and discrete inputs are bool without saying so.
    fn tag_type(
        &mut self,
        p: &str,
        t: &RawTag,
        kind: Kind,
        span: &Range<usize>,
    ) -> Option<DataType> {
        match t.data_type.as_ref() {
            Some(v) => self.data_type(p, v),
            None if kind.is_bit() => Some(DataType::Bool),
            None => {
                let names: Vec<&str> = DataType::NAMES.iter().map(|(n, _)| *n).collect();
                self.missing(
                    span,
                    format!("{p}missing key `type` ({})", names.join(", ")),
                );
                None
            }
        }
    }

    /// Coils and discrete inputs hold one bit: only bool fits them.
    fn type_fits_kind(
        &mut self,
        p: &str,
        kind: Kind,
        data_type: DataType,
        type_span: &Range<usize>,
    ) -> bool {
        if kind.is_bit() && data_type != DataType::Bool {
            self.d.error(
                type_span,
                format!(
                    "{p}type: {} is not allowed on {}; coils and discrete inputs are bool",
                    data_type.as_str(),
                    a_kind(kind)
                ),
            );
            return false;
        }
        true
    }

    /// `bit`: one bit (0..=15) of a register, read as bool; a register bool needs one.
    fn tag_bit(
        &mut self,
        p: &str,
        t: &RawTag,
        kind: Kind,
        data_type: DataType,
        type_span: &Range<usize>,
        ok: &mut bool,
    ) -> Option<u8> {
        let bit = t.bit.as_ref().and_then(|v| {
            let n = *v.get_ref();
            if kind.is_bit() {
                self.d.error(&v.span(), format!("{p}bit: only applies to a bool read from a register; {} is already one bit", a_kind(kind)));
                *ok = false;
            } else if data_type != DataType::Bool {
                self.d.error(&v.span(), format!("{p}bit: only applies to type = \"bool\" (one bit of one register), not to {}", data_type.as_str()));
                *ok = false;
            } else if !(0..=15).contains(&n) {
                self.d.error(
                    &v.span(),
                    format!("{p}bit: {n} is out of range (0..=15, 0 = least significant)"),
                );
                *ok = false;
            }
            u8::try_from(n).ok()
        });
        if !kind.is_bit() && data_type == DataType::Bool && t.bit.is_none() {
            self.d.error(
                type_span,
                format!("{p}type: bool on {} needs `bit` (0..=15)", a_kind(kind)),
            );
            *ok = false;
        }
        bit
    }

    /// `length` in registers: required for strings, refused for the rest.
    fn tag_length(
        &mut self,
        p: &str,
        t: &RawTag,
        data_type: DataType,
        type_span: &Range<usize>,
        limits: Limits,
        ok: &mut bool,
    ) -> u16 {
        match (data_type, t.length.as_ref()) {
            (DataType::String, None) => {
                self.d.error(
                    type_span,
                    format!("{p}type: string needs `length` (in registers, two characters each)"),
                );
                *ok = false;
                1
            }
            (DataType::String, Some(v)) => {
                self.narrow(p, "length", Some(v), 1..=i64::from(limits.max_registers), 1)
            }
            (_, Some(v)) => {
                self.d.error(
                    &v.span(),
                    format!("{p}length: only applies to type = \"string\""),
                );
                *ok = false;
                0
            }
            (_, None) => 0,
        }
    }

    /// `scale`, `offset` and `deadband`: numeric types only, finite, scale not
    /// zero, deadband not negative.
    fn tag_scaling(&mut self, p: &str, t: &RawTag, data_type: DataType) -> bool {
        let mut ok = true;
        for (key, v) in [
            ("scale", t.scale.as_ref()),
            ("offset", t.offset.as_ref()),
            ("deadband", t.deadband.as_ref()),
        ] {
            let Some(v) = v else { continue };
            if !data_type.is_numeric() {
                self.d.error(
                    &v.span(),
                    format!(
                        "{p}{key}: only applies to numeric types, not {}",
                        data_type.as_str()
                    ),
                );
                ok = false;
            } else if !v.get_ref().is_finite() {
                self.d
                    .error(&v.span(), format!("{p}{key}: must be a finite number"));
                ok = false;
            }
        }
        if let Some(s) = t.scale.as_ref().filter(|s| *s.get_ref() == 0.0) {
            self.d
                .error(&s.span(), format!("{p}scale: must not be zero"));
            ok = false;
        }
        if let Some(db) = t.deadband.as_ref().filter(|v| *v.get_ref() < 0.0) {
            self.d
                .error(&db.span(), format!("{p}deadband: must not be negative"));
            ok = false;
        }
        ok
    }

    /// `writable`: only coils and holding registers have a write function.
    fn tag_access(&mut self, p: &str, t: &RawTag, kind: Kind, writable: bool) -> bool {
        if !writable || !matches!(kind, Kind::Input | Kind::Discrete) {
            return true;
        }
        if let Some(w) = t.writable.as_ref() {
            self.d.error(
                &w.span(),
                format!(
                    "{p}writable: {} cannot be written (Modbus has no write function for it)",
                    a_kind(kind)
                ),
            );
        }
        false
    }

    /// The registers the tag reads stay in the address space and fit one request.
    #[allow(clippy::too_many_arguments)]
    fn tag_footprint(
        &mut self,
        p: &str,
        t: &RawTag,
        kind: Kind,
        address: u16,
        encoding: &Encoding,
        limits: Limits,
        span: &Range<usize>,
    ) -> bool {
        let mut ok = true;
        let count = TagConfig::footprint(kind, encoding);
        if !fits_address_space(address, count) {
            let s = t.address.as_ref().map_or(span.clone(), Spanned::span);
            self.d.error(
                &s,
                format!(
                    "{p}address: {} {address} + {count} registers runs past 65535",
                    kind.as_str()
                ),
            );
            ok = false;
        }
        if !kind.is_bit() && count > limits.max_registers {
            self.d.error(
                span,
                format!(
                    "{p}needs {count} registers, more than max_block = {} allows in one request",
                    limits.max_registers
                ),
            );
            ok = false;
        }
        ok
    }

    /// `range = [min, max]` (OPC UA `EURange`) of a numeric tag.
    fn tag_range(&mut self, p: &str, t: &RawTag, data_type: DataType) -> Option<(f64, f64)> {
        let r = t.range.as_ref()?;
        if !data_type.is_numeric() {
            self.d.error(
                &r.span(),
                format!("{p}range: only applies to numeric types"),
            );
            return None;
        }
        match r.get_ref().as_slice() {
            [lo, hi] if lo.is_finite() && hi.is_finite() && lo < hi => Some((*lo, *hi)),
            _ => {
                self.d.error(
                    &r.span(),
                    format!("{p}range: must be [min, max] with min < max"),
                );
                None
            }
        }
    }

    /// Names with a leading '_' belong to the gateway's own nodes.
    fn tag_name_not_reserved(
        &mut self,
        p: &str,
        t: &RawTag,
        name: &str,
        span: &Range<usize>,
    ) -> bool {
        if !name.starts_with('_') {
            return true;
        }
        let s = t.name.as_ref().map_or(span.clone(), Spanned::span);
        self.d.error(
            &s,
            format!("{p}name: a leading '_' is reserved for the gateway's own nodes (_Status)"),
        );
        false
    }

    /// Tags of one device that read the same registers. Several bit tags on one
    /// register are the normal way to read a status word and never conflict; the
    /// same registers read with different types is legitimate but worth a warning;
    /// a partial overlap of multi-register values is almost always a typo.
    pub(super) fn check_overlaps(&mut self, device: &str, tags: &[(Range<usize>, TagConfig)]) {
        let mut words: Vec<(&Range<usize>, &TagConfig)> = tags
            .iter()
            .filter(|(_, t)| t.encoding.bit.is_none())
            .map(|(s, t)| (s, t))
            .collect();
        words.sort_by_key(|(_, t)| (t.kind, t.address, t.count()));
        let mut furthest: Option<(&TagConfig, u32)> = None;
        for (span, t) in words {
            let start = u32::from(t.address);
            let end = start + u32::from(t.count());
            if let Some((prev, prev_end)) = furthest.filter(|(p, _)| p.kind == t.kind)
                && start < prev_end
            {
                // Nested ranges (the same registers as another type, or a u32 and its
                // u16 halves) are deliberate reinterpretations; crossing ranges are typos.
                let same = end <= prev_end || t.address == prev.address;
                let msg = format!(
                    "{}{} {}..{} overlaps tag {:?} ({} {}..{})",
                    ctx(device, Some(&t.name)),
                    t.kind.as_str(),
                    start,
                    end,
                    prev.name,
                    prev.kind.as_str(),
                    prev.address,
                    prev_end
                );
                if same {
                    self.d.warn(
                        span,
                        format!(
                            "{msg}: the same registers are read as {} and {}",
                            prev.encoding.data_type.as_str(),
                            t.encoding.data_type.as_str()
                        ),
                    );
                } else {
                    self.d.error(
                        span,
                        format!("{msg}; a value cannot cross into another (the same registers may be read as another type only over the same or a contained range)"),
                    );
                }
            }
            if furthest.is_none_or(|(p, e)| p.kind != t.kind || end > e) {
                furthest = Some((t, end));
            }
        }
        let mut bits: Vec<(&Range<usize>, &TagConfig)> = tags
            .iter()
            .filter(|(_, t)| t.encoding.bit.is_some())
            .map(|(s, t)| (s, t))
            .collect();
        bits.sort_by_key(|(_, t)| (t.kind, t.address, t.encoding.bit));
        for pair in bits.windows(2) {
            if let [(_, a), (span, t)] = pair
                && a.kind == t.kind
                && a.address == t.address
                && a.encoding.bit == t.encoding.bit
            {
                self.d.warn(
                    span,
                    format!(
                        "{}reads the same bit as tag {:?}",
                        ctx(device, Some(&t.name)),
                        a.name
                    ),
                );
            }
        }
    }
}
