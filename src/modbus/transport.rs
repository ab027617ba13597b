//! Where a link's bytes go: the system's TCP sockets and serial ports, or
//! any other byte stream a [`Connector`] hands out (the simulated month
//! runs every device in memory on a paused clock, where real sockets and
//! pseudo-terminals would race the virtual time).

use std::fmt::Debug;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_serial::{SerialPort, SerialPortBuilderExt, SerialStream};

use crate::config::{Parity, SerialSettings};
use crate::lock::lock;

/// A byte stream to a device.
pub trait DeviceStream: AsyncRead + AsyncWrite + Send + Unpin + Debug + 'static {
    /// Discard what was received and not read yet (a serial port's input
    /// buffer before a drain); nothing to do on other streams.
    fn clear_input(&mut self) {}
}

impl DeviceStream for TcpStream {}

impl DeviceStream for SerialStream {
    fn clear_input(&mut self) {
        let _ = self.clear(tokio_serial::ClearBuffer::Input);
    }
}

impl DeviceStream for tokio::io::DuplexStream {}

/// Opens the streams links talk over.
#[async_trait::async_trait]
pub trait Connector: Send + Sync + Debug {
    /// A connection to a Modbus TCP `endpoint` (`host:port`).
    async fn connect_tcp(&self, endpoint: &str) -> io::Result<Box<dyn DeviceStream>>;
    /// The serial port at `port`, set up as `settings` say.
    fn open_serial(
        &self,
        port: &str,
        settings: SerialSettings,
    ) -> io::Result<Box<dyn DeviceStream>>;
}

/// The operating system's sockets and serial ports.
#[derive(Debug, Default)]
pub struct SystemConnector;

impl SystemConnector {
    /// The connector every link uses unless told otherwise.
    pub fn shared() -> Arc<dyn Connector> {
        Arc::new(SystemConnector)
    }
}

#[async_trait::async_trait]
impl Connector for SystemConnector {
    async fn connect_tcp(&self, endpoint: &str) -> io::Result<Box<dyn DeviceStream>> {
        let stream = TcpStream::connect(endpoint).await?;
        // Modbus is strictly request/response: Nagle would hold each request back.
        stream.set_nodelay(true)?;
        Ok(Box::new(stream))
    }

    fn open_serial(&self, port: &str, s: SerialSettings) -> io::Result<Box<dyn DeviceStream>> {
        let parity = match s.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        };
        let stop = if s.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        };
        let data = if s.data_bits == 7 {
            tokio_serial::DataBits::Seven
        } else {
            tokio_serial::DataBits::Eight
        };
        let stream = tokio_serial::new(port, s.baud)
            .parity(parity)
            .stop_bits(stop)
            .data_bits(data)
            .open_native_async()?;
        Ok(Box::new(stream))
    }
}

/// A serial stream shared between the tokio-modbus context and the drain, so a
/// late reply can be read and discarded after the context that timed out is dropped.
#[derive(Debug, Clone)]
pub(super) struct SharedPort(Arc<Mutex<Box<dyn DeviceStream>>>);

impl SharedPort {
    pub(super) fn new(stream: Box<dyn DeviceStream>) -> Self {
        SharedPort(Arc::new(Mutex::new(stream)))
    }

    pub(super) fn with<R>(&self, f: impl FnOnce(&mut Box<dyn DeviceStream>) -> R) -> R {
        let mut guard = lock(&self.0);
        f(&mut guard)
    }
}

impl AsyncRead for SharedPort {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.with(|s| Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for SharedPort {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.with(|s| Pin::new(s).poll_write(cx, buf))
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.with(|s| Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.with(|s| Pin::new(s).poll_shutdown(cx))
    }
}
