//! A reload in the OPC UA namespace, after `Engine::reshape`: the new
//! config's namespace replaces the old one at once. Sessions and
//! subscriptions stay open. A monitored item on a tag whose `NodeId` is still
//! there follows it (a changed device's tags have new store ids, the same
//! `NodeIds`) and gets its current value; one on a tag or device that is gone
//! is told `BadNodeIdUnknown`, as a read of it now answers.

use std::sync::atomic::Ordering;

use opcua::nodes::Event;
use opcua::types::{AttributeId, DataValue, DateTime, NodeId, ObjectId, StatusCode};

use super::manager::GatewayNodes;
use super::model_change::{self, verb};
use super::space::{NodeRef, StatusVar, TagSpace};
use crate::config::Config;

/// What a reload did to the monitored items.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodesReloaded {
    /// Tags some client monitors that now have a new store id.
    pub followed: usize,
    /// `NodeIds` that are gone and were told `BadNodeIdUnknown` (the monitored
    /// tags of removed devices and the `_Status` variables of each).
    pub gone: usize,
}

impl GatewayNodes {
    /// Serve `config`'s namespace from now on; `config` is what the engine
    /// was just reshaped to.
    pub fn reload(&self, config: &Config) -> Result<NodesReloaded, crate::append::Full> {
        let old = self.space();
        let store = old.store();
        // The gateway's name is a restart's to change: the folder keeps the old one.
        let new = TagSpace::new(
            self.namespace_index(),
            old.gateway(),
            &config.devices,
            self.engine.store().clone(),
        );
        self.cover_monitored()?;
        let mut followed = Vec::new();
        let mut gone: Vec<NodeId> = Vec::new();
        for device in old.devices() {
            let device_name = store.device_name_even_removed(device);
            if store.device_meta(device).is_none() && new.device_named(device_name).is_none() {
                gone.extend(
                    StatusVar::ALL
                        .into_iter()
                        .map(|v| old.node_id(NodeRef::Status(device, v))),
                );
            }
            for &tag in old.device_tags(device) {
                let Some(count) = self.monitored_on(tag) else {
                    continue;
                };
                let watching = count.load(Ordering::Relaxed);
                if watching == 0 || store.meta(tag).is_some() {
                    continue;
                }
                let Some(meta) = store.meta_even_removed(tag) else {
                    continue;
                };
                let node = NodeId::new(
                    self.namespace_index(),
                    format!("{device_name}.{}", meta.name),
                );
                match new.resolve(&node) {
                    Some(NodeRef::Tag(now)) => {
                        count.store(0, Ordering::Relaxed);
                        if let Some(n) = self.monitored_on(now) {
                            n.fetch_add(watching, Ordering::Relaxed);
                        }
                        followed.push(now);
                    }
                    _ => gone.push(node),
                }
            }
        }
        let folders = folder_changes(&old, &new);
        self.replace_space(new);
        let now = DateTime::now();
        let unknown = DataValue {
            value: None,
            status: Some(StatusCode::BadNodeIdUnknown),
            source_timestamp: Some(now),
            server_timestamp: Some(now),
            ..Default::default()
        };
        self.subscriptions().notify_data_change(
            gone.iter()
                .map(|node| (unknown.clone(), node, AttributeId::Value)),
        );
        self.notify_changed(&followed);
        if !folders.is_empty() {
            let event = model_change::event(folders, "the gateway's config was reloaded");
            let server: NodeId = ObjectId::Server.into();
            self.subscriptions()
                .notify_events([(&event as &dyn Event, &server)].into_iter());
        }
        Ok(NodesReloaded {
            followed: followed.len(),
            gone: gone.len(),
        })
    }
}

/// The device folders a reload added, deleted or changed the children of.
fn folder_changes(old: &TagSpace, new: &TagSpace) -> Vec<(NodeId, u8)> {
    let mut changes = Vec::new();
    for d in old.devices() {
        let name = old.device_name(d);
        match new.device_named(name) {
            None => changes.push((
                old.node_id(NodeRef::Device(d)),
                verb::NODE_DELETED | verb::REFERENCE_DELETED,
            )),
            Some(now) if now != d => changes.push((
                new.node_id(NodeRef::Device(now)),
                verb::REFERENCE_ADDED | verb::REFERENCE_DELETED,
            )),
            Some(_) => {}
        }
    }
    for d in new.devices() {
        if old.device_named(new.device_name(d)).is_none() {
            changes.push((
                new.node_id(NodeRef::Device(d)),
                verb::NODE_ADDED | verb::REFERENCE_ADDED,
            ));
        }
    }
    changes
}
