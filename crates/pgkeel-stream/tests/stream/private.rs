//! Tests on clusters of their own: large transactions streamed before commit (committed,
//! aborted, with a rolled-back subtransaction), prepared transactions with and without
//! two-phase decoding, and the replication connection killed through the proxy many times
//! while a writer commits.

use std::collections::BTreeSet;
use std::time::Duration;

use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;
use pgkeel_stream::{Event, Op};
use pgkeel_testkit::{proxy_to, until};

use super::changes::wait_slot;
use super::support::{client, config, start};

fn ids(events: &[Event]) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e.op == Op::Insert)
        .map(|e| e.new.as_ref().unwrap()["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn large_transactions_are_buffered_and_only_committed_ones_arrive() {
    let cluster = start_cluster(&[("logical_decoding_work_mem", "64kB")]).await;
    let url = cluster.url();
    let sql = client(&url).await;
    sql.batch_execute("CREATE TABLE big (id int PRIMARY KEY, pad text)")
        .await
        .unwrap();
    let mut stream = start(config(&url, "s_big", &["big"]));
    wait_slot(&sql, "s_big").await;
    sql.batch_execute(
        "BEGIN; INSERT INTO big SELECT i, repeat('x', 100) FROM generate_series(1, 5000) i; ROLLBACK; \
         BEGIN; INSERT INTO big SELECT i, repeat('y', 100) FROM generate_series(10001, 13000) i; \
           SAVEPOINT s; INSERT INTO big SELECT i, 'gone' FROM generate_series(20001, 22000) i; \
           ROLLBACK TO SAVEPOINT s; \
           INSERT INTO big SELECT i, repeat('z', 100) FROM generate_series(30001, 31000) i; COMMIT; \
         INSERT INTO big VALUES (99999, 'last')",
    )
    .await
    .unwrap();
    let events = stream.collect(4001).await;
    let expected: Vec<i64> = (10001..=13000)
        .chain(30001..=31000)
        .chain([99999])
        .collect();
    assert_eq!(ids(&events), expected);
    assert!(
        events
            .iter()
            .all(|e| e.new.as_ref().unwrap()["pad"] != "gone")
    );
    // The big transaction arrived as one, with ordinals 0..4000.
    assert!(
        events[..4000]
            .iter()
            .enumerate()
            .all(|(i, e)| e.ordinal as usize == i)
    );
    // The server really streamed it (spilled as a stream, not decoded at commit).
    let streamed: i64 = sql
        .query_one(
            "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 's_big'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        streamed >= 2,
        "stream_txns = {streamed}: nothing was streamed"
    );
    stream.stop().await.unwrap();
    drop(sql);
    close(cluster).await;
}

#[tokio::test]
async fn prepared_transactions_arrive_once_committed_with_or_without_two_phase() {
    let cluster = start_cluster(&[("max_prepared_transactions", "10")]).await;
    let url = cluster.url();
    let sql = client(&url).await;
    sql.batch_execute("CREATE TABLE t (id int PRIMARY KEY)")
        .await
        .unwrap();
    for (slot, two_phase) in [("s_plain", false), ("s_two_phase", true)] {
        sql.batch_execute("TRUNCATE t").await.unwrap();
        let mut cfg = config(&url, slot, &["t"]);
        cfg.spec.two_phase = two_phase;
        let mut stream = start(cfg);
        wait_slot(&sql, slot).await;
        // One statement per call: COMMIT/ROLLBACK PREPARED refuse an implicit transaction.
        for statement in [
            "BEGIN; INSERT INTO t VALUES (1); PREPARE TRANSACTION 'kept'",
            "BEGIN; INSERT INTO t VALUES (2); PREPARE TRANSACTION 'dropped'",
            "INSERT INTO t VALUES (3)",
            "ROLLBACK PREPARED 'dropped'",
            "COMMIT PREPARED 'kept'",
            "INSERT INTO t VALUES (4)",
        ] {
            sql.batch_execute(statement).await.unwrap();
        }
        // The truncate of the previous round is not published to this slot (created after).
        let events = stream.collect_until(|e| ids(e).contains(&4)).await;
        assert_eq!(
            ids(&events),
            vec![3, 1, 4],
            "two_phase {two_phase}: {events:#?}"
        );
        let two: bool = sql
            .query_one(
                "SELECT two_phase FROM pg_replication_slots WHERE slot_name = $1",
                &[&slot],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(two, two_phase);
        stream.stop().await.unwrap();
    }
    drop(sql);
    close(cluster).await;
}

#[tokio::test]
async fn every_row_arrives_in_commit_order_while_the_connection_is_killed_20_times() {
    let cluster = start_cluster(&[]).await;
    let proxy = proxy_to(cluster.port()).await;
    let proxied = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        proxy.port().unwrap()
    );
    killed_20_times(cluster, proxy, proxied, false).await;
}

#[tokio::test]
async fn over_tls_every_row_arrives_while_the_connection_is_killed_20_times() {
    let cluster = tokio::task::spawn_blocking(|| {
        private_cluster()
            .tls(pgkeel_embedded::TcpTls::Required)
            .start()
            .unwrap()
    })
    .await
    .unwrap();
    let mut proxy_config =
        pgkeel_proxy::ProxyConfig::new(pgkeel_proxy::Address::tcp("127.0.0.1", cluster.port()));
    proxy_config.tls = pgkeel_proxy::TlsMode::Passthrough;
    let proxy = pgkeel_proxy::Proxy::start(proxy_config).await.unwrap();
    let proxied = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        proxy.port().unwrap(),
        cluster.tls_files().unwrap().root_cert.display()
    );
    killed_20_times(cluster, proxy, proxied, true).await;
}

/// The replication connection through `proxy` killed at 20+ random points while a writer
/// commits 5000 rows: every row arrives, in commit order (over TLS when `tls`).
async fn killed_20_times(cluster: Cluster, proxy: pgkeel_proxy::Proxy, proxied: String, tls: bool) {
    let direct = cluster.socket_url();
    let sql = client(&direct).await;
    sql.batch_execute("CREATE TABLE rows (id int PRIMARY KEY, txn int)")
        .await
        .unwrap();
    let mut cfg = config(&proxied, "s_faults", &["rows"]);
    cfg.backoff.base = Duration::from_millis(20);
    cfg.backoff.cap = Duration::from_millis(200);
    let mut stream = start(cfg);
    wait_slot(&sql, "s_faults").await;
    let encrypted: bool = sql
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false) FROM pg_stat_replication r \
             JOIN pg_stat_ssl s USING (pid)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(encrypted, tls, "the walsender's connection");

    // The writer: 5000 rows in transactions of random size 1–200.
    let writer_sql = client(&direct).await;
    let writer = tokio::spawn(async move {
        let mut rng = 0x2545_F491_4F6C_DD1D_u64;
        let (mut next, mut txn) = (1, 0);
        while next <= 5_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let size = (rng % 200 + 1) as i32;
            let last = (next + size - 1).min(5_000);
            writer_sql
                .execute(
                    "INSERT INTO rows SELECT i, $3 FROM generate_series($1::int, $2::int) i",
                    &[&next, &last, &txn],
                )
                .await
                .unwrap();
            next = last + 1;
            txn += 1;
            // Several seconds of writing, so the kills land while rows arrive.
            tokio::time::sleep(Duration::from_millis(20 + rng % 80)).await;
        }
        txn
    });

    // Kill the replication connection at 20+ random points while events flow.
    let mut events: Vec<Event> = Vec::new();
    let mut kills = 0;
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    let mut seen = BTreeSet::new();
    while seen.len() < 5_000 || kills < 20 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} rows after 300 s",
            seen.len()
        );
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let pause = Duration::from_millis(rng % 40);
        if let Ok(Some(delivery)) = tokio::time::timeout(pause, stream.deliveries.recv()).await {
            for event in &delivery.batch.events {
                seen.insert(event.new.as_ref().unwrap()["id"].as_i64().unwrap());
            }
            events.extend(delivery.batch.events.iter().cloned());
            delivery.ack();
        }
        if rng.is_multiple_of(8) {
            for connection in proxy.connections() {
                if proxy.kill_connection(connection.id) {
                    kills += 1;
                }
            }
        }
    }
    let transactions = writer.await.unwrap();
    assert!(kills >= 20, "only {kills} kills");
    // The last kill may still be on its way to the stream.
    until(
        &format!("{kills} kills are noticed as 20+ reconnects"),
        || stream.progress.snapshot().reconnects >= 20,
    )
    .await;
    // At least once: every id; in commit order: the first occurrence of each (commit_lsn,
    // ordinal) never goes backwards, and each transaction's rows arrive together.
    let mut first_seen = BTreeSet::new();
    let mut last_key = (pgkeel_stream::Lsn::ZERO, 0);
    for event in &events {
        let key = (event.commit_lsn, event.ordinal);
        if first_seen.insert(key) {
            assert!(key > last_key, "out of order: {key:?} after {last_key:?}");
            last_key = key;
        }
    }
    assert_eq!(seen.len(), 5_000);
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(seen.last(), Some(&5_000));
    let txns: BTreeSet<i64> = events
        .iter()
        .map(|e| e.new.as_ref().unwrap()["txn"].as_i64().unwrap())
        .collect();
    assert_eq!(txns.len(), transactions as usize);
    println!(
        "{} events for 5000 rows ({} duplicates), {kills} kills, {} reconnects",
        events.len(),
        events.len() - first_seen.len(),
        stream.progress.snapshot().reconnects
    );
    stream.stop().await.unwrap();
    drop(sql);
    close(cluster).await;
}

/// A private cluster with these settings, started off the async runtime.
async fn start_cluster(settings: &'static [(&'static str, &'static str)]) -> Cluster {
    tokio::task::spawn_blocking(move || {
        let mut builder = private_cluster();
        for (name, value) in settings {
            builder = builder.setting(*name, *value);
        }
        builder.start().unwrap()
    })
    .await
    .unwrap()
}

async fn close(cluster: Cluster) {
    tokio::task::spawn_blocking(move || cluster.close().unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn behind_haproxy_every_row_arrives_across_postgres_restarts() {
    let cluster = start_cluster(&[]).await;
    let haproxy = pgkeel_testkit::Haproxy::start(cluster.port());
    let through = format!("postgres://postgres@127.0.0.1:{}/postgres", haproxy.port());
    let sql = client(&cluster.socket_url()).await;
    sql.batch_execute("CREATE TABLE rows (id int PRIMARY KEY)")
        .await
        .unwrap();
    let mut stream = start(config(&through, "s_haproxy", &["rows"]));
    wait_slot(&sql, "s_haproxy").await;
    drop(sql);
    let cluster = std::sync::Arc::new(cluster);
    let mut seen = BTreeSet::new();
    for round in 0..3i32 {
        let sql = client(&cluster.socket_url()).await;
        sql.execute(
            "INSERT INTO rows SELECT i FROM generate_series($1::int, $2::int) i",
            &[&(round * 100 + 1), &(round * 100 + 100)],
        )
        .await
        .unwrap();
        drop(sql);
        // Restart while the rows are consumed: at shutdown the walsender waits until the
        // client confirms what it was sent, so the consumer must keep acknowledging.
        let restarting = std::sync::Arc::clone(&cluster);
        let restart = tokio::task::spawn_blocking(move || restarting.restart().unwrap());
        let deadline = tokio::time::Instant::now() + pgkeel_testkit::LIVENESS;
        while seen.len() < (round as usize + 1) * 100 || !restart.is_finished() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: {} rows behind haproxy",
                seen.len()
            );
            let Ok(delivery) =
                tokio::time::timeout(Duration::from_millis(50), stream.deliveries.recv()).await
            else {
                continue;
            };
            let delivery = delivery.unwrap();
            for event in &delivery.batch.events {
                seen.insert(event.new.as_ref().unwrap()["id"].as_i64().unwrap());
            }
            delivery.ack();
        }
        restart.await.unwrap();
    }
    assert_eq!(seen.len(), 300);
    assert!(stream.progress.snapshot().reconnects >= 1);
    stream.stop().await.unwrap();
}
