//! `pgkeel serve` recovery scenarios, automated (PostgREST kept these manual for years): the
//! server stops and returns, is missing at start, connections die, the pool is pinned, bad
//! credentials, a schema load that fails until fixed.

use std::time::Duration;

use nix::sys::signal::Signal;
use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;

use super::serve_support::{RunningServe, get};
use crate::common::wait_until;

fn cluster_with_app_schema() -> Cluster {
    let cluster = private_cluster().start().unwrap();
    cluster
        .admin_query(
            "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, name text); \
             INSERT INTO app.items VALUES (1, 'one'); \
             CREATE VIEW app.slow AS SELECT pg_sleep(2)::text AS slept, 1 AS x",
        )
        .unwrap();
    cluster
}

/// Waits until `n` backends are inside `pg_sleep` (app.slow is being read).
fn wait_sleeping(cluster: &Cluster, n: usize) {
    let sleeping = || {
        cluster
            .admin_query("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
            .unwrap()[0][0]
            .clone()
            .unwrap_or_default()
    };
    wait_until(
        &format!("{n} queries run pg_sleep"),
        || sleeping() == n.to_string(),
        || format!("{} do", sleeping()),
    );
}

fn stop_and_return(channel: bool) {
    let cluster = cluster_with_app_schema();
    let extra: &[&str] = if channel { &[] } else { &["--no-channel"] };
    let serve = RunningServe::start(&cluster.url(), extra);
    serve.wait_status("/ready", 200);
    let before = serve.generation();
    assert_eq!(
        serve.json("/schema")["schemas"],
        serde_json::json!(["public"])
    );
    // Changed in the database without telling serve, then an outage.
    cluster
        .admin_query("ALTER ROLE postgres SET pgkeel.schemas = 'app'")
        .unwrap();
    cluster.stop().unwrap();
    let body = serve.wait_status("/ready", 503);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        matches!(state["state"].as_str(), Some("recovering")),
        "{state}"
    );
    assert!(state["last_error"].is_string(), "{state}");
    let (_, head, _) = serve.get("/ready");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    assert_eq!(
        serve.get("/live").0,
        200,
        "alive while the database is away"
    );
    cluster.start().unwrap();
    serve.wait_status("/ready", 200);
    let schema = serve.json("/schema");
    assert!(schema["generation"].as_u64().unwrap() > before, "{schema}");
    assert_eq!(
        schema["schemas"],
        serde_json::json!(["app"]),
        "the role setting changed during the outage is in effect"
    );
    assert_eq!(schema["tables"][0]["name"], "items");
    assert_eq!(serve.stop(), Some(0));
}

#[test]
fn database_stops_and_returns_with_listener() {
    stop_and_return(true);
}

#[test]
fn database_stops_and_returns_without_listener() {
    stop_and_return(false);
}

fn missing_at_start(channel: bool) {
    let cluster = cluster_with_app_schema();
    let url = cluster.url();
    cluster.stop().unwrap();
    let extra: &[&str] = if channel {
        &["--schemas", "app"]
    } else {
        &["--schemas", "app", "--no-channel"]
    };
    let serve = RunningServe::start(&url, extra);
    let body = serve.wait_status("/ready", 503);
    assert!(body.contains("\"starting\""), "{body}");
    assert_eq!(serve.get("/live").0, 200);
    cluster.start().unwrap();
    serve.wait_status("/ready", 200);
    assert_eq!(serve.json("/rows/app/items")[0]["name"], "one");
}

#[test]
fn database_missing_at_start_with_listener() {
    missing_at_start(true);
}

#[test]
fn database_missing_at_start_without_listener() {
    missing_at_start(false);
}

#[test]
fn reloads_never_interrupt_a_running_query() {
    let cluster = cluster_with_app_schema();
    let serve = RunningServe::start(&cluster.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    let before = serve.generation();
    let admin = serve.admin.clone();
    let slow = std::thread::spawn(move || get(&admin, "/rows/app/slow"));
    wait_sleeping(&cluster, 1);
    serve.signal(Signal::SIGUSR1);
    cluster
        .admin_query("NOTIFY pgkeel, 'reload schema'")
        .unwrap();
    serve.wait_generation(before + 1);
    let (status, _, body) = slow.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"x\":1"), "{body}");
}

#[test]
fn many_reload_signals_during_an_outage_make_one_recovery() {
    let cluster = cluster_with_app_schema();
    let serve = RunningServe::start(&cluster.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    cluster.stop().unwrap();
    serve.wait_status("/ready", 503);
    for _ in 0..30 {
        serve.signal(Signal::SIGUSR1);
        // Spacing, not waiting for anything: signals sent back to back merge into one
        // pending signal, and this test wants many requests.
        std::thread::sleep(Duration::from_millis(10));
    }
    cluster.start().unwrap();
    serve.wait_status("/ready", 200);
    assert_eq!(
        serve.metric("pgkeel_conn_recoveries_total{pool=\"serve\"}"),
        1.0
    );
    assert_eq!(
        serve.metric("pgkeel_conn_losses_total{pool=\"serve\"}"),
        1.0
    );
}

#[test]
fn terminated_connections_are_replaced_and_the_request_says_so() {
    let cluster = cluster_with_app_schema();
    let serve = RunningServe::start(&cluster.url(), &["--schemas", "app", "--no-channel"]);
    serve.wait_status("/ready", 200);
    assert_eq!(serve.get("/rows/app/items").0, 200);
    cluster
        .admin_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'pgkeel serve' AND state = 'idle' AND pid <> pg_backend_pid()",
        )
        .unwrap();
    let (status, head, body) = serve.get("/rows/app/items");
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase()
            .contains("x-pgkeel-recovered: true"),
        "{head}"
    );
}

#[test]
fn a_pinned_pool_answers_with_the_acquire_timeout() {
    let cluster = cluster_with_app_schema();
    let serve = RunningServe::start(
        &cluster.url(),
        &[
            "--schemas",
            "app",
            "--pool-size",
            "1",
            "--acquire-timeout",
            "300ms",
        ],
    );
    serve.wait_status("/ready", 200);
    let admin = serve.admin.clone();
    let slow = std::thread::spawn(move || get(&admin, "/rows/app/slow"));
    // The only pooled connection is now held by the slow read.
    wait_sleeping(&cluster, 1);
    let (status, _, body) = serve.get("/rows/app/items");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no pooled connection became free"), "{body}");
    assert_eq!(slow.join().unwrap().0, 200);
}

fn fatal(url: &str, cause: &str) {
    let serve = RunningServe::start(url, &[]);
    let mut serve = serve;
    let status = wait_exit(&mut serve.child);
    assert_eq!(status, Some(1));
    let log = serve.log_text();
    assert!(log.contains(cause), "{log}");
    assert!(
        !log.contains("retry scheduled"),
        "a fatal error must not be retried: {log}"
    );
}

fn wait_exit(child: &mut std::process::Child) -> Option<i32> {
    let mut code = None;
    wait_until(
        "serve exits after a fatal error",
        || match child.try_wait().unwrap() {
            Some(status) => {
                code = status.code();
                true
            }
            None => false,
        },
        String::new,
    );
    code
}

#[test]
fn a_wrong_password_exits_1_with_the_cause() {
    let cluster = private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    fatal(
        &format!("postgres://app:wrong@127.0.0.1:{}/postgres", cluster.port()),
        "password authentication failed",
    );
}

#[test]
fn a_missing_database_exits_1_with_the_cause() {
    let cluster = private_cluster().start().unwrap();
    fatal(
        &cluster.url_for("no_such_db"),
        "database \"no_such_db\" does not exist",
    );
}

/// The schema load fails (an injected 57014 on its query, through the fault proxy — not a
/// statement timeout, which a fast machine can beat): serve stays not ready and retries;
/// once the fault is gone it is ready with the schema.
#[test]
fn a_failing_schema_load_is_retried_until_fixed() {
    let cluster = cluster_with_app_schema();
    let proxy =
        super::proxy_support::RunningProxy::start(&format!("127.0.0.1:{}", cluster.port()), &[]);
    proxy.rules(r#"conn.onParse(query="schema cache").error(code="57014")"#);
    let serve = RunningServe::start(&proxy.url(), &["--schemas", "app"]);
    wait_until(
        "three failed schema loads",
        || {
            let (status, _, body) = serve.get("/ready");
            assert_eq!(
                status, 503,
                "ready although every schema load fails: {body}"
            );
            let state: serde_json::Value = serde_json::from_str(&body).unwrap();
            if state["attempt"].as_u64().unwrap_or(0) < 3 {
                return false;
            }
            assert!(
                state["last_error"].as_str().unwrap().contains("57014"),
                "{state}"
            );
            true
        },
        || serve.detail("/ready"),
    );
    assert!(serve.metric("pgkeel_conn_attempt_failures_total{pool=\"serve\"}") >= 3.0);
    proxy.rules("");
    serve.wait_status("/ready", 200);
    assert_eq!(serve.json("/schema")["tables"][0]["name"], "items");
}
