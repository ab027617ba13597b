//! Bytes from a device as the answer to one request, over TCP (MBAP) or RTU
//! (CRC) framing: garbage, truncated frames, frames split across writes and
//! late or extra bytes. tokio-modbus's parser and the link's shape check
//! either refuse them or hand on a response of exactly the requested shape;
//! never a panic, never a hang (a missing answer runs into the timeout on a
//! paused clock, so no input waits in real time).
//!
//! Input: `mode` (bit 0: RTU; bit 1: make the first segment's header right:
//! the request's transaction id on TCP, a valid CRC on RTU), the request
//! (`function`, `count`), then segments `[length, delay_ms, bytes...]` that
//! the device writes one after another.
#![no_main]

#[path = "../common/paused.rs"]
mod paused;

use std::time::Duration;

use edge_gateway::modbus::link::check_shape;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
use tokio_modbus::client::{Client, Context, rtu, tcp};
use tokio_modbus::prelude::{Request, Response, Slave, SlaveContext};

/// How long the client waits for each answer (virtual time).
const WAIT: Duration = Duration::from_millis(200);
/// Requests sent per input: the second one meets whatever the device still sends.
const CALLS: usize = 2;

fn request(function: u8, count: u8) -> Request<'static> {
    let n = u16::from(count);
    match function % 8 {
        0 => Request::ReadCoils(3, n),
        1 => Request::ReadDiscreteInputs(3, n),
        2 => Request::ReadHoldingRegisters(3, n),
        3 => Request::ReadInputRegisters(3, n),
        4 => Request::WriteSingleRegister(3, n),
        5 => Request::WriteSingleCoil(3, count & 1 == 1),
        6 => Request::WriteMultipleRegisters(3, vec![7; usize::from(count % 124) + 1].into()),
        _ => Request::WriteMultipleCoils(3, vec![true; usize::from(count % 200) + 1].into()),
    }
}

/// Modbus RTU CRC-16 (polynomial 0xA001, initial 0xFFFF), low byte first on the wire.
fn crc16(bytes: &[u8]) -> [u8; 2] {
    let mut crc: u16 = 0xFFFF;
    for b in bytes {
        crc ^= u16::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
    }
    crc.to_le_bytes()
}

/// The device: reads each request, then writes the segments with their delays.
async fn device(mut io: DuplexStream, mode: u8, segments: Vec<u8>) {
    let mut segments = segments.as_slice();
    let mut first = [0u8; 512];
    let Ok(read) = io.read(&mut first).await else {
        return;
    };
    let mut fix = mode & 2 != 0;
    while let [len, delay, rest @ ..] = segments {
        let take = usize::from(*len).min(rest.len());
        let (bytes, tail) = rest.split_at(take);
        segments = tail;
        let mut frame = bytes.to_vec();
        if fix {
            fix = false;
            if mode & 1 == 0 {
                if let (Some(dst), Some(src)) = (frame.get_mut(..2), first.get(..2.min(read))) {
                    if src.len() == 2 {
                        dst.copy_from_slice(src);
                    }
                }
            } else {
                let crc = crc16(&frame);
                frame.extend_from_slice(&crc);
            }
        }
        tokio::time::sleep(Duration::from_millis(u64::from(*delay))).await;
        if io.write_all(&frame).await.is_err() {
            return;
        }
    }
    // Keep the line open: a closed line is a different (and easier) case.
    let mut sink = [0u8; 512];
    while matches!(io.read(&mut sink).await, Ok(n) if n > 0) {}
}

/// Whether `response` is what `request` asked for, stated independently of the link.
fn answers(request: &Request<'_>, response: &Response) -> bool {
    match (request, response) {
        (Request::ReadCoils(_, n), Response::ReadCoils(bits))
        | (Request::ReadDiscreteInputs(_, n), Response::ReadDiscreteInputs(bits)) => {
            (bits.len() + 7) / 8 == (usize::from(*n) + 7) / 8
        }
        (Request::ReadHoldingRegisters(_, n), Response::ReadHoldingRegisters(r))
        | (Request::ReadInputRegisters(_, n), Response::ReadInputRegisters(r)) => {
            r.len() == usize::from(*n)
        }
        (Request::WriteSingleRegister(a, v), Response::WriteSingleRegister(b, w)) => {
            a == b && v == w
        }
        (Request::WriteSingleCoil(a, v), Response::WriteSingleCoil(b, w)) => a == b && v == w,
        (Request::WriteMultipleRegisters(a, v), Response::WriteMultipleRegisters(b, n)) => {
            a == b && v.len() == usize::from(*n)
        }
        (Request::WriteMultipleCoils(a, v), Response::WriteMultipleCoils(b, n)) => {
            a == b && v.len() == usize::from(*n)
        }
        _ => false,
    }
}

async fn exchange(data: &[u8]) {
    let [mode, function, count, segments @ ..] = data else {
        return;
    };
    let (client_io, device_io) = duplex(4096);
    let mut ctx: Context = if mode & 1 == 0 {
        tcp::attach(client_io)
    } else {
        rtu::attach_slave(client_io, Slave(1))
    };
    ctx.set_slave(Slave(1));
    let device = tokio::spawn(device(device_io, *mode, segments.to_vec()));
    for _ in 0..CALLS {
        let asked = request(*function, *count);
        let Ok(result) = tokio::time::timeout(WAIT, ctx.call(asked.clone())).await else {
            break;
        };
        match result {
            Ok(Ok(response)) => {
                if let Ok(shaped) = check_shape(&asked, response) {
                    assert!(
                        answers(&asked, &shaped),
                        "{shaped:?} passed the shape check for {asked:?}"
                    );
                }
            }
            Ok(Err(_exception)) => {}
            Err(_) => break,
        }
    }
    // Awaited, so the task is freed inside this input (no leak across inputs).
    device.abort();
    let _ = device.await;
}

fuzz_target!(|data: &[u8]| {
    paused::block_on(exchange(data));
});
