//! HTTP: `/metrics`, `/healthz`, `/readyz`, `/api/tags` and `/api/devices`.
//!
//! Nothing here is on the poll path: every response is built from the store,
//! the counters and the health state at request time.
//!
//! Layout: this file holds the router and the server; `api` the JSON views,
//! `health` the probes, `metrics` the Prometheus exposition (with `process`
//! for the process family), `time` the timestamp format of the JSON.

mod api;
mod health;
pub mod metrics;
pub mod process;
mod time;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::health::Health;
use crate::modbus::bus::Counters;
use crate::tags::TagStore;
use metrics::MetricsOptions;

pub use health::devices_up;
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

/// Build the router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/tags", get(api::tags))
        .route("/api/devices", get(api::devices))
        .with_state(state)
}

/// Bind and serve until the task is dropped; returns the bound address.
pub async fn serve(
    listen: SocketAddr,
    state: AppState,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let bound = listener.local_addr()?;
    let app = router(state);
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    Ok((bound, task))
}

/// `/metrics`: rendered whole at each scrape.
async fn scrape(State(s): State<AppState>) -> impl IntoResponse {
    let body = metrics::render(&s.store, &s.counters, &s.health, &s.metrics);
    (
        [(axum::http::header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        body,
    )
}
