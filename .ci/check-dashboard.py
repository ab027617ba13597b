#!/usr/bin/env python3
"""Check every PromQL query of examples/grafana-dashboard.json with promtool.

promtool has no bare query checker, but `promtool check rules` parses each
rule's expression: wrap every panel query (Grafana variables substituted) in a
recording rule and check the file.
"""
import json
import re
import subprocess
import sys
import tempfile

dash = json.load(open("examples/grafana-dashboard.json"))
exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
subst = lambda e: re.sub(r"\$\{?\w+\}?", ".*", e)
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        f.write(f"      - record: dashboard:query{i}\n        expr: {json.dumps(subst(e))}\n")
    path = f.name
result = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
print(result.stdout.strip() or result.stderr.strip())
sys.exit(result.returncode if exprs else 1)
