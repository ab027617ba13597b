//! Modicon addresses: "40001" means holding register 0.
//!
//! A tag's address is either a 0-based protocol number with an explicit `kind`,
//! or a Modicon string whose leading digit is the kind. A 0-based number that
//! looks like a Modicon address for its own kind is accepted with a hint,
//! since a manual that says "40001" usually means holding 0.

use super::raw::RawAddress;
use crate::tags::Kind;

pub(super) fn resolve_address(
    kind: Option<Kind>,
    addr: &RawAddress,
) -> Result<(Kind, u16, Option<String>), String> {
    match addr {
        RawAddress::Number(n) => {
            let Some(kind) = kind else {
                return Err(format!(
                    "address {n} needs a `kind` (coil, discrete, input, holding), or write a Modicon address string such as \"40001\""
                ));
            };
            let address = u16::try_from(*n)
                .map_err(|_| format!("address {n} is out of range (0..=65535)"))?;
            let hint = modicon_lookalike(kind, *n).map(|s| {
                format!("address {n} is taken as the 0-based protocol address {n}; if the manual says {n}, write address = \"{s}\" (= {} {})", kind.as_str(), modicon_offset(*n))
            });
            Ok((kind, address, hint))
        }
        RawAddress::Modicon(s) => {
            let bad = || {
                format!(
                    "address {s:?} is not a Modicon address; write \"40001\" (holding 0), \"30001\" (input 0), \"10001\" (discrete 0), \"00001\" (coil 0), or a 0-based number with `kind`"
                )
            };
            if !(s.len() == 5 || s.len() == 6) || !s.bytes().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            let (prefix, rest) = s.split_at(1);
            let number: u32 = rest.parse().map_err(|_| bad())?;
            let modicon_kind = match prefix {
                "0" => Kind::Coil,
                "1" => Kind::Discrete,
                "3" => Kind::Input,
                "4" => Kind::Holding,
                _ => return Err(bad()),
            };
            let address = number
                .checked_sub(1)
                .and_then(|a| u16::try_from(a).ok())
                .ok_or_else(|| format!("address {s:?} is out of range: the register number after the leading digit must be 1..={}", if s.len() == 5 { 9999 } else { 65536 }))?;
            if let Some(k) = kind
                && k != modicon_kind
            {
                return Err(format!(
                    "address {s:?} is a {} address but kind = {:?}; drop `kind` or make them agree",
                    modicon_kind.as_str(),
                    k.as_str()
                ));
            }
            Ok((modicon_kind, address, None))
        }
    }
}

fn modicon_offset(n: i64) -> i64 {
    if n >= 100_000 {
        (n % 100_000) - 1
    } else {
        (n % 10_000) - 1
    }
}

/// A numeric address that looks like a Modicon one for its own kind (e.g. 40001 on holding).
fn modicon_lookalike(kind: Kind, n: i64) -> Option<String> {
    let digit = match kind {
        Kind::Coil => return None,
        Kind::Discrete => 1,
        Kind::Input => 3,
        Kind::Holding => 4,
    };
    let five = (digit * 10_000 + 1..=digit * 10_000 + 9999).contains(&n);
    five.then(|| format!("{n}"))
}

/// Parse an address as the config does: a 0-based number (with `kind`) or a
/// Modicon string ("40001"). Returns the kind and the 0-based address.
/// The third element is a hint when a 0-based number looks like a Modicon one.
pub fn parse_address(
    kind: Option<Kind>,
    text: &str,
) -> Result<(Kind, u16, Option<String>), String> {
    // With a kind, a number is 0-based; without one it can only be Modicon.
    let raw = match (kind, text.trim().parse::<i64>()) {
        (Some(_), Ok(n)) => RawAddress::Number(n),
        _ => RawAddress::Modicon(text.trim().to_owned()),
    };
    resolve_address(kind, &raw)
}
