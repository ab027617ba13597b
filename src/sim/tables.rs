//! The register and bit tables of one simulated unit id.
//!
//! Every table is full size (65 536 entries), so any protocol address can be
//! read or written without bounds bookkeeping: a request's range check happens
//! once, in the service, and the table accessors here never index unchecked.

use crate::modbus::codec::{self, Encoding};
use crate::modbus::protocol::ADDRESS_END;
use crate::tags::{Kind, Value};

/// Entries per table: every address a 16-bit Modbus address can name.
const TABLE_LEN: usize = ADDRESS_END as usize;

/// The four tables of one unit id, full size so any address can be read.
pub(super) struct Tables {
    pub(super) coils: Vec<bool>,
    pub(super) discrete: Vec<bool>,
    pub(super) input: Vec<u16>,
    pub(super) holding: Vec<u16>,
}

impl Tables {
    pub(super) fn new() -> Self {
        Tables {
            coils: vec![false; TABLE_LEN],
            discrete: vec![false; TABLE_LEN],
            input: vec![0; TABLE_LEN],
            holding: vec![0; TABLE_LEN],
        }
    }

    /// The register table of `kind`, or `None` for a bit kind.
    pub(super) fn words_mut(&mut self, kind: Kind) -> Option<&mut Vec<u16>> {
        match kind {
            Kind::Input => Some(&mut self.input),
            Kind::Holding => Some(&mut self.holding),
            _ => None,
        }
    }

    /// The bit table of `kind`, or `None` for a register kind.
    pub(super) fn bits_mut(&mut self, kind: Kind) -> Option<&mut Vec<bool>> {
        match kind {
            Kind::Coil => Some(&mut self.coils),
            Kind::Discrete => Some(&mut self.discrete),
            _ => None,
        }
    }

    /// Read one register or bit (bits as 0/1).
    pub(super) fn get_raw(&mut self, kind: Kind, address: u16) -> Option<u16> {
        let a = usize::from(address);
        if let Some(w) = self.words_mut(kind) {
            return w.get(a).copied();
        }
        self.bits_mut(kind)
            .and_then(|b| b.get(a))
            .map(|b| u16::from(*b))
    }
}

/// Store a typed value at an address with an encoding.
///
/// A bit kind takes only a `Value::Bool` (anything else is ignored, as a
/// generator cannot make a coil hold a float). Registers past the table's end
/// are dropped rather than wrapped: a value straddling address 65 535 keeps
/// only its first registers.
pub(super) fn write_value(
    tables: &mut Tables,
    kind: Kind,
    address: u16,
    value: &Value,
    encoding: &Encoding,
) -> Result<(), codec::CodecError> {
    let a = usize::from(address);
    if let Some(bits) = tables.bits_mut(kind) {
        if let (Some(slot), Value::Bool(b)) = (bits.get_mut(a), value) {
            *slot = *b;
        }
        return Ok(());
    }
    let regs = codec::encode(value, encoding)?;
    if let Some(words) = tables.words_mut(kind) {
        for (slot, r) in words.iter_mut().skip(a).zip(regs) {
            *slot = r;
        }
    }
    Ok(())
}
