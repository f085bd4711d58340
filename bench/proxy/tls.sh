#!/usr/bin/env bash
# bench/proxy/tls.sh — pgbench select-only with TLS clients (sslmode=require), in one run:
# direct to PostgreSQL, through `pgkeel proxy --tls passthrough` (ciphertext forwarded), and
# through `pgkeel proxy --tls terminate` (TLS ends in the proxy; upstream TLS again, or
# plaintext). Reports per-round ratios; the goal is terminate >= 0.8x passthrough.
#
# Knobs: ROUNDS=5 SECS=10 CLIENTS=4 THREADS=2 SCALE=10 MODE=simple WARMUP_SECS=3, PGKEEL_BIN.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
MODE=${MODE:-simple}
WARMUP_SECS=${WARMUP_SECS:-3}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-"$ROOT/bench/results/proxy-tls-$STAMP"}
mkdir -p "$OUT"
. "$ROOT/bench/lib.sh"

PGBIN=${PGKEEL_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
if [[ -z ${PGKEEL_BIN:-} ]]; then
    log "building pgkeel (release)"
    (cd "$ROOT" && cargo build --release -q -p pgkeel)
    PGKEEL_BIN="$ROOT/target/release/pgkeel"
fi

wait_line() { # FILE PREFIX PID: the value after PREFIX on FILE's first matching line
    local n line
    for ((n = 0; n < 300; n++)); do
        line=$(grep -m1 "^$2" "$1" 2>/dev/null || true)
        if [[ -n $line ]]; then printf '%s\n' "${line#"$2"}"; return 0; fi
        kill -0 "$3" 2>/dev/null || die "process $3 exited before printing $2 (see $1)"
        sleep 0.1
    done
    die "no $2 line in $1"
}

log "starting PostgreSQL with TLS"
"$PGKEEL_BIN" postgres --tls --no-fsync >"$OUT/pg.env" 2>"$OUT/pg.log" &
PIDS+=($!)
URL=$(wait_line "$OUT/pg.env" DATABASE_URL= $!)
CA=$(wait_line "$OUT/pg.env" PGSSLROOTCERT= "${PIDS[-1]}")
PG_PORT=$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$URL")
"$PGBIN/pgbench" -q -i -s "$SCALE" "postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=require" >"$OUT/init.log" 2>&1

# start_proxy VAR LABEL ARGS...: starts a proxy in this shell (so the exit trap stops it) and
# sets VAR to its port.
start_proxy() {
    local var=$1 label=$2; shift 2
    "$PGKEEL_BIN" proxy --upstream "127.0.0.1:$PG_PORT" --listen 127.0.0.1:0 --control-listen none "$@" \
        >"$OUT/$label.env" 2>"$OUT/$label.log" &
    PIDS+=($!)
    local listen
    listen=$(wait_line "$OUT/$label.env" PGKEEL_PROXY= $!)
    printf -v "$var" '%s' "${listen##*:}"
}
start_proxy PASS_PORT passthrough --tls passthrough
start_proxy TERM_PORT terminate --tls terminate --upstream-sslmode verify-full --upstream-sslrootcert "$CA"
start_proxy PLAIN_PORT terminate-plain --tls terminate --upstream-sslmode disable

TARGETS=("direct:$PG_PORT" "passthrough:$PASS_PORT" "terminate:$TERM_PORT" "terminate-plain-upstream:$PLAIN_PORT")
for t in "${TARGETS[@]}"; do
    ssl=$("$PGBIN/psql" -XAt "postgres://postgres@127.0.0.1:${t#*:}/postgres?sslmode=require" \
        -c "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    log "${t%%:*}: server sees ssl=$ssl"
done

run() { # PORT SECS: TPS
    "$PGBIN/pgbench" -n -S -c "$CLIENTS" -j "$THREADS" -T "$2" -M "$MODE" \
        "postgres://postgres@127.0.0.1:$1/postgres?sslmode=require" 2>&1 | awk '/^tps/{print $3}'
}
for t in "${TARGETS[@]}"; do run "${t#*:}" "$WARMUP_SECS" >/dev/null; done
watch_compilers
: >"$OUT/rounds.tsv"
for ((r = 1; r <= ROUNDS; r++)); do
    line="$r"
    # Rotate the order between rounds.
    for ((i = 0; i < ${#TARGETS[@]}; i++)); do
        t=${TARGETS[$(((i + r) % ${#TARGETS[@]}))]}
        tps=$(run "${t#*:}" "$SECS")
        line="$line ${t%%:*}=$tps"
    done
    echo "$line" | tee -a "$OUT/rounds.tsv" >&2
done

python3 - "$OUT/rounds.tsv" <<'EOF'
import statistics, sys
rounds = []
for line in open(sys.argv[1]):
    parts = line.split()[1:]
    rounds.append({k: float(v) for k, v in (p.split("=") for p in parts)})
def med(xs): return statistics.median(xs)
def rng(xs): return f"{min(xs):.2f}–{max(xs):.2f}"
print("| target | TPS (median) | ÷ direct | ÷ passthrough |")
print("|---|---|---|---|")
for t in ["direct", "passthrough", "terminate", "terminate-plain-upstream"]:
    tps = [r[t] for r in rounds]
    d = [r[t] / r["direct"] for r in rounds]
    p = [r[t] / r["passthrough"] for r in rounds]
    print(f"| {t} | {med(tps):,.0f} | {med(d):.2f} ({rng(d)}) | {med(p):.2f} ({rng(p)}) |")
EOF
if [[ -s $OUT/interference.log ]]; then log "compilers ran during the measurement: see $OUT/interference.log"; fi
