//! The gateway's node manager: the tag namespace served straight from the
//! tag store (async-opcua's `NodeManager` trait), with no address space of
//! its own.
//!
//! Browse and attribute reads come from the namespace description
//! (`space`, `browse`); a tag's Value from the store; writes go through the
//! engine (`write`). Subscriptions are fed by `notify_changed`, which the value
//! sync calls with the tags that changed: only tags some client monitors
//! cost anything there, counted per tag as monitored items come and go.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use opcua::server::CreateMonitoredItem;
use opcua::server::SubscriptionCache;
use opcua::server::address_space::{read_node_value, validate_node_read};
use opcua::server::diagnostics::NamespaceMetadata;
use opcua::server::node_manager::{
    BrowseNode, BrowsePathItem, MonitoredItemRef, NodeManager, ParsedReadValueId, ReadNode,
    RequestContext, ServerContext, WriteNode, impl_translate_browse_paths_using_browse,
};
use opcua::types::{
    AttributeId, DataEncoding, DataValue, DateTime, NodeId, NumericRange, StatusCode,
    TimestampsToReturn,
};

use super::auth::GatewayAuth;
use super::space::{NodeRef, StatusVar, TagSpace};
use crate::append::AppendVec;
use crate::config::Config;
use crate::engine::Engine;
use crate::tags::TagId;

/// Notifications handed to the stack per call, at most, so that one call
/// does not hold the subscriptions' lock for long.
const NOTIFY_BATCH: usize = 4096;

/// The node manager of the tag namespace.
pub struct GatewayNodes {
    /// The namespace as of the last reload; requests take a copy of the
    /// `Arc`, so one request sees one namespace throughout.
    space: RwLock<Arc<TagSpace>>,
    ns: u16,
    namespace: NamespaceMetadata,
    pub(super) engine: Arc<Engine>,
    pub(super) auth: Arc<GatewayAuth>,
    subscriptions: Arc<SubscriptionCache>,
    /// The longest one Write request may take (`[opcua] max_write_time`).
    pub(super) max_write_time: Duration,
    /// Monitored items on each tag's Value, by `TagId`, grown with the store.
    monitored: AppendVec<AtomicU32>,
}

impl std::fmt::Debug for GatewayNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayNodes")
            .field("namespace", &self.namespace.namespace_uri)
            .field("tags", &self.monitored.len())
            .finish_non_exhaustive()
    }
}

impl GatewayNodes {
    /// The node manager for `config`'s tags in namespace `namespace_uri`,
    /// registered with the server being built (`context`).
    pub fn new(
        context: &ServerContext,
        namespace_uri: String,
        engine: Arc<Engine>,
        auth: Arc<GatewayAuth>,
        config: &Config,
    ) -> Self {
        let ns = context
            .type_tree
            .write()
            .namespaces_mut()
            .add_namespace(&namespace_uri);
        let store = engine.store().clone();
        let monitored = AppendVec::new((0..store.len()).map(|_| AtomicU32::new(0)).collect());
        let max_write_time = config
            .opcua
            .as_ref()
            .map_or(crate::config::defaults::OPCUA_MAX_WRITE_TIME, |o| {
                o.limits.max_write_time
            });
        GatewayNodes {
            space: RwLock::new(Arc::new(TagSpace::new(
                ns,
                &config.gateway_name,
                &config.devices,
                store,
            ))),
            ns,
            namespace: NamespaceMetadata {
                namespace_uri,
                namespace_index: ns,
                ..Default::default()
            },
            engine,
            auth,
            subscriptions: context.subscriptions.clone(),
            max_write_time,
            monitored,
        }
    }

    /// Monitored items on a tag's Value.
    pub(super) fn monitored_on(&self, id: TagId) -> Option<&AtomicU32> {
        self.monitored.get(id.index())
    }

    /// Room for the monitored item counts of every tag of the store.
    pub(super) fn cover_monitored(&self) -> Result<(), crate::append::Full> {
        let missing = self
            .space()
            .store()
            .len()
            .saturating_sub(self.monitored.len());
        self.monitored
            .extend((0..missing).map(|_| AtomicU32::new(0)))
            .map(|_| ())
    }

    /// The subscriptions of every session, for notifications.
    pub(super) fn subscriptions(&self) -> &SubscriptionCache {
        &self.subscriptions
    }

    /// The namespace index of the tags.
    pub fn namespace_index(&self) -> u16 {
        self.ns
    }

    /// The namespace as it is now.
    pub(super) fn space(&self) -> Arc<TagSpace> {
        crate::lock::read(&self.space).clone()
    }

    /// Serve the namespace of a reloaded config from now on.
    pub(super) fn replace_space(&self, space: TagSpace) {
        *crate::lock::write(&self.space) = Arc::new(space);
    }

    /// The `NodeId` of a tag.
    pub fn tag_node_id(&self, id: TagId) -> NodeId {
        self.space().node_id(NodeRef::Tag(id))
    }

    /// Hand the latest state of these changed tags to the subscriptions
    /// that monitor them; tags nobody monitors are skipped.
    pub fn notify_changed(&self, ids: &[TagId]) {
        let space = self.space();
        let now = DateTime::now();
        let watched = ids.iter().copied().filter(|t| {
            self.monitored
                .get(t.index())
                .is_some_and(|n| n.load(Ordering::Relaxed) > 0)
        });
        let mut nodes = Vec::with_capacity(NOTIFY_BATCH.min(ids.len()));
        let mut values = Vec::with_capacity(nodes.capacity());
        let mut watched = watched.peekable();
        while watched.peek().is_some() {
            nodes.clear();
            values.clear();
            for t in watched.by_ref().take(NOTIFY_BATCH) {
                if let Some(dv) = space.tag_value(t, now) {
                    nodes.push(space.node_id(NodeRef::Tag(t)));
                    values.push(dv);
                }
            }
            self.subscriptions.notify_data_change(
                values
                    .drain(..)
                    .zip(nodes.iter())
                    .map(|(dv, id)| (dv, id, AttributeId::Value)),
            );
        }
    }

    /// Hand every device's `_Status` values to the subscriptions; the stack
    /// notifies only those that changed.
    pub fn notify_status(&self) {
        let space = self.space();
        let now = DateTime::now();
        let items: Vec<(NodeId, DataValue)> = space
            .devices()
            .flat_map(|d| StatusVar::ALL.into_iter().map(move |v| (d, v)))
            .map(|(d, v)| {
                (
                    space.node_id(NodeRef::Status(d, v)),
                    space.status_value(d, v, now),
                )
            })
            .collect();
        self.subscriptions.notify_data_change(
            items
                .iter()
                .map(|(id, dv)| (dv.clone(), id, AttributeId::Value)),
        );
    }

    /// Read one attribute of one node: a tag's Value from the store, every
    /// other attribute from the node as built, through the stack's checks.
    fn read_one(
        &self,
        context: &RequestContext,
        read: &ParsedReadValueId,
        max_age: f64,
        timestamps: TimestampsToReturn,
    ) -> DataValue {
        let space = self.space();
        let Some(node) = space.resolve(&read.node_id) else {
            return status_only(StatusCode::BadNodeIdUnknown);
        };
        // Every tag is readable by every session: the fast path needs only
        // the checks the stack would make on a plain Value read.
        if let NodeRef::Tag(t) = node
            && read.attribute_id == AttributeId::Value
            && read.index_range == NumericRange::None
            && matches!(read.data_encoding, DataEncoding::Binary)
            && let Some(dv) = space.tag_value(t, DateTime::now())
        {
            return super::read::with_timestamps(dv, timestamps);
        }
        let Some(built) = space.build(node) else {
            return status_only(StatusCode::BadNodeIdUnknown);
        };
        if let Err(e) = validate_node_read(&built, context, read) {
            return status_only(e);
        }
        read_node_value(&built, context, read, max_age, timestamps)
    }

    fn count_monitored(&self, node: &NodeId, attribute: AttributeId, delta: i32) {
        if attribute != AttributeId::Value {
            return;
        }
        let Some(NodeRef::Tag(t)) = self.space().resolve(node) else {
            return;
        };
        if let Some(n) = self.monitored.get(t.index()) {
            let _ = n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add_signed(delta))
            });
        }
    }
}

fn status_only(status: StatusCode) -> DataValue {
    DataValue {
        status: Some(status),
        ..Default::default()
    }
}

#[async_trait::async_trait]
impl NodeManager for GatewayNodes {
    fn owns_node(&self, id: &NodeId) -> bool {
        id.namespace == self.ns
    }

    fn name(&self) -> &'static str {
        "edge-gateway"
    }

    fn namespaces_for_user(&self, _context: &RequestContext) -> Vec<NamespaceMetadata> {
        vec![self.namespace.clone()]
    }

    async fn init(&self, _type_tree: &mut opcua::nodes::DefaultTypeTree, _context: ServerContext) {}

    async fn browse(
        &self,
        context: &RequestContext,
        nodes_to_browse: &mut [BrowseNode],
    ) -> Result<(), StatusCode> {
        let type_tree = context.type_tree().read();
        super::browse::browse(&self.space(), &*type_tree, nodes_to_browse);
        Ok(())
    }

    async fn translate_browse_paths_to_node_ids(
        &self,
        context: &RequestContext,
        nodes: &mut [&mut BrowsePathItem],
    ) -> Result<(), StatusCode> {
        impl_translate_browse_paths_using_browse(self, context, nodes).await
    }

    async fn read(
        &self,
        context: &RequestContext,
        max_age: f64,
        timestamps_to_return: TimestampsToReturn,
        nodes_to_read: &mut [&mut ReadNode],
    ) -> Result<(), StatusCode> {
        for node in nodes_to_read.iter_mut() {
            let dv = self.read_one(context, node.node(), max_age, timestamps_to_return);
            node.set_result(dv);
        }
        Ok(())
    }

    async fn write(
        &self,
        context: &RequestContext,
        nodes_to_write: &mut [&mut WriteNode],
    ) -> Result<(), StatusCode> {
        super::write::write(self, context, nodes_to_write).await;
        Ok(())
    }

    async fn create_monitored_items(
        &self,
        context: &RequestContext,
        items: &mut [&mut CreateMonitoredItem],
    ) -> Result<(), StatusCode> {
        for item in items.iter_mut() {
            let (node, attribute) = {
                let target = item.item_to_monitor();
                (target.node_id.clone(), target.attribute_id)
            };
            if attribute == AttributeId::EventNotifier {
                // No node of ours emits events.
                item.set_status(StatusCode::BadAttributeIdInvalid);
                continue;
            }
            let value = self.read_one(
                context,
                item.item_to_monitor(),
                0.0,
                TimestampsToReturn::Both,
            );
            match value.status() {
                StatusCode::BadUserAccessDenied | StatusCode::BadNodeIdUnknown => {
                    item.set_status(value.status());
                    continue;
                }
                StatusCode::BadAttributeIdInvalid => {}
                _ => item.set_initial_value(value),
            }
            item.set_status(StatusCode::Good);
            self.count_monitored(&node, attribute, 1);
        }
        Ok(())
    }

    async fn delete_monitored_items(&self, _context: &RequestContext, items: &[&MonitoredItemRef]) {
        for item in items {
            self.count_monitored(item.node_id(), item.attribute(), -1);
        }
    }
}
