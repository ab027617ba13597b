//! Shared test support: simulators on ephemeral loopback ports, configs from
//! TOML snippets, bounded waits.
#![allow(dead_code)]

pub(crate) mod counting;
pub(crate) mod fake;
pub(crate) mod raw_opcua;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use edge_gateway::config::Config;
use edge_gateway::engine::Engine;
use edge_gateway::opcua::OpcuaServer;
use edge_gateway::sim::Simulator;
use edge_gateway::tags::{Quality, TagStore, Value};

/// Parse a config or fail the test with the diagnostics.
pub(crate) fn config(text: &str) -> Config {
    match Config::parse(text, "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("test config refused:\n{e}\n---\n{text}"),
    }
}

/// Start a simulator from `[[simulator.register]]`/`[[simulator.exception]]` TOML on a free loopback port.
pub(crate) async fn start_sim(sections: &str) -> (Arc<Simulator>, SocketAddr) {
    let text = format!("[simulator]\nlisten = \"127.0.0.1:0\"\n{sections}");
    let cfg = config(&text);
    let sim_cfg = cfg.simulator.expect("simulator section");
    let sim = Simulator::new(&sim_cfg).expect("simulator builds");
    let addr = sim
        .start_tcp(sim_cfg.listen)
        .await
        .expect("simulator listens");
    (sim, addr)
}

/// `n` u16 holding registers from 40001 on: the `[[simulator.register]]`
/// sections (each with `register` appended: its value or generator) and the
/// `[[device.tag]]` sections "r0".. that read them.
pub(crate) fn register_farm(n: usize, register: &str) -> (String, String) {
    use std::fmt::Write as _;
    let (mut registers, mut tags) = (String::new(), String::new());
    for i in 0..n {
        let address = 40001 + i;
        let _ = writeln!(
            registers,
            "[[simulator.register]]\naddress = \"{address}\"\ntype = \"u16\"\n{}",
            register.replace("{i}", &i.to_string())
        );
        let _ = writeln!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\naddress = \"{address}\"\ntype = \"u16\""
        );
    }
    (registers, tags)
}

/// Wait until `f` holds, checking every 10 ms, at most `limit`; fails the test with `what`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Current value and quality of a tag.
pub(crate) fn tag(store: &TagStore, device: &str, name: &str) -> (Option<Value>, Quality) {
    let id = store
        .find(device, name)
        .unwrap_or_else(|| panic!("no tag {device}.{name}"));
    let snap = store.snapshot(id).expect("snapshot");
    (snap.value, snap.quality)
}

/// A loopback port with nothing listening on it.
pub(crate) fn dead_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

/// A plain HTTP/1.1 GET on loopback: (status, headers, body).
pub(crate) async fn http_get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let (status, head, body) = http_get_with(addr, path, "").await;
    (status, head, String::from_utf8_lossy(&body).into_owned())
}

/// GET `path` with extra request header lines (each ending in `\r\n`); the
/// status, the response head and the body as sent (not decoded).
pub(crate) async fn http_get_with(
    addr: SocketAddr,
    path: &str,
    headers: &str,
) -> (u16, String, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect to the HTTP server");
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send request");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("response within 10 s")
        .expect("read response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, body)
}

/// An anonymous OPC UA session on a `none` endpoint, with its event loop
/// running; the client's own certificate is made under `pki`.
pub(crate) async fn opcua_session(
    endpoint_url: &str,
    pki: &std::path::Path,
) -> (
    Arc<opcua::client::Session>,
    tokio::task::JoinHandle<opcua::types::StatusCode>,
) {
    opcua_session_with(endpoint_url, pki, 3, None).await
}

/// [`opcua_session`] with the client's reconnect attempts and, if given,
/// the session timeout it asks for (ms).
pub(crate) async fn opcua_session_with(
    endpoint_url: &str,
    pki: &std::path::Path,
    retry_limit: u32,
    session_timeout_ms: Option<u32>,
) -> (
    Arc<opcua::client::Session>,
    tokio::task::JoinHandle<opcua::types::StatusCode>,
) {
    use opcua::client::{ClientBuilder, IdentityToken};
    use opcua::types::{EndpointDescription, MessageSecurityMode, UserTokenPolicy};
    let mut builder = ClientBuilder::new()
        .application_name("edge-gateway test client")
        .application_uri("urn:edge-gateway:test-client")
        .pki_dir(pki)
        .create_sample_keypair(true)
        .trust_server_certs(true)
        .session_retry_limit(i32::try_from(retry_limit).unwrap_or(i32::MAX));
    if let Some(ms) = session_timeout_ms {
        builder = builder.session_timeout(ms);
    }
    let mut client = builder.client().expect("client config");
    let endpoint: EndpointDescription = (
        endpoint_url,
        "None",
        MessageSecurityMode::None,
        UserTokenPolicy::anonymous(),
    )
        .into();
    let (session, event_loop) = client
        .connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous)
        .await
        .expect("anonymous session on the none endpoint");
    let event_loop = event_loop.spawn();
    session.wait_for_connection().await;
    (session, event_loop)
}

/// The engine for `cfg` with its OPC UA server started (`cfg` must have
/// `[opcua]`).
pub(crate) async fn engine_with_opcua(cfg: &Config) -> (Arc<Engine>, OpcuaServer) {
    let engine = Arc::new(Engine::start(cfg));
    let server = edge_gateway::opcua::start(
        cfg,
        cfg.opcua.as_ref().expect("the config has [opcua]"),
        engine.clone(),
        engine.health().clone(),
    )
    .await
    .expect("OPC UA server starts");
    (engine, server)
}
