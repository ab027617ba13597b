//! HTTP: the status page `/`, `/metrics`, `/healthz`, `/readyz` and the JSON
//! API (`/api/tags`, `/api/devices`, `/api/buses`, `/api/summary`).
//!
//! Nothing here is on the poll path: every response is built from the store,
//! the counters and the health state at request time.
//!
//! Layout: this file holds the router and the server; `listener` bounds the
//! connections and their timeouts; `api` the JSON views,
//! `health` the probes, `status` the page and its assets, `metrics` the Prometheus exposition (with `process`
//! for the process family), `time` the timestamp format of the JSON.

mod api;
mod health;
mod listener;
pub mod metrics;
pub mod process;
mod status;
mod time;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::health::Health;
use crate::modbus::bus::Counters;
use crate::tags::TagStore;
use metrics::{Encoding, MetricsOptions, MetricsRenderer};

pub use api::TOTAL_COUNT_HEADER;
pub use health::devices_up;
pub use listener::{HEADER_READ_TIMEOUT, HttpLimits};
pub use status::CONTENT_SECURITY_POLICY;
pub use time::rfc3339;

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Arc<TagStore>,
    /// The Modbus request counters, for `/metrics` and `/api/devices`.
    pub counters: Arc<Counters>,
    pub health: Arc<Health>,
    pub metrics: MetricsOptions,
}

/// Build the router; the `/metrics` renderer (with every tag's series
/// labels) is built here, once.
pub fn router(state: AppState) -> Router {
    let renderer = Arc::new(MetricsRenderer::new(
        state.store.clone(),
        state.counters.clone(),
        state.health.clone(),
        state.metrics.clone(),
    ));
    Router::new()
        .route(
            "/metrics",
            get(move |headers: HeaderMap| scrape(renderer.clone(), headers)),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/tags", get(api::tags))
        .route("/api/devices", get(api::devices))
        .route("/api/buses", get(api::buses))
        .route("/api/summary", get(api::summary))
        .merge(status::routes(&state.metrics.gateway))
        .with_state(state)
}

/// Bind and serve until the task is dropped; returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
) -> std::io::Result<(SocketAddr, tokio::task::AbortHandle)> {
    serve_with(listen, state, HttpLimits::default()).await
}

/// `serve` with the connection bounds of the config.
pub async fn serve_with(
    listen: SocketAddr,
    state: AppState,
    limits: HttpLimits,
) -> std::io::Result<(SocketAddr, tokio::task::AbortHandle)> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let health = state.health.clone();
    let app = router(state);
    let task = tokio::spawn(listener::accept_loop(listener, app, limits));
    Ok((bound, health.watch("HTTP server", task)))
}

/// `/metrics`: rendered whole at each scrape, gzipped when the scraper
/// accepts it. A large scrape takes milliseconds of CPU, so it is rendered on
/// the blocking pool rather than on a runtime worker that serves OPC UA.
async fn scrape(renderer: Arc<MetricsRenderer>, headers: HeaderMap) -> impl IntoResponse {
    let wanted = Encoding::negotiate(
        headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    );
    let body = tokio::task::spawn_blocking(move || renderer.body(wanted)).await;
    let (encoding, body) = match body {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "rendering /metrics failed");
            return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let mut response = (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(metrics::CONTENT_TYPE),
            ),
            (header::VARY, HeaderValue::from_static("accept-encoding")),
        ],
        body,
    )
        .into_response();
    if encoding == Encoding::Gzip {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}
