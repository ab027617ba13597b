//! Label values and sample values in the text format, written straight into
//! the output buffer.
//!
//! Numbers come out as the first renderer wrote them, which was Rust's `{}`
//! of the sample as an f64 (an f32 through its shortest decimal form): the
//! shortest digits that read back as the same float, never in exponent form.
//! Integers are written by `itoa` and floats by `zmij` (`serde_json`'s float
//! formatter), many times faster than `core::fmt`; the values that `zmij`
//! would put in exponent form, and integral floats beyond 2^53 (where `zmij`
//! pads its shortest digits with zeros and `{}` does too, but the two may
//! disagree on the digits) go through `{}`. One difference remains, by
//! design: when two shortest spellings are exactly as close to the float (a
//! tie, such as the f32 3868116.25), `{}` takes the upper and `zmij` the even
//! one. Both read back as the same float; the tests check every other value
//! byte for byte.

use std::io::Write as _;

use crate::tags::Value;

/// The largest integer up to which every integer is an exact f64, so that its
/// decimal digits are what `{}` of the f64 prints.
const EXACT_INT: u64 = 1 << 53;

/// Append a label value, escaping backslash, double quote and newline.
pub(super) fn escape(out: &mut Vec<u8>, v: &str) {
    // Names almost never need escaping: copy them whole.
    if !v.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        out.extend_from_slice(v.as_bytes());
        return;
    }
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            // Multi-byte UTF-8 sequences contain none of the three bytes
            // above, so copying byte by byte keeps them intact.
            b => out.push(b),
        }
    }
}

/// Append a float as the text format writes it (`+Inf`, `-Inf`, `NaN`).
pub(super) fn float(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.extend_from_slice(b"NaN");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
    } else {
        let mut digits = zmij::Buffer::new();
        shortest(out, digits.format_finite(v), v);
    }
}

/// Append an f32 as its shortest decimal form, so 230.1f32 is `230.1` and not
/// `230.10000610351562`.
pub(super) fn float32(out: &mut Vec<u8>, v: f32) {
    if v.is_finite() {
        let mut digits = zmij::Buffer::new();
        shortest(out, digits.format_finite(v), v);
    } else {
        float(out, f64::from(v));
    }
}

/// Append `zmij`'s text in the layout of `{}`: without the `.0` it puts on
/// whole numbers, and through `{}` itself where it chose exponent form.
fn shortest(out: &mut Vec<u8>, text: &str, v: impl std::fmt::Display + Into<f64> + Copy) {
    if text.contains('e') || v.into().abs() >= EXACT_INT as f64 {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{v}");
    } else {
        let text = text.strip_suffix(".0").unwrap_or(text);
        out.extend_from_slice(text.as_bytes());
    }
}

/// Append an unsigned integer sample (a counter, a tag value).
pub(super) fn unsigned(out: &mut Vec<u8>, v: u64) {
    if v <= EXACT_INT {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    } else {
        // Prometheus holds the sample as an f64: print that f64, as before.
        float(out, v as f64);
    }
}

/// Append a signed integer sample.
pub(super) fn signed(out: &mut Vec<u8>, v: i64) {
    if v.unsigned_abs() <= EXACT_INT {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    } else {
        float(out, v as f64);
    }
}

/// Append a tag's value as the sample of `edge_gateway_tag_value`; false, and
/// nothing written, for a value that has no sample (a string).
pub(super) fn value(out: &mut Vec<u8>, v: &Value) -> bool {
    match *v {
        Value::Bool(b) => out.push(if b { b'1' } else { b'0' }),
        Value::U16(v) => unsigned(out, u64::from(v)),
        Value::I16(v) => signed(out, i64::from(v)),
        Value::U32(v) => unsigned(out, u64::from(v)),
        Value::I32(v) => signed(out, i64::from(v)),
        Value::U64(v) => unsigned(out, v),
        Value::I64(v) => signed(out, v),
        Value::F32(v) => float32(out, v),
        Value::F64(v) => float(out, v),
        Value::String(_) => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The first renderer's spelling: `{}` of the f64, with the text format's
    /// names for the special values.
    fn reference(v: f64) -> String {
        if v.is_nan() {
            "NaN".into()
        } else if v.is_infinite() {
            if v > 0.0 { "+Inf" } else { "-Inf" }.into()
        } else {
            format!("{v}")
        }
    }

    /// The first renderer's tag sample: `Value::as_display_f64` through `{}`.
    fn reference_value(v: &Value) -> Option<String> {
        match v {
            Value::String(_) => None,
            v => v.as_display_f64().map(reference),
        }
    }

    fn text(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn label_values_are_escaped_and_unicode_kept() {
        assert_eq!(
            text(|o| escape(o, "a\"b\\c\nd µ°C ✓")),
            "a\\\"b\\\\c\\nd µ°C ✓"
        );
        assert_eq!(text(|o| escape(o, "plain")), "plain");
    }

    #[test]
    fn special_floats_use_the_text_format_spelling() {
        for (v, want) in [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e21, "1000000000000000000000"),
            (1e16, "10000000000000000"),
            (1.0, "1"),
            (-0.0, "-0"),
            (0.0, "0"),
            (230.1, "230.1"),
            (1e-7, "0.0000001"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(text(|o| float(o, v)), want, "{v:e}");
        }
        assert_eq!(text(|o| float32(o, 230.1)), "230.1");
        assert_eq!(text(|o| float32(o, f32::NEG_INFINITY)), "-Inf");
    }

    #[test]
    fn integers_beyond_2_pow_53_print_the_float_prometheus_stores() {
        assert_eq!(text(|o| unsigned(o, 1 << 53)), "9007199254740992");
        assert_eq!(text(|o| unsigned(o, u64::MAX)), "18446744073709552000");
        assert_eq!(text(|o| signed(o, i64::MIN)), "-9223372036854776000");
        assert_eq!(text(|o| signed(o, -(1 << 53) - 1)), "-9007199254740992");
    }

    #[test]
    fn every_value_type_matches_the_first_renderer() {
        for v in [
            Value::Bool(true),
            Value::Bool(false),
            Value::U16(u16::MAX),
            Value::I16(i16::MIN),
            Value::U32(u32::MAX),
            Value::I32(i32::MIN),
            Value::U64(u64::MAX),
            Value::I64(i64::MAX),
            Value::F32(f32::NAN),
            Value::F32(f32::MAX),
            Value::F32(f32::MIN_POSITIVE),
            Value::F32(8_589_935_616.0),
            Value::F32(-0.0),
            Value::F64(f64::MIN),
            Value::F64(f64::from_bits(1)),
            Value::String("x".into()),
        ] {
            let mut out = Vec::new();
            let written = value(&mut out, &v).then(|| String::from_utf8(out).unwrap());
            assert_eq!(written, reference_value(&v), "{v:?}");
        }
    }

    /// `ours` is `reference`, or both are shortest spellings of the tie
    /// `value` reads back from: as long, and parsed by `parse` to it.
    fn same_or_tie<F: PartialEq + Copy>(
        ours: &str,
        reference: &str,
        value: F,
        parse: fn(&str) -> F,
    ) -> bool {
        ours == reference || (ours.len() == reference.len() && parse(ours) == value)
    }

    #[test]
    fn ties_take_the_even_spelling_and_read_back_the_same() {
        let v = f32::from_bits(1_248_597_841);
        assert_eq!(format!("{v}"), "3868116.3");
        assert_eq!(text(|o| float32(o, v)), "3868116.2");
        assert!(same_or_tie("3868116.2", "3868116.3", v, |s| s
            .parse()
            .unwrap()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn any_f64_prints_as_before(bits in any::<u64>()) {
            let v = f64::from_bits(bits);
            let ours = text(|o| float(o, v));
            prop_assert!(
                v.is_nan() && ours == "NaN"
                    || same_or_tie(&ours, &reference(v), v, |s| s.parse().unwrap()),
                "{} for {}", ours, reference(v)
            );
        }

        #[test]
        fn any_f32_prints_as_before(bits in any::<u32>()) {
            let f = f32::from_bits(bits);
            let v = Value::F32(f);
            let mut out = Vec::new();
            prop_assert!(value(&mut out, &v));
            let ours = String::from_utf8(out).unwrap();
            let reference = reference_value(&v).unwrap();
            prop_assert!(
                f.is_nan() && ours == "NaN"
                    || same_or_tie(&ours, &reference, f, |s| s.parse().unwrap()),
                "{} for {}", ours, reference
            );
        }

        #[test]
        fn any_integer_prints_as_before(u in any::<u64>(), i in any::<i64>(), shift in 0u32..64) {
            for v in [Value::U64(u >> shift), Value::I64(i >> shift)] {
                let mut out = Vec::new();
                prop_assert!(value(&mut out, &v));
                prop_assert_eq!(Some(String::from_utf8(out).unwrap()), reference_value(&v));
            }
        }

        #[test]
        fn human_scale_floats_print_as_before(v in -1e7f64..1e7, places in 0i32..8) {
            // Random bit patterns are mostly huge or tiny; tag values are not.
            let scale = 10f64.powi(places);
            let v = (v * scale).round() / scale;
            prop_assert_eq!(text(|o| float(o, v)), reference(v));
        }
    }
}
