//! `edge-gateway pki`: the OPC UA client certificates in `[opcua] pki_dir`.
//! Unknown clients land in `rejected/`; trusting one moves it to `trusted/`.
//! Certificates are named by their SHA-1 thumbprint, never by file name:
//! the file name comes from whoever presented the certificate.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::opcua::pki;

/// What `pki` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PkiAction {
    /// List trusted and rejected client certificates.
    List,
    /// Move the rejected certificate with this SHA-1 thumbprint (or prefix) to `trusted/`.
    Trust(String),
    /// Move the trusted certificate with this SHA-1 thumbprint (or prefix) to `rejected/`.
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
                let certs = pki::inspect(dir, folder).map_err(|source| PkiError::List {
                    path: dir.join(folder),
                    source,
                })?;
                writeln!(out, "{folder}/ ({})", certs.len()).map_err(PkiError::Write)?;
                for c in certs {
                    writeln!(
                        out,
                        "  {}  {}  valid {} to {}  ({})",
                        c.thumbprint.as_deref().unwrap_or("-"),
                        c.subject,
                        c.not_before,
                        c.not_after,
                        c.file
                    )
                    .map_err(PkiError::Write)?;
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
