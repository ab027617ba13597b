//! Modbus southbound: the vocabulary (`protocol`), codec and planner (pure),
//! link and bus tasks (I/O).

pub mod backoff;
pub mod bus;
pub mod codec;
pub mod link;
pub mod plan;
pub mod protocol;
pub mod transport;
