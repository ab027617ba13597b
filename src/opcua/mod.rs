//! The OPC UA server: the tag model for SCADA and HMI clients (async-opcua).
//!
//! - The tag namespace is served by our own node manager straight from the tag
//!   store (`manager`): described, not stored (`space`), browsed (`browse`),
//!   read from the store (`read`). The tags that changed reach subscriptions
//!   from the store's change tracking once per `min_sampling_interval`, and
//!   `_Status` once a second (`sync`).
//! - Writes go through `Engine::write_id` after the tag's `writable` flag and the
//!   user's `can_write` are checked (`write`, `auth`).
//! - Endpoints and user tokens from `[opcua]`; an own certificate with the
//!   gateway's name and application URI is made on first start in `pki_dir`;
//!   unknown client certificates are refused and stored in `pki_dir/rejected/`.
//!
//! URIs: application `urn:edge-gateway:<gateway>`, tag namespace
//! `urn:edge-gateway:<gateway>:tags` (characters other than letters, digits,
//! '.', '_' and '-' in the name become '-').

mod auth;
mod browse;
pub mod certificate;
mod manager;
mod model_change;
pub mod password;
pub mod pki;
mod read;
mod reload;
mod space;
mod sync;
mod units;
pub mod values;
mod write;

use std::net::SocketAddr;
use std::sync::Arc;

use opcua::crypto::SecurityPolicy;
use opcua::server::{
    ANONYMOUS_USER_TOKEN_ID, Limits, ServerBuilder, ServerCapabilities, ServerEndpoint,
    ServerHandle,
};
use opcua::types::{BuildInfo, DateTime, MessageSecurityMode};
use tokio::task::AbortHandle;

use crate::config::{Config, OpcuaConfig, Security};
use crate::engine::Engine;
use crate::health::Health;
pub use manager::GatewayNodes;
pub use reload::NodesReloaded;
pub use space::namespace_uri;
pub use units::eu_information;

/// The product, as clients see it in `ServerStatus/BuildInfo` and the application description.
const PRODUCT_URI: &str = "urn:edge-gateway";

/// What the server tells clients about itself (`ServerStatus/BuildInfo`), so
/// that UaExpert-style clients name the product, its version and its build.
/// The build number and date are the commit's (see build.rs); a build outside
/// a git checkout reports the number "unknown" and a null date.
fn build_info() -> BuildInfo {
    let built: u64 = env!("EDGE_GATEWAY_BUILD_DATE").parse().unwrap_or(0);
    let build_date = if built == 0 {
        DateTime::null()
    } else {
        values::datetime(std::time::UNIX_EPOCH + std::time::Duration::from_secs(built))
    };
    BuildInfo {
        product_uri: PRODUCT_URI.into(),
        manufacturer_name: "edge-gateway developers".into(),
        product_name: "edge-gateway".into(),
        software_version: env!("CARGO_PKG_VERSION").into(),
        build_number: env!("EDGE_GATEWAY_BUILD_NUMBER").into(),
        build_date,
    }
}

/// The OPC UA profile the server declares in `ServerProfileArray`: the
/// Embedded 2017 server profile (Part 7): sessions, browse, read, write,
/// data-change subscriptions and the `Basic256Sha256` and user-name facets,
/// which is what the gateway serves. A declaration, not a certification.
pub const SERVER_PROFILE: &str = "http://opcfoundation.org/UA-Profile/Server/EmbeddedUA2017";

/// The capabilities clients read under `Server/ServerCapabilities`.
fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        profiles: vec![SERVER_PROFILE.to_owned()],
        ..ServerCapabilities::default()
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum OpcuaError {
    #[error("cannot create the OPC UA certificate in {dir}: {reason}")]
    Certificate { dir: String, reason: String },
    #[error("OPC UA server setup: {0}")]
    Setup(String),
    #[error("cannot listen for OPC UA on {addr}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running OPC UA server; dropping it stops the server.
pub struct OpcuaServer {
    handle: ServerHandle,
    /// Where clients connect, e.g. `opc.tcp://127.0.0.1:4840/`.
    pub endpoint_url: String,
    /// Namespace index of the tags.
    pub namespace: u16,
    nodes: Arc<GatewayNodes>,
    tasks: Vec<AbortHandle>,
}

impl std::fmt::Debug for OpcuaServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpcuaServer")
            .field("endpoint_url", &self.endpoint_url)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl OpcuaServer {
    /// Serve the namespace of `config`, which the engine was just reshaped
    /// to; sessions and subscriptions stay open.
    pub fn reload(&self, config: &Config) -> Result<NodesReloaded, crate::append::Full> {
        self.nodes.reload(config)
    }
}

impl Drop for OpcuaServer {
    fn drop(&mut self) {
        self.handle.cancel();
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Letters, digits, '.', '_' and '-' kept; anything else becomes '-'.
pub(crate) fn uri_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The application URI of a gateway (also in its certificate).
pub fn application_uri(gateway: &str) -> String {
    format!("urn:edge-gateway:{}", uri_safe(gateway))
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn endpoint(security: Security, tokens: &[String]) -> (String, ServerEndpoint) {
    let (policy, mode) = match security {
        Security::None => (SecurityPolicy::None, MessageSecurityMode::None),
        Security::Basic256Sha256Sign => (SecurityPolicy::Basic256Sha256, MessageSecurityMode::Sign),
        Security::Basic256Sha256SignEncrypt => (
            SecurityPolicy::Basic256Sha256,
            MessageSecurityMode::SignAndEncrypt,
        ),
        Security::Aes128Sha256RsaOaepSignEncrypt => (
            SecurityPolicy::Aes128Sha256RsaOaep,
            MessageSecurityMode::SignAndEncrypt,
        ),
        Security::Aes256Sha256RsaPssSignEncrypt => (
            SecurityPolicy::Aes256Sha256RsaPss,
            MessageSecurityMode::SignAndEncrypt,
        ),
    };
    let id = Security::NAMES
        .iter()
        .find(|(_, s)| *s == security)
        .map_or("endpoint", |(n, _)| n);
    (
        id.to_owned(),
        ServerEndpoint::new("/", policy, mode, tokens),
    )
}

/// Monitored items a client may need: every variable twice over, plus slack.
pub fn default_monitored_items(tags: usize, devices: usize) -> usize {
    tags.saturating_add(devices.saturating_mul(4))
        .saturating_mul(2)
        .saturating_add(1000)
        .min(1_000_000)
}

fn limits(cfg: &OpcuaConfig, tags: usize, devices: usize) -> Limits {
    let mut l = Limits::default();
    let items = cfg
        .limits
        .max_monitored_items
        .unwrap_or_else(|| default_monitored_items(tags, devices));
    l.max_sessions = cfg.limits.max_sessions;
    l.max_connections = cfg.limits.max_connections;
    l.max_message_size = cfg.limits.max_message_size;
    // Chunks are collected before any decoding: no more than the message needs.
    l.max_chunk_count = cfg.limits.max_chunk_count.unwrap_or_else(|| {
        cfg.limits
            .max_message_size
            .div_ceil(65_535)
            .saturating_add(1)
    });
    // The decoder caps every array, request item lists included.
    l.max_array_length = items.max(l.max_array_length);
    l.subscriptions.max_subscriptions_per_session = cfg.limits.max_subscriptions_per_session;
    l.subscriptions.max_monitored_items_per_sub = items;
    l.subscriptions.min_publishing_interval_ms =
        cfg.limits.min_publishing_interval.as_secs_f64() * 1000.0;
    l.subscriptions.min_sampling_interval_ms =
        cfg.limits.min_sampling_interval.as_secs_f64() * 1000.0;
    l.operational.max_monitored_items_per_call = items;
    l.operational.max_nodes_per_read = items.max(l.operational.max_nodes_per_read);
    l.operational.max_nodes_per_browse = items.max(l.operational.max_nodes_per_browse);
    l.operational.max_references_per_browse_node =
        items.max(l.operational.max_references_per_browse_node);
    l
}

/// Start the server for `config.opcua` on a bound listener; returns once it accepts.
pub async fn start(
    config: &Config,
    cfg: &OpcuaConfig,
    engine: Arc<Engine>,
    health: Arc<Health>,
) -> Result<OpcuaServer, OpcuaError> {
    let gateway = config.gateway_name.clone();
    let app_uri = application_uri(&gateway);
    let hostname = cfg.hostname.clone().unwrap_or_else(|| {
        // On loopback, the address itself is what clients dial.
        if cfg.listen.ip().is_loopback() {
            cfg.listen.ip().to_string()
        } else {
            machine_hostname()
        }
    });
    pki::ensure_dirs(&cfg.pki_dir).map_err(|e| OpcuaError::Certificate {
        dir: cfg.pki_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    {
        let (dir, gateway, app_uri, hostname) = (
            cfg.pki_dir.clone(),
            gateway.clone(),
            app_uri.clone(),
            hostname.clone(),
        );
        // RSA key generation takes seconds on a Pi: not on a runtime worker.
        tokio::task::spawn_blocking(move || {
            certificate::ensure(&dir, &gateway, &app_uri, &hostname)
        })
        .await
        .map_err(|e| OpcuaError::Certificate {
            dir: cfg.pki_dir.display().to_string(),
            reason: e.to_string(),
        })??;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| OpcuaError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| OpcuaError::Listen {
            addr: cfg.listen,
            source,
        })?
        .port();
    // An IPv6 literal needs brackets in a URL.
    let url_host = if hostname.contains(':') {
        format!("[{hostname}]")
    } else {
        hostname.clone()
    };
    let endpoint_url = format!("opc.tcp://{url_host}:{port}/");

    let auth = auth::GatewayAuth::new(cfg.anonymous_read, &cfg.users);
    let tokens: Vec<String> = if cfg.anonymous_read {
        vec![ANONYMOUS_USER_TOKEN_ID.to_owned()]
    } else {
        Vec::new()
    };
    let ns_uri = namespace_uri(&gateway);
    let nodes_config = config.clone();
    let (nodes_engine, nodes_auth, nodes_ns_uri) = (engine.clone(), auth.clone(), ns_uri.clone());
    let mut builder = ServerBuilder::new()
        .application_name(gateway.clone())
        .application_uri(app_uri.clone())
        .product_uri(PRODUCT_URI)
        .build_info(build_info())
        .capabilities(capabilities())
        .host(hostname.clone())
        .port(port)
        .discovery_urls(vec![endpoint_url.clone()])
        .pki_dir(cfg.pki_dir.clone())
        .certificate_path(pki::OWN_CERT)
        .private_key_path(pki::OWN_KEY)
        .create_sample_keypair(false)
        .trust_client_certs(false)
        .diagnostics_enabled(true)
        .limits(limits(cfg, engine.store().len(), config.devices.len()))
        .subscription_poll_interval_ms(
            u64::try_from(cfg.limits.min_publishing_interval.as_millis())
                .unwrap_or(100)
                .max(10),
        )
        .with_authenticator(auth)
        .with_node_manager(move |ctx: opcua::server::node_manager::ServerContext| {
            GatewayNodes::new(&ctx, nodes_ns_uri, nodes_engine, nodes_auth, &nodes_config)
        });
    for security in &cfg.security {
        let (id, ep) = endpoint(*security, &tokens);
        builder = builder.add_endpoint(id, ep);
    }
    let (server, handle) = builder.build().map_err(OpcuaError::Setup)?;
    let nm: Arc<GatewayNodes> = handle
        .node_managers()
        .get_of_type()
        .ok_or_else(|| OpcuaError::Setup("node manager missing".into()))?;
    let namespace = nm.namespace_index();

    let mut tasks = Vec::new();
    tasks.push(health.watch(
        "OPC UA server",
        tokio::spawn(async move {
            if let Err(e) = server.run_with(listener).await {
                tracing::error!(error = %e, "OPC UA server stopped");
            }
        }),
    ));
    let changes = engine
        .store()
        .track_changes()
        .map_err(|e| OpcuaError::Setup(e.to_string()))?;
    tasks.push(health.watch(
        "OPC UA value sync",
        tokio::spawn(sync::push_values(
            nm.clone(),
            changes,
            cfg.limits.min_sampling_interval,
        )),
    ));
    tasks.push(health.watch(
        "OPC UA status sync",
        tokio::spawn(sync::refresh_status(
            nm.clone(),
            handle.clone(),
            health.clone(),
            cfg.pki_dir.clone(),
        )),
    ));
    tracing::info!(endpoint = %endpoint_url, namespace = %ns_uri, security = ?cfg.security, anonymous_read = cfg.anonymous_read, users = cfg.users.len(), "OPC UA server listening");
    Ok(OpcuaServer {
        handle,
        endpoint_url,
        namespace,
        nodes: nm,
        tasks,
    })
}
