//! `edge-gateway pki`: the OPC UA client certificates in `[opcua] pki_dir`.
//! Unknown clients land in `rejected/`; trusting one moves it to `trusted/`.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::opcua::pki;

/// What `pki` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiAction {
    /// List trusted and rejected client certificates.
    List,
    /// Move the rejected certificate whose file name contains the pattern to `trusted/`.
    Trust(String),
    /// Move the trusted certificate whose file name contains the pattern to `rejected/`.
    Reject(String),
}

/// Why a `pki` action failed.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A PKI folder could not be listed.
    #[error("reading {}: {source}", .path.display())]
    List {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// No single certificate matched, or it could not be moved.
    #[error(transparent)]
    Move(io::Error),
    /// The result could not be printed.
    #[error("writing the output: {0}")]
    Write(io::Error),
}

/// Run one `pki` action on the PKI folder `dir`, printing to `out`.
pub fn pki(dir: &Path, action: &PkiAction, out: &mut impl Write) -> Result<(), PkiError> {
    match action {
        PkiAction::List => {
            for folder in ["trusted", "rejected"] {
                let names = pki::list(dir, folder).map_err(|source| PkiError::List {
                    path: dir.join(folder),
                    source,
                })?;
                writeln!(out, "{folder}/ ({})", names.len()).map_err(PkiError::Write)?;
                for n in names {
                    writeln!(out, "  {n}").map_err(PkiError::Write)?;
                }
            }
        }
        PkiAction::Trust(pattern) => {
            let moved =
                pki::move_cert(dir, "rejected", "trusted", pattern).map_err(PkiError::Move)?;
            writeln!(out, "trusted: {}", moved.display()).map_err(PkiError::Write)?;
        }
        PkiAction::Reject(pattern) => {
            let moved =
                pki::move_cert(dir, "trusted", "rejected", pattern).map_err(PkiError::Move)?;
            writeln!(out, "rejected: {}", moved.display()).map_err(PkiError::Write)?;
        }
    }
    Ok(())
}
