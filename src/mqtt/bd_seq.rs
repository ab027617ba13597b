//! bdSeq across restarts: the number of the next connection is kept in the
//! buffer folder, so a gateway that restarts goes on counting instead of
//! starting at 0 again. A host matches an NDEATH to the NBIRTH with the same
//! bdSeq (§5.2); a restarted node reusing an old number could have a late
//! Will of its previous run declare the new session dead.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The file, inside the buffer folder.
const FILE: &str = "bdseq";

/// Where the next bdSeq is kept.
#[derive(Debug, Clone)]
pub(super) struct BdSeqFile {
    path: PathBuf,
}

impl BdSeqFile {
    /// The file in `dir`, which must exist.
    pub(super) fn in_dir(dir: &Path) -> Self {
        BdSeqFile {
            path: dir.join(FILE),
        }
    }

    /// The stored number; 0 when there is none or it is unreadable (a
    /// first start, or a file cut short by a power cut).
    pub(super) fn load(&self) -> u8 {
        std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Keep `next` for the next connection, atomically (temp file, fsync,
    /// rename), so a crash leaves the old number or the new, never half.
    pub(super) fn store(&self, next: u8) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        writeln!(f, "{next}")?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_number_survives_and_garbage_reads_as_0() {
        let dir = std::env::temp_dir().join(format!("edge-gateway-bdseq-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = BdSeqFile::in_dir(&dir);
        assert_eq!(f.load(), 0);
        f.store(255).unwrap();
        assert_eq!(f.load(), 255);
        std::fs::write(dir.join(FILE), "garbage").unwrap();
        assert_eq!(f.load(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
