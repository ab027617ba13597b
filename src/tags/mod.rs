//! The tag model: what a tag is (`value`), how its quality is judged
//! (`quality`), and where the latest state of every tag lives (`store`).
//!
//! This module knows no northbound protocol; the Modbus exception code is the
//! one southbound word it carries, as the cause of a bad quality.

mod ids;
mod quality;
mod store;
mod value;

pub use ids::{DeviceId, TagId};
pub use quality::{BadCause, Quality, exceeds_deadband, quality_after_failure};
pub use store::{
    CHANGE_FEED_CAPACITY, DeviceMeta, DeviceStatus, TagChange, TagMeta, TagSnapshot, TagStore,
};
pub use value::{DataType, Kind, Value, WordOrder};
