//! `pgkeel work migrate`, `status` and `bench` as a user runs them, against a database of
//! their own on the shared cluster.

use std::collections::BTreeSet;
use std::process::Output;

use pgkeel_embedded::harness::TestDatabase;
use serde_json::Value;

use crate::common::{pgkeel, psql};

fn work(url: &str, args: &[&str]) -> Output {
    pgkeel()
        .arg("work")
        .args(args)
        .env("DATABASE_URL", url)
        .output()
        .unwrap()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(ok_stdout(out).trim()).unwrap()
}

#[test]
fn work_cmd_migrate_then_status_shows_sessions_work_backoffs_history_and_queues() {
    let db = TestDatabase::new();
    let url = db.url();
    let newest = pgkeel_work::migrate::MIGRATIONS.last().unwrap().0;

    let before = work(&url, &["status", "--json"]);
    assert_eq!(before.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&before.stderr);
    assert!(stderr.contains("pgkeel work migrate"), "{stderr}");

    let first = ok_stdout(&work(&url, &["migrate", "--database-url", &url]));
    assert!(first.contains(&format!("version {newest}")), "{first}");
    assert!(first.contains("applied 1 (init)"), "{first}");
    let again = json(&work(&url, &["migrate", "--json"]));
    assert_eq!(again["version"], newest);
    assert_eq!(again["applied"], serde_json::json!([]));

    psql(
        &url,
        "INSERT INTO pgkeel_work.sessions (component, interval_ms, deadline) VALUES \
           ('alive', 1000, now() + interval '1 hour'), ('dead', 1000, now() - interval '1 minute'); \
         INSERT INTO pgkeel_work.work (target, process, session_id) \
           SELECT 'machine-1', 'install', id FROM pgkeel_work.sessions WHERE component = 'alive'; \
         INSERT INTO pgkeel_work.backoffs (target, process, cause, until, last_interval_s) VALUES \
           ('machine-2', 'install', 'disk full', now() + interval '10 minutes', 60); \
         INSERT INTO pgkeel_work.history (target, process, event, cause) \
           SELECT 'machine-' || n, 'install', 'failed', 'cause ' || n FROM generate_series(1, 25) n; \
         INSERT INTO pgkeel_work.jobs (queue, kind, run_at, state) VALUES \
           ('mail', 'send', now() - interval '5 minutes', 'available'), \
           ('mail', 'send', now(), 'available'), \
           ('mail', 'send', now() + interval '1 hour', 'available'), \
           ('mail', 'send', now(), 'quarantined')",
    );
    let status = json(&work(&url, &["status", "--json"]));
    assert_eq!(status["schema_version"], newest);
    let sessions: Vec<(String, bool)> = status["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["component"].as_str().unwrap().to_owned(),
                s["alive"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sessions,
        [("alive".to_owned(), true), ("dead".to_owned(), false)]
    );
    assert_eq!(status["work"][0]["target"], "machine-1");
    assert_eq!(status["work"][0]["process"], "install");
    assert_eq!(status["backoffs"][0]["cause"], "disk full");
    assert_eq!(status["backoffs"][0]["active"], true);
    let history = status["history"].as_array().unwrap();
    assert_eq!(history.len(), 20);
    assert_eq!(history[0]["cause"], "cause 25", "newest first");
    let queues = status["queues"].as_array().unwrap();
    assert_eq!(queues.len(), 2, "{queues:?}");
    let available = &queues[0];
    assert_eq!(
        (&available["queue"], &available["state"]),
        (&Value::from("mail"), &Value::from("available"))
    );
    assert_eq!(
        (&available["jobs"], &available["scheduled"]),
        (&Value::from(3), &Value::from(1))
    );
    assert!(available["oldest_due_age_s"].as_f64().unwrap() >= 300.0);
    assert_eq!(queues[1]["state"], "quarantined");
    assert_eq!(queues[1]["oldest_due_age_s"], Value::Null);

    let text = ok_stdout(&work(&url, &["status"]));
    for expected in [
        "sessions (2)",
        "machine-1",
        "disk full",
        "job queue (2)",
        "quarantined",
    ] {
        assert!(text.contains(expected), "{expected:?} missing in:\n{text}");
    }
}

#[test]
fn work_cmd_bench_reports_its_keys_and_cleans_up() {
    let db = TestDatabase::new();
    let url = db.url();
    let keys: BTreeSet<&str> = [
        "jobs",
        "workers",
        "seconds",
        "jobs_per_s",
        "pickup_p50_ms",
        "pickup_p99_ms",
        "executed_more_than_once",
    ]
    .into();
    let drained = json(&work(
        &url,
        &[
            "bench",
            "--jobs",
            "300",
            "--workers",
            "2",
            "--batch",
            "20",
            "--json",
        ],
    ));
    let got: BTreeSet<&str> = drained
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(got, keys);
    assert_eq!(
        (&drained["jobs"], &drained["workers"]),
        (&Value::from(300), &Value::from(2))
    );
    assert_eq!(drained["executed_more_than_once"], 0);
    assert!(drained["jobs_per_s"].as_f64().unwrap() > 0.0);

    let steady = json(&work(
        &url,
        &[
            "bench",
            "--rate",
            "40",
            "--seconds",
            "1",
            "--workers",
            "1",
            "--json",
        ],
    ));
    assert_eq!(steady["jobs"], 40);
    assert_eq!(steady["executed_more_than_once"], 0);
    assert!(steady["pickup_p99_ms"].as_f64().unwrap() > 0.0);

    let left = psql(
        &url,
        "SELECT (SELECT count(*) FROM pgkeel_work.jobs) + (SELECT count(*) FROM pgkeel_work.sessions)",
    );
    assert_eq!(left, "0");
}
