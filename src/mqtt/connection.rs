//! One MQTT connection of the edge node: options with the NDEATH Will of
//! this connection's bdSeq, and a task that drives rumqttc's event loop and
//! hands the session what it needs (the `CONNACK`, `SUBACK`s, incoming
//! publishes, the end).
//!
//! Every connection gets a fresh client and event loop: the Will is fixed
//! when a client connects, and bdSeq changes with every connect (§5.2), so
//! rumqttc's own reconnect (which would repeat the old Will) is never used.

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, LastWill, MqttOptions, Packet, QoS, TlsConfiguration, Transport,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::MqttConfig;

/// Requests (publishes, subscribes) queued towards the event loop at most;
/// a full queue makes the session wait, which is the backpressure it needs.
const REQUEST_QUEUE: usize = 256;
/// Incoming events queued towards the session at most.
const EVENT_QUEUE: usize = 64;
/// Largest packet accepted from the broker: commands are small, and a
/// retained message of a stranger's size must not take our memory.
const MAX_INCOMING_PACKET: usize = 256 * 1024;
/// Largest packet we send: a DBIRTH of a large device. Brokers have their own
/// limit (Mosquitto's default is 256 MiB).
const MAX_OUTGOING_PACKET: usize = 256 * 1024 * 1024;
/// How long a TCP connect and the MQTT handshake may take.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the event loop tells the session.
#[derive(Debug)]
pub(super) enum LinkEvent {
    /// The broker accepted the connection.
    Connected,
    /// The broker granted a subscription.
    Subscribed,
    /// A message on one of our subscriptions.
    Message { topic: String, payload: Vec<u8> },
    /// The connection ended; the event loop task is gone.
    Closed(String),
}

/// A connection: the client to publish with, the events, the driving task.
#[derive(Debug)]
pub(super) struct Connection {
    pub(super) client: AsyncClient,
    pub(super) events: mpsc::Receiver<LinkEvent>,
    driver: JoinHandle<()>,
}

impl Connection {
    /// Start connecting with `will` as this connection's NDEATH.
    pub(super) fn open(
        config: &MqttConfig,
        password: Option<&str>,
        tls: Option<&Arc<rustls::ClientConfig>>,
        will_topic: &str,
        will: Vec<u8>,
    ) -> Connection {
        let mut options = MqttOptions::new(
            config.client_id.clone(),
            config.broker.host.clone(),
            config.broker.port,
        );
        options
            .set_keep_alive(config.keep_alive)
            .set_clean_session(true)
            .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET)
            .set_request_channel_capacity(REQUEST_QUEUE)
            .set_last_will(LastWill::new(will_topic, will, QoS::AtLeastOnce, false));
        if let Some(tls) = tls {
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        if let Some(user) = &config.username {
            options.set_credentials(user.clone(), password.unwrap_or_default().to_owned());
        }
        let (client, mut event_loop) = AsyncClient::new(options, REQUEST_QUEUE);
        let mut network = event_loop.network_options();
        network.set_connection_timeout(CONNECT_TIMEOUT.as_secs());
        event_loop.set_network_options(network);
        let (tx, events) = mpsc::channel(EVENT_QUEUE);
        let driver = tokio::spawn(async move {
            loop {
                let event = match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => LinkEvent::Connected,
                    Ok(Event::Incoming(Packet::SubAck(_))) => LinkEvent::Subscribed,
                    Ok(Event::Incoming(Packet::Publish(p))) => LinkEvent::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                    },
                    Ok(Event::Incoming(Packet::Disconnect)) => {
                        LinkEvent::Closed("the broker disconnected".into())
                    }
                    Ok(_) => continue,
                    Err(e) => LinkEvent::Closed(e.to_string()),
                };
                let closed = matches!(event, LinkEvent::Closed(_));
                if tx.send(event).await.is_err() || closed {
                    // Polling again would reconnect with the old Will.
                    return;
                }
            }
        });
        Connection {
            client,
            events,
            driver,
        }
    }

    /// Publish, waiting for room in the request queue (not for the broker).
    pub(super) async fn publish(&self, topic: String, qos: u8, payload: Vec<u8>) -> bool {
        let qos = if qos == 0 {
            QoS::AtMostOnce
        } else {
            QoS::AtLeastOnce
        };
        self.client
            .publish(topic, qos, false, payload)
            .await
            .is_ok()
    }

    /// Send a DISCONNECT after what is queued, and give the event loop up
    /// to `within` to flush it; then stop it either way.
    pub(super) async fn close(mut self, within: Duration) {
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(within, async {
                while let Some(e) = self.events.recv().await {
                    if matches!(e, LinkEvent::Closed(_)) {
                        break;
                    }
                }
            })
            .await;
        }
        self.driver.abort();
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}
