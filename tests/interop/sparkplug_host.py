#!/usr/bin/env python3
"""An independent Sparkplug B host against the gateway's edge node.

Starts Mosquitto on a free loopback port, the gateway on the shipped
gateway.toml (with [mqtt] switched on and a third device on a simulator this
script starts and stops), and checks from the host side what the Sparkplug
3.0 rules (as the Eclipse TCK checks them) ask of an edge node:

  - NBIRTH: seq 0, bdSeq, Node Control/Rebirth, Gateway/* metrics;
  - a DBIRTH per device before any of its DDATA, with every tag (name,
    datatype, alias, Quality, engUnit); aliases unique across the node;
  - seq continuous (mod 256) over every message of a session;
  - DDATA only with changed metrics, by alias, stamped with source time;
  - DDEATH when a device goes down, DBIRTH when it is back;
  - rebirth on NCMD without reconnecting;
  - a DCMD write reaching the simulator, a refused one not reaching it;
  - the NDEATH Will with the NBIRTH's bdSeq after kill -9, bdSeq counting on
    across restarts, NDEATH before a clean stop;
  - with a primary host: no births until its STATE says online, NDEATH and
    no births while it is offline, a stale STATE ignored;
  - store-and-forward while the host is offline, across a broker outage and
    across a kill -9 of the gateway during one: after the births, the
    outage's values replayed as historical DDATA, in order, none missing;
    a down device's history held until its DBIRTH; nothing dropped;
  - mqtts:// to Mosquitto's TLS listener with a client certificate (a test
    CA made here by openssl); a broker certificate from another CA refused
    and reported; a key that is not the certificate's refused at start.

Payloads are decoded with Google's protobuf runtime from sparkplug_b.proto
(compiled here by protoc), not by the gateway's own code.

Usage: sparkplug_host.py <edge-gateway binary> <gateway.toml>
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import paho.mqtt.client as mqtt

from harness import check, free_port, meter_device, passed, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GROUP, NODE = "plant1", "line-3"
NS = "spBv1.0"
BOOLEAN, INT64, STRING, DOUBLE, INT32 = 11, 4, 12, 10, 3


def compile_proto(work):
    subprocess.run(
        ["protoc", f"--python_out={work}", "-I", os.path.join(ROOT, "src/mqtt"), "sparkplug_b.proto"],
        check=True,
    )
    sys.path.insert(0, work)
    import sparkplug_b_pb2  # noqa: E402

    return sparkplug_b_pb2


class Host:
    """Subscribes to the whole namespace and keeps every message in order."""

    def __init__(self, pb, port, host_id="scada"):
        self.pb, self.host_id = pb, host_id
        self.lock = threading.Lock()
        self.messages = []  # (monotonic, topic, decoded payload or raw bytes)
        # Whether this host says it is online whenever it (re)connects, as a
        # primary host does after a broker restart.
        self.online = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sparkplug-test-host")
        self.client.on_message = self.on_message
        self.client.on_connect = self.on_connect
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        wait_until(lambda: self.client.is_connected(), 10, "the host connected")
        time.sleep(0.3)

    def on_connect(self, client, _userdata, _flags, _reason, _properties):
        client.subscribe(f"{NS}/#", qos=1)
        if self.online:
            body = json.dumps({"online": True, "timestamp": int(time.time() * 1000)})
            client.publish(f"{NS}/STATE/{self.host_id}", body, qos=1, retain=True)

    def on_message(self, _client, _userdata, msg):
        payload = msg.payload
        if "/STATE/" not in msg.topic:
            p = self.pb.Payload()
            try:
                p.ParseFromString(payload)
                payload = p
            except Exception:  # the garbage this test sends itself
                pass
        with self.lock:
            self.messages.append((time.monotonic(), msg.topic, payload))

    def since(self, mark=0):
        with self.lock:
            return list(self.messages[mark:])

    def mark(self):
        with self.lock:
            return len(self.messages)

    def find(self, kind, device=None, mark=0):
        topic = f"{NS}/{GROUP}/{kind}/{NODE}" + (f"/{device}" if device else "")
        return [(t, p) for (t, top, p) in self.since(mark) if top == topic]

    def wait(self, kind, device=None, mark=0, timeout=15):
        return wait_until(lambda: self.find(kind, device, mark), timeout, f"{kind} {device or ''}")[0][1]

    def command(self, kind, device, metrics):
        p = self.pb.Payload()
        p.timestamp = int(time.time() * 1000)
        for fill in metrics:
            fill(p.metrics.add())
        topic = f"{NS}/{GROUP}/{kind}/{NODE}" + (f"/{device}" if device else "")
        self.client.publish(topic, p.SerializeToString(), qos=0).wait_for_publish()

    def state(self, online, ts=None):
        body = json.dumps({"online": online, "timestamp": ts or int(time.time() * 1000)})
        self.client.publish(f"{NS}/STATE/{self.host_id}", body, qos=1, retain=True).wait_for_publish()

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


def metric_value(m):
    kind = m.WhichOneof("value")
    return None if kind is None else getattr(m, kind)


def prop(m, key):
    for k, v in zip(m.properties.keys, m.properties.values):
        if k == key:
            return getattr(v, v.WhichOneof("value"))
    return None


def http_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.loads(r.read())


def try_json(port, path):
    """The JSON at `path`, or {} while the gateway is not listening yet."""
    try:
        return http_json(port, path)
    except OSError:
        return {}


def http_text(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.read().decode()


def tag_value(port, device, tag):
    for t in http_json(port, "/api/tags"):
        if t["device"] == device and t["tag"] == tag:
            return t["value"]
    raise AssertionError(f"{device}/{tag} not in /api/tags")


def session_of(host, mark):
    """Messages with seq from the last NBIRTH after `mark` on, in order."""
    msgs = [(top, p) for (_, top, p) in host.since(mark) if "/STATE/" not in top]
    births = [i for i, (top, _) in enumerate(msgs) if "/NBIRTH/" in top]
    return msgs[births[-1]:] if births else []


def counter_values(host, mark, alias):
    """parts_count in plc1's DDATA after `mark`: (live, historical) lists of
    (timestamp, value) in arrival order."""
    live, hist = [], []
    for (_, p) in host.find("DDATA", "plc1", mark):
        for m in p.metrics:
            if m.is_historical and m.name == "parts_count":
                hist.append((m.timestamp, m.int_value))
            elif not m.is_historical and m.alias == alias:
                live.append((m.timestamp, m.int_value))
    return live, hist


def check_history(hist, last_live, birth_value, what):
    """The historical values of a counter fill the outage: in order, one by
    one, from just after the last live value to the value the births showed."""
    values = [v for (_, v) in hist]
    stamps = [t for (t, _) in hist]
    check(len(values) >= 2, f"{what}: {len(values)} historical values replayed")
    check(stamps == sorted(stamps), f"{what}: replayed in the order they were recorded")
    # What was sent in the second before the connection was found dead is
    # recorded again (QoS 0 cannot tell whether it left): it may repeat.
    check(
        last_live - 2 <= values[0] <= last_live + 1,
        f"{what}: history starts no later than right after the last live value ({last_live} -> {values[0]})",
    )
    check(all(b == a + 1 for a, b in zip(values, values[1:])), f"{what}: no value missing in between ({values[0]}..{values[-1]})")
    check(0 <= birth_value - values[-1] <= 1, f"{what}: history ends where the births take over ({values[-1]}, birth {birth_value})")


def birth_value(host, mark, tag):
    p = host.wait("DBIRTH", "plc1", mark)
    return [m.int_value for m in p.metrics if m.name == tag][0]


def check_seq(msgs, what):
    seqs = [p.seq for (top, p) in msgs if not re.search(r"/(NDEATH|NCMD|DCMD)/", top)]
    ok = all(b == (a + 1) % 256 for a, b in zip(seqs, seqs[1:])) and seqs and seqs[0] == 0
    check(ok, f"{what}: seq runs 0,1,2,… without a gap over {len(seqs)} messages")


class Gateway:
    def __init__(self, binary, config, log):
        self.binary, self.config, self.log = binary, config, log
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "run", "-c", self.config],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": "info"},
        )

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)


def write_config(shipped, work, ports, mqtt_extra, url=None, buffer="buffer"):
    text = open(shipped).read()
    # Drop the shipped [mqtt] section; the test writes its own.
    text = re.sub(r"(?ms)^\[mqtt\]\n.*?(?=^\[|^# -{10})", "", text)
    text = (
        text.replace("127.0.0.1:9898", f"127.0.0.1:{ports['http']}")
        .replace("127.0.0.1:5020", f"127.0.0.1:{ports['sim']}")
        .replace("127.0.0.1:4840", f"127.0.0.1:{ports['opcua']}")
        .replace('pki_dir = "pki"', f'pki_dir = "{work}/pki"')
    )
    text += f"""
[mqtt]
url = "{url or f"mqtt://127.0.0.1:{ports['mqtt']}"}"
group_id = "{GROUP}"
buffer_dir = "{work}/{buffer}"
keep_alive = "5s"
{mqtt_extra}

[[device]]
name = "meter2"
protocol = "tcp"
host = "127.0.0.1:{ports['sim2']}"
unit = 1
poll = "300ms"
timeout = "200ms"
retries = 0
backoff_max = "500ms"
  [[device.tag]]
  name = "power"
  address = "30001"
  type = "f32"
  unit = "kW"
"""
    path = os.path.join(work, "gateway.toml")
    open(path, "w").write(text)
    return path


def write_sim2(work, port):
    path = os.path.join(work, "sim2.toml")
    open(path, "w").write(
        f"""[simulator]
listen = "127.0.0.1:{port}"
[[simulator.register]]
unit = 1
address = "30001"
type = "f32"
generator = "sine"
min = 10.0
max = 20.0
period = "5s"
"""
    )
    return path


def make_pki(work):
    """A test CA with a broker (IP 127.0.0.1) and a client certificate, and
    a second CA that signed nothing of this broker's."""
    d = os.path.join(work, "tls")
    os.makedirs(d)

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN=edge-gateway test {ca}")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth"), ("client", "extendedKeyUsage=clientAuth")):
        open(os.path.join(d, f"{name}.ext"), "w").write(ext + "\n")
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN=edge-gateway test {name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    # Mosquitto started as root reads them as its own user.
    os.chmod(work, 0o755)
    os.chmod(d, 0o755)
    for f in os.listdir(d):
        os.chmod(os.path.join(d, f), 0o644)
    return d


def mosquitto_conf(work, ports, pki):
    conf = os.path.join(work, "mosquitto.conf")
    open(conf, "w").write(
        f"""allow_anonymous true
persistence false
listener {ports['mqtt']} 127.0.0.1
listener {ports['mqtts']} 127.0.0.1
cafile {pki}/ca.pem
certfile {pki}/server.pem
keyfile {pki}/server.key
require_certificate true
"""
    )
    return conf


def check_tls(binary, shipped, work, ports, pki, host):
    """mqtts:// with a client certificate; a broker the CA does not vouch
    for; a key that is not the certificate's."""
    url = f"mqtts://127.0.0.1:{ports['mqtts']}"

    def tls_config(ca, key, name):
        extra = f'ca_file = "{pki}/{ca}.pem"\ncert_file = "{pki}/client.pem"\nkey_file = "{pki}/{key}.key"'
        return write_config(shipped, work, ports, extra, url=url, buffer=f"buffer-{name}")

    mark = host.mark()
    gw = Gateway(binary, tls_config("ca", "client", "tls"), os.path.join(work, "gateway-tls.log"))
    gw.start()
    try:
        nb = host.wait("NBIRTH", None, mark, timeout=20)
        check(any(m.name == "bdSeq" for m in nb.metrics), "mqtts:// with a client certificate: NBIRTH reaches the host")
        host.wait("DBIRTH", "plc1", mark)
        check(http_json(ports["http"], "/healthz")["mqtt"]["state"] == "online", "mqtts://: the node is online")
    finally:
        gw.stop()

    gw = Gateway(binary, tls_config("other-ca", "client", "untrusted"), os.path.join(work, "gateway-untrusted.log"))
    mark = host.mark()
    gw.start()
    try:
        err = wait_until(
            lambda: (try_json(ports["http"], "/healthz").get("mqtt") or {}).get("last_error"),
            20,
            "a TLS error in /healthz",
        )
        check("certificate" in err.lower(), f"a broker certificate from another CA is refused and reported ({err})")
        check(not host.find("NBIRTH", None, mark), "nothing is published to a broker that is not trusted")
        check(gw.proc.poll() is None, "an untrusted broker does not stop the gateway")
    finally:
        gw.stop()

    out = subprocess.run(
        [binary, "run", "-c", tls_config("ca", "server", "mismatch")], capture_output=True, text=True, timeout=20
    )
    check(
        out.returncode != 0 and "cert_file and key_file" in out.stderr,
        f"a key that is not the certificate's stops the start, named ({out.stderr.strip().splitlines()[-1:]})",
    )


def main():
    binary, shipped = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="sparkplug-host-")
    pb = compile_proto(work)
    ports = {k: free_port() for k in ("mqtt", "mqtts", "http", "sim", "opcua", "sim2")}
    pki = make_pki(work)
    conf = mosquitto_conf(work, ports, pki)
    broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim2 = None
    gw = None
    try:
        time.sleep(0.5)
        host = Host(pb, ports["mqtt"])
        config = write_config(shipped, work, ports, "writes = true")
        gw = Gateway(binary, config, os.path.join(work, "gateway.log"))
        gw.start()

        # --- births --------------------------------------------------------
        nbirth = host.wait("NBIRTH")
        names = {m.name: m for m in nbirth.metrics}
        check(nbirth.seq == 0, "NBIRTH has seq 0")
        check("bdSeq" in names and names["bdSeq"].datatype == INT64, "NBIRTH carries bdSeq as Int64")
        bd_seq = names["bdSeq"].long_value
        check(
            names.get("Node Control/Rebirth") is not None
            and names["Node Control/Rebirth"].datatype == BOOLEAN
            and names["Node Control/Rebirth"].boolean_value is False,
            "NBIRTH carries Node Control/Rebirth = false",
        )
        check(
            all(n in names for n in ("Gateway/Version", "Gateway/Devices", "Gateway/DevicesUp", "Gateway/Tags")),
            "NBIRTH carries the gateway's health metrics",
        )
        check(names["Gateway/Tags"].int_value == 16, "Gateway/Tags counts every tag (15 shipped + 1)")
        births = {d: host.wait("DBIRTH", d) for d in ("meter1", "plc1", "meter2")}
        meter1 = {m.name: m for m in births["meter1"].metrics}
        check(
            {"voltage_l1", "voltage_l2", "voltage_l3", "current_l1", "frequency", "import_energy"} <= set(meter1),
            "DBIRTH meter1 lists every tag",
        )
        v1 = meter1["voltage_l1"]
        check(v1.datatype == 9 and v1.HasField("alias"), "a tag metric has its datatype (Float) and an alias")
        check(prop(v1, "engUnit") == "V", "engUnit property from the tag's unit")
        check(prop(v1, "Quality") in (0, 192), "Quality property present as an Int32 code")
        check("_Status/Connected" in meter1, "the device's _Status metrics are in its DBIRTH")
        plc1 = {m.name: m for m in births["plc1"].metrics}
        check(plc1["speed_setpoint"].datatype == DOUBLE, "a scaled integer is a Double")
        check(plc1["recipe"].datatype == STRING, "a string tag is a String")
        aliases = [m.alias for p in [nbirth, *births.values()] for m in p.metrics if m.HasField("alias")]
        check(len(aliases) == len(set(aliases)), f"{len(aliases)} aliases, unique across the edge node")
        down = host.wait("DDEATH", "meter2")
        check(down is not None, "meter2 (its simulator not started) gets a DDEATH after its DBIRTH")

        # --- data ----------------------------------------------------------
        time.sleep(4)
        alias_name = {m.alias: m.name for p in births.values() for m in p.metrics if m.HasField("alias")}
        for device in ("meter1", "plc1"):
            first_data = host.find("DDATA", device)
            check(first_data, f"DDATA flows for {device}")
            birth_at = [t for (t, top, _) in host.since() if top.endswith(f"/DBIRTH/{NODE}/{device}")][0]
            data_at = [t for (t, _) in first_data]
            check(min(data_at) >= birth_at, f"DBIRTH {device} came before its first DDATA")
        # Live data only: what the node recorded before its first birth (its
        # first polls, when the broker came up after them) replays as history.
        plc_data = [p for (_, p) in host.find("DDATA", "plc1") if not any(m.is_historical for m in p.metrics)]
        changed = {alias_name.get(m.alias) for p in plc_data for m in p.metrics}
        check("parts_count" in changed, "a counting tag shows up in DDATA")
        check(
            not ({"pump_run", "recipe", "status_word"} & changed),
            f"constant tags never show up in DDATA (changed: {sorted(n for n in changed if n)})",
        )
        check(all(not m.name for p in plc_data for m in p.metrics), "DDATA metrics go by alias, without names")
        now_ms = time.time() * 1000
        stamps = [m.timestamp for p in plc_data for m in p.metrics]
        check(all(now_ms - 10_000 < s <= now_ms + 1000 for s in stamps), "DDATA metric timestamps are recent ms")

        # --- device down and up --------------------------------------------
        mark = host.mark()
        sim2 = subprocess.Popen(
            [binary, "simulate", "-c", write_sim2(work, ports["sim2"])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        back = host.wait("DBIRTH", "meter2", mark)
        power = [m for m in back.metrics if m.name == "power"][0]
        check(prop(power, "Quality") == 192 and 10 <= power.float_value <= 20, "meter2 back: a DBIRTH with a good value")
        mark = host.mark()
        sim2.kill()
        sim2.wait()
        host.wait("DDEATH", "meter2", mark)
        check(True, "meter2 down again: DDEATH")

        # --- DCMD ----------------------------------------------------------
        mark = host.mark()

        def setpoint(m):
            m.name, m.datatype, m.double_value = "speed_setpoint", DOUBLE, 1234.5

        host.command("DCMD", "plc1", [setpoint])
        sp_alias = plc1["speed_setpoint"].alias
        wait_until(
            lambda: any(
                m.alias == sp_alias and abs(m.double_value - 1234.5) < 1e-6
                for (_, p) in host.find("DDATA", "plc1", mark)
                for m in p.metrics
            ),
            10,
            "DDATA with the written setpoint",
        )
        check(tag_value(ports["http"], "plc1", "speed_setpoint") == 1234.5, "a DCMD write reached the simulator")

        def status(m):
            m.name, m.datatype, m.int_value = "status_word", 6, 99

        host.command("DCMD", "plc1", [status])
        time.sleep(1.5)
        check(tag_value(ports["http"], "plc1", "status_word") == 1, "a DCMD to a read-only tag does not reach the device")
        # Garbage where commands go: refused and counted, nothing else happens.
        for topic in (f"{NS}/{GROUP}/DCMD/{NODE}/plc1", f"{NS}/{GROUP}/NCMD/{NODE}", f"{NS}/{GROUP}/DCMD/{NODE}/nope"):
            host.client.publish(topic, b"\xff\xff\xff\x07garbage", qos=0).wait_for_publish()
        time.sleep(1)
        check(http_json(ports["http"], "/healthz")["mqtt"]["state"] == "online", "garbage commands leave the node online")
        check(gw.proc.poll() is None, "garbage commands do not stop the gateway")
        metrics = http_text(ports["http"], "/metrics")
        check('edge_gateway_mqtt_writes_total{outcome="refused"} 3' in metrics, "the refused write and two garbage DCMDs are counted")
        check('edge_gateway_mqtt_writes_total{outcome="written"} 1' in metrics, "the done write is counted")
        check("edge_gateway_mqtt_connected 1" in metrics, "/metrics: connected")
        check(http_json(ports["http"], "/healthz")["mqtt"]["state"] == "online", "/healthz shows the MQTT state")

        # --- rebirth -------------------------------------------------------
        mark = host.mark()
        check_seq(session_of(host, 0), "the first session")

        def rebirth(m):
            m.name, m.datatype, m.boolean_value = "Node Control/Rebirth", BOOLEAN, True

        host.command("NCMD", None, [rebirth])
        again = host.wait("NBIRTH", None, mark)
        check(again.seq == 0, "rebirth: NBIRTH with seq 0")
        check(
            [m.long_value for m in again.metrics if m.name == "bdSeq"] == [bd_seq],
            "rebirth keeps the session's bdSeq (no reconnect)",
        )
        for d in ("meter1", "plc1", "meter2"):
            host.wait("DBIRTH", d, mark)
        check(not host.find("NDEATH", None, mark), "rebirth: no NDEATH")
        time.sleep(1.5)
        check_seq(session_of(host, mark), "after rebirth")

        # --- reload: a device added, one changed, then both undone ----------
        original = open(config).read()
        edited, n = re.subn(r'(name = "plc1"\n(?:[^\[\n]*\n){0,4}?poll = )"500ms"', r'\1"400ms"', original, count=1)
        check(n == 1, "the reload edits plc1's poll")
        added = meter_device("meter3", ports["sim"])
        mark = host.mark()
        open(config, "w").write(edited + added)
        gw.proc.send_signal(signal.SIGHUP)
        host.wait("DBIRTH", "meter3", mark)
        host.wait("DBIRTH", "plc1", mark)
        deaths = [t for t, _ in host.find("DDEATH", "plc1", mark)]
        plc1_born_at = host.find("DBIRTH", "plc1", mark)[0][0]
        check(deaths and deaths[0] < plc1_born_at, "reload: the changed device plc1 gets a DDEATH, then its DBIRTH")
        check(not host.find("NBIRTH", None, mark) and not host.find("NDEATH", None, mark),
              "reload: no NBIRTH and no NDEATH: the session goes on")
        check(not host.find("DBIRTH", "meter1", mark), "reload: the untouched meter1 is not re-announced")
        latest = {}
        for (_, top, p) in host.since(0):
            if "/DBIRTH/" in top:
                latest[top.rsplit("/", 1)[1]] = p
        live = [m.alias for p in latest.values() for m in p.metrics]
        check(len(live) == len(set(live)), f"reload: {len(live)} aliases of the live births, unique across the edge node")
        node = {m.name: m.alias for m in host.find("NBIRTH", None)[-1][1].metrics if m.name}
        wait_until(lambda: any(m.alias == node["Gateway/Tags"] and m.int_value == 17
                               for _, p in host.find("NDATA", None, mark) for m in p.metrics),
                   10, "NDATA Gateway/Tags = 17")
        check(True, "reload: NDATA says the node has 17 tags now (meter3's added)")
        wait_until(lambda: host.find("DDATA", "meter3", mark), 10, "DDATA of meter3")
        check(True, "reload: DDATA flows for the added device")
        time.sleep(1)
        check_seq(session_of(host, 0), "the session through the reload")

        mark = host.mark()
        open(config, "w").write(original)
        gw.proc.send_signal(signal.SIGHUP)
        host.wait("DDEATH", "meter3", mark)
        host.wait("DBIRTH", "plc1", mark)
        check(not host.find("DBIRTH", "meter3", mark) and not host.find("NBIRTH", None, mark),
              "reload undone: the removed meter3 gets a DDEATH, and no birth follows for it")
        time.sleep(1)
        gone_at = host.find("DDEATH", "meter3", mark)[0][0]
        check(all(t < gone_at for t, _ in host.find("DDATA", "meter3", mark)), "reload undone: no DDATA of meter3 after its DDEATH")
        check_seq(session_of(host, 0), "the session through the undo")

        # --- the Will after kill -9, bdSeq across restarts ------------------
        mark = host.mark()
        gw.stop(signal.SIGKILL)
        will = host.wait("NDEATH", None, mark, timeout=20)
        check(
            [m.long_value for m in will.metrics if m.name == "bdSeq"] == [bd_seq],
            "kill -9: the broker publishes the NDEATH Will with the NBIRTH's bdSeq",
        )
        check(not will.HasField("seq"), "NDEATH carries no seq")
        mark = host.mark()
        gw.start()
        nb = host.wait("NBIRTH", None, mark)
        bd2 = [m.long_value for m in nb.metrics if m.name == "bdSeq"][0]
        check(bd2 == (bd_seq + 1) % 256, f"after a restart bdSeq counts on ({bd_seq} -> {bd2})")
        time.sleep(2)
        check_seq(session_of(host, mark), "a new session")
        mark = host.mark()
        gw.stop(signal.SIGTERM)
        clean = host.wait("NDEATH", None, mark)
        check(
            [m.long_value for m in clean.metrics if m.name == "bdSeq"] == [bd2],
            "a clean stop publishes NDEATH with the session's bdSeq",
        )

        # --- a primary host ------------------------------------------------
        host.state(False, ts=int(time.time() * 1000) - 60_000)
        config = write_config(shipped, work, ports, 'primary_host_id = "scada"\nwrites = false')
        gw = Gateway(binary, config, os.path.join(work, "gateway.log"))
        mark = host.mark()
        gw.start()
        wait_until(
            lambda: try_json(ports["http"], "/healthz").get("mqtt", {}).get("state") == "waiting for primary host",
            15,
            "the edge node waiting for the host",
        )
        time.sleep(1)
        check(not host.find("NBIRTH", None, mark), "no NBIRTH while the primary host is offline")
        host.state(True)
        nb = host.wait("NBIRTH", None, mark)
        bd3 = [m.long_value for m in nb.metrics if m.name == "bdSeq"][0]
        for d in ("meter1", "plc1"):
            host.wait("DBIRTH", d, mark)
        check(True, "the host online: NBIRTH and DBIRTHs")
        pc_alias = [m.alias for m in host.wait("DBIRTH", "plc1", mark).metrics if m.name == "parts_count"][0]
        mark = host.mark()
        host.state(False, ts=int(time.time() * 1000) - 3_600_000)
        time.sleep(1)
        check(not host.find("NDEATH", None, mark), "a STATE older than the last one is ignored")
        host.command("DCMD", "plc1", [setpoint])
        time.sleep(1.5)
        check(
            tag_value(ports["http"], "plc1", "speed_setpoint") != 1234.5,
            "with writes = false a DCMD to a writable tag does not reach the device",
        )
        time.sleep(2)
        last_live = counter_values(host, 0, pc_alias)[0][-1][1]
        mark = host.mark()
        host.state(False)
        ndeath = host.wait("NDEATH", None, mark)
        check([m.long_value for m in ndeath.metrics if m.name == "bdSeq"] == [bd3], "the host offline: NDEATH")
        time.sleep(3)
        check(not host.find("NBIRTH", None, mark), "no births while the host stays offline")
        host.online = True
        host.state(True)
        nb = host.wait("NBIRTH", None, mark)
        bd4 = [m.long_value for m in nb.metrics if m.name == "bdSeq"][0]
        check(bd4 == (bd3 + 1) % 256, "the host back: a new session with the next bdSeq")
        at_birth = birth_value(host, mark, "parts_count")
        time.sleep(2)
        _, hist = counter_values(host, mark, pc_alias)
        check_history(hist, last_live, at_birth, "host offline for 3 s")

        # --- store-and-forward across a broker outage ----------------------
        last_live = counter_values(host, 0, pc_alias)[0][-1][1]
        broker.terminate()
        broker.wait()
        time.sleep(4)
        mark = host.mark()
        broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # The host's reconnect republishes STATE online: the node births then.
        at_birth = birth_value(host, mark, "parts_count")
        time.sleep(3)
        _, hist = counter_values(host, mark, pc_alias)
        check_history(hist, last_live, at_birth, "broker down for 4 s")

        # --- store-and-forward across a kill -9 during an outage -----------
        last_live = counter_values(host, 0, pc_alias)[0][-1][1]
        broker.terminate()
        broker.wait()
        time.sleep(3)
        killed_at = time.time() * 1000
        gw.stop(signal.SIGKILL)
        gw.start()
        time.sleep(3)
        mark = host.mark()
        broker = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        host.wait("DBIRTH", "plc1", mark, timeout=30)
        time.sleep(3)
        _, hist = counter_values(host, mark, pc_alias)
        before_kill = [(t, v) for (t, v) in hist if t < killed_at]
        check(len(before_kill) >= 2, f"kill -9: {len(before_kill)} values recorded before the kill were replayed")
        values = [v for (_, v) in before_kill]
        check(
            last_live - 2 <= values[0] <= last_live + 1,
            f"kill -9: history starts no later than right after the last live value ({last_live} -> {values[0]})",
        )
        check(all(b == a + 1 for a, b in zip(values, values[1:])), "kill -9: nothing recorded before the kill is lost")
        after = [t for (t, _) in hist if t >= killed_at]
        check(after, "kill -9: the restarted gateway recorded the rest of the outage too")
        # meter2 is down: its records wait in the log for its next DBIRTH.
        metrics = http_text(ports["http"], "/metrics")
        check("edge_gateway_mqtt_buffer_records 0" not in metrics, "a down device's history waits in the log")
        mark = host.mark()
        sim2 = subprocess.Popen(
            [binary, "simulate", "-c", os.path.join(work, "sim2.toml")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        host.wait("DBIRTH", "meter2", mark)
        metrics = wait_until(
            lambda: (lambda m: m if "edge_gateway_mqtt_buffer_records 0" in m else None)(http_text(ports["http"], "/metrics")),
            20,
            "the backlog replayed",
        )
        m2_birth = [t for (t, top, _) in host.since(mark) if top.endswith(f"/DBIRTH/{NODE}/meter2")][0]
        m2_hist = [
            t
            for (t, top, p) in host.since(mark)
            if top.endswith(f"/DDATA/{NODE}/meter2") and any(m.is_historical for m in p.metrics)
        ]
        check(m2_hist and min(m2_hist) > m2_birth, "meter2 back: its held history follows its DBIRTH")
        check("edge_gateway_mqtt_buffer_dropped_total 0" in metrics, "nothing was dropped from the log")
        check(
            re.search(r"edge_gateway_mqtt_buffer_replayed_total [1-9]", metrics) is not None,
            "replayed records are counted",
        )
        gw.stop()
        check_tls(binary, shipped, work, ports, pki, host)
        host.client.publish(f"{NS}/STATE/scada", b"", qos=1, retain=True).wait_for_publish()
        host.close()
        print(f"sparkplug host: {passed()} checks passed")
    except BaseException:
        log = os.path.join(work, "gateway.log")
        if os.path.exists(log):
            sys.stderr.write(open(log).read()[-6000:])
        raise
    finally:
        if gw:
            gw.stop(signal.SIGKILL)
        if sim2 and sim2.poll() is None:
            sim2.kill()
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()
