//! The other messages of protocol 1 from real SQL: logical messages (transactional or not),
//! Type for a user-defined type, Origin for a replicated transaction, binary values.

use bytes::Bytes;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::Lsn;
use pgkeel_stream::pgoutput::{Datum, Message};

use super::support::{Slot, V1, connect, decode_all, oid, tags, text};

#[tokio::test]
async fn logical_messages_transactional_or_not() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute("CREATE PUBLICATION pub FOR ALL TABLES")
        .await
        .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    let lsn_of = |row: tokio_postgres::Row| row.get::<_, String>(0).parse::<Lsn>().unwrap();
    let outside = lsn_of(
        c.query_one(
            "SELECT pg_logical_emit_message(false, 'pre', '\\x00ff01'::bytea)::text",
            &[],
        )
        .await
        .unwrap(),
    );
    c.batch_execute("BEGIN").await.unwrap();
    let inside = lsn_of(
        c.query_one(
            "SELECT pg_logical_emit_message(true, 'pre.tx', 'content')::text",
            &[],
        )
        .await
        .unwrap(),
    );
    c.batch_execute("COMMIT").await.unwrap();

    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "MBMC");
    assert_eq!(changes[0].xid, 0);
    let m = decode_all(1, &changes);
    assert_eq!(
        m[0],
        Message::LogicalMessage {
            xid: None,
            transactional: false,
            lsn: outside,
            prefix: "pre".into(),
            content: Bytes::from_static(&[0, 0xff, 1]),
        }
    );
    assert_eq!(
        m[2],
        Message::LogicalMessage {
            xid: None,
            transactional: true,
            lsn: inside,
            prefix: "pre.tx".into(),
            content: Bytes::from_static(b"content"),
        }
    );
}

#[tokio::test]
async fn a_user_defined_type_is_announced_before_its_relation() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE SCHEMA app;
         CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE app.person (id int PRIMARY KEY, mood app.mood);
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    c.batch_execute("INSERT INTO app.person VALUES (1, 'happy')")
        .await
        .unwrap();
    let mood: u32 = c
        .query_one("SELECT 'app.mood'::regtype::oid", &[])
        .await
        .unwrap()
        .get(0);
    let person = oid(&c, "app.person").await;

    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "BYRIC");
    let m = decode_all(1, &changes);
    assert_eq!(
        m[1],
        Message::Type {
            xid: None,
            oid: mood,
            namespace: "app".into(),
            name: "mood".into(),
        }
    );
    let Message::Relation(rel) = &m[2] else {
        panic!("{:?}", m[2]);
    };
    assert_eq!((rel.oid, rel.namespace.as_str()), (person, "app"));
    assert_eq!(rel.columns[1].type_oid, mood);
    assert_eq!(
        m[3],
        Message::Insert {
            xid: None,
            relation: person,
            new: vec![text("1"), text("happy")],
        }
    );
}

#[tokio::test]
async fn a_transaction_from_a_replication_origin_carries_an_origin_message() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY);
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    let origin = format!("origin_{}", db.name());
    let writer = connect(&db.url()).await;
    writer
        .execute("SELECT pg_replication_origin_create($1)", &[&origin])
        .await
        .unwrap();
    writer
        .execute("SELECT pg_replication_origin_session_setup($1)", &[&origin])
        .await
        .unwrap();
    writer
        .batch_execute(
            "BEGIN;
             SELECT pg_replication_origin_xact_setup('1/2345678', now());
             INSERT INTO t VALUES (1);
             COMMIT;",
        )
        .await
        .unwrap();
    writer
        .batch_execute("SELECT pg_replication_origin_session_reset()")
        .await
        .unwrap();
    writer
        .execute("SELECT pg_replication_origin_drop($1)", &[&origin])
        .await
        .unwrap();

    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "BORIC");
    let m = decode_all(1, &changes);
    assert_eq!(
        m[1],
        Message::Origin {
            commit_lsn: Lsn(0x1_0234_5678),
            name: origin,
        }
    );
}

#[tokio::test]
async fn binary_mode_sends_binary_values() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, big bigint, s text, b bool, n int);
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    c.batch_execute("INSERT INTO t VALUES (1, -2, 'hé', true, NULL)")
        .await
        .unwrap();
    let mut options = V1.to_vec();
    options.extend(["binary", "true"]);
    let changes = slot.changes(&c, &options).await;
    assert_eq!(tags(&changes), "BRIC");
    let m = decode_all(1, &changes);
    let bin = |b: &[u8]| Datum::Binary(Bytes::copy_from_slice(b));
    let Message::Insert { new, .. } = &m[2] else {
        panic!("{:?}", m[2]);
    };
    assert_eq!(
        *new,
        vec![
            bin(&[0, 0, 0, 1]),
            bin(&(-2i64).to_be_bytes()),
            bin("hé".as_bytes()),
            bin(&[1]),
            Datum::Null,
        ]
    );
}
