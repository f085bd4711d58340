//! `pgkeel serve` under faults that need the listener or the proxy: its listening connection
//! killed, a stalled link, a reload request that arrives while a reload runs.

use nix::sys::signal::Signal;
use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;

use super::proxy_support::RunningProxy;
use super::serve_support::RunningServe;
use crate::common::wait_until;

fn cluster() -> Cluster {
    let cluster = private_cluster().start().unwrap();
    cluster
        .admin_query("CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY)")
        .unwrap();
    cluster
}

#[test]
fn notify_requests_a_reload() {
    let cluster = cluster();
    let serve = RunningServe::start(&cluster.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    // The first LISTEN reloads once too; wait until that is over.
    let before = serve.wait_first_listen_reload();
    cluster
        .admin_query("CREATE TABLE app.added (x int); NOTIFY pgkeel, 'reload schema'")
        .unwrap();
    let schema = serve.wait_generation(before + 1);
    let names: Vec<&str> = schema["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"added"), "{schema}");
}

#[test]
fn a_killed_listener_connection_relistens_with_a_gap_and_notify_still_works() {
    let cluster = cluster();
    let serve = RunningServe::start(&cluster.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    // Listening, and its first reload over.
    let settled = serve.wait_first_listen_reload();
    let killed = cluster
        .admin_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgkeel serve (listener)'")
        .unwrap();
    assert_eq!(killed.len(), 1, "the listener connection was not found");
    wait_until(
        "a gap after the listener was killed",
        || serve.metric("pgkeel_serve_channel_gaps_total") >= 1.0,
        || serve.log_text(),
    );
    // The gap makes one reload (notifications may have been missed); wait until it is over.
    let before = serve.wait_generation(settled + 1)["generation"]
        .as_u64()
        .unwrap();
    cluster
        .admin_query("CREATE TABLE app.after_gap (x int); NOTIFY pgkeel, 'reload schema'")
        .unwrap();
    let schema = serve.wait_generation(before + 1);
    assert!(schema.to_string().contains("after_gap"), "{schema}");
    assert!(
        serve.get("/ready").0 == 200,
        "the pool was not affected by the listener's loss"
    );
}

#[test]
fn a_stalled_link_is_noticed_by_the_keepalive_and_allow_recovers() {
    let cluster = cluster();
    let proxy = RunningProxy::start(&format!("127.0.0.1:{}", cluster.port()), &[]);
    let serve = RunningServe::start(&proxy.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    proxy.rules("conn.stall()");
    let body = serve.wait_status("/ready", 503);
    let state: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(state["state"], "recovering", "{state}");
    assert!(
        serve.log_text().contains("no answer within 500ms"),
        "the loss was not found by the keepalive probe:\n{}",
        serve.log_text()
    );
    proxy.rules("conn.allow()");
    let ready: serde_json::Value = serde_json::from_str(&serve.wait_status("/ready", 200)).unwrap();
    assert_eq!(ready["epoch"], 2, "{ready}");
}

#[test]
fn a_notify_arriving_during_a_reload_is_not_lost() {
    let cluster = cluster();
    let proxy = RunningProxy::start(&format!("127.0.0.1:{}", cluster.port()), &[]);
    let serve = RunningServe::start(&proxy.url(), &["--schemas", "app"]);
    serve.wait_status("/ready", 200);
    let before = serve.wait_first_listen_reload();
    // The next schema load is held for a second at the proxy.
    proxy.rules(r#"conn.onParse(query="pgkeel: schema cache").times(1).delay(1000)"#);
    serve.signal(Signal::SIGUSR1);
    let fired = proxy.fault(&["--wait-fired", "10s"]);
    assert!(fired.status.success(), "the slow reload never started");
    // While that reload runs, a table appears and a reload is requested.
    cluster
        .admin_query("CREATE TABLE app.late (x int); NOTIFY pgkeel, 'reload schema'")
        .unwrap();
    let schema = serve.wait_generation(before + 2);
    assert!(
        schema.to_string().contains("\"late\""),
        "the change made during the reload was lost: {schema}"
    );
}
