#!/usr/bin/env bash
# bench/recovery/run.sh — how soon pgkeel is ready and serving again after PostgreSQL restarts,
# side by side with a plain deadpool pool and naive retry loops; plus NOTIFY → handler latency.
# See bench/recovery/README.md.
#
# Knobs (environment): OUTAGES=100 SEED=<random, printed> NOTIFIES=2000 DOWN_MIN_MS=200
# DOWN_MAX_MS=1500 PAUSE_MS=1 SERVE_POLL_MS=2 COLD_RESTARTS=10, PGKEEL_BIN (default: cargo build
# --release -p pgkeel), OUT (default bench/results/recovery-<UTC stamp>), SKIP_BUILD=0,
# ALLOW_BUSY=0 (1: run even if a compiler is running).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export OUTAGES=${OUTAGES:-100}
export SEED=${SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
export NOTIFIES=${NOTIFIES:-2000}
export DOWN_MIN_MS=${DOWN_MIN_MS:-200}
export DOWN_MAX_MS=${DOWN_MAX_MS:-1500}
export PAUSE_MS=${PAUSE_MS:-1}
export SERVE_POLL_MS=${SERVE_POLL_MS:-2}
export COLD_RESTARTS=${COLD_RESTARTS:-10}
export OUT=${OUT:-"$ROOT/bench/results/recovery-$STAMP"}
SKIP_BUILD=${SKIP_BUILD:-0}
ALLOW_BUSY=${ALLOW_BUSY:-0}
COMMAND="OUTAGES=$OUTAGES SEED=$SEED NOTIFIES=$NOTIFIES bench/recovery/run.sh"

. "$ROOT/bench/lib.sh"


# ---------------------------------------------------------------- build
cd "$ROOT"
if [[ $SKIP_BUILD != 1 ]]; then
    # Two invocations on purpose: built together, the harness's dependencies would unify
    # features into a different pgkeel binary than `cargo build --release -p pgkeel` gives.
    [[ -n ${PGKEEL_BIN:-} ]] || { log "building pgkeel (release)"; cargo build --release -p pgkeel; }
    log "building the recovery_bench harness (bench/recovery/harness, release)"
    cargo build --release -p pgkeel-recovery-bench
fi
export PGKEEL_BIN=${PGKEEL_BIN:-"$ROOT/target/release/pgkeel"}
BENCH="$ROOT/target/release/recovery_bench"
[[ -x $PGKEEL_BIN ]] || die "no pgkeel binary at $PGKEEL_BIN"
[[ -x $BENCH ]] || die "no benchmark binary at $BENCH (run without SKIP_BUILD=1)"

# ---------------------------------------------------------------- quiet machine?
busy=$(ps -eo pid=,comm= | grep -E "$COMPILERS" || true)
if [[ -n $busy ]]; then
    [[ $ALLOW_BUSY == 1 ]] || die "a compiler is running (set ALLOW_BUSY=1 to measure anyway):
$busy"
    log "warning: a compiler is running; the numbers will be noisy"
fi

mkdir -p "$OUT"
{
    echo "command: $COMMAND"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree differs)')"
    echo "nproc: $(nproc)"
    echo "cpu: $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
    echo "kernel: $(uname -r)"
    echo "postgres: $(postgres --version 2>/dev/null || echo '?')"
    echo "rustc: $(rustc --version 2>/dev/null || echo '?')"
    echo "pgkeel: $PGKEEL_BIN"
} >"$OUT/machine.txt"
cat "$OUT/machine.txt" >&2

watch_compilers

# ---------------------------------------------------------------- run
log "running: $COMMAND (results in $OUT)"
started=$(date +%s)
"$BENCH" --pgkeel-bin "$PGKEEL_BIN" --out "$OUT" > >(tee "$OUT/stdout.txt") 2> >(tee "$OUT/progress.log" >&2)
log "done in $(($(date +%s) - started)) s"
if [[ -s $OUT/interference.log ]]; then
    log "warning: a compiler ran during the measurement, see $OUT/interference.log"
fi
