#!/usr/bin/env bash
# bench/work/run.sh — the job queue side by side on one PostgreSQL: `pgkeel work bench` against
# graphile-worker (newest release, and the last 0.16.x) and procrastinate. Per round, each queue
# drains JOBS no-op jobs in a fresh database, then runs the pickup-latency scenario (RATE jobs/s
# enqueued one at a time for SECS seconds) in another fresh database. See bench/work/README.md.
#
# Knobs (environment): JOBS=20000 WORKERS=4 ROUNDS=3 RATE=100 SECS=20
# QUEUES="pgkeel graphile graphile016 procrastinate" (which queues, in round-1 order; the order
# rotates between rounds), SCENARIOS="drain rate", GW_CONCURRENCY=24 GW_LOCAL_QUEUE=500
# GW_BATCH_DELAY=0 GW_PROCESSES=2, PR_CONCURRENCY=30 PR_PROCESSES=2, RUN_TIMEOUT=900 (s, per run),
# PGKEEL_BIN (default: target/release/pgkeel, built when missing or older than the sources), OUT.
set -euo pipefail

JOBS=${JOBS:-20000}
WORKERS=${WORKERS:-4}
ROUNDS=${ROUNDS:-3}
RATE=${RATE:-100}
SECS=${SECS:-20}
QUEUES=${QUEUES:-"pgkeel graphile graphile016 procrastinate"}
SCENARIOS=${SCENARIOS:-"drain rate"}
GW_CONCURRENCY=${GW_CONCURRENCY:-24}
GW_LOCAL_QUEUE=${GW_LOCAL_QUEUE:-500}
GW_BATCH_DELAY=${GW_BATCH_DELAY:-0}
GW_PROCESSES=${GW_PROCESSES:-2}
PR_CONCURRENCY=${PR_CONCURRENCY:-30}
PR_PROCESSES=${PR_PROCESSES:-2}
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NODE_DIR="$HERE/node"
VENV=${VENV:-"$HERE/.venv"}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-"$ROOT/bench/results/work-$STAMP"}
COMMAND="JOBS=$JOBS WORKERS=$WORKERS ROUNDS=$ROUNDS RATE=$RATE SECS=$SECS bench/work/run.sh"
[[ $QUEUES == "pgkeel graphile graphile016 procrastinate" ]] || COMMAND="QUEUES=\"$QUEUES\" $COMMAND"
[[ $SCENARIOS == "drain rate" ]] || COMMAND="SCENARIOS=\"$SCENARIOS\" $COMMAND"

. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------- what we need
cd "$ROOT"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
command -v psql >/dev/null || PATH="$PG_BIN:$PATH"
command -v psql >/dev/null || die "psql not found (apt-get install postgresql-client)"
command -v node >/dev/null || die "node not found (graphile-worker needs Node.js 20+)"
command -v npm >/dev/null || die "npm not found"

if [[ -z ${PGKEEL_BIN:-} ]]; then
    PGKEEL_BIN="$ROOT/target/release/pgkeel"
    if [[ ! -x $PGKEEL_BIN ]] || [[ -n $(find crates Cargo.toml Cargo.lock -newer "$PGKEEL_BIN" -print -quit 2>/dev/null) ]]; then
        log "building pgkeel (release)"
        cargo build --release -p pgkeel
    fi
fi
[[ -x $PGKEEL_BIN ]] || die "PGKEEL_BIN=$PGKEEL_BIN is not an executable"
HAVE_WORK_BENCH=0
if "$PGKEEL_BIN" work bench --help >/dev/null 2>&1; then
    HAVE_WORK_BENCH=1
elif [[ " $QUEUES " == *" pgkeel "* ]]; then
    log "NOTE: $PGKEEL_BIN has no 'work bench' subcommand yet: pgkeel is SKIPPED, only the peers run"
fi

# graphile-worker: npm ci from the committed lock file into bench/work/node/node_modules.
if [[ ! -f $NODE_DIR/node_modules/.package-lock.json ]] || [[ $NODE_DIR/package-lock.json -nt $NODE_DIR/node_modules/.package-lock.json ]]; then
    log "installing graphile-worker into $NODE_DIR (npm ci)"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
# procrastinate: a venv of its own (bench/work/.venv), pinned by requirements.txt.
REQS="$HERE/procrastinate/requirements.txt"
if [[ ! -x $VENV/bin/python ]] || ! cmp -s "$REQS" "$VENV/.bench-work-requirements.txt"; then
    log "installing procrastinate into $VENV (pip)"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQS" >&2
    cp "$REQS" "$VENV/.bench-work-requirements.txt"
fi
mkdir -p "$OUT/logs"

# ---------------------------------------------------------------- the server
"$PGKEEL_BIN" postgres --no-fsync --set max_connections=300 \
    >"$OUT/postgres.out" 2>"$OUT/postgres.err" &
PIDS+=($!)
URL=
for ((n = 0; n < 300; n++)); do
    URL=$(sed -n 's/^DATABASE_URL=//p' "$OUT/postgres.out" 2>/dev/null || true)
    [[ -n $URL ]] && break
    sleep 0.1
done
[[ -n $URL ]] || die "pgkeel postgres did not start (see $OUT/postgres.err)"
BASE_URL=${URL%/*}   # postgres://user@host:port
sql() { PGOPTIONS='-c client_min_messages=warning' psql "$URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

gw_version() { node -p "JSON.parse(require('fs').readFileSync('$NODE_DIR/node_modules/$1/package.json')).version"; }
{
    echo "command: $COMMAND"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree differs)')"
    echo "nproc: $(nproc), cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1), memory: $(free -g | awk '/^Mem:/{print $2}') GiB, kernel: $(uname -r)"
    echo "postgres: $(sql 'SHOW server_version') (pgkeel postgres --no-fsync)"
    echo "pgkeel: $("$PGKEEL_BIN" --version 2>/dev/null || echo '?') ($PGKEEL_BIN)$([[ $HAVE_WORK_BENCH == 1 ]] || echo ' — no work bench subcommand: skipped')"
    echo "node: $(node --version); graphile-worker $(gw_version graphile-worker-latest) (graphile) and $(gw_version graphile-worker) (graphile016)"
    echo "python: $("$VENV/bin/python" --version 2>&1 | cut -d' ' -f2); $("$VENV/bin/pip" freeze 2>/dev/null | grep -iE '^(procrastinate|psycopg|psycopg-binary|psycopg-pool)==' | tr '\n' ' ')"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/machine.txt" >&2
ps -eo pid,pcpu,etime,args --sort=-pcpu | head -n 15 >"$OUT/ps-before.txt"

watch_compilers

# ---------------------------------------------------------------- one run
machine_cpu() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat; }

# cmd_for QUEUE SCENARIO DBURL: the command line of one run.
cmd_for() {
    local queue=$1 scenario=$2 db=$3 mode=(--jobs "$JOBS")
    [[ $scenario == rate ]] && mode=(--rate "$RATE" --seconds "$SECS")
    case $queue in
    pgkeel) CMD=("$PGKEEL_BIN" work bench --database-url "$db" "${mode[@]}" --workers "$WORKERS" --json) ;;
    graphile | graphile016)
        CMD=(node "$HERE/graphile/drain.mjs" --database-url "$db" "${mode[@]}" --workers "$WORKERS"
            --concurrency "$GW_CONCURRENCY" --processes "$GW_PROCESSES" --json)
        if [[ $queue == graphile ]]; then # newest release: also the 0.17+ batching options
            CMD+=(--lib graphile-worker-latest --local-queue "$GW_LOCAL_QUEUE" --batch-delay "$GW_BATCH_DELAY")
        else
            CMD+=(--lib graphile-worker)
        fi ;;
    procrastinate)
        CMD=("$VENV/bin/python" -W ignore "$HERE/procrastinate/drain.py" --database-url "$db" "${mode[@]}"
            --workers "$WORKERS" --concurrency "$PR_CONCURRENCY" --processes "$PR_PROCESSES" --json) ;;
    *) die "unknown queue '$queue' in QUEUES (pgkeel graphile graphile016 procrastinate)" ;;
    esac
}

# run_one ROUND POS QUEUE SCENARIO: fresh database, one run, one line appended to runs.jsonl.
run_one() {
    local round=$1 pos=$2 queue=$3 scenario=$4 db m0 m1 t0 t1 rc=0 line
    db="r${round}_${queue}"
    [[ $scenario == rate ]] && db="${db}_rate"
    sql "DROP DATABASE IF EXISTS $db" && sql "CREATE DATABASE $db"
    cmd_for "$queue" "$scenario" "$BASE_URL/$db"
    printf '%s\n' "${CMD[*]}" >"$OUT/logs/r$round-$queue-$scenario.cmd"
    read -ra m0 <<<"$(machine_cpu)"; t0=$(date +%s.%N)
    timeout -k 10 "$RUN_TIMEOUT" "${CMD[@]}" >"$OUT/logs/r$round-$queue-$scenario.out" \
        2>"$OUT/logs/r$round-$queue-$scenario.err" || rc=$?
    read -ra m1 <<<"$(machine_cpu)"; t1=$(date +%s.%N)
    line=$(grep -m1 '^{' "$OUT/logs/r$round-$queue-$scenario.out" || true)
    python3 - "$OUT/runs.jsonl" "$round" "$pos" "$queue" "$scenario" "$rc" \
        "$((m1[0] - m0[0]))" "$((m1[1] - m0[1]))" "$t0" "$t1" "$line" <<'PY'
import json, sys
path, rnd, pos, queue, scenario, rc, busy, total, t0, t1, line = sys.argv[1:]
try:
    result = json.loads(line) if line else None
except ValueError:
    result = None
rec = {"round": int(rnd), "pos": int(pos), "queue": queue, "scenario": scenario, "exit": int(rc),
       "wall_s": round(float(t1) - float(t0), 3),
       "machine_busy": round(int(busy) / int(total), 3) if int(total) else None, "result": result}
open(path, "a").write(json.dumps(rec) + "\n")
if result:
    d = result
    print(f"[{__import__('time').strftime('%H:%M:%S')}]   {queue} {scenario}: {d.get('jobs_per_s')} jobs/s, "
          f"{d.get('seconds')} s, pickup p50 {d.get('pickup_p50_ms')} ms p99 {d.get('pickup_p99_ms')} ms, "
          f"run more than once {d.get('executed_more_than_once')}" + ("" if rc == "0" else f" (exit {rc})"),
          file=sys.stderr)
PY
    [[ -n $line ]] || log "  $queue $scenario: FAILED (exit $rc, no JSON line; see $OUT/logs/r$round-$queue-$scenario.err)"
    sql "DROP DATABASE IF EXISTS $db WITH (FORCE)" || true
}

# ---------------------------------------------------------------- the rounds
read -ra ORDER <<<"$QUEUES"
ACTIVE=()
for q in "${ORDER[@]}"; do
    [[ $q == pgkeel && $HAVE_WORK_BENCH == 0 ]] && continue
    ACTIVE+=("$q")
done
((${#ACTIVE[@]})) || die "nothing to run (QUEUES=$QUEUES)"
: >"$OUT/runs.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    for scenario in $SCENARIOS; do
        if [[ $scenario == drain ]]; then
            log "round $r/$ROUNDS: drain $JOBS jobs"
        else
            log "round $r/$ROUNDS: pickup latency at $RATE jobs/s for ${SECS}s"
        fi
        n=${#ACTIVE[@]}
        for ((i = 0; i < n; i++)); do
            q=${ACTIVE[$(((i + r - 1) % n))]}
            run_one "$r" "$i" "$q" "$scenario"
        done
    done
done
ps -eo pid,pcpu,etime,args --sort=-pcpu | head -n 15 >"$OUT/ps-after.txt"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/machine.txt"

# ---------------------------------------------------------------- report
JOBS=$JOBS RATE=$RATE SECS=$SECS PGKEEL_VERSION="$("$PGKEEL_BIN" --version 2>/dev/null | cut -d' ' -f2)" \
    python3 "$HERE/report.py" "$OUT" "$COMMAND" "$HAVE_WORK_BENCH" | tee "$OUT/report.md"
log "done; results in $OUT"
