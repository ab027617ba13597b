//! Register codec: turns the raw `u16` registers of one Modbus tag into a typed [`Value`]
//! and turns a client's [`Value`] back into the registers to write.
//!
//! # Invariants
//! - Never panics, for any register slice, any value and any [`Encoding`] (even one that
//!   skipped config validation): every failure is a [`CodecError`]. The `deny` lints at the
//!   top of this file keep it that way.
//! - [`decode`] accepts exactly [`Encoding::register_count`] registers, and [`encode`] returns
//!   exactly that many, so a read and a write of the same tag cover the same address span.
//! - `decode(encode(v)) == v` for every data type and word order (finite floats; printable
//!   ASCII strings without trailing spaces; scaled integers to within `scale / 2`).
//! - A non-finite number never leaves the codec: NaN/infinity read from the wire is
//!   [`CodecError::NotFinite`], which the gateway reports as bad quality.
//!
//! # Byte and word order
//! Registers are `u16` as received (high byte first on the wire). Orders are named after
//! the 32-bit layout of bytes `A B C D`, `A` most significant:
//!
//! | order  | registers  | meaning                                      |
//! |--------|------------|----------------------------------------------|
//! | `Abcd` | `[AB, CD]` | big-endian                                   |
//! | `Cdab` | `[CD, AB]` | word swap                                    |
//! | `Badc` | `[BA, DC]` | byte swap inside each register               |
//! | `Dcba` | `[DC, BA]` | word swap and byte swap (full little-endian) |
//!
//! For 64-bit values the word-swap orders (`Cdab`, `Dcba`) reverse the order of *all* four
//! registers (least-significant word first) and the byte-swap orders (`Badc`, `Dcba`) swap
//! the bytes of every register. A 16-bit value honours only the byte swap. Strings honour
//! only the byte swap too: text reads in register order.
//!
//! # Bits
//! A tag with `bit: Some(n)` is bit `n` (0 = LSB) of the register value as received; the
//! word order never applies. Bit numbers above 15 are rejected as
//! [`CodecError::OutOfRange`]. A `Bool` without a bit that lives in a register reads as
//! `register != 0` and writes as `0`/`1`; coils and discretes go through [`decode_bit`].
//!
//! # Strings
//! Two ASCII characters per register, high byte first (low byte first under `Badc`/`Dcba`).
//! Decoding stops at the first NUL and trims trailing spaces; a byte >= 0x80 or a control
//! character before that NUL is [`CodecError::NonAscii`]. Encoding accepts printable ASCII
//! only (a NUL or control character would not read back) and pads with NUL to `length`.
//!
//! # Scaling
//! For numeric types with `scale: Some(_)` or a nonzero `offset`, the client sees
//! `raw as f64 * scale.unwrap_or(1.0) + offset` as [`Value::F64`]. Writing inverts this,
//! `raw = (v - offset) / scale`, rounded to nearest (ties away from zero) for integer raw
//! types; a raw value that is not finite or does not fit the raw type is `OutOfRange`,
//! reported with the raw value and raw type that failed.
//!
//! # Writing numbers
//! Any numeric [`Value`] is accepted for a numeric tag and converted with an exact range
//! check: an integer must fit, a float written to an integer type must be integral
//! (`fract() == 0.0`, so `2.0` is fine and `2.5` is `OutOfRange` rather than silently
//! rounded), a float written to `F32` must satisfy `|v| <= f32::MAX` (precision may be lost,
//! range may not). Non-finite input is `NotFinite`. `Bool` values are accepted only for
//! `Bool` tags and `String` values only for `String` tags; anything else is `TypeMismatch`.
// Beyond the crate policy: bytes from devices meet arithmetic here, so every
// operation is checked or widened.
#![deny(
    clippy::arithmetic_side_effects,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

use std::fmt::Display;

use crate::tags::{DataType, Value, WordOrder};

/// How one tag's registers become a value (built once at start-up from validated config).
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// Configured raw data type of the registers.
    pub data_type: DataType,
    /// Byte/word order of the registers.
    pub order: WordOrder,
    /// Some(n): the tag is bit n (0 = LSB, 0..=15) of one u16 register; `data_type` is Bool.
    pub bit: Option<u8>,
    /// String length in registers (two chars each); ignored for other types.
    pub length: u16,
    /// Some(scale) or a nonzero offset => the value is presented as f64 = raw * scale + offset.
    pub scale: Option<f64>,
    /// Added after scaling; see `scale`.
    pub offset: f64,
}

impl Encoding {
    /// Encoding for a plain value of `data_type` in big-endian order, no scaling.
    ///
    /// A `String` gets `length: 0`; callers set the real length with struct update syntax.
    pub fn plain(data_type: DataType) -> Self {
        Self {
            data_type,
            order: WordOrder::Abcd,
            bit: None,
            length: 0,
            scale: None,
            offset: 0.0,
        }
    }

    /// Registers occupied (1 for bool-with-bit, u16, i16; 2 for 32-bit; 4 for 64-bit; length for string).
    ///
    /// A `Bool` without a bit (a coil/discrete) also returns 1: one bit of its table.
    pub fn register_count(&self) -> u16 {
        match self.data_type {
            DataType::Bool | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String => self.length,
        }
    }

    /// True when the presented value is f64 because of scale/offset.
    pub fn is_scaled(&self) -> bool {
        // A NaN offset counts as "set" on purpose: decoding then reports NotFinite instead
        // of silently ignoring broken config.
        is_numeric(self.data_type) && (self.scale.is_some() || self.offset != 0.0)
    }

    /// The type a client sees: F64 when scaled, else `data_type`.
    pub fn presented_type(&self) -> DataType {
        if self.is_scaled() {
            DataType::F64
        } else {
            self.data_type
        }
    }
}

/// Why a value could not be decoded from, or encoded into, registers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    /// The register slice does not match the encoding's register count.
    #[error("expected {expected} registers, got {got}")]
    Length { expected: usize, got: usize },
    /// A string byte is not printable ASCII.
    #[error("string contains a non-ASCII byte 0x{0:02x}")]
    NonAscii(u8),
    /// A float is NaN or infinite.
    #[error("value is not a finite number")]
    NotFinite,
    /// A number does not fit the target type (or a bit number is above 15).
    #[error("value {value} is out of range for {data_type:?}")]
    OutOfRange { value: String, data_type: DataType },
    /// The value's variant cannot be written to this tag at all.
    #[error("expected a {expected:?} value, got {got}")]
    TypeMismatch {
        expected: DataType,
        got: &'static str,
    },
    /// The string needs more registers than the tag has.
    #[error("string of {chars} characters does not fit in {registers} registers")]
    StringTooLong { chars: usize, registers: u16 },
}

/// Decode a tag from exactly `register_count()` registers (`regs.len()` must equal it, else Length).
pub fn decode(regs: &[u16], enc: &Encoding) -> Result<Value, CodecError> {
    let expected = usize::from(enc.register_count());
    if regs.len() != expected {
        return Err(CodecError::Length {
            expected,
            got: regs.len(),
        });
    }
    let o = enc.order;
    let raw = match enc.data_type {
        DataType::Bool => return decode_bool(regs, enc.bit),
        DataType::String => return decode_string(regs, o).map(Value::String),
        DataType::U16 => Value::U16(u16::from_be_bytes(from_regs(regs, o))),
        DataType::I16 => Value::I16(i16::from_be_bytes(from_regs(regs, o))),
        DataType::U32 => Value::U32(u32::from_be_bytes(from_regs(regs, o))),
        DataType::I32 => Value::I32(i32::from_be_bytes(from_regs(regs, o))),
        DataType::U64 => Value::U64(u64::from_be_bytes(from_regs(regs, o))),
        DataType::I64 => Value::I64(i64::from_be_bytes(from_regs(regs, o))),
        DataType::F32 => Value::F32(finite(f32::from_be_bytes(from_regs(regs, o)))?),
        DataType::F64 => Value::F64(finite(f64::from_be_bytes(from_regs(regs, o)))?),
    };
    match numeric(&raw) {
        Some(n) if enc.is_scaled() => Ok(Value::F64(finite(
            n.to_f64() * enc.scale.unwrap_or(1.0) + enc.offset,
        )?)),
        _ => Ok(raw),
    }
}

/// Decode a coil/discrete bit (scale not applicable) -> `Value::Bool`.
pub fn decode_bit(bit: bool) -> Value {
    Value::Bool(bit)
}

/// Encode a value for writing: the registers to send.
///
/// For a bit tag this is the register with only that bit possibly set; to leave the
/// register's other bits alone, the caller reads it and writes [`with_bit`] instead.
pub fn encode(value: &Value, enc: &Encoding) -> Result<Vec<u16>, CodecError> {
    let mismatch = || CodecError::TypeMismatch {
        expected: enc.presented_type(),
        got: variant_name(value),
    };
    match (enc.data_type, value) {
        (DataType::Bool, Value::Bool(on)) => encode_bool(*on, enc.bit),
        (DataType::String, Value::String(s)) => encode_string(s, enc),
        (DataType::Bool | DataType::String, _) => Err(mismatch()),
        (data_type, _) => {
            let n = numeric(value).ok_or_else(mismatch)?;
            let raw = if enc.is_scaled() { unscale(n, enc)? } else { n };
            encode_number(raw, data_type, enc.order)
        }
    }
}

/// Read-modify-write of a bit inside a register: returns `current` with bit `bit` set to `on`.
///
/// A bit number above 15 names no bit of a register, so `current` comes back unchanged.
pub fn with_bit(current: u16, bit: u8, on: bool) -> u16 {
    match 1u16.checked_shl(u32::from(bit)) {
        Some(mask) if on => current | mask,
        Some(mask) => current & !mask,
        None => current,
    }
}

/// A numeric value widened so every conversion is a single checked step.
#[derive(Debug, Clone, Copy)]
enum Num {
    // i128 holds every u64 and i64 exactly.
    Int(i128),
    Float(f64),
}

impl Num {
    fn to_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

fn numeric(value: &Value) -> Option<Num> {
    Some(match *value {
        Value::U16(x) => Num::Int(x.into()),
        Value::I16(x) => Num::Int(x.into()),
        Value::U32(x) => Num::Int(x.into()),
        Value::I32(x) => Num::Int(x.into()),
        Value::U64(x) => Num::Int(x.into()),
        Value::I64(x) => Num::Int(x.into()),
        Value::F32(x) => Num::Float(x.into()),
        Value::F64(x) => Num::Float(x),
        Value::Bool(_) | Value::String(_) => return None,
    })
}

fn variant_name(value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "Bool",
        Value::U16(_) => "U16",
        Value::I16(_) => "I16",
        Value::U32(_) => "U32",
        Value::I32(_) => "I32",
        Value::U64(_) => "U64",
        Value::I64(_) => "I64",
        Value::F32(_) => "F32",
        Value::F64(_) => "F64",
        Value::String(_) => "String",
    }
}

fn is_numeric(data_type: DataType) -> bool {
    !matches!(data_type, DataType::Bool | DataType::String)
}

fn is_integer(data_type: DataType) -> bool {
    is_numeric(data_type) && !matches!(data_type, DataType::F32 | DataType::F64)
}

fn out_of_range(value: impl Display, data_type: DataType) -> CodecError {
    CodecError::OutOfRange {
        value: value.to_string(),
        data_type,
    }
}

fn bad_bit(bit: u8) -> CodecError {
    out_of_range(format_args!("bit {bit}"), DataType::Bool)
}

/// Lets `?` turn NaN/infinity into `NotFinite` for both float widths.
trait Finite: Copy {
    fn is_finite_num(self) -> bool;
}
impl Finite for f32 {
    fn is_finite_num(self) -> bool {
        self.is_finite()
    }
}
impl Finite for f64 {
    fn is_finite_num(self) -> bool {
        self.is_finite()
    }
}

fn finite<F: Finite>(x: F) -> Result<F, CodecError> {
    if x.is_finite_num() {
        Ok(x)
    } else {
        Err(CodecError::NotFinite)
    }
}

fn swaps_words(order: WordOrder) -> bool {
    matches!(order, WordOrder::Cdab | WordOrder::Dcba)
}

fn swaps_bytes(order: WordOrder) -> bool {
    matches!(order, WordOrder::Badc | WordOrder::Dcba)
}

/// Converts between wire order and big-endian order. Both swaps are involutions and
/// commute, so the same call serves decoding and encoding.
fn reorder(words: &mut [u16], order: WordOrder, swap_words: bool) {
    if swaps_bytes(order) {
        for w in words.iter_mut() {
            *w = w.swap_bytes();
        }
    }
    if swap_words && swaps_words(order) {
        words.reverse();
    }
}

/// Big-endian bytes paired into registers (an odd trailing byte cannot occur: every caller
/// passes an even count).
fn pair_bytes(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .filter_map(|p| match p {
            [hi, lo] => Some(u16::from_be_bytes([*hi, *lo])),
            _ => None,
        })
        .collect()
}

fn to_regs(be_bytes: &[u8], order: WordOrder) -> Vec<u16> {
    let mut words = pair_bytes(be_bytes);
    reorder(&mut words, order, true);
    words
}

/// Big-endian bytes of a value from its registers; `decode` has already checked the count,
/// and a mismatch would only leave zero bytes, never panic.
fn from_regs<const N: usize>(regs: &[u16], order: WordOrder) -> [u8; N] {
    let mut words = regs.to_vec();
    reorder(&mut words, order, true);
    let mut out = [0u8; N];
    for (dst, src) in out
        .iter_mut()
        .zip(words.iter().flat_map(|w| w.to_be_bytes()))
    {
        *dst = src;
    }
    out
}

fn decode_bool(regs: &[u16], bit: Option<u8>) -> Result<Value, CodecError> {
    let [reg] = regs else {
        return Err(CodecError::Length {
            expected: 1,
            got: regs.len(),
        });
    };
    match bit {
        None => Ok(Value::Bool(*reg != 0)),
        Some(n) => reg
            .checked_shr(u32::from(n))
            .map(|r| Value::Bool(r & 1 == 1))
            .ok_or_else(|| bad_bit(n)),
    }
}

fn encode_bool(on: bool, bit: Option<u8>) -> Result<Vec<u16>, CodecError> {
    match bit {
        None => Ok(vec![u16::from(on)]),
        Some(n) if n < 16 => Ok(vec![with_bit(0, n, on)]),
        Some(n) => Err(bad_bit(n)),
    }
}

/// Printable ASCII: what a string register may hold before its NUL terminator.
fn is_text_byte(b: u8) -> bool {
    b.is_ascii() && !b.is_ascii_control()
}

fn decode_string(regs: &[u16], order: WordOrder) -> Result<String, CodecError> {
    let mut words = regs.to_vec();
    reorder(&mut words, order, false);
    let mut text = String::with_capacity(regs.len().saturating_mul(2));
    for b in words
        .iter()
        .flat_map(|w| w.to_be_bytes())
        .take_while(|&b| b != 0)
    {
        if !is_text_byte(b) {
            return Err(CodecError::NonAscii(b));
        }
        text.push(char::from(b));
    }
    // Devices pad fixed-width fields with spaces as often as with NULs.
    Ok(text.trim_end_matches(' ').to_owned())
}

fn encode_string(text: &str, enc: &Encoding) -> Result<Vec<u16>, CodecError> {
    if let Some(b) = text.bytes().find(|&b| !is_text_byte(b)) {
        return Err(CodecError::NonAscii(b));
    }
    let capacity = usize::from(enc.length).saturating_mul(2);
    if text.len() > capacity {
        return Err(CodecError::StringTooLong {
            chars: text.len(),
            registers: enc.length,
        });
    }
    let padded: Vec<u8> = text
        .bytes()
        .chain(std::iter::repeat(0))
        .take(capacity)
        .collect();
    let mut words = pair_bytes(&padded);
    reorder(&mut words, enc.order, false);
    Ok(words)
}

/// Presented (scaled) value back to a raw value; range is checked by `encode_number`.
fn unscale(n: Num, enc: &Encoding) -> Result<Num, CodecError> {
    let v = finite(n.to_f64())?;
    let mut raw = (v - enc.offset) / enc.scale.unwrap_or(1.0);
    if is_integer(enc.data_type) {
        raw = raw.round();
    }
    // The client's number was fine; it is the tag (e.g. scale 0) that cannot represent it.
    if !raw.is_finite() {
        return Err(out_of_range(raw, enc.data_type));
    }
    Ok(Num::Float(raw))
}

fn encode_number(n: Num, data_type: DataType, order: WordOrder) -> Result<Vec<u16>, CodecError> {
    Ok(match data_type {
        DataType::U16 => to_regs(&int::<u16>(n, data_type)?.to_be_bytes(), order),
        DataType::I16 => to_regs(&int::<i16>(n, data_type)?.to_be_bytes(), order),
        DataType::U32 => to_regs(&int::<u32>(n, data_type)?.to_be_bytes(), order),
        DataType::I32 => to_regs(&int::<i32>(n, data_type)?.to_be_bytes(), order),
        DataType::U64 => to_regs(&int::<u64>(n, data_type)?.to_be_bytes(), order),
        DataType::I64 => to_regs(&int::<i64>(n, data_type)?.to_be_bytes(), order),
        DataType::F32 => to_regs(&to_f32(n)?.to_be_bytes(), order),
        DataType::F64 => to_regs(&finite(n.to_f64())?.to_be_bytes(), order),
        DataType::Bool | DataType::String => {
            return Err(CodecError::TypeMismatch {
                expected: data_type,
                got: "number",
            });
        }
    })
}

fn int<T: TryFrom<i128>>(n: Num, data_type: DataType) -> Result<T, CodecError> {
    let i = match n {
        Num::Int(i) => i,
        Num::Float(f) if !f.is_finite() => return Err(CodecError::NotFinite),
        // `as` saturates at the i128 bounds, which lie far outside every target type, so
        // try_from below still rejects huge floats.
        #[allow(clippy::cast_possible_truncation)]
        Num::Float(f) if f.fract() == 0.0 => f as i128,
        Num::Float(f) => return Err(out_of_range(f, data_type)),
    };
    T::try_from(i).map_err(|_| out_of_range(i, data_type))
}

fn to_f32(n: Num) -> Result<f32, CodecError> {
    match n {
        // Every integer a Value can hold is far below f32::MAX.
        Num::Int(i) => Ok(i as f32),
        Num::Float(f) if !f.is_finite() => Err(CodecError::NotFinite),
        Num::Float(f) if f.abs() > f64::from(f32::MAX) => Err(out_of_range(f, DataType::F32)),
        // Within ±f32::MAX (checked above): rounding to the nearest f32 is the conversion.
        #[allow(clippy::cast_possible_truncation)]
        Num::Float(f) => Ok(f as f32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ORDERS: [WordOrder; 4] = [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ];
    const TYPES: [DataType; 10] = [
        DataType::Bool,
        DataType::U16,
        DataType::I16,
        DataType::U32,
        DataType::I32,
        DataType::U64,
        DataType::I64,
        DataType::F32,
        DataType::F64,
        DataType::String,
    ];

    fn enc(data_type: DataType, order: WordOrder) -> Encoding {
        Encoding {
            order,
            ..Encoding::plain(data_type)
        }
    }

    fn scaled(data_type: DataType, scale: Option<f64>, offset: f64) -> Encoding {
        Encoding {
            scale,
            offset,
            ..Encoding::plain(data_type)
        }
    }

    fn string(length: u16, order: WordOrder) -> Encoding {
        Encoding {
            order,
            length,
            ..Encoding::plain(DataType::String)
        }
    }

    fn bit(n: u8) -> Encoding {
        Encoding {
            bit: Some(n),
            ..Encoding::plain(DataType::Bool)
        }
    }

    /// Both directions of one known vector.
    fn vector(value: &Value, data_type: DataType, order: WordOrder, regs: &[u16]) {
        let e = enc(data_type, order);
        assert_eq!(
            encode(value, &e).unwrap(),
            regs,
            "encode {value:?} {order:?}"
        );
        assert_eq!(
            decode(regs, &e).unwrap(),
            *value,
            "decode {regs:04x?} {order:?}"
        );
    }

    #[test]
    fn known_vectors() {
        use WordOrder::*;
        let table: &[(Value, DataType, WordOrder, &[u16])] = &[
            (Value::F32(230.5), DataType::F32, Abcd, &[0x4366, 0x8000]),
            (Value::F32(230.5), DataType::F32, Cdab, &[0x8000, 0x4366]),
            (Value::F32(230.5), DataType::F32, Badc, &[0x6643, 0x0080]),
            (Value::F32(230.5), DataType::F32, Dcba, &[0x0080, 0x6643]),
            (
                Value::U32(0x1122_3344),
                DataType::U32,
                Abcd,
                &[0x1122, 0x3344],
            ),
            (
                Value::U32(0x1122_3344),
                DataType::U32,
                Cdab,
                &[0x3344, 0x1122],
            ),
            (
                Value::U32(0x1122_3344),
                DataType::U32,
                Badc,
                &[0x2211, 0x4433],
            ),
            (
                Value::U32(0x1122_3344),
                DataType::U32,
                Dcba,
                &[0x4433, 0x2211],
            ),
            (Value::I16(-2), DataType::I16, Abcd, &[0xFFFE]),
            (Value::I16(-2), DataType::I16, Cdab, &[0xFFFE]),
            (Value::I16(-2), DataType::I16, Badc, &[0xFEFF]),
            (Value::I16(-2), DataType::I16, Dcba, &[0xFEFF]),
            (Value::U16(0x1234), DataType::U16, Cdab, &[0x1234]),
            (Value::U16(0x1234), DataType::U16, Dcba, &[0x3412]),
            (
                Value::U64(0x0102_0304_0506_0708),
                DataType::U64,
                Abcd,
                &[0x0102, 0x0304, 0x0506, 0x0708],
            ),
            (
                Value::U64(0x0102_0304_0506_0708),
                DataType::U64,
                Cdab,
                &[0x0708, 0x0506, 0x0304, 0x0102],
            ),
            (
                Value::U64(0x0102_0304_0506_0708),
                DataType::U64,
                Badc,
                &[0x0201, 0x0403, 0x0605, 0x0807],
            ),
            (
                Value::U64(0x0102_0304_0506_0708),
                DataType::U64,
                Dcba,
                &[0x0807, 0x0605, 0x0403, 0x0201],
            ),
            (Value::F64(1.0), DataType::F64, Abcd, &[0x3FF0, 0, 0, 0]),
            (Value::F64(1.0), DataType::F64, Dcba, &[0, 0, 0, 0xF03F]),
            (Value::I32(-2), DataType::I32, Cdab, &[0xFFFE, 0xFFFF]),
            (
                Value::I64(-2),
                DataType::I64,
                Cdab,
                &[0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF],
            ),
        ];
        for (value, data_type, order, regs) in table {
            vector(value, *data_type, *order, regs);
        }
    }

    #[test]
    fn every_type_and_order_round_trips() {
        for data_type in TYPES {
            for order in ORDERS {
                let value = match data_type {
                    DataType::Bool => Value::Bool(true),
                    DataType::U16 => Value::U16(0xBEEF),
                    DataType::I16 => Value::I16(-12345),
                    DataType::U32 => Value::U32(0xDEAD_BEEF),
                    DataType::I32 => Value::I32(-123_456_789),
                    DataType::U64 => Value::U64(0xFEDC_BA98_7654_3210),
                    DataType::I64 => Value::I64(-1_234_567_890_123),
                    DataType::F32 => Value::F32(-1.5e-3),
                    DataType::F64 => Value::F64(6.02e23),
                    DataType::String => Value::String("Meter 7".into()),
                };
                let e = Encoding {
                    length: 5,
                    ..enc(data_type, order)
                };
                let regs = encode(&value, &e).unwrap();
                assert_eq!(regs.len(), usize::from(e.register_count()));
                assert_eq!(decode(&regs, &e).unwrap(), value, "{data_type:?} {order:?}");
            }
        }
    }

    #[test]
    fn register_counts_and_presented_types() {
        let counts: Vec<u16> = TYPES
            .iter()
            .map(|t| enc(*t, WordOrder::Abcd).register_count())
            .collect();
        assert_eq!(counts, [1, 1, 1, 2, 2, 4, 4, 2, 4, 0]);
        assert_eq!(string(8, WordOrder::Abcd).register_count(), 8);
        assert_eq!(bit(3).register_count(), 1);
        assert!(!Encoding::plain(DataType::U16).is_scaled());
        assert!(scaled(DataType::U16, Some(0.1), 0.0).is_scaled());
        assert!(scaled(DataType::I32, None, -40.0).is_scaled());
        assert_eq!(
            scaled(DataType::I32, None, -40.0).presented_type(),
            DataType::F64
        );
        assert_eq!(
            Encoding::plain(DataType::U32).presented_type(),
            DataType::U32
        );
        // Scaling never applies to Bool or String.
        assert!(!scaled(DataType::Bool, Some(2.0), 1.0).is_scaled());
        assert_eq!(
            scaled(DataType::String, Some(2.0), 0.0).presented_type(),
            DataType::String
        );
        assert_eq!(Encoding::plain(DataType::U16).order, WordOrder::default());
    }

    #[test]
    fn length_mismatch() {
        let e = Encoding::plain(DataType::U32);
        assert_eq!(
            decode(&[1], &e),
            Err(CodecError::Length {
                expected: 2,
                got: 1
            })
        );
        assert_eq!(
            decode(&[1, 2, 3], &e),
            Err(CodecError::Length {
                expected: 2,
                got: 3
            })
        );
        assert_eq!(
            decode(&[], &bit(0)),
            Err(CodecError::Length {
                expected: 1,
                got: 0
            })
        );
        assert_eq!(
            CodecError::Length {
                expected: 2,
                got: 1
            }
            .to_string(),
            "expected 2 registers, got 1"
        );
    }

    #[test]
    fn non_finite_floats() {
        let f32e = Encoding::plain(DataType::F32);
        let f64e = Encoding::plain(DataType::F64);
        assert_eq!(decode(&[0xFFFF, 0xFFFF], &f32e), Err(CodecError::NotFinite));
        assert_eq!(decode(&[0x7F80, 0x0000], &f32e), Err(CodecError::NotFinite));
        assert_eq!(
            decode(&[0xFFF0, 0, 0, 0], &f64e),
            Err(CodecError::NotFinite)
        );
        assert_eq!(
            decode(&[0x7FF8, 0, 0, 1], &f64e),
            Err(CodecError::NotFinite)
        );
        assert_eq!(
            encode(&Value::F32(f32::NAN), &f32e),
            Err(CodecError::NotFinite)
        );
        assert_eq!(
            encode(&Value::F64(f64::INFINITY), &f64e),
            Err(CodecError::NotFinite)
        );
        assert_eq!(
            encode(&Value::F64(f64::NAN), &Encoding::plain(DataType::U16)),
            Err(CodecError::NotFinite)
        );
        let s = scaled(DataType::U16, Some(0.1), 0.0);
        assert_eq!(
            encode(&Value::F64(f64::NEG_INFINITY), &s),
            Err(CodecError::NotFinite)
        );
        // Scaling can overflow to infinity; that must not reach a client as a number.
        let huge = scaled(DataType::F64, Some(1e300), 0.0);
        assert_eq!(
            decode(&[0x7FEF, 0xFFFF, 0xFFFF, 0xFFFF], &huge),
            Err(CodecError::NotFinite)
        );
    }

    #[test]
    fn bits() {
        assert_eq!(decode(&[0b0100], &bit(2)), Ok(Value::Bool(true)));
        assert_eq!(decode(&[0b0100], &bit(1)), Ok(Value::Bool(false)));
        assert_eq!(decode(&[0x8000], &bit(15)), Ok(Value::Bool(true)));
        // Word order never applies to bits.
        let swapped = Encoding {
            order: WordOrder::Dcba,
            ..bit(0)
        };
        assert_eq!(decode(&[0x0001], &swapped), Ok(Value::Bool(true)));
        assert_eq!(encode(&Value::Bool(true), &bit(4)), Ok(vec![0x0010]));
        assert_eq!(encode(&Value::Bool(false), &bit(4)), Ok(vec![0]));
        let bad = CodecError::OutOfRange {
            value: "bit 16".into(),
            data_type: DataType::Bool,
        };
        assert_eq!(decode(&[0xFFFF], &bit(16)), Err(bad.clone()));
        assert_eq!(encode(&Value::Bool(true), &bit(16)), Err(bad));
        assert_eq!(with_bit(0x00F0, 0, true), 0x00F1);
        assert_eq!(with_bit(0x00F0, 4, false), 0x00E0);
        assert_eq!(with_bit(0x00F0, 16, true), 0x00F0);
        assert_eq!(with_bit(0x00F0, 255, false), 0x00F0);
        assert_eq!(decode_bit(true), Value::Bool(true));
        assert_eq!(decode_bit(false), Value::Bool(false));
    }

    #[test]
    fn bool_without_bit_in_a_register() {
        let e = Encoding::plain(DataType::Bool);
        assert_eq!(decode(&[0], &e), Ok(Value::Bool(false)));
        assert_eq!(decode(&[0x0100], &e), Ok(Value::Bool(true)));
        assert_eq!(encode(&Value::Bool(true), &e), Ok(vec![1]));
        assert_eq!(encode(&Value::Bool(false), &e), Ok(vec![0]));
    }

    #[test]
    fn string_decoding() {
        let abcd = string(4, WordOrder::Abcd);
        assert_eq!(
            decode(&[0x4142, 0x4300, 0, 0], &abcd),
            Ok(Value::String("ABC".into()))
        );
        // Stops at the first NUL even if garbage follows.
        assert_eq!(
            decode(&[0x4100, 0xFF01, 0x4243, 0], &abcd),
            Ok(Value::String("A".into()))
        );
        assert_eq!(
            decode(&[0x2041, 0x2020, 0x2000, 0], &abcd),
            Ok(Value::String(" A".into()))
        );
        assert_eq!(
            decode(&[0x4142, 0x4344, 0x4546, 0x4748], &abcd),
            Ok(Value::String("ABCDEFGH".into()))
        );
        let badc = string(2, WordOrder::Badc);
        assert_eq!(
            decode(&[0x4241, 0x0043], &badc),
            Ok(Value::String("ABC".into()))
        );
        // Word swap does not reorder text.
        let cdab = string(2, WordOrder::Cdab);
        assert_eq!(
            decode(&[0x4142, 0x4300], &cdab),
            Ok(Value::String("ABC".into()))
        );
        assert_eq!(
            decode(&[0x41C3, 0xA900], &string(2, WordOrder::Abcd)),
            Err(CodecError::NonAscii(0xC3))
        );
        assert_eq!(
            decode(&[0x4109, 0], &string(2, WordOrder::Abcd)),
            Err(CodecError::NonAscii(0x09))
        );
        assert_eq!(
            decode(&[0x7F00], &string(1, WordOrder::Abcd)),
            Err(CodecError::NonAscii(0x7F))
        );
        assert_eq!(
            CodecError::NonAscii(0x9).to_string(),
            "string contains a non-ASCII byte 0x09"
        );
        assert_eq!(
            decode(&[], &string(0, WordOrder::Abcd)),
            Ok(Value::String(String::new()))
        );
    }

    #[test]
    fn string_encoding() {
        let e = string(3, WordOrder::Abcd);
        assert_eq!(
            encode(&Value::String("ABC".into()), &e),
            Ok(vec![0x4142, 0x4300, 0])
        );
        assert_eq!(encode(&Value::String(String::new()), &e), Ok(vec![0, 0, 0]));
        let dcba = string(2, WordOrder::Dcba);
        assert_eq!(
            encode(&Value::String("ABC".into()), &dcba),
            Ok(vec![0x4241, 0x0043])
        );
        assert_eq!(
            encode(&Value::String("ABCDEFG".into()), &e),
            Err(CodecError::StringTooLong {
                chars: 7,
                registers: 3
            })
        );
        assert_eq!(
            encode(&Value::String("café".into()), &e),
            Err(CodecError::NonAscii(0xC3))
        );
        assert_eq!(
            encode(&Value::String("a\0b".into()), &e),
            Err(CodecError::NonAscii(0))
        );
        assert_eq!(
            CodecError::StringTooLong {
                chars: 7,
                registers: 3
            }
            .to_string(),
            "string of 7 characters does not fit in 3 registers"
        );
    }

    #[test]
    fn scaled_decoding() {
        let e = scaled(DataType::U16, Some(0.1), 0.0);
        let Value::F64(v) = decode(&[1234], &e).unwrap() else {
            panic!("not f64")
        };
        assert!((v - 123.4).abs() < 1e-9);
        let offset_only = scaled(DataType::I16, None, -40.0);
        assert_eq!(decode(&[0xFFFE], &offset_only), Ok(Value::F64(-42.0)));
        let f32e = Encoding {
            order: WordOrder::Cdab,
            ..scaled(DataType::F32, Some(2.0), 1.0)
        };
        assert_eq!(decode(&[0x8000, 0x4366], &f32e), Ok(Value::F64(462.0)));
        let bad_offset = scaled(DataType::U16, None, f64::NAN);
        assert_eq!(decode(&[1], &bad_offset), Err(CodecError::NotFinite));
    }

    #[test]
    fn scaled_encoding() {
        let e = scaled(DataType::U16, Some(0.1), 0.0);
        assert_eq!(encode(&Value::F64(123.44), &e), Ok(vec![1234]));
        assert_eq!(encode(&Value::F64(123.46), &e), Ok(vec![1235]));
        // Any numeric variant is accepted as the presented value.
        assert_eq!(encode(&Value::I32(5), &e), Ok(vec![50]));
        assert_eq!(
            encode(&Value::F64(7000.0), &e),
            Err(CodecError::OutOfRange {
                value: "70000".into(),
                data_type: DataType::U16
            })
        );
        assert!(matches!(
            encode(&Value::F64(-1.0), &e),
            Err(CodecError::OutOfRange { .. })
        ));
        let offset_only = scaled(DataType::I16, None, -40.0);
        assert_eq!(encode(&Value::F64(-42.0), &offset_only), Ok(vec![0xFFFE]));
        let zero_scale = scaled(DataType::U16, Some(0.0), 0.0);
        assert!(matches!(
            encode(&Value::F64(1.0), &zero_scale),
            Err(CodecError::OutOfRange { .. })
        ));
        let f32e = scaled(DataType::F32, Some(1e-300), 0.0);
        assert!(matches!(
            encode(&Value::F64(1.0), &f32e),
            Err(CodecError::OutOfRange { .. })
        ));
        let f32ok = scaled(DataType::F32, Some(2.0), 1.0);
        assert_eq!(encode(&Value::F64(462.0), &f32ok), Ok(vec![0x4366, 0x8000]));
        assert_eq!(
            encode(&Value::Bool(true), &e),
            Err(CodecError::TypeMismatch {
                expected: DataType::F64,
                got: "Bool"
            })
        );
    }

    #[test]
    fn unscaled_numeric_conversion() {
        let u16e = Encoding::plain(DataType::U16);
        assert_eq!(encode(&Value::I32(5), &u16e), Ok(vec![5]));
        assert_eq!(
            encode(&Value::I32(-1), &u16e),
            Err(CodecError::OutOfRange {
                value: "-1".into(),
                data_type: DataType::U16
            })
        );
        assert_eq!(
            encode(&Value::U64(65536), &u16e).unwrap_err().to_string(),
            "value 65536 is out of range for U16"
        );
        assert_eq!(encode(&Value::F64(2.0), &u16e), Ok(vec![2]));
        assert_eq!(encode(&Value::F32(-0.0), &u16e), Ok(vec![0]));
        assert!(matches!(
            encode(&Value::F64(2.5), &u16e),
            Err(CodecError::OutOfRange { .. })
        ));
        let u64e = Encoding::plain(DataType::U64);
        assert!(matches!(
            encode(&Value::F64(18_446_744_073_709_551_616.0), &u64e),
            Err(CodecError::OutOfRange { .. })
        ));
        assert!(matches!(
            encode(&Value::F64(1e300), &u64e),
            Err(CodecError::OutOfRange { .. })
        ));
        assert_eq!(
            encode(&Value::I64(i64::MIN), &Encoding::plain(DataType::I64)),
            Ok(vec![0x8000, 0, 0, 0])
        );
        let f32e = Encoding::plain(DataType::F32);
        assert!(matches!(
            encode(&Value::F64(1e39), &f32e),
            Err(CodecError::OutOfRange { .. })
        ));
        assert_eq!(
            encode(&Value::F64(f64::from(f32::MAX)), &f32e),
            Ok(vec![0x7F7F, 0xFFFF])
        );
        assert_eq!(encode(&Value::U16(2), &f32e), Ok(vec![0x4000, 0]));
        assert_eq!(
            encode(&Value::F32(1.0), &Encoding::plain(DataType::F64)),
            Ok(vec![0x3FF0, 0, 0, 0])
        );
    }

    #[test]
    fn type_mismatches() {
        let mismatch = |expected, got| Err(CodecError::TypeMismatch { expected, got });
        assert_eq!(
            encode(&Value::Bool(true), &Encoding::plain(DataType::U16)),
            mismatch(DataType::U16, "Bool")
        );
        assert_eq!(
            encode(&Value::String("1".into()), &Encoding::plain(DataType::F32)),
            mismatch(DataType::F32, "String")
        );
        assert_eq!(
            encode(&Value::U16(1), &Encoding::plain(DataType::Bool)),
            mismatch(DataType::Bool, "U16")
        );
        assert_eq!(
            encode(&Value::F64(1.0), &string(2, WordOrder::Abcd)),
            mismatch(DataType::String, "F64")
        );
        assert_eq!(
            CodecError::TypeMismatch {
                expected: DataType::U16,
                got: "Bool"
            }
            .to_string(),
            "expected a U16 value, got Bool"
        );
    }

    fn order() -> impl Strategy<Value = WordOrder> {
        prop::sample::select(ORDERS.to_vec())
    }

    fn data_type() -> impl Strategy<Value = DataType> {
        prop::sample::select(TYPES.to_vec())
    }

    fn finite_f32() -> impl Strategy<Value = f32> {
        any::<f32>().prop_filter("finite", |f| f.is_finite())
    }

    fn finite_f64() -> impl Strategy<Value = f64> {
        any::<f64>().prop_filter("finite", |f| f.is_finite())
    }

    /// A value together with a plain encoding able to hold it.
    fn value_and_encoding() -> impl Strategy<Value = (Value, Encoding)> {
        let plain = |t| Encoding::plain(t);
        let typed = prop_oneof![
            (any::<bool>(), prop::option::of(0u8..16)).prop_map(|(b, bit)| (
                Value::Bool(b),
                Encoding {
                    bit,
                    ..Encoding::plain(DataType::Bool)
                }
            )),
            any::<u16>().prop_map(move |x| (Value::U16(x), plain(DataType::U16))),
            any::<i16>().prop_map(move |x| (Value::I16(x), plain(DataType::I16))),
            any::<u32>().prop_map(move |x| (Value::U32(x), plain(DataType::U32))),
            any::<i32>().prop_map(move |x| (Value::I32(x), plain(DataType::I32))),
            any::<u64>().prop_map(move |x| (Value::U64(x), plain(DataType::U64))),
            any::<i64>().prop_map(move |x| (Value::I64(x), plain(DataType::I64))),
            finite_f32().prop_map(move |x| (Value::F32(x), plain(DataType::F32))),
            finite_f64().prop_map(move |x| (Value::F64(x), plain(DataType::F64))),
            "[ -~]{0,20}"
                .prop_flat_map(|s| {
                    let s = s.trim_end_matches(' ').to_owned();
                    let min = u16::try_from(s.len().div_ceil(2)).unwrap();
                    (Just(s), min..=12)
                })
                .prop_map(|(s, length)| (
                    Value::String(s),
                    Encoding {
                        length,
                        ..Encoding::plain(DataType::String)
                    }
                )),
        ];
        (typed, order()).prop_map(|((value, e), order)| (value, Encoding { order, ..e }))
    }

    fn any_value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::Bool),
            any::<u16>().prop_map(Value::U16),
            any::<i16>().prop_map(Value::I16),
            any::<u32>().prop_map(Value::U32),
            any::<i32>().prop_map(Value::I32),
            any::<u64>().prop_map(Value::U64),
            any::<i64>().prop_map(Value::I64),
            prop::num::f32::ANY.prop_map(Value::F32),
            prop::num::f64::ANY.prop_map(Value::F64),
            any::<String>().prop_map(Value::String),
        ]
    }

    fn any_encoding() -> impl Strategy<Value = Encoding> {
        let float = prop_oneof![
            prop::num::f64::ANY,
            Just(0.0),
            Just(f64::NAN),
            Just(f64::INFINITY)
        ];
        (
            data_type(),
            order(),
            prop::option::of(any::<u8>()),
            prop_oneof![0u16..10, any::<u16>()],
            prop::option::of(float.clone()),
            prop_oneof![Just(0.0), float],
        )
            .prop_map(|(data_type, order, bit, length, scale, offset)| Encoding {
                data_type,
                order,
                bit,
                length,
                scale,
                offset,
            })
    }

    /// Type bounds used for the scaled round trip; 64-bit types stay where f64 is exact.
    fn int_bounds(t: DataType) -> (f64, f64) {
        match t {
            DataType::U16 => (0.0, f64::from(u16::MAX)),
            DataType::I16 => (f64::from(i16::MIN), f64::from(i16::MAX)),
            DataType::U32 => (0.0, f64::from(u32::MAX)),
            DataType::I32 => (f64::from(i32::MIN), f64::from(i32::MAX)),
            DataType::U64 => (0.0, 2f64.powi(52)),
            _ => (-(2f64.powi(52)), 2f64.powi(52)),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn encode_then_decode_is_identity((value, e) in value_and_encoding()) {
            let regs = encode(&value, &e).unwrap();
            prop_assert_eq!(regs.len(), usize::from(e.register_count()));
            prop_assert_eq!(decode(&regs, &e).unwrap(), value);
        }

        #[test]
        fn scaled_integer_round_trip_within_half_scale(
            t in prop::sample::select(vec![
                DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::U64, DataType::I64,
            ]),
            order in order(),
            magnitude in 0.001f64..1000.0,
            negative in any::<bool>(),
            offset in -1000.0f64..1000.0,
            position in 0.0f64..=1.0,
        ) {
            let scale = if negative { -magnitude } else { magnitude };
            let (lo, hi) = int_bounds(t);
            let raw = (lo + 1.0) + position * (hi - lo - 2.0);
            let presented = raw * scale + offset;
            let e = Encoding { order, scale: Some(scale), offset, ..Encoding::plain(t) };
            let regs = encode(&Value::F64(presented), &e).unwrap();
            let Value::F64(back) = decode(&regs, &e).unwrap() else { panic!("scaled decode must give F64") };
            let tolerance = magnitude / 2.0 * (1.0 + 1e-9) + 1e-9 * presented.abs().max(1.0);
            prop_assert!((back - presented).abs() <= tolerance, "{presented} -> {back}");
        }

        #[test]
        fn decode_never_panics(e in any_encoding(), regs in prop::collection::vec(any::<u16>(), 0..12)) {
            match decode(&regs, &e) {
                Ok(Value::F64(v)) => prop_assert!(v.is_finite()),
                Ok(Value::F32(v)) => prop_assert!(v.is_finite()),
                Ok(_) => {}
                Err(CodecError::Length { expected, got }) => {
                    prop_assert_eq!(expected, usize::from(e.register_count()));
                    prop_assert_eq!(got, regs.len());
                }
                Err(_) => prop_assert_eq!(regs.len(), usize::from(e.register_count())),
            }
        }

        #[test]
        fn same_length_decode_never_panics(e in any_encoding(), seed in any::<u64>()) {
            // Arbitrary vectors rarely hit the exact length, so also feed matching ones.
            let n = usize::from(e.register_count()).min(64);
            let word = |i: usize| {
                let shift = u32::try_from(i % 4).unwrap_or(0).saturating_mul(16);
                u16::try_from(seed.checked_shr(shift).unwrap_or(0) & 0xFFFF).unwrap_or(0)
            };
            let regs: Vec<u16> = (0..n).map(|i| word(i) ^ u16::try_from(i).unwrap_or(0)).collect();
            let _ = decode(&regs, &e);
        }

        #[test]
        fn encode_never_panics(value in any_value(), e in any_encoding()) {
            if let Ok(regs) = encode(&value, &e) {
                prop_assert_eq!(regs.len(), usize::from(e.register_count()));
            }
        }

        #[test]
        fn with_bit_sets_only_that_bit(current in any::<u16>(), n in 0u8..16, on in any::<bool>()) {
            let written = with_bit(current, n, on);
            prop_assert_eq!(decode(&[written], &bit(n)).unwrap(), Value::Bool(on));
            let others = !(1u16 << n);
            prop_assert_eq!(written & others, current & others);
        }
    }
}
