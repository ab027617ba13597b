//! A scripted fake Modbus TCP device: MBAP framing by hand, so a test can
//! answer late, answer wrongly or log exactly what reached the device and when.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// Read one MBAP-framed request: (transaction id, unit, PDU).
pub(crate) async fn read_frame(
    s: &mut (impl tokio::io::AsyncRead + Unpin),
) -> Option<(u16, u8, Vec<u8>)> {
    let mut hdr = [0u8; 7];
    s.read_exact(&mut hdr).await.ok()?;
    let len = usize::from(u16::from_be_bytes([hdr[4], hdr[5]]));
    let mut pdu = vec![0u8; len.checked_sub(1)?];
    s.read_exact(&mut pdu).await.ok()?;
    pdu.first()?;
    Some((u16::from_be_bytes([hdr[0], hdr[1]]), hdr[6], pdu))
}

/// An MBAP frame around `pdu`.
pub(crate) fn frame(tid: u16, unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = tid.to_be_bytes().to_vec();
    f.extend([0, 0]);
    f.extend(
        u16::try_from(pdu.len() + 1)
            .expect("a PDU fits a frame")
            .to_be_bytes(),
    );
    f.push(unit);
    f.extend(pdu);
    f
}

/// One request as it reached the fake device.
#[derive(Debug, Clone)]
pub(crate) struct Arrival {
    pub function: u8,
    pub pdu: Vec<u8>,
    pub at: Instant,
}

/// A device that answers reads with zeros and echoes writes, each function
/// after its own delay, and logs every request it receives.
#[derive(Debug, Clone)]
pub(crate) struct SlowDevice {
    pub log: Arc<Mutex<Vec<Arrival>>>,
    pub addr: std::net::SocketAddr,
}

impl SlowDevice {
    /// Listen on a free loopback port; `delay(function)` is how long each
    /// answer takes. Serves connections until the test ends.
    pub(crate) async fn start(delay: fn(u8) -> Duration) -> SlowDevice {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = log.clone();
        tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve_slowly(s, shared.clone(), delay));
            }
        });
        SlowDevice { log, addr }
    }

    /// Requests with this function code received so far.
    pub(crate) fn arrivals(&self, function: u8) -> Vec<Arrival> {
        self.log
            .lock()
            .expect("log lock")
            .iter()
            .filter(|a| a.function == function)
            .cloned()
            .collect()
    }
}

async fn serve_slowly(mut s: TcpStream, log: Arc<Mutex<Vec<Arrival>>>, delay: fn(u8) -> Duration) {
    while let Some((tid, unit, pdu)) = read_frame(&mut s).await {
        let function = pdu[0];
        log.lock().expect("log lock").push(Arrival {
            function,
            pdu: pdu.clone(),
            at: Instant::now(),
        });
        tokio::time::sleep(delay(function)).await;
        let answer = match function {
            // Reads: `count` zero registers (or bits, one byte per 8).
            1..=4 => {
                let count = usize::from(u16::from_be_bytes([pdu[3], pdu[4]]));
                let bytes = if function <= 2 {
                    count.div_ceil(8)
                } else {
                    count * 2
                };
                let mut a = vec![function, u8::try_from(bytes).expect("a read fits a frame")];
                a.resize(2 + bytes, 0);
                a
            }
            // Writes are echoed: address and value or count.
            _ => pdu[..5].to_vec(),
        };
        if s.write_all(&frame(tid, unit, &answer)).await.is_err() {
            return;
        }
    }
}
