//! The SQL around a stream against real PostgreSQL: the status of a slot and a publication as
//! `pgkeel stream status` shows them, and dropping both as `pgkeel stream drop` does.

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::{
    CreateSlot, Lsn, PublicationStatus, ReplicationConnection, drop_publication, drop_slot,
    publication_status, slot_status,
};
use pgkeel_testkit::connect;

#[tokio::test]
async fn status_shows_the_slot_and_the_publication_as_they_are() {
    let db = TestDatabase::new();
    let sql = connect(&db.url()).await;
    let slot = format!("{}_status", db.name());
    assert_eq!(slot_status(&sql, &slot).await.unwrap(), None);
    assert_eq!(publication_status(&sql, "p").await.unwrap(), None);

    sql.batch_execute(
        "CREATE TABLE b (id int PRIMARY KEY); CREATE TABLE \"A b\" (id int PRIMARY KEY); \
         CREATE PUBLICATION p FOR TABLE b, \"A b\"; CREATE PUBLICATION everything FOR ALL TABLES",
    )
    .await
    .unwrap();
    sql.execute(
        "SELECT pg_create_logical_replication_slot($1, 'pgoutput', false, true)",
        &[&slot],
    )
    .await
    .unwrap();
    // Some WAL after the slot, so the lag is positive.
    sql.batch_execute("INSERT INTO b SELECT generate_series(1, 100)")
        .await
        .unwrap();
    let status = slot_status(&sql, &slot).await.unwrap().unwrap();
    let server: Lsn = sql
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get::<_, String>(0)
        .parse()
        .unwrap();
    assert_eq!(status.name, slot);
    assert!(!status.active && status.active_pid.is_none(), "{status:?}");
    assert!(status.two_phase);
    assert_eq!(status.wal_status.as_deref(), Some("reserved"));
    let confirmed = status.confirmed_flush_lsn.unwrap();
    let restart = status.restart_lsn.unwrap();
    let at = status.server_wal_lsn.unwrap();
    assert!(
        restart <= confirmed && confirmed < at && at <= server,
        "{status:?}"
    );
    // pg_current_wal_lsn() is read once per column, left to right, while other tests write.
    let (lag, retained) = (
        status.lag_bytes.unwrap(),
        status.retained_wal_bytes.unwrap(),
    );
    assert!(0 < lag && lag <= (at.0 - confirmed.0) as i64, "{status:?}");
    assert!(
        lag <= retained && retained <= (at.0 - restart.0) as i64,
        "{status:?}"
    );
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["confirmed_flush_lsn"], confirmed.to_string());
    assert_eq!(json["active_pid"], serde_json::Value::Null);

    assert_eq!(
        publication_status(&sql, "p").await.unwrap(),
        Some(PublicationStatus {
            name: "p".to_owned(),
            all_tables: false,
            tables: vec!["public.\"A b\"".to_owned(), "public.b".to_owned()],
        })
    );
    let all = publication_status(&sql, "everything")
        .await
        .unwrap()
        .unwrap();
    assert!(all.all_tables);

    // A streaming slot is active, with the walsender's pid.
    let mut client = ReplicationConnection::connect(&crate::client::config(&db.url()))
        .await
        .unwrap();
    let streamed = format!("{}_active", db.name());
    client
        .create_logical_slot(&streamed, CreateSlot::default())
        .await
        .unwrap();
    let options = [
        ("proto_version".to_owned(), "1".to_owned()),
        ("publication_names".to_owned(), "p".to_owned()),
    ];
    let stream = client
        .start_logical(&streamed, Lsn::ZERO, &options)
        .await
        .unwrap();
    let active = slot_status(&sql, &streamed).await.unwrap().unwrap();
    assert!(active.active, "{active:?}");
    assert_eq!(active.active_pid, stream.backend_pid());
    assert!(!active.two_phase);
    stream.finish().await.unwrap();
    drop_until_released(&sql, &streamed).await;
    assert!(drop_slot(&sql, &slot).await.unwrap());
}

#[tokio::test]
async fn drop_removes_slot_and_publication_once_and_refuses_a_slot_in_use() {
    let db = TestDatabase::new();
    let sql = connect(&db.url()).await;
    let slot = format!("{}_drop", db.name());
    sql.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION \"Pub\" FOR TABLE t",
    )
    .await
    .unwrap();
    let mut client = ReplicationConnection::connect(&crate::client::config(&db.url()))
        .await
        .unwrap();
    client
        .create_logical_slot(&slot, CreateSlot::default())
        .await
        .unwrap();
    let options = [
        ("proto_version".to_owned(), "1".to_owned()),
        ("publication_names".to_owned(), "\"Pub\"".to_owned()),
    ];
    let stream = client
        .start_logical(&slot, Lsn::ZERO, &options)
        .await
        .unwrap();
    let pid = stream.backend_pid().unwrap();
    let error = drop_slot(&sql, &slot).await.unwrap_err();
    assert!(error.is_fatal(), "{error}");
    assert!(error.to_string().contains("in use by process"), "{error}");
    assert!(error.to_string().contains(&pid.to_string()), "{error}");
    assert!(slot_status(&sql, &slot).await.unwrap().is_some());
    stream.finish().await.unwrap();

    drop_until_released(&sql, &slot).await;
    assert_eq!(slot_status(&sql, &slot).await.unwrap(), None);
    assert!(!drop_slot(&sql, &slot).await.unwrap());
    // The publication's name needs quoting.
    assert!(drop_publication(&sql, "Pub").await.unwrap());
    assert_eq!(publication_status(&sql, "Pub").await.unwrap(), None);
    assert!(!drop_publication(&sql, "Pub").await.unwrap());
}

/// Drops `slot` once its walsender has let go of it (it exits a moment after the stream ends).
async fn drop_until_released(sql: &tokio_postgres::Client, slot: &str) {
    let what = format!("the slot {slot} is released and dropped");
    pgkeel_testkit::eventually(&what, || async {
        match drop_slot(sql, slot).await {
            Ok(dropped) => dropped,
            // Refused by the check, or by the server (55006) if the walsender took it back.
            Err(e) if e.to_string().contains("in use") || e.to_string().contains("55006") => false,
            Err(e) => panic!("dropping {slot}: {e}"),
        }
    })
    .await;
}
