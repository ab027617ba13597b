//! Any registers through any encoding (type, word order, bit, string
//! length, scale and offset): decoding and re-encoding what was decoded
//! never panic, and a decoded value encodes back to the same value.
#![no_main]

use edge_gateway::modbus::codec::{Encoding, decode, encode};
use edge_gateway::tags::{DataType, Value, WordOrder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [t, o, bit, len, rest @ ..] = data else {
        return;
    };
    let (scale, rest) = match rest.split_first_chunk::<8>() {
        Some((s, r)) if t & 0x80 != 0 => (Some(f64::from_le_bytes(*s)), r),
        _ => (None, rest),
    };
    let types = DataType::NAMES;
    let orders = WordOrder::NAMES;
    let data_type = types[usize::from(*t & 0x7f) % types.len()].1;
    let enc = Encoding {
        data_type,
        order: orders[usize::from(*o) % orders.len()].1,
        bit: (bit & 0x80 != 0).then_some(bit & 0x1f),
        length: u16::from(*len),
        scale,
        offset: 0.0,
    };
    let regs: Vec<u16> = rest
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let Ok(value) = decode(&regs, &enc) else {
        return;
    };
    let Ok(again) = encode(&value, &enc) else {
        return;
    };
    if enc.scale.is_none()
        && !matches!(value, Value::F32(x) if x.is_nan())
        && !matches!(value, Value::F64(x) if x.is_nan())
    {
        assert_eq!(decode(&again, &enc).ok(), Some(value));
    }
});
