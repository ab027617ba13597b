//! The `edge-gateway` binary as a user runs it: check on the shipped config and
//! the examples, refusal of a bad config, check's serial-load verdict, read
//! probes over IPv4 and IPv6, hash-password, and `run` serving its own /metrics.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::fmt::Write as _;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edge-gateway"))
}

/// A fresh directory for this test's files.
fn temp_dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edge-gateway-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// An RTU device on a port that is never opened (check does not connect):
/// `blocks` one-register reads, kept apart by `max_gap = 0`.
fn rtu_config(baud: u32, poll: &str, blocks: usize) -> String {
    let mut text = format!(
        "[[device]]\nname = \"drive\"\nprotocol = \"rtu\"\nport = \"/dev/ttyS9\"\nbaud = {baud}\nunit = 1\npoll = \"{poll}\"\nmax_gap = 0\n"
    );
    for i in 0..blocks {
        let _ = write!(
            text,
            "[[device.tag]]\nname = \"t{i}\"\naddress = \"{}\"\ntype = \"u16\"\n",
            40_001 + 2 * i
        );
    }
    text
}

/// `check -c path`: its exit code, stdout and stderr.
fn check_exit(path: &str) -> (Option<i32>, String, String) {
    let out = bin()
        .args(["check", "-c", path])
        .output()
        .expect("run edge-gateway");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `check -c path`: whether it succeeded, stdout and stderr.
fn check(path: &str) -> (bool, String, String) {
    let (code, out, err) = check_exit(path);
    (code == Some(0), out, err)
}

#[test]
fn shipped_config_checks_and_coalesces_fifteen_tags_into_four_requests() {
    let (ok, out, err) = check("gateway.toml");
    assert!(ok, "{err}");
    assert!(
        err.trim().is_empty(),
        "the shipped config has no warnings: {err}"
    );
    assert!(
        out.contains("total: 2 devices, 15 tags, 4 requests per cycle (naive: 15)"),
        "{out}"
    );
    // Each device line counts its tags and each block names the tags it reads.
    assert!(
        out.contains("device meter1 (unit 1, poll 1s, timeout 400ms): 6 tags -> 2 requests"),
        "{out}"
    );
    assert!(
        out.contains("(  4 registers) frequency, import_energy"),
        "{out}"
    );
}

#[test]
fn every_example_checks_without_warnings() {
    let mut checked = 0;
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let (ok, out, err) = check(path.to_str().unwrap());
            assert!(ok, "{}: {err}", path.display());
            assert!(err.trim().is_empty(), "{}: {err}", path.display());
            assert!(out.contains("requests per cycle"), "{out}");
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "expected at least three examples, found {checked}"
    );
}

#[test]
fn a_bad_config_is_refused_with_file_line_and_key() {
    let dir = std::env::temp_dir().join(format!("edge-gateway-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[[device]]\nname = \"m\"\nprotocol = \"tcp\"\nhost = \"127.0.0.1:502\"\n[[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntpye = \"u16\"\n",
    )
    .unwrap();
    let out = bin()
        .args(["check", "-c", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let typo = format!(
        "{}:8:1: error: unknown field `tpye`, expected one of `name`, `kind`, `address`, `type`,",
        path.display()
    );
    assert!(err.lines().any(|l| l.starts_with(&typo)), "{err}");
    assert!(
        !err.contains("missing key"),
        "a typo is reported once, as unknown, not again as missing: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_exits_3_when_a_serial_bus_is_estimated_over_full_load() {
    // 8 one-register reads at 1200 baud 8E1: 8 × 22 chars × 11 bits ≈ 1.6 s every 500 ms.
    let path = temp_dir("overload").join("overloaded.toml");
    std::fs::write(&path, rtu_config(1200, "500ms", 8)).unwrap();
    let (code, stdout, stderr) = check_exit(path.to_str().unwrap());
    assert_eq!(code, Some(3), "{stdout}{stderr}");
    assert!(
        stdout.contains("serial 1200 8E1: estimated bus load 322.7 %"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  error: bus load above 100 %: the bus cannot keep these poll intervals"),
        "{stdout}"
    );
    assert!(
        stderr.contains(
            "error: bus rtu:///dev/ttyS9: estimated load 322.7 % is above 100 %; it cannot keep its poll intervals"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "{}: refused: a serial bus is overloaded (exit 3)",
            path.display()
        )),
        "{stderr}"
    );
    assert!(!stdout.contains(": OK"), "{stdout}");
}

#[test]
fn check_warns_about_a_serial_bus_above_80_percent_and_still_exits_0() {
    // 2 one-register reads at 9600 baud 8E1: 2 × 22 chars × 11 bits ≈ 50.4 ms every 60 ms.
    let path = temp_dir("busy").join("busy.toml");
    std::fs::write(&path, rtu_config(9600, "60ms", 2)).unwrap();
    let (code, stdout, stderr) = check_exit(path.to_str().unwrap());
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stdout.contains("serial 9600 8E1: estimated bus load 84.0 %"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  warning: bus load above 80 %: poll less often"),
        "{stdout}"
    );
    assert!(
        stderr.contains("warning: bus rtu:///dev/ttyS9: estimated load 84.0 % is above 80 %"),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("{}: OK", path.display())),
        "{stdout}"
    );
}

#[test]
fn hash_password_reads_twice_from_stdin_and_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = bin()
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"correct horse\ncorrect horse\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap();
    assert!(
        edge_gateway::opcua::password::verify_password(hash.trim(), "correct horse"),
        "{hash}"
    );
}

/// `edge-gateway read --host <host> --address 40001 --type f32 --order cdab`.
async fn read_f32(host: String) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        bin()
            .args([
                "read",
                "--host",
                &host,
                "--address",
                "40001",
                "--type",
                "f32",
                "--order",
                "cdab",
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn assert_reads_230_5(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("holding      0 (400001)  f32    = 230.5"),
        "{stdout}"
    );
    assert!(stdout.contains("[0x8000 0x4366]"), "{stdout}");
}

const F32_REGISTER: &str = "[[simulator.register]]\naddress = \"40001\"\ntype = \"f32\"\norder = \"CDAB\"\nvalue = 230.5\n";

#[tokio::test]
async fn read_probe_prints_decoded_values_from_a_live_device() {
    let (_sim, addr) = common::start_sim(F32_REGISTER).await;
    assert_reads_230_5(&read_f32(addr.to_string()).await);
}

#[tokio::test]
async fn read_probe_reaches_a_device_on_ipv6_loopback() {
    let cfg = common::config(&format!(
        "[simulator]\nlisten = \"[::1]:0\"\n{F32_REGISTER}"
    ));
    let sim_cfg = cfg.simulator.expect("simulator section");
    let sim = edge_gateway::sim::Simulator::new(&sim_cfg).expect("simulator builds");
    let addr = sim
        .start_tcp(sim_cfg.listen)
        .await
        .expect("simulator listens on [::1]");
    assert!(addr.is_ipv6(), "{addr}");
    // The same spelling gateway.toml takes: "[::1]:port".
    assert_reads_230_5(&read_f32(format!("[::1]:{}", addr.port())).await);
}

#[test]
fn read_refuses_a_host_whose_port_is_not_a_port() {
    let out = bin()
        .args(["read", "--host", "[::1]:99999", "--address", "40001"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: --host \"[::1]:99999\": \"99999\" is not a TCP port (1..=65535)"),
        "{err}"
    );
}

/// Kills the gateway when the test ends, pass or fail.
struct Gateway(std::process::Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn run_serves_its_own_process_start_time_on_metrics() {
    use std::io::BufRead;
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let path = temp_dir("run").join("gateway.toml");
    // Port 0: the gateway logs the address it bound.
    std::fs::write(
        &path,
        "[gateway]\nname = \"cli-test\"\n[http]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = bin()
        .args(["run", "-c", path.to_str().unwrap(), "--log", "info"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _gateway = Gateway(child);
    let http: std::net::SocketAddr = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || {
            let mut log = String::new();
            for line in std::io::BufReader::new(stderr).lines() {
                let line = line.unwrap();
                log.push_str(&line);
                log.push('\n');
                if let Some(addr) = line
                    .split_whitespace()
                    .find_map(|w| w.strip_prefix("http="))
                {
                    return addr.parse().unwrap();
                }
            }
            panic!("the gateway exited without logging its HTTP address:\n{log}");
        }),
    )
    .await
    .expect("the gateway starts within 30 s")
    .unwrap();
    let (status, _, metrics) = common::http_get(http, "/metrics").await;
    assert_eq!(status, 200, "{metrics}");
    let value: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("process_start_time_seconds "))
        .unwrap_or_else(|| panic!("no process_start_time_seconds:\n{metrics}"))
        .parse()
        .unwrap();
    // Marked by the binary itself at start-up: after this test began, and not in the future.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        value >= started.floor() && value <= now,
        "process_start_time_seconds {value} not within [{started}, {now}]"
    );
}

/// Two RTU devices, one on `a` and one on `b`, at the given bauds.
fn two_rtu_devices(a: &str, baud_a: u32, b: &str, baud_b: u32) -> String {
    let mut text = String::new();
    for (i, (port, baud)) in [(a, baud_a), (b, baud_b)].into_iter().enumerate() {
        let _ = write!(
            text,
            "[[device]]\nname = \"drive{i}\"\nprotocol = \"rtu\"\nport = \"{port}\"\nbaud = {baud}\nunit = {}\npoll = \"2s\"\n\
             [[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n",
            i + 1
        );
    }
    text
}

#[test]
fn check_resolves_a_symlinked_serial_port_to_the_bus_it_shares() {
    let dir = temp_dir("serial-alias");
    let tty = dir.join("ttyUSB-real");
    let link = dir.join("usb-FTDI_FT232R-if00-port0");
    std::fs::write(&tty, b"").unwrap();
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&tty, &link).unwrap();
    let (tty, link) = (tty.to_str().unwrap(), link.to_str().unwrap());

    let same = dir.join("same.toml");
    std::fs::write(&same, two_rtu_devices(tty, 9600, link, 9600)).unwrap();
    let (ok, stdout, stderr) = check(same.to_str().unwrap());
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "device \"drive1\": port {link} is the same serial port as {tty} of device \"drive0\""
        )),
        "{stderr}"
    );
    assert_eq!(
        stdout.matches("bus rtu://").count(),
        1,
        "one bus for both names: {stdout}"
    );

    let differ = dir.join("differ.toml");
    std::fs::write(&differ, two_rtu_devices(tty, 9600, link, 19200)).unwrap();
    let (ok, stdout, stderr) = check(differ.to_str().unwrap());
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("device \"drive1\": serial settings on"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_two_listeners_on_one_address() {
    let path = temp_dir("listen-clash").join("clash.toml");
    std::fs::write(
        &path,
        "[simulator]\nlisten = \"127.0.0.1:9898\"\n[http]\nlisten = \"127.0.0.1:9898\"\n",
    )
    .unwrap();
    let (ok, stdout, stderr) = check(path.to_str().unwrap());
    assert!(!ok, "{stdout}{stderr}");
    assert!(
        stderr.contains(":2:10: error: simulator: listen: 127.0.0.1:9898 clashes with http: listen 127.0.0.1:9898 (line 4)"),
        "{stderr}"
    );
}
