//! The OPC UA PKI folder: own certificate, trusted and rejected clients.
//!
//! ```text
//! <pki_dir>/own/cert.der           the gateway's certificate (made on first start)
//! <pki_dir>/private/private.pem    its private key (mode 0600)
//! <pki_dir>/trusted/               client certificates allowed to connect
//! <pki_dir>/rejected/              unknown client certificates, stored on first contact
//! ```
//! The library looks a trusted certificate up by its exact file name
//! (`<CN> [<sha1 thumbprint>].der`), so trusting means moving the file from
//! `rejected/` unchanged; `edge-gateway pki trust` does that.

use std::io;
use std::path::{Path, PathBuf};

/// Own certificate, relative to the PKI folder.
pub const OWN_CERT: &str = "own/cert.der";
/// Own private key, relative to the PKI folder.
pub const OWN_KEY: &str = "private/private.pem";

/// Create the four folders (private/ readable by the owner only).
pub fn ensure_dirs(pki: &Path) -> io::Result<()> {
    for d in ["own", "private", "trusted", "rejected"] {
        std::fs::create_dir_all(pki.join(d))?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(pki.join("private"), std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The private key is written with the process umask; make it owner-only.
pub fn restrict_key(key: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(key, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = key;
    Ok(())
}

/// Certificate files in `pki/<folder>`, sorted.
pub fn list(pki: &Path, folder: &str) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = match std::fs::read_dir(pki.join(folder)) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                Path::new(n)
                    .extension()
                    .is_some_and(|x| x.eq_ignore_ascii_case("der"))
            })
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    names.sort();
    Ok(names)
}

/// Most certificates kept in `rejected/`: anyone can present a new one, so the
/// folder is pruned to the newest ones to keep a client from filling the disk.
pub const MAX_REJECTED: usize = 100;

/// Delete all but the newest `keep` files of `pki/rejected/`; returns how many went.
pub fn prune_rejected(pki: &Path, keep: usize) -> io::Result<usize> {
    let dir = pki.join("rejected");
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    if files.len() <= keep {
        return Ok(0);
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    let mut removed = 0;
    for (_, path) in files.into_iter().skip(keep) {
        std::fs::remove_file(path)?;
        removed += 1;
    }
    Ok(removed)
}

/// Move the one certificate in `from` whose name contains `pattern` to `to`.
pub fn move_cert(pki: &Path, from: &str, to: &str, pattern: &str) -> io::Result<PathBuf> {
    let matches: Vec<String> = list(pki, from)?
        .into_iter()
        .filter(|n| n.contains(pattern))
        .collect();
    match matches.as_slice() {
        [one] => {
            std::fs::create_dir_all(pki.join(to))?;
            let target = pki.join(to).join(one);
            std::fs::rename(pki.join(from).join(one), &target)?;
            Ok(target)
        }
        [] => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no certificate in {from}/ matches {pattern:?}"),
        )),
        many => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} certificates in {from}/ match {pattern:?}: {}; be more specific",
                many.len(),
                many.join(", ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusting_moves_exactly_one_matching_certificate() {
        let dir = std::env::temp_dir().join(format!("eg-pki-{}", std::process::id()));
        ensure_dirs(&dir).unwrap();
        std::fs::write(dir.join("rejected/scada [ab12].der"), b"x").unwrap();
        std::fs::write(dir.join("rejected/hmi [cd34].der"), b"y").unwrap();
        assert!(
            move_cert(&dir, "rejected", "trusted", "[").is_err(),
            "ambiguous"
        );
        let moved = move_cert(&dir, "rejected", "trusted", "ab12").unwrap();
        assert!(moved.ends_with("trusted/scada [ab12].der"));
        assert_eq!(list(&dir, "trusted").unwrap(), vec!["scada [ab12].der"]);
        assert_eq!(list(&dir, "rejected").unwrap(), vec!["hmi [cd34].der"]);
        std::fs::write(dir.join("rejected/a.der"), b"z").unwrap();
        assert_eq!(prune_rejected(&dir, 1).unwrap(), 1);
        assert_eq!(list(&dir, "rejected").unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
