//! Browse of the tag namespace: each node's references, computed from the
//! namespace description, and the one reference into it from the standard
//! namespace (`Objects` organizes the gateway folder).

use std::collections::VecDeque;

use opcua::nodes::TypeTree;
use opcua::server::node_manager::{AddReferenceResult, BrowseNode};
use opcua::types::{
    BrowseDirection, ExpandedNodeId, LocalizedText, NodeClass, NodeId, ObjectTypeId, QualifiedName,
    ReferenceDescription, ReferenceTypeId, StatusCode, VariableTypeId,
};

use super::space::{NodeRef, Property, StatusVar, TagSpace};
use crate::tags::TagId;

/// What is left of a browse that did not fit in one response.
#[derive(Debug, Default)]
struct Remaining {
    references: VecDeque<ReferenceDescription>,
}

/// Browse every node of `nodes_to_browse` this namespace has references for.
pub(super) fn browse(space: &TagSpace, type_tree: &dyn TypeTree, nodes: &mut [BrowseNode]) {
    for node in nodes.iter_mut() {
        if let Some(mut rest) = node.take_continuation_point::<Remaining>() {
            node.set_status(StatusCode::Good);
            while node.remaining() > 0 {
                let Some(r) = rest.references.pop_front() else {
                    break;
                };
                // Already filtered when it was first found.
                node.add_unchecked(r);
            }
            if !rest.references.is_empty() {
                node.set_next_continuation_point(rest);
            }
            continue;
        }
        let references = if *node.node_id() == NodeId::objects_folder_id() {
            // The core node manager answers for Objects itself and sets the
            // status; this adds the gateway folder to what it finds.
            vec![described(
                space,
                ReferenceTypeId::Organizes,
                true,
                NodeRef::Gateway,
            )]
        } else if let Some(r) = space.resolve(node.node_id()) {
            node.set_status(StatusCode::Good);
            references_of(space, r)
        } else {
            continue;
        };
        let mut rest = Remaining::default();
        for r in references {
            if !direction_allows(node.browse_direction(), r.is_forward) {
                continue;
            }
            if let AddReferenceResult::Full(r) = node.add(type_tree, r) {
                rest.references.push_back(r);
            }
        }
        if !rest.references.is_empty() {
            node.set_next_continuation_point(Box::new(rest));
        }
    }
}

fn direction_allows(direction: BrowseDirection, forward: bool) -> bool {
    match direction {
        BrowseDirection::Forward => forward,
        BrowseDirection::Inverse => !forward,
        _ => true,
    }
}

/// Every reference of one node: its type definition, its children and
/// properties (forward), and its parent (inverse).
fn references_of(space: &TagSpace, node: NodeRef) -> Vec<ReferenceDescription> {
    let mut out = vec![type_reference(space, node)];
    let mut child = |rt, n| out.push(described(space, rt, true, n));
    match node {
        NodeRef::Gateway => {
            for d in space.devices() {
                child(ReferenceTypeId::Organizes, NodeRef::Device(d));
            }
        }
        NodeRef::Device(d) => {
            for &t in space.device_tags(d) {
                child(ReferenceTypeId::Organizes, NodeRef::Tag(t));
            }
            child(ReferenceTypeId::Organizes, NodeRef::StatusFolder(d));
        }
        NodeRef::Tag(t) => {
            for p in [Property::EngineeringUnits, Property::EuRange] {
                if space.has_property(t, p) {
                    child(ReferenceTypeId::HasProperty, NodeRef::Property(t, p));
                }
            }
        }
        NodeRef::StatusFolder(d) => {
            for v in StatusVar::ALL {
                child(ReferenceTypeId::Organizes, NodeRef::Status(d, v));
            }
        }
        NodeRef::Property(..) | NodeRef::Status(..) => {}
    }
    let parent = match node {
        NodeRef::Gateway => {
            out.push(ReferenceDescription {
                reference_type_id: ReferenceTypeId::Organizes.into(),
                is_forward: false,
                node_id: NodeId::objects_folder_id().into(),
                browse_name: QualifiedName::new(0, "Objects"),
                display_name: LocalizedText::new("", "Objects"),
                node_class: NodeClass::Object,
                type_definition: NodeId::from(ObjectTypeId::FolderType).into(),
            });
            None
        }
        NodeRef::Device(_) => Some((ReferenceTypeId::Organizes, NodeRef::Gateway)),
        NodeRef::Tag(t) => device_of(space, t).map(|d| (ReferenceTypeId::Organizes, d)),
        NodeRef::Property(t, _) => Some((ReferenceTypeId::HasProperty, NodeRef::Tag(t))),
        NodeRef::StatusFolder(d) => Some((ReferenceTypeId::Organizes, NodeRef::Device(d))),
        NodeRef::Status(d, _) => Some((ReferenceTypeId::Organizes, NodeRef::StatusFolder(d))),
    };
    if let Some((rt, p)) = parent {
        out.push(described(space, rt, false, p));
    }
    out
}

fn device_of(space: &TagSpace, t: TagId) -> Option<NodeRef> {
    space.store().meta(t).map(|m| NodeRef::Device(m.device))
}

/// A reference to one of our nodes, with what a browse result shows of it.
fn described(
    space: &TagSpace,
    reference_type: ReferenceTypeId,
    is_forward: bool,
    target: NodeRef,
) -> ReferenceDescription {
    ReferenceDescription {
        reference_type_id: reference_type.into(),
        is_forward,
        node_id: space.node_id(target).into(),
        browse_name: space.browse_name(target),
        display_name: space.display_name(target),
        node_class: TagSpace::node_class(target),
        type_definition: space.type_definition(target).into(),
    }
}

/// The `HasTypeDefinition` reference of a node.
fn type_reference(space: &TagSpace, node: NodeRef) -> ReferenceDescription {
    let ty = space.type_definition(node);
    let (name, class) = type_name(&ty);
    ReferenceDescription {
        reference_type_id: ReferenceTypeId::HasTypeDefinition.into(),
        is_forward: true,
        node_id: ty.into(),
        browse_name: QualifiedName::new(0, name),
        display_name: LocalizedText::new("", name),
        node_class: class,
        type_definition: ExpandedNodeId::null(),
    }
}

/// Browse name and node class of the standard types our nodes use.
fn type_name(ty: &NodeId) -> (&'static str, NodeClass) {
    let known: [(NodeId, &'static str, NodeClass); 5] = [
        (
            ObjectTypeId::FolderType.into(),
            "FolderType",
            NodeClass::ObjectType,
        ),
        (
            VariableTypeId::BaseDataVariableType.into(),
            "BaseDataVariableType",
            NodeClass::VariableType,
        ),
        (
            VariableTypeId::AnalogItemType.into(),
            "AnalogItemType",
            NodeClass::VariableType,
        ),
        (
            VariableTypeId::AnalogUnitType.into(),
            "AnalogUnitType",
            NodeClass::VariableType,
        ),
        (
            VariableTypeId::PropertyType.into(),
            "PropertyType",
            NodeClass::VariableType,
        ),
    ];
    known
        .into_iter()
        .find(|(id, _, _)| id == ty)
        .map_or(("", NodeClass::VariableType), |(_, n, c)| (n, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opcua::types::ObjectId;

    #[test]
    fn every_type_we_use_has_a_name() {
        for ty in [
            NodeId::from(ObjectTypeId::FolderType),
            VariableTypeId::BaseDataVariableType.into(),
            VariableTypeId::AnalogItemType.into(),
            VariableTypeId::AnalogUnitType.into(),
            VariableTypeId::PropertyType.into(),
        ] {
            assert!(!type_name(&ty).0.is_empty(), "{ty}");
        }
        assert_eq!(
            NodeId::from(ObjectId::ObjectsFolder),
            NodeId::objects_folder_id()
        );
    }
}
