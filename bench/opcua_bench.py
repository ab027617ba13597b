#!/usr/bin/env python3
"""OPC UA figures for BENCHMARKS.md, against shared/bench's mbload device farm.

1. Change -> notification latency: mbload writes its clock (unix ms, low 32 bits)
   into input registers 9998..9999 every 100 ms; the gateway polls them every
   100 ms; the client subscribes with a 100 ms publishing interval and compares
   each notified value with its own clock (same machine, same clock).
2. Monitored items created per second: 10,000 items in one CreateMonitoredItems call.
3. The gateway's RSS with 10,000 tags in the address space and one client
   subscribed to all of them (from /metrics), after 10 s of notifications.

Usage: python opcua_bench.py EDGE_GATEWAY_BIN MBLOAD_BIN   (loopback only; stops by itself)
"""
import asyncio
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from asyncua import Client, ua

BIN, MBLOAD = sys.argv[1], sys.argv[2]
TAGS = 10_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(work, base, http, opc):
    lines = [
        '[gateway]\nname = "bench"',
        f'[http]\nlisten = "127.0.0.1:{http}"',
        f'[opcua]\nlisten = "127.0.0.1:{opc}"\npki_dir = "{work}/pki"\nsecurity = ["none"]\nanonymous = "read"',
        f'[[device]]\nname = "clock"\nprotocol = "tcp"\nhost = "127.0.0.1:{base}"\npoll = "100ms"\ntimeout = "50ms"\nretries = 0',
        '[[device.tag]]\nname = "ms"\nkind = "input"\naddress = 9998\ntype = "u32"',
        f'[[device]]\nname = "farm"\nprotocol = "tcp"\nhost = "127.0.0.1:{base + 1}"\npoll = "1s"\ntimeout = "300ms"',
    ]
    lines += [f'[[device.tag]]\nname = "t{i}"\nkind = "holding"\naddress = {i}\ntype = "u16"' for i in range(TAGS)]
    path = os.path.join(work, "bench.toml")
    open(path, "w").write("\n".join(lines) + "\n")
    return path


def rss(http):
    body = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10).read().decode()
    m = re.search(r"^process_resident_memory_bytes (\S+)$", body, re.M)
    return float(m.group(1)) if m else None


async def main():
    work = tempfile.mkdtemp(prefix="eg-opcua-bench-")
    base = 17000 + os.getpid() % 1000
    http, opc = free_port(), free_port()
    farm = subprocess.Popen([MBLOAD, str(base), "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    gw = subprocess.Popen([BIN, "run", "-c", config(work, base, http, opc)], cwd=work,
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "gw.log"), "w"))
    url = f"opc.tcp://127.0.0.1:{opc}/"
    try:
        for _ in range(100):
            try:
                async with Client(url, timeout=2):
                    break
            except Exception:
                await asyncio.sleep(0.3)
        await asyncio.sleep(3)
        async with Client(url, timeout=60) as c:
            ns = await c.get_namespace_index("urn:edge-gateway:bench:tags")
            # 1. latency
            lat = []

            class Clock:
                def datachange_notification(self, node, val, data):
                    now = int(time.time() * 1000) & 0xFFFFFFFF
                    lat.append(((now - val) & 0xFFFFFFFF))

            sub = await c.create_subscription(100, Clock())
            await sub.subscribe_data_change(c.get_node(f"ns={ns};s=clock.ms"), sampling_interval=0)
            deadline = time.monotonic() + 60
            while len(lat) < 151 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await sub.delete()
            samples = sorted(lat[1:])  # the first is the initial value, not a change
            p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
            print(f"latency: {len(samples)} changes, median {statistics.median(samples):.0f} ms, p99 {p99} ms, "
                  f"min {samples[0]} ms, max {samples[-1]} ms (poll 100 ms, publishing 100 ms)")

            # 2. monitored items per second, 3. RSS
            count = [0]

            class Many:
                def datachange_notification(self, node, val, data):
                    count[0] += 1

            before = rss(http)
            sub = await c.create_subscription(1000, Many())
            nodes = [c.get_node(f"ns={ns};s=farm.t{i}") for i in range(TAGS)]
            t0 = time.perf_counter()
            handles = await sub.subscribe_data_change(nodes, sampling_interval=1000)
            dt = time.perf_counter() - t0
            ok = sum(1 for h in handles if isinstance(h, int))
            print(f"monitored items: {ok} created in one call in {dt:.2f} s: {ok / dt:.0f} items/s (client included)")
            count[0] = 0
            await asyncio.sleep(10)
            after = rss(http)
            print(f"notifications: {count[0] / 10:.0f}/s over 10 s with {ok} items subscribed")
            print(f"RSS: {before / 2**20:.1f} MiB with {TAGS + 1} tags, no subscription; "
                  f"{after / 2**20:.1f} MiB with one client subscribed to all {ok}")
            await sub.delete()

        # 4. Flood: 4 clients reading all 10,000 values back to back for 10 s; the
        # 100 ms clock device must keep its deadlines meanwhile.
        def counters():
            body = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10).read().decode()
            get = lambda name: float(re.search(rf'^{name}{{device="clock"}} (\S+)$', body, re.M).group(1))
            return get("edge_gateway_poll_duration_seconds_count"), get("edge_gateway_poll_overruns_total")

        reads = [0]

        async def flood(stop):
            async with Client(url, timeout=60) as fc:
                fns = await fc.get_namespace_index("urn:edge-gateway:bench:tags")
                ids = [fc.get_node(f"ns={fns};s=farm.t{i}") for i in range(TAGS)]
                while time.monotonic() < stop:
                    await fc.read_values(ids)
                    reads[0] += len(ids)

        cycles0, overruns0 = counters()
        t0 = time.monotonic()
        await asyncio.gather(*(flood(t0 + 10) for _ in range(4)))
        elapsed = time.monotonic() - t0
        cycles1, overruns1 = counters()
        print(f"flood: {reads[0] / elapsed:.0f} values read/s by 4 clients; the 100 ms device meanwhile: "
              f"{(cycles1 - cycles0) / elapsed:.1f} cycles/s, {overruns1 - overruns0:.0f} overruns")
    finally:
        for p in (gw, farm):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


asyncio.run(main())
