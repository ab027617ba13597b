#!/usr/bin/env python3
"""The status page at / in headless Chromium, against the shipped config.

Runs the gateway on the shipped gateway.toml with its simulator split in two
(`edge-gateway simulate` twice: meter1 on one, plc1 on the other) and loads the
page in Chromium (Debian `chromium`) after the page has run its script:

  - every tag of the shipped config (read from the TOML here, not from the
    gateway) has a row, with a value while it is good, and the values are
    live: the page refreshed more than once, and a changing tag changed;
  - the page loads nothing from elsewhere and logs no console message
    (an error, a failed load or a policy violation would be one);
  - with plc1's simulator stopped: plc1's device row is down, each of its
    tags is marked bad with its cause, meter1's stay good;
  - the filters in the address (#device=plc1&quality=bad) show only those.

Screenshots (desktop, phone, device down) go to the artifact directory.

Usage: status_page.py <edge-gateway binary> <gateway.toml> <artifact dir>
"""

import html
import html.parser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import urllib.request

from harness import check, free_port, passed, wait_until


def http_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.load(r)


def ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def prepare(shipped, work):
    ports = {name: free_port() for name in ("http", "opcua", "sim", "sim2")}
    text = open(shipped).read()
    text = text.replace("127.0.0.1:9898", f"127.0.0.1:{ports['http']}")
    text = text.replace("127.0.0.1:4840", f"127.0.0.1:{ports['opcua']}")
    text = text.replace('pki_dir = "pki"', f'pki_dir = "{work}/pki"')
    text, n = re.subn(r'(name = "plc1"\nprotocol = "tcp"\nhost = )"127\.0\.0\.1:5020"',
                      rf'\1"127.0.0.1:{ports["sim2"]}"', text)
    check(n == 1, "plc1 moved to a simulator of its own")
    text = text.replace("127.0.0.1:5020", f"127.0.0.1:{ports['sim']}")
    text = re.sub(r"(\[simulator\]\s*\nenabled = )true", r"\1false", text)
    cfg = os.path.join(work, "gateway.toml")
    open(cfg, "w").write(text)
    return cfg, ports


class Rows(html.parser.HTMLParser):
    """The rows of the page's tables: their data-* attributes and cell texts."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr" and "data-key" in attrs:
            self.row = {"attrs": attrs, "cells": []}
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None and self.row is not None:
            self.row["cells"].append("".join(self.cell))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.rows.append(self.row)
            self.row = None


class Page:
    """What one load of the page showed once its script had run."""

    def __init__(self, dom, console):
        parser = Rows()
        parser.feed(dom)
        updates = re.search(r'<body[^>]*data-updates="(\d+)"', dom)
        self.updates = int(updates.group(1)) if updates else 0
        connection = re.search(r'id="connection"[^>]*>([^<]*)<', dom)
        self.connection = html.unescape(connection.group(1)) if connection else ""
        self.console = console
        self.tags, self.devices = {}, {}
        for row in parser.rows:
            a = row["attrs"]
            if "data-tag" in a:
                self.tags[(a["data-device"], a["data-tag"])] = (a["data-quality"], row["cells"])
            elif "data-state" in a:
                self.devices[a["data-device"]] = a["data-state"]


def chromium(url, work, budget_ms=4000, screenshot=None, size="1280,1000"):
    profile = tempfile.mkdtemp(dir=work, prefix="chromium-")
    args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--hide-scrollbars", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0", f"--window-size={size}",
            f"--virtual-time-budget={budget_ms}"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    run = subprocess.run(args + [url], capture_output=True, timeout=90, cwd=work)
    check(run.returncode == 0, f"chromium loaded {url} ({'screenshot' if screenshot else 'DOM'})")
    stderr = run.stderr.decode(errors="replace")
    console = [line for line in stderr.splitlines() if ":CONSOLE" in line]
    shutil.rmtree(profile, ignore_errors=True)
    return run.stdout.decode(errors="replace"), console


def load(port, work, fragment=""):
    dom, console = chromium(f"http://127.0.0.1:{port}/{fragment}", work)
    return Page(dom, console)


def main():
    binary, shipped, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(artifacts, exist_ok=True)
    with open(shipped, "rb") as f:
        expected = {(d["name"], t["name"]) for d in tomllib.load(f)["device"] for t in d.get("tag", [])}
    plc1 = {k for k in expected if k[0] == "plc1"}
    meter1 = expected - plc1
    work = tempfile.mkdtemp(prefix="status-page-")
    procs = []
    try:
        cfg, ports = prepare(shipped, work)
        log = open(os.path.join(work, "gateway.log"), "w")

        def start(*args):
            p = subprocess.Popen([binary, *args], cwd=work, stdout=log, stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        start("simulate", "-c", cfg, "--listen", f"127.0.0.1:{ports['sim']}")
        sim2 = start("simulate", "-c", cfg, "--listen", f"127.0.0.1:{ports['sim2']}")
        start("run", "-c", cfg)
        http = ports["http"]
        wait_until(lambda: ready(http), 30, "/readyz")

        first = load(http, work)
        check(first.console == [], f"no console message on load: {first.console}")
        check(set(first.tags) == expected, f"a row for each of the {len(expected)} tags of the shipped config")
        check(all(q == "good" and cells[2] not in ("", "–") for q, cells in first.tags.values()),
              "every tag good, with a value")
        check(first.updates >= 2, f"the page refreshed by itself ({first.updates} times in 4 s)")
        check(first.connection.startswith("Live"), f"the page says it is live: {first.connection!r}")
        check(first.devices == {"meter1": "up", "plc1": "up"}, f"both devices up: {first.devices}")
        # Chromium's virtual clock runs a load in well under a second here, less than
        # meter1's poll: wait until the gateway has polled meter1 again, so the second
        # load fetches values newer than any the first one showed.
        polled = {t["tag"]: t["source_timestamp"] for t in http_json(http, "/api/tags?device=meter1")}
        wait_until(lambda: any(polled.get(t["tag"]) != t["source_timestamp"]
                               for t in http_json(http, "/api/tags?device=meter1")),
                   10, "meter1 polled again")
        second = load(http, work)
        changed = [k for k in meter1 if first.tags[k][1][2] != second.tags[k][1][2]]
        check(changed, f"live values: {len(changed)} meter1 values changed between two loads")

        chromium(f"http://127.0.0.1:{http}/", work, screenshot=os.path.join(artifacts, "desktop.png"))
        chromium(f"http://127.0.0.1:{http}/", work, screenshot=os.path.join(artifacts, "phone.png"),
                 size="412,915")

        sim2.terminate()
        sim2.wait(timeout=10)

        def plc1_bad():
            tags = http_json(http, "/api/tags?device=plc1")
            return all(t["quality"] == "bad" for t in tags)

        wait_until(plc1_bad, 30, "plc1's tags bad in /api/tags")
        down = load(http, work)
        check(down.console == [], f"no console message with a device down: {down.console}")
        check(down.devices.get("plc1") == "down" and down.devices.get("meter1") == "up",
              f"plc1 down, meter1 up: {down.devices}")
        check(all(down.tags[k][0] == "bad" and down.tags[k][1][3].startswith("bad · ") for k in plc1),
              "every plc1 tag marked bad, with its cause")
        check(all(down.tags[k][1][2] == "–" for k in plc1), "no value shown for a bad tag")
        check(all(down.tags[k][0] == "good" for k in meter1), "meter1's tags still good")
        chromium(f"http://127.0.0.1:{http}/", work, screenshot=os.path.join(artifacts, "device-down.png"),
                 size="1280,1400")

        filtered = load(http, work, "#device=plc1&quality=bad")
        check(set(filtered.tags) == plc1, "#device=plc1&quality=bad shows exactly plc1's tags")
        none = load(http, work, "#quality=uncertain")
        check(none.tags == {} and none.console == [], "#quality=uncertain shows no tag")
        print(f"status page: {passed()} checks passed; screenshots in {artifacts}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
