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

/// A client certificate in a PKI folder, as `pki list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The file name in its folder.
    pub file: String,
    /// SHA-1 of the DER, lower-case hex (what OPC UA calls the thumbprint);
    /// `None` when the file is not a certificate.
    pub thumbprint: Option<String>,
    pub subject: String,
    /// Validity, RFC 3339 dates.
    pub not_before: String,
    pub not_after: String,
}

/// Every certificate in `pki/<folder>`, with what identifies it.
pub fn inspect(pki: &Path, folder: &str) -> io::Result<Vec<CertInfo>> {
    let mut out = Vec::new();
    for file in list(pki, folder)? {
        let x509 = std::fs::read(pki.join(folder).join(&file))
            .ok()
            .and_then(|der| opcua::crypto::X509::from_der(&der).ok());
        out.push(match x509 {
            Some(x) => CertInfo {
                file,
                thumbprint: Some(x.thumbprint().as_hex_string()),
                subject: x.subject_name(),
                not_before: x
                    .not_before()
                    .map_or_else(|_| "?".to_owned(), |d| d.format("%Y-%m-%d").to_string()),
                not_after: x
                    .not_after()
                    .map_or_else(|_| "?".to_owned(), |d| d.format("%Y-%m-%d").to_string()),
            },
            None => CertInfo {
                file,
                thumbprint: None,
                subject: "(not a certificate)".into(),
                not_before: "?".into(),
                not_after: "?".into(),
            },
        });
    }
    Ok(out)
}

/// Fewest hex digits of a thumbprint `pki trust` accepts: enough that a
/// chosen prefix cannot be met by accident.
pub const MIN_THUMBPRINT_PREFIX: usize = 8;

/// Move the one certificate in `from` whose SHA-1 thumbprint starts with
/// `thumbprint` (hex, colons and spaces ignored, at least
/// `MIN_THUMBPRINT_PREFIX` digits) to `to`. File names are chosen by whoever
/// presented the certificate, so they are never matched.
pub fn move_cert(pki: &Path, from: &str, to: &str, thumbprint: &str) -> io::Result<PathBuf> {
    let wanted: String = thumbprint
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    if wanted.len() < MIN_THUMBPRINT_PREFIX || !wanted.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{thumbprint:?} is not a thumbprint: give at least {MIN_THUMBPRINT_PREFIX} hex digits of the SHA-1 thumbprint that `edge-gateway pki list` shows"
            ),
        ));
    }
    let matches: Vec<CertInfo> = inspect(pki, from)?
        .into_iter()
        .filter(|c| {
            c.thumbprint
                .as_ref()
                .is_some_and(|t| t.starts_with(&wanted))
        })
        .collect();
    match matches.as_slice() {
        [one] => {
            std::fs::create_dir_all(pki.join(to))?;
            let target = pki.join(to).join(&one.file);
            std::fs::rename(pki.join(from).join(&one.file), &target)?;
            Ok(target)
        }
        [] => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no certificate in {from}/ has a thumbprint starting with {wanted}"),
        )),
        many => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} certificates in {from}/ have thumbprints starting with {wanted}; give more digits",
                many.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate made by the OPC UA library.
    fn certificate(dir: &Path, name: &str) -> (PathBuf, String) {
        let data = opcua::crypto::X509Data {
            key_size: 2048,
            common_name: name.into(),
            organization: "test".into(),
            organizational_unit: String::new(),
            country: String::new(),
            state: String::new(),
            alt_host_names: vec![format!("urn:{name}")].into(),
            certificate_duration_days: 30,
        };
        let (cert, key) = (
            dir.join(format!("{name}.der")),
            dir.join(format!("{name}.pem")),
        );
        opcua::crypto::CertificateStore::create_certificate_and_key(&data, true, &cert, &key)
            .unwrap();
        let der = std::fs::read(&cert).unwrap();
        let thumb = opcua::crypto::X509::from_der(&der)
            .unwrap()
            .thumbprint()
            .as_hex_string();
        std::fs::remove_file(&key).unwrap();
        (cert, thumb)
    }

    #[test]
    fn trusting_goes_by_thumbprint_never_by_file_name() {
        let dir = std::env::temp_dir().join(format!("eg-pki-thumb-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure_dirs(&dir).unwrap();
        let (scada, scada_thumb) = certificate(&dir.join("rejected"), "scada");
        // An attacker names its certificate after the thumbprint of another.
        let (evil, _) = certificate(&dir.join("rejected"), "evil");
        std::fs::rename(
            &evil,
            dir.join(format!("rejected/scada [{scada_thumb}].der")),
        )
        .unwrap();
        let listed = inspect(&dir, "rejected").unwrap();
        assert_eq!(listed.len(), 2);
        assert!(
            listed
                .iter()
                .any(|c| c.thumbprint.as_deref() == Some(scada_thumb.as_str())
                    && c.subject.contains("scada"))
        );
        assert!(
            move_cert(&dir, "rejected", "trusted", "scada").is_err(),
            "a name is not a thumbprint"
        );
        assert!(
            move_cert(&dir, "rejected", "trusted", &scada_thumb[..4]).is_err(),
            "too short"
        );
        let prefix = scada_thumb[..10].to_ascii_uppercase();
        let moved = move_cert(&dir, "rejected", "trusted", &prefix).unwrap();
        assert_eq!(moved, dir.join("trusted").join(scada.file_name().unwrap()));
        let trusted = inspect(&dir, "trusted").unwrap();
        assert_eq!(trusted[0].thumbprint.as_deref(), Some(scada_thumb.as_str()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rejected_is_pruned_to_the_newest() {
        let dir = std::env::temp_dir().join(format!("eg-pki-prune-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        ensure_dirs(&dir).unwrap();
        std::fs::write(dir.join("rejected/a.der"), b"z").unwrap();
        std::fs::write(dir.join("rejected/b.der"), b"z").unwrap();
        assert_eq!(prune_rejected(&dir, 1).unwrap(), 1);
        assert_eq!(list(&dir, "rejected").unwrap().len(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
