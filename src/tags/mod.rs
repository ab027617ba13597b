//! The tag model: what a tag is (`value`), how its quality is judged
//! (`quality`), where the latest state of every tag lives (`store`), and how
//! a consumer learns which tags changed (`changes`).
//!
//! This module knows no northbound protocol; the Modbus exception code is the
//! one southbound word it carries, as the cause of a bad quality.

mod changes;
mod ids;
mod quality;
mod store;
mod value;

pub use changes::{ChangeCursor, MAX_CONSUMERS, TooManyConsumers};
pub use ids::{DeviceId, TagId};
pub use quality::{BadCause, Quality, exceeds_deadband, quality_after_failure};
pub use store::{DeviceMeta, DeviceStatus, Full, TagMeta, TagSnapshot, TagStore};
pub use value::{DataType, Kind, Value, WordOrder};
