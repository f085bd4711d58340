//! Streaming of large transactions and two-phase decoding, each on a private cluster (small
//! `logical_decoding_work_mem`; prepared transactions that must not outlive the test).

use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::{TestDatabase, private_cluster};
use pgkeel_stream::pgoutput::Message;

use super::support::{Slot, connect, decode_all, tags};

fn cluster() -> Cluster {
    private_cluster()
        .setting("logical_decoding_work_mem", "64kB")
        .setting("max_prepared_transactions", "4")
        .start()
        .unwrap()
}

/// pgoutput options for `version` with streaming and, when `two_phase`, two-phase decoding.
fn options(version: &'static str, two_phase: bool) -> Vec<&'static str> {
    let mut o = vec![
        "proto_version",
        version,
        "publication_names",
        "pub",
        "messages",
        "true",
        "streaming",
        "on",
    ];
    if two_phase {
        o.extend(["two_phase", "on"]);
    }
    o
}

const SETUP: &str = "CREATE TABLE t (id int PRIMARY KEY, pad text);
                     CREATE TABLE u (id int PRIMARY KEY);
                     CREATE PUBLICATION pub FOR ALL TABLES;";

/// Enough rows to exceed 64 kB of decoded changes several times.
fn big_insert(from: i32) -> String {
    format!(
        "INSERT INTO t SELECT i, repeat('x', 100) FROM generate_series({from}, {}) i",
        from + 2999
    )
}

/// Splits `m` into streamed blocks: the messages between each Stream Start and Stop.
fn blocks(m: &[Message]) -> Vec<&[Message]> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, msg) in m.iter().enumerate() {
        match msg {
            Message::StreamStart { .. } => start = Some(i + 1),
            Message::StreamStop => out.push(&m[start.take().unwrap()..i]),
            _ => {}
        }
    }
    out
}

#[tokio::test]
async fn large_transactions_are_streamed_and_committed_or_aborted() {
    let cluster = cluster();
    let db = TestDatabase::on(&cluster);
    let c = connect(&db.url()).await;
    c.batch_execute(SETUP).await.unwrap();
    let slot = Slot::create(&cluster, &c, db.name(), false).await;

    let xid_of = async |sql: &str, end: &str| -> u32 {
        c.batch_execute("BEGIN").await.unwrap();
        c.batch_execute(sql).await.unwrap();
        let xid: i64 = c
            .query_one("SELECT txid_current()", &[])
            .await
            .unwrap()
            .get(0);
        c.batch_execute(end).await.unwrap();
        u32::try_from(xid).unwrap()
    };
    let committed = xid_of(
        &format!(
            "{}; SELECT pg_logical_emit_message(true, 'p', 'in stream'); TRUNCATE u",
            big_insert(1)
        ),
        "COMMIT",
    )
    .await;
    let aborted = xid_of(&big_insert(10_000), "ROLLBACK").await;
    // A subtransaction rolled back after its changes were streamed.
    let with_sub = xid_of(
        &format!(
            "{}; SAVEPOINT s; {}; ROLLBACK TO s; INSERT INTO u VALUES (1)",
            big_insert(20_000),
            big_insert(30_000)
        ),
        "COMMIT",
    )
    .await;

    let changes = slot.changes(&c, &options("2", false)).await;
    let m = decode_all(2, &changes);
    let summary = tags(&changes);

    // The committed transaction: streamed blocks, then c, all with its xid.
    let commit_at = m
        .iter()
        .position(|m| matches!(m, Message::StreamCommit { xid, .. } if *xid == committed))
        .unwrap_or_else(|| panic!("no stream commit of {committed} in {summary}"));
    let Message::StreamCommit {
        flags,
        commit_lsn,
        end_lsn,
        ..
    } = &m[commit_at]
    else {
        unreachable!()
    };
    assert_eq!(*flags, 0);
    assert!(end_lsn > commit_lsn);
    let first = &m[..commit_at];
    assert!(matches!(
        first[0],
        Message::StreamStart { xid, first_segment: true } if xid == committed
    ));
    let first_blocks = blocks(first);
    assert!(first_blocks.len() >= 2, "{summary}");
    let inserts = first_blocks
        .iter()
        .flat_map(|b| b.iter())
        .filter(|m| matches!(m, Message::Insert { xid: Some(x), .. } if *x == committed))
        .count();
    assert_eq!(inserts, 3000);
    // Every change in a block carries the xid, including relations, messages and truncates.
    for msg in first_blocks.iter().flat_map(|b| b.iter()) {
        let xid = match msg {
            Message::Relation(r) => r.xid,
            Message::Insert { xid, .. }
            | Message::Truncate { xid, .. }
            | Message::LogicalMessage { xid, .. } => *xid,
            other => panic!("unexpected in a block: {other:?}"),
        };
        assert_eq!(xid, Some(committed), "{msg:?}");
    }
    assert!(first_blocks.iter().flat_map(|b| b.iter()).any(
        |m| matches!(m, Message::LogicalMessage { transactional: true, content, .. } if content.as_ref() == b"in stream")
    ));
    assert!(
        first_blocks
            .iter()
            .flat_map(|b| b.iter())
            .any(|m| matches!(m, Message::Truncate { .. }))
    );
    assert!(
        !first
            .iter()
            .any(|m| matches!(m, Message::Begin { .. } | Message::Commit { .. }))
    );

    // The aborted one: streamed, then A with xid == subxid.
    assert!(
        m.contains(&Message::StreamAbort {
            xid: aborted,
            subxid: aborted,
            abort_lsn: None,
            abort_time: None,
        }),
        "{summary}"
    );

    // The rolled back subtransaction: A with the top xid and another subxid, then the commit.
    let sub_abort = m
        .iter()
        .find_map(|m| match m {
            Message::StreamAbort { xid, subxid, .. } if *xid == with_sub => Some(*subxid),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no subtransaction abort in {summary}"));
    assert_ne!(sub_abort, with_sub);
    assert!(
        m.iter()
            .any(|m| matches!(m, Message::StreamCommit { xid, .. } if *xid == with_sub)),
        "{summary}"
    );
    drop(slot);
}

#[tokio::test]
async fn two_phase_transactions_prepare_then_commit_or_roll_back() {
    let cluster = cluster();
    let db = TestDatabase::on(&cluster);
    let c = connect(&db.url()).await;
    c.batch_execute(SETUP).await.unwrap();
    let slot = Slot::create(&cluster, &c, db.name(), true).await;

    c.batch_execute(
        "BEGIN; INSERT INTO u VALUES (1); PREPARE TRANSACTION 'gid one';
         BEGIN; INSERT INTO u VALUES (2); PREPARE TRANSACTION 'gid two';",
    )
    .await
    .unwrap();
    let opts = options("3", true);
    let prepared = slot.changes(&c, &opts).await;
    assert_eq!(tags(&prepared), "bRIPbIP");
    c.batch_execute("COMMIT PREPARED 'gid one'; ")
        .await
        .unwrap();
    c.batch_execute("ROLLBACK PREPARED 'gid two'")
        .await
        .unwrap();
    let finished = slot.changes(&c, &opts).await;
    assert_eq!(tags(&finished), "Kr");

    let all: Vec<_> = prepared.iter().chain(&finished).cloned().collect();
    let m = decode_all(3, &all);
    let Message::BeginPrepare {
        prepare_lsn,
        end_lsn,
        xid,
        gid,
        prepare_time,
    } = &m[0]
    else {
        panic!("{:?}", m[0]);
    };
    assert_eq!(gid, "gid one");
    assert!(end_lsn > prepare_lsn);
    assert_eq!(
        m[3],
        Message::Prepare {
            flags: 0,
            prepare_lsn: *prepare_lsn,
            end_lsn: *end_lsn,
            prepare_time: *prepare_time,
            xid: *xid,
            gid: gid.clone(),
        }
    );
    let Message::CommitPrepared {
        xid: commit_xid,
        gid: commit_gid,
        commit_lsn,
        ..
    } = &m[7]
    else {
        panic!("{:?}", m[7]);
    };
    assert_eq!((commit_xid, commit_gid.as_str()), (xid, "gid one"));
    assert!(commit_lsn > end_lsn);
    let Message::BeginPrepare {
        xid: two,
        end_lsn: two_end,
        prepare_time: two_time,
        ..
    } = &m[4]
    else {
        panic!("{:?}", m[4]);
    };
    let Message::RollbackPrepared {
        xid,
        gid,
        prepare_end_lsn,
        rollback_end_lsn,
        prepare_time,
        rollback_time,
        flags,
    } = &m[8]
    else {
        panic!("{:?}", m[8]);
    };
    assert_eq!((xid, gid.as_str(), *flags), (two, "gid two", 0));
    assert_eq!((prepare_end_lsn, prepare_time), (two_end, two_time));
    assert!(rollback_end_lsn > prepare_end_lsn);
    assert!(rollback_time >= prepare_time);
    drop(slot);
}

#[tokio::test]
async fn a_streamed_transaction_is_prepared_with_stream_prepare() {
    let cluster = cluster();
    let db = TestDatabase::on(&cluster);
    let c = connect(&db.url()).await;
    c.batch_execute(SETUP).await.unwrap();
    let slot = Slot::create(&cluster, &c, db.name(), true).await;
    c.batch_execute(&format!(
        "BEGIN; {}; PREPARE TRANSACTION 'big'",
        big_insert(1)
    ))
    .await
    .unwrap();
    c.batch_execute("COMMIT PREPARED 'big'").await.unwrap();
    let changes = slot.changes(&c, &options("3", true)).await;
    let summary = tags(&changes);
    let m = decode_all(3, &changes);
    assert!(
        summary.starts_with('S') && summary.ends_with("EpK"),
        "{summary}"
    );
    let Message::StreamPrepare { xid, gid, .. } = &m[m.len() - 2] else {
        panic!("{summary}");
    };
    assert_eq!(gid, "big");
    assert!(
        matches!(&m[m.len() - 1], Message::CommitPrepared { xid: x, gid, .. } if x == xid && gid == "big")
    );
    assert!(matches!(m[0], Message::StreamStart { xid: x, .. } if x == *xid));
    drop(slot);
}
