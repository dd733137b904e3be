#!/usr/bin/env bash
# Builds every fuzz target and runs each for SECONDS (default 60) over a copy of its
# seed corpus (fuzz/corpus/<target>/ stays as committed), then prints per target the
# executions per second, the corpus size and the result. On a crash it prints the
# input's path (fuzz/artifacts/<target>/crash-…) and the command that reproduces it,
# and exits non-zero.
#
#   fuzz/run.sh [SECONDS] [TARGET…]
#
# FUZZ_JOBS (default: the number of CPUs) targets run side by side; FUZZ_NICE (default
# 10) is their niceness. FUZZ_BUDGET (seconds, optional) bounds the whole run, build
# included: each target then gets SECONDS or its share of what the build left,
# whichever is less (CI sets it). Needs the nightly toolchain and cargo-fuzz
# (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-60}"
shift || true
jobs="${FUZZ_JOBS:-$(nproc)}"
niceness="${FUZZ_NICE:-10}"
# -O with debug assertions: fast runs, overflow checks still on. No sanitizer: the
# crate forbids unsafe code, and a panic or a failed assertion is what is looked for.
build_flags=(-O --debug-assertions --sanitizer none)

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

start=$(date +%s)
echo "==> building ${#targets[@]} fuzz targets"
one=()
[ ${#targets[@]} -eq 1 ] && one=("${targets[0]}")
nice -n "$niceness" cargo +nightly fuzz build "${build_flags[@]}" "${one[@]}" >&2
built=$(( $(date +%s) - start ))
echo "    built in ${built} s"
if [ -n "${FUZZ_BUDGET:-}" ]; then
  rounds=$(( (${#targets[@]} + jobs - 1) / jobs ))
  # 15 s for loading the corpora and the summary.
  share=$(( (FUZZ_BUDGET - built - 15) / rounds ))
  [ "$share" -lt "$seconds" ] && seconds="$share"
  [ "$seconds" -ge 5 ] || seconds=5
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tessera-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
triple="$(rustc +nightly -vV | sed -n 's/^host: //p')"

run_one() {
  local t="$1" corpus="$work/corpus/$1" log="$work/$1.log"
  mkdir -p "$corpus" "artifacts/$t"
  cp -r "corpus/$t/." "$corpus/" 2>/dev/null || true
  # The binary is run directly (the build is done): -max_total_time bounds the run,
  # -timeout a single input, -rss_limit_mb the memory one input may take.
  set +e
  nice -n "$niceness" "target/$triple/release/$t" "$corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  echo $? >"$work/$t.rc"
  set -e
}

echo "==> running each target for ${seconds} s, ${jobs} at a time"
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
printf '\n%-16s %10s %8s  %s\n' target "execs/s" corpus result
for t in "${targets[@]}"; do
  log="$work/$t.log"
  rc="$(cat "$work/$t.rc")"
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  size=$(find "$work/corpus/$t" -type f | wc -l)
  if [ "$rc" -eq 0 ]; then
    printf '%-16s %10s %8s  ok (%s runs)\n' "$t" "${speed:-?}" "$size" "${runs:-?}"
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    printf '%-16s %10s %8s  FAILED (exit %s)\n' "$t" "${speed:-?}" "$size" "$rc"
    echo "---- $t: the end of its log ----"
    grep -v '^#[0-9]' "$log" | tail -n 40
    if [ -n "$artifact" ]; then
      echo "---- crash input: fuzz/$artifact"
      echo "---- reproduce:   cd fuzz && cargo +nightly fuzz run ${build_flags[*]} $t $artifact"
    fi
  fi
done
echo "==> fuzz step took $(( $(date +%s) - start )) s"
exit "$failed"
