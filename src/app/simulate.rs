//! `edge-gateway simulate`: only the built-in Modbus simulator, and the
//! simulator start that `run` shares.

use std::net::SocketAddr;
use std::sync::Arc;

use super::RunError;
use crate::config::{Config, SimulatorConfig};
use crate::sim::{SimError, Simulator};

/// Start the simulator's servers from its config; `listen` overrides its TCP address.
pub async fn start_simulator(
    s: &SimulatorConfig,
    listen: Option<SocketAddr>,
) -> Result<Arc<Simulator>, SimError> {
    let sim = Simulator::new(s)?;
    sim.start_tcp(listen.unwrap_or(s.listen)).await?;
    if let Some((port, baud)) = &s.rtu {
        sim.serve_rtu_port(port, *baud)?;
    }
    Ok(sim)
}

/// Run only the simulator (even with `enabled = false`) until `shutdown` resolves.
pub async fn simulate(
    config: &Config,
    listen: Option<SocketAddr>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RunError> {
    let s = config.simulator.as_ref().ok_or(RunError::NoSimulator)?;
    let _sim = start_simulator(s, listen).await?;
    shutdown.await;
    Ok(())
}
