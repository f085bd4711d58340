//! Every kind of change, produced by real SQL, arrives as the right event: multi-table
//! transactions in commit order, keys, old rows, NULLs, unchanged TOAST, truncate flags,
//! logical messages, typed values.

use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::Op;
use serde_json::json;

use super::support::{client, config, drop_slot, new_value, start};

#[tokio::test]
async fn inserts_updates_deletes_of_two_tables_arrive_per_transaction_in_commit_order() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TABLE a (id int PRIMARY KEY, name text); \
         CREATE TABLE b (id int PRIMARY KEY, note text); \
         CREATE TABLE unpublished (x int)",
    )
    .await
    .unwrap();
    let mut stream = start(config(&db.url(), "s_changes", &["a", "public.b"]));
    // The first delivery cannot come before setup; wait for the slot, then write.
    wait_slot(&sql, "s_changes").await;
    sql.batch_execute(
        "BEGIN; INSERT INTO a VALUES (1, 'one'), (2, NULL); INSERT INTO b VALUES (10, 'ten'); \
         INSERT INTO unpublished VALUES (1); COMMIT; \
         BEGIN; UPDATE a SET name = 'uno' WHERE id = 1; UPDATE a SET id = 3 WHERE id = 2; \
         DELETE FROM b WHERE id = 10; COMMIT",
    )
    .await
    .unwrap();
    let events = stream.collect(6).await;
    let summary: Vec<(Op, &str, u32)> = events
        .iter()
        .map(|e| (e.op, e.table.as_deref().unwrap(), e.ordinal))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Op::Insert, "a", 0),
            (Op::Insert, "a", 1),
            (Op::Insert, "b", 2),
            (Op::Update, "a", 0),
            (Op::Update, "a", 1),
            (Op::Delete, "b", 2),
        ]
    );
    let (first, second) = (&events[0], &events[3]);
    assert!(first.commit_lsn < second.commit_lsn);
    assert!(
        events[..3]
            .iter()
            .all(|e| e.commit_lsn == first.commit_lsn && e.xid == first.xid)
    );
    assert!(first.commit_time.as_deref().unwrap().ends_with('Z'));
    assert_eq!(first.schema.as_deref(), Some("public"));
    assert_eq!(
        first.key,
        Some(json!({"id": 1}).as_object().unwrap().clone())
    );
    assert_eq!(new_value(first, "name"), &json!("one"));
    assert_eq!(
        new_value(&events[1], "name"),
        &json!(null),
        "NULL stays null"
    );
    // Update of the key: old carries the old key, new and key the new one.
    let key_change = &events[4];
    assert_eq!(key_change.old.as_ref().unwrap()["id"], json!(2));
    assert_eq!(key_change.key.as_ref().unwrap()["id"], json!(3));
    // Update without a key change: no old row (default replica identity).
    assert!(events[3].old.is_none());
    // Delete: the key of the old row.
    assert_eq!(events[5].key.as_ref().unwrap()["id"], json!(10));
    assert!(events[5].new.is_none());
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_changes").await;
}

#[tokio::test]
async fn unchanged_toast_is_marked_and_filled_from_a_full_old_row() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TABLE docs (id int PRIMARY KEY, title text, body text); \
         ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL; \
         CREATE TABLE full_docs (id int PRIMARY KEY, title text, body text); \
         ALTER TABLE full_docs ALTER COLUMN body SET STORAGE EXTERNAL; \
         ALTER TABLE full_docs REPLICA IDENTITY FULL",
    )
    .await
    .unwrap();
    let mut stream = start(config(&db.url(), "s_toast", &["docs", "full_docs"]));
    wait_slot(&sql, "s_toast").await;
    sql.batch_execute(
        "INSERT INTO docs SELECT 1, 'a', string_agg(md5(i::text), '') FROM generate_series(1, 200) i; \
         INSERT INTO full_docs SELECT 1, 'a', string_agg(md5(i::text), '') FROM generate_series(1, 200) i; \
         UPDATE docs SET title = 'b'; \
         UPDATE full_docs SET title = 'b'; \
         DELETE FROM full_docs",
    )
    .await
    .unwrap();
    let events = stream.collect(5).await;
    let body_len = |e: &pgkeel_stream::Event| new_value(e, "body").as_str().map(str::len);
    assert_eq!(body_len(&events[0]), Some(6400));
    // docs: body not sent, marked, absent from new (never null).
    let update = &events[2];
    assert_eq!(update.unchanged_toast, vec!["body".to_owned()]);
    assert!(!update.new.as_ref().unwrap().contains_key("body"));
    assert_eq!(new_value(update, "title"), &json!("b"));
    // full_docs: the old row has every column, and body is filled from it.
    let full = &events[3];
    assert!(full.unchanged_toast.is_empty(), "{full:#?}");
    assert_eq!(body_len(full), Some(6400));
    assert_eq!(full.old.as_ref().unwrap()["title"], json!("a"));
    let delete = &events[4];
    assert_eq!(delete.old.as_ref().unwrap()["title"], json!("b"));
    assert_eq!(
        delete.old.as_ref().unwrap()["body"].as_str().map(str::len),
        Some(6400)
    );
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_toast").await;
}

#[tokio::test]
async fn truncate_with_flags_and_logical_messages() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TABLE parent (id serial PRIMARY KEY); \
         CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent)",
    )
    .await
    .unwrap();
    let mut stream = start(config(&db.url(), "s_trunc", &["parent", "child"]));
    wait_slot(&sql, "s_trunc").await;
    sql.batch_execute(
        "BEGIN; SELECT pg_logical_emit_message(true, 'app', 'inside'); \
         TRUNCATE parent RESTART IDENTITY CASCADE; COMMIT; \
         SELECT pg_logical_emit_message(false, 'app', 'outside'); \
         SELECT pg_logical_emit_message(false, 'pgkeel.heartbeat', '')",
    )
    .await
    .unwrap();
    let events = stream.collect(4).await;
    assert_eq!(events[0].op, Op::Message);
    assert_eq!(events[0].prefix.as_deref(), Some("app"));
    assert_eq!(events[0].content.as_deref(), Some("inside"));
    assert_eq!(events[0].transactional, Some(true));
    let mut truncated: Vec<&str> = events[1..3]
        .iter()
        .map(|e| {
            assert_eq!(e.op, Op::Truncate);
            assert_eq!((e.cascade, e.restart_identity), (Some(true), Some(true)));
            e.table.as_deref().unwrap()
        })
        .collect();
    truncated.sort_unstable();
    assert_eq!(truncated, vec!["child", "parent"]);
    let outside = &events[3];
    assert_eq!(
        (outside.op, outside.transactional),
        (Op::Message, Some(false))
    );
    assert_eq!(outside.content.as_deref(), Some("outside"));
    assert!(outside.xid.is_none() && outside.commit_time.is_none());
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_trunc").await;
}

#[tokio::test]
async fn values_are_typed_from_the_column_types() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TYPE mood AS ENUM ('happy', 'sad'); \
         CREATE DOMAIN positive AS integer CHECK (VALUE > 0); \
         CREATE TABLE typed (id bigint PRIMARY KEY, small smallint, f double precision, \
           n numeric, yes boolean, t text, j jsonb, u uuid, ts timestamptz, d date, \
           raw bytea, ints int[], texts text[], m mood, iv interval, moods mood[], \
           p positive)",
    )
    .await
    .unwrap();
    let mut stream = start(config(&db.url(), "s_typed", &["typed"]));
    wait_slot(&sql, "s_typed").await;
    sql.batch_execute(
        "SET timezone = 'Europe/Berlin'; \
         INSERT INTO typed VALUES (9007199254740993, -3, 0.1, 12345678901234567890.123456789, \
           true, 'x\"y', '{\"a\": [1, null]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', \
           '2026-11-22 11:00:00.5+01', '2026-11-22', '\\x00ff', '{1,NULL,3}', \
           '{\"a,b\",NULL,\"NULL\"}', 'sad', '1 day 02:00:00', '{happy,sad}', 7)",
    )
    .await
    .unwrap();
    let events = stream.collect(1).await;
    let row = events[0].new.as_ref().unwrap();
    assert_eq!(row["id"], json!(9_007_199_254_740_993_i64));
    assert_eq!(row["small"], json!(-3));
    assert_eq!(row["f"], json!(0.1));
    assert_eq!(row["n"], json!("12345678901234567890.123456789"));
    assert_eq!(row["yes"], json!(true));
    assert_eq!(row["t"], json!("x\"y"));
    assert_eq!(row["j"], json!({"a": [1, null]}));
    assert_eq!(row["u"], json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"));
    assert_eq!(row["ts"], json!("2026-11-22T10:00:00.500000Z"));
    assert_eq!(row["d"], json!("2026-11-22"));
    assert_eq!(row["raw"], json!("\\x00ff"));
    assert_eq!(row["ints"], json!([1, null, 3]));
    assert_eq!(row["texts"], json!(["a,b", null, "NULL"]));
    assert_eq!(row["m"], json!("sad"));
    assert_eq!(row["iv"], json!("1 day 02:00:00"));
    // Types that are not built in, from pg_type: an array of an enum, a domain over integer.
    assert_eq!(row["moods"], json!(["happy", "sad"]));
    assert_eq!(row["p"], json!(7));
    stream.stop().await.unwrap();
    drop_slot(&sql, "s_typed").await;
}

/// Waits until the stream has created its slot and streams it (changes before that are not
/// streamed).
pub(crate) async fn wait_slot(sql: &tokio_postgres::Client, slot: &str) {
    let what = format!("the slot {slot} becomes active");
    pgkeel_testkit::eventually(&what, || async {
        let active: Option<bool> = sql
            .query_opt(
                "SELECT active FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .map(|r| r.get(0));
        active == Some(true)
    })
    .await;
}

/// No change to a published table, but WAL written elsewhere: the slot's
/// `confirmed_flush_lsn` keeps up with it, so the server can recycle that WAL. Two things move
/// it: the heartbeat messages that pass through the stream, and the walsender's keepalive
/// positions, confirmed when nothing is in flight (this test also passes with heartbeats off
/// on PostgreSQL 15; it guards the outcome, whichever carries it).
#[tokio::test]
async fn a_quiet_slot_advances_while_other_tables_are_written() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TABLE quiet (id int PRIMARY KEY); \
         CREATE TABLE busy (id serial PRIMARY KEY, pad text)",
    )
    .await
    .unwrap();
    let mut cfg = config(&db.url(), "s_quiet", &["quiet"]);
    cfg.heartbeat = Some(std::time::Duration::from_millis(200));
    let mut stream = start(cfg);
    wait_slot(&sql, "s_quiet").await;
    let lsn = |text: String| text.parse::<pgkeel_stream::Lsn>().unwrap();
    for round in 0..3 {
        sql.batch_execute(
            "INSERT INTO busy (pad) SELECT repeat('x', 200) FROM generate_series(1, 500)",
        )
        .await
        .unwrap();
        let written = lsn(sql
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0));
        pgkeel_testkit::eventually(
            &format!("round {round}: confirmed_flush_lsn passes {written}"),
            || async {
                let confirmed: Option<String> = sql
                    .query_one(
                        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots \
                         WHERE slot_name = 's_quiet'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                confirmed.map(lsn).is_some_and(|c| c >= written)
            },
        )
        .await;
    }
    // Nothing of the busy table was delivered.
    assert!(stream.deliveries.try_recv().is_err());
    stream.stop().await.unwrap();
}

/// A json/jsonb column holding the JSON value `null` and one that is SQL NULL both show as
/// `null` in the row; `json_null` (and `old_json_null`) name the former.
#[tokio::test]
async fn json_null_and_sql_null_are_told_apart() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute(
        "CREATE TABLE docs (id int PRIMARY KEY, j json, b jsonb, t text); \
         ALTER TABLE docs REPLICA IDENTITY FULL",
    )
    .await
    .unwrap();
    let mut stream = start(config(&db.url(), "s_json_null", &["docs"]));
    wait_slot(&sql, "s_json_null").await;
    sql.batch_execute(
        "INSERT INTO docs VALUES (1, 'null', NULL, 'null'); \
         UPDATE docs SET j = NULL, b = 'null' WHERE id = 1",
    )
    .await
    .unwrap();
    let events = stream.collect(2).await;
    let insert = &events[0];
    let new = insert.new.as_ref().unwrap();
    assert_eq!((&new["j"], &new["b"]), (&json!(null), &json!(null)));
    assert_eq!(insert.json_null, ["j"], "only j holds JSON null");
    assert_eq!(new["t"], json!("null"), "text is text");
    let update = &events[1];
    assert_eq!(update.json_null, ["b"]);
    assert_eq!(update.old_json_null, ["j"]);
    let line = String::from_utf8(
        pgkeel_stream::Batch {
            events: vec![update.clone()],
            end_lsn: update.commit_lsn,
        }
        .json_lines(),
    )
    .unwrap();
    assert!(line.contains(r#""json_null":["b"]"#), "{line}");
    stream.stop().await.unwrap();
}

/// ALTER TABLE while streaming: a `schema` event with the new columns comes before the first
/// change in the new layout (and none for a table's first appearance).
#[tokio::test]
async fn a_changed_layout_is_announced_before_the_next_change() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE items (id int PRIMARY KEY, name text)")
        .await
        .unwrap();
    let mut stream = start(config(&db.url(), "s_schema", &["items"]));
    wait_slot(&sql, "s_schema").await;
    sql.batch_execute(
        "INSERT INTO items VALUES (1, 'a'); \
         ALTER TABLE items ADD COLUMN qty int; \
         INSERT INTO items VALUES (2, 'b', 5)",
    )
    .await
    .unwrap();
    let events = stream.collect(3).await;
    let ops: Vec<Op> = events.iter().map(|e| e.op).collect();
    assert_eq!(ops, [Op::Insert, Op::Schema, Op::Insert]);
    let schema = &events[1];
    assert_eq!(schema.table.as_deref(), Some("items"));
    let columns: Vec<(&str, Option<&str>, bool)> = schema
        .columns
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name.as_str(), c.type_name.as_deref(), c.key))
        .collect();
    assert_eq!(
        columns,
        [
            ("id", Some("int4"), true),
            ("name", Some("text"), false),
            ("qty", Some("int4"), false)
        ]
    );
    assert_eq!(events[2].new.as_ref().unwrap()["qty"], json!(5));
    stream.stop().await.unwrap();
}

/// A domain and an enum created while the stream runs are typed without a restart: the
/// stream reads pg_type again when a Relation message names a type it does not know.
#[tokio::test]
async fn types_created_while_streaming_are_typed() {
    let db = TestDatabase::new();
    let sql = client(&db.url()).await;
    sql.batch_execute("CREATE TABLE later (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut stream = start(config(&db.url(), "s_new_types", &["later"]));
    wait_slot(&sql, "s_new_types").await;
    sql.batch_execute(
        "CREATE DOMAIN qty AS int CHECK (VALUE >= 0); \
         CREATE TYPE mood AS ENUM ('ok', 'sad'); \
         ALTER TABLE later ADD COLUMN n qty, ADD COLUMN moods mood[]; \
         INSERT INTO later VALUES (1, 5, '{ok,sad}')",
    )
    .await
    .unwrap();
    // The table's first change on this connection: its layout is new, not changed (no
    // schema event).
    let events = stream.collect(1).await;
    let insert = &events[0];
    assert_eq!(insert.op, Op::Insert);
    let new = insert.new.as_ref().unwrap();
    assert_eq!(
        new["n"],
        json!(5),
        "a domain over int is a number, not text"
    );
    assert_eq!(
        new["moods"],
        json!(["ok", "sad"]),
        "an enum array is an array"
    );
    stream.stop().await.unwrap();
}
