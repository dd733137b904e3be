#!/usr/bin/env bash
# Instructions per client_credentials token, counted by valgrind's callgrind: unlike
# time, the count repeats for the same binary whatever else the machine is doing, so
# two builds compare exactly (an A/B of a refactoring, say).
#
#   bench/instructions.sh                      # this checkout's release build
#   bench/instructions.sh OTHER/tessera        # and another build, side by side
#
# Needs: valgrind (callgrind_control, callgrind_annotate), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${REQUESTS:-500}"
PORT="${PORT:-18777}"
for tool in valgrind callgrind_control callgrind_annotate curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
cargo build --release --quiet --bin tessera

count() { # binary -> instructions per token
  local bin=$1 work pid
  work=$(mktemp -d)
  export TESSERA_DATABASE_URL="$work/t.db" TESSERA_LOG=warn
  "$bin" migrate >/dev/null 2>&1
  "$bin" client create --name cg --scope a >"$work/client.json" 2>/dev/null
  # The first start generates the signing key at native speed.
  "$bin" serve --bind "127.0.0.1:$PORT" --workers 1 2>/dev/null & pid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
    "$bin" serve --bind "127.0.0.1:$PORT" --workers 1 2>"$work/vg.log" & pid=$!
  for _ in $(seq 1 600); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  # Warm up, zero the counters, run the measured requests, dump.
  PORT=$PORT REQUESTS=$REQUESTS CLIENT="$work/client.json" python3 - <<'PY'
import base64, http.client, json, os, subprocess
c = json.load(open(os.environ["CLIENT"]))
auth = base64.b64encode(f'{c["client_id"]}:{c["client_secret"]}'.encode()).decode()
conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["PORT"]))
def go(n):
    for _ in range(n):
        conn.request("POST", "/oauth/token", body="grant_type=client_credentials",
                     headers={"Authorization": "Basic " + auth,
                              "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse(); r.read(); assert r.status == 200, r.status
go(100)
subprocess.run(["callgrind_control", "-z"], capture_output=True, check=True)
go(int(os.environ["REQUESTS"]))
subprocess.run(["callgrind_control", "-d"], capture_output=True, check=True)
PY
  kill "$pid"; wait "$pid" 2>/dev/null || true
  callgrind_annotate "$work/cg.out.1" 2>/dev/null | awk -v n="$REQUESTS" \
    '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f\n", $1 / n}'
  rm -rf "$work"
}

for bin in target/release/tessera "$@"; do
  echo "$bin: $(count "$bin") instructions per client_credentials token ($REQUESTS requests)"
done
