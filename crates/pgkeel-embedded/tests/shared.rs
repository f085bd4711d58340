//! Tests that only need SQL: each uses its own database on the process's shared cluster.

use pgkeel_embedded::harness::{TestDatabase, shared_cluster};
use pgkeel_testkit::{connect, simple_scalar};

#[tokio::test]
async fn shared_cluster_has_the_pgkeel_defaults() {
    let db = TestDatabase::new();
    let client = connect(&db.url()).await;
    assert_eq!(
        simple_scalar(&client, "SHOW wal_level").await.unwrap(),
        "logical"
    );
    assert_eq!(simple_scalar(&client, "SHOW fsync").await.unwrap(), "off");
    let prepared: i32 = simple_scalar(&client, "SHOW max_prepared_transactions")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!(prepared > 0);
    assert_eq!(
        simple_scalar(&client, "SELECT current_database()")
            .await
            .unwrap(),
        db.name()
    );
}

#[tokio::test]
async fn each_test_database_is_separate_and_dropped_afterwards() {
    let a = TestDatabase::new();
    let b = TestDatabase::new();
    assert_ne!(a.name(), b.name());
    let ca = connect(&a.url()).await;
    ca.batch_execute("CREATE TABLE only_in_a (id int)")
        .await
        .unwrap();
    let cb = connect(&b.socket_url()).await;
    let err = cb
        .simple_query("SELECT * FROM only_in_a")
        .await
        .unwrap_err();
    assert_eq!(err.code().unwrap().code(), "42P01");

    let name = a.name().to_owned();
    drop(a); // drops the database although `ca` is still connected
    let rows = shared_cluster()
        .admin_query(&format!(
            "SELECT 1 FROM pg_database WHERE datname = '{name}'"
        ))
        .unwrap();
    assert!(rows.is_empty(), "database {name} still exists");
}

#[test]
fn admin_query_reports_sqlstate_of_failures() {
    let err = shared_cluster()
        .admin_query("SELECT * FROM no_such_table")
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P01"));
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let rows = shared_cluster()
        .admin_query("SELECT 1, NULL::text")
        .unwrap();
    assert_eq!(rows, vec![vec![Some("1".to_owned()), None]]);
}

#[test]
fn admin_query_returns_the_rows_of_every_statement() {
    let rows = shared_cluster()
        .admin_query(
            "SELECT 1 WHERE false; SELECT NULL::text, '', 'ü'; \
             DO $$ BEGIN RAISE NOTICE 'ignored'; END $$; SELECT repeat('x', 100000)",
        )
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0],
        vec![None, Some(String::new()), Some("ü".to_owned())]
    );
    assert_eq!(rows[1], vec![Some("x".repeat(100_000))]);
}

#[test]
fn admin_query_reports_a_fatal_error_before_the_server_hangs_up() {
    let err = shared_cluster()
        .admin_query("SELECT pg_terminate_backend(pg_backend_pid())")
        .unwrap_err();
    assert_eq!(err.sqlstate(), Some("57P01"), "{err}");
    // The next admin connection is unaffected.
    assert_eq!(
        shared_cluster().admin_query("SELECT 'next'").unwrap(),
        vec![vec![Some("next".to_owned())]]
    );
}

#[test]
fn database_names_are_quoted() {
    let name = format!("odd \"name\" it's {}", std::process::id());
    let cluster = shared_cluster();
    cluster.create_database(&name).unwrap();
    let exists = format!("SELECT datname FROM pg_database WHERE datname = $q${name}$q$");
    assert_eq!(
        cluster.admin_query(&exists).unwrap(),
        vec![vec![Some(name.clone())]]
    );
    cluster.drop_database(&name).unwrap();
    assert!(cluster.admin_query(&exists).unwrap().is_empty());
}
