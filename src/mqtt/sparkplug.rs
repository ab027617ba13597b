//! The Sparkplug B 3.0 vocabulary: topics, message types and their `QoS`,
//! datatype numbers, the quality property's codes, the node's own metric
//! names, and the primary host's STATE message. One place, so no number or
//! topic level is typed twice (house style, habit 15).
//!
//! Section numbers are those of the Sparkplug 3.0.0 specification.

use serde::Deserialize;

/// The topic namespace of Sparkplug B (§4.1.1).
pub const NAMESPACE: &str = "spBv1.0";
/// The node's birth/death sequence metric (§5.2): in the NDEATH Will and NBIRTH.
pub const BD_SEQ: &str = "bdSeq";
/// The NCMD metric that asks for a rebirth (§6.4.16).
pub const REBIRTH: &str = "Node Control/Rebirth";
/// Name of the quality property on every tag metric (Sparkplug's convention).
pub const QUALITY: &str = "Quality";
/// Name of the engineering-unit property (Sparkplug's convention).
pub const ENG_UNIT: &str = "engUnit";

/// The `Quality` property values: the OPC DA codes Sparkplug hosts use.
pub mod quality {
    /// Good.
    pub const GOOD: i32 = 192;
    /// Stale: the last good value, not confirmed by the latest poll.
    pub const STALE: i32 = 500;
    /// Bad: no usable value.
    pub const BAD: i32 = 0;
}

/// A Sparkplug message type, the third topic level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    NBirth,
    NData,
    NDeath,
    NCmd,
    DBirth,
    DData,
    DDeath,
    DCmd,
}

impl MessageType {
    /// Every type, in the order metrics list them.
    pub const ALL: [MessageType; 8] = [
        MessageType::NBirth,
        MessageType::NData,
        MessageType::NDeath,
        MessageType::NCmd,
        MessageType::DBirth,
        MessageType::DData,
        MessageType::DDeath,
        MessageType::DCmd,
    ];

    /// The topic level.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::NBirth => "NBIRTH",
            MessageType::NData => "NDATA",
            MessageType::NDeath => "NDEATH",
            MessageType::NCmd => "NCMD",
            MessageType::DBirth => "DBIRTH",
            MessageType::DData => "DDATA",
            MessageType::DDeath => "DDEATH",
            MessageType::DCmd => "DCMD",
        }
    }

    /// Index into `ALL`, for per-type counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the message is about a device (has a fifth topic level).
    pub fn is_device(self) -> bool {
        matches!(
            self,
            MessageType::DBirth | MessageType::DData | MessageType::DDeath | MessageType::DCmd
        )
    }

    /// Whether the message carries `seq` (all but NDEATH, §6.4.6, and commands).
    pub fn has_seq(self) -> bool {
        !matches!(
            self,
            MessageType::NDeath | MessageType::NCmd | MessageType::DCmd
        )
    }

    /// The MQTT `QoS` an edge node publishes it with: 1 for the NDEATH Will,
    /// 0 for everything else (§7.1, §7.2).
    pub fn qos_level(self) -> u8 {
        u8::from(self == MessageType::NDeath)
    }
}

/// The topics of one edge node.
#[derive(Debug, Clone)]
pub struct Topics {
    group: String,
    node: String,
}

impl Topics {
    /// Topics for edge node `node` in group `group`.
    pub fn new(group: &str, node: &str) -> Self {
        Topics {
            group: group.to_owned(),
            node: node.to_owned(),
        }
    }

    /// `spBv1.0/<group>/<type>/<node>`.
    pub fn node(&self, kind: MessageType) -> String {
        format!("{NAMESPACE}/{}/{}/{}", self.group, kind.as_str(), self.node)
    }

    /// `spBv1.0/<group>/<type>/<node>/<device>`.
    pub fn device(&self, kind: MessageType, device: &str) -> String {
        format!(
            "{NAMESPACE}/{}/{}/{}/{device}",
            self.group,
            kind.as_str(),
            self.node
        )
    }

    /// The DCMD filter for every device of this node.
    pub fn device_commands(&self) -> String {
        self.device(MessageType::DCmd, "+")
    }

    /// What a command topic addresses; `None` for a topic that is not a
    /// command to this node.
    pub fn command_target<'t>(&self, topic: &'t str) -> Option<CommandTarget<'t>> {
        let mut levels = topic.split('/');
        let head = (levels.next(), levels.next(), levels.next(), levels.next());
        let (Some(NAMESPACE), Some(group), Some(kind), Some(node)) = head else {
            return None;
        };
        if group != self.group || node != self.node {
            return None;
        }
        match (kind, levels.next(), levels.next()) {
            ("NCMD", None, _) => Some(CommandTarget::Node),
            ("DCMD", Some(device), None) => Some(CommandTarget::Device(device)),
            _ => None,
        }
    }
}

/// What a command addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandTarget<'t> {
    /// NCMD: the edge node itself.
    Node,
    /// DCMD: one device, by name.
    Device(&'t str),
}

/// The primary host's STATE topic (§4.2): `spBv1.0/STATE/<host_id>`.
pub fn state_topic(host_id: &str) -> String {
    format!("{NAMESPACE}/STATE/{host_id}")
}

/// A host application's STATE payload (§6.4.22): JSON, retained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct HostState {
    pub online: bool,
    /// Milliseconds since the epoch when the host published it; a STATE older
    /// than the last one seen is a leftover and is ignored (§5.17).
    pub timestamp: u64,
}

impl HostState {
    /// Parse a STATE payload; `None` for anything else.
    pub fn parse(payload: &[u8]) -> Option<HostState> {
        serde_json::from_slice(payload).ok()
    }
}

/// Sparkplug datatype numbers (§6.4.16, the `datatype` field of a metric).
pub mod datatype {
    pub const INT16: u32 = 2;
    pub const INT32: u32 = 3;
    pub const INT64: u32 = 4;
    pub const UINT16: u32 = 6;
    pub const UINT32: u32 = 7;
    pub const UINT64: u32 = 8;
    pub const FLOAT: u32 = 9;
    pub const DOUBLE: u32 = 10;
    pub const BOOLEAN: u32 = 11;
    pub const STRING: u32 = 12;
}

/// The sequence number of a session's messages: 0 at NBIRTH, then one more
/// per message, wrapping after 255 (§6.4.5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seq(u8);

impl Seq {
    /// The number for the next message, then move on.
    pub fn take(&mut self) -> u64 {
        let n = self.0;
        self.0 = self.0.wrapping_add(1);
        u64::from(n)
    }

    /// Start again at 0 (a birth).
    pub fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_follow_the_namespace() {
        let t = Topics::new("plant1", "line-3");
        assert_eq!(t.node(MessageType::NBirth), "spBv1.0/plant1/NBIRTH/line-3");
        assert_eq!(
            t.device(MessageType::DData, "meter"),
            "spBv1.0/plant1/DDATA/line-3/meter"
        );
        assert_eq!(t.device_commands(), "spBv1.0/plant1/DCMD/line-3/+");
        assert_eq!(state_topic("scada"), "spBv1.0/STATE/scada");
    }

    #[test]
    fn command_topics_name_their_target() {
        let t = Topics::new("g", "n");
        assert_eq!(
            t.command_target("spBv1.0/g/NCMD/n"),
            Some(CommandTarget::Node)
        );
        assert_eq!(
            t.command_target("spBv1.0/g/DCMD/n/pump"),
            Some(CommandTarget::Device("pump"))
        );
        for other in [
            "spBv1.0/g/NCMD/other",
            "spBv1.0/h/DCMD/n/pump",
            "spBv1.0/g/DDATA/n/pump",
            "spBv1.0/g/DCMD/n/pump/x",
            "spBv1.0/g/DCMD/n",
            "spBv1.0/g/NCMD/n/x",
            "",
        ] {
            assert_eq!(t.command_target(other), None, "{other}");
        }
    }

    #[test]
    fn seq_wraps_after_255() {
        let mut s = Seq::default();
        let taken: Vec<u64> = (0..258).map(|_| s.take()).collect();
        assert_eq!(&taken[..3], &[0, 1, 2]);
        assert_eq!(&taken[255..], &[255, 0, 1]);
        s.reset();
        assert_eq!(s.take(), 0);
    }

    #[test]
    fn host_state_is_json_with_online_and_timestamp() {
        assert_eq!(
            HostState::parse(br#"{"online":true,"timestamp":1700000000000}"#),
            Some(HostState {
                online: true,
                timestamp: 1_700_000_000_000
            })
        );
        assert_eq!(HostState::parse(b"ONLINE"), None);
        assert_eq!(HostState::parse(br#"{"online":true}"#), None);
    }

    #[test]
    fn only_the_will_is_qos_1_and_only_it_and_commands_lack_seq() {
        for t in MessageType::ALL {
            assert_eq!(t.qos_level() == 1, t == MessageType::NDeath, "{t:?}");
            assert_eq!(
                t.index(),
                MessageType::ALL.iter().position(|x| *x == t).unwrap()
            );
        }
        assert!(!MessageType::NDeath.has_seq());
        assert!(MessageType::DDeath.has_seq());
    }
}
