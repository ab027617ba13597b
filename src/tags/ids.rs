//! Identifiers of devices and tags: indexes fixed at start-up, typed so that a
//! device index, a tag id and a tag's position within its device cannot be
//! mistaken for one another.

use std::fmt;

/// A device: its index in the config and in the store, in config order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(usize);

impl DeviceId {
    /// The device at `index` in config order.
    pub const fn new(index: usize) -> Self {
        DeviceId(index)
    }

    /// Its index in config order.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A tag in the store; tag ids run over all devices in config order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagId(usize);

impl TagId {
    /// The tag at `index` of the store.
    pub const fn new(index: usize) -> Self {
        TagId(index)
    }

    /// Its index in the store.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
