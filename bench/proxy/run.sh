#!/usr/bin/env bash
# bench/proxy/run.sh — pgbench select-only on one PostgreSQL: direct vs through `pgkeel proxy`
# (TCP and unix-socket upstream), socat and mitmproxy, all in one run. See bench/proxy/README.md.
#
# Knobs (environment): ROUNDS=5 SECS=10 CLIENTS=4 THREADS=2 SCALE=10 MODES="simple extended prepared"
# UNSAT=1 (also run the unsaturated -c 1 -j 1 simple scenario), WARMUP_SECS=3, KEEP_LOGS=0,
# PGKEEL_BIN (default: cargo build --release -p pgkeel), PGKEEL_PG_BIN, MITMPROXY_SPEC, OUT.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-10}
CLIENTS=${CLIENTS:-4}
THREADS=${THREADS:-2}
SCALE=${SCALE:-10}
MODES=${MODES:-"simple extended prepared"}
UNSAT=${UNSAT:-1}
WARMUP_SECS=${WARMUP_SECS:-3}
KEEP_LOGS=${KEEP_LOGS:-0}
MITMPROXY_SPEC=${MITMPROXY_SPEC:-mitmproxy==11.0.2}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV="$ROOT/bench/.venv"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${OUT:-"$ROOT/bench/results/proxy-$STAMP"}
COMMAND="ROUNDS=$ROUNDS SECS=$SECS CLIENTS=$CLIENTS THREADS=$THREADS SCALE=$SCALE bench/proxy/run.sh"
CLK_TCK=$(getconf CLK_TCK)

. "$ROOT/bench/lib.sh"

# ---------------------------------------------------------------- helpers
# wait_line FILE PREFIX PID TIMEOUT_S: print the value after PREFIX on FILE's first matching line.
wait_line() {
    local file=$1 prefix=$2 pid=$3 n line
    for ((n = 0; n < $4 * 10; n++)); do
        line=$(grep -m1 "^$prefix" "$file" 2>/dev/null || true)
        if [[ -n $line ]]; then printf '%s\n' "${line#"$prefix"}"; return 0; fi
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before printing $prefix (see $file)"
        sleep 0.1
    done
    die "no $prefix line in $file after $4 s"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# cpu PID: "user sys" clock ticks of PID, including the children it has reaped (cutime, cstime).
cpu() {
    local stat rest f
    stat=$(<"/proc/$1/stat") || return 1
    rest=${stat##*) }              # the fields after "(comm)"; f[0] is field 3 (state)
    read -ra f <<<"$rest"
    echo $((f[11] + f[13])) $((f[12] + f[14]))
}
# child_cpu PID: "user sys" of the children PID has waited for (cutime, cstime) only.
child_cpu() {
    local stat rest f
    stat=$(<"/proc/$1/stat"); rest=${stat##*) }; read -ra f <<<"$rest"
    echo $((f[13])) $((f[14]))
}
# ctxt PID: voluntary + involuntary context switches of all of PID's threads (not its children).
ctxt() { cat /proc/"$1"/task/*/status | awk '/^(non)?voluntary_ctxt_switches/{n += $2} END {print n + 0}'; }
machine_cpu() { awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat; }
# wait_children PID MAX: until PID has at most MAX direct children (10 s at most).
wait_children() {
    local n
    for ((n = 0; n < 100; n++)); do
        [[ $(pgrep -c -P "$1" || true) -le $2 ]] && return 0
        sleep 0.1
    done
    log "warning: process $1 still has $(pgrep -c -P "$1" || true) children (wanted <= $2)"
}

# ---------------------------------------------------------------- tools
if [[ -n ${PGKEEL_BIN:-} ]]; then
    PGKEEL=$PGKEEL_BIN
else
    log "building pgkeel (cargo build --release -p pgkeel)"
    (cd "$ROOT" && cargo build --release -p pgkeel >&2)
    PGKEEL="$ROOT/target/release/pgkeel"
fi
[[ -x $PGKEEL ]] || die "no pgkeel binary at $PGKEEL"

PG_BIN=${PGKEEL_PG_BIN:-}
if [[ -z $PG_BIN ]]; then
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
fi
if [[ -n $PG_BIN && -x $PG_BIN/pgbench ]]; then
    PGBENCH=$PG_BIN/pgbench PSQL=$PG_BIN/psql
else
    PGBENCH=$(command -v pgbench) PSQL=$(command -v psql) || die "pgbench/psql not found (apt-get install postgresql)"
fi

if ! command -v socat >/dev/null; then
    log "installing socat (apt-get)"
    apt-get install -y socat >&2 || { apt-get update >&2 && apt-get install -y socat >&2; }
fi
SOCAT=$(command -v socat)

if [[ ! -x $VENV/bin/mitmdump ]]; then
    log "installing $MITMPROXY_SPEC into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "$MITMPROXY_SPEC" >&2
fi
MITM_VERSION=$("$VENV/bin/mitmdump" --version | awk '/^Mitmproxy:/{print $2}')
[[ ${MITM_VERSION%%.*} -ge 7 ]] || die "mitmproxy $MITM_VERSION is too old: this script uses the >= 7 'reverse:tcp://' mode"

mkdir -p "$OUT/runs" "$OUT/logs"
log "results in $OUT"

# ---------------------------------------------------------------- PostgreSQL
"$PGKEEL" postgres --no-fsync >"$OUT/postgres.out" 2>"$OUT/postgres.err" &
PIDS+=($!)
PG_URL=$(wait_line "$OUT/postgres.out" DATABASE_URL= "${PIDS[-1]}" 120)
PG_PORT=${PG_URL##*:}; PG_PORT=${PG_PORT%%/*}
PG_SOCKDIR=$("$PSQL" "$PG_URL" -Atc 'SHOW unix_socket_directories'); PG_SOCKDIR=${PG_SOCKDIR%%,*}
PG_DATA=$("$PSQL" "$PG_URL" -Atc 'SHOW data_directory')
PG_VERSION=$("$PSQL" "$PG_URL" -Atc 'SHOW server_version')
POSTMASTER=$(head -n1 "$PG_DATA/postmaster.pid")
PG_SOCKET="$PG_SOCKDIR/.s.PGSQL.$PG_PORT"
[[ -S $PG_SOCKET ]] || die "no unix socket at $PG_SOCKET"
log "PostgreSQL $PG_VERSION on port $PG_PORT (postmaster $POSTMASTER, socket $PG_SOCKET)"

log "pgbench -i -s $SCALE"
"$PGBENCH" -i -s "$SCALE" -q "$PG_URL" >"$OUT/pgbench-init.log" 2>&1 || { cat "$OUT/pgbench-init.log" >&2; die "pgbench -i failed"; }

# ---------------------------------------------------------------- targets
declare -A URL PID
url_for() { echo "postgres://postgres@127.0.0.1:$1/postgres?sslmode=disable"; }
URL[direct]=$(url_for "$PG_PORT")

start_pgkeel() { # name upstream
    "$PGKEEL" proxy --upstream "$2" --listen 127.0.0.1:0 --control none >"$OUT/$1.out" 2>"$OUT/$1.err" &
    PIDS+=($!); PID[$1]=$!
    local addr; addr=$(wait_line "$OUT/$1.out" PGKEEL_PROXY= "$!" 30)
    URL[$1]=$(url_for "${addr##*:}")
}
start_pgkeel pgkeel "127.0.0.1:$PG_PORT"
start_pgkeel pgkeel-unix "$PG_SOCKET"

port=$(free_port)
"$SOCAT" "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr,nodelay" "TCP:127.0.0.1:$PG_PORT,nodelay" \
    >"$OUT/socat.out" 2>"$OUT/socat.err" &
PIDS+=($!); PID[socat]=$!; URL[socat]=$(url_for "$port")

port=$(free_port)
MITM_ARGS=(--mode "reverse:tcp://127.0.0.1:$PG_PORT" --listen-host 127.0.0.1 -p "$port"
           --set flow_detail=0 --set termlog_verbosity=error)
"$VENV/bin/mitmdump" "${MITM_ARGS[@]}" >"$OUT/mitmproxy.out" 2>"$OUT/mitmproxy.err" &
PIDS+=($!); PID[mitmproxy]=$!; URL[mitmproxy]=$(url_for "$port")

# Every target must answer a real query (and see the pgbench tables) before we measure it.
for t in direct pgkeel pgkeel-unix socat mitmproxy; do
    for ((n = 0; ; n++)); do
        got=$("$PSQL" "${URL[$t]}" -Atc 'SELECT count(*) FROM pgbench_branches' 2>/dev/null || true)
        [[ $got == "$SCALE" ]] && break
        [[ -z ${PID[$t]:-} ]] || kill -0 "${PID[$t]}" 2>/dev/null || die "$t exited (see $OUT/$t.err)"
        ((n < 300)) || die "$t does not answer queries at ${URL[$t]}"
        sleep 0.1
    done
    log "$t ok: ${URL[$t]}"
done

# ---------------------------------------------------------------- facts about this run
{
    echo "command=$COMMAND"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "cpu=$(awk -F': ' '/^model name/{print $2; exit}' /proc/cpuinfo)"
    echo "mem=$(awk '/^MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
    echo "postgres=$PG_VERSION"
    echo "pgbench=$("$PGBENCH" --version)"
    echo "pgkeel_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$([[ -z $(git -C "$ROOT" status --porcelain -- Cargo.toml Cargo.lock 'crates/*/Cargo.toml' 'crates/*/src' 2>/dev/null) ]] || echo '+dirty')"
    echo "pgkeel_version=$("$PGKEEL" --version)"
    echo "socat=$("$SOCAT" -V | awk '/socat version/{print $3; exit}')"
    echo "mitmproxy=$MITM_VERSION"
    echo "params=ROUNDS=$ROUNDS SECS=$SECS CLIENTS=$CLIENTS THREADS=$THREADS SCALE=$SCALE MODES=\"$MODES\" UNSAT=$UNSAT WARMUP_SECS=$WARMUP_SECS"
    echo "rounds=$ROUNDS"; echo "secs=$SECS"; echo "clients=$CLIENTS"; echo "threads=$THREADS"; echo "scale=$SCALE"
    echo "clk_tck=$CLK_TCK"
    printf 'pgbench_cmd=%q -n -S -c %s -j %s -T %s -M <mode> -l --log-prefix=<dir>/pgbench_log <url>\n' \
        "$PGBENCH" "$CLIENTS" "$THREADS" "$SECS"
    printf 'socat_cmd=%s TCP-LISTEN:<port>,bind=127.0.0.1,fork,reuseaddr,nodelay TCP:127.0.0.1:%s,nodelay\n' "$SOCAT" "$PG_PORT"
    echo "mitmproxy_cmd=mitmdump ${MITM_ARGS[*]}"
    echo "pgkeel_cmd=pgkeel proxy --upstream 127.0.0.1:$PG_PORT|$PG_SOCKET --listen 127.0.0.1:0 --control none"
    for t in direct pgkeel pgkeel-unix socat mitmproxy; do echo "url.$t=${URL[$t]}"; done
} >"$OUT/meta.txt"
ps -eo pid,pcpu,etime,args --sort=-pcpu | head -n 15 >"$OUT/ps-before.txt"

watch_compilers

# ---------------------------------------------------------------- one pgbench run
printf 'scenario\tmode\tround\tpos\ttarget\tclients\tthreads\tstem\tproxy_user\tproxy_sys\tproxy_ctxt\tpg_user\tpg_sys\tpgbench_user\tpgbench_sys\tbusy_ticks\ttotal_ticks\n' >"$OUT/runs.tsv"
PG_BASE_CHILDREN=$(pgrep -c -P "$POSTMASTER" || true)

run_one() { # scenario mode round pos target clients threads secs
    local scenario=$1 mode=$2 round=$3 pos=$4 target=$5 clients=$6 threads=$7 secs=$8
    local stem="$scenario-$mode-r$round-$target" pid=${PID[$target]:-}
    local logdir="$OUT/logs/$stem" p0 p1 c0 c1 g0 g1 m0 m1 b proxy=(- - -)
    mkdir -p "$logdir"
    if [[ -n $pid ]]; then read -ra p0 <<<"$(cpu "$pid")"; c0=$(ctxt "$pid"); fi
    read -ra g0 <<<"$(cpu "$POSTMASTER")"; read -ra m0 <<<"$(machine_cpu)"
    # The subshell waits for pgbench, so its cutime/cstime afterwards are pgbench's CPU time.
    b=$(
        "$PGBENCH" -n -S -c "$clients" -j "$threads" -T "$secs" -M "$mode" \
            -l --log-prefix="$logdir/pgbench_log" "${URL[$target]}" \
            >"$OUT/runs/$stem.out" 2>"$OUT/runs/$stem.err" || exit $?
        child_cpu "$BASHPID"
    ) || { cat "$OUT/runs/$stem.err" >&2; die "pgbench failed for $stem"; }
    read -ra b <<<"$b"
    read -ra m1 <<<"$(machine_cpu)"
    # Let the proxy's per-connection children (socat) and PostgreSQL's backends exit and be reaped,
    # so that their CPU time is in the parents' cutime/cstime.
    [[ $target != socat ]] || wait_children "$pid" 0
    wait_children "$POSTMASTER" "$PG_BASE_CHILDREN"
    if [[ -n $pid ]]; then
        read -ra p1 <<<"$(cpu "$pid")"; c1=$(ctxt "$pid")
        # socat's work happens in short-lived children whose switches are not visible afterwards.
        proxy=($((p1[0] - p0[0])) $((p1[1] - p0[1])) "$([[ $target == socat ]] && echo - || echo $((c1 - c0)))")
    fi
    read -ra g1 <<<"$(cpu "$POSTMASTER")"
    printf '%s\t' "$scenario" "$mode" "$round" "$pos" "$target" "$clients" "$threads" "$stem" "${proxy[@]}" \
        $((g1[0] - g0[0])) $((g1[1] - g0[1])) "${b[0]}" "${b[1]}" $((m1[0] - m0[0])) >>"$OUT/runs.tsv"
    printf '%s\n' $((m1[1] - m0[1])) >>"$OUT/runs.tsv"
    python3 "$HERE/report.py" hist "$logdir" "$OUT/runs/$stem.hist.json"
    [[ $KEEP_LOGS == 1 ]] || rm -rf "$logdir"
    log "$(printf '%-5s %-8s r%s %-11s %s' "$scenario" "$mode" "$round" "$target" "$(grep -m1 '^tps' "$OUT/runs/$stem.out")")"
}

# run_scenario NAME CLIENTS THREADS MODES TARGETS...: ROUNDS rounds per mode, target order rotated.
run_scenario() {
    local name=$1 clients=$2 threads=$3 modes=$4 mode round i n; shift 4
    local targets=("$@")
    n=${#targets[@]}
    for mode in $modes; do
        for t in "${targets[@]}"; do      # warm-up, not recorded: caches, prepared plans, JIT-free paths
            "$PGBENCH" -n -S -c "$clients" -j "$threads" -T "$WARMUP_SECS" -M "$mode" "${URL[$t]}" >/dev/null 2>&1 \
                || die "warm-up failed for $t"
        done
        for ((round = 1; round <= ROUNDS; round++)); do
            for ((i = 0; i < n; i++)); do
                run_one "$name" "$mode" "$round" "$i" "${targets[(i + round - 1) % n]}" "$clients" "$threads" "$SECS"
            done
        done
    done
}

T0=$(date +%s)
run_scenario sat "$CLIENTS" "$THREADS" "$MODES" direct pgkeel pgkeel-unix socat mitmproxy
[[ $UNSAT != 1 ]] || run_scenario unsat 1 1 simple direct pgkeel socat mitmproxy
echo "duration_s=$(($(date +%s) - T0))" >>"$OUT/meta.txt"
ps -eo pid,pcpu,etime,args --sort=-pcpu | head -n 15 >"$OUT/ps-after.txt"

python3 "$HERE/report.py" report "$OUT" | tee "$OUT/report.md"
