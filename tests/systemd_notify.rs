//! The binary speaks systemd's notify protocol: READY=1 once listening,
//! STATUS and WATCHDOG=1 while healthy, a config check on SIGHUP, STOPPING=1
//! on SIGTERM. systemd is played by a datagram socket in a temp directory.
// A wall-clock bound on waiting for a child process, not scheduling logic;
// and a test states its expectations by panicking.
#![allow(
    clippy::disallowed_types,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant as WallClock};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// `/metrics` of the gateway on `port`, over a plain socket.
fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn run_notifies_ready_status_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("eg-systemd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket);
    let systemd = UnixDatagram::bind(&socket).unwrap();
    systemd
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = free_port();
    let http = free_port();
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            "[http]\nlisten = \"127.0.0.1:{http}\"\n[simulator]\nlisten = \"127.0.0.1:{port}\"\n\
             [[simulator.register]]\naddress = \"40001\"\nvalue = 5\n\
             [[device]]\nname = \"d\"\nprotocol = \"tcp\"\nhost = \"127.0.0.1:{port}\"\npoll = \"100ms\"\ntimeout = \"50ms\"\n\
             [[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_edge-gateway"))
        .args(["run", "-c", config.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &socket)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("WATCHDOG_PID")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut messages: Vec<String> = Vec::new();
    let receive_until =
        |done: &dyn Fn(&[String]) -> bool, what: &str, messages: &mut Vec<String>| {
            let deadline = WallClock::now() + Duration::from_secs(15);
            let mut buf = [0u8; 512];
            while !done(messages) {
                assert!(
                    WallClock::now() < deadline,
                    "no {what} from the gateway; got {messages:?}"
                );
                if let Ok(n) = systemd.recv(&mut buf) {
                    messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        };
    let count = |m: &[String], s: &str| m.iter().filter(|x| x.contains(s)).count();
    receive_until(&|m| count(m, "READY=1") == 1, "READY=1", &mut messages);
    // A reload the moment READY is out (systemctl reload right after start):
    // SIGHUP is caught from before READY=1, so it checks the config.
    signal(pid, "-HUP");
    receive_until(
        &|m| count(m, "WATCHDOG=1") >= 3 && count(m, "STATUS=1/1 devices up") >= 1,
        "watchdog pings",
        &mut messages,
    );
    signal(pid, "-HUP");
    receive_until(
        &|m| count(m, "config on disk is valid and is the running one") >= 2,
        "the SIGHUP config check",
        &mut messages,
    );
    // An edit of the devices: applied at once, and said so.
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{}\n[[device]]\nname = \"pump2\"\nprotocol = \"tcp\"\nhost = \"127.0.0.1:{port}\"\nunit = 2\n",
            text.replace("poll = \"100ms\"", "poll = \"200ms\"")
        ),
    )
    .unwrap();
    signal(pid, "-HUP");
    receive_until(
        &|m| {
            count(
                m,
                "STATUS=reload applied: 1 device added (pump2), 1 changed (d)",
            ) == 1
        },
        "the changes a reload applied",
        &mut messages,
    );
    std::fs::write(&config, "[[device]]\nname = broken\n").unwrap();
    signal(pid, "-HUP");
    receive_until(
        &|m| count(m, "config on disk is refused") == 1,
        "a refused config",
        &mut messages,
    );
    // And /metrics says so, as Prometheus says it of its own config.
    let reload_gauge = || {
        let body = scrape(http);
        body.lines()
            .find_map(|l| l.strip_prefix("edge_gateway_config_last_reload_successful "))
            .map_or_else(|| panic!("no reload gauge in {body}"), str::to_owned)
    };
    assert_eq!(reload_gauge(), "0", "after a refused config");
    std::fs::write(&config, &text).unwrap();
    signal(pid, "-HUP");
    receive_until(
        &|m| {
            count(
                m,
                "STATUS=reload applied: 1 device removed (pump2), 1 changed (d)",
            ) == 1
        },
        "the config restored",
        &mut messages,
    );
    assert_eq!(reload_gauge(), "1", "after a valid config again");
    // A setting outside the devices: reported, not applied.
    let other = free_port();
    std::fs::write(
        &config,
        text.replace(&format!("127.0.0.1:{http}"), &format!("127.0.0.1:{other}")),
    )
    .unwrap();
    signal(pid, "-HUP");
    receive_until(
        &|m| {
            count(
                m,
                "STATUS=config on disk is valid: no device changed, 1 unchanged; needs a restart: [http] listen; restart to apply",
            ) == 1
        },
        "a setting that needs a restart",
        &mut messages,
    );
    assert_eq!(
        reload_gauge(),
        "1",
        "a valid config, served on the old port still"
    );
    assert!(
        messages
            .iter()
            .filter(|m| m.contains("devices up"))
            .all(|m| m.contains("/1 devices up")),
        "devices a reload removed are not counted: {messages:?}"
    );
    signal(pid, "-TERM");
    receive_until(
        &|m| count(m, "STOPPING=1") == 1,
        "STOPPING=1",
        &mut messages,
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(
        messages.first().is_some_and(|m| m.starts_with("READY=1")),
        "READY first: {messages:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
