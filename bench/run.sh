#!/usr/bin/env bash
# tessera benchmark: tessera (release, one worker) pinned to core 0, wrk on core 1.
# Prints throughput, p50 and p99 for client_credentials (client_secret_basic, then
# private_key_jwt with RS256 assertions, then DPoP-bound), refresh_token (each token used
# once, chains rotating), the JWKS (200 and 304), ES256 tokens and client_credentials
# during a password-login flood and during a flood of first logins of users imported from
# Django (PBKDF2, 1,000,000 rounds as Django 5.2 makes them), client_credentials with
# OpenTelemetry traces exported to a local receiver, next to `openssl speed rsa2048` measured on the same
# core in the same run. Assertions and DPoP proofs are single-use: they are signed
# before their scenario by examples/bench_jwt.rs (on every core) and replayed once each.
#
#   bench/run.sh                          # SQLite, 10 s per scenario
#   DURATION=30 bench/run.sh
#   SCENARIOS="token refresh" bench/run.sh  # a subset: token token-pkjwt token-dpop
#                          # token-es256 jwks jwks-304 refresh many-params password-flood
#                          # token-during-flood django-first-login django-second-login
#                          # token-during-django-flood token-federated token-exchange
#                          # token-traced (spans exported to bench/otlp_sink.py)
#                          # console-clients (GET /console/clients, 10,000 clients,
#                          # signed in as an operator; console-clients-search: a search)
#   BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432/postgres bench/run.sh
#       # PostgreSQL: a fresh database is created through that URL and dropped after;
#       # URL parameters (e.g. ?sslmode=disable) are passed on to tessera
#
# Needs: wrk (apt install wrk), openssl, taskset (util-linux), curl, python3.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION="${DURATION:-10}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
PORT="${PORT:-18080}"
for tool in wrk openssl taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (apt install $tool)" >&2; exit 1; }
done

cargo build --release --quiet --bin tessera --example bench_jwt
BIN=${TESSERA_BIN:-target/release/tessera}   # TESSERA_BIN: another build, for A/B runs
# This script's variable, no tessera setting: tessera refuses TESSERA_* names close to
# its own (TESSERA_BIN is one edit from TESSERA_BIND), so the servers must not inherit it.
unset TESSERA_BIN
SIGNER=target/release/examples/bench_jwt
WORK=$(mktemp -d)
SERVER_PID=""
PG_DB=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  [ -n "$PG_DB" ] && psql "$BENCH_POSTGRES" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -n "${BENCH_POSTGRES:-}" ]; then
  PG_DB="tessera_bench_$$"
  psql "$BENCH_POSTGRES" -qc "CREATE DATABASE $PG_DB" >/dev/null
  PG_BASE="${BENCH_POSTGRES%%\?*}"
  PG_QUERY=""
  case "$BENCH_POSTGRES" in *\?*) PG_QUERY="?${BENCH_POSTGRES#*\?}" ;; esac
  export TESSERA_DATABASE_URL="${PG_BASE%/*}/$PG_DB$PG_QUERY"
  # Keep PostgreSQL off tessera's core (needs the right to re-pin its processes).
  for pid in $(pgrep -f '^postgres|postgres:' || true); do
    taskset -a -p -c "$LOAD_CPU" "$pid" >/dev/null 2>&1 || true
  done
  echo "== PostgreSQL database $PG_DB" >&2
else
  export TESSERA_DATABASE_URL="$WORK/bench.db"
fi
export TESSERA_LOG=warn
basic_auth() { # client JSON on stdin -> base64 of id:secret
  python3 -c '
import base64, json, sys, urllib.parse as u
c = json.load(sys.stdin)
pair = u.quote(c["client_id"], safe="") + ":" + u.quote(c["client_secret"], safe="")
print(base64.b64encode(pair.encode()).decode())'
}
"$BIN" migrate >/dev/null 2>&1   # only serve and migrate create a database
CC_AUTH=$("$BIN" client create --name bench --scope "bench:read" | basic_auth)
"$SIGNER" keygen "$WORK/pk"
PK_CLIENT=$("$BIN" client create --name bench-pkjwt --scope "bench:read" \
  --auth-method private_key_jwt --jwks "$WORK/pk/jwks.json" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
APP_AUTH=$("$BIN" client create --name bench-app --scope profile \
  --grant-types password,refresh_token | basic_auth)
export BENCH_USER=bench BENCH_PASSWORD=bench-password-123
printf '%s\n' "$BENCH_PASSWORD" | "$BIN" user create --username "$BENCH_USER" >/dev/null

taskset -c "$SERVER_CPU" "$BIN" serve --bind "127.0.0.1:$PORT" --workers 1 ${SERVER_ARGS:-} 2>"$WORK/server.log" &
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

# Pre-signed requests per scenario: a token costs at least one signature, so 1.5 x the
# sign rate is more than a run can use.
LINES=$(python3 -c "print(int($DURATION * ${SIGN_RATE%.*} * 1.5) + 1000)")

want() { [ -z "${SCENARIOS:-}" ] || [[ " $SCENARIOS " == *" $1 "* ]]; }
# Users imported from Django, enough that the first-login run never reaches the end:
# one PBKDF2 hash (Django's format and cost) shared by all, so making them is quick.
export BENCH_DJANGO_PASSWORD=django-password-123
BENCH_DJANGO_USERS=$((DURATION * 20 + 100))
if want django-first-login || want django-second-login || want token-during-django-flood; then
  python3 - "$BENCH_DJANGO_USERS" "$BENCH_DJANGO_PASSWORD" >"$WORK/django-users.json" <<'PY'
import base64, hashlib, json, sys
n, password = int(sys.argv[1]), sys.argv[2]
salt, rounds = "bEnChSaLt1234567890abc", 1_000_000
digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), rounds)
encoded = f"pbkdf2_sha256${rounds}${salt}${base64.b64encode(digest).decode()}"
print(json.dumps([{"model": "auth.user", "pk": i, "fields": {
    "username": f"dj{i}", "password": encoded, "is_active": True}} for i in range(1, n + 1)]))
PY
  "$BIN" user import --django "$WORK/django-users.json" >/dev/null
fi

# DPoP proofs cost the server a signature verification: P-256 (ES256) in the bench.
VERIFY_RATE=""
if want token-dpop; then
  echo "== openssl speed ecdsap256 on core $SERVER_CPU (3 s)" >&2
  VERIFY_RATE=$(taskset -c "$SERVER_CPU" openssl speed -seconds 3 ecdsap256 2>/dev/null \
    | awk '/nistp256\)/ {print $NF}')
fi

# tessera's own CPU time (user + system), clock ticks, of process $1.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's CPU time (every postgres process), clock ticks; 0 on SQLite.
db_ticks() {
  [ -n "${BENCH_POSTGRES:-}" ] || { echo 0; return; }
  for p in $(pgrep -x postgres || true); do cpu_ticks "$p" 2>/dev/null || true; done \
    | awk '{s += $1} END {print s + 0}'
}
HZ=$(getconf CLK_TCK)

run() { # name script connections path  (CPU_PID: the server measured, default tessera)
  local name=$1 lua=$2 conns=$3 path=$4 pid=${CPU_PID:-$SERVER_PID} t0 d0 out
  want "$name" || return 0
  echo "== $name: $conns connections, $DURATION s" >&2
  t0=$(cpu_ticks "$pid")
  d0=$(db_ticks)
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --timeout "${WRK_TIMEOUT:-2s}" \
    -s "bench/$lua" "$URL$path")
  # CPU per request: independent of where wrk or PostgreSQL run, unlike throughput.
  printf '%s\n' "$out" | awk -v n="$name" -v c="$conns" -v t0="$t0" -v t1="$(cpu_ticks "$pid")" \
      -v d0="$d0" -v d1="$(db_ticks)" -v hz="$HZ" '
    /^RESULT/ {
      sub(/^RESULT /, "")
      for (i = 1; i <= NF; i++) if ($i ~ /^requests=/) { split($i, kv, "="); reqs = kv[2] }
      cpu = reqs > 0 ? (t1 - t0) * 1e6 / hz / reqs : 0
      db = reqs > 0 ? (d1 - d0) * 1e6 / hz / reqs : 0
      printf "%s conns=%s %s cpu_us=%.1f db_cpu_us=%.1f\n", n, c, $0, cpu, db
    }'
}

echo "== logging in 64 sessions for the refresh chains" >&2
for _ in $(seq 1 64); do
  curl -fs -H "Authorization: Basic $APP_AUTH" \
    -d "grant_type=password&username=$BENCH_USER&password=$BENCH_PASSWORD" "$URL/oauth/token" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["refresh_token"])'
done >"$WORK/tokens"
export BENCH_TOKENS="$WORK/tokens"

# Warm-up: page in the code, fill the client cache.
BENCH_AUTH=$CC_AUTH taskset -c "$LOAD_CPU" wrk -t1 -c4 -d2s -s bench/token.lua "$URL/oauth/token" >/dev/null

RESULTS=$(
  export BENCH_AUTH=$CC_AUTH
  run token token.lua 32 /oauth/token
  run token token.lua 1 /oauth/token
  if want token-pkjwt; then
    echo "== signing $LINES RS256 client assertions" >&2
    "$SIGNER" assertions "$WORK/pk" "$PK_CLIENT" "$URL" "$LINES" >"$WORK/assertions"
    BENCH_MODE=body BENCH_LINES="$WORK/assertions" run token-pkjwt lines.lua 32 /oauth/token
  fi
  if want token-dpop; then
    echo "== signing $LINES ES256 DPoP proofs" >&2
    "$SIGNER" dpop "$URL/oauth/token" "$LINES" >"$WORK/proofs"
    BENCH_MODE=dpop BENCH_LINES="$WORK/proofs" run token-dpop lines.lua 32 /oauth/token
  fi
  # A federated client: an RS256 platform token verified, an RS256 token signed.
  if want token-federated; then
    "$SIGNER" keygen "$WORK/platform"
    "$BIN" issuer add --name bench-k8s --issuer https://k8s.bench.invalid \
      --jwks "$WORK/platform/jwks.json" >/dev/null
    "$BIN" client create --name bench-federated --scope bench:read --auth-method federated \
      --issuer bench-k8s --subject system:serviceaccount:bench:svc >/dev/null
    PLATFORM=$("$SIGNER" platform "$WORK/platform" https://k8s.bench.invalid \
      system:serviceaccount:bench:svc "$URL")
    BENCH_AUTH="" BENCH_BODY="grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=$PLATFORM" \
      run token-federated body.lua 32 /oauth/token
  fi
  # Token exchange: a tessera RS256 token verified, a new one signed.
  if want token-exchange; then
    EXCHANGER=$("$BIN" client create --name bench-exchanger --scope bench:read \
      --grant-types token-exchange --audience https://next.bench.invalid)
    EX_ID=$(printf '%s' "$EXCHANGER" | python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
    SUBJECT_AUTH=$("$BIN" client create --name bench-subject --scope bench:read \
      --audience "$EX_ID" --access-token-ttl 3600 | basic_auth)
    SUBJECT=$(curl -fs -H "Authorization: Basic $SUBJECT_AUTH" -d grant_type=client_credentials "$URL/oauth/token" \
      | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
    BENCH_AUTH=$(printf '%s' "$EXCHANGER" | basic_auth) \
      BENCH_BODY="grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&subject_token=$SUBJECT" \
      run token-exchange body.lua 32 /oauth/token
  fi
  BENCH_AUTH=$APP_AUTH run refresh refresh.lua 32 /oauth/token
  # 10,000 form parameters per request (refused): the server's time for such a body.
  run many-params params.lua 1 /oauth/token
  run jwks get.lua 32 /.well-known/jwks.json
  ETAG=$(curl -fsI "$URL/.well-known/jwks.json" | awk 'tolower($1)=="etag:" {sub(/\r$/, "", $2); print $2}')
  BENCH_INM="$ETAG" run jwks-304 get.lua 32 /.well-known/jwks.json
  # ES256 tokens from a second server on the same core (same run), when asked for.
  if want token-es256; then
    ES_DB="$WORK/es256.db"
    TESSERA_DATABASE_URL="$ES_DB" "$BIN" migrate >/dev/null 2>&1
    ES_AUTH=$(TESSERA_DATABASE_URL="$ES_DB" "$BIN" client create --name bench | basic_auth)
    TESSERA_DATABASE_URL="$ES_DB" taskset -c "$SERVER_CPU" "$BIN" serve --bind "127.0.0.1:$((PORT + 1))" \
      --workers 1 --signing-alg ES256 2>>"$WORK/server.log" &
    ES_PID=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$((PORT + 1))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    (URL="http://127.0.0.1:$((PORT + 1))"; CPU_PID=$ES_PID BENCH_AUTH=$ES_AUTH run token-es256 token.lua 32 /oauth/token)
    kill "$ES_PID"
  fi
  # client_credentials with tracing on: a second server on the same core and database
  # exports every request's spans to a local OTLP/HTTP receiver (on the load core).
  if want token-traced; then
    SINK_PORT=$((PORT + 3))
    taskset -c "$LOAD_CPU" python3 bench/otlp_sink.py "$SINK_PORT" 2>>"$WORK/sink.log" &
    SINK_PID=$!
    taskset -c "$SERVER_CPU" "$BIN" serve --bind "127.0.0.1:$((PORT + 2))" --workers 1 \
      --otlp-endpoint "http://127.0.0.1:$SINK_PORT" --otlp-batch-delay-ms 1000 2>>"$WORK/server.log" &
    TRACED_PID=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$((PORT + 2))/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
    (URL="http://127.0.0.1:$((PORT + 2))"
     taskset -c "$LOAD_CPU" wrk -t1 -c4 -d2s -s bench/token.lua "$URL/oauth/token" >/dev/null
     CPU_PID=$TRACED_PID run token-traced token.lua 32 /oauth/token)
    kill "$TRACED_PID"; wait "$TRACED_PID" 2>/dev/null || true
    kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
    cat "$WORK/sink.log" >&2
  fi
  # The console's clients inventory with 10,000 clients (seeded by SQL), as a
  # signed-in operator sees it: the first page, and a search sorted by last use.
  if want console-clients || want console-clients-search; then
    NOW=$(date +%s)
    SEED="WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < 10000)
      INSERT INTO clients (client_id, name, secret_hash, auth_method, scope, grant_types,
        audiences, disabled, created_at, updated_at)
      SELECT 'bench-seed-' || i, CASE WHEN i % 10 = 0 THEN 'billing ' ELSE 'service ' END || i,
        'x', 'client_secret_basic', 'read', 'client_credentials', '', (i % 7 = 0),
        $NOW - i, $NOW - i FROM seq"
    if [ -n "${BENCH_POSTGRES:-}" ]; then
      psql "$TESSERA_DATABASE_URL" -qc "$SEED" >/dev/null
    else
      python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' \
        "$TESSERA_DATABASE_URL" "$SEED"
    fi
    printf '%s\n' "bench-operator-password" | "$BIN" operator add --username bench-operator >/dev/null
    CONSOLE_COOKIE=$(curl -fs -o /dev/null -D - -H "Origin: $URL" \
      --data-urlencode username=bench-operator --data-urlencode password=bench-operator-password \
      --data-urlencode next=/console/ "$URL/console/signin" \
      | awk 'tolower($1)=="set-cookie:" {split($2, c, ";"); print c[1]}' | grep console | head -1)
    [ -n "$CONSOLE_COOKIE" ] || { echo "bench: console sign-in failed" >&2; exit 1; }
    BENCH_COOKIE=$CONSOLE_COOKIE run console-clients get.lua 4 /console/clients
    BENCH_COOKIE=$CONSOLE_COOKIE run console-clients-search get.lua 4 \
      "/console/clients?q=billing&sort=last_used&dir=desc&page=3"
  fi
  # A login flood and machine tokens at the same time.
  if want password-flood; then
    BENCH_AUTH=$APP_AUTH run password-flood password.lua 8 /oauth/token >"$WORK/flood" &
    FLOOD=$!
    sleep 1
    run token-during-flood token.lua 32 /oauth/token
    wait "$FLOOD"
    cat "$WORK/flood"
  fi
  # First logins of imported users (PBKDF2 + the argon2id rehash) with machine tokens
  # beside them, then logins of the users that first run moved to argon2id.
  if want django-first-login; then
    # Queued behind half-second checks: give them time rather than count timeouts.
    BENCH_AUTH=$APP_AUTH BENCH_DJANGO_USERS=$BENCH_DJANGO_USERS WRK_TIMEOUT=30s \
      run django-first-login django.lua 8 /oauth/token >"$WORK/django-flood" &
    FLOOD=$!
    sleep 1
    run token-during-django-flood token.lua 32 /oauth/token
    wait "$FLOOD"
    cat "$WORK/django-flood"
    MOVED=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' "$WORK/django-flood")
    if want django-second-login && [ "${MOVED:-0}" -gt 0 ]; then
      BENCH_AUTH=$APP_AUTH BENCH_DJANGO_USERS=$MOVED run django-second-login django.lua 8 /oauth/token
    fi
  fi
)

echo
echo "openssl speed rsa2048 (core $SERVER_CPU): $SIGN_RATE sign/s"
[ -n "$VERIFY_RATE" ] && echo "openssl speed ecdsap256 (core $SERVER_CPU): $VERIFY_RATE verify/s"
echo "$RESULTS"
printf '%s\n' "$RESULTS" | SIGN_RATE="$SIGN_RATE" VERIFY_RATE="$VERIFY_RATE" python3 bench/summary.py
