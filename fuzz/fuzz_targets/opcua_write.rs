//! Any bytes as the Variant of an OPC UA Write, decoded by the stack as a
//! client's message would be, converted as the Write service converts it and
//! encoded for every tag type and word order: no panic, and an integer the
//! codec accepts for an integer tag is exactly the integer the registers then
//! hold (an out-of-range one is refused, never wrapped or clamped).
#![no_main]

use edge_gateway::modbus::codec::{Encoding, decode, encode};
use edge_gateway::opcua::values::value_of;
use edge_gateway::tags::{DataType, Value, WordOrder};
use libfuzzer_sys::fuzz_target;
use opcua::types::{BinaryDecodable, ContextOwned, Variant};

fn integer(v: &Value) -> Option<i128> {
    Some(match *v {
        Value::U16(x) => x.into(),
        Value::I16(x) => x.into(),
        Value::U32(x) => x.into(),
        Value::I32(x) => x.into(),
        Value::U64(x) => x.into(),
        Value::I64(x) => x.into(),
        _ => return None,
    })
}

fn range(t: DataType) -> Option<(i128, i128)> {
    Some(match t {
        DataType::U16 => (0, u16::MAX.into()),
        DataType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::U32 => (0, u32::MAX.into()),
        DataType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::U64 => (0, u64::MAX.into()),
        DataType::I64 => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    })
}

fuzz_target!(|data: &[u8]| {
    let owned = ContextOwned::default();
    let Ok(variant) = Variant::decode(&mut &data[..], &owned.context()) else {
        return;
    };
    let Some(value) = value_of(&variant) else {
        return;
    };
    for (_, data_type) in DataType::NAMES {
        for (_, order) in WordOrder::NAMES {
            let enc = Encoding {
                data_type: *data_type,
                order: *order,
                bit: None,
                length: 4,
                scale: None,
                offset: 0.0,
            };
            let written = encode(&value, &enc);
            let (Some(n), Some((lo, hi))) = (integer(&value), range(*data_type)) else {
                continue;
            };
            match written {
                Ok(regs) => {
                    let back = decode(&regs, &enc).ok().as_ref().and_then(integer);
                    assert_eq!(back, Some(n), "{value:?} as {data_type:?} {order:?}");
                }
                Err(e) => assert!(n < lo || n > hi, "{value:?} refused for {data_type:?}: {e}"),
            }
        }
    }
});
