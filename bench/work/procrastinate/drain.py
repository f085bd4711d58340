"""bench/work/procrastinate/drain.py — procrastinate peer of `pgkeel work bench`.

Applies procrastinate's schema, defers N no-op jobs in one batch (`Task.batch_defer_async`),
drains them with a worker (async task, `concurrency`), and prints one JSON line with the same
keys as pgkeel (jobs, workers, seconds, jobs_per_s, pickup_p50_ms, pickup_p99_ms,
executed_more_than_once). With --rate R --seconds S: defers R jobs/s one at a time while the
worker runs and reports the pickup latency. See bench/work/README.md.

    python drain.py --database-url URL --jobs 20000 --workers 4
    python drain.py --database-url URL --rate 100 --seconds 20 --workers 4

Settings (defaults): --concurrency 30 (the example of the docs' "Execute multiple jobs at the
same time"), --processes 1 (worker processes; the same page's other way to scale), listen_notify
on, --polling-interval 5 (procrastinate's default; with LISTEN/NOTIFY it is only a fallback),
delete_jobs "never" (the default), pool size concurrency + 2, psycopg 3 connector.

Pickup latency = the moment the task function starts (time.time()) minus the job's `deferred`
event timestamp (the row procrastinate writes with now() when the job is inserted: its
created_at), read from procrastinate_events after the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time

import procrastinate
from importlib.metadata import version as pkg_version


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--jobs", type=int, default=20000)
    p.add_argument("--workers", type=int, default=4, help="recorded in the output (pgkeel's knob)")
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--seconds", type=float, default=0)
    p.add_argument("--concurrency", type=int, default=30)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--polling-interval", type=float, default=5.0)
    p.add_argument("--delete-jobs", default="never", choices=["never", "successful", "always"])
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--json", action="store_true", help="always JSON; accepted for symmetry")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    o = p.parse_args(argv)
    if not o.database_url:
        p.error("--database-url (or DATABASE_URL) is required")
    return o


def make_app(o: argparse.Namespace, pool_size: int) -> tuple[procrastinate.App, procrastinate.tasks.Task, dict]:
    state: dict = {"seen": {}, "starts": [], "ends": [], "pick_enq": [], "done": 0, "on_done": None}
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(
            conninfo=o.database_url, min_size=pool_size, max_size=pool_size
        )
    )

    @app.task(name="noop", pass_context=True)
    async def noop(context, i: int, t: float) -> None:
        start = time.time()
        jid = context.job.id
        state["seen"][jid] = state["seen"].get(jid, 0) + 1
        state["starts"].append((jid, start))
        state["pick_enq"].append(start - t)
        state["ends"].append(time.time())
        state["done"] += 1
        if state["on_done"]:
            state["on_done"]()

    return app, noop, state


def quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    i = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[i]


def r3(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


# ----------------------------------------------------------------------------- child
async def child(o: argparse.Namespace) -> None:
    """A worker process: runs the worker until 'stop' arrives on stdin, reports on stdout."""
    app, _noop, state = make_app(o, o.concurrency + 2)
    loop = asyncio.get_running_loop()
    flush_scheduled = False

    def flush() -> None:
        nonlocal flush_scheduled
        flush_scheduled = False
        sys.stdout.write(f"progress {state['done']}\n")
        sys.stdout.flush()

    def on_done() -> None:
        nonlocal flush_scheduled
        if not flush_scheduled:
            flush_scheduled = True
            loop.call_soon(flush)

    state["on_done"] = on_done
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                concurrency=o.concurrency,
                wait=True,
                listen_notify=True,
                fetch_job_polling_interval=o.polling_interval,
                delete_jobs=o.delete_jobs,
                install_signal_handlers=False,
            )
        )
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"stop":
                break
        t_stop = time.time()
        worker.cancel()  # graceful: procrastinate sets its stop event and waits for running jobs
        try:
            await worker
        except asyncio.CancelledError:
            pass
        stop_s = time.time() - t_stop
    dup = [jid for jid, n in state["seen"].items() if n > 1]
    sys.stdout.write(
        "result "
        + json.dumps(
            {
                "starts": state["starts"],
                "ends": state["ends"],
                "pick_enq": state["pick_enq"],
                "ids": list(state["seen"].keys()),
                "dup": dup,
                "stop_s": stop_s,
            }
        )
        + "\n"
    )
    sys.stdout.flush()


# ----------------------------------------------------------------------------- parent
async def parent(o: argparse.Namespace) -> int:
    app, noop, _state = make_app(o, 2)
    async with app.open_async():
        # Apply the schema (idempotence: a fresh database per run is expected).
        async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(
                "select count(*) from pg_tables where tablename = 'procrastinate_jobs'"
            )
            exists = (await cur.fetchone())[0]
        if not exists:
            await app.schema_manager.apply_schema_async()

        enqueue_seconds = None
        if not o.rate:
            t0 = time.time()
            await noop.batch_defer_async(*({"i": i, "t": t0} for i in range(o.jobs)))
            enqueue_seconds = time.time() - t0

        # Start the worker processes.
        procs = []
        for _ in range(o.processes):
            proc = await asyncio.create_subprocess_exec(
                sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--child",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 30,
            )
            procs.append(proc)
        done_by = [0] * len(procs)
        results: list[dict | None] = [None] * len(procs)
        expected = [math.inf if o.rate else o.jobs]
        all_done = asyncio.Event()
        ready = [asyncio.Event() for _ in procs]

        async def read(k: int) -> None:
            assert procs[k].stdout is not None
            while True:
                line = await procs[k].stdout.readline()
                if not line:
                    return
                word, _, rest = line.decode().rstrip("\n").partition(" ")
                if word == "ready":
                    ready[k].set()
                elif word == "progress":
                    done_by[k] = int(rest)
                    if sum(done_by) >= expected[0]:
                        all_done.set()
                elif word == "result":
                    results[k] = json.loads(rest)

        readers = [asyncio.create_task(read(k)) for k in range(len(procs))]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 60)

        enqueued, late_max = 0, 0.0
        if o.rate:
            n = round(o.rate * o.seconds)
            t0 = time.monotonic()
            for i in range(n):
                wait = t0 + i / o.rate - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    late_max = max(late_max, -wait)
                await noop.defer_async(i=i, t=time.time())
                enqueued += 1
            expected[0] = enqueued
            if sum(done_by) >= expected[0]:
                all_done.set()
        timed_out = False
        try:
            await asyncio.wait_for(all_done.wait(), o.timeout)
        except asyncio.TimeoutError:
            timed_out = True
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"stop\n")
            await proc.stdin.drain()
        await asyncio.gather(*readers)
        codes = [await proc.wait() for proc in procs]

        # created_at of every job: its 'deferred' event; what is left to do.
        async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            cur = await conn.execute(
                "select job_id, extract(epoch from at)::float8 from procrastinate_events where type = 'deferred'"
            )
            deferred_at = dict(await cur.fetchall())
            cur = await conn.execute(
                "select count(*) from procrastinate_jobs where status in ('todo', 'doing')"
            )
            left = (await cur.fetchone())[0]

    res = [r for r in results if r]
    starts = [s for r in res for s in r["starts"]]
    ends = [e for r in res for e in r["ends"]]
    counts: dict[int, int] = {}
    for r in res:
        for jid in r["ids"]:
            counts[jid] = counts.get(jid, 0) + 1
    duplicates = sum(1 for n in counts.values() if n > 1) + sum(len(r["dup"]) for r in res)
    executed = len(starts)
    seconds = (max(ends) - min(s for _, s in starts)) if starts else math.nan
    pick = sorted((s - deferred_at[jid]) * 1000 for jid, s in starts if jid in deferred_at)
    pick_enq = sorted(x * 1000 for r in res for x in r["pick_enq"])
    out = {
        "jobs": enqueued if o.rate else o.jobs,
        "workers": o.workers,
        "seconds": r3(seconds),
        "jobs_per_s": round(executed / seconds) if executed else 0,
        "pickup_p50_ms": r3(quantile(pick, 0.5)),
        "pickup_p99_ms": r3(quantile(pick, 0.99)),
        "executed_more_than_once": duplicates,
        # extras (not in pgkeel's output)
        "peer": "procrastinate",
        "version": pkg_version("procrastinate"),
        "psycopg": pkg_version("psycopg"),
        "mode": "rate" if o.rate else "drain",
        "executed": executed,
        "distinct_jobs": len(counts),
        "jobs_left_in_table": left,
        "timed_out": timed_out,
        "pickup_from_enqueue_p50_ms": r3(quantile(pick_enq, 0.5)),
        "pickup_from_enqueue_p99_ms": r3(quantile(pick_enq, 0.99)),
        "pickup_max_ms": r3(pick[-1] if pick else None),
        "stop_seconds": r3(max((r["stop_s"] for r in res), default=None)),
        "settings": {
            "processes": o.processes,
            "concurrency": o.concurrency,
            "pool_size": o.concurrency + 2,
            "listen_notify": True,
            "fetch_job_polling_interval": o.polling_interval,
            "delete_jobs": o.delete_jobs,
        },
    }
    if o.rate:
        out.update(rate=o.rate, rate_seconds=o.seconds, enqueue_late_max_ms=r3(late_max * 1000))
    else:
        out["enqueue_seconds"] = r3(enqueue_seconds)
    print(json.dumps(out), flush=True)
    return 2 if timed_out or executed < out["jobs"] or any(codes) else 0


def main() -> None:
    o = parse_args(sys.argv[1:])
    if o.child:
        asyncio.run(child(o))
    else:
        sys.exit(asyncio.run(parent(o)))


if __name__ == "__main__":
    main()
