//! Tests that only need SQL: each uses its own database on the process's shared cluster.

use pgkeel_embedded::harness::{TestDatabase, shared_cluster};

use crate::common::{connect, scalar};

#[tokio::test]
async fn shared_cluster_has_the_pgkeel_defaults() {
    let db = TestDatabase::new();
    let client = connect(&db.url()).await.unwrap();
    assert_eq!(scalar(&client, "SHOW wal_level").await, "logical");
    assert_eq!(scalar(&client, "SHOW fsync").await, "off");
    let prepared: i32 = scalar(&client, "SHOW max_prepared_transactions")
        .await
        .parse()
        .unwrap();
    assert!(prepared > 0);
    assert_eq!(
        scalar(&client, "SELECT current_database()").await,
        db.name()
    );
}

#[tokio::test]
async fn each_test_database_is_separate_and_dropped_afterwards() {
    let a = TestDatabase::new();
    let b = TestDatabase::new();
    assert_ne!(a.name(), b.name());
    let ca = connect(&a.url()).await.unwrap();
    ca.batch_execute("CREATE TABLE only_in_a (id int)")
        .await
        .unwrap();
    let cb = connect(&b.socket_url()).await.unwrap();
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
