//! The write vocabulary shared by the bus and every northbound face.
//!
//! A write fails for one of a few reasons a client can act on; `WriteErrorKind`
//! names them, so OPC UA (and later Sparkplug) map a kind to their own status
//! without knowing the bus, the link or the codec. The message keeps the detail
//! for logs.

use std::time::Duration;

use crate::modbus::protocol::{ExceptionCode, exception_number};

/// What kind of failure a write met, for mapping to a northbound status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteErrorKind {
    /// No tag with that id or name.
    UnknownTag,
    /// The tag is not marked writable (or its kind has no write function).
    NotWritable,
    /// The value's type cannot be written to the tag at all.
    TypeMismatch,
    /// The value does not fit the tag (range, string length, not finite).
    OutOfRange,
    /// The device did not answer in time.
    Timeout,
    /// The device could not be reached or answered garbage.
    Communication,
    /// The device refused the write with a Modbus exception.
    Exception(ExceptionCode),
    /// Too many writes are queued on the bus.
    Busy,
    /// The gateway is shutting down.
    Closed,
}

/// Why a write did not reach the device, or was refused by it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WriteError {
    kind: WriteErrorKind,
    message: String,
}

impl WriteError {
    /// A failure of `kind`, described by `message`.
    pub fn new(kind: WriteErrorKind, message: impl Into<String>) -> Self {
        WriteError {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> WriteErrorKind {
        self.kind
    }

    /// No such tag.
    pub fn unknown_tag() -> Self {
        Self::new(WriteErrorKind::UnknownTag, "no such tag")
    }

    /// The tag may not be written.
    pub fn not_writable() -> Self {
        Self::new(WriteErrorKind::NotWritable, "tag is not writable")
    }

    /// No answer within `after`.
    pub fn timeout(after: Duration) -> Self {
        Self::new(
            WriteErrorKind::Timeout,
            format!("device did not answer within {after:?}"),
        )
    }

    /// The caller's deadline passed before the write could be sent, or
    /// before the bus was free; nothing more is sent for it.
    pub fn deadline_passed() -> Self {
        Self::new(
            WriteErrorKind::Timeout,
            "deadline passed before the device answered; nothing more is sent for this write",
        )
    }

    /// The device is unreachable.
    pub fn communication(detail: impl std::fmt::Display) -> Self {
        Self::new(
            WriteErrorKind::Communication,
            format!("device unreachable: {detail}"),
        )
    }

    /// The device answered with an exception.
    pub fn exception(code: ExceptionCode) -> Self {
        Self::new(
            WriteErrorKind::Exception(code),
            format!(
                "device refused the write with Modbus exception {}",
                exception_number(code)
            ),
        )
    }

    /// The bus's write queue is full.
    pub fn busy() -> Self {
        Self::new(WriteErrorKind::Busy, "too many writes pending on this bus")
    }

    /// The bus task is gone.
    pub fn closed() -> Self {
        Self::new(WriteErrorKind::Closed, "gateway is shutting down")
    }
}
