pub mod node_ids;
pub mod types;
