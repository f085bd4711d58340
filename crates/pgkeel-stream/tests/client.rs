//! Tests: the replication client (`pgkeel_stream::ReplicationConnection`) against real PostgreSQL — connecting
//! (TCP, unix socket, several hosts, password methods), replication commands, streaming
//! pgoutput, status updates, keepalives, and how each failure is classified.

use std::time::Duration;

use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::TestDatabase;
use pgkeel_stream::{
    CreateSlot, Database, Lsn, ReplConfig, ReplError, ReplicationConnection, ReplicationMessage,
    ReplicationStream, publication_names,
};
use pgkeel_testkit::{LIVENESS, until, within};

/// The replication settings of `url`, the process environment ignored.
pub(crate) fn config(url: &str) -> ReplConfig {
    let database = Database::parse_with_env(url, &|_| None)
        .unwrap_or_else(|e| panic!("the test URL {url} does not parse: {e}"));
    ReplConfig::new(&database).unwrap()
}

async fn connect(url: &str) -> ReplicationConnection {
    ReplicationConnection::connect(&config(url))
        .await
        .unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

async fn connect_err(url: &str) -> ReplError {
    ReplicationConnection::connect(&config(url))
        .await
        .map(|_| ())
        .expect_err("the connection should fail")
}

fn sql(db: &TestDatabase, query: &str) -> Vec<Vec<Option<String>>> {
    db.cluster()
        .admin_query_in(db.name(), query)
        .unwrap_or_else(|e| panic!("{query}: {e}"))
}

fn scalar(db: &TestDatabase, query: &str) -> Option<String> {
    sql(db, query).pop().and_then(|mut row| row.remove(0))
}

fn lsn(db: &TestDatabase, query: &str) -> Lsn {
    scalar(db, query).unwrap().parse().unwrap()
}

fn pgoutput(publication: &str) -> Vec<(String, String)> {
    vec![
        ("proto_version".to_owned(), "1".to_owned()),
        (
            "publication_names".to_owned(),
            publication_names(&[publication]),
        ),
    ]
}

/// The next message, bounded by the liveness guard.
async fn next(stream: &mut ReplicationStream) -> Result<ReplicationMessage, ReplError> {
    within("a message from the server", stream.recv()).await
}

/// Reads until the stream fails, answering keepalives; returns the error.
async fn until_error(stream: &mut ReplicationStream, answer: bool) -> ReplError {
    loop {
        match next(stream).await {
            Ok(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            }) if answer => stream.send_status(false).await.unwrap(),
            Ok(_) => {}
            Err(e) => return e,
        }
    }
}

/// A slot name unique to the test's database. Declared after the database, so it is dropped
/// first: a database with a logical slot cannot be dropped.
struct Slot<'a> {
    cluster: &'a Cluster,
    name: String,
}

impl<'a> Slot<'a> {
    fn new(db: &TestDatabase<'a>, tag: &str) -> Self {
        Slot {
            cluster: db.cluster(),
            name: format!("{}_{tag}", db.name()),
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let name = &self.name;
        let drop = format!(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots \
             WHERE slot_name = '{name}' AND active_pid IS NOT NULL; \
             SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots \
             WHERE slot_name = '{name}'"
        );
        // A terminated walsender may hold the slot for a moment (55006): retry.
        for _ in 0..600 {
            if !self.cluster.is_running() || self.cluster.admin_query(&drop).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("could not drop replication slot {name}");
    }
}

/// A table `items` published as `items_pub`.
fn published_table(db: &TestDatabase) {
    sql(
        db,
        "CREATE TABLE items (id int PRIMARY KEY, name text); \
         CREATE PUBLICATION items_pub FOR TABLE items",
    );
}

#[tokio::test]
async fn connects_over_tcp_and_the_unix_socket() {
    let db = TestDatabase::new();
    for (url, over_tcp) in [(db.url(), true), (db.socket_url(), false)] {
        let mut client = connect(&url).await;
        let rows = client
            .simple_query(
                "SELECT current_database() AS db, pg_backend_pid()::text AS pid, \
                 inet_client_addr() IS NOT NULL AS tcp, NULL::text AS nothing, 'it''s' AS quoted",
            )
            .await
            .unwrap();
        assert_eq!(rows.columns(), ["db", "pid", "tcp", "nothing", "quoted"]);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows.get(0, "db"), Some(db.name()));
        let pid = client.backend_pid().unwrap();
        assert_eq!(rows.get(0, "pid"), Some(pid.to_string().as_str()));
        assert_eq!(rows.get(0, "tcp"), Some(if over_tcp { "t" } else { "f" }));
        assert_eq!(rows.rows()[0][3], None);
        assert_eq!(rows.get(0, "quoted"), Some("it's"));
        assert!(client.parameter("server_version").is_some());

        // The server sees a walsender in database mode with our application name.
        let seen = sql(
            &db,
            &format!(
                "SELECT backend_type, application_name FROM pg_stat_activity WHERE pid = {pid}"
            ),
        );
        assert_eq!(
            seen,
            [vec![
                Some("walsender".to_owned()),
                Some("pgkeel".to_owned())
            ]]
        );
        client.close().await;
    }
}

#[tokio::test]
async fn tries_the_next_host_when_one_is_down() {
    let db = TestDatabase::new();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = dead.local_addr().unwrap().port();
    drop(dead);
    let err = connect_err(&format!(
        "host=127.0.0.1 port={dead_port} user=postgres dbname={}",
        db.name()
    ))
    .await;
    assert!(err.is_transient() && !err.is_fatal(), "{err}");
    assert_eq!(err.code(), None);

    let port = db.cluster().port();
    let mut client = connect(&format!(
        "host=127.0.0.1,127.0.0.1 port={dead_port},{port} user=postgres dbname={}",
        db.name()
    ))
    .await;
    let rows = client.simple_query("SELECT 1 AS one").await.unwrap();
    assert_eq!(rows.get(0, "one"), Some("1"));
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out() {
    // Accepts the TCP connection (backlog) but never speaks.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let err = connect_err(&format!(
        "postgres://postgres@127.0.0.1:{port}/postgres?connect_timeout=1"
    ))
    .await;
    assert!(err.is_transient() && !err.is_fatal(), "{err}");
    assert!(err.to_string().contains("no answer"), "{err}");
}

#[tokio::test]
async fn statement_errors_leave_the_connection_usable() {
    let db = TestDatabase::new();
    let mut client = connect(&db.url()).await;
    let err = client
        .simple_query("SELECT * FROM no_such_table")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42P01"), "{err}");
    assert!(!err.is_fatal() && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("no_such_table"), "{err}");
    let rows = client.simple_query("SELECT 2 AS two").await.unwrap();
    assert_eq!(rows.get(0, "two"), Some("2"));

    // A call abandoned midway leaves the connection unusable, and says so.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(100),
        client.simple_query("SELECT pg_sleep(30)"),
    )
    .await;
    assert!(cancelled.is_err(), "pg_sleep(30) returned early");
    let err = client.simple_query("SELECT 1").await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[tokio::test]
async fn a_missing_database_is_fatal() {
    let db = TestDatabase::new();
    let err = connect_err(&db.cluster().url_for("no_such_database")).await;
    assert_eq!(err.code(), Some("3D000"), "{err}");
    assert!(err.is_fatal() && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("database name"), "{err}");
}

#[tokio::test]
async fn identify_system_reports_the_current_wal_position() {
    let db = TestDatabase::new();
    let mut client = connect(&db.url()).await;
    let before = lsn(&db, "SELECT pg_current_wal_flush_lsn()::text");
    let info = client.identify_system().await.unwrap();
    let after = lsn(&db, "SELECT pg_current_wal_lsn()::text");
    assert!(
        before <= info.xlogpos && info.xlogpos <= after,
        "{before} <= {} <= {after}",
        info.xlogpos
    );
    assert!(!info.xlogpos.is_zero());
    assert_eq!(
        Some(info.system_id),
        scalar(
            &db,
            "SELECT system_identifier::text FROM pg_control_system()"
        )
    );
    assert_eq!(
        Some(info.timeline.to_string()),
        scalar(&db, "SELECT timeline_id::text FROM pg_control_checkpoint()")
    );
    assert_eq!(info.dbname.as_deref(), Some(db.name()));
}

#[tokio::test]
async fn streams_a_transaction_and_confirms_the_flush_position() {
    let db = TestDatabase::new();
    published_table(&db);
    let slot = Slot::new(&db, "flow");
    let mut client = connect(&db.url()).await;
    let created = client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap();
    assert_eq!(created.name, slot.name);
    assert_eq!(created.plugin, "pgoutput");
    assert_eq!(created.snapshot_name, None);
    assert!(!created.consistent_point.is_zero());

    sql(
        &db,
        "BEGIN; INSERT INTO items VALUES (1, 'a'); INSERT INTO items VALUES (2, 'b'); COMMIT",
    );
    let mut stream = client
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .unwrap();
    let mut tags = Vec::new();
    let commit_end = loop {
        match next(&mut stream).await.unwrap() {
            ReplicationMessage::XLogData { data, .. } => {
                tags.push(data[0]);
                if data[0] == b'C' {
                    // Commit: Byte1('C') Int8 flags Int64 commit LSN Int64 end LSN Int64 time.
                    break Lsn(u64::from_be_bytes(data[10..18].try_into().unwrap()));
                }
            }
            ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            } => stream.send_status(false).await.unwrap(),
            ReplicationMessage::Keepalive { .. } => {}
        }
    };
    assert_eq!(String::from_utf8_lossy(&tags), "BRIIC");
    assert!(commit_end > created.consistent_point);

    let query = format!(
        "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '{}'",
        slot.name
    );
    assert!(lsn(&db, &query) < commit_end);
    stream.advance_write(commit_end);
    stream.advance_flush(commit_end);
    stream.advance_apply(commit_end);
    // Lower positions are ignored: the update still reports the commit's end.
    stream.advance_flush(created.consistent_point);
    assert_eq!(stream.feedback().flush, commit_end);
    stream.send_status(false).await.unwrap();
    until("confirmed_flush_lsn reaches the commit's end", || {
        lsn(&db, &query) == commit_end
    })
    .await;
    stream.finish().await.unwrap();

    // The slot outlives the connection until dropped.
    let mut client = connect(&db.url()).await;
    client.drop_slot(&slot.name, true).await.unwrap();
    let count = format!(
        "SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = '{}'",
        slot.name
    );
    assert_eq!(scalar(&db, &count).as_deref(), Some("0"));
}

#[tokio::test]
async fn temporary_two_phase_slot_goes_with_its_connection() {
    let db = TestDatabase::new();
    let slot = Slot::new(&db, "temp");
    let mut client = connect(&db.url()).await;
    let created = client
        .create_logical_slot(
            &slot.name,
            CreateSlot {
                temporary: true,
                two_phase: true,
            },
        )
        .await
        .unwrap();
    assert!(!created.consistent_point.is_zero());
    assert_eq!(created.snapshot_name, None);
    let row = sql(
        &db,
        &format!(
            "SELECT temporary::text, two_phase::text, plugin::text FROM pg_replication_slots \
             WHERE slot_name = '{}'",
            slot.name
        ),
    );
    let text = |s: &str| Some(s.to_owned());
    assert_eq!(row, [vec![text("true"), text("true"), text("pgoutput")]]);

    let err = client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("42710"), "{err}");

    client.close().await;
    let count = format!(
        "SELECT count(*)::text FROM pg_replication_slots WHERE slot_name = '{}'",
        slot.name
    );
    until("the temporary slot disappears", || {
        scalar(&db, &count).as_deref() == Some("0")
    })
    .await;
}

#[tokio::test]
async fn a_missing_slot_is_fatal() {
    let db = TestDatabase::new();
    published_table(&db);
    let client = connect(&db.url()).await;
    let err = client
        .start_logical("no_such_slot", Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), Some("42704"), "{err}");
    assert!(err.is_fatal() && !err.is_transient(), "{err}");
    assert!(err.to_string().contains("--create"), "{err}");

    let mut client = connect(&db.url()).await;
    let err = client.drop_slot("Bad Name", false).await.unwrap_err();
    assert!(err.is_fatal() && err.code().is_none(), "{err}");
}

#[tokio::test]
async fn a_slot_in_use_is_transient() {
    let db = TestDatabase::new();
    published_table(&db);
    let slot = Slot::new(&db, "busy");
    let mut client = connect(&db.url()).await;
    client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap();
    let first = client
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .unwrap();

    let second = connect(&db.url()).await;
    let err = second
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.code(), Some("55006"), "{err}");
    assert!(err.is_transient() && !err.is_fatal(), "{err}");
    first.finish().await.unwrap();
}

#[tokio::test]
async fn a_terminated_walsender_is_a_transient_error() {
    let db = TestDatabase::new();
    published_table(&db);
    let slot = Slot::new(&db, "killed");
    let mut client = connect(&db.url()).await;
    client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap();
    let mut stream = client
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .unwrap();
    let pid = stream.backend_pid().unwrap();
    let active = format!(
        "SELECT active_pid::text FROM pg_replication_slots WHERE slot_name = '{}'",
        slot.name
    );
    assert_eq!(scalar(&db, &active), Some(pid.to_string()));
    sql(&db, &format!("SELECT pg_terminate_backend({pid})"));
    let err = until_error(&mut stream, true).await;
    assert!(err.is_transient() && !err.is_fatal(), "{err}");
    assert_eq!(err.code(), Some("57P01"), "{err}");
}

#[tokio::test]
async fn answering_keepalives_keeps_the_stream_alive() {
    let db = TestDatabase::new();
    published_table(&db);
    let slot = Slot::new(&db, "idle");
    // wal_sender_timeout can be set per connection: 2 s, so the server asks for replies after
    // 1 s of silence and gives up after 2 s.
    let url = format!("{}?options=-c%20wal_sender_timeout%3D2s", db.url());
    let mut client = connect(&url).await;
    let shown = client
        .simple_query("SHOW wal_sender_timeout")
        .await
        .unwrap();
    assert_eq!(shown.rows()[0][0].as_deref(), Some("2s"));
    client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap();
    let mut stream = client
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .unwrap();

    // Idle for three times the timeout, answering every request (recv is cancelled at the
    // end of the window, which must be harmless).
    let window_end = tokio::time::Instant::now() + Duration::from_secs(6);
    let mut requests = 0;
    loop {
        match tokio::time::timeout_at(window_end, stream.recv()).await {
            Err(_) => break,
            Ok(Ok(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            })) => {
                requests += 1;
                stream.send_status(false).await.unwrap();
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("the stream failed although keepalives were answered: {e}"),
        }
    }
    assert!(requests >= 1, "the server never asked for a reply");
    let active = format!(
        "SELECT active_pid::text FROM pg_replication_slots WHERE slot_name = '{}'",
        slot.name
    );
    assert_eq!(
        scalar(&db, &active),
        stream.backend_pid().map(|p| p.to_string())
    );

    // Control: a stream that stops answering is dropped by the server (it closes the
    // connection without an error message).
    let err = until_error(&mut stream, false).await;
    assert!(err.is_transient() && err.code().is_none(), "{err}");
    assert!(err.to_string().contains("closed the connection"), "{err}");
}

#[tokio::test]
async fn a_cancelled_recv_loses_nothing() {
    let db = TestDatabase::new();
    published_table(&db);
    let slot = Slot::new(&db, "cancel");
    let mut client = connect(&db.url()).await;
    client
        .create_logical_slot(&slot.name, CreateSlot::default())
        .await
        .unwrap();
    // One row of about 4 MB (many socket reads) and 100 small ones, in one transaction.
    sql(
        &db,
        "BEGIN; INSERT INTO items VALUES (0, repeat('x', 4000000)); \
         INSERT INTO items SELECT g, 'small' FROM generate_series(1, 100) g; COMMIT",
    );
    let mut stream = client
        .start_logical(&slot.name, Lsn::ZERO, &pgoutput("items_pub"))
        .await
        .unwrap();
    let (mut tags, mut largest, mut cancelled) = (Vec::new(), 0, 0u64);
    let deadline = tokio::time::Instant::now() + LIVENESS;
    while tags.last() != Some(&b'C') {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no commit after {tags:?}"
        );
        match tokio::time::timeout(Duration::from_micros(20), stream.recv()).await {
            Err(_) => cancelled += 1,
            Ok(Ok(ReplicationMessage::XLogData { data, .. })) => {
                tags.push(data[0]);
                largest = largest.max(data.len());
            }
            Ok(Ok(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            })) => stream.send_status(false).await.unwrap(),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("recv failed after {cancelled} cancellations: {e}"),
        }
    }
    let expected = format!("BR{}C", "I".repeat(101));
    assert_eq!(String::from_utf8_lossy(&tags), expected);
    assert!(largest > 4_000_000, "largest message {largest} bytes");
    println!("recv was cancelled {cancelled} times");
    stream.finish().await.unwrap();
}

/// Password authentication needs a cluster whose pg_hba.conf asks for it.
mod private {
    use pgkeel_embedded::harness::private_cluster;

    use super::*;

    async fn password_method(method: &str) {
        let cluster = private_cluster()
            .password_role("repl_app", "s3cret: pw")
            .auth_method(method)
            .start()
            .unwrap();
        let mut client = connect(&cluster.url()).await;
        let rows = client
            .simple_query(
                "SELECT current_user::text AS who, \
                 (SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1) AS hba, \
                 (SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = current_user) \
                 AS stored",
            )
            .await
            .unwrap();
        assert_eq!(rows.get(0, "who"), Some("repl_app"));
        assert_eq!(rows.get(0, "hba"), Some(method));
        if method == "md5" {
            assert_eq!(rows.get(0, "stored"), Some("md5"));
        }
        assert!(!client.identify_system().await.unwrap().xlogpos.is_zero());
        client.close().await;

        let port = cluster.port();
        let err = connect_err(&format!(
            "postgres://repl_app:wrong@127.0.0.1:{port}/postgres"
        ))
        .await;
        assert_eq!(err.code(), Some("28P01"), "{method}: {err}");
        assert!(err.is_fatal() && !err.is_transient(), "{err}");
        assert!(err.to_string().contains("password"), "{err}");

        let err = connect_err(&format!("postgres://repl_app@127.0.0.1:{port}/postgres")).await;
        assert!(err.is_fatal() && err.code().is_none(), "{method}: {err}");
        assert!(err.to_string().contains("has none"), "{err}");
    }

    /// A fast shutdown ends the stream with CommandComplete, without a CopyDone first
    /// (PostgreSQL's walsender does so once the client confirmed everything): a transient
    /// end, never a protocol violation.
    #[tokio::test]
    async fn a_shutting_down_server_ends_the_stream_transiently() {
        let cluster = std::sync::Arc::new(private_cluster().start().unwrap());
        cluster
            .admin_query(
                "CREATE TABLE items (id int PRIMARY KEY, name text); \
                 CREATE PUBLICATION items_pub FOR TABLE items",
            )
            .unwrap();
        let mut client = connect(&cluster.url()).await;
        client
            .create_logical_slot("shutdown_slot", CreateSlot::default())
            .await
            .unwrap();
        let mut stream = client
            .start_logical("shutdown_slot", Lsn::ZERO, &pgoutput("items_pub"))
            .await
            .unwrap();
        let stopping = std::sync::Arc::clone(&cluster);
        let stop = tokio::task::spawn_blocking(move || stopping.stop());
        let err = loop {
            match next(&mut stream).await {
                Ok(ReplicationMessage::Keepalive { wal_end, .. }) => {
                    stream.advance_write(wal_end);
                    stream.advance_flush(wal_end);
                    stream.send_status(false).await.unwrap();
                }
                Ok(ReplicationMessage::XLogData { .. }) => {}
                Err(e) => break e,
            }
        };
        stop.await.unwrap().unwrap();
        assert!(err.is_transient() && !err.is_fatal(), "{err}");
        assert!(
            err.to_string().contains("ended the replication stream"),
            "{err}"
        );
    }

    /// Behind a proxy that accepts while the server is down, the answer (FATAL 08006) says
    /// "ask again soon"; straight to the stopped server, the connection is refused instead.
    #[tokio::test]
    async fn a_proxy_answering_for_a_stopped_server_is_an_upstream_outage() {
        let cluster = private_cluster().start().unwrap();
        let proxy = pgkeel_testkit::proxy_to(cluster.port()).await;
        let proxied = format!(
            "postgres://{}@127.0.0.1:{}/postgres",
            cluster.user(),
            proxy.port().unwrap()
        );
        connect(&proxied).await.close().await;
        cluster.stop().unwrap();
        let err = connect_err(&proxied).await;
        assert_eq!(err.code(), Some("08006"), "{err}");
        assert!(err.is_upstream_unavailable() && err.is_transient(), "{err}");
        let direct = connect_err(&cluster.url()).await;
        assert!(
            !direct.is_upstream_unavailable() && direct.is_transient(),
            "{direct}"
        );
    }

    #[tokio::test]
    async fn scram_sha_256_password() {
        password_method("scram-sha-256").await;
    }

    #[tokio::test]
    async fn md5_password() {
        password_method("md5").await;
    }

    #[tokio::test]
    async fn cleartext_password() {
        password_method("password").await;
    }
}
