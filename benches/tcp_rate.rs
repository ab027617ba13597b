//! Raw request rate of one Modbus TCP link, the code path every bus task uses
//! (`Link::call`: timeout wrapper, shape check, sequential requests on one
//! connection). The counterpart of libmodbus's `mbrate` from shared/bench.
//!
//! `cargo bench --bench tcp_rate -- [COUNT] [NREGS] [ADDR]`: COUNT sequential
//! reads of NREGS input registers at ADDR (host:port of `mbload`); without ADDR
//! it starts the built-in simulator on loopback. Prints requests/s and registers/s.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

use std::time::Duration;

use tokio::time::Instant;

use edge_gateway::config::{Backoff, Config};
use edge_gateway::modbus::link::{Link, Target};
use edge_gateway::sim::Simulator;
use tokio_modbus::prelude::Request;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let count: u32 = args.first().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let nregs: u16 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(125)
        .clamp(1, 125);
    let addr = args.get(2).cloned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let (_sim, target) = if let Some(a) = addr { (None, a) } else {
            let cfg = Config::parse("[simulator]\nlisten = \"127.0.0.1:0\"\n[[simulator.register]]\naddress = \"30001\"\n", "bench")
                .expect("bench config");
            let sim = Simulator::new(&cfg.simulator.expect("sim")).expect("sim");
            let bound = sim.start_tcp("127.0.0.1:0".parse().expect("addr")).await.expect("listen");
            (Some(sim), bound.to_string())
        };
        let backoff = Backoff { min: Duration::from_millis(100), max: Duration::from_secs(1) };
        let mut link = Link::new(Target::Tcp(target.clone()), backoff);
        let timeout = Duration::from_secs(1);
        // Warm up: connect and fill caches.
        for _ in 0..100 {
            let _ = link.call(1, Request::ReadInputRegisters(0, nregs), timeout, None).await;
        }
        let started = Instant::now();
        let mut failed = 0u32;
        for _ in 0..count {
            match link.call(1, Request::ReadInputRegisters(0, nregs), timeout, None).await {
                Ok(Ok(_)) => {}
                _ => failed += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let rate = f64::from(count) / secs;
        println!(
            "edge-gateway link {target}: {count} reads of {nregs} registers in {secs:.3} s: {rate:.0} requests/s, {:.2} M registers/s, {failed} failed",
            rate * f64::from(nregs) / 1e6
        );
    });
}
