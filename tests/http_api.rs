//! The HTTP endpoints against a running engine and simulator on loopback.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // a test states its expectations by panicking; the crate policy is for production code

mod common;

use std::time::Duration;

use common::{config, http_get, http_get_with, start_sim, wait_until};
use edge_gateway::engine::Engine;
use edge_gateway::http::metrics::MetricsOptions;
use edge_gateway::http::{self, AppState};
use edge_gateway::tags::DeviceId;

const WAIT: Duration = Duration::from_secs(10);

async fn serve(engine: &Engine, tag_values: bool) -> std::net::SocketAddr {
    let state = AppState {
        store: engine.store().clone(),
        counters: engine.counters().clone(),
        health: engine.health().clone(),
        metrics: MetricsOptions {
            gateway: "line-3".into(),
            tag_values,
        },
    };
    let (addr, _task) = http::serve("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap();
    addr
}

/// [`serve`] once every device of `engine` has finished a cycle.
async fn serve_once_polled(engine: &Engine) -> std::net::SocketAddr {
    let store = engine.store().clone();
    wait_until("every device polled", WAIT, || {
        store.devices().all(|d| {
            store
                .device_status(d)
                .is_some_and(|s| s.last_cycle_at.is_some())
        })
    })
    .await;
    serve(engine, true).await
}

fn two_devices(good: std::net::SocketAddr, bad: std::net::SocketAddr) -> String {
    format!(
        r#"[[device]]
name = "meter"
protocol = "tcp"
host = "{good}"
poll = "50ms"
timeout = "40ms"
[[device.tag]]
name = "voltage"
address = "30001"
type = "f32"
unit = "V"
description = "L1 \"line\" voltage"
[[device.tag]]
name = "refused"
address = "30101"
type = "u16"
[[device.tag]]
name = "label"
address = "40001"
type = "string"
length = 2
[[device]]
name = "gone"
protocol = "tcp"
host = "{bad}"
poll = "50ms"
timeout = "40ms"
retries = 0
[[device.tag]]
name = "t"
address = "40001"
type = "u16"
"#
    )
}

#[tokio::test]
async fn metrics_follow_the_design_names_and_pass_promtool() {
    let (_sim, addr) = start_sim(
        "[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\nvalue = 230.1\n\
         [[simulator.register]]\naddress = \"40001\"\ntype = \"string\"\nlength = 2\nvalue = \"AB\"\n\
         [[simulator.exception]]\nkind = \"input\"\nstart = 100\ncode = 2\n",
    )
    .await;
    let engine = Engine::start(&config(&two_devices(addr, common::dead_port())));
    let counters = engine.counters().clone();
    wait_until("both devices polled", WAIT, || {
        (0..2).all(|d| {
            counters
                .device(DeviceId::new(d))
                .unwrap()
                .cycles
                .load(std::sync::atomic::Ordering::Relaxed)
                >= 2
        })
    })
    .await;
    let http = serve(&engine, true).await;
    let (status, head, body) = http_get(http, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for line in [
        "edge_gateway_tag_value{device=\"meter\",tag=\"voltage\",unit=\"V\"} 230.1",
        "edge_gateway_tag_good{device=\"meter\",tag=\"voltage\"} 1",
        "edge_gateway_tag_good{device=\"meter\",tag=\"refused\"} 0",
        "edge_gateway_tag_good{device=\"meter\",tag=\"label\"} 1",
        "edge_gateway_tag_good{device=\"gone\",tag=\"t\"} 0",
        "edge_gateway_device_up{device=\"meter\"} 1",
        "edge_gateway_device_up{device=\"gone\"} 0",
        "edge_gateway_modbus_exceptions_total{device=\"meter\",code=\"2\"}",
        "edge_gateway_modbus_requests_total{device=\"meter\",function=\"read_input_registers\",outcome=\"ok\"}",
        "edge_gateway_modbus_requests_total{device=\"meter\",function=\"read_input_registers\",outcome=\"exception\"}",
        "edge_gateway_poll_duration_seconds_bucket{device=\"meter\",le=\"0.001\"}",
        "edge_gateway_poll_duration_seconds_bucket{device=\"meter\",le=\"+Inf\"}",
        "edge_gateway_poll_duration_seconds_count{device=\"meter\"}",
        "edge_gateway_opcua_sessions 0",
        "edge_gateway_build_info{version=\"",
        "process_resident_memory_bytes ",
        "process_open_fds ",
        "process_cpu_seconds_total ",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    // A bad tag has no value sample; a string tag never has one.
    assert!(
        !body.contains("tag=\"refused\",unit"),
        "bad tag exported a value"
    );
    assert!(
        !body.contains("edge_gateway_tag_value{device=\"gone\""),
        "bad tag exported a value"
    );
    assert!(
        !body.contains("edge_gateway_tag_value{device=\"meter\",tag=\"label\""),
        "string tag exported a value"
    );
    assert!(
        !body.contains("edge_gateway_mqtt"),
        "no MQTT families without [mqtt]"
    );
    promtool_check(&body);
}

#[tokio::test]
async fn mqtt_families_appear_with_the_edge_node_and_pass_promtool() {
    use edge_gateway::health::{MqttState, WriteOutcome};
    use edge_gateway::mqtt::sparkplug::MessageType;
    let engine = Engine::start(&config(&two_devices(
        common::dead_port(),
        common::dead_port(),
    )));
    let m = &engine.health().mqtt;
    m.enable(MessageType::ALL.map(MessageType::as_str));
    m.set_state(MqttState::Online);
    m.count_message(MessageType::DData.index(), 100);
    m.count_message(MessageType::DData.index(), 20);
    m.count_write(WriteOutcome::Refused);
    let http = serve(&engine, false).await;
    let (_, _, body) = http_get(http, "/metrics").await;
    for line in [
        "edge_gateway_mqtt_connected 1",
        "edge_gateway_mqtt_online 1",
        "edge_gateway_mqtt_messages_total{type=\"DDATA\"} 2",
        "edge_gateway_mqtt_messages_total{type=\"NBIRTH\"} 0",
        "edge_gateway_mqtt_bytes_total 120",
        "edge_gateway_mqtt_writes_total{outcome=\"refused\"} 1",
        "edge_gateway_mqtt_writes_total{outcome=\"written\"} 0",
    ] {
        assert!(body.contains(line), "missing {line:?} in\n{body}");
    }
    let (_, _, health) = http_get(http, "/healthz").await;
    assert!(
        health.contains(r#""mqtt":{"last_error":null,"state":"online"}"#),
        "{health}"
    );
    promtool_check(&body);
}

/// `promtool check metrics` on a scrape, when promtool is installed (CI installs it
/// and sets `REQUIRE_PROMTOOL=1` so that a missing promtool fails instead of skipping).
fn promtool_check(body: &str) {
    use std::io::Write;
    let child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            assert!(
                std::env::var_os("REQUIRE_PROMTOOL").is_none(),
                "promtool required but not runnable: {e}"
            );
            eprintln!("promtool not installed; skipping the lint");
            return;
        }
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn metrics_are_gzipped_for_a_scraper_that_asks_and_plain_otherwise() {
    use std::io::Read as _;
    let (_sim, addr) =
        start_sim("[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\nvalue = 230.1\n")
            .await;
    let engine = Engine::start(&config(&two_devices(addr, common::dead_port())));
    let store = engine.store().clone();
    let voltage = store.find("meter", "voltage").unwrap();
    wait_until("voltage polled", WAIT, || {
        store.snapshot(voltage).unwrap().value.is_some()
    })
    .await;
    let http = serve(&engine, true).await;
    // What Prometheus sends.
    let (status, head, gz) = http_get_with(http, "/metrics", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let mut body = String::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .read_to_string(&mut body)
        .unwrap();
    assert!(
        body.contains(
            "edge_gateway_tag_value{device=\"meter\",tag=\"voltage\",unit=\"V\"} 230.1\n"
        ),
        "{body}"
    );
    assert!(
        gz.len() < body.len(),
        "{} compressed, {} plain",
        gz.len(),
        body.len()
    );
    promtool_check(&body);
    // Refused, or not asked for: plain, the same families.
    for accept in ["Accept-Encoding: gzip;q=0, identity\r\n", ""] {
        let (_, head, plain) = http_get_with(http, "/metrics", accept).await;
        let head = head.to_ascii_lowercase();
        assert!(!head.contains("content-encoding"), "{accept:?}: {head}");
        let plain = String::from_utf8(plain).unwrap();
        assert!(
            plain.starts_with("# HELP edge_gateway_tag_value"),
            "{plain}"
        );
        promtool_check(&plain);
    }
}

#[tokio::test]
async fn tag_series_can_be_left_out_for_large_tag_counts() {
    let (_sim, addr) =
        start_sim("[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\n").await;
    let engine = Engine::start(&config(&two_devices(addr, common::dead_port())));
    let http = serve(&engine, false).await;
    let (_, _, body) = http_get(http, "/metrics").await;
    assert!(!body.contains("edge_gateway_tag_value"), "{body}");
    assert!(!body.contains("edge_gateway_tag_good"), "{body}");
    assert!(body.contains("edge_gateway_device_up"), "{body}");
    promtool_check(&body);
}

#[tokio::test]
async fn readyz_waits_for_every_device_and_healthz_stays_live_while_one_is_down() {
    let (silent, slow) = start_sim("[[simulator.register]]\naddress = \"40001\"\n").await;
    silent.set_silent(None, true);
    let text = format!(
        "[http]\nready_grace = \"60s\"\n[[device]]\nname = \"slow\"\nprotocol = \"tcp\"\nhost = \"{slow}\"\npoll = \"1s\"\ntimeout = \"600ms\"\nretries = 0\n\
         [[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
    );
    let engine = Engine::start(&config(&text));
    let http = serve(&engine, true).await;
    let (status, _, body) = http_get(http, "/readyz").await;
    assert_eq!(status, 503, "not ready before the first poll: {body}");
    assert!(body.contains("slow"), "{body}");
    let mut ready = false;
    wait_until("ready after the first (failed) cycle", WAIT, || {
        ready = engine
            .store()
            .device_status(DeviceId::new(0))
            .is_some_and(|s| s.last_cycle_at.is_some());
        ready
    })
    .await;
    let (status, _, _) = http_get(http, "/readyz").await;
    assert_eq!(status, 200);
    let (status, _, body) = http_get(http, "/healthz").await;
    assert_eq!(status, 200, "a dead device is not a dead gateway: {body}");
    assert!(body.contains("\"devices_up\":0"), "{body}");
}

#[tokio::test]
async fn api_tags_serves_quality_cause_and_description() {
    let (_sim, addr) = start_sim(
        "[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\nvalue = 230.1\n[[simulator.exception]]\nkind = \"input\"\nstart = 100\ncode = 2\n",
    )
    .await;
    let engine = Engine::start(&config(&two_devices(addr, common::dead_port())));
    let store = engine.store().clone();
    wait_until("meter polled", WAIT, || {
        store
            .device_status(DeviceId::new(0))
            .is_some_and(|s| s.last_cycle_at.is_some())
    })
    .await;
    let http = serve(&engine, true).await;
    let (status, _, body) = http_get(http, "/api/tags?device=meter").await;
    assert_eq!(status, 200);
    let tags: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tags = tags.as_array().unwrap();
    assert_eq!(tags.len(), 3, "filtered to one device: {body}");
    let voltage = &tags[0];
    assert_eq!(voltage["value"], serde_json::json!(230.1));
    assert_eq!(voltage["quality"], "good");
    assert_eq!(voltage["description"], "L1 \"line\" voltage");
    let refused = &tags[1];
    assert_eq!(refused["value"], serde_json::Value::Null);
    assert_eq!(refused["quality"], "bad");
    assert_eq!(refused["cause"], "exception");
    assert_eq!(refused["exception_code"], 2);
}

#[tokio::test]
async fn api_tags_filters_by_quality_and_name_and_pages_with_a_total() {
    let (_sim, addr) = start_sim(
        "[[simulator.register]]\naddress = \"30001\"\ntype = \"f32\"\nvalue = 230.1\n[[simulator.exception]]\nkind = \"input\"\nstart = 100\ncode = 2\n",
    )
    .await;
    let engine = Engine::start(&config(&two_devices(addr, common::dead_port())));
    let http = serve_once_polled(&engine).await;
    let names = |body: &str| -> Vec<String> {
        let tags: serde_json::Value = serde_json::from_str(body).unwrap();
        tags.as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}.{}",
                    t["device"].as_str().unwrap(),
                    t["tag"].as_str().unwrap()
                )
            })
            .collect()
    };
    let total = |head: &str| -> usize {
        let line = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("x-total-count:"))
            .unwrap_or_else(|| panic!("no X-Total-Count in {head}"));
        line.split(':').nth(1).unwrap().trim().parse().unwrap()
    };

    let (status, head, body) = http_get(http, "/api/tags?quality=good").await;
    assert_eq!(status, 200);
    assert_eq!(names(&body), ["meter.voltage", "meter.label"]);
    assert_eq!(total(&head), 2);
    let (_, head, body) = http_get(http, "/api/tags?quality=bad").await;
    assert_eq!(names(&body), ["meter.refused", "gone.t"]);
    assert_eq!(total(&head), 2);
    let (_, _, body) = http_get(http, "/api/tags?quality=bad&device=gone").await;
    assert_eq!(names(&body), ["gone.t"]);
    let (_, _, body) = http_get(http, "/api/tags?search=VOLT").await;
    assert_eq!(names(&body), ["meter.voltage"], "search ignores case");

    // Paging: the total counts every match, the page only its slice.
    let (_, head, body) = http_get(http, "/api/tags?offset=1&limit=2").await;
    assert_eq!(names(&body), ["meter.refused", "meter.label"]);
    assert_eq!(total(&head), 4);
    let (_, head, body) = http_get(http, "/api/tags?limit=0").await;
    assert_eq!((names(&body).len(), total(&head)), (0, 4));
    let (_, head, body) = http_get(http, "/api/tags?offset=10").await;
    assert_eq!((names(&body).len(), total(&head)), (0, 4));

    let (_, _, body) = http_get(http, "/api/summary").await;
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({"devices": 2, "devices_up": 1, "tags": 4, "good": 2, "uncertain": 0, "bad": 2}),
        "the same counts in one walk"
    );

    let (status, _, body) = http_get(http, "/api/tags?quality=stale").await;
    assert_eq!(status, 400, "an unknown quality is refused: {body}");
    assert!(
        body.contains("good"),
        "the refusal names what is accepted: {body}"
    );

    let (_, _, body) = http_get(http, "/api/tags?device=meter").await;
    let tags: serde_json::Value = serde_json::from_str(&body).unwrap();
    let age = tags[0]["age_seconds"].as_f64().unwrap();
    assert!((0.0..10.0).contains(&age), "age of a fresh value: {age}");
}

#[tokio::test]
async fn api_buses_groups_devices_by_connection_with_their_load() {
    let (_sim, addr) = start_sim("").await;
    let dead = common::dead_port();
    let engine = Engine::start(&config(&two_devices(addr, dead)));
    let http = serve_once_polled(&engine).await;
    let (status, _, body) = http_get(http, "/api/buses").await;
    assert_eq!(status, 200);
    let buses: serde_json::Value = serde_json::from_str(&body).unwrap();
    let buses = buses.as_array().unwrap();
    assert_eq!(buses.len(), 2, "one bus per endpoint: {body}");
    let meter = buses
        .iter()
        .find(|b| b["bus"] == format!("tcp://{addr}"))
        .unwrap_or_else(|| panic!("the meter's bus in {body}"));
    assert_eq!(meter["protocol"], "tcp");
    assert_eq!(meter["devices"], serde_json::json!(["meter"]));
    let load = meter["load"].as_f64().unwrap();
    assert!(
        load > 0.0 && load < 1.0,
        "a 50 ms poll of a loopback device: {load}"
    );

    let (_, _, body) = http_get(http, "/api/devices").await;
    let devices: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(devices[1]["bus"], format!("tcp://{dead}"));
    assert_eq!(devices[1]["polled"], true);
}

#[tokio::test]
async fn the_status_page_and_its_assets_come_from_the_binary_under_a_strict_policy() {
    let engine = Engine::start(&config(&two_devices(
        common::dead_port(),
        common::dead_port(),
    )));
    let http = serve(&engine, true).await;
    for (path, content_type, needle) in [
        (
            "/",
            "text/html; charset=utf-8",
            "<title>line-3 · edge-gateway</title>",
        ),
        ("/status.js", "text/javascript; charset=utf-8", "/api/tags"),
        (
            "/status.css",
            "text/css; charset=utf-8",
            "@media (max-width: 700px)",
        ),
    ] {
        let (status, head, body) = http_get(http, path).await;
        assert_eq!(status, 200, "{path}");
        let head = head.to_ascii_lowercase();
        assert!(
            head.contains(&format!("content-type: {content_type}")),
            "{path}: {head}"
        );
        assert!(
            head.contains(&format!(
                "content-security-policy: {}",
                http::CONTENT_SECURITY_POLICY
            )),
            "{path}: {head}"
        );
        assert!(
            head.contains("x-content-type-options: nosniff"),
            "{path}: {head}"
        );
        assert!(body.contains(needle), "{path} holds {needle:?}");
    }
    assert!(
        http::CONTENT_SECURITY_POLICY.starts_with("default-src 'none'")
            && !http::CONTENT_SECURITY_POLICY.contains("unsafe"),
        "nothing inline, nothing from elsewhere"
    );
}

#[tokio::test]
async fn a_device_without_tags_neither_delays_readiness_nor_reports_down() {
    let (_sim, addr) = start_sim("[[simulator.register]]\naddress = \"40001\"\n").await;
    let text = format!(
        "[http]\nready_grace = \"60s\"\n\
         [[device]]\nname = \"empty\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\n\
         [[device]]\nname = \"real\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"50ms\"\n\
         [[device.tag]]\nname = \"t\"\naddress = \"40001\"\ntype = \"u16\"\n"
    );
    let engine = Engine::start(&config(&text));
    let store = engine.store().clone();
    wait_until("real device polled", WAIT, || {
        store
            .device_status(DeviceId::new(1))
            .is_some_and(|s| s.last_cycle_at.is_some())
    })
    .await;
    let http = serve(&engine, true).await;
    let (status, _, body) = http_get(http, "/readyz").await;
    assert_eq!(
        status, 200,
        "the tagless device is never polled and must not be waited for: {body}"
    );
    let (_, _, metrics) = http_get(http, "/metrics").await;
    assert!(
        metrics.contains("edge_gateway_device_up{device=\"real\"} 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("edge_gateway_device_up{device=\"empty\"}"),
        "{metrics}"
    );
    // process_start_time_seconds is marked by the binary's `run`: see
    // tests/cli.rs run_serves_its_own_process_start_time_on_metrics.
}

/// True once the server closed `s` (a read returns 0 or fails), within `limit`.
async fn closed_by_server(s: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(limit, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn connections_are_bounded_and_idle_ones_make_room_or_time_out() {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpStream;
    let engine = Engine::start(&config(""));
    let state = AppState {
        store: engine.store().clone(),
        counters: engine.counters().clone(),
        health: engine.health().clone(),
        metrics: MetricsOptions {
            gateway: "g".into(),
            tag_values: true,
        },
    };
    let limits = http::HttpLimits {
        max_connections: 4,
        idle_timeout: Duration::from_millis(500),
    };
    let (addr, _task) = http::serve_with("127.0.0.1:0".parse().unwrap(), state, limits)
        .await
        .unwrap();
    // Ten silent sockets: the limit is four, and a new one evicts the oldest silent one.
    let mut silent = Vec::new();
    for _ in 0..10 {
        silent.push(TcpStream::connect(addr).await.unwrap());
    }
    let (status, _, _) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200, "a request gets in beside silent sockets");
    assert!(
        closed_by_server(&mut silent[0], Duration::from_secs(2)).await,
        "the oldest silent socket was closed to make room"
    );
    // A client that starts a request and never finishes its head is cut off.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTT").await.unwrap();
    assert!(
        closed_by_server(&mut slow, Duration::from_secs(3)).await,
        "an unfinished request head times out"
    );
    // Four clients that each sent a byte hold every slot: a fifth is refused at once.
    let mut talkers = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"G").await.unwrap();
        talkers.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut fifth = TcpStream::connect(addr).await.unwrap();
    assert!(
        closed_by_server(&mut fifth, Duration::from_millis(300)).await,
        "refused while every slot is held by a client that spoke"
    );
    // They time out in turn, and the server serves again.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (status, _, _) = http_get(addr, "/healthz").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_and_the_api_follow_a_reload_that_removes_and_adds_a_device() {
    use edge_gateway::config::{ConfigChanges, RunningConfig};
    let (_sim, addr) =
        start_sim("[[simulator.register]]\naddress = \"40001\"\ntype = \"u16\"\nvalue = 5\n").await;
    let device = |name: &str, tag: &str| {
        format!(
            "[[device]]\nname = \"{name}\"\nprotocol = \"tcp\"\nhost = \"{addr}\"\npoll = \"50ms\"\n\
             [[device.tag]]\nname = \"{tag}\"\naddress = \"40001\"\ntype = \"u16\"\n"
        )
    };
    let before = config(&format!(
        "{}{}",
        device("kept", "k"),
        device("dropped", "d")
    ));
    let engine = Engine::start(&before);
    let http = serve_once_polled(&engine).await;
    let (_, _, body) = http_get(http, "/metrics").await;
    assert!(
        body.contains("edge_gateway_tag_good{device=\"dropped\",tag=\"d\"} 1"),
        "{body}"
    );

    let after = config(&format!("{}{}", device("kept", "k"), device("added", "a")));
    let changes = ConfigChanges::between(&RunningConfig::of(&before), &after);
    engine.reshape(&after, &changes).unwrap();
    let store = engine.store().clone();
    wait_until("the added device polled", WAIT, || {
        store
            .find("added", "a")
            .and_then(|id| store.snapshot(id))
            .is_some_and(|s| s.quality == edge_gateway::tags::Quality::Good)
    })
    .await;
    let (_, _, body) = http_get(http, "/metrics").await;
    promtool_check(&body);
    assert!(
        body.contains("edge_gateway_tag_good{device=\"added\",tag=\"a\"} 1"),
        "{body}"
    );
    assert!(
        body.contains("edge_gateway_tag_good{device=\"kept\",tag=\"k\"} 1"),
        "{body}"
    );
    assert!(
        !body.contains("device=\"dropped\""),
        "no series of a removed device:\n{body}"
    );
    assert!(
        body.contains("edge_gateway_device_up{device=\"added\"} 1"),
        "{body}"
    );
    let (_, _, devices) = http_get(http, "/api/devices").await;
    assert!(
        devices.contains("\"added\"") && !devices.contains("\"dropped\""),
        "{devices}"
    );
    let (_, _, tags) = http_get(http, "/api/tags").await;
    assert!(
        tags.contains("\"added\"") && !tags.contains("\"dropped\""),
        "{tags}"
    );
}
