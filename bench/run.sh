#!/usr/bin/env bash
# tessera benchmark: tessera (release, one worker) pinned to core 0, wrk on core 1.
# Prints tokens/s, p50 and p99 for client_credentials and the JWKS endpoint next to
# `openssl speed rsa2048` measured on the same core in the same run.
#
#   bench/run.sh              # 10 s per scenario
#   DURATION=30 bench/run.sh
#
# Needs: wrk (apt install wrk), openssl, taskset (util-linux), python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
PORT="${PORT:-18080}"
for tool in wrk openssl taskset python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt install $tool)" >&2; exit 1; }
done

cargo build --release --quiet
BIN=target/release/tessera
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

export TESSERA_DATABASE_URL="$WORK/bench.db"
export TESSERA_LOG=warn
CREATED=$("$BIN" client create --name bench --scope "bench:read" --grant-types client_credentials)
BENCH_AUTH=$(printf '%s' "$CREATED" | python3 -c '
import base64, json, sys, urllib.parse as u
c = json.load(sys.stdin)
pair = u.quote(c["client_id"], safe="") + ":" + u.quote(c["client_secret"], safe="")
print(base64.b64encode(pair.encode()).decode())')
export BENCH_AUTH

taskset -c "$SERVER_CPU" "$BIN" serve --bind "127.0.0.1:$PORT" --workers 1 2>"$WORK/server.log" &
SERVER_PID=$!
URL="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do
  curl -fs "$URL/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "$URL/readyz" >/dev/null || { cat "$WORK/server.log" >&2; exit 1; }

echo "== openssl speed rsa2048 on core $SERVER_CPU ($DURATION s)" >&2
SIGN_RATE=$(taskset -c "$SERVER_CPU" openssl speed -seconds "$DURATION" rsa2048 2>/dev/null \
  | awk '/^rsa 2048 bits/ {print $(NF-1)}')

run() { # name lua connections [env...]
  local name=$1 lua=$2 conns=$3 path=$4
  echo "== $name: $conns connections, $DURATION s" >&2
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" -s "bench/$lua" "$URL$path" \
    | awk -v n="$name" -v c="$conns" '/^RESULT/ {sub(/^RESULT /, ""); print n, "conns=" c, $0}'
}

# Warm-up: page in the code, fill the client cache.
taskset -c "$LOAD_CPU" wrk -t1 -c4 -d2s -s bench/token.lua "$URL/oauth/token" >/dev/null

RESULTS=$(
  run token token.lua 32 /oauth/token
  run token token.lua 1 /oauth/token
  run jwks get.lua 32 /.well-known/jwks.json
  ETAG=$(curl -fsI "$URL/.well-known/jwks.json" | awk 'tolower($1)=="etag:" {sub(/\r$/, "", $2); print $2}')
  BENCH_INM="$ETAG" run jwks-304 get.lua 32 /.well-known/jwks.json
)

echo
echo "openssl speed rsa2048 (core $SERVER_CPU): $SIGN_RATE sign/s"
echo "$RESULTS"
printf '%s\n' "$RESULTS" | SIGN_RATE="$SIGN_RATE" python3 bench/summary.py
