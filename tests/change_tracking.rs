#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! A consumer of the store's change tracking that falls far behind a burst
//! of changes still ends with every tag's final state, without a replay.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use edge_gateway::tags::{
    BadCause, DataType, DeviceId, DeviceMeta, Quality, TagId, TagMeta, TagStore, Value,
};
use tokio::time::Instant;

const TAGS: usize = 100_000;
/// Tag `i`'s value in round `round`.
fn value_of(round: u32, i: usize) -> Value {
    Value::U32(round * 100_000 + u32::try_from(i).unwrap())
}
/// Every tag changes this many times; the consumer looks far less often.
const ROUNDS: u32 = 20;

fn store() -> TagStore {
    let device = DeviceMeta {
        name: "farm".into(),
        polled: true,
        // Reads age values by the real clock: on a loaded machine the burst
        // can take seconds, and a tag must not age to bad during it.
        poll: Duration::from_secs(600),
        stale_after: Duration::from_secs(3600),
        bus: "tcp://127.0.0.1:502".into(),
    };
    let tags = (0..TAGS)
        .map(|i| TagMeta {
            device: DeviceId::new(0),
            name: format!("t{i}").into(),
            data_type: DataType::U32,
            unit: None,
            description: None,
            writable: false,
            deadband: None,
        })
        .collect();
    TagStore::new(vec![device], tags)
}

#[test]
fn a_slow_consumer_ends_with_every_tags_final_state() {
    let store = Arc::new(store());
    let changes = store.track_changes().unwrap();
    // The consumer's own copy of the tags, as a northbound face keeps one.
    let mut mirror: Vec<Option<(Option<Value>, Quality)>> = vec![None; TAGS];
    let mut ids = Vec::new();

    let producer = {
        let store = store.clone();
        std::thread::spawn(move || {
            let now = Instant::now();
            for round in 0..ROUNDS {
                for i in 0..TAGS {
                    let id = TagId::new(i);
                    // Every 7th tag goes uncertain on the last round: a status
                    // change without a value change must arrive too.
                    if round == ROUNDS - 1 && i % 7 == 0 {
                        store.set_failed(id, BadCause::Timeout, SystemTime::now(), now);
                    } else {
                        store.set_good(id, value_of(round, i), SystemTime::now(), now);
                    }
                }
            }
        })
    };
    let apply = |ids: &mut Vec<TagId>, mirror: &mut Vec<Option<(Option<Value>, Quality)>>| {
        ids.clear();
        changes.drain(ids);
        for &id in ids.iter() {
            let s = store.snapshot(id).unwrap();
            mirror[id.index()] = Some((s.value, s.quality));
        }
    };
    // Look now and then while the burst runs (bounded: the producer ends).
    while !producer.is_finished() {
        apply(&mut ids, &mut mirror);
        std::thread::sleep(Duration::from_millis(50));
    }
    producer.join().unwrap();
    apply(&mut ids, &mut mirror);

    for (i, seen) in mirror.iter().enumerate() {
        let s = store.snapshot(TagId::new(i)).unwrap();
        assert_eq!(
            seen.as_ref(),
            Some(&(s.value.clone(), s.quality)),
            "tag {i}: the consumer's copy differs from the store"
        );
        if i % 7 == 0 {
            assert_eq!(s.quality, Quality::Uncertain(BadCause::Timeout), "tag {i}");
        } else {
            assert_eq!(s.value, Some(value_of(ROUNDS - 1, i)), "tag {i}");
        }
    }
    assert!(!changes.has_changes());
}

#[test]
fn many_changes_of_one_tag_between_two_looks_are_one_read() {
    let store = store();
    let changes = store.track_changes().unwrap();
    let mut ids = Vec::new();
    changes.drain(&mut ids);
    let now = Instant::now();
    for v in 0..1000 {
        store.set_good(TagId::new(42), Value::U32(v), SystemTime::now(), now);
    }
    ids.clear();
    assert_eq!(changes.drain(&mut ids), 1);
    assert_eq!(ids, vec![TagId::new(42)]);
    assert_eq!(store.snapshot(ids[0]).unwrap().value, Some(Value::U32(999)));
}
