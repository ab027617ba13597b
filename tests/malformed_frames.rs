//! A scripted fake Modbus TCP device that misbehaves on purpose: garbage,
//! wrong lengths, wrong transaction ids, dropped connections. The gateway must
//! mark the tag bad, reconnect, never take a wrong value, and recover.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::fake::{frame, read_frame};
use common::{config, tag, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::modbus::bus::Outcome;
use edge_gateway::tags::{DeviceId, Quality, Value};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// What the fake device does with the requests of one connection.
#[derive(Clone, Copy, Debug)]
enum Script {
    Garbage,
    ByteCountTooLarge,
    WrongTransactionId,
    WrongFunctionCode,
    CloseWithoutAnswer,
    TruncatedThenClose,
    Valid(u16),
}

/// Read one request; returns (transaction id, unit, function).
async fn read_request(s: &mut TcpStream) -> Option<(u16, u8, u8)> {
    let (tid, unit, pdu) = read_frame(s).await?;
    Some((tid, unit, pdu[0]))
}

async fn serve(mut s: TcpStream, script: Script) {
    while let Some((tid, unit, fc)) = read_request(&mut s).await {
        let out = match script {
            Script::Garbage => vec![
                0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
            ],
            Script::ByteCountTooLarge => frame(tid, unit, &[fc, 4, 0x12, 0x34, 0x56, 0x78]),
            Script::WrongTransactionId => frame(tid.wrapping_add(7), unit, &[fc, 2, 0x99, 0x99]),
            Script::WrongFunctionCode => frame(tid, unit, &[4, 2, 0x99, 0x99]),
            Script::CloseWithoutAnswer => return,
            Script::TruncatedThenClose => {
                let f = frame(tid, unit, &[fc, 2, 0x99, 0x99]);
                let _ = s.write_all(&f[..5]).await;
                return;
            }
            Script::Valid(v) => {
                let [hi, lo] = v.to_be_bytes();
                frame(tid, unit, &[fc, 2, hi, lo])
            }
        };
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn malformed_responses_mark_the_tag_bad_reset_the_connection_and_never_leak_a_value() {
    let scripts = [
        Script::Garbage,
        Script::ByteCountTooLarge,
        Script::WrongTransactionId,
        Script::WrongFunctionCode,
        Script::CloseWithoutAnswer,
        Script::TruncatedThenClose,
        Script::Valid(42),
    ];
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    let server = tokio::spawn(async move {
        // Bounded: one connection per script, then the last one keeps serving.
        for script in scripts {
            let Ok((s, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(serve(s, script));
        }
    });
    let text = format!(
        "[[device]]\nname = \"d\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"30ms\"\ntimeout = \"100ms\"\nretries = 0\n\
         backoff_min = \"10ms\"\nbackoff_max = \"20ms\"\n[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
    );
    let engine = Engine::start(&config(&text));
    let store = engine.store().clone();
    let counters = engine.counters().clone();
    let id = store.find("d", "t").unwrap();
    let changes = store.track_changes().unwrap();
    let mut ids = Vec::new();
    let mut seen = Vec::new();
    wait_until(
        "good after the fake device behaves",
        Duration::from_secs(20),
        || {
            ids.clear();
            changes.drain(&mut ids);
            for &changed in &ids {
                assert_eq!(changed, id);
                seen.push(store.snapshot(id).unwrap());
            }
            tag(&store, "d", "t").1 == Quality::Good
        },
    )
    .await;
    assert_eq!(tag(&store, "d", "t").0, Some(Value::U16(42)));
    assert_eq!(
        accepted.load(Ordering::Relaxed),
        7,
        "a new connection after every bad one"
    );
    // Every state before the good one was bad, and no garbage value was ever stored.
    for s in &seen[..seen.len() - 1] {
        assert!(matches!(s.quality, Quality::Bad(_)), "unexpected {s:?}");
        assert!(
            s.value.is_none(),
            "a value leaked from a malformed frame: {s:?}"
        );
    }
    let errors = counters.device(DeviceId::new(0)).unwrap();
    assert!(errors.outcome_total(Outcome::Error) + errors.outcome_total(Outcome::Timeout) >= 6);
    server.abort();
}
