//! One Modbus connection: a TCP endpoint or a serial port, and one request at a time.
//!
//! This is where tokio-modbus 0.17's traps are handled:
//! - its client has no timeout: every connect and call is wrapped in one;
//! - after a TCP timeout the context answers every later call with a header
//!   (transaction id) mismatch: the connection is dropped and made anew;
//! - after an RTU timeout a late reply would be taken as the answer to the *next*
//!   request (RTU frames carry no transaction id): the port is drained until the
//!   line has been quiet, and the next response is checked for the exact shape
//!   the request asked for;
//! - a peer that closes the socket surfaces as a transport error: reconnect.
//!
//! The split of tokio-modbus's `Result<Result<T, ExceptionCode>, Error>` is kept:
//! an exception is an answer (`Ok(Err(code))`), a link failure is `Err(LinkError)`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_modbus::client::{Client, Context, rtu, tcp};
use tokio_modbus::prelude::{Request, Response, Slave, SlaveContext};

use super::backoff::ExponentialBackoff;
use super::protocol::ExceptionCode;
use super::transport::{Connector, SharedPort, SystemConnector};
use crate::config::{Backoff, SerialSettings};

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No answer within the timeout.
    #[error("timeout after {0:?}")]
    Timeout(Duration),
    /// Connect failed, connection lost, port missing.
    #[error("{0}")]
    Io(String),
    /// An answer that does not fit the request (malformed, mismatched, wrong length).
    #[error("bad response: {0}")]
    Protocol(String),
    /// Waiting out the reconnect backoff; no attempt was made.
    #[error("not connected (next attempt in {0:?}): {1}")]
    Backoff(Duration, String),
    /// The caller's deadline passed before the request could be sent; nothing was sent.
    #[error("deadline passed before the request could be sent")]
    Expired,
}

/// What a request produced: a response, a Modbus exception code, or a link failure.
pub type Reply = Result<Result<Response, ExceptionCode>, LinkError>;

/// Where a link goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Tcp(String),
    Rtu {
        port: String,
        serial: SerialSettings,
    },
}

/// Most bytes a drain discards before it gives up on a chattering line and reopens.
const DRAIN_MAX_BYTES: usize = 4096;

/// Longest a drain runs, in multiples of the quiet time it waits for: a line
/// that never falls quiet (a babbling slave, a wrong baud rate) would
/// otherwise hold the bus for as long as it babbles.
const DRAIN_MAX_QUIET_TIMES: u32 = 2;

/// A connection with reconnect backoff.
pub struct Link {
    target: Target,
    connector: Arc<dyn Connector>,
    ctx: Option<Context>,
    port: Option<SharedPort>,
    backoff: ExponentialBackoff,
    /// No connect attempt before this instant.
    retry_at: Option<Instant>,
    last_connect_error: String,
    /// Earliest instant the next request may be sent (RTU inter-frame gap, pauses).
    quiet_until: Instant,
    /// The line must be drained before the next request (RTU after a timeout).
    drain_for: Option<Duration>,
    /// Connect attempts, successful or not.
    pub connect_attempts: u64,
    /// The last drain gave up on a line that did not fall quiet (logged once).
    noisy: bool,
    /// RTU: the device the open port is (its path with links resolved), to
    /// notice a by-id link that now names another tty (a replugged adapter).
    opened_as: Option<std::path::PathBuf>,
    /// RTU: when the port's path was last resolved.
    path_checked: Instant,
}

/// How often an open serial port's path is resolved again.
const PATH_CHECK_EVERY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("target", &self.target)
            .field("connected", &self.ctx.is_some())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A disconnected link over the system's sockets and serial ports; it
    /// connects on the first request.
    pub fn new(target: Target, backoff: Backoff) -> Self {
        Self::with_connector(target, backoff, SystemConnector::shared())
    }

    /// A disconnected link whose streams `connector` opens.
    pub fn with_connector(target: Target, backoff: Backoff, connector: Arc<dyn Connector>) -> Self {
        let seed = match &target {
            Target::Tcp(e) => e
                .bytes()
                .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))),
            Target::Rtu { port, .. } => port.len() as u64,
        } ^ u64::from(std::process::id());
        let backoff = ExponentialBackoff::saturating(backoff.min, backoff.max, seed);
        Link {
            target,
            connector,
            ctx: None,
            port: None,
            backoff,
            retry_at: None,
            last_connect_error: String::new(),
            quiet_until: Instant::now(),
            drain_for: None,
            connect_attempts: 0,
            noisy: false,
            opened_as: None,
            path_checked: Instant::now(),
        }
    }

    /// True while a connection (or open port) is up.
    pub fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    /// Leave the line quiet for at least `d` before the next request.
    pub fn pause(&mut self, d: Duration) {
        self.quiet_until = self.quiet_until.max(Instant::now() + d);
    }

    fn is_rtu(&self) -> bool {
        matches!(self.target, Target::Rtu { .. })
    }

    /// Connect if needed, honouring the backoff. Returns true when a new
    /// connection was made (the caller may owe the device a pause).
    pub async fn ensure_connected(&mut self, connect_timeout: Duration) -> Result<bool, LinkError> {
        if self.ctx.is_some() {
            return Ok(false);
        }
        let now = Instant::now();
        if let Some(at) = self.retry_at.filter(|at| *at > now) {
            return Err(LinkError::Backoff(
                at - now,
                self.last_connect_error.clone(),
            ));
        }
        // On RTU a context is re-attached to the open port after every failure;
        // only opening the port counts as a connection.
        let opens_port = !self.is_rtu() || self.port.is_none();
        if opens_port {
            self.connect_attempts += 1;
        }
        match self.connect(connect_timeout).await {
            Ok(ctx) => {
                self.ctx = Some(ctx);
                self.backoff.reset();
                self.retry_at = None;
                Ok(opens_port)
            }
            Err(e) => {
                self.last_connect_error = e.to_string();
                self.retry_at = Some(Instant::now() + self.backoff.next_delay());
                Err(e)
            }
        }
    }

    async fn connect(&mut self, connect_timeout: Duration) -> Result<Context, LinkError> {
        match &self.target {
            Target::Tcp(endpoint) => {
                let stream = timeout(connect_timeout, self.connector.connect_tcp(endpoint))
                    .await
                    .map_err(|_| {
                        LinkError::Io(format!(
                            "connect to {endpoint}: timeout after {connect_timeout:?}"
                        ))
                    })?
                    .map_err(|e| LinkError::Io(format!("connect to {endpoint}: {e}")))?;
                Ok(tcp::attach(stream))
            }
            Target::Rtu { port, serial } => {
                let shared = if let Some(p) = self.port.clone() {
                    p
                } else {
                    let stream = self
                        .connector
                        .open_serial(port, *serial)
                        .map_err(|e| LinkError::Io(format!("open {port}: {e}")))?;
                    let p = SharedPort::new(stream);
                    self.opened_as = std::fs::canonicalize(port).ok();
                    self.path_checked = Instant::now();
                    self.port = Some(p.clone());
                    p
                };
                Ok(rtu::attach(shared))
            }
        }
    }

    /// Drop the connection after a failure. On RTU a timeout or garbage means
    /// bytes may still be on their way: drain for `drain` before the next request.
    pub fn reset(&mut self, drain: Option<Duration>) {
        self.ctx = None;
        if self.is_rtu() {
            self.drain_for = match (self.drain_for, drain) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
    }

    /// Forget the port entirely (it failed): the next connect reopens it.
    fn close_port(&mut self) {
        self.ctx = None;
        self.port = None;
        self.opened_as = None;
    }

    /// Close the serial port so that the next request opens it anew by its
    /// configured name (every slave on it stopped answering: the adapter may
    /// have been replugged without the old handle failing). No-op on TCP.
    /// True when the name now leads to another device than the one open.
    pub fn reopen_port(&mut self) -> bool {
        let Target::Rtu { port, .. } = &self.target else {
            return false;
        };
        if self.port.is_none() {
            return false;
        }
        let moved = self.path_moved(port);
        tracing::warn!(target = ?self.target, moved, "every slave on the port stopped answering; reopening it");
        self.close_port();
        moved
    }

    /// RTU, at most every `PATH_CHECK_EVERY`: close the open port when its
    /// configured path now names another device, or none; true when it did
    /// (the next request opens the port anew by its name).
    pub fn follow_path(&mut self) -> bool {
        let Target::Rtu { port, .. } = &self.target else {
            return false;
        };
        if self.port.is_none() || self.path_checked.elapsed() < PATH_CHECK_EVERY {
            return false;
        }
        self.path_checked = Instant::now();
        if !self.path_moved(port) {
            return false;
        }
        tracing::warn!(port = %port, was = ?self.opened_as, "the serial port's path names another device now, or none (adapter replugged?); reopening it");
        self.close_port();
        true
    }

    /// True when `port` no longer resolves to the device that is open.
    fn path_moved(&self, port: &str) -> bool {
        std::fs::canonicalize(port).ok() != self.opened_as
    }

    /// Discard whatever arrives until the line has been quiet for `quiet`,
    /// for at most `DRAIN_MAX_QUIET_TIMES` × `quiet` and `DRAIN_MAX_BYTES`;
    /// a line that is still talking then is reopened.
    async fn drain(&mut self, quiet: Duration) {
        let Some(port) = self.port.clone() else {
            return;
        };
        port.with(|s| s.clear_input());
        let give_up = Instant::now() + quiet.saturating_mul(DRAIN_MAX_QUIET_TIMES);
        let mut reader = port;
        let mut buf = [0u8; 256];
        let mut discarded = 0usize;
        let fell_quiet = loop {
            let left = give_up.saturating_duration_since(Instant::now());
            let wait = quiet.min(left);
            match timeout(wait, reader.read(&mut buf)).await {
                // A whole quiet time without a byte: done. Less than that: out of time.
                Err(_) => break wait == quiet,
                Ok(Ok(n)) if n > 0 => {
                    discarded = discarded.saturating_add(n);
                    if discarded > DRAIN_MAX_BYTES {
                        break false;
                    }
                }
                Ok(_) => {
                    self.close_port();
                    return;
                }
            }
        };
        if discarded > 0 {
            tracing::debug!(target = ?self.target, bytes = discarded, "discarded late or stray bytes");
        }
        if !fell_quiet {
            if !self.noisy {
                tracing::warn!(target = ?self.target, bytes = discarded, "serial line does not fall quiet; reopening the port");
            }
            self.noisy = true;
            self.close_port();
        } else if self.noisy {
            self.noisy = false;
            tracing::info!(target = ?self.target, "serial line quiet again");
        }
    }

    /// Send one request to `unit` and wait at most `wait` for its answer.
    ///
    /// With a `deadline` the request is sent only before it (checked after
    /// the drain, the connect and the pauses, right before the frame goes
    /// out) and its answer is awaited only until it, so a caller answered at
    /// its deadline is never followed by a request on its behalf.
    pub async fn call(
        &mut self,
        unit: u8,
        request: Request<'static>,
        wait: Duration,
        deadline: Option<Instant>,
    ) -> Reply {
        let _ = self.follow_path();
        if let Some(quiet) = self.drain_for.take() {
            self.drain(quiet).await;
        }
        self.ensure_connected(within(wait, deadline)?).await?;
        sleep_until(self.quiet_until).await;
        let wait = within(wait, deadline)?;
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(LinkError::Io("not connected".into()));
        };
        ctx.set_slave(Slave(unit));
        let expected = request.clone();
        let result = timeout(wait, ctx.call(request)).await;
        if let Target::Rtu { serial, .. } = &self.target {
            self.quiet_until = Instant::now() + serial.inter_frame_gap();
        }
        match result {
            Err(_) => {
                // tokio-modbus traps: TCP answers later calls with a mismatch, RTU
                // would hand the late reply to the next request. Start over.
                self.reset(Some(wait));
                Err(LinkError::Timeout(wait))
            }
            Ok(Err(tokio_modbus::Error::Transport(e))) => {
                self.reset(Some(wait));
                if self.is_rtu() && e.kind() != io::ErrorKind::InvalidData {
                    self.close_port();
                }
                Err(LinkError::Io(e.to_string()))
            }
            Ok(Err(tokio_modbus::Error::Protocol(e))) => {
                self.reset(Some(wait));
                Err(LinkError::Protocol(e.to_string()))
            }
            Ok(Ok(Err(code))) => Ok(Err(code)),
            Ok(Ok(Ok(response))) => match check_shape(&expected, response) {
                Ok(r) => Ok(Ok(r)),
                Err(msg) => {
                    self.reset(Some(wait));
                    Err(LinkError::Protocol(msg))
                }
            },
        }
    }
}

/// `wait`, shortened to what is left before `deadline`; `Expired` once it has passed.
pub(super) fn within(wait: Duration, deadline: Option<Instant>) -> Result<Duration, LinkError> {
    match deadline {
        None => Ok(wait),
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(LinkError::Expired)
            } else {
                Ok(wait.min(left))
            }
        }
    }
}

/// Check that a response has exactly the shape the request asked for, so that a
/// stray reply to another request is refused instead of decoded (public for
/// the fuzz targets).
pub fn check_shape(request: &Request<'static>, response: Response) -> Result<Response, String> {
    use Request as Q;
    use Response as R;
    let fits = match (request, &response) {
        (Q::ReadCoils(_, n), R::ReadCoils(bits))
        | (Q::ReadDiscreteInputs(_, n), R::ReadDiscreteInputs(bits)) => {
            // Bits come padded to whole bytes.
            bits.len() >= usize::from(*n) && bits.len() < usize::from(*n) + 8
        }
        (Q::ReadHoldingRegisters(_, n), R::ReadHoldingRegisters(regs))
        | (Q::ReadInputRegisters(_, n), R::ReadInputRegisters(regs)) => {
            regs.len() == usize::from(*n)
        }
        (Q::WriteSingleCoil(a, v), R::WriteSingleCoil(ra, rv)) => a == ra && v == rv,
        (Q::WriteSingleRegister(a, v), R::WriteSingleRegister(ra, rv)) => a == ra && v == rv,
        (Q::WriteMultipleRegisters(a, v), R::WriteMultipleRegisters(ra, n)) => {
            a == ra && v.len() == usize::from(*n)
        }
        (Q::WriteMultipleCoils(a, v), R::WriteMultipleCoils(ra, n)) => {
            a == ra && v.len() == usize::from(*n)
        }
        _ => false,
    };
    if fits {
        Ok(response)
    } else {
        Err(format!("response {response:?} does not answer {request:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_check_refuses_a_reply_of_another_length() {
        let q = Request::ReadHoldingRegisters(0, 2);
        assert!(check_shape(&q, Response::ReadHoldingRegisters(vec![1, 2])).is_ok());
        assert!(check_shape(&q, Response::ReadHoldingRegisters(vec![1])).is_err());
        assert!(check_shape(&q, Response::ReadInputRegisters(vec![1, 2])).is_err());
    }

    #[test]
    fn shape_check_accepts_byte_padded_coils() {
        let q = Request::ReadCoils(0, 3);
        assert!(check_shape(&q, Response::ReadCoils(vec![true; 8])).is_ok());
        assert!(check_shape(&q, Response::ReadCoils(vec![true; 2])).is_err());
    }

    #[test]
    fn shape_check_refuses_a_write_echo_for_another_address() {
        let q = Request::WriteSingleRegister(5, 7);
        assert!(check_shape(&q, Response::WriteSingleRegister(5, 7)).is_ok());
        assert!(check_shape(&q, Response::WriteSingleRegister(6, 7)).is_err());
    }
}
