#!/usr/bin/env python3
"""bench/proxy/report.py — turns the raw results of bench/proxy/run.sh into markdown tables.

  report.py hist LOGDIR OUT.json   reduce pgbench per-transaction logs to a latency histogram
  report.py report RESULTS_DIR     print the markdown report of one run (stdlib only)

pgbench 15 per-transaction log lines are
  client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]
where `time` is the transaction latency in microseconds ("failed" / "skipped" when it did not run).
"""
import collections
import json
import os
import re
import statistics
import sys

TARGETS = ["direct", "pgkeel", "pgkeel-unix", "socat", "mitmproxy"]
MODES = ["simple", "extended", "prepared"]


def hist(logdir, out):
    counts = collections.Counter()
    failed = 0
    for name in sorted(os.listdir(logdir)):
        if not name.startswith("pgbench_log."):
            continue
        with open(os.path.join(logdir, name)) as f:
            for line in f:
                fields = line.split()
                if len(fields) < 3:
                    continue
                if fields[2].isdigit():
                    counts[int(fields[2])] += 1
                else:
                    failed += 1
    if not counts:
        sys.exit(f"report.py: no pgbench transaction log in {logdir}")
    with open(out, "w") as f:
        json.dump({"failed": failed, "latency_us": {str(k): v for k, v in sorted(counts.items())}}, f)


def percentile(counts, p):
    """Nearest-rank percentile of a {value: count} histogram."""
    total = sum(counts.values())
    rank = max(1, -(-total * p // 100))  # ceil(total * p / 100)
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value
    raise ValueError("empty histogram")


def parse_out(path):
    text = open(path).read()
    tps = float(re.search(r"^tps = ([0-9.]+) \(without initial connection time\)", text, re.M).group(1))
    txns = int(re.search(r"^number of transactions actually processed: (\d+)", text, re.M).group(1))
    m = re.search(r"^number of failed transactions: (\d+)", text, re.M)
    return tps, txns, int(m.group(1)) if m else 0


def load(results):
    meta = {}
    for line in open(os.path.join(results, "meta.txt")):
        key, _, value = line.rstrip("\n").partition("=")
        meta.setdefault(key, value)
    runs = []
    with open(os.path.join(results, "runs.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(header, line.rstrip("\n").split("\t")))
            r["round"] = int(r["round"])
            r["tps"], r["txns"], r["failed"] = parse_out(os.path.join(results, "runs", r["stem"] + ".out"))
            h = json.load(open(os.path.join(results, "runs", r["stem"] + ".hist.json")))
            r["hist"] = collections.Counter({int(k): v for k, v in h["latency_us"].items()})
            r["failed"] += h["failed"]
            runs.append(r)
    return meta, runs


def per_txn(runs, keys, scale=1.0):
    """Sum of the columns `keys` over `runs`, divided by their transactions (None if not measured)."""
    if any(r[k] == "-" for r in runs for k in keys):
        return None
    return sum(int(r[k]) for r in runs for k in keys) * scale / sum(r["txns"] for r in runs)


def fmt_ratio(values):
    if not values:
        return "—"
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def summarize(runs, clk):
    """{(scenario, mode): {target: summary}} with per-round ratios against direct/socat/mitmproxy."""
    groups = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in runs:
        groups[(r["scenario"], r["mode"])][r["target"]].append(r)
    us = 1e6 / clk  # clock ticks -> microseconds
    out = {}
    for key, by_target in groups.items():
        tps_by_round = {t: {r["round"]: r["tps"] for r in rs} for t, rs in by_target.items()}

        def ratios(t, base):
            a, b = tps_by_round.get(t, {}), tps_by_round.get(base, {})
            return [a[k] / b[k] for k in sorted(a) if k in b]

        summary = {}
        for t in [t for t in TARGETS if t in by_target]:
            rs = by_target[t]
            pooled = collections.Counter()
            for r in rs:
                pooled.update(r["hist"])
            summary[t] = {
                "rounds": len(rs),
                "tps": statistics.median(r["tps"] for r in rs),
                "vs_direct": ratios(t, "direct"),
                "vs_socat": ratios(t, "socat"),
                "vs_mitmproxy": ratios(t, "mitmproxy"),
                "p50": percentile(pooled, 50),
                "p99": percentile(pooled, 99),
                "failed": sum(r["failed"] for r in rs),
                "proxy_us": per_txn(rs, ["proxy_user", "proxy_sys"], us),
                "proxy_user_us": per_txn(rs, ["proxy_user"], us),
                "proxy_sys_us": per_txn(rs, ["proxy_sys"], us),
                "proxy_ctxt": per_txn(rs, ["proxy_ctxt"]),
                "pg_us": per_txn(rs, ["pg_user", "pg_sys"], us),
                "pgbench_us": per_txn(rs, ["pgbench_user", "pgbench_sys"], us),
                "busy": sum(int(r["busy_ticks"]) for r in rs) / sum(int(r["total_ticks"]) for r in rs),
            }
        out[key] = summary
    return out


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def opt(v, fmt):
    return "—" if v is None else format(v, fmt)


def report(results):
    meta, runs = load(results)
    clk = int(meta.get("clk_tck", "100"))
    s = summarize(runs, clk)
    sat = [m for m in MODES if ("sat", m) in s]
    md = []
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    md.append(f"Results: `{os.path.relpath(os.path.abspath(results), repo)}`  ")
    md.append(
        f"Machine: {meta.get('nproc')} cores ({meta.get('cpu')}), {meta.get('mem')}, Linux {meta.get('kernel')}; "
        f"PostgreSQL {meta.get('postgres')}; pgkeel {meta.get('pgkeel_commit')}; "
        f"socat {meta.get('socat')}; mitmproxy {meta.get('mitmproxy')}  "
    )
    md.append(f"Parameters: {meta.get('params')}; run took {meta.get('duration_s', '?')} s")
    md.append("")
    md.append(f"### Throughput, pgbench -n -S -c {_p(meta, 'clients')} -j {_p(meta, 'threads')} "
              f"(median of {_p(meta, 'rounds')} rounds; ratios are per round, median (min–max))")
    rows = []
    for m in sat:
        for t, v in s[("sat", m)].items():
            rows.append([m, t, f"{v['tps']:,.0f}",
                         "1" if t == "direct" else fmt_ratio(v["vs_direct"]),
                         "—" if t in ("socat", "direct") else fmt_ratio(v["vs_socat"]),
                         "—" if t == "mitmproxy" else fmt_ratio(v["vs_mitmproxy"])])
    md.append(table(["mode", "target", "TPS", "÷ direct", "÷ socat", "÷ mitmproxy"], rows))
    md.append("")
    md.append("### Latency per transaction (all rounds pooled), µs; added = target − direct")
    rows = []
    for m in sat:
        d = s[("sat", m)]["direct"]
        for t, v in s[("sat", m)].items():
            rows.append([m, t, v["p50"], v["p99"],
                         "—" if t == "direct" else f"{v['p50'] - d['p50']:+d}",
                         "—" if t == "direct" else f"{v['p99'] - d['p99']:+d}"])
    md.append(table(["mode", "target", "p50", "p99", "added p50", "added p99"], rows))
    md.append("")
    md.append("### CPU time per transaction, µs (user+sys, reaped children included; all rounds pooled)")
    rows = []
    for m in sat:
        for t, v in s[("sat", m)].items():
            rows.append([m, t, opt(v["proxy_us"], ".1f"), opt(v["proxy_user_us"], ".1f"),
                         opt(v["proxy_sys_us"], ".1f"), opt(v["proxy_ctxt"], ".2f"),
                         opt(v["pg_us"], ".1f"), opt(v["pgbench_us"], ".1f"), f"{100 * v['busy']:.0f}%"])
    md.append(table(["mode", "target", "proxy", "proxy user", "proxy sys", "proxy switches/txn",
                     "postgres", "pgbench", "machine busy"], rows))
    if ("unsat", "simple") in s:
        md.append("")
        md.append(f"### Unsaturated: pgbench -n -S -c 1 -j 1 -M simple (median of {_p(meta, 'rounds')} rounds; "
                  "latency µs, pooled; added = target − direct)")
        u = s[("unsat", "simple")]
        d = u["direct"]
        rows = []
        for t, v in u.items():
            rows.append([t, f"{v['tps']:,.0f}", "1" if t == "direct" else fmt_ratio(v["vs_direct"]),
                         v["p50"], v["p99"],
                         "—" if t == "direct" else f"{v['p50'] - d['p50']:+d}",
                         "—" if t == "direct" else f"{v['p99'] - d['p99']:+d}",
                         opt(v["proxy_us"], ".1f"), f"{100 * v['busy']:.0f}%"])
        md.append(table(["target", "TPS", "÷ direct", "p50", "p99", "added p50", "added p99",
                         "proxy CPU µs/txn", "machine busy"], rows))
    failed = sum(r["failed"] for r in runs)
    md.append("")
    md.append("### Goals")
    for m in sat:
        v = s[("sat", m)].get("pgkeel")
        if not v:
            continue
        r_d = statistics.median(v["vs_direct"]) if v["vs_direct"] else float("nan")
        r_m = statistics.median(v["vs_mitmproxy"]) if v["vs_mitmproxy"] else float("nan")
        md.append(f"- {m}: pgkeel ÷ direct = {r_d:.2f} (goal ≥ 0.90: {'met' if r_d >= 0.90 else 'NOT met'}); "
                  f"pgkeel ÷ mitmproxy = {r_m:.1f}× (goal ≥ 5×: {'met' if r_m >= 5 else 'NOT met'})")
    md.append(f"- failed transactions in all runs: {failed}")
    interference = os.path.join(results, "interference.log")
    if os.path.exists(interference) and os.path.getsize(interference):
        n = sum(1 for _ in open(interference))
        md.append(f"- WARNING: compiler processes seen during the run ({n} samples, see interference.log)")
    md.append("")
    md.append(f"Command: `{meta.get('command')}`  ")
    md.append(f"pgbench: `{meta.get('pgbench_cmd')}` ({meta.get('pgbench')})")
    print("\n".join(md))


def _p(meta, name):
    return meta.get(name, "?")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "hist":
        hist(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "report":
        report(sys.argv[2])
    else:
        sys.exit(__doc__)
