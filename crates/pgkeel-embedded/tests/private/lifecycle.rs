//! stop/start/restart/kill keep data and port; two clusters run side by side.

use pgkeel_embedded::harness::private_cluster;
use pgkeel_embedded::{Error, Shutdown};
use pgkeel_testkit::{connect, simple_scalar, try_connect};

use crate::common::alive;

#[tokio::test]
async fn start_stop_start_keeps_data_and_port() {
    let cluster = private_cluster().start().unwrap();
    let port = cluster.port();
    let client = connect(&cluster.url()).await;
    client
        .batch_execute("CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before stop')")
        .await
        .unwrap();
    drop(client);

    cluster.stop().unwrap();
    assert!(!cluster.is_running());
    assert!(
        try_connect(&cluster.url()).await.is_err(),
        "stopped server accepted a connection"
    );
    cluster.stop().unwrap(); // idempotent

    cluster.start().unwrap();
    assert_eq!(cluster.port(), port);
    let client = connect(&cluster.url()).await;
    assert_eq!(
        simple_scalar(&client, "SELECT v FROM kept").await.unwrap(),
        "before stop"
    );

    let err = cluster.start().unwrap_err();
    assert!(matches!(err, Error::AlreadyRunning { .. }), "{err:?}");
}

#[tokio::test]
async fn kill_then_start_runs_crash_recovery_and_keeps_committed_data() {
    let cluster = private_cluster().start().unwrap();
    let client = connect(&cluster.url()).await;
    client
        .batch_execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 1000)")
        .await
        .unwrap();
    let postmaster = cluster.pid().unwrap();

    cluster.kill().unwrap();
    assert!(!alive(postmaster));
    assert!(!cluster.is_running());
    // The client notices the crash.
    assert!(client.simple_query("SELECT 1").await.is_err());
    assert!(matches!(cluster.kill(), Err(Error::NotRunning)));

    cluster.start().unwrap();
    assert_ne!(cluster.pid(), Some(postmaster));
    let client = connect(&cluster.url()).await;
    assert_eq!(
        simple_scalar(&client, "SELECT count(*)::text FROM t")
            .await
            .unwrap(),
        "1000"
    );
    assert!(
        std::fs::read_to_string(cluster.log_path())
            .unwrap()
            .contains("database system was interrupted"),
        "no crash recovery in the log: {}",
        cluster.log_tail(20)
    );
}

#[tokio::test]
async fn restart_and_immediate_shutdown() {
    let cluster = private_cluster().start().unwrap();
    let before = cluster.pid().unwrap();
    cluster.restart().unwrap();
    let after = cluster.pid().unwrap();
    assert_ne!(before, after);
    assert!(!alive(before));
    cluster.stop_with(Shutdown::Immediate).unwrap();
    assert!(!alive(after));
    cluster.start().unwrap();
    let client = connect(&cluster.socket_url()).await;
    assert_eq!(simple_scalar(&client, "SELECT 'up'").await.unwrap(), "up");
}

#[tokio::test]
async fn two_clusters_run_side_by_side_with_separate_data() {
    let a = private_cluster().start().unwrap();
    let b = private_cluster().start().unwrap();
    assert_ne!(a.port(), b.port());
    assert_ne!(a.data_dir(), b.data_dir());
    let ca = connect(&a.url()).await;
    let cb = connect(&b.url()).await;
    ca.batch_execute("CREATE TABLE here (v int)").await.unwrap();
    let err = cb.simple_query("SELECT * FROM here").await.unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");

    // Stopping one leaves the other serving.
    a.stop().unwrap();
    assert_eq!(
        simple_scalar(&cb, "SELECT 'b alive'").await.unwrap(),
        "b alive"
    );
}

#[test]
fn a_bad_setting_fails_startup_with_the_server_log_tail() {
    let err = private_cluster()
        .setting("shared_buffers", "lots")
        .start()
        .unwrap_err();
    assert!(err.is_startup_failure(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("shared_buffers"),
        "log tail missing from: {text}"
    );
}

#[test]
fn managed_settings_are_refused_before_anything_starts() {
    let err = private_cluster()
        .setting("port", "5432")
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    let err = private_cluster()
        .setting("bad name", "1")
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
}
