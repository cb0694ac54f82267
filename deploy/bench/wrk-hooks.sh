#!/usr/bin/env bash
# The ingest benchmark of docs/durability.md: a hooks-only `serve` on the
# embedded NATS pinned to CPU 0, wrk (2 threads, 32 connections) on CPU 1
# posting generic hooks with a unique path each (hooks.lua). Prints
# hooks/s, p99, non-2xx answers and serve's CPU per hook.
#
#   deploy/bench/wrk-hooks.sh BIN SYNC [PORT]
#     BIN   a cdnpurge binary (make build)
#     SYNC  nats.embedded.sync_interval: "" (the default, group commit),
#           "2m" (lazy), "always"
#     PORT  the webhook port (PORT+1 is the admin listener); 18080
#   DUR=10s sets wrk's duration.
#
# Compare settings side by side, alternating, on the same machine: a
# shared machine moves one setting by a factor of two between rounds.
set -u
BIN=$1 SYNC=$2 PORT=${3:-18080}
here=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/wrk-hooks.XXXX)
trap 'rm -rf "$D"' EXIT
export CDNPURGE_WEBHOOKS_GENERIC_TOKEN=demo-token-change-me
export CDNPURGE_WEBHOOKS_LISTEN=127.0.0.1:$PORT
export CDNPURGE_ADMIN_LISTEN=127.0.0.1:$((PORT+1))
export CDNPURGE_NATS_EMBEDDED_STORE_DIR=$D/nats
export CDNPURGE_NATS_EMBEDDED_SYNC_INTERVAL=$SYNC
taskset -c 0 "$BIN" serve --emulator --worker=false --scheduler=false --log-format text > "$D/serve.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$((PORT+1))/readyz" >/dev/null && break; sleep 0.1; done
t0=$(awk '{print $14+$15}' "/proc/$PID/stat")
taskset -c 1 wrk -t2 -c32 -d"${DUR:-10s}" -s "$here/hooks.lua" --latency "http://127.0.0.1:$PORT" > "$D/wrk.out" 2>&1
t1=$(awk '{print $14+$15}' "/proc/$PID/stat")
kill "$PID"; wait "$PID" 2>/dev/null
rps=$(awk '/Requests\/sec/{print $2}' "$D/wrk.out")
p99=$(awk '/ 99%/{print $2}' "$D/wrk.out")
reqs=$(awk '/requests in/{print $1}' "$D/wrk.out")
non2xx=$(awk '/Non-2xx/{print $NF}' "$D/wrk.out")
echo "sync=${SYNC:-default} hooks/s=$rps p99=$p99 non2xx=${non2xx:-0} serve_cpu_s=$(echo "($t1-$t0)/100" | bc -l | cut -c1-5) cpu_us_per_hook=$(echo "($t1-$t0)*10000/$reqs" | bc)"
