#!/usr/bin/env python3
"""The OPC UA server checked by an independent client (Python asyncua).

Runs the gateway on the shipped gateway.toml (ports moved to free loopback
ports, two users added) against `edge-gateway simulate` in its own process, so
the simulator can be stopped and restarted. Usage:

    python opcua_interop.py path/to/edge-gateway path/to/gateway.toml

Prints one line per check and ends with "interop: N passed, M failed".
"""
import asyncio
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import meter_device
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from asyncua.ua.ua_binary import struct_from_binary
from cryptography.x509.oid import ExtendedKeyUsageOID

BIN, SHIPPED = sys.argv[1], sys.argv[2]
# "edge-gateway 0.1.0": the version BuildInfo must report.
VERSION = subprocess.run([BIN, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
NS_URI = "urn:edge-gateway:line-3:tags"
PASSED, FAILED = [], []


def check(name, ok, detail=""):
    (PASSED if ok else FAILED).append(name)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + str(detail)}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hash_password(pw):
    out = subprocess.run([BIN, "hash-password"], input=f"{pw}\n{pw}\n", capture_output=True, text=True, check=True)
    return out.stdout.strip()


def prepare(work):
    http, opc, sim, slow = free_port(), free_port(), free_port(), free_port()
    text = open(SHIPPED).read()
    text = text.replace("127.0.0.1:9898", f"127.0.0.1:{http}").replace("127.0.0.1:4840", f"127.0.0.1:{opc}")
    text = text.replace("127.0.0.1:5020", f"127.0.0.1:{sim}")
    text = re.sub(r"(\[simulator\]\s*\nenabled = )true", r"\1false", text)
    text += f"""
[[opcua.user]]
name = "operator"
password_hash = "{hash_password('op-secret')}"
can_write = true

[[opcua.user]]
name = "viewer"
password_hash = "{hash_password('view-secret')}"
can_write = false

# A device that takes 300 ms to acknowledge each write (`slow_device`).
[[device]]
name = "slow"
protocol = "tcp"
host = "127.0.0.1:{slow}"
poll = "10s"
timeout = "2s"
retries = 0
"""
    for i in range(1, 6):
        text += f'[[device.tag]]\nname = "sp{i}"\naddress = {i - 1}\nkind = "holding"\ntype = "u16"\nwritable = true\n'
    cfg = os.path.join(work, "gateway.toml")
    open(cfg, "w").write(text)
    return cfg, http, opc, sim, slow


async def slow_device(port, arrivals):
    """A Modbus TCP device that reads at once and acknowledges writes after
    300 ms; `arrivals` gets (function code, monotonic time) per request."""
    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readexactly(7)
                pdu = await reader.readexactly(int.from_bytes(head[4:6], "big") - 1)
                arrivals.append((pdu[0], time.monotonic()))
                if pdu[0] in (3, 4):
                    count = int.from_bytes(pdu[3:5], "big")
                    answer = bytes([pdu[0], 2 * count]) + bytes(2 * count)
                else:
                    await asyncio.sleep(0.3)
                    answer = pdu[:5]
                writer.write(head[:4] + (len(answer) + 1).to_bytes(2, "big") + head[6:7] + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
    return await asyncio.start_server(serve, "127.0.0.1", port)


def start_sim(cfg, port, work):
    return subprocess.Popen([BIN, "simulate", "-c", cfg, "--listen", f"127.0.0.1:{port}"], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "sim.log"), "a"))


async def wait_for_endpoint(url, deadline=30):
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            async with Client(url, timeout=2):
                return True
        except Exception:
            await asyncio.sleep(0.3)
    return False


def read_register(sim_port, unit, address):
    kind = ["--type", "bool"] if address[0] in "01" else []
    out = subprocess.run([BIN, "read", "--host", f"127.0.0.1:{sim_port}", "--unit", str(unit), "--address", address, *kind],
                         capture_output=True, text=True)
    m = re.search(r"\[0x([0-9A-F]{4})\]", out.stdout)
    return int(m.group(1), 16) if m else None


async def status_of(coro):
    try:
        await coro
        return "Good"
    except ua.UaStatusCodeError as e:
        return ua.StatusCode(e.code).name
    except Exception as e:  # a client-side refusal before the wire
        return type(e).__name__


async def secure_client(url, work, user=None, password=None):
    c = Client(url, timeout=5)
    key, cert = Path(work) / "client-key.pem", Path(work) / "client-cert.der"
    if not cert.exists():
        await setup_self_signed_certificate(key, cert, "urn:edge-gateway:interop-client", socket.gethostname(),
                                            [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "interop-client"})
    await c.set_security(SecurityPolicyBasic256Sha256, str(cert), str(key), mode=ua.MessageSecurityMode.SignAndEncrypt)
    if user:
        c.set_user(user)
        c.set_password(password)
    return c


EXPECTED_TYPES = {
    "meter1": {"voltage_l1": "Float", "voltage_l2": "Float", "voltage_l3": "Float", "current_l1": "Float",
               "frequency": "Float", "import_energy": "Float"},
    "plc1": {"pump_run": "Boolean", "alarm_horn": "Boolean", "speed_setpoint": "Double", "tank_level": "Double",
             "parts_count": "UInt32", "status_word": "UInt16", "running": "Boolean", "fault": "Boolean",
             "recipe": "String"},
}


async def check_write_deadline(c, ns, arrivals):
    """One Write of five nodes on the slow device with a 1 s timeoutHint,
    while the client itself would wait 5 s: the server answers within the
    hint, and no request of that Write reaches the device after the answer."""
    request = ua.WriteRequest()
    for i in range(1, 6):
        wv = ua.WriteValue()
        wv.NodeId = ua.NodeId.from_string(f"ns={ns};s=slow.sp{i}")
        wv.AttributeId = ua.AttributeIds.Value
        wv.Value = ua.DataValue(ua.Variant(i, ua.VariantType.UInt16))
        request.Parameters.NodesToWrite.append(wv)
    protocol = c.uaclient.protocol
    before = len(arrivals)
    sent = time.monotonic()
    try:
        data = await asyncio.wait_for(protocol._send_request(request, timeout=1.0), 5)
        answered = time.monotonic()
        protocol.check_answer(data, "Write")
        names = [r.name for r in struct_from_binary(ua.WriteResponse, data).Results]
    except Exception as e:  # a fault or no answer in 5 s: the check below fails
        answered, names = time.monotonic(), [type(e).__name__]
    check("a five-node Write on a slow device is answered within its 1 s timeoutHint", answered - sent < 1.0,
          round(answered - sent, 3))
    good = next((i for i, n in enumerate(names) if n != "Good"), len(names))
    check("its nodes are Good up to the deadline and BadTimeout after it",
          0 < good < 5 and all(n == "BadTimeout" for n in names[good:]), names)
    await asyncio.sleep(2)  # long enough for every write the gateway might still send
    writes = [at for fc, at in arrivals[before:] if fc == 6]
    check("no request of that Write reaches the device after the answer",
          all(at < answered for at in writes) and len(writes) <= good + 1,
          [round(at - answered, 3) for at in writes])


async def http_status(port, path):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    head = await asyncio.wait_for(reader.read(64), 5)
    writer.close()
    return head.split(b" ")[1].decode() if head.count(b" ") else head


async def check_hostile_peers(url, http, ns):
    """Hundreds of idle sockets on both ports and dozens of sessions that are
    created and never activated: a legitimate client still gets in, /healthz
    still answers, and the devices keep polling."""
    port = int(url.rsplit(":", 1)[1].strip("/"))
    idle = []
    for p in (port, http):
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", p), timeout=5))
    lurkers = []
    for _ in range(25):  # max_sessions is 20
        c = Client(url, timeout=5)
        try:
            await c.connect_socket()
            await c.send_hello()
            await c.open_secure_channel()
            await c.create_session()
            lurkers.append(c)
        except Exception as e:  # refused: the check below says so
            print(f"     (a lurking session was refused: {type(e).__name__}: {e})")
    check("25 sessions created and never activated are all accepted", len(lurkers) == 25, len(lurkers))
    try:
        async with Client(url, timeout=5) as c:
            value = await c.get_node(f"ns={ns};s=meter1.voltage_l1").read_data_value()
            ok, detail = value.StatusCode.is_good(), value.StatusCode
    except Exception as e:
        ok, detail = False, f"{type(e).__name__}: {e}"
    check("beside 300 idle sockets and 25 never-activated sessions, a client connects and reads Good", ok, detail)
    st = await http_status(http, "/healthz")
    check("beside 300 idle sockets on the HTTP port, /healthz answers 200", st == "200", st)
    async with Client(url, timeout=5) as c:
        dv = await c.get_node(f"ns={ns};s=meter1.voltage_l1").read_data_value()
        age = (datetime.datetime.now(datetime.timezone.utc) - dv.SourceTimestamp.replace(tzinfo=datetime.timezone.utc)).total_seconds()
    check("... and polling keeps its cycle (a source timestamp under 3 s old)", age < 3, age)
    for c in lurkers:
        try:
            c.disconnect_socket()
        except Exception:
            pass
    for s in idle:
        s.close()


async def check_reload(url, cfg, gw, sim_port):
    """systemctl reload (SIGHUP) with `slow` dropped and `meter2` added on
    meter1's connection, under a subscribed session: the session and its
    subscription stay, the dropped tag reports BadNodeIdUnknown, a
    GeneralModelChangeEvent names both folders, meter2 reads Good, and
    meter1 keeps its 1 s pace through the reload."""
    class Seen:
        def __init__(self):
            self.data, self.events = {}, []

        def datachange_notification(self, node, val, data):
            v = data.monitored_item.Value
            self.data.setdefault(node.nodeid.Identifier, []).append((v.StatusCode.name, v.SourceTimestamp))

        def event_notification(self, event):
            self.events.append(event)

        def status_change_notification(self, status):
            pass

    async with Client(url, timeout=5) as c:
        ns = await c.get_namespace_index(NS_URI)
        seen = Seen()
        sub = await c.create_subscription(100, seen)
        await sub.subscribe_data_change([c.get_node(f"ns={ns};s=meter1.voltage_l1"),
                                         c.get_node(f"ns={ns};s=slow.sp1")])
        await sub.subscribe_events(c.nodes.server, ua.ObjectIds.GeneralModelChangeEventType)
        await asyncio.sleep(2)
        text = open(cfg).read()
        cut = text.index("# A device that takes 300 ms")
        open(cfg, "w").write(text[:cut] + meter_device("meter2", sim_port))
        reloaded = time.monotonic()
        gw.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                seen.data.get("slow.sp1", [("", None)])[-1][0] == "BadNodeIdUnknown" and seen.events):
            await asyncio.sleep(0.1)
        check("reload: the dropped device's tag reports BadNodeIdUnknown on the same subscription",
              seen.data.get("slow.sp1", [("", None)])[-1][0] == "BadNodeIdUnknown", seen.data.get("slow.sp1"))
        changes = [(ch.Affected.Identifier, ch.Verb) for e in seen.events for ch in (e.Changes or [])]
        check("reload: a GeneralModelChangeEvent names the deleted and the added folder",
              ("slow", 2 | 8) in changes and ("meter2", 1 | 4) in changes, changes)
        folder = await c.nodes.objects.get_child([f"{ns}:line-3"])
        names = {(await n.read_browse_name()).Name for n in await folder.get_children()}
        check("reload: browse shows meter2 and no longer slow", "meter2" in names and "slow" not in names, names)
        deadline = time.monotonic() + 10
        st = None
        while time.monotonic() < deadline:
            st = (await c.get_node(f"ns={ns};s=meter2.voltage").read_data_value(raise_on_bad_status=False)).StatusCode.name
            if st == "Good":
                break
            await asyncio.sleep(0.2)
        check("reload: the added device's tag reads Good", st == "Good", st)
        await asyncio.sleep(max(0.0, reloaded + 4 - time.monotonic()))
        stamps = [t for name, t in seen.data.get("meter1.voltage_l1", []) if name == "Good" and t]
        gaps = [(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])]
        check("reload: meter1 (untouched, same connection) kept its 1 s pace through it",
              len(stamps) >= 5 and max(gaps) < 1.6, gaps)
        await sub.delete()


async def main():
    work = tempfile.mkdtemp(prefix="eg-interop-")
    cfg, http, opc, sim_port, slow_port = prepare(work)
    url = f"opc.tcp://127.0.0.1:{opc}/"
    arrivals = []
    slow = await slow_device(slow_port, arrivals)
    sim = start_sim(cfg, sim_port, work)
    gw = subprocess.Popen([BIN, "run", "-c", cfg], cwd=work, stdout=subprocess.DEVNULL,
                          stderr=open(os.path.join(work, "gateway.log"), "w"))
    try:
        check("endpoint answers", await wait_for_endpoint(url))
        await asyncio.sleep(2.5)  # first polls
        async with Client(url, timeout=5) as c:
            ns = await c.get_namespace_index(NS_URI)
            check("namespace registered", ns > 0, ns)
            root = None
            for ch in await c.nodes.objects.get_children():
                if (await ch.read_browse_name()).Name == "line-3":
                    root = ch
            check("Objects/line-3 exists", root is not None)
            tree = {}
            for dev in await root.get_children():
                dname = (await dev.read_browse_name()).Name
                tree[dname] = {(await t.read_browse_name()).Name: t for t in await dev.get_children()}
            check("device folders", set(tree) == {"meter1", "plc1", "slow"}, tree.keys())
            for dname, tags in EXPECTED_TYPES.items():
                check(f"{dname}: every tag and _Status browsed", set(tags) | {"_Status"} == set(tree.get(dname, {})),
                      sorted(tree.get(dname, {})))
                status = tree[dname]["_Status"]
                names = {(await s.read_browse_name()).Name for s in await status.get_children()}
                check(f"{dname}: _Status variables", names == {"Connected", "LastError", "PollDuration", "RequestsPerCycle"}, names)
                connected = await c.get_node(f"ns={ns};s={dname}._Status.Connected").read_value()
                check(f"{dname}: _Status.Connected is true", connected is True, connected)
                for tname, tname_type in tags.items():
                    node = c.get_node(f"ns={ns};s={dname}.{tname}")
                    dv = await node.read_data_value()
                    dt = await node.read_data_type_as_variant_type()
                    age = (datetime.datetime.now(datetime.timezone.utc) - dv.SourceTimestamp.replace(tzinfo=datetime.timezone.utc)).total_seconds() if dv.SourceTimestamp else None
                    check(f"{dname}.{tname}: Good, {tname_type}, recent source timestamp",
                          dv.StatusCode.is_good() and dt.name == tname_type and dv.Value.Value is not None and age is not None and age < 10,
                          (dv.StatusCode, dt.name, dv.Value.Value, age))
            # Every variable under the gateway folder (tags, their properties, _Status) has a TypeDefinition.
            untyped, variables, todo = [], 0, [root]
            while todo:
                node = todo.pop()
                for child in await node.get_children():
                    if await child.read_node_class() == ua.NodeClass.Variable:
                        variables += 1
                        td = await child.read_type_definition()
                        if td is None or td.Identifier == 0:
                            untyped.append(child.nodeid.to_string())
                    todo.append(child)
            check("every variable has a TypeDefinition", variables > 30 and not untyped, (variables, untyped))
            td = await c.get_node(f"ns={ns};s=meter1._Status.Connected").read_type_definition()
            check("_Status variables are BaseDataVariableType", td == ua.NodeId(ua.ObjectIds.BaseDataVariableType), td)
            profiles = await c.get_node(ua.ObjectIds.Server_ServerCapabilities_ServerProfileArray).read_value()
            check("ServerProfileArray declares the Embedded 2017 server profile",
                  profiles == ["http://opcfoundation.org/UA-Profile/Server/EmbeddedUA2017"], profiles)
            info = await c.get_node(ua.ObjectIds.Server_ServerStatus_BuildInfo).read_value()
            check("BuildInfo names the product, its version and build",
                  info.ProductName == "edge-gateway" and info.ProductUri == "urn:edge-gateway"
                  and info.ManufacturerName == "edge-gateway developers" and info.SoftwareVersion == VERSION
                  and bool(info.BuildNumber) and info.BuildDate is not None,
                  info)
            # pump_run is a constant coil polled every 500 ms: a Read must carry the latest
            # response's SourceTimestamp (as /api/tags does), not the time it last changed.
            pump = c.get_node(f"ns={ns};s=plc1.pump_run")
            first = await pump.read_data_value()
            await asyncio.sleep(1.5)
            second = await pump.read_data_value()
            fresh = (first.SourceTimestamp and second.SourceTimestamp
                     and (second.SourceTimestamp - first.SourceTimestamp).total_seconds() >= 1.0)
            check("Read of an unchanged tag carries the latest response's SourceTimestamp",
                  bool(fresh) and second.Value.Value is True,
                  (first.SourceTimestamp, second.SourceTimestamp, second.Value.Value))
            eu = await (await c.get_node(f"ns={ns};s=meter1.voltage_l1").get_child("0:EngineeringUnits")).read_value()
            check("EngineeringUnits of voltage_l1 is V (UNECE VLT)", eu.DisplayName.Text == "V" and eu.UnitId == 5655636, eu)
            access = await c.get_node(f"ns={ns};s=plc1.speed_setpoint").read_attribute(ua.AttributeIds.UserAccessLevel)
            check("anonymous sees no CurrentWrite", not (access.Value.Value & ua.AccessLevel.CurrentWrite.mask), access.Value.Value)

            # Subscription: a sine-driven voltage changes within poll + publishing interval.
            changes = []

            class Handler:
                def datachange_notification(self, node, val, data):
                    changes.append(val)

            sub = await c.create_subscription(100, Handler())
            await sub.subscribe_data_change(c.get_node(f"ns={ns};s=meter1.voltage_l1"))
            await asyncio.sleep(3.5)
            check("subscription delivers changes", len(changes) >= 3, len(changes))
            await sub.delete()

            # Queues: a slow publishing interval (3 s) over a tag that changes
            # every 1 s poll. A queue of one keeps the newest value and, by Part 4
            # 5.13.1.5, never sets the Overflow bit; a queue of two drops values
            # and marks the one after the gap.
            OVERFLOW = 0x0480  # InfoType DataValue | Overflow
            flags = {1: [], 2: []}

            class Queues:
                def datachange_notification(self, node, val, data):
                    code = data.monitored_item.Value.StatusCode.value
                    flags[data.monitored_item.ClientHandle].append(code & OVERFLOW == OVERFLOW)

            sub = await c.create_subscription(3000, Queues())
            items = []
            for handle in (1, 2):
                req = ua.MonitoredItemCreateRequest()
                req.ItemToMonitor.NodeId = c.get_node(f"ns={ns};s=meter1.voltage_l1").nodeid
                req.ItemToMonitor.AttributeId = ua.AttributeIds.Value
                req.MonitoringMode = ua.MonitoringMode.Reporting
                req.RequestedParameters.ClientHandle = handle
                req.RequestedParameters.SamplingInterval = 0
                req.RequestedParameters.QueueSize = handle
                req.RequestedParameters.DiscardOldest = True
                items.append(req)
            await sub.create_monitored_items(items)
            await asyncio.sleep(10)
            await sub.delete()
            check("queue size 1: newest value, no Overflow bit",
                  len(flags[1]) >= 2 and not any(flags[1]), flags[1])
            check("queue size 2: the Overflow bit (with InfoType DataValue) on a queue that dropped a value",
                  any(flags[2]), flags[2])

            st = await status_of(c.get_node(f"ns={ns};s=plc1.speed_setpoint").write_value(ua.DataValue(ua.Variant(100.0, ua.VariantType.Double))))
            check("anonymous write refused", st == "BadUserAccessDenied", st)

        # Encrypted, authenticated: the client's certificate is unknown first.
        c = await secure_client(url, work, "operator", "op-secret")
        st = await status_of(c.connect())
        check("unknown client certificate refused", st in ("BadCertificateUntrusted", "BadSecurityChecksFailed"), st)
        rejected = os.listdir(os.path.join(work, "pki", "rejected"))
        check("refused certificate stored in pki/rejected/", len(rejected) == 1, rejected)
        listing = subprocess.run([BIN, "pki", "-c", cfg, "list"], cwd=work, capture_output=True, text=True).stdout
        line = next((l for l in listing.splitlines() if "interop-client" in l and "[" in l), "")
        thumb = line.split()[0] if line else ""
        check("edge-gateway pki list shows the refused certificate's thumbprint and subject",
              len(thumb) == 40 and "CN=interop-client" in line, listing)
        out = subprocess.run([BIN, "pki", "-c", cfg, "trust", "interop-client"], cwd=work, capture_output=True, text=True)
        check("pki trust refuses a file name (it is the client's choice)", out.returncode != 0, out.stdout)
        out = subprocess.run([BIN, "pki", "-c", cfg, "trust", thumb[:12]], cwd=work, capture_output=True, text=True)
        check("edge-gateway pki trust <thumbprint prefix> moves it to trusted/", out.returncode == 0 and "trusted" in out.stdout, out.stderr)
        c = await secure_client(url, work, "operator", "op-secret")
        st = await status_of(c.connect())
        check("trusted certificate and password accepted", st == "Good", st)
        if st == "Good":
            try:
                ns = await c.get_namespace_index(NS_URI)
                setpoint = c.get_node(f"ns={ns};s=plc1.speed_setpoint")
                access = await setpoint.read_attribute(ua.AttributeIds.UserAccessLevel)
                check("operator sees CurrentWrite", bool(access.Value.Value & ua.AccessLevel.CurrentWrite.mask), access.Value.Value)
                st = await status_of(setpoint.write_value(ua.DataValue(ua.Variant(123.4, ua.VariantType.Double))))
                check("write of a writable tag is Good", st == "Good", st)
                reg = read_register(sim_port, 2, "40001")
                check("the simulator's register changed (raw 1234 = 123.4 rpm)", reg == 1234, reg)
                st = await status_of(setpoint.write_value(ua.DataValue(ua.Variant(99999.0, ua.VariantType.Double))))
                check("out-of-range write refused", st == "BadOutOfRange", st)
                st = await status_of(c.get_node(f"ns={ns};s=meter1.voltage_l1").write_value(ua.DataValue(ua.Variant(1.0, ua.VariantType.Float))))
                check("write of a read-only tag refused", st == "BadNotWritable", st)
                st = await status_of(setpoint.write_value(ua.DataValue(ua.Variant("fast", ua.VariantType.String))))
                check("write of a wrong type refused", st == "BadTypeMismatch", st)
                coil = c.get_node(f"ns={ns};s=plc1.pump_run")
                st = await status_of(coil.write_value(ua.DataValue(ua.Variant(False, ua.VariantType.Boolean))))
                check("coil write is Good", st == "Good" and read_register(sim_port, 2, "00001") == 0, st)
                await check_write_deadline(c, ns, arrivals)
            finally:
                await c.disconnect()

        c = await secure_client(url, work, "operator", "wrong")
        st = await status_of(c.connect())
        check("wrong password refused", st == "BadUserAccessDenied", st)
        c = await secure_client(url, work, "nobody", "wrong")
        st2 = await status_of(c.connect())
        check("unknown user refused the same way", st2 == st, (st, st2))

        c = await secure_client(url, work, "viewer", "view-secret")
        st = await status_of(c.connect())
        check("viewer logs in", st == "Good", st)
        if st == "Good":
            try:
                ns = await c.get_namespace_index(NS_URI)
                st = await status_of(c.get_node(f"ns={ns};s=plc1.speed_setpoint").write_value(ua.DataValue(ua.Variant(50.0, ua.VariantType.Double))))
                check("viewer without can_write refused", st == "BadUserAccessDenied", st)
            finally:
                await c.disconnect()

        # A device that stops answering: Good -> Uncertain -> Bad, and back.
        async with Client(url, timeout=5) as c:
            ns = await c.get_namespace_index(NS_URI)
            node = c.get_node(f"ns={ns};s=meter1.frequency")
            # Handle 42 asks for trigger StatusValue; handle 43 gives no filter,
            # which means the same default trigger (Part 4, 7.22.2).
            by_handle = {42: [], 43: []}
            seen = by_handle[42]

            class Q:
                def datachange_notification(self, node, val, data):
                    by_handle[data.monitored_item.ClientHandle].append(data.monitored_item.Value.StatusCode.name)

                def status_change_notification(self, status):
                    pass

            sub = await c.create_subscription(100, Q())
            params = ua.DataChangeFilter(Trigger=ua.DataChangeTrigger.StatusValue)
            mi = ua.MonitoredItemCreateRequest()
            mi.ItemToMonitor.NodeId = node.nodeid
            mi.ItemToMonitor.AttributeId = ua.AttributeIds.Value
            mi.MonitoringMode = ua.MonitoringMode.Reporting
            mi.RequestedParameters.ClientHandle = 42
            mi.RequestedParameters.SamplingInterval = 100
            mi.RequestedParameters.QueueSize = 20
            mi.RequestedParameters.Filter = params
            plain = ua.MonitoredItemCreateRequest()
            plain.ItemToMonitor.NodeId = node.nodeid
            plain.ItemToMonitor.AttributeId = ua.AttributeIds.Value
            plain.MonitoringMode = ua.MonitoringMode.Reporting
            plain.RequestedParameters.ClientHandle = 43
            plain.RequestedParameters.SamplingInterval = 100
            plain.RequestedParameters.QueueSize = 20
            await sub.create_monitored_items([mi, plain])
            sim.send_signal(signal.SIGTERM)
            sim.wait(10)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any(s.startswith("Bad") for s in seen):
                await asyncio.sleep(0.2)
            first_bad = next((i for i, s in enumerate(seen) if s.startswith("Bad")), len(seen))
            check("simulator stopped: Uncertain first", "UncertainLastUsableValue" in seen[:first_bad], seen)
            check("then Bad after stale_after", any(s.startswith("Bad") for s in seen), seen)
            unfiltered = by_handle[43]
            first_bad = next((i for i, s in enumerate(unfiltered) if s.startswith("Bad")), len(unfiltered))
            check("without a filter, the status-only change to Uncertain is notified too",
                  "UncertainLastUsableValue" in unfiltered[:first_bad], unfiltered)
            sim = start_sim(cfg, sim_port, work)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and seen[-1:] != ["Good"]:
                await asyncio.sleep(0.2)
            check("simulator back: Good again", seen[-1:] == ["Good"], seen[-5:])
            await sub.delete()
        await check_hostile_peers(url, http, ns)
        await check_reload(url, cfg, gw, sim_port)
    finally:
        slow.close()
        for p in (gw, sim):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if FAILED:
            print("--- gateway.log (tail)")
            print("".join(open(os.path.join(work, "gateway.log")).readlines()[-30:]))
        shutil.rmtree(work, ignore_errors=True)
    print(f"interop: {len(PASSED)} passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


sys.exit(asyncio.run(main()))
