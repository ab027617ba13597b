//! A simulated month on tokio's paused clock: two Modbus TCP devices and an
//! RTU bus with two slaves, all in memory, flap between working and failing
//! (the connection dropped and refused, silence, slow and late answers,
//! exceptions, garbage) on a seeded random schedule, with writes in between.
//!
//! Every tag's quality history, sampled every 10 s of virtual time, must be
//! exactly what its device did: good with the value the device held, then
//! uncertain with the kept value and the fault's cause, then bad once the
//! value is older than `stale_after`. At the end of the month the heap, the
//! tasks and the open connections are back where they were after the first
//! day, and no task panicked.
//!
//! The devices are in memory (an [`edge_gateway::modbus::transport::Connector`]
//! of the test's) because on a paused clock time jumps whenever the runtime
//! is idle: bytes in flight on a real socket or pseudo-terminal would race
//! it. Writing the framing here also lets each fault be exactly what the
//! oracle says it is.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unchecked_time_subtraction
)] // a test states its expectations by panicking; the crate policy is for production code
// (and its durations are constants of a month that cannot run backwards)

mod common;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::config;
use common::counting::{Counting, live_allocations, live_bytes};
use common::fake::{frame, read_frame};
use edge_gateway::config::SerialSettings;
use edge_gateway::engine::Engine;
use edge_gateway::modbus::protocol::ExceptionCode;
use edge_gateway::modbus::transport::{Connector, DeviceStream};
use edge_gateway::tags::{BadCause, Quality, TagId, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::time::{Instant, sleep, sleep_until};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Panics anywhere in the process (a panicking task would otherwise go unseen).
static PANICS: AtomicUsize = AtomicUsize::new(0);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// The month.
const MONTH: Duration = Duration::from_secs(30 * 86_400);
/// Every device's request timeout.
const TIMEOUT: Duration = Duration::from_secs(1);
/// Every device's `stale_after`.
const STALE_AFTER: Duration = Duration::from_secs(300);
/// How often the test samples every tag.
const SAMPLE: Duration = Duration::from_secs(10);
/// A slow device answers this late (within the timeout: still good).
const SLOW: Duration = Duration::from_millis(600);
/// A late RTU slave answers this late: after the timeout, into the drain.
const LATE: Duration = Duration::from_millis(1200);
/// The exception a failing device answers with (04, slave device failure;
/// not 02, which makes the gateway split its blocks).
const EXCEPTION: u8 = 4;
/// Where the writable setpoint is on every device.
const SETPOINT: u16 = 10;

/// What a device does at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answers at once.
    Normal,
    /// Answers after `SLOW`.
    Slow,
    /// TCP: closes its connection and refuses new ones.
    Drop,
    /// Reads requests and never answers.
    Silence,
    /// RTU: answers after `LATE`.
    Late,
    /// Answers every request with exception `EXCEPTION`.
    Exception,
    /// Answers with a frame that is no answer: TCP, a header of another
    /// protocol; RTU, a frame of the wrong shape with a valid CRC.
    Garbage,
    /// TCP: answers with noise that reads as the start of a frame far
    /// longer than what follows, so no frame ever completes: to the
    /// gateway, no answer.
    Noise,
}

impl Mode {
    /// The cause the gateway must report, or `None` when it must stay good.
    fn cause(self) -> Option<BadCause> {
        match self {
            Mode::Normal | Mode::Slow => None,
            Mode::Drop | Mode::Garbage => Some(BadCause::Communication),
            Mode::Silence | Mode::Late | Mode::Noise => Some(BadCause::Timeout),
            Mode::Exception => Some(BadCause::Exception(ExceptionCode::ServerDeviceFailure)),
        }
    }
}

/// One stretch of a device's month.
#[derive(Debug, Clone, Copy)]
struct Phase {
    start: Duration,
    mode: Mode,
    /// The register value the device holds from this phase on (working phases).
    value: u16,
}

/// One simulated device (a TCP endpoint, or one slave of the RTU bus).
#[derive(Debug)]
struct Device {
    mode: Mode,
    registers: HashMap<u16, u16>,
}

/// The devices, shared by the test, the connector and the device tasks.
#[derive(Debug, Default)]
struct Net {
    /// By name: TCP endpoint, or "port/unit" for an RTU slave.
    devices: Mutex<HashMap<String, Device>>,
    /// Connections (and open ports) whose device end is still served.
    open: Arc<AtomicUsize>,
}

impl Net {
    fn add(&self, name: &str) {
        self.devices.lock().unwrap().insert(
            name.to_owned(),
            Device {
                mode: Mode::Normal,
                registers: HashMap::new(),
            },
        );
    }

    fn mode(&self, name: &str) -> Mode {
        self.devices.lock().unwrap()[name].mode
    }

    fn set(&self, name: &str, phase: &Phase) {
        let mut devices = self.devices.lock().unwrap();
        let d = devices.get_mut(name).unwrap();
        d.mode = phase.mode;
        if phase.mode.cause().is_none() {
            for (address, v) in [(0, phase.value), (1, phase.value ^ 0x5555)] {
                d.registers.insert(address, v);
            }
        }
    }

    fn register(&self, name: &str, address: u16) -> u16 {
        self.devices.lock().unwrap()[name]
            .registers
            .get(&address)
            .copied()
            .unwrap_or(0)
    }

    /// The PDU answering `request`, or `None` for a function we do not serve.
    fn answer(&self, name: &str, request: &[u8]) -> Option<Vec<u8>> {
        let mut devices = self.devices.lock().unwrap();
        let d = devices.get_mut(name)?;
        let function = *request.first()?;
        let word = |at: usize| u16::from_be_bytes([request[at], request[at + 1]]);
        if d.mode == Mode::Exception {
            return Some(vec![function | 0x80, EXCEPTION]);
        }
        match function {
            3 => {
                let (start, count) = (word(1), word(3));
                let mut pdu = vec![3, u8::try_from(count * 2).ok()?];
                for a in start..start + count {
                    pdu.extend(d.registers.get(&a).copied().unwrap_or(0).to_be_bytes());
                }
                Some(pdu)
            }
            6 => {
                d.registers.insert(word(1), word(3));
                Some(request[..5].to_vec())
            }
            16 => {
                let (start, count) = (word(1), word(3));
                for i in 0..count {
                    d.registers.insert(start + i, word(6 + 2 * usize::from(i)));
                }
                Some(request[..5].to_vec())
            }
            _ => Some(vec![function | 0x80, 1]),
        }
    }
}

/// Counts a served connection while it lives.
struct Served(Arc<AtomicUsize>);

impl Served {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::SeqCst);
        Served(open.clone())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serve Modbus TCP (MBAP) for device `name` on `stream`.
async fn serve_tcp(net: Arc<Net>, name: String, mut stream: DuplexStream) {
    let _served = Served::new(&net.open);
    while let Some((tid, unit, pdu)) = read_frame(&mut stream).await {
        let reply = match net.mode(&name) {
            Mode::Drop => return,
            Mode::Silence => continue,
            Mode::Garbage => {
                let mut f = frame(tid, unit, &[3, 2, 0, 0]);
                f[2] = 0x42; // protocol id: not Modbus (0)
                f
            }
            Mode::Noise => vec![0xFF; 20],
            mode => {
                if mode == Mode::Slow {
                    sleep(SLOW).await;
                }
                let Some(answer) = net.answer(&name, &pdu) else {
                    return;
                };
                frame(tid, unit, &answer)
            }
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

/// The Modbus CRC-16 of `bytes`, low byte first on the wire.
fn crc16(bytes: &[u8]) -> u16 {
    let mut crc = 0xFFFFu16;
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
    crc
}

fn rtu_frame(unit: u8, pdu: &[u8]) -> Vec<u8> {
    let mut f = vec![unit];
    f.extend_from_slice(pdu);
    let crc = crc16(&f);
    f.extend(crc.to_le_bytes());
    f
}

/// Read one RTU request (functions 3, 6, 16): (unit, PDU).
async fn read_rtu_request(s: &mut DuplexStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 6];
    s.read_exact(&mut head).await.ok()?;
    let mut f = head.to_vec();
    if head[1] == 16 {
        let n = usize::from(s.read_u8().await.ok()?);
        f.push(u8::try_from(n).ok()?);
        let mut data = vec![0u8; n];
        s.read_exact(&mut data).await.ok()?;
        f.extend(data);
    }
    let mut crc = [0u8; 2];
    s.read_exact(&mut crc).await.ok()?;
    assert_eq!(
        u16::from_le_bytes(crc),
        crc16(&f),
        "the gateway sent a frame with a bad CRC"
    );
    Some((f[0], f[1..].to_vec()))
}

/// Serve the RTU bus `port` (slaves named "port/unit") on `stream`.
async fn serve_rtu(net: Arc<Net>, port: String, mut stream: DuplexStream) {
    let _served = Served::new(&net.open);
    while let Some((unit, pdu)) = read_rtu_request(&mut stream).await {
        let name = format!("{port}/{unit}");
        let reply = match net.mode(&name) {
            Mode::Silence => continue,
            // A well-formed frame (valid CRC) of the wrong shape: one
            // register short for a read, a bare function code otherwise.
            Mode::Garbage if pdu[0] == 3 && pdu[4] > 1 => {
                let count = pdu[4] - 1;
                let mut answer = vec![3, count * 2];
                answer.extend(std::iter::repeat_n(0u8, usize::from(count) * 2));
                rtu_frame(unit, &answer)
            }
            Mode::Garbage => rtu_frame(unit, &[pdu[0]]),
            mode => {
                match mode {
                    Mode::Slow => sleep(SLOW).await,
                    Mode::Late => sleep(LATE).await,
                    _ => {}
                }
                rtu_frame(unit, &net.answer(&name, &pdu).unwrap())
            }
        };
        if stream.write_all(&reply).await.is_err() {
            return;
        }
    }
}

#[derive(Debug)]
struct MemoryConnector(Arc<Net>);

#[async_trait::async_trait]
impl Connector for MemoryConnector {
    async fn connect_tcp(&self, endpoint: &str) -> io::Result<Box<dyn DeviceStream>> {
        if self.0.mode(endpoint) == Mode::Drop {
            return Err(io::ErrorKind::ConnectionRefused.into());
        }
        let (ours, theirs) = tokio::io::duplex(4096);
        tokio::spawn(serve_tcp(self.0.clone(), endpoint.to_owned(), theirs));
        Ok(Box::new(ours))
    }

    fn open_serial(&self, port: &str, _: SerialSettings) -> io::Result<Box<dyn DeviceStream>> {
        let (ours, theirs) = tokio::io::duplex(4096);
        tokio::spawn(serve_rtu(self.0.clone(), port.to_owned(), theirs));
        Ok(Box::new(ours))
    }
}

/// splitmix64: the schedule's seeded randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = (hi - lo).as_secs();
        lo + Duration::from_secs(self.next() % (span + 1))
    }
}

/// A device's month: working stretches (20 min to 8 h) between faults from
/// `faults`, each either short (90 s to 3 min: only uncertain) or long
/// (15 min to 12 h: then bad); the last two hours of the first day, of the
/// fifteenth and of the month work, so that the measurements see every
/// device up.
fn schedule(rng: &mut Rng, faults: &[Mode], first_value: u16) -> Vec<Phase> {
    let quiet = [
        (DAY - 2 * HOUR, DAY),
        (15 * DAY - 2 * HOUR, 15 * DAY),
        (MONTH - 2 * HOUR, MONTH),
    ];
    let mut phases: Vec<Phase> = Vec::new();
    let mut at = Duration::ZERO;
    let mut value = first_value;
    // The last phase runs to the end of the month: at least 30 minutes.
    while at < MONTH - 30 * MINUTE {
        let calm = quiet.iter().any(|(from, to)| at >= *from && at < *to);
        // Faults never follow each other: the oracle's rule for a fault
        // starts from a good value.
        let working = calm || phases.last().is_none_or(|p| p.mode.cause().is_some());
        let (mode, mut end) = if working {
            let mode = if rng.next().is_multiple_of(4) {
                Mode::Slow
            } else {
                Mode::Normal
            };
            (mode, at + rng.between(20 * MINUTE, 8 * HOUR))
        } else {
            let mode = faults[usize::try_from(rng.next() % 64).unwrap() % faults.len()];
            let length = if rng.next().is_multiple_of(3) {
                rng.between(Duration::from_secs(90), 3 * MINUTE)
            } else {
                rng.between(15 * MINUTE, 12 * HOUR)
            };
            (mode, at + length)
        };
        if !working {
            // A fault ends where a calm stretch begins (if that leaves it
            // 90 s at least; otherwise there is none).
            if let Some((from, _)) = quiet.iter().find(|(from, _)| at < *from && end > *from) {
                end = *from;
                if end - at < Duration::from_secs(90) {
                    at = end;
                    continue;
                }
            }
        }
        value = value.wrapping_add(1);
        phases.push(Phase {
            start: at,
            mode,
            value,
        });
        at = end;
    }
    phases
}

/// What a tag shows, as the history compares it: the level, the cause and
/// (unless bad) the value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Seen {
    Good(u16),
    Uncertain(BadCause, u16),
    Bad(BadCause),
}

fn seen(quality: Quality, value: Option<&Value>) -> Option<Seen> {
    let v = match value {
        Some(Value::U16(v)) => Some(*v),
        _ => None,
    };
    Some(match quality {
        Quality::Good => Seen::Good(v?),
        Quality::Uncertain(c) => Seen::Uncertain(c, v?),
        Quality::Bad(BadCause::Waiting) => return None,
        Quality::Bad(c) => Seen::Bad(c),
    })
}

/// The history a tag at register `address` must show for `phases`.
fn expected(phases: &[Phase], address: u16) -> Vec<Seen> {
    let shown = |v: u16| if address == 0 { v } else { v ^ 0x5555 };
    let mut out: Vec<Seen> = Vec::new();
    let mut last_good = None;
    for (i, p) in phases.iter().enumerate() {
        let end = phases.get(i + 1).map_or(MONTH, |n| n.start);
        let next = match p.mode.cause() {
            None => {
                last_good = Some(shown(p.value));
                vec![Seen::Good(shown(p.value))]
            }
            Some(cause) => {
                let kept = last_good.expect("a fault follows a working phase");
                let mut v = vec![Seen::Uncertain(cause, kept)];
                if end - p.start > STALE_AFTER {
                    v.push(Seen::Bad(cause));
                }
                v
            }
        };
        for s in next {
            if out.last() != Some(&s) {
                out.push(s);
            }
        }
    }
    out
}

/// Open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

struct Probe {
    name: String,
    tags: [TagId; 2],
    setpoint: TagId,
    phases: Vec<Phase>,
    history: [Vec<Seen>; 2],
}

#[tokio::test(start_paused = true)]
#[allow(clippy::too_many_lines)] // one month, told in order
async fn a_month_of_flapping_devices_leaves_no_trace_and_every_quality_tells_the_truth() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        default_hook(info);
    }));
    let net = Arc::new(Net::default());
    let devices = [
        ("plc-a:502", "plc_a"),
        ("meter-b:502", "meter_b"),
        ("/sim/rtu0/1", "slave_1"),
        ("/sim/rtu0/2", "slave_2"),
    ];
    let mut text = String::new();
    for (net_name, name) in devices {
        net.add(net_name);
        let transport = match net_name.strip_prefix("/sim/rtu0/") {
            Some(unit) => format!("protocol = \"rtu\"\nport = \"/sim/rtu0\"\nunit = {unit}"),
            None => format!("protocol = \"tcp\"\nhost = \"{net_name}\""),
        };
        writeln!(
            text,
            "[[device]]\nname = \"{name}\"\n{transport}\npoll = \"30s\"\ntimeout = \"1s\"\n\
             stale_after = \"5m\"\nbackoff_max = \"10s\"\n\
             [[device.tag]]\nname = \"a\"\naddress = \"40001\"\ntype = \"u16\"\n\
             [[device.tag]]\nname = \"b\"\naddress = \"40002\"\ntype = \"u16\"\n\
             [[device.tag]]\nname = \"setpoint\"\naddress = \"40011\"\ntype = \"u16\"\nwritable = true"
        )
        .unwrap();
    }
    let cfg = config(&text);

    let mut rng = Rng(0x006D_6F6E_7468);
    let menus: [&[Mode]; 4] = [
        &[Mode::Drop, Mode::Silence, Mode::Exception, Mode::Garbage],
        &[Mode::Drop, Mode::Silence, Mode::Noise, Mode::Garbage],
        &[Mode::Silence, Mode::Late, Mode::Exception, Mode::Garbage],
        &[Mode::Silence, Mode::Exception],
    ];
    let connector: Arc<dyn Connector> = Arc::new(MemoryConnector(net.clone()));
    let engine = Engine::start_with(&cfg, &connector);
    let store = engine.store().clone();
    let mut probes: Vec<Probe> = devices
        .iter()
        .zip(menus)
        .enumerate()
        .map(|(i, ((net_name, name), menu))| {
            let phases = schedule(&mut rng, menu, u16::try_from(i).unwrap() * 10_000);
            net.set(net_name, &phases[0]);
            Probe {
                name: (*net_name).to_owned(),
                tags: [
                    store.find(name, "a").unwrap(),
                    store.find(name, "b").unwrap(),
                ],
                setpoint: store.find(name, "setpoint").unwrap(),
                phases,
                // Reserved now, so that the histories do not count as heap
                // the gateway grew.
                history: [Vec::with_capacity(8192), Vec::with_capacity(8192)],
            }
        })
        .collect();

    // Every phase change and every sample, in time order.
    let start = Instant::now();
    let mut changes: Vec<(Duration, usize, usize)> = probes
        .iter()
        .enumerate()
        .flat_map(|(d, p)| {
            p.phases
                .iter()
                .enumerate()
                .skip(1)
                .map(move |(i, ph)| (ph.start, d, i))
        })
        .collect();
    changes.sort_unstable();
    let mut next_change = 0;
    let mut baseline = None;
    let mut writes = (0usize, 0usize);
    let mut t = Duration::ZERO;
    while t < MONTH {
        t += SAMPLE;
        while let Some(&(at, d, i)) = changes.get(next_change) {
            if at > t {
                break;
            }
            sleep_until(start + at).await;
            let probe = &probes[d];
            let phase = probe.phases[i];
            net.set(&probe.name, &phase);
            next_change += 1;
        }
        sleep_until(start + t).await;
        for probe in &mut probes {
            for (k, id) in probe.tags.iter().enumerate() {
                let snap = store.snapshot(*id).unwrap();
                if let Some(s) = seen(snap.quality, snap.value.as_ref())
                    && probe.history[k].last() != Some(&s)
                {
                    assert!(probe.history[k].len() < probe.history[k].capacity());
                    probe.history[k].push(s);
                }
            }
        }
        // Every six hours, a write to each device: it must land when the
        // device works, and fail in time (with nothing written) when not.
        if t.as_secs().is_multiple_of(6 * 3600) {
            for probe in &probes {
                let value = u16::try_from(t.as_secs() / 3600 % 60_000).unwrap();
                let before = net.register(&probe.name, SETPOINT);
                let mode = net.mode(&probe.name);
                let asked = Instant::now();
                let result = engine
                    .write_id(probe.setpoint, Value::U16(value), asked + 5 * TIMEOUT)
                    .await;
                assert!(asked.elapsed() <= 5 * TIMEOUT + Duration::from_millis(100));
                if mode.cause().is_none() {
                    result.unwrap_or_else(|e| {
                        panic!("{}: a write in mode {mode:?} at {t:?}: {e}", probe.name)
                    });
                    assert_eq!(net.register(&probe.name, SETPOINT), value);
                    writes.0 += 1;
                } else if mode == Mode::Drop || mode == Mode::Silence || mode == Mode::Exception {
                    assert!(result.is_err(), "{}: a write in mode {mode:?}", probe.name);
                    assert_eq!(net.register(&probe.name, SETPOINT), before);
                    writes.1 += 1;
                }
            }
        }
        if t == DAY - 5 * MINUTE || t == 15 * DAY - 5 * MINUTE || t == MONTH - 5 * MINUTE {
            let metrics = tokio::runtime::Handle::current().metrics();
            let now = (
                live_bytes(),
                metrics.num_alive_tasks(),
                net.open.load(Ordering::SeqCst),
                open_fds(),
                live_allocations(),
            );
            eprintln!(
                "at {:?}: heap {} bytes in {} allocations, {} tasks, {} device connections, {} fds",
                t, now.0, now.4, now.1, now.2, now.3
            );
            if let Some(b) = baseline {
                let (bytes, allocations, tasks, connections, fds) = b;
                // The first half may still reach high-water marks (a map's
                // capacity); after it, nothing may grow at all.
                let slack = if t < MONTH / 2 { 64 << 10 } else { 1 << 10 };
                assert!(
                    now.0 - bytes < slack,
                    "at {t:?} the heap grew by {} bytes",
                    now.0 - bytes
                );
                if t > MONTH / 2 {
                    assert!(
                        now.4 <= allocations,
                        "allocations {allocations} -> {}",
                        now.4
                    );
                }
                assert_eq!(now.1, tasks, "tasks");
                assert_eq!(now.2, connections, "device connections");
                assert_eq!(now.3, fds, "file descriptors");
            }
            baseline = Some((now.0, now.4, now.1, now.2, now.3));
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a task panicked");
    engine
        .health()
        .liveness()
        .unwrap_or_else(|e| panic!("after the month: {e}"));
    eprintln!("writes: {} landed, {} refused", writes.0, writes.1);
    for probe in &probes {
        for (k, address) in [0u16, 1].into_iter().enumerate() {
            let want = expected(&probe.phases, address);
            let got = &probe.history[k];
            if let Some(i) = want.iter().zip(got).position(|(w, g)| w != g) {
                eprintln!(
                    "phases: {:?}",
                    &probe.phases[..probe.phases.len().min(i + 4)]
                );
                panic!(
                    "{} register {address}: history differs at entry {i}: expected {:?}, saw {:?}",
                    probe.name,
                    &want[i.saturating_sub(2)..(i + 3).min(want.len())],
                    &got[i.saturating_sub(2)..(i + 3).min(got.len())]
                );
            }
            assert_eq!(want.len(), got.len(), "{} register {address}", probe.name);
            eprintln!(
                "{} register {address}: {} phases, {} quality changes as expected",
                probe.name,
                probe.phases.len(),
                got.len()
            );
        }
    }
    engine.shutdown();
}
