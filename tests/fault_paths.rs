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

#[tokio::test]
async fn blocks_split_while_a_plc_boots_are_merged_back_after_clean_cycles() {
    let (addr, refused, _) = booting_plc(4).await;
    let mut tags = String::new();
    for i in 0..10u16 {
        let _ = write!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\nkind = \"holding\"\naddress = {i}\ntype = \"u16\"\n"
        );
    }
    let engine = Engine::start(&config(&format!(
        "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"20ms\"\ntimeout = \"500ms\"\nmerge_after = 3\n{tags}"
    )));
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
    let mut tags = String::new();
    for i in 0..10u16 {
        let _ = write!(
            tags,
            "[[device.tag]]\nname = \"r{i}\"\nkind = \"holding\"\naddress = {i}\ntype = \"u16\"\n"
        );
    }
    let engine = Engine::start(&config(&format!(
        "[[device]]\nname = \"plc\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"2ms\"\ntimeout = \"500ms\"\nmerge_after = 3\n{tags}"
    )));
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
