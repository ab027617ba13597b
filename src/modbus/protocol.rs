//! The Modbus vocabulary: request limits, the end of the address space, read
//! requests per register kind, and exception codes.
//!
//! Every other module takes these from here, so a limit from the specification
//! is written once (Modbus Application Protocol v1.1b3, §6).

use tokio_modbus::prelude::Request;

pub use tokio_modbus::ExceptionCode;

use crate::tags::Kind;

/// Registers one read request may ask for (FC3, FC4: §6.3, §6.4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Bits one read request may ask for (FC1, FC2: §6.1, §6.2).
pub const MAX_READ_BITS: u16 = 2000;
/// One past the last address of every table: addresses are 0..=65535.
pub const ADDRESS_END: u32 = 65_536;

/// Most values of `kind` one read request may ask for.
pub fn max_read(kind: Kind) -> u16 {
    if kind.is_bit() {
        MAX_READ_BITS
    } else {
        MAX_READ_REGISTERS
    }
}

/// Whether `count` items from `start` stay inside the address space.
pub fn fits_address_space(start: u16, count: u16) -> bool {
    u32::from(start) + u32::from(count) <= ADDRESS_END
}

/// The read request (FC1–FC4) for `count` items of `kind` from `start`.
pub fn read_request(kind: Kind, start: u16, count: u16) -> Request<'static> {
    match kind {
        Kind::Coil => Request::ReadCoils(start, count),
        Kind::Discrete => Request::ReadDiscreteInputs(start, count),
        Kind::Input => Request::ReadInputRegisters(start, count),
        Kind::Holding => Request::ReadHoldingRegisters(start, count),
    }
}

/// The kind, start and count of a read request; `None` for any other request.
pub fn read_target(request: &Request<'_>) -> Option<(Kind, u16, u16)> {
    Some(match request {
        Request::ReadCoils(a, n) => (Kind::Coil, *a, *n),
        Request::ReadDiscreteInputs(a, n) => (Kind::Discrete, *a, *n),
        Request::ReadInputRegisters(a, n) => (Kind::Input, *a, *n),
        Request::ReadHoldingRegisters(a, n) => (Kind::Holding, *a, *n),
        _ => return None,
    })
}

/// The exception's number on the wire (its metric label and JSON value).
pub fn exception_number(code: ExceptionCode) -> u8 {
    u8::from(code)
}

/// True for 0x0A and 0x0B: a TCP-to-serial gateway answered for a device
/// behind it that it could not reach, so the device itself is unreachable.
pub fn device_unreachable(code: ExceptionCode) -> bool {
    matches!(
        code,
        ExceptionCode::GatewayPathUnavailable | ExceptionCode::GatewayTargetDevice
    )
}

/// The exception's name as the specification words it (§7), lower case.
pub fn exception_name(code: ExceptionCode) -> &'static str {
    match code {
        ExceptionCode::IllegalFunction => "illegal function",
        ExceptionCode::IllegalDataAddress => "illegal data address",
        ExceptionCode::IllegalDataValue => "illegal data value",
        ExceptionCode::ServerDeviceFailure => "server device failure",
        ExceptionCode::Acknowledge => "acknowledge",
        ExceptionCode::ServerDeviceBusy => "server device busy",
        ExceptionCode::MemoryParityError => "memory parity error",
        ExceptionCode::GatewayPathUnavailable => "gateway path unavailable",
        ExceptionCode::GatewayTargetDevice => "gateway target device failed to respond",
        ExceptionCode::Custom(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_requests_round_trip_through_their_target() {
        for kind in [Kind::Coil, Kind::Discrete, Kind::Input, Kind::Holding] {
            let request = read_request(kind, 7, 3);
            assert_eq!(read_target(&request), Some((kind, 7, 3)));
        }
        assert_eq!(read_target(&Request::WriteSingleRegister(1, 2)), None);
    }

    #[test]
    fn the_address_space_ends_after_register_65535() {
        assert!(fits_address_space(65_535, 1));
        assert!(!fits_address_space(65_535, 2));
        assert!(fits_address_space(0, u16::MAX));
    }

    #[test]
    fn read_limits_follow_the_kind() {
        assert_eq!(max_read(Kind::Coil), 2000);
        assert_eq!(max_read(Kind::Holding), 125);
    }

    #[test]
    fn exceptions_have_their_wire_number_and_name() {
        assert_eq!(exception_number(ExceptionCode::IllegalDataAddress), 2);
        assert_eq!(
            exception_name(ExceptionCode::new(11)),
            "gateway target device failed to respond"
        );
        assert_eq!(exception_number(ExceptionCode::new(0x42)), 0x42);
        assert!(device_unreachable(ExceptionCode::new(0x0A)));
        assert!(device_unreachable(ExceptionCode::new(0x0B)));
        assert!(!device_unreachable(ExceptionCode::ServerDeviceFailure));
        assert_eq!(exception_name(ExceptionCode::new(0x42)), "unknown");
    }
}
