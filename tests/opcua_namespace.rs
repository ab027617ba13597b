//! The tag namespace served by the gateway's own node manager, seen through
//! a client: browse with continuation points across a large device folder,
//! `TranslateBrowsePaths` from Objects, a subscription over every tag of the
//! device with an initial value each, and the answers for nodes that are
//! not tags.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{config, start_sim, wait_until};
use opcua::client::{DataChangeCallback, Session};
use opcua::types::{
    AttributeId, BrowseDescription, BrowseDirection, BrowsePath, BrowseResultMask, DataValue,
    MonitoredItemCreateRequest, NodeClass, NodeId, ReadValueId, ReferenceDescription,
    ReferenceTypeId, RelativePath, RelativePathElement, StatusCode, TimestampsToReturn, Variant,
    WriteValue,
};

const WAIT: Duration = Duration::from_secs(20);
const TAGS: usize = 300;

/// Every reference of `node`, following continuation points, `per_call` at a time.
async fn browse_all(
    session: &Session,
    node: NodeId,
    per_call: u32,
) -> (Vec<ReferenceDescription>, usize) {
    let description = BrowseDescription {
        node_id: node,
        browse_direction: BrowseDirection::Both,
        reference_type_id: NodeId::null(),
        include_subtypes: true,
        node_class_mask: 0,
        result_mask: BrowseResultMask::All as u32,
    };
    let mut result = session
        .browse(&[description], per_call, None)
        .await
        .unwrap()
        .remove(0);
    let mut refs = Vec::new();
    let mut calls = 1;
    loop {
        assert_eq!(result.status_code, StatusCode::Good);
        let page = result.references.take().unwrap_or_default();
        assert!(
            page.len() <= per_call as usize,
            "a page holds at most what was asked"
        );
        refs.extend(page);
        if result.continuation_point.is_null() {
            return (refs, calls);
        }
        calls += 1;
        assert!(calls < 100, "browse never ends");
        result = session
            .browse_next(false, &[result.continuation_point.clone()])
            .await
            .unwrap()
            .remove(0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_device_browses_translates_and_subscribes() {
    // One register makes unit 1 known; the others read 0.
    let (_sim, sim_addr) =
        start_sim("[[simulator.register]]\naddress = \"40001\"\nvalue = 5\n").await;
    let pki = std::env::temp_dir().join(format!("eg-opcua-ns-test-{}", std::process::id()));
    let mut text = format!(
        "[gateway]\nname = \"cell 7\"\n[opcua]\nlisten = \"127.0.0.1:0\"\npki_dir = \"{}\"\nsecurity = [\"none\"]\nanonymous = \"read\"\n\
         [[device]]\nname = \"farm\"\nprotocol = \"tcp\"\nhost = \"{sim_addr}\"\npoll = \"100ms\"\ntimeout = \"200ms\"\n",
        pki.display()
    );
    for i in 0..TAGS {
        let _ = writeln!(
            text,
            "[[device.tag]]\nname = \"r{i}\"\naddress = \"4{:04}\"\ntype = \"u16\"",
            i + 1
        );
    }
    let cfg = config(&text);
    let (engine, server) = common::engine_with_opcua(&cfg).await;
    let store = engine.store().clone();
    wait_until("every tag polled", WAIT, || {
        (0..TAGS).all(|i| {
            store
                .snapshot(edge_gateway::tags::TagId::new(i))
                .unwrap()
                .quality
                == edge_gateway::tags::Quality::Good
        })
    })
    .await;
    let (session, event_loop) =
        common::opcua_session(&server.endpoint_url, &pki.join("client")).await;
    let ns = server.namespace;

    // Browse the device folder 50 references at a time.
    let (refs, calls) = browse_all(&session, NodeId::new(ns, "farm"), 50).await;
    assert!(calls > 1, "continuation points were used");
    let tags: Vec<String> = refs
        .iter()
        .filter(|r| r.is_forward && r.node_class == NodeClass::Variable)
        .map(|r| r.browse_name.name.to_string())
        .collect();
    let expected: Vec<String> = (0..TAGS).map(|i| format!("r{i}")).collect();
    assert_eq!(tags, expected, "every tag once, in config order");
    let names: HashSet<String> = refs
        .iter()
        .map(|r| r.browse_name.name.to_string())
        .collect();
    assert!(
        names.contains("_Status") && names.contains("FolderType") && names.contains("cell 7"),
        "{names:?}"
    );
    let parent = refs
        .iter()
        .find(|r| !r.is_forward)
        .expect("the parent, inverse");
    assert_eq!(parent.node_id.node_id, NodeId::new(ns, "gateway:cell 7"));
    assert_eq!(
        parent.reference_type_id,
        NodeId::from(ReferenceTypeId::Organizes)
    );

    // Objects -> the gateway folder -> the device -> a tag.
    let path = BrowsePath {
        starting_node: NodeId::objects_folder_id(),
        relative_path: RelativePath {
            elements: Some(
                ["cell 7", "farm", "r17"]
                    .into_iter()
                    .map(|name| RelativePathElement {
                        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
                        is_inverse: false,
                        include_subtypes: true,
                        target_name: opcua::types::QualifiedName::new(ns, name),
                    })
                    .collect(),
            ),
        },
    };
    let translated = session
        .translate_browse_paths_to_node_ids(&[path])
        .await
        .unwrap()
        .remove(0);
    assert_eq!(translated.status_code, StatusCode::Good);
    let targets = translated.targets.unwrap_or_default();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].target_id.node_id, NodeId::new(ns, "farm.r17"));

    // Nodes that are not tags.
    let unknown = session
        .read(
            &[ReadValueId::from(NodeId::new(ns, "farm.nope"))],
            TimestampsToReturn::Both,
            0.0,
        )
        .await
        .unwrap()
        .remove(0);
    assert_eq!(unknown.status, Some(StatusCode::BadNodeIdUnknown));
    let status_write = WriteValue {
        node_id: NodeId::new(ns, "farm._Status.Connected"),
        attribute_id: AttributeId::Value as u32,
        index_range: opcua::types::NumericRange::default(),
        value: DataValue::value_only(Variant::Boolean(false)),
    };
    assert_eq!(
        session.write(&[status_write]).await.unwrap(),
        vec![StatusCode::BadNotWritable]
    );

    // One subscription over every tag: each gets its initial value.
    let seen: Arc<Mutex<HashSet<u32>>> = Arc::default();
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
                if dv.status == Some(StatusCode::Good) {
                    sink.lock().unwrap().insert(item.client_handle());
                }
            }),
        )
        .await
        .unwrap();
    let items: Vec<MonitoredItemCreateRequest> = (0..TAGS)
        .map(|i| NodeId::new(ns, format!("farm.r{i}")).into())
        .collect();
    let created = session
        .create_monitored_items(sub, TimestampsToReturn::Both, items)
        .await
        .unwrap();
    assert!(
        created
            .iter()
            .all(|c| c.result.status_code == StatusCode::Good)
    );
    wait_until("an initial value for every item", WAIT, || {
        seen.lock().unwrap().len() == TAGS
    })
    .await;

    let _ = session.disconnect().await;
    event_loop.abort();
    drop(server);
    let _ = std::fs::remove_dir_all(&pki);
}
