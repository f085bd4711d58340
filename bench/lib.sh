# bench/lib.sh — shared by the benchmark scripts (source it after setting OUT): logging, and
# stopping every background process the script started, on exit, error or Ctrl-C.
#
#   PIDS+=($!)               register a background process (stopped in reverse order)
#   watch_compilers          note any compiler running during the measurement in $OUT/interference.log

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Every background process we started, in start order.
PIDS=()

# Stops them last-started first (TERM, up to 10 s, then KILL) and reports a failure.
cleanup() {
    local rc=$? i pid n
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        pid=${PIDS[i]}
        kill -TERM "$pid" 2>/dev/null || continue
        for ((n = 0; n < 100; n++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ $rc -eq 0 ]] || log "failed (exit $rc); partial results in ${OUT:-?}"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Compilers that would distort numbers on a 2-core machine.
COMPILERS=' (cargo|rustc|cc1|cc1plus|ld|ld\.lld|rustdoc|clippy-driver)$'

# Checks every 5 s, in the background, for a running compiler and notes it in
# $OUT/interference.log.
watch_compilers() {
    (
        sp=
        trap 'kill $sp 2>/dev/null; exit 0' TERM
        while :; do
            sleep 5 & sp=$!; wait "$sp"
            busy=$(ps -eo pid=,comm= | grep -E "$COMPILERS" || true)
            [[ -z $busy ]] || printf '%s %s\n' "$(date -u +%H:%M:%S)" "$(echo $busy)" >>"$OUT/interference.log"
        done
    ) &
    PIDS+=($!)
}
