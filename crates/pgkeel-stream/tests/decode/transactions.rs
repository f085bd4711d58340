//! Row changes from real transactions: relations and their columns, inserts, updates and
//! deletes with every kind of old tuple, NULLs, unchanged TOAST values, TRUNCATE options.

use bytes::Bytes;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::pgoutput::{Column, Datum, Message, OldTuple, Relation};

use super::support::{Slot, V1, connect, decode_all, oid, tags, text};

#[tokio::test]
async fn a_multi_table_transaction_decodes_with_relations_columns_and_lsns() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE acct (id int PRIMARY KEY, name varchar(10) NOT NULL, note text, \
                            score numeric(6,2));
         CREATE TABLE ledger (a int, b text, amount bigint, at timestamptz, PRIMARY KEY (a, b));
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;

    let xid: i64 = {
        c.batch_execute("BEGIN").await.unwrap();
        c.batch_execute(
            "INSERT INTO acct VALUES (1, 'ann', NULL, 12.5);
             INSERT INTO ledger VALUES (7, 'x', 100, '2024-01-02 03:04:05+00');
             UPDATE acct SET note = 'hello' WHERE id = 1;
             DELETE FROM ledger WHERE a = 7;",
        )
        .await
        .unwrap();
        let xid = c
            .query_one("SELECT txid_current()", &[])
            .await
            .unwrap()
            .get(0);
        c.batch_execute("COMMIT").await.unwrap();
        xid
    };
    let xid = u32::try_from(xid).unwrap();
    let (acct, ledger) = (oid(&c, "acct").await, oid(&c, "ledger").await);

    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "BRIRIUDC");
    assert!(changes.iter().all(|ch| ch.xid == xid));
    let m = decode_all(1, &changes);

    let (
        Message::Begin {
            final_lsn,
            xid: begin_xid,
            commit_time: begin_time,
        },
        Message::Commit {
            flags,
            commit_lsn,
            end_lsn,
            commit_time,
        },
    ) = (&m[0], &m[7])
    else {
        panic!("not B ... C: {m:?}");
    };
    assert_eq!(*begin_xid, xid);
    assert_eq!((final_lsn, *flags), (commit_lsn, 0));
    assert!(end_lsn > commit_lsn);
    // The SQL interface reports the end of the commit record as the commit's position.
    assert_eq!(changes[7].lsn, *end_lsn);
    assert_eq!(begin_time, commit_time);
    // The commit happened a moment ago: after 2024, in µs since 2000.
    assert!(commit_time.0 > 24 * 365 * 86_400 * 1_000_000);

    let column = |key, name: &str, type_oid, type_modifier| Column {
        key,
        name: name.to_owned(),
        type_oid,
        type_modifier,
    };
    assert_eq!(
        m[1],
        Message::Relation(Relation {
            xid: None,
            oid: acct,
            namespace: "public".into(),
            name: "acct".into(),
            replica_identity: b'd',
            columns: vec![
                column(true, "id", 23, -1),
                column(false, "name", 1043, 14),
                column(false, "note", 25, -1),
                column(false, "score", 1700, (6 << 16 | 2) + 4),
            ],
        })
    );
    assert_eq!(
        m[2],
        Message::Insert {
            xid: None,
            relation: acct,
            new: vec![text("1"), text("ann"), Datum::Null, text("12.50")],
        }
    );
    let Message::Relation(rel) = &m[3] else {
        panic!("{:?}", m[3]);
    };
    assert_eq!((rel.oid, rel.name.as_str()), (ledger, "ledger"));
    let keys: Vec<(bool, &str, u32)> = rel
        .columns
        .iter()
        .map(|c| (c.key, c.name.as_str(), c.type_oid))
        .collect();
    assert_eq!(
        keys,
        [
            (true, "a", 23),
            (true, "b", 25),
            (false, "amount", 20),
            (false, "at", 1184)
        ]
    );
    assert_eq!(
        m[4],
        Message::Insert {
            xid: None,
            relation: ledger,
            new: vec![
                text("7"),
                text("x"),
                text("100"),
                text("2024-01-02 03:04:05+00")
            ],
        }
    );
    // The key did not change: no old tuple.
    assert_eq!(
        m[5],
        Message::Update {
            xid: None,
            relation: acct,
            old: None,
            new: vec![text("1"), text("ann"), text("hello"), text("12.50")],
        }
    );
    // Default replica identity: the key, other columns null.
    assert_eq!(
        m[6],
        Message::Delete {
            xid: None,
            relation: ledger,
            old: OldTuple::Key(vec![text("7"), text("x"), Datum::Null, Datum::Null]),
        }
    );
}

#[tokio::test]
async fn key_updates_send_the_old_key_and_identity_full_the_old_row() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE k (id int PRIMARY KEY, v text);
         CREATE TABLE f (id int, v text, w int);
         ALTER TABLE f REPLICA IDENTITY FULL;
         CREATE TABLE ix (id int NOT NULL, v text NOT NULL, w text);
         CREATE UNIQUE INDEX ix_v ON ix (v);
         ALTER TABLE ix REPLICA IDENTITY USING INDEX ix_v;
         INSERT INTO k VALUES (1, 'a');
         INSERT INTO f VALUES (1, 'a', NULL);
         INSERT INTO ix VALUES (1, 'a', 'w');
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    for sql in [
        "UPDATE k SET id = 2 WHERE id = 1",
        "UPDATE f SET w = 5",
        "DELETE FROM f",
        "UPDATE ix SET v = 'b'",
        "UPDATE ix SET w = 'x'",
        "DELETE FROM ix",
    ] {
        c.batch_execute(sql).await.unwrap();
    }
    let (k, f, ix) = (oid(&c, "k").await, oid(&c, "f").await, oid(&c, "ix").await);
    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "BRUCBRUCBDCBRUCBUCBDC");
    let m: Vec<Message> = decode_all(1, &changes)
        .into_iter()
        .filter(|m| !matches!(m, Message::Begin { .. } | Message::Commit { .. }))
        .collect();
    assert_eq!(
        m[1],
        Message::Update {
            xid: None,
            relation: k,
            old: Some(OldTuple::Key(vec![text("1"), Datum::Null])),
            new: vec![text("2"), text("a")],
        }
    );
    let Message::Relation(rel_f) = &m[2] else {
        panic!("{:?}", m[2]);
    };
    // REPLICA IDENTITY FULL: every column is part of the key.
    assert_eq!(rel_f.replica_identity, b'f');
    assert!(rel_f.columns.iter().all(|c| c.key));
    assert_eq!(
        m[3],
        Message::Update {
            xid: None,
            relation: f,
            old: Some(OldTuple::Full(vec![text("1"), text("a"), Datum::Null])),
            new: vec![text("1"), text("a"), text("5")],
        }
    );
    assert_eq!(
        m[4],
        Message::Delete {
            xid: None,
            relation: f,
            old: OldTuple::Full(vec![text("1"), text("a"), text("5")]),
        }
    );
    let Message::Relation(rel_ix) = &m[5] else {
        panic!("{:?}", m[5]);
    };
    assert_eq!(rel_ix.replica_identity, b'i');
    let keys: Vec<bool> = rel_ix.columns.iter().map(|c| c.key).collect();
    assert_eq!(keys, [false, true, false]);
    assert_eq!(
        m[6],
        Message::Update {
            xid: None,
            relation: ix,
            old: Some(OldTuple::Key(vec![Datum::Null, text("a"), Datum::Null])),
            new: vec![text("1"), text("b"), text("w")],
        }
    );
    assert_eq!(
        m[7],
        Message::Update {
            xid: None,
            relation: ix,
            old: None,
            new: vec![text("1"), text("b"), text("x")],
        }
    );
    assert_eq!(
        m[8],
        Message::Delete {
            xid: None,
            relation: ix,
            old: OldTuple::Key(vec![Datum::Null, text("b"), Datum::Null]),
        }
    );
}

#[tokio::test]
async fn an_unchanged_toasted_value_is_sent_as_unchanged() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE t (id int PRIMARY KEY, big text, n int);
         ALTER TABLE t ALTER COLUMN big SET STORAGE EXTERNAL;
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    for sql in [
        "INSERT INTO t SELECT 1, string_agg(md5(i::text), ''), 0 FROM generate_series(1, 200) i",
        "UPDATE t SET n = 1",
        "UPDATE t SET big = 'small', n = 2",
    ] {
        c.batch_execute(sql).await.unwrap();
    }
    let big: String = c
        .query_one(
            "SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(big.len(), 6400);
    // The value is stored out of line.
    let stored: i32 = c
        .query_one("SELECT pg_column_size(big) FROM t", &[])
        .await
        .unwrap()
        .get(0);
    assert!(stored < 100, "{stored}");

    let changes = slot.changes(&c, V1).await;
    assert_eq!(tags(&changes), "BRICBUCBUC");
    let m = decode_all(1, &changes);
    let Message::Insert { new, .. } = &m[2] else {
        panic!("{:?}", m[2]);
    };
    assert_eq!(new[1], Datum::Text(Bytes::from(big)));
    let Message::Update { old, new, .. } = &m[5] else {
        panic!("{:?}", m[5]);
    };
    assert_eq!(*old, None);
    assert_eq!(*new, vec![text("1"), Datum::UnchangedToast, text("1")]);
    let Message::Update { new, .. } = &m[8] else {
        panic!("{:?}", m[8]);
    };
    assert_eq!(*new, vec![text("1"), text("small"), text("2")]);
}

#[tokio::test]
async fn truncate_carries_its_options_and_every_relation() {
    let db = TestDatabase::new();
    let c = connect(&db.url()).await;
    c.batch_execute(
        "CREATE TABLE parent (id serial PRIMARY KEY);
         CREATE TABLE child (id int PRIMARY KEY, parent int REFERENCES parent);
         CREATE TABLE other (id int PRIMARY KEY);
         INSERT INTO parent DEFAULT VALUES;
         INSERT INTO child VALUES (1, 1);
         CREATE PUBLICATION pub FOR ALL TABLES;",
    )
    .await
    .unwrap();
    let slot = Slot::create(db.cluster(), &c, db.name(), false).await;
    for sql in [
        "TRUNCATE parent, other RESTART IDENTITY CASCADE",
        "TRUNCATE other",
    ] {
        c.batch_execute(sql).await.unwrap();
    }
    let (parent, child, other) = (
        oid(&c, "parent").await,
        oid(&c, "child").await,
        oid(&c, "other").await,
    );
    let changes = slot.changes(&c, V1).await;
    // The truncation gave `other` a new relfilenode, so its Relation is sent again.
    assert_eq!(tags(&changes), "BRRRTCBRTC");
    let m = decode_all(1, &changes);
    let Message::Truncate {
        xid,
        cascade,
        restart_identity,
        relations,
    } = &m[4]
    else {
        panic!("{:?}", m[4]);
    };
    assert_eq!((*xid, *cascade, *restart_identity), (None, true, true));
    let mut relations = relations.clone();
    relations.sort_unstable();
    let mut expected = vec![parent, child, other];
    expected.sort_unstable();
    assert_eq!(relations, expected);
    assert_eq!(
        m[8],
        Message::Truncate {
            xid: None,
            cascade: false,
            restart_identity: false,
            relations: vec![other],
        }
    );
}
