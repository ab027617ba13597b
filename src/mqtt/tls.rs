//! TLS to an `mqtts://` broker: the roots to trust (`ca_file`, or the
//! system's CA certificates) and an optional client certificate.
//!
//! Everything is read and checked once, at start: a missing file, a file
//! without the PEM it should hold, or a key that does not belong to its
//! certificate stops the start with the file named, instead of turning into
//! a reconnect loop that fails the same way every minute. The broker's name
//! is checked against its certificate by rustls (rumqttc passes the URL's
//! host, a DNS name or an IP address).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::MqttTls;

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {key} {path}: {source}")]
    Read {
        key: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{key} {path}: {problem}")]
    File {
        key: &'static str,
        path: String,
        problem: String,
    },
    #[error(
        "no CA certificates found on this system ({0}); set ca_file, or install ca-certificates"
    )]
    NoSystemRoots(String),
    #[error("cert_file and key_file: {0}")]
    ClientCertificate(rustls::Error),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The rustls client settings for every connection to the broker.
pub(super) fn client_config(tls: &MqttTls) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match &tls.ca_file {
        Some(path) => roots_from_file(path)?,
        None => system_roots()?,
    };
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
    let config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(certificates(cert, "cert_file")?, private_key(key)?)
            .map_err(TlsError::ClientCertificate)?,
    };
    Ok(Arc::new(config))
}

/// The CA certificates of `ca_file`; every one of them must parse.
fn roots_from_file(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "ca_file")? {
        roots.add(cert).map_err(|e| TlsError::File {
            key: "ca_file",
            path: path.display().to_string(),
            problem: format!("not a usable CA certificate: {e}"),
        })?;
    }
    Ok(roots)
}

/// The system's CA certificates (`/etc/ssl/certs`, or `SSL_CERT_FILE`).
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    // One bad certificate in the system store should not make the rest useless.
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = if found.errors.is_empty() {
            "none installed".to_owned()
        } else {
            found
                .errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        return Err(TlsError::NoSystemRoots(why));
    }
    Ok(roots)
}

/// Every `CERTIFICATE` of a PEM file, at least one.
fn certificates(path: &Path, key: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, key)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_problem(path, key, format!("bad PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_problem(
            path,
            key,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned(),
        ));
    }
    Ok(certs)
}

/// The private key of `key_file`: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM.
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, "key_file")?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let problem = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)".to_owned()
            }
            e => format!("bad PEM: {e}"),
        };
        file_problem(path, "key_file", problem)
    })
}

fn read(path: &Path, key: &'static str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.display().to_string(),
        source,
    })
}

fn file_problem(path: &Path, key: &'static str, problem: String) -> TlsError {
    TlsError::File {
        key,
        path: path.display().to_string(),
        problem,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::path::PathBuf;

    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("edge-gateway-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn settings(ca: Option<PathBuf>, client: Option<(PathBuf, PathBuf)>) -> MqttTls {
        MqttTls {
            ca_file: ca,
            client,
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let e = client_config(&settings(Some("/nonexistent/ca.pem".into()), None)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("cannot read ca_file /nonexistent/ca.pem: "),
            "{text}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        let ca = temp_file("empty-ca.pem", "not a certificate\n");
        let text = client_config(&settings(Some(ca.clone()), None))
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            format!(
                "ca_file {}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                ca.display()
            )
        );
    }

    #[test]
    fn a_ca_file_with_a_broken_certificate_is_refused() {
        let ca = temp_file(
            "broken-ca.pem",
            "-----BEGIN CERTIFICATE-----\nMIIBdGVzdA==\n-----END CERTIFICATE-----\n",
        );
        let text = client_config(&settings(Some(ca), None))
            .unwrap_err()
            .to_string();
        assert!(text.contains("not a usable CA certificate"), "{text}");
    }

    #[test]
    fn a_truncated_pem_section_is_refused() {
        let ca = temp_file("torn-ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
        let text = client_config(&settings(Some(ca), None))
            .unwrap_err()
            .to_string();
        assert!(text.contains("bad PEM"), "{text}");
    }

    #[test]
    fn a_key_file_without_a_key_is_refused_before_anything_connects() {
        let ca = temp_file("no-key-ca.pem", "x\n");
        let cert = temp_file("client.pem", "x\n");
        let key = temp_file("client.key", "no key here\n");
        // The CA is read first: with a good CA missing, the CA error comes first.
        let e = client_config(&settings(Some(ca), Some((cert, key.clone())))).unwrap_err();
        assert!(e.to_string().starts_with("ca_file "), "{e}");
        let e = private_key(&key).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "key_file {}: holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
                key.display()
            )
        );
    }
}
