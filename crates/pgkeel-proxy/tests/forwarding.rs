//! With no rules the proxy is invisible: simple and extended protocol, COPY both ways, large
//! results, LISTEN/NOTIFY, psql with sslmode=prefer, unix sockets, pg_recvlogical.

use std::process::Stdio;

use futures_util::SinkExt;
use pgkeel_proxy::Address;
use pgkeel_wire::MessageType;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::common::{
    LIVENESS, Setup, answers, connect, connect_with_connection, eventually, pg_program,
    simple_scalar, start_proxy,
};

#[tokio::test]
async fn simple_extended_and_copy_pass_through() {
    let s = Setup::new().await;
    let client = connect(&s.url_as("fwd")).await.unwrap();
    client
        .batch_execute("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
        .await
        .unwrap();
    assert_eq!(
        simple_scalar(&client, "SELECT count(*) FROM t")
            .await
            .unwrap(),
        "1000"
    );
    let row = client
        .query_one("SELECT v FROM t WHERE id = $1", &[&42i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0).len(), 32);

    // COPY FROM STDIN and COPY TO STDOUT.
    let sink = client.copy_in("COPY t (id, v) FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    let mut data = String::new();
    for i in 1001..=3000 {
        data.push_str(&format!("{i}\trow {i}\n"));
    }
    sink.send(bytes::Bytes::from(data)).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 2000);
    let stream = client
        .copy_out("COPY (SELECT id FROM t ORDER BY id) TO STDOUT")
        .await
        .unwrap();
    let chunks: Vec<bytes::Bytes> = futures_util::TryStreamExt::try_collect(stream)
        .await
        .unwrap();
    let text: String = chunks
        .iter()
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    assert_eq!(text.lines().count(), 3000);

    // A result far larger than the proxy's read buffer arrives intact.
    let big = client
        .query_one(
            "SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200000) g",
            &[],
        )
        .await
        .unwrap();
    let direct = connect(&s.direct_url()).await.unwrap();
    let expected = direct
        .query_one(
            "SELECT string_agg(md5(g::text), '') FROM generate_series(1, 200000) g",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(big.get::<_, String>(0), expected.get::<_, String>(0));

    // The proxy knows who is connected.
    let conns = s.proxy.connections();
    let mine = conns
        .iter()
        .find(|c| c.application_name.as_deref() == Some("fwd"))
        .unwrap();
    assert_eq!(mine.database.as_deref(), Some(s.db.name()));
    assert_eq!(mine.user.as_deref(), Some("postgres"));
    let pid: i32 = simple_scalar(&client, "SELECT pg_backend_pid()")
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(mine.backend_pid, Some(pid));
    assert!(mine.bytes_from_server > 6_400_000, "{mine:?}");

    // And it recorded the conversation, typed by direction.
    let recording = s.proxy.recording();
    let saw = |t: MessageType| recording.iter().any(|r| r.message == t);
    for t in [
        MessageType::StartupMessage,
        MessageType::Query,
        MessageType::Parse,
        MessageType::CopyData,
        MessageType::CopyInResponse,
        MessageType::DataRow,
        MessageType::ReadyForQuery,
        MessageType::BackendKeyData,
    ] {
        assert!(saw(t), "{t:?} not recorded");
    }
}

#[tokio::test]
async fn notifications_pass_through() {
    let s = Setup::new().await;
    let (listener, mut connection) = connect_with_connection(&s.url()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = futures_util::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = message {
                let _ = tx.send((n.channel().to_owned(), n.payload().to_owned()));
            }
        }
    });
    listener.batch_execute("LISTEN jobs").await.unwrap();
    let notifier = connect(&s.direct_url()).await.unwrap();
    notifier
        .batch_execute("NOTIFY jobs, 'hello'")
        .await
        .unwrap();
    let got = tokio::time::timeout(LIVENESS, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, ("jobs".to_owned(), "hello".to_owned()));
}

#[tokio::test]
async fn psql_with_sslmode_prefer_gets_plaintext() {
    let s = Setup::new().await;
    let url = format!("{}?sslmode=prefer", s.url());
    let out = tokio::process::Command::new(pg_program("psql"))
        .args([
            url.as_str(),
            "-X",
            "-A",
            "-t",
            "-c",
            "SELECT 'through the proxy'",
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "through the proxy"
    );
    let recording = s.proxy.recording();
    assert!(
        recording
            .iter()
            .any(|r| r.message == MessageType::SslRequest)
    );
    assert!(
        recording
            .iter()
            .any(|r| r.message == MessageType::SslResponse && r.summary.starts_with('N'))
    );
}

#[tokio::test]
async fn unix_sockets_on_both_sides() {
    let db = pgkeel_embedded::harness::TestDatabase::new();
    let dir = std::env::temp_dir().join(format!("pgkeel-proxy-sock-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let listen = dir.join(".s.PGSQL.6543");
    let proxy = start_proxy(db.cluster(), |mut c| {
        c.listen = Address::Unix(listen.clone());
        c.upstream = Address::Unix(db.cluster().socket_path());
        c
    })
    .await;
    let url = format!(
        "postgres:///{}?host={}&port=6543&user=postgres",
        db.name(),
        dir.display()
    );
    let client = connect(&url).await.unwrap();
    answers(&client, "unix").await;
    assert_eq!(proxy.connections().len(), 1);
    drop(client);
    proxy.shutdown().await;
    assert!(!listen.exists(), "socket file left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn pg_recvlogical_streams_through_the_proxy() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE events (id int)")
        .await
        .unwrap();
    let slot = format!("slot_{}", s.db.name());
    let mut child = tokio::process::Command::new(pg_program("pg_recvlogical"))
        .args([
            "-d",
            &s.url(),
            "--slot",
            &slot,
            "--create-slot",
            "--start",
            "-P",
            "test_decoding",
            "-f",
            "-",
            "-s",
            "1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until the slot exists (created through the proxy), then write.
    eventually("pg_recvlogical's slot is active", || async {
        simple_scalar(
            &direct,
            &format!(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}' AND active"
            ),
        )
        .await
        .unwrap()
            == "1"
    })
    .await;
    direct
        .batch_execute("INSERT INTO events VALUES (7), (8)")
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let line = tokio::time::timeout(LIVENESS, lines.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if line.contains("INSERT") {
            seen.push(line);
        }
    }
    assert!(seen[0].contains("id[integer]:7"), "{seen:?}");
    child.kill().await.unwrap();
    let _ = child.wait().await;
    let rec = s.proxy.recording();
    assert!(
        rec.iter()
            .any(|r| r.message == MessageType::CopyBothResponse),
        "no CopyBoth seen"
    );
    // Drop the slot so the database can be dropped (once pg_recvlogical's walsender is gone).
    eventually("the slot can be dropped", || async {
        direct
            .batch_execute(&format!("SELECT pg_drop_replication_slot('{slot}')"))
            .await
            .is_ok()
    })
    .await;
}
