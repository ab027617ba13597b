//! (edge-gateway patch.) The OPC UA TCP codec with a bound on the size a
//! message header may claim.
//!
//! `TcpCodec` buffers a message until as many bytes as its header claims
//! have arrived, up to 4 GiB: a client that sent a header claiming 2 GiB
//! and then streamed bytes made the server hold all of them (before the
//! Hello as well as on an open channel). Here a header claiming more than
//! the connection may send is an error the moment it is read: 8 KiB (the
//! smallest buffer a peer must accept, and more than any Hello) until the
//! Acknowledge, then the receive buffer size the Acknowledge granted.

use std::io;

use tokio_util::bytes::BytesMut;
use opcua_core::comms::{
    tcp_codec::{Message, TcpCodec},
    tcp_types::{MESSAGE_HEADER_LEN, MIN_CHUNK_SIZE},
};
use opcua_types::DecodingOptions;
use tokio_util::codec::Decoder;

/// [`TcpCodec`] refusing a message larger than `max_message_size` bytes.
pub(crate) struct LimitedCodec {
    inner: TcpCodec,
    max_message_size: usize,
}

impl LimitedCodec {
    /// A codec for a connection that has not sent its Hello yet.
    pub(crate) fn new(decoding_options: DecodingOptions) -> Self {
        LimitedCodec {
            inner: TcpCodec::new(decoding_options),
            max_message_size: MIN_CHUNK_SIZE,
        }
    }

    /// The largest message (one chunk) the peer may send from now on.
    pub(crate) fn set_max_message_size(&mut self, max: usize) {
        self.max_message_size = max.max(MIN_CHUNK_SIZE);
    }
}

impl Decoder for LimitedCodec {
    type Item = Message;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        if let Some(size) = buf.get(4..MESSAGE_HEADER_LEN) {
            let mut bytes = [0u8; 4];
            bytes.copy_from_slice(size);
            let claimed = u32::from_le_bytes(bytes) as usize;
            if claimed > self.max_message_size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "BadTcpMessageTooLarge: a message header claims {claimed} bytes, \
                         more than the {} this connection may send",
                        self.max_message_size
                    ),
                ));
            }
        }
        self.inner.decode(buf)
    }
}
