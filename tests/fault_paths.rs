//! Devices that misbehave for a while and then recover: the gateway must
//! recover with them, without a restart.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::fake::{frame, read_frame};
use common::{config, tag, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::tags::{DeviceId, Quality, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

/// A PLC that is still booting: its first `refusals` reads that touch
/// register 5 get exception 02; every register holds its address + 100.
/// Counts refusals, and refusals of reads of more than one register.
async fn booting_plc(refusals: u32) -> (std::net::SocketAddr, Arc<AtomicU32>, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let refused = Arc::new(AtomicU32::new(0));
    let refused_blocks = Arc::new(AtomicU32::new(0));
    let (count, blocks) = (refused.clone(), refused_blocks.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (count, blocks) = (count.clone(), blocks.clone());
            tokio::spawn(async move {
                while let Some((tid, unit, pdu)) = read_frame(&mut s).await {
                    let start = u16::from_be_bytes([pdu[1], pdu[2]]);
                    let n = u16::from_be_bytes([pdu[3], pdu[4]]);
                    let touches_5 = (start..start + n).contains(&5);
                    let answer = if touches_5 && count.load(Ordering::SeqCst) < refusals {
                        count.fetch_add(1, Ordering::SeqCst);
                        if n > 1 {
                            blocks.fetch_add(1, Ordering::SeqCst);
                        }
                        vec![pdu[0] | 0x80, 2]
                    } else {
                        let mut a = vec![pdu[0], u8::try_from(n * 2).unwrap()];
                        for r in start..start + n {
                            a.extend((r + 100).to_be_bytes());
                        }
                        a
                    };
                    if s.write_all(&frame(tid, unit, &answer)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, refused, refused_blocks)
}

/// Polling tags r0..r9 (holding 0..9, one planned block) of `plc` at
/// `addr` every `poll`, merging split blocks back after 3 clean cycles.
fn ten_registers_of(addr: std::net::SocketAddr, poll: &str) -> Engine {
    let mut tags = String::new();
    for i in 0..10u16 {
        let _ = write!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\nkind = \"holding\"\naddress = {i}\ntype = \"u16\"\n"
        );
    }
    Engine::start(&config(&format!(
        "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"{poll}\"\ntimeout = \"500ms\"\nmerge_after = 3\n{tags}"
    )))
}

#[tokio::test]
async fn blocks_split_while_a_plc_boots_are_merged_back_after_clean_cycles() {
    let (addr, refused, _) = booting_plc(4).await;
    let engine = ten_registers_of(addr, "20ms");
    let store = engine.store().clone();
    let requests = || {
        store
            .device_status(DeviceId::new(0))
            .map_or(0, |s| s.requests_per_cycle)
    };
    wait_until("the block was split", WAIT, || requests() > 1).await;
    wait_until("the PLC finished booting", WAIT, || {
        refused.load(Ordering::SeqCst) >= 4
    })
    .await;
    wait_until("the planned block is read whole again", WAIT, || {
        requests() == 1 && (0..10).all(|i| tag(&store, "plc", &format!("r{i}")).1 == Quality::Good)
    })
    .await;
    for i in 0..10u16 {
        assert_eq!(
            tag(&store, "plc", &format!("r{i}")).0,
            Some(Value::U16(100 + i))
        );
    }
}

#[tokio::test]
async fn a_register_that_stays_unmapped_is_retried_ever_less_often() {
    let (addr, _, refused) = booting_plc(u32::MAX).await;
    let engine = ten_registers_of(addr, "2ms");
    let counters = engine.counters().clone();
    let cycles = || {
        counters
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(Ordering::Relaxed)
    };
    wait_until("200 cycles", Duration::from_secs(30), || cycles() >= 200).await;
    // One split costs a few refused block reads on the way down to the one
    // unmapped tag (itself refused every cycle, not counted here); merging
    // every 3 cycles would repeat that about 65 times, the doubling wait 6.
    let per_split = 4;
    let seen = refused.load(Ordering::SeqCst);
    assert!(
        seen <= per_split * 10,
        "{seen} refusals in 200 cycles: the merge is retried too often"
    );
    assert!(
        seen > per_split,
        "the merge was never retried ({seen} refusals)"
    );
    assert_eq!(
        tag(&engine.store().clone(), "plc", "r5").1,
        Quality::Bad(edge_gateway::tags::BadCause::Exception(
            edge_gateway::modbus::protocol::ExceptionCode::IllegalDataAddress
        ))
    );
}

#[tokio::test]
async fn values_of_a_bus_that_stops_finishing_cycles_age_on_every_read() {
    use edge_gateway::http::AppState;
    use edge_gateway::http::metrics::MetricsOptions;
    use edge_gateway::tags::BadCause;
    let (sim, addr) =
        common::start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 5\n").await;
    // The second request is answered after 30 s, well within the device's
    // 60 s timeout: no cycle ends, no poll fails, nothing is written to the store.
    sim.delay_next(None, 1, 1, Duration::from_secs(30));
    let engine = Engine::start(&config(&format!(
        "[[device]]\nname = \"d\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"100ms\"\ntimeout = \"60s\"\nstale_after = \"300ms\"\n\
         [[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
    )));
    let store = engine.store().clone();
    let id = store.find("d", "t").unwrap();
    let changes = store.track_changes().unwrap();
    wait_until("the first poll", WAIT, || {
        tag(&store, "d", "t").1 == Quality::Good
    })
    .await;
    let (http, _task) = edge_gateway::http::serve(
        "127.0.0.1:0".parse().unwrap(),
        AppState {
            store: store.clone(),
            counters: engine.counters().clone(),
            health: engine.health().clone(),
            metrics: MetricsOptions {
                gateway: "g".into(),
                tag_values: true,
            },
        },
    )
    .await
    .unwrap();
    wait_until("uncertain once unconfirmed for stale_after", WAIT, || {
        tag(&store, "d", "t") == (Some(Value::U16(5)), Quality::Uncertain(BadCause::Timeout))
    })
    .await;
    let (_, _, body) = common::http_get(http, "/api/tags").await;
    assert!(body.contains("\"quality\":\"uncertain\""), "{body}");
    wait_until("bad at twice that", WAIT, || {
        tag(&store, "d", "t").1 == Quality::Bad(BadCause::Timeout)
    })
    .await;
    let (_, _, body) = common::http_get(http, "/api/tags").await;
    assert!(body.contains("\"quality\":\"bad\""), "{body}");
    let (_, _, metrics) = common::http_get(http, "/metrics").await;
    assert!(
        !metrics.contains("edge_gateway_tag_value{"),
        "a bad tag has no sample: {metrics}"
    );
    // Subscribers hear of it: the store itself was aged and the tag marked.
    let mut ids = Vec::new();
    wait_until("the aged state reaches change tracking", WAIT, || {
        changes.drain(&mut ids);
        ids.contains(&id) && store.snapshot(id).unwrap().quality == Quality::Bad(BadCause::Timeout)
    })
    .await;
    assert!(
        engine.health().liveness().is_ok(),
        "a request within its timeout is not a wedge"
    );
}

#[tokio::test]
async fn a_flood_of_writes_does_not_starve_the_polls() {
    let (sim, addr) = common::start_sim(
        "[[simulator.register]]\naddress = \"40001\"\nvalue = 5\n[[simulator.register]]\naddress = \"40011\"\nvalue = 6\n",
    )
    .await;
    sim.set_delay(None, Duration::from_millis(5));
    let engine = Arc::new(Engine::start(&config(&format!(
        "[[device]]\nname = \"d\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"50ms\"\ntimeout = \"1s\"\nmax_gap = 0\n\
         [[device.tag]]\nname = \"sp\"\naddress = \"40001\"\ntype = \"u16\"\nwritable = true\n\
         [[device.tag]]\nname = \"pv\"\naddress = \"40011\"\ntype = \"u16\"\n"
    ))));
    let store = engine.store().clone();
    wait_until("the first poll", WAIT, || {
        tag(&store, "d", "pv").1 == Quality::Good
    })
    .await;
    let cycles = || {
        engine
            .counters()
            .device(DeviceId::new(0))
            .unwrap()
            .cycles
            .load(Ordering::Relaxed)
    };
    let before = cycles();
    // Twenty writers back to back for 1.5 s keep the write queue full.
    let until = tokio::time::Instant::now() + Duration::from_millis(1500);
    let flood: Vec<_> = (0..20u16)
        .map(|w| {
            let engine = engine.clone();
            tokio::spawn(async move {
                let id = engine.store().find("d", "sp").unwrap();
                let mut done = 0u32;
                while tokio::time::Instant::now() < until {
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
                    if engine.write_id(id, Value::U16(w), deadline).await.is_ok() {
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    let mut writes = 0;
    for w in flood {
        writes += w.await.unwrap();
    }
    let polled = cycles() - before;
    assert!(writes > 20, "the writes went through ({writes})");
    // A cycle is two poll requests; writes get at most 4 sends per poll request.
    assert!(
        polled >= 5,
        "{polled} cycles in 1.5 s beside {writes} writes: the writes starved the polls"
    );
    assert_eq!(tag(&store, "d", "pv").1, Quality::Good);
}
