//! The gateway's own OPC UA application certificate and its key.
//!
//! Made on first start; made anew when the one on disk no longer fits (the
//! gateway's name, and so its application URI, or the host name clients
//! dial changed: clients would refuse it), when it is unreadable, or when
//! only one of the pair exists. Written atomically: both files go to
//! temporary names, are synced, and are renamed into place key first, so a
//! power cut on first start leaves no pair that looks whole but is not (a
//! key without its certificate is made anew on the next start).
//!
//! This blocks (RSA key generation takes seconds on a small board): call it
//! from a blocking thread.

use std::fs::File;
use std::path::{Path, PathBuf};

use opcua::crypto::{CertificateStore, X509, X509Data};

use super::OpcuaError;
use super::pki::{self, OWN_CERT, OWN_KEY};

/// Why the certificate on disk must be made anew, if it must.
pub fn needs_renewal(pki_dir: &Path, app_uri: &str, hostname: &str) -> Option<String> {
    let (cert, key) = (pki_dir.join(OWN_CERT), pki_dir.join(OWN_KEY));
    match (cert.exists(), key.exists()) {
        (false, false) => return Some("there is none yet".into()),
        (true, false) => return Some("its private key is missing".into()),
        (false, true) => return Some("the certificate of the private key is missing".into()),
        (true, true) => {}
    }
    let x509 = match std::fs::read(&cert)
        .map_err(|e| e.to_string())
        .and_then(|der| X509::from_der(&der).map_err(|e| format!("{e:?}")))
    {
        Ok(x) => x,
        Err(e) => return Some(format!("{} cannot be read: {e}", cert.display())),
    };
    if x509.is_application_uri_valid(app_uri).is_err() {
        return Some(format!(
            "it was made for another application URI (now {app_uri}: the gateway name changed)"
        ));
    }
    if x509.is_hostname_valid(hostname).is_err() {
        return Some(format!(
            "it does not name the host {hostname} that clients dial"
        ));
    }
    None
}

/// Make sure a fitting certificate and key are in `pki_dir`.
pub fn ensure(
    pki_dir: &Path,
    gateway: &str,
    app_uri: &str,
    hostname: &str,
) -> Result<(), OpcuaError> {
    let err = |reason: String| OpcuaError::Certificate {
        dir: pki_dir.display().to_string(),
        reason,
    };
    let Some(why) = needs_renewal(pki_dir, app_uri, hostname) else {
        return Ok(());
    };
    let (cert, key) = (pki_dir.join(OWN_CERT), pki_dir.join(OWN_KEY));
    if cert.exists() || key.exists() {
        tracing::warn!(cert = %cert.display(), reason = %why, "making a new OPC UA application certificate; clients that trusted the old one must trust the new one");
    }
    let (cert_tmp, key_tmp) = (temporary(&cert), temporary(&key));
    CertificateStore::create_certificate_and_key(
        &subject(gateway, app_uri, hostname),
        true,
        &cert_tmp,
        &key_tmp,
    )
    .map_err(err)?;
    pki::restrict_key(&key_tmp).map_err(|e| err(e.to_string()))?;
    for f in [&key_tmp, &cert_tmp] {
        File::open(f)
            .and_then(|f| f.sync_all())
            .map_err(|e| err(format!("{}: {e}", f.display())))?;
    }
    std::fs::rename(&key_tmp, &key).map_err(|e| err(e.to_string()))?;
    std::fs::rename(&cert_tmp, &cert).map_err(|e| err(e.to_string()))?;
    for dir in [key.parent(), cert.parent()].into_iter().flatten() {
        // A directory fsync makes the renames durable; not every filesystem allows it.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    tracing::info!(cert = %cert.display(), subject = %gateway, application_uri = app_uri, hostname, "created the OPC UA application certificate");
    Ok(())
}

/// `<file>.new`, beside it.
fn temporary(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(std::ffi::OsStr::to_os_string)
        .unwrap_or_default();
    name.push(".new");
    path.with_file_name(name)
}

/// What the certificate says: the gateway's name as CN, its application URI
/// and the host name (with the machine's names and addresses) as alt names.
fn subject(gateway: &str, app_uri: &str, hostname: &str) -> X509Data {
    // RFC 4514 separators in a subject value would corrupt the name.
    let cn: String = gateway
        .chars()
        .map(|c| {
            if matches!(c, ',' | '=' | '+' | '"' | '\\' | '<' | '>' | ';') {
                ' '
            } else {
                c
            }
        })
        .collect();
    X509Data {
        key_size: 2048,
        common_name: cn,
        organization: "edge-gateway".into(),
        organizational_unit: String::new(),
        country: String::new(),
        state: String::new(),
        alt_host_names: X509Data::alt_host_names(
            app_uri,
            Some(vec![hostname.to_owned()]),
            true,
            true,
            true,
        ),
        certificate_duration_days: 3650,
    }
}
