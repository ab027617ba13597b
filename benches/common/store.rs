//! The store the benches share: `tags` f32 tags, every one good with a
//! value, in devices of 100 tags each (one bus): the worst case for anything
//! that walks every tag.

use std::time::{Duration, SystemTime};

use edge_gateway::tags::{DataType, DeviceId, DeviceMeta, TagId, TagMeta, TagStore, Value};

/// A store of `tags` good tags in 100-tag devices.
pub(crate) fn store(tags: usize) -> TagStore {
    let devices = tags.div_ceil(100);
    let store = TagStore::new(
        (0..devices)
            .map(|d| DeviceMeta {
                polled: true,
                name: format!("device{d}"),
                // Long enough that no value ages to uncertain or bad while a
                // bench runs: reads age unconfirmed values by the clock.
                poll: Duration::from_secs(3600),
                stale_after: Duration::from_secs(7200),
                bus: "tcp://127.0.0.1:502".into(),
            })
            .collect(),
        (0..tags)
            .map(|t| TagMeta {
                device: DeviceId::new(t / 100),
                name: format!("tag{t}").into(),
                data_type: DataType::F32,
                unit: Some("kWh".into()),
                description: None,
                writable: false,
                deadband: None,
            })
            .collect(),
    );
    let now = tokio::time::Instant::now();
    for t in 0..tags {
        store.set_good(
            TagId::new(t),
            Value::F32(230.5 + t as f32),
            SystemTime::now(),
            now,
        );
    }
    store
}
