//! The own OPC UA certificate: kept while it fits, made anew when it no
//! longer does, never left half written.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking

mod common;

use std::path::Path;

use edge_gateway::opcua::certificate;
use edge_gateway::opcua::pki::{OWN_CERT, OWN_KEY};

fn cfg(name: &str, pki: &Path) -> edge_gateway::config::Config {
    common::config(&format!(
        "[gateway]\nname = \"{name}\"\n[opcua]\nlisten = \"127.0.0.1:0\"\npki_dir = \"{}\"\nsecurity = [\"none\"]\nanonymous = \"read\"\n",
        pki.display()
    ))
}

async fn start_and_stop(name: &str, pki: &Path) {
    let (_engine, server) = common::engine_with_opcua(&cfg(name, pki)).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_own_certificate_is_kept_while_it_fits_and_made_anew_when_not() {
    let pki = std::env::temp_dir().join(format!("eg-own-cert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pki);
    start_and_stop("line-3", &pki).await;
    let first = std::fs::read(pki.join(OWN_CERT)).unwrap();
    start_and_stop("line-3", &pki).await;
    assert_eq!(
        std::fs::read(pki.join(OWN_CERT)).unwrap(),
        first,
        "kept while it fits"
    );

    // Renamed gateway: a new application URI, so a new certificate.
    start_and_stop("line-4", &pki).await;
    let renamed = std::fs::read(pki.join(OWN_CERT)).unwrap();
    assert_ne!(renamed, first);
    assert_eq!(
        certificate::needs_renewal(&pki, "urn:edge-gateway:line-4", "127.0.0.1"),
        None
    );
    assert!(certificate::needs_renewal(&pki, "urn:edge-gateway:line-3", "127.0.0.1").is_some());
    assert!(certificate::needs_renewal(&pki, "urn:edge-gateway:line-4", "gw.example").is_some());

    // A power cut that left the key without its certificate (or the reverse).
    std::fs::remove_file(pki.join(OWN_CERT)).unwrap();
    start_and_stop("line-4", &pki).await;
    assert!(pki.join(OWN_CERT).exists() && pki.join(OWN_KEY).exists());
    assert_eq!(
        certificate::needs_renewal(&pki, "urn:edge-gateway:line-4", "127.0.0.1"),
        None
    );
    let leftovers: Vec<_> = ["own", "private"]
        .iter()
        .flat_map(|d| std::fs::read_dir(pki.join(d)).unwrap())
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".new"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    // A garbage certificate (a torn write) is replaced too.
    std::fs::write(pki.join(OWN_CERT), b"not a certificate").unwrap();
    start_and_stop("line-4", &pki).await;
    assert_eq!(
        certificate::needs_renewal(&pki, "urn:edge-gateway:line-4", "127.0.0.1"),
        None
    );
    let _ = std::fs::remove_dir_all(&pki);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_server_prunes_rejected_certificates_to_the_newest() {
    use edge_gateway::opcua::pki::{MAX_REJECTED, list};
    let pki = std::env::temp_dir().join(format!("eg-prune-running-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&pki);
    std::fs::create_dir_all(pki.join("rejected")).unwrap();
    for i in 0..MAX_REJECTED + 5 {
        std::fs::write(pki.join(format!("rejected/client-{i:03}.der")), b"x").unwrap();
    }
    let (_engine, _server) = common::engine_with_opcua(&cfg("line-3", &pki)).await;
    common::wait_until(
        "rejected/ pruned",
        std::time::Duration::from_secs(10),
        || list(&pki, "rejected").unwrap().len() == MAX_REJECTED,
    )
    .await;
    let _ = std::fs::remove_dir_all(&pki);
}
