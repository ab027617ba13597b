//! A reload under a subscribed OPC UA client: the session and subscription
//! stay open, a monitored tag of a removed device reports `BadNodeIdUnknown`,
//! one of a changed device follows it to its new registers, and the added
//! device is there to read.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, start_sim, wait_until};
use edge_gateway::config::{ConfigChanges, RunningConfig};
use opcua::client::{DataChangeCallback, EventCallback, Session};
use opcua::types::{
    AttributeId, DataValue, EventFilter, ExtensionObject, MonitoredItemCreateRequest,
    MonitoringParameters, NodeId, ObjectId, ObjectTypeId, ReadValueId, SimpleAttributeOperand,
    StatusCode, TimestampsToReturn, Variant,
};

const WAIT: Duration = Duration::from_secs(20);

/// Every notification each monitored node received, by its `NodeId` as text.
type Seen = Arc<Mutex<HashMap<String, Vec<DataValue>>>>;

fn last(seen: &Seen, node: &str) -> Option<DataValue> {
    seen.lock()
        .unwrap()
        .get(node)
        .and_then(|v| v.last().cloned())
}

async fn read(session: &Session, node: NodeId, attribute: AttributeId) -> DataValue {
    let read = ReadValueId {
        node_id: node,
        attribute_id: attribute as u32,
        ..Default::default()
    };
    session
        .read(&[read], TimestampsToReturn::Both, 0.0)
        .await
        .unwrap()
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribed_client_sees_removed_tags_go_unknown_and_changed_ones_follow() {
    let (_sim, sim) = start_sim(
        "[[simulator.register]]\naddress = \"40001\"\nvalue = 5\n\
         [[simulator.register]]\naddress = \"40002\"\nvalue = 7\n",
    )
    .await;
    let pki = std::env::temp_dir().join(format!("eg-opcua-reload-test-{}", std::process::id()));
    let head = format!(
        "[opcua]\nlisten = \"127.0.0.1:0\"\npki_dir = \"{}\"\nsecurity = [\"none\"]\nanonymous = \"read\"\n",
        pki.display()
    );
    let device = |name: &str, tag: &str, address: &str| {
        format!(
            "[[device]]\nname = \"{name}\"\nprotocol = \"tcp\"\nhost = \"{sim}\"\npoll = \"100ms\"\n\
             [[device.tag]]\nname = \"{tag}\"\naddress = \"{address}\"\ntype = \"u16\"\n"
        )
    };
    let before = config(&format!(
        "{head}{}{}{}",
        device("kept", "k", "40001"),
        device("dropped", "d", "40001"),
        device("changing", "c", "40001"),
    ));
    let (engine, server) = common::engine_with_opcua(&before).await;
    let store = engine.store().clone();
    wait_until("every tag polled", WAIT, || {
        store
            .tags()
            .all(|(id, _)| store.snapshot(id).unwrap().quality == edge_gateway::tags::Quality::Good)
    })
    .await;
    let (session, event_loop) =
        common::opcua_session(&server.endpoint_url, &pki.join("client")).await;
    let ns = server.namespace;

    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let sub = session
        .create_subscription(
            Duration::from_millis(100),
            100,
            10,
            0,
            0,
            true,
            DataChangeCallback::new(move |dv, item| {
                let node = item.item_to_monitor().node_id.to_string();
                sink.lock().unwrap().entry(node).or_default().push(dv);
            }),
        )
        .await
        .unwrap();
    let watched = [
        "kept.k",
        "dropped.d",
        "changing.c",
        "dropped._Status.Connected",
    ];
    let items: Vec<MonitoredItemCreateRequest> =
        watched.iter().map(|n| NodeId::new(ns, *n).into()).collect();
    let created = session
        .create_monitored_items(sub, TimestampsToReturn::Both, items)
        .await
        .unwrap();
    assert!(
        created
            .iter()
            .all(|c| c.result.status_code == StatusCode::Good)
    );
    let key = |n: &str| NodeId::new(ns, n).to_string();
    wait_until("an initial value for every item", WAIT, || {
        watched.iter().all(|n| last(&seen, &key(n)).is_some())
    })
    .await;

    // The Server object's model change events: which device folders changed.
    let events: Arc<Mutex<Vec<Vec<Variant>>>> = Arc::default();
    let events_sink = events.clone();
    let events_sub = session
        .create_subscription(
            Duration::from_millis(100),
            100,
            10,
            0,
            0,
            true,
            EventCallback::new(move |fields, _| {
                if let Some(fields) = fields {
                    events_sink.lock().unwrap().push(fields);
                }
            }),
        )
        .await
        .unwrap();
    let on_server = MonitoredItemCreateRequest {
        item_to_monitor: ReadValueId {
            node_id: ObjectId::Server.into(),
            attribute_id: AttributeId::EventNotifier as u32,
            ..Default::default()
        },
        monitoring_mode: opcua::types::MonitoringMode::Reporting,
        requested_parameters: MonitoringParameters {
            queue_size: 10,
            discard_oldest: true,
            filter: ExtensionObject::new(EventFilter {
                select_clauses: Some(vec![
                    SimpleAttributeOperand::new_value(ObjectTypeId::BaseEventType, "EventType"),
                    SimpleAttributeOperand::new_value(
                        ObjectTypeId::GeneralModelChangeEventType,
                        "Changes",
                    ),
                ]),
                where_clause: opcua::types::ContentFilter::default(),
            }),
            ..Default::default()
        },
    };
    let created = session
        .create_monitored_items(events_sub, TimestampsToReturn::Both, vec![on_server])
        .await
        .unwrap();
    assert_eq!(created[0].result.status_code, StatusCode::Good);

    let after = config(&format!(
        "{head}{}{}{}",
        device("kept", "k", "40001"),
        device("changing", "c", "40002"),
        device("added", "a", "40001"),
    ));
    let changes = ConfigChanges::between(&RunningConfig::of(&before), &after);
    engine.reshape(&after, &changes).unwrap();
    let reloaded = server.reload(&after).unwrap();
    assert_eq!((reloaded.followed, reloaded.gone), (1, 5), "{reloaded:?}");

    wait_until("the removed tag and status go unknown", WAIT, || {
        ["dropped.d", "dropped._Status.Connected"].iter().all(|n| {
            last(&seen, &key(n)).is_some_and(|dv| dv.status == Some(StatusCode::BadNodeIdUnknown))
        })
    })
    .await;
    wait_until("the changed tag follows its new register", WAIT, || {
        last(&seen, &key("changing.c")).is_some_and(|dv| {
            dv.status == Some(StatusCode::Good) && dv.value == Some(Variant::UInt16(7))
        })
    })
    .await;
    let added = read(&session, NodeId::new(ns, "added.a"), AttributeId::Value).await;
    assert_eq!(added.status, Some(StatusCode::Good), "{added:?}");
    assert_eq!(added.value, Some(Variant::UInt16(5)));
    let folder = read(&session, NodeId::new(ns, "added"), AttributeId::DisplayName).await;
    let Some(Variant::LocalizedText(name)) = &folder.value else {
        panic!("the added device's folder: {folder:?}");
    };
    assert_eq!(name.text.as_ref(), "added");
    for gone in ["dropped.d", "dropped"] {
        let dv = read(&session, NodeId::new(ns, gone), AttributeId::Value).await;
        assert_eq!(
            dv.status,
            Some(StatusCode::BadNodeIdUnknown),
            "{gone}: {dv:?}"
        );
    }
    wait_until("a GeneralModelChangeEvent", WAIT, || {
        !events.lock().unwrap().is_empty()
    })
    .await;
    let event = events.lock().unwrap()[0].clone();
    assert_eq!(
        event[0],
        Variant::from(NodeId::from(ObjectTypeId::GeneralModelChangeEventType)),
        "{event:?}"
    );
    let Variant::Array(changes) = &event[1] else {
        panic!("Changes is an array: {event:?}");
    };
    let changes: Vec<(String, u8)> = changes
        .values
        .iter()
        .map(|v| {
            let Variant::ExtensionObject(o) = v else {
                panic!("a ModelChangeStructureDataType: {v:?}");
            };
            let c = o
                .inner_as::<opcua::types::ModelChangeStructureDataType>()
                .expect("a ModelChangeStructureDataType");
            (c.affected.to_string(), c.verb)
        })
        .collect();
    assert_eq!(
        changes,
        [
            (key("dropped"), 2 | 8),
            (key("changing"), 4 | 8),
            (key("added"), 1 | 4)
        ],
        "deleted, changed children, added"
    );
    // The untouched device (polled every 100 ms, beside the others on the
    // simulator's one port) neither reconnected nor overran through it.
    let kept_device = store.meta(store.find("kept", "k").unwrap()).unwrap().device;
    let counters = engine.counters().device(kept_device).unwrap();
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        counters.connects.load(relaxed),
        1,
        "one connection, before and after"
    );
    assert_eq!(counters.overruns.load(relaxed), 0, "no cycle overran");
    let kept = last(&seen, &key("kept.k")).unwrap();
    assert_eq!(
        kept.status,
        Some(StatusCode::Good),
        "the untouched tag stays good: {kept:?}"
    );

    let _ = session.disconnect().await;
    event_loop.abort();
    drop(server);
    let _ = std::fs::remove_dir_all(&pki);
}
