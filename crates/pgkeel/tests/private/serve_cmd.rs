//! `pgkeel serve` recovery scenarios, automated (PostgREST kept these manual for years): the
//! server stops and returns, is missing at start, connections die, the pool is pinned, bad
//! credentials, a schema load that fails until fixed.

use std::time::Duration;

use nix::sys::signal::Signal;
use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;

use super::serve_support::{LIVENESS, RunningServe};

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
    let slow = std::thread::spawn(move || {
        let probe = RunningServeRef { admin };
        probe.get("/rows/app/slow")
    });
    std::thread::sleep(Duration::from_millis(300));
    serve.signal(Signal::SIGUSR1);
    cluster
        .admin_query("NOTIFY pgkeel, 'reload schema'")
        .unwrap();
    serve.wait_generation(before + 1);
    let (status, _, body) = slow.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"x\":1"), "{body}");
}

/// A second handle on the admin address for another thread.
struct RunningServeRef {
    admin: String,
}

impl RunningServeRef {
    fn get(&self, path: &str) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.admin).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        (
            head.split_whitespace().nth(1).unwrap().parse().unwrap(),
            head.to_owned(),
            body.to_owned(),
        )
    }
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
    let slow = std::thread::spawn(move || RunningServeRef { admin }.get("/rows/app/slow"));
    std::thread::sleep(Duration::from_millis(500));
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
    let deadline = std::time::Instant::now() + LIVENESS;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve kept running after a fatal error"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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

#[test]
fn a_failing_schema_load_is_retried_until_fixed() {
    let cluster = cluster_with_app_schema();
    cluster
        .admin_query("CREATE ROLE serve_app LOGIN; GRANT USAGE ON SCHEMA app TO serve_app; ALTER ROLE serve_app SET statement_timeout = '1ms'")
        .unwrap();
    let url = format!("postgres://serve_app@127.0.0.1:{}/postgres", cluster.port());
    let serve = RunningServe::start(&url, &["--schemas", "app"]);
    let deadline = std::time::Instant::now() + LIVENESS;
    loop {
        let (status, _, body) = serve.get("/ready");
        assert_eq!(
            status, 503,
            "ready although every schema load times out: {body}"
        );
        let state: serde_json::Value = serde_json::from_str(&body).unwrap();
        if state["attempt"].as_u64().unwrap_or(0) >= 3 {
            assert!(
                state["last_error"].as_str().unwrap().contains("57014")
                    || state["last_error"].as_str().unwrap().contains("timeout"),
                "{state}"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no retries: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(serve.metric("pgkeel_conn_attempt_failures_total{pool=\"serve\"}") >= 3.0);
    cluster
        .admin_query("ALTER ROLE serve_app RESET statement_timeout")
        .unwrap();
    serve.wait_status("/ready", 200);
    assert_eq!(serve.json("/schema")["tables"][0]["name"], "items");
}
