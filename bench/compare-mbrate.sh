#!/usr/bin/env bash
# Request rate of one edge-gateway TCP link against libmodbus's reference poller,
# side by side in one run, both against the same mbload device farm on loopback.
# Usage: bench/compare-mbrate.sh [COUNT] [RUNS]   (needs libmodbus-dev and gcc)
set -euo pipefail
count=${1:-20000}
runs=${2:-5}
here=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED:-$here/../shared}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
gcc -O2 -o "$work/mbload" "$shared/bench/mbload.c" $(pkg-config --cflags --libs libmodbus)
gcc -O2 -o "$work/mbrate" "$shared/bench/mbrate.c" $(pkg-config --cflags --libs libmodbus)
port=16000
"$work/mbload" $port 2 >/dev/null 2>&1 &
sleep 0.5
(cd "$here" && cargo bench --bench tcp_rate --no-run -q)
bin=$(ls -t "$here"/target/release/deps/tcp_rate-* | grep -v '\.d$' | head -1)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for nregs in 1 125; do
  for tool in mbrate edge-gateway; do
    for _ in $(seq "$runs"); do
      if [ "$tool" = mbrate ]; then
        "$work/mbrate" $port "$count" "$nregs" | grep -oE '[0-9.]+ requests/s' | grep -oE '^[0-9.]+'
      else
        "$bin" "$count" "$nregs" "127.0.0.1:$((port + 1))" | grep -oE '[0-9.]+ requests/s' | grep -oE '^[0-9.]+'
      fi
    done | median | xargs printf "%-13s %3s registers: median %s requests/s over $runs runs\n" "$tool" "$nregs"
  done
done
