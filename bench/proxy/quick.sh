#!/usr/bin/env bash
# quick.sh MODE ROUNDS SECS PORT:LABEL[:PID]... -- interleaved pgbench rounds; proxy CPU us/txn from /proc/PID/stat
set -euo pipefail
PGB=${PGBENCH:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pgbench}
MODE=$1; ROUNDS=$2; SECS=$3; shift 3
cpu() { # utime+stime ticks of pid
  awk '{print $14+$15}' /proc/$1/stat; }
for r in $(seq $ROUNDS); do
  line="r$r"
  for spec in "$@"; do
    port=${spec%%:*}; rest=${spec#*:}; label=${rest%%:*}; pid=${rest#*:}
    [ "$pid" = "$label" ] && pid=""
    c0=0; [ -n "$pid" ] && c0=$(cpu $pid)
    out=$($PGB -n -S -c 4 -j 2 -T $SECS -M $MODE "postgres://postgres@127.0.0.1:$port/postgres" 2>&1)
    tps=$(echo "$out" | grep -E '^tps' | awk '{print $3}')
    txn=$(echo "$out" | grep -E 'number of transactions actually processed' | awk '{print $NF}' | cut -d/ -f1)
    extra=""
    if [ -n "$pid" ]; then c1=$(cpu $pid); extra=$(awk -v c=$((c1-c0)) -v t=$txn 'BEGIN{printf " cpu=%.1fus/txn", c*10000/t}'); fi
    line="$line  $label=${tps%.*}$extra"
  done
  echo "$line"
done
