//! The Sparkplug B edge node: the gateway's tags, published to an MQTT
//! broker for host applications (SCADA, historians, pipelines), and DCMD
//! writes back through the engine.
//!
//! - `sparkplug`: the vocabulary (topics, types, datatype numbers, STATE).
//! - `proto`: the payload types generated from Tahu's `sparkplug_b.proto`.
//! - `payload`: tag model ⇄ payloads, pure.
//! - `command`: which DCMD metrics become writes, and the writes.
//! - `connection`: one MQTT connection and its NDEATH Will.
//! - `tls`: the roots and client certificate of an `mqtts://` broker.
//! - `node`: the loop: connect, subscribe, the primary host, reconnect.
//! - `publish`: births, data, deaths, rebirth.
//! - `history`: recording to the store-and-forward log, and replaying it.
//! - `buffer`: the store-and-forward log on disk.
//! - `bd_seq`: bdSeq kept across restarts.
//!
//! The edge node reads the store through its own change cursor and writes
//! only through `Engine::write_id`; it reports its state and counters in
//! `Health::mqtt`, from which `/metrics` and `/healthz` read.

mod bd_seq;
mod buffer;
mod command;
mod connection;
mod history;
mod node;
pub mod payload;
#[allow(
    clippy::all,
    clippy::pedantic,
    unreachable_pub,
    missing_debug_implementations
)]
pub mod proto;
mod publish;
pub mod sparkplug;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot, watch};
use tokio::task::AbortHandle;

pub use command::{DCMD_WRITE_TIME, MAX_PENDING_WRITES};

use crate::config::MqttConfig;
use crate::engine::Engine;
use crate::health::Health;
use crate::tags::TooManyConsumers;

/// Why the edge node could not start.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    #[error("mqtt: cannot read password_file {path}: {source}")]
    Password {
        path: String,
        source: std::io::Error,
    },
    #[error("mqtt: password_file {path} is empty")]
    EmptyPassword { path: String },
    // The cause follows in the error chain (`{:#}`), so it is not repeated here.
    #[error("mqtt: TLS settings")]
    Tls(#[from] tls::TlsError),
    #[error("mqtt: cannot create buffer_dir {path}: {source}")]
    BufferDir {
        path: String,
        source: std::io::Error,
    },
    #[error("mqtt: cannot follow the tag store's changes")]
    Changes(#[from] TooManyConsumers),
}

/// The running edge node.
#[derive(Debug)]
pub struct EdgeNode {
    stop: watch::Sender<bool>,
    /// Fires when the loop has published NDEATH and disconnected after `stop`.
    finished: Option<oneshot::Receiver<()>>,
    task: AbortHandle,
}

/// How long `EdgeNode::stop` waits for NDEATH and DISCONNECT to go out.
const STOP_TIME: Duration = Duration::from_secs(3);

/// Start the edge node: it connects in the background and keeps
/// reconnecting; a broker that is down delays nothing else.
pub fn start(
    config: &MqttConfig,
    engine: Arc<Engine>,
    health: &Arc<Health>,
) -> Result<EdgeNode, MqttError> {
    let password = match &config.password_file {
        None => None,
        Some(path) => Some(read_password(path)?),
    };
    let tls = config.tls.as_ref().map(tls::client_config).transpose()?;
    let dir = &config.buffer.dir;
    std::fs::create_dir_all(dir).map_err(|source| MqttError::BufferDir {
        path: dir.display().to_string(),
        source,
    })?;
    let bd_seq = bd_seq::BdSeqFile::in_dir(dir);
    let changes = engine.store().track_changes()?;
    health
        .mqtt
        .enable(sparkplug::MessageType::ALL.map(sparkplug::MessageType::as_str));
    let node = node::Node {
        topics: sparkplug::Topics::new(&config.group_id, &config.edge_node_id),
        config: config.clone(),
        password,
        tls,
        engine,
        health: health.clone(),
        changes,
        next_bd_seq: bd_seq.load(),
        bd_seq_file: bd_seq,
        pending_writes: Arc::new(Semaphore::new(MAX_PENDING_WRITES)),
        log: None,
        lost: 0,
        log_failing: false,
        ids: Vec::new(),
    };
    let (stop, stopped) = watch::channel(false);
    let (done, finished) = oneshot::channel();
    let asked = stopped.clone();
    let task = tokio::spawn(async move {
        node.run(stopped).await;
        if !*asked.borrow() {
            // Ended by itself: the health watch reports it.
            return;
        }
        let _ = done.send(());
        // Aborted by `stop`: any other end counts as a failed service.
        std::future::pending::<()>().await;
    });
    Ok(EdgeNode {
        stop,
        finished: Some(finished),
        task: health.watch("MQTT edge node", task),
    })
}

/// The first line of the password file, without its line ending.
fn read_password(path: &std::path::Path) -> Result<String, MqttError> {
    let text = std::fs::read_to_string(path).map_err(|source| MqttError::Password {
        path: path.display().to_string(),
        source,
    })?;
    let line = text.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        return Err(MqttError::EmptyPassword {
            path: path.display().to_string(),
        });
    }
    Ok(line)
}

impl EdgeNode {
    /// Publish NDEATH, disconnect cleanly and stop (within a few seconds).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(finished) = self.finished.take() {
            let _ = tokio::time::timeout(STOP_TIME, finished).await;
        }
        self.task.abort();
    }
}

impl Drop for EdgeNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}
