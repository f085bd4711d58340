#!/usr/bin/env bash
# bench/stream/run.sh — the change stream against pg_recvlogical + wal2json on one PostgreSQL,
# same WAL for everyone: end-to-end rows/s from a backlog to a file, the raw pgoutput receive
# rate (pg_recvlogical, pgoutput, to /dev/null) as the ceiling, and pgkeel's commit-to-sink lag
# at a steady write rate. See bench/stream/README.md.
#
# Knobs (environment): ROWS=500000 TXN_ROWS=100 ROUNDS=3 LAG_RATE=500 LAG_TXN_ROWS=10
# LAG_SECS=30, PGKEEL_BIN (default: cargo build --release -p pgkeel), OUT.
set -euo pipefail

ROWS=${ROWS:-500000}
TXN_ROWS=${TXN_ROWS:-100}
ROUNDS=${ROUNDS:-3}
LAG_RATE=${LAG_RATE:-500}
LAG_TXN_ROWS=${LAG_TXN_ROWS:-10}
LAG_SECS=${LAG_SECS:-30}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-"$ROOT/bench/results/stream-$STAMP"}
COMMAND="ROWS=$ROWS TXN_ROWS=$TXN_ROWS ROUNDS=$ROUNDS LAG_RATE=$LAG_RATE LAG_TXN_ROWS=$LAG_TXN_ROWS LAG_SECS=$LAG_SECS bench/stream/run.sh"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------- what we need
cd "$ROOT"
if [[ ! -f $PG_BIN/../lib/wal2json.so ]]; then
    log "installing postgresql-$(basename "$(dirname "$PG_BIN")")-wal2json"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q "postgresql-$(basename "$(dirname "$PG_BIN")")-wal2json" >/dev/null
fi
command -v pgbench >/dev/null || PATH="$PG_BIN:$PATH"
command -v pgbench >/dev/null || die "pgbench not found (apt-get install postgresql-contrib)"
if [[ -z ${PGKEEL_BIN:-} ]]; then
    log "building pgkeel (release)"
    cargo build --release -p pgkeel
    PGKEEL_BIN="$ROOT/target/release/pgkeel"
fi
log "building the raw_receive example (release)"
cargo build --release -p pgkeel-stream --example raw_receive
RAW_BIN="$ROOT/target/release/examples/raw_receive"
mkdir -p "$OUT"

# ---------------------------------------------------------------- the server
"$PGKEEL_BIN" postgres --no-fsync --set max_replication_slots=20 --set max_wal_senders=20 \
    >"$OUT/postgres.out" 2>"$OUT/postgres.err" &
PIDS+=($!)
for ((n = 0; n < 300; n++)); do
    URL=$(sed -n 's/^DATABASE_URL=//p' "$OUT/postgres.out" 2>/dev/null || true)
    [[ -n $URL ]] && break
    sleep 0.1
done
[[ -n $URL ]] || die "pgkeel postgres did not start (see $OUT/postgres.err)"
sql() { psql "$URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
{
    echo "command: $COMMAND"
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo ' (working tree differs)')"
    echo "nproc: $(nproc), cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "postgres: $(sql 'SHOW server_version')"
    echo "wal2json: $(dpkg-query -W -f '${Version}' "postgresql-$(basename "$(dirname "$PG_BIN")")-wal2json" 2>/dev/null || echo '?')"
} | tee "$OUT/machine.txt" >&2

sql "CREATE TABLE bench_rows (id bigserial PRIMARY KEY, account int NOT NULL, note text, amount numeric(12,2), created_at timestamptz NOT NULL DEFAULT now())"
sql "CREATE PUBLICATION bench FOR TABLE bench_rows"
for ((r = 1; r <= ROUNDS; r++)); do
    sql "SELECT pg_create_logical_replication_slot('pk_$r', 'pgoutput')" >/dev/null
    sql "SELECT pg_create_logical_replication_slot('w2j_$r', 'wal2json')" >/dev/null
    sql "SELECT pg_create_logical_replication_slot('raw_$r', 'pgoutput')" >/dev/null
    sql "SELECT pg_create_logical_replication_slot('rawc_$r', 'pgoutput')" >/dev/null
done

# ---------------------------------------------------------------- the backlog: same WAL for all
log "writing $ROWS rows in transactions of $TXN_ROWS"
sql "DO \$\$ BEGIN FOR t IN 1..$((ROWS / TXN_ROWS)) LOOP
       INSERT INTO bench_rows (account, note, amount)
       SELECT g, md5(g::text), g * 1.25 FROM generate_series(1, $TXN_ROWS) g;
       COMMIT;
     END LOOP; END \$\$"
END=$(sql "SELECT pg_current_wal_lsn()")
WAL=$(sql "SELECT pg_size_pretty(pg_current_wal_lsn() - '0/0')")
log "backlog ends at $END ($WAL of WAL in total)"

# timed NAME CMD...: runs CMD, appends "NAME seconds user sys" to results.
timed() {
    local name=$1
    shift
    /usr/bin/time -f "$name %e %U %S" -a -o "$OUT/times.txt" "$@"
}
count() { [[ -f $1 ]] && grep -c "$2" "$1" || echo 0; }

for ((r = 1; r <= ROUNDS; r++)); do
    log "round $r: pgkeel stream → file"
    rm -f "$OUT/pk.jsonl"
    timed pgkeel "$PGKEEL_BIN" stream --database-url "$URL" --slot "pk_$r" --publication bench \
        --sink "file:$OUT/pk.jsonl" --stop-at "$END" --heartbeat 0 2>>"$OUT/pgkeel.log"
    got=$(count "$OUT/pk.jsonl" '"op":"insert"')
    [[ $got -eq $ROWS ]] || die "pgkeel delivered $got of $ROWS rows"

    log "round $r: pg_recvlogical + wal2json → file"
    rm -f "$OUT/w2j.json"
    timed wal2json "$PG_BIN/pg_recvlogical" -d "$URL" -S "w2j_$r" --start --endpos "$END" \
        -o format-version=2 -f "$OUT/w2j.json" 2>>"$OUT/recvlogical.log"
    got=$(count "$OUT/w2j.json" '"action":"I"')
    [[ $got -eq $ROWS ]] || die "wal2json delivered $got of $ROWS rows"

    log "round $r: pgkeel's replication client, bytes thrown away (raw receive)"
    timed rawclient "$RAW_BIN" "$URL" "rawc_$r" bench "$END" >>"$OUT/raw_receive.txt"

    log "round $r: pg_recvlogical + pgoutput → /dev/null"
    timed raw "$PG_BIN/pg_recvlogical" -d "$URL" -S "raw_$r" --start --endpos "$END" \
        -o proto_version=1 -o publication_names=bench -f /dev/null 2>>"$OUT/recvlogical.log"
done
cp "$OUT/pk.jsonl" "$OUT/pk-sample.jsonl" 2>/dev/null && head -3 "$OUT/pk-sample.jsonl" >"$OUT/pk-sample.txt"
head -5 "$OUT/w2j.json" >"$OUT/w2j-sample.txt"
rm -f "$OUT/pk.jsonl" "$OUT/pk-sample.jsonl" "$OUT/w2j.json"

# ---------------------------------------------------------------- lag at a steady rate
log "lag: $((LAG_RATE * LAG_TXN_ROWS)) rows/s for ${LAG_SECS}s while pgkeel streams to a file"
sql "SELECT pg_create_logical_replication_slot('pk_lag', 'pgoutput')" >/dev/null
METRICS_PORT=$((20000 + RANDOM % 20000))
"$PGKEEL_BIN" stream --database-url "$URL" --slot pk_lag --publication bench \
    --sink "file:$OUT/lag.jsonl" --metrics-listen "127.0.0.1:$METRICS_PORT" --heartbeat 0 \
    2>>"$OUT/pgkeel.log" &
PIDS+=($!)
sleep 1
printf 'INSERT INTO bench_rows (account, note, amount) SELECT g, md5(g::text), g * 1.25 FROM generate_series(1, %d) g;\n' \
    "$LAG_TXN_ROWS" >"$OUT/lag.sql"
pgbench -n -f "$OUT/lag.sql" -R "$LAG_RATE" -T "$LAG_SECS" -c 2 -j 2 "$URL" >"$OUT/pgbench.txt" 2>&1
sleep 2
curl -s "127.0.0.1:$METRICS_PORT/metrics" >"$OUT/lag-metrics.txt"
lag_rows=$(count "$OUT/lag.jsonl" '"op":"insert"')
rm -f "$OUT/lag.jsonl"

# ---------------------------------------------------------------- report
python3 - "$OUT" "$ROWS" "$TXN_ROWS" "$lag_rows" "$COMMAND" <<'PY' | tee "$OUT/report.md"
import re, statistics, sys
out, rows, txn_rows, lag_rows, command = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = {}
for line in open(f"{out}/times.txt"):
    parts = line.split()
    if len(parts) == 4 and parts[0] in ("pgkeel", "wal2json", "raw", "rawclient"):
        runs.setdefault(parts[0], []).append(tuple(map(float, parts[1:])))
def med(name, i):
    return statistics.median(r[i] for r in runs[name])
print(f"## {rows} rows in transactions of {txn_rows}, {len(runs['pgkeel'])} rounds (medians)\n")
print("| consumer | seconds | rows/s | client CPU s (user+sys) | CPU µs/row |")
print("|---|---|---|---|---|")
for name, label in (("pgkeel", "pgkeel stream → file (fsync per batch)"),
                    ("wal2json", "pg_recvlogical + wal2json → file"),
                    ("rawclient", "pgkeel's replication client, no decoding (raw receive)"),
                    ("raw", "pg_recvlogical + pgoutput → /dev/null")):
    secs = med(name, 0); cpu = med(name, 1) + med(name, 2)
    print(f"| {label} | {secs:.2f} | {rows / secs:,.0f} | {cpu:.2f} | {cpu / rows * 1e6:.2f} |")
pk, w2j, raw, rawc = (rows / med(n, 0) for n in ("pgkeel", "wal2json", "raw", "rawclient"))
print(f"\npgkeel ÷ wal2json: **{pk / w2j:.2f}×** (goal ≥ 1.0); pgkeel ÷ raw receive: **{pk / rawc:.2f}×** "
      f"(goal ≥ 0.8); pgkeel ÷ pg_recvlogical pgoutput: {pk / raw:.2f}×")
print("\nEvery round: " + "; ".join(f"{n} " + ", ".join(f"{r[0]:.2f}s" for r in runs[n]) for n in runs))
metrics = open(f"{out}/lag-metrics.txt").read()
q = dict(re.findall(r'pgkeel_stream_commit_to_sink_seconds\{quantile="([0-9.]+)"\} ([0-9.e+-]+)', metrics))
count = re.search(r'pgkeel_stream_commit_to_sink_seconds_count ([0-9]+)', metrics)
if q:
    ms = lambda k: float(q[k]) * 1000
    print(f"\n## Commit-to-sink lag at a steady rate ({lag_rows} rows delivered, {count.group(1) if count else '?'} transactions)\n")
    print("| p50 | p90 | p99 | p99.9 | max |")
    print("|---|---|---|---|---|")
    print(f"| {ms('0.5'):.1f} ms | {ms('0.9'):.1f} ms | {ms('0.99'):.1f} ms | {ms('0.999'):.1f} ms | {ms('1'):.1f} ms |")
    print(f"\ngoal p99 < 50 ms: {'met' if ms('0.99') < 50 else 'NOT met'}")
print(f"\nCommand: `{command}`")
PY
log "done; results in $OUT"
