"""bench/work/report.py OUT COMMAND HAVE_WORK_BENCH — report.md (markdown on stdout) from OUT/runs.jsonl.

Environment (set by run.sh): JOBS, RATE, SECS, PGKEEL_VERSION.

Medians over rounds; ratios are taken per round (pgkeel ÷ peer in the same round) and reported
as median (min–max). Used by bench/work/run.sh; can be rerun on a finished results directory.
"""

import json
import os
import statistics
import sys

out, command, have_pgkeel = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
runs = [json.loads(line) for line in open(os.path.join(out, "runs.jsonl")) if line.strip()]
LABEL = {
    "pgkeel": "pgkeel work bench",
    "graphile": "graphile-worker",
    "graphile016": "graphile-worker 0.16",
    "procrastinate": "procrastinate",
}
PEERS = ["graphile", "graphile016", "procrastinate"]
order = [q for q in ["pgkeel", *PEERS] if any(r["queue"] == q for r in runs)]


def ok(r):
    res = r["result"]
    return res is not None and not res.get("timed_out") and res.get("jobs_per_s")


def runs_of(queue, scenario):
    return [r for r in runs if r["queue"] == queue and r["scenario"] == scenario]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, fmt):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "—"
    m = statistics.median(xs)
    return fmt(m) if len(xs) == 1 else f"{fmt(m)} ({fmt(min(xs))}–{fmt(max(xs))})"


def f0(x):
    return f"{x:,.0f}"


def f1(x):
    return f"{x:.1f}"


def f2(x):
    return f"{x:.2f}"


def version(queue):
    if queue == "pgkeel":
        return os.environ.get("PGKEEL_VERSION", "")
    for r in runs:
        if r["queue"] == queue and r["result"]:
            return r["result"].get("version", "")
    return ""


def per_round_ratio(scenario, key, peer):
    """pgkeel[key] ÷ peer[key] per round where both ran."""
    ratios = []
    rounds = sorted({r["round"] for r in runs})
    for rnd in rounds:
        a = [r for r in runs if r["round"] == rnd and r["queue"] == "pgkeel" and r["scenario"] == scenario and ok(r)]
        b = [r for r in runs if r["round"] == rnd and r["queue"] == peer and r["scenario"] == scenario and ok(r)]
        if a and b and a[0]["result"].get(key) and b[0]["result"].get(key):
            ratios.append(a[0]["result"][key] / b[0]["result"][key])
    return ratios


print("# Job queue: pgkeel vs graphile-worker vs procrastinate\n")
print("```")
print(open(os.path.join(out, "machine.txt")).read().rstrip())
print("```\n")
if not have_pgkeel:
    print("**pgkeel was not measured**: the binary has no `pgkeel work bench` subcommand yet, so only "
          "the peers ran and no ratio can be given.\n")
interference = os.path.join(out, "interference.log")
if os.path.exists(interference) and os.path.getsize(interference):
    lines = open(interference).read().splitlines()
    minutes = sum(r["wall_s"] for r in runs) / 60
    print(f"**Other work on the machine**: a compiler was seen running at {len(lines)} checks "
          f"(one every 5 s; the runs took {minutes:.0f} minutes; see `interference.log`), "
          f"so absolute numbers are low-confidence; the per-round ratios are the result.\n")

for scenario in ("drain", "rate"):
    if not any(r["scenario"] == scenario for r in runs):
        continue
    if scenario == "drain":
        jobs = int(os.environ.get("JOBS") or next((r["result"]["jobs"] for r in runs if r["scenario"] == "drain" and r["result"]), 0))
        n_rounds = len({r["round"] for r in runs if r["scenario"] == "drain"})
        print(f"## Drain: {jobs:,} no-op jobs enqueued, then drained ({n_rounds} rounds, medians)\n")
        print("`seconds`: peers from the first handler start to the last handler return; pgkeel from "
              "its first claim to its last recorded completion. Pickup in this scenario is mostly time "
              "spent waiting in the backlog.\n")
        print("| queue | version | ok runs | jobs/s | seconds | enqueue s | pickup p50 ms | pickup p99 ms | run more than once | left in table | machine busy |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
    else:
        r0 = next((r["result"] for r in runs if r["scenario"] == "rate" and r["result"] and "rate" in r["result"]), {})
        r0 = {"rate": os.environ.get("RATE") or r0.get("rate", "?"), "rate_seconds": os.environ.get("SECS") or r0.get("rate_seconds", "?")}
        n_rounds = len({r["round"] for r in runs if r["scenario"] == "rate"})
        print(f"\n## Pickup latency: {r0.get('rate', '?')} jobs/s enqueued one at a time for "
              f"{r0.get('rate_seconds', '?')} s ({n_rounds} rounds, medians)\n")
        print("Pickup, peers: the handler starts (client clock) − the job's creation time in the database "
              "(graphile-worker: `run_at`, ms resolution; procrastinate: its `deferred` event); "
              "`from enqueue` = handler start − the producer's clock just before the enqueue call. "
              "pgkeel: the handler starts (client clock) − max(run_at, created_at) in the database: "
              "the same end point as the peers.\n")
        print("| queue | version | ok runs | executed / enqueued | pickup p50 ms | pickup p99 ms | max ms | from enqueue p99 ms | run more than once | machine busy |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    for q in order:
        rs = runs_of(q, scenario)
        if not rs:
            continue
        good = [r for r in rs if ok(r)]
        res = [r["result"] for r in good]
        dups = sum(r["result"].get("executed_more_than_once", 0) for r in rs if r["result"])
        busy = spread([r["machine_busy"] * 100 for r in rs if r["machine_busy"] is not None], lambda x: f"{x:.0f}%")
        if scenario == "drain":
            left = sorted({str(x.get("jobs_left_in_table")) for x in res if "jobs_left_in_table" in x}) or ["—"]
            print(f"| {LABEL[q]} | {version(q)} | {len(good)}/{len(rs)} | "
                  f"{spread([x['jobs_per_s'] for x in res], f0)} | {spread([x['seconds'] for x in res], f2)} | "
                  f"{spread([x.get('enqueue_seconds') for x in res], f2)} | "
                  f"{spread([x['pickup_p50_ms'] for x in res], f0)} | {spread([x['pickup_p99_ms'] for x in res], f0)} | "
                  f"**{dups}** | {', '.join(left)} | {busy} |")
        else:
            execd = f"{sum(x.get('executed', x['jobs']) for x in res):,} / {sum(x['jobs'] for x in res):,}"
            print(f"| {LABEL[q]} | {version(q)} | {len(good)}/{len(rs)} | {execd} | "
                  f"{spread([x['pickup_p50_ms'] for x in res], f1)} | **{spread([x['pickup_p99_ms'] for x in res], f1)}** | "
                  f"{spread([x.get('pickup_max_ms') for x in res], f1)} | "
                  f"{spread([x.get('pickup_from_enqueue_p99_ms') for x in res], f1)} | **{dups}** | {busy} |")

    if "pgkeel" in order:
        print()
        key = "jobs_per_s" if scenario == "drain" else "pickup_p99_ms"
        what = "jobs/s" if scenario == "drain" else "pickup p99 (lower is better for pgkeel)"
        for p in PEERS:
            rat = per_round_ratio(scenario, key, p)
            if rat:
                goal = ""
                if scenario == "drain" and p == "graphile":
                    goal = f" — goal ≥ 1.2×: **{'met' if statistics.median(rat) >= 1.2 else 'NOT met'}**"
                print(f"- pgkeel ÷ {LABEL[p]} {version(p)}, {what}: **{spread(rat, f2)}×**{goal}")
        if scenario == "rate":
            p99 = med([r["result"]["pickup_p99_ms"] for r in runs_of("pgkeel", "rate") if ok(r)])
            if p99 is not None:
                print(f"- pgkeel pickup p99 {p99:.1f} ms — goal < 20 ms: **{'met' if p99 < 20 else 'NOT met'}**")
        pk = [r for r in runs if r["queue"] == "pgkeel" and r["result"]]
        if pk:
            d = sum(r["result"].get("executed_more_than_once", 0) for r in pk if r["scenario"] == scenario)
            print(f"- pgkeel jobs run more than once: {d} (goal 0: **{'met' if d == 0 else 'NOT met'}**)")

print("\n## Settings per queue\n")
for q in order:
    res = next((r["result"] for r in runs if r["queue"] == q and r["result"]), None)
    cmd = ""
    path = os.path.join(out, "logs", f"r1-{q}-drain.cmd")
    if os.path.exists(path):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        cmd = open(path).read().strip().replace(root + "/", "")
        cmd = __import__("re").sub(r"postgres://\S+/", "postgres://…/", cmd)
    s = json.dumps(res.get("settings")) if res and res.get("settings") else "(its own defaults)"
    print(f"- **{LABEL[q]}** {version(q)}: {s}" + (f"; `{cmd}`" if cmd else ""))

print("\n## Every run\n")
print("| round | pos | queue | scenario | exit | jobs/s | seconds | p50 ms | p99 ms | dup | busy |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for r in runs:
    x = r["result"] or {}
    busy = "—" if r["machine_busy"] is None else f"{r['machine_busy'] * 100:.0f}%"
    print(f"| {r['round']} | {r['pos']} | {r['queue']} | {r['scenario']} | {r['exit']} | {x.get('jobs_per_s', '—')} | "
          f"{x.get('seconds', '—')} | {x.get('pickup_p50_ms', '—')} | {x.get('pickup_p99_ms', '—')} | "
          f"{x.get('executed_more_than_once', '—')} | {busy} |")
print(f"\nReproduce: `{command}`")
