//! Content coding of `/metrics`: gzip when the scraper accepts it.
//!
//! Prometheus asks for gzip on every scrape, and the text format compresses
//! about tenfold (series names and labels repeat on every line), so a large
//! scrape crosses the network in a fraction of the bytes. The level is low:
//! a scrape is rendered anew every interval, so compression time matters more
//! than the last few percent of size (BENCHMARKS.md has the figures).

use std::io::Write as _;

use flate2::Compression;
use flate2::write::GzEncoder;

/// Compression level for `/metrics` bodies: 1, the fastest of zlib's 1 to 9;
/// it already sends 14 times fewer bytes (BENCHMARKS.md has the figures).
pub const GZIP_LEVEL: u32 = 1;

/// How a body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As is.
    Identity,
    /// `Content-Encoding: gzip`.
    Gzip,
}

impl Encoding {
    /// The encoding to answer with, given the request's `Accept-Encoding`
    /// values (RFC 9110, section 12.5.3): gzip when it is acceptable, named
    /// (`gzip` or `x-gzip`) or through `*`, with a non-zero q; a named entry
    /// wins over `*`. Malformed entries are ignored: a plain body is always
    /// understood.
    pub fn negotiate<'a>(accept_encoding: impl IntoIterator<Item = &'a str>) -> Encoding {
        let mut named = None;
        let mut any = None;
        for entry in accept_encoding.into_iter().flat_map(|v| v.split(',')) {
            let mut parts = entry.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let Some(q) = weight(parts) else {
                continue;
            };
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                named = Some(named.map_or(q, |n: bool| n || q));
            } else if coding == "*" {
                any = Some(q);
            }
        }
        if named.or(any).unwrap_or(false) {
            Encoding::Gzip
        } else {
            Encoding::Identity
        }
    }
}

/// Whether an entry's parameters accept it: `q` absent or above zero; `None`
/// for a malformed weight.
fn weight<'a>(params: impl Iterator<Item = &'a str>) -> Option<bool> {
    let mut accepted = true;
    for p in params {
        let (name, value) = p.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("q") {
            let q: f32 = value.trim().parse().ok()?;
            if !(0.0..=1.0).contains(&q) {
                return None;
            }
            accepted = q > 0.0;
        }
    }
    Some(accepted)
}

/// A gzip stream being written into a buffer, fed piece by piece.
pub(super) struct Stream {
    encoder: GzEncoder<Vec<u8>>,
    /// The first error; once set, further pieces are dropped.
    error: Option<std::io::Error>,
}

impl Stream {
    /// A stream that appends to `out` at `level`.
    pub(super) fn new(out: Vec<u8>, level: u32) -> Self {
        Stream {
            encoder: GzEncoder::new(out, Compression::new(level)),
            error: None,
        }
    }

    /// Compress `piece` and empty it (keeping its capacity).
    pub(super) fn write(&mut self, piece: &mut Vec<u8>) {
        if self.error.is_none()
            && let Err(e) = self.encoder.write_all(piece)
        {
            self.error = Some(e);
        }
        piece.clear();
    }

    /// The finished gzip stream, or the first error.
    pub(super) fn finish(self) -> std::io::Result<Vec<u8>> {
        match self.error {
            Some(e) => Err(e),
            None => self.encoder.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn negotiate(header: &str) -> Encoding {
        Encoding::negotiate([header])
    }

    #[test]
    fn gzip_is_used_when_accepted_with_a_non_zero_weight() {
        for h in [
            "gzip",
            "GZip",
            "x-gzip",
            "deflate, gzip;q=0.5",
            "gzip ; q=1.000",
            "br;q=1, *;q=0.1",
            "*",
            "gzip, deflate, br",
        ] {
            assert_eq!(negotiate(h), Encoding::Gzip, "{h:?}");
        }
    }

    #[test]
    fn gzip_is_not_used_when_refused_absent_or_malformed() {
        for h in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip;q=0, *",
            "*;q=0",
            "gzip;q=high",
            "gzip;q=2",
            "gzip;q",
            "gzipped",
        ] {
            assert_eq!(negotiate(h), Encoding::Identity, "{h:?}");
        }
    }

    #[test]
    fn accept_encoding_spread_over_several_header_lines_counts_whole() {
        assert_eq!(
            Encoding::negotiate(["deflate", "gzip;q=0.8"]),
            Encoding::Gzip
        );
        assert_eq!(Encoding::negotiate([]), Encoding::Identity);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        let plain = "edge_gateway_tag_good{device=\"d\",tag=\"t\"} 1\n".repeat(1000);
        let mut stream = Stream::new(Vec::new(), GZIP_LEVEL);
        for piece in plain.as_bytes().chunks(1000) {
            stream.write(&mut piece.to_vec());
        }
        let gz = stream.finish().unwrap();
        assert!(gz.len() * 10 < plain.len(), "{} bytes", gz.len());
        let mut back = String::new();
        flate2::read::GzDecoder::new(gz.as_slice())
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, plain);
    }
}
