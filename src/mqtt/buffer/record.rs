//! The framing of one store-and-forward record, pure.
//!
//! A record is `len: u32 LE | crc: u32 LE | written_at_ms: u64 LE | body`,
//! where `len` counts `written_at_ms` and `body`, and the CRC-32 covers the
//! same bytes. A reader that finds a frame cut short (a power cut while it was
//! written) or a CRC that does not match stops there: what follows is not
//! trusted, and the segment is cut at that point.

/// Bytes before the body: len, crc, timestamp.
#[cfg(test)]
const HEADER: usize = 16;
/// Largest body accepted: a record is one device's changes of one round,
/// and a longer `len` is taken as corruption, not as a reason to allocate.
pub(super) const MAX_BODY: usize = 64 * 1024 * 1024;

/// Append one framed record to `out`.
pub(super) fn frame(out: &mut Vec<u8>, written_at_ms: u64, body: &[u8]) {
    let len = u32::try_from(body.len() + 8).unwrap_or(u32::MAX);
    let ts = written_at_ms.to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&ts);
    crc.update(body);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(&ts);
    out.extend_from_slice(body);
}

/// What the bytes at the start of a buffer are.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed<'a> {
    /// A whole, intact record of `size` bytes in all.
    Record {
        written_at_ms: u64,
        body: &'a [u8],
        size: usize,
    },
    /// Nothing left.
    End,
    /// A frame cut short, an impossible length or a CRC mismatch: the end of
    /// what can be trusted.
    Broken,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)?.try_into().ok().map(u32::from_le_bytes)
}

/// Read the record at the start of `buf`.
pub(super) fn parse(buf: &[u8]) -> Parsed<'_> {
    if buf.is_empty() {
        return Parsed::End;
    }
    let (Some(len), Some(crc)) = (u32_at(buf, 0), u32_at(buf, 4)) else {
        return Parsed::Broken;
    };
    let len = len as usize;
    if !(8..=MAX_BODY + 8).contains(&len) {
        return Parsed::Broken;
    }
    let Some(covered) = buf.get(8..8 + len) else {
        return Parsed::Broken;
    };
    if crc32fast::hash(covered) != crc {
        return Parsed::Broken;
    }
    let (ts, body) = covered.split_at(8);
    let written_at_ms = ts.try_into().map_or(0, u64::from_le_bytes);
    Parsed::Record {
        written_at_ms,
        body,
        size: 8 + len,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(mut buf: &[u8]) -> (Vec<(u64, Vec<u8>)>, bool) {
        let mut out = Vec::new();
        loop {
            match parse(buf) {
                Parsed::Record {
                    written_at_ms,
                    body,
                    size,
                } => {
                    out.push((written_at_ms, body.to_vec()));
                    buf = &buf[size..];
                }
                Parsed::End => return (out, false),
                Parsed::Broken => return (out, true),
            }
        }
    }

    #[test]
    fn records_read_back_in_order() {
        let mut buf = Vec::new();
        frame(&mut buf, 1, b"one");
        frame(&mut buf, 2, b"");
        frame(&mut buf, 3, b"three");
        assert_eq!(
            records(&buf),
            (
                vec![(1, b"one".to_vec()), (2, vec![]), (3, b"three".to_vec())],
                false
            )
        );
    }

    #[test]
    fn a_flipped_bit_or_an_absurd_length_is_broken() {
        let mut buf = Vec::new();
        frame(&mut buf, 1, b"payload");
        let mut flipped = buf.clone();
        flipped[HEADER + 2] ^= 0x10;
        assert_eq!(parse(&flipped), Parsed::Broken);
        let mut long = buf.clone();
        long[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse(&long), Parsed::Broken);
        let mut short = buf;
        short[..4].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(parse(&short), Parsed::Broken);
    }

    proptest! {
        /// A log cut at any byte (a power cut mid-write) yields exactly the
        /// records wholly before the cut, then stops.
        #[test]
        fn a_torn_tail_keeps_every_whole_record_before_it(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..10),
            cut in any::<proptest::sample::Index>(),
        ) {
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            for (i, b) in bodies.iter().enumerate() {
                frame(&mut buf, i as u64, b);
                ends.push(buf.len());
            }
            let at = cut.index(buf.len() + 1);
            let (got, broken) = records(&buf[..at]);
            let whole = ends.iter().filter(|e| **e <= at).count();
            prop_assert_eq!(got.len(), whole);
            prop_assert_eq!(broken, !ends.contains(&at) && at != 0);
            for (i, (ts, body)) in got.iter().enumerate() {
                prop_assert_eq!(*ts, i as u64);
                prop_assert_eq!(body, &bodies[i]);
            }
        }

        /// Garbage never panics the reader.
        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = records(&bytes);
        }
    }
}
