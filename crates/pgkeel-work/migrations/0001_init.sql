-- pgkeel-work schema, version 1: sessions, exclusive work, backoffs, history, jobs.
-- Applied by pgkeel_work::migrate inside one transaction under an advisory lock.

CREATE TABLE pgkeel_work.sessions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    component     text        NOT NULL,
    runtime_info  jsonb       NOT NULL DEFAULT '{}',
    interval_ms   integer     NOT NULL CHECK (interval_ms > 0),
    deadline      timestamptz NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_deadline ON pgkeel_work.sessions (deadline);

-- Work on a target by a process, exclusive: at most one row per (target, process).
CREATE TABLE pgkeel_work.work (
    target      text        NOT NULL,
    process     text        NOT NULL,
    session_id  bigint      NOT NULL REFERENCES pgkeel_work.sessions (id) ON DELETE CASCADE,
    started_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (target, process)
);
CREATE INDEX work_session ON pgkeel_work.work (session_id);

-- The last failure of a (target, process) and until when it backs off.
CREATE TABLE pgkeel_work.backoffs (
    target           text        NOT NULL,
    process          text        NOT NULL,
    cause            text        NOT NULL,
    until            timestamptz NOT NULL,
    last_interval_s  bigint      NOT NULL CHECK (last_interval_s >= 1),
    PRIMARY KEY (target, process)
);

CREATE TABLE pgkeel_work.history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target      text        NOT NULL,
    process     text        NOT NULL,
    session_id  bigint,
    event       text        NOT NULL CHECK (event IN ('started', 'finished', 'failed', 'canceled')),
    cause       text,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_at ON pgkeel_work.history (at);
CREATE INDEX history_target ON pgkeel_work.history (target, process, at);

-- The job queue. Completed jobs are deleted; failed ones wait for their retry (run_at) or are
-- quarantined after max_attempts; running ones name the session that holds them.
CREATE TABLE pgkeel_work.jobs (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue         text        NOT NULL DEFAULT 'default',
    kind          text        NOT NULL,
    payload       jsonb       NOT NULL DEFAULT '{}',
    priority      smallint    NOT NULL DEFAULT 0,
    run_at        timestamptz NOT NULL DEFAULT now(),
    state         text        NOT NULL DEFAULT 'available'
                  CHECK (state IN ('available', 'running', 'quarantined')),
    attempts      integer     NOT NULL DEFAULT 0,
    max_attempts  integer     NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
    unique_key    text,
    locked_by     bigint,
    locked_at     timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- Claim order: higher priority first, then earlier run_at, then id.
CREATE INDEX jobs_claim ON pgkeel_work.jobs (queue, priority DESC, run_at, id) WHERE state = 'available';
CREATE UNIQUE INDEX jobs_unique ON pgkeel_work.jobs (queue, unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running');
CREATE INDEX jobs_running ON pgkeel_work.jobs (locked_by) WHERE state = 'running';
