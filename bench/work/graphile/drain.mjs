// bench/work/graphile/drain.mjs — graphile-worker peer of `pgkeel work bench`: migrate, enqueue
// N no-op jobs in one batch, drain them with a worker pool, print one JSON line with the same keys
// as pgkeel (jobs, workers, seconds, jobs_per_s, pickup_p50_ms, pickup_p99_ms,
// executed_more_than_once). With --rate R --seconds S: enqueue R jobs/s one at a time while the
// pool runs and report the pickup latency. See bench/work/README.md.
//
//   node drain.mjs --database-url URL --jobs 20000 --workers 4 [--lib graphile-worker-latest]
//   node drain.mjs --database-url URL --rate 100 --seconds 20 --workers 4
//
// Settings (defaults = the "Performance" page of the graphile-worker docs): --concurrency 24,
// --pool-size concurrency+1, --local-queue 500 (0.17+ only), --batch-delay 0
// (completeJobBatchDelay/failJobBatchDelay, 0.17+ only), --poll-interval 2000 (the default;
// new jobs are announced by LISTEN/NOTIFY), prepared statements on, --processes 1 (Node
// processes, each a worker pool with that concurrency).
import { fork } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_DIR = process.env.WORK_NODE_DIR || path.join(HERE, "..", "node");
const now = () => performance.timeOrigin + performance.now(); // wall clock, ms, sub-ms precision

function parseArgs(argv) {
  const o = {
    databaseUrl: process.env.DATABASE_URL, jobs: 20000, workers: 4, rate: 0, seconds: 0,
    lib: "graphile-worker-latest", concurrency: 24, poolSize: 0, localQueue: 500, batchDelay: 0,
    pollInterval: 2000, processes: 1, schema: "graphile_worker", child: false, timeout: 600,
  };
  const names = {
    "--database-url": ["databaseUrl", String], "--jobs": ["jobs", Number], "--workers": ["workers", Number],
    "--rate": ["rate", Number], "--seconds": ["seconds", Number], "--lib": ["lib", String],
    "--concurrency": ["concurrency", Number], "--pool-size": ["poolSize", Number],
    "--local-queue": ["localQueue", Number], "--batch-delay": ["batchDelay", Number],
    "--poll-interval": ["pollInterval", Number], "--processes": ["processes", Number],
    "--schema": ["schema", String], "--timeout": ["timeout", Number],
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--json") continue; // always JSON; accepted for symmetry with pgkeel
    if (a === "--child") { o.child = true; continue; }
    const spec = names[a];
    if (!spec || i + 1 >= argv.length) throw new Error(`unknown or incomplete argument ${a}`);
    o[spec[0]] = spec[1](argv[++i]);
    if (spec[1] === Number && !Number.isFinite(o[spec[0]])) throw new Error(`${a} needs a number`);
  }
  if (!o.databaseUrl) throw new Error("--database-url (or DATABASE_URL) is required");
  if (!o.poolSize) o.poolSize = o.concurrency + 1;
  return o;
}

async function loadLib(name) {
  const req = createRequire(path.join(NODE_DIR, "package.json"));
  const file = req.resolve(name);
  const m = await import(pathToFileURL(file).href);
  const gw = typeof m.run === "function" ? m : m.default;
  const pkg = JSON.parse(
    (await import("node:fs")).readFileSync(path.join(NODE_DIR, "node_modules", name, "package.json"), "utf8"),
  );
  return { gw, version: pkg.version };
}

// Only warnings and errors; graphile-worker logs every job at info otherwise.
function quietLogger(gw) {
  return new gw.Logger(() => (level, message) => {
    if (level === "error" || level === "warning") process.stderr.write(`[graphile ${level}] ${message}\n`);
  });
}

function workerPreset(o, major17) {
  const worker = {
    connectionString: o.databaseUrl, schema: o.schema, concurrentJobs: o.concurrency,
    maxPoolSize: o.poolSize, pollInterval: o.pollInterval, preparedStatements: true,
    fileExtensions: [".js", ".cjs", ".mjs"], taskDirectory: path.join(HERE, "no-tasks"),
    crontabFile: path.join(HERE, "no-crontab"),
  };
  if (major17) {
    if (o.localQueue > 0) worker.localQueue = { size: o.localQueue };
    if (o.batchDelay >= 0) {
      worker.completeJobBatchDelay = o.batchDelay;
      worker.failJobBatchDelay = o.batchDelay;
    }
  }
  return { worker };
}

const isAtLeast017 = (v) => { const [a, b] = v.split(".").map(Number); return a > 0 || b >= 17; };

// ------------------------------------------------------------------------------------ child
// A worker pool. Records, per job: id, start, end, pickup from run_at, pickup from the
// producer's enqueue call (payload.t). Reports progress to the parent once per event-loop turn.
async function child(o) {
  const { gw, version } = await loadLib(o.lib);
  const seen = new Map();
  const starts = [], ends = [], pickRunAt = [], pickEnq = [];
  let done = 0, flushScheduled = false;
  const flush = () => { flushScheduled = false; process.send({ type: "progress", done }); };
  const runner = await gw.run({
    preset: workerPreset(o, isAtLeast017(version)),
    logger: quietLogger(gw),
    noHandleSignals: true,
    taskList: {
      noop: async (payload, helpers) => {
        const t = now();
        const job = helpers.job;
        seen.set(job.id, (seen.get(job.id) || 0) + 1);
        starts.push(t);
        pickRunAt.push(t - new Date(job.run_at).getTime());
        if (payload && typeof payload.t === "number") pickEnq.push(t - payload.t);
        ends.push(now());
        done++;
        if (!flushScheduled) { flushScheduled = true; setImmediate(flush); }
      },
    },
  });
  process.send({ type: "ready" });
  await new Promise((resolve) => process.on("message", (m) => m && m.type === "stop" && resolve()));
  const tStop = now();
  await runner.stop(); // graceful: flushes batched completions
  const stopped = now();
  const dup = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  process.send({
    type: "result", starts, ends, pickRunAt, pickEnq, ids: [...seen.keys()], dup,
    stop_ms: stopped - tStop,
  }, () => process.disconnect());
}

// ------------------------------------------------------------------------------------ parent
function quantile(sorted, q) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}
const r3 = (x) => (x == null ? null : Math.round(x * 1000) / 1000);

async function parent(o) {
  const { gw, version } = await loadLib(o.lib);
  const major17 = isAtLeast017(version);
  const utils = await gw.makeWorkerUtils({
    connectionString: o.databaseUrl, schema: o.schema, logger: quietLogger(gw),
  });
  await utils.migrate();

  let enqueueSeconds = null;
  if (!o.rate) {
    const t0 = now();
    const tEnq = Date.now();
    const specs = Array.from({ length: o.jobs }, (_, i) => ({ i, t: tEnq }));
    if (typeof utils.addJobs === "function") {
      // 0.17+: the library's batch API (one add_jobs call).
      await utils.addJobs(specs.map((p) => ({ identifier: "noop", payload: p })));
    } else {
      // 0.16: the documented add_jobs SQL function with one array of job_spec.
      await utils.withPgClient((c) =>
        c.query(
          `select count(*) from "${o.schema}".add_jobs(array(
             select row('noop', p, null, null, null, null, null, null)::"${o.schema}".job_spec
             from json_array_elements($1::json) p))`,
          [JSON.stringify(specs)],
        ),
      );
    }
    enqueueSeconds = (now() - t0) / 1000;
  }

  // Start the pools.
  const children = [];
  let total = 0;
  const doneBy = new Array(o.processes).fill(0);
  let allDone = null;
  const allDonePromise = new Promise((r) => (allDone = r));
  let expected = o.rate ? Infinity : o.jobs;
  for (let p = 0; p < o.processes; p++) {
    const c = fork(fileURLToPath(import.meta.url), [...process.argv.slice(2), "--child"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const ready = new Promise((res, rej) => {
      c.on("message", (m) => {
        if (m.type === "ready") res();
        else if (m.type === "progress") {
          doneBy[p] = m.done;
          total = doneBy.reduce((a, b) => a + b, 0);
          if (total >= expected) allDone();
        } else if (m.type === "result") c.result = m;
      });
      c.on("exit", (code) => { c.exited = true; if (code) rej(new Error(`worker process exited with ${code}`)); });
    });
    c.ready = ready;
    children.push(c);
  }
  await Promise.all(children.map((c) => c.ready));

  let enqueued = 0, enqueueLagMax = 0;
  if (o.rate) {
    // One job at a time at R jobs/s (each addJob is its own transaction), for S seconds.
    const n = Math.round(o.rate * o.seconds);
    const t0 = now();
    for (let i = 0; i < n; i++) {
      const due = t0 + (i * 1000) / o.rate;
      const wait = due - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      else enqueueLagMax = Math.max(enqueueLagMax, -wait);
      await utils.addJob("noop", { i, t: now() });
      enqueued++;
    }
    expected = enqueued;
    if (total >= expected) allDone();
  }
  const timer = setTimeout(() => allDone("timeout"), o.timeout * 1000);
  const outcome = await allDonePromise;
  clearTimeout(timer);

  for (const c of children) c.send({ type: "stop" });
  await Promise.all(children.map((c) => (c.exited ? null : new Promise((r) => c.on("exit", r)))));
  const results = children.map((c) => c.result).filter(Boolean);
  const remaining = await utils.withPgClient((c) =>
    c.query(`select count(*)::int as n from "${o.schema}"._private_jobs`),
  ).then((r) => r.rows[0].n).catch(() => null);
  await utils.release();

  const cat = (k) => results.flatMap((r) => r[k]);
  const starts = cat("starts"), ends = cat("ends");
  const counts = new Map();
  for (const r of results) for (const id of r.ids) counts.set(id, (counts.get(id) || 0) + 1);
  const dupAcross = [...counts.values()].filter((n) => n > 1).length;
  const dupWithin = results.reduce((a, r) => a + r.dup.length, 0);
  const executed = starts.length;
  const first = Math.min(...starts), last = Math.max(...ends);
  const seconds = (last - first) / 1000;
  const pr = cat("pickRunAt").sort((a, b) => a - b);
  const pe = cat("pickEnq").sort((a, b) => a - b);
  const out = {
    jobs: o.rate ? enqueued : o.jobs,
    workers: o.workers,
    seconds: r3(seconds),
    jobs_per_s: Math.round(executed / seconds),
    pickup_p50_ms: r3(quantile(pr, 0.5)),
    pickup_p99_ms: r3(quantile(pr, 0.99)),
    executed_more_than_once: dupAcross + dupWithin,
    // extras (not in pgkeel's output)
    peer: "graphile-worker", version, mode: o.rate ? "rate" : "drain",
    rate: o.rate || undefined, rate_seconds: o.rate ? o.seconds : undefined,
    executed, distinct_jobs: counts.size, jobs_left_in_table: remaining, timed_out: outcome === "timeout",
    pickup_from_enqueue_p50_ms: r3(quantile(pe, 0.5)), pickup_from_enqueue_p99_ms: r3(quantile(pe, 0.99)),
    pickup_max_ms: r3(pr[pr.length - 1]),
    enqueue_seconds: enqueueSeconds == null ? undefined : r3(enqueueSeconds),
    enqueue_late_max_ms: o.rate ? r3(enqueueLagMax) : undefined,
    stop_seconds: r3(Math.max(...results.map((r) => r.stop_ms)) / 1000),
    settings: {
      processes: o.processes, concurrentJobs: o.concurrency, maxPoolSize: o.poolSize,
      localQueue: major17 && o.localQueue > 0 ? o.localQueue : "n/a",
      completeJobBatchDelay: major17 ? o.batchDelay : "n/a", pollInterval: o.pollInterval,
      preparedStatements: true,
    },
  };
  console.log(JSON.stringify(out));
  if (outcome === "timeout" || executed < out.jobs) process.exitCode = 2;
}

const opts = parseArgs(process.argv.slice(2));
(opts.child ? child(opts) : parent(opts)).catch((e) => {
  console.error(`drain.mjs: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
