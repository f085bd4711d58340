//! `pgkeel stream` as a user runs it: into a file, through a proxy that kills its
//! replication connection 50+ times while a writer commits 20 000 rows, and `kill -9` in the
//! middle followed by a restart: every row arrives exactly once, in commit order. Also the
//! fatal setup errors, `status` and `drop`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use pgkeel_embedded::harness::private_cluster;
use pgkeel_testkit::{LIVENESS, connect, eventually, proxy_to, within};

const ROWS: i32 = 20_000;

fn stream_command(url: &str, file: &Path, log: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_pgkeel"));
    cmd.env_remove("RUST_LOG")
        .args([
            "stream",
            "--database-url",
            url,
            "--slot",
            "cdc",
            "--publication",
            "cdc",
        ])
        .args(["--tables", "rows", "--create", "--status-interval", "200ms"])
        .arg("--sink")
        .arg(format!("file:{}", file.display()))
        .stdout(Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .kill_on_drop(true);
    cmd
}

/// Every (commit_lsn, ordinal, id) line of the file, in file order (a line torn by kill -9
/// is cut off by the restarted sink before it appends).
fn read_events(file: &Path) -> Vec<(String, u64, i64)> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .map(|e| {
            (
                e["commit_lsn"].as_str().unwrap().to_owned(),
                e["ordinal"].as_u64().unwrap(),
                e["new"]["id"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn lsn(text: &str) -> u64 {
    let (high, low) = text.split_once('/').unwrap();
    (u64::from_str_radix(high, 16).unwrap() << 32) | u64::from_str_radix(low, 16).unwrap()
}

#[tokio::test]
async fn every_row_arrives_through_50_killed_connections_and_a_kill_9() {
    let cluster = tokio::task::spawn_blocking(|| private_cluster().start().unwrap())
        .await
        .unwrap();
    let proxy = proxy_to(cluster.port()).await;
    let proxied = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        proxy.port().unwrap()
    );
    let sql = connect(&cluster.url()).await;
    sql.batch_execute("CREATE TABLE rows (id int PRIMARY KEY)")
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("pgkeel-stream-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, log) = (dir.join("events.jsonl"), dir.join("stream.log"));
    let mut child = stream_command(&proxied, &file, &log).spawn().unwrap();
    wait_active(&sql).await;

    let writer_sql = connect(&cluster.url()).await;
    let writer = tokio::spawn(async move {
        let mut rng = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = 1;
        while next <= ROWS {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let last = (next + (rng % 300) as i32).min(ROWS);
            writer_sql
                .execute(
                    "INSERT INTO rows SELECT generate_series($1::int, $2::int)",
                    &[&next, &last],
                )
                .await
                .unwrap();
            next = last + 1;
            // About 8 s of writing, so the kills (and the kill -9) land while rows arrive.
            tokio::time::sleep(Duration::from_millis(20 + rng % 80)).await;
        }
    });

    let mut kills = 0;
    let mut killed_process = false;
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    // The whole scenario (about 8 s of writing) gets twice the test kit's liveness guard,
    // which is as long as nextest lets a test run.
    let deadline = tokio::time::Instant::now() + 2 * LIVENESS;
    loop {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Pacing, not waiting for anything: a kill every 50–200 ms while rows arrive.
        tokio::time::sleep(Duration::from_millis(50 + rng % 150)).await;
        if kills < 50 || !writer.is_finished() {
            for connection in proxy.connections() {
                if proxy.kill_connection(connection.id) {
                    kills += 1;
                }
            }
        }
        if kills >= 25 && !killed_process {
            assert!(
                !writer.is_finished(),
                "the writer finished before the kill -9"
            );
            // kill -9 in the middle of the stream; the restart resumes from the slot.
            child.start_kill().unwrap();
            child.wait().await.unwrap();
            killed_process = true;
            child = stream_command(&proxied, &file, &log).spawn().unwrap();
        }
        if writer.is_finished() && kills >= 50 {
            let ids: BTreeSet<i64> = read_events(&file).iter().map(|e| e.2).collect();
            if ids.len() == ROWS as usize {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every row arrived in time; log:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    writer.await.unwrap();
    assert!(kills >= 50 && killed_process);

    let events = read_events(&file);
    let ids: BTreeSet<i64> = events.iter().map(|e| e.2).collect();
    assert_eq!(ids, (1..=i64::from(ROWS)).collect::<BTreeSet<_>>());
    // In commit order: the first occurrence of each event never goes backwards, and a
    // transaction's rows keep their ordinals.
    let mut first: BTreeMap<(u64, u64), i64> = BTreeMap::new();
    let mut last = (0, 0);
    for (commit_lsn, ordinal, id) in &events {
        let key = (lsn(commit_lsn), *ordinal);
        match first.get(&key) {
            Some(seen) => assert_eq!(seen, id, "the same event with different rows"),
            None => {
                assert!(key > last, "out of commit order: {key:?} after {last:?}");
                last = key;
                first.insert(key, *id);
            }
        }
    }
    // Exactly once: the file sink resumes after its own last line, and skips what a
    // reconnect resends, so no event is in the file twice.
    assert_eq!(
        events.len(),
        first.len(),
        "{} duplicates in the file",
        events.len() - first.len()
    );
    println!(
        "{} lines for {ROWS} rows, {kills} connection kills, 1 kill -9",
        events.len()
    );
    // A clean stop: SIGTERM, exit 0.
    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = within("the stream exits on SIGTERM", child.wait())
        .await
        .unwrap();
    assert!(status.success(), "exit {status:?}");
    let _ = std::fs::remove_dir_all(&dir);
    tokio::task::spawn_blocking(move || cluster.close().unwrap())
        .await
        .unwrap();
}

async fn wait_active(sql: &tokio_postgres::Client) {
    eventually("the stream's slot is active", || async {
        sql.query_opt(
            "SELECT active FROM pg_replication_slots WHERE slot_name = 'cdc'",
            &[],
        )
        .await
        .unwrap()
        .is_some_and(|r| r.get::<_, bool>(0))
    })
    .await;
}

#[test]
fn setup_errors_exit_1_with_the_cause_and_status_and_drop_work() {
    let cluster = private_cluster().start().unwrap();
    cluster
        .admin_query("CREATE TABLE t (id int PRIMARY KEY)")
        .unwrap();
    let url = cluster.url();
    let run = |args: &[&str]| {
        crate::common::pgkeel()
            .args(args)
            .env("DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let missing = run(&["stream", "--slot", "nope", "--publication", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("publication \"nope\" does not exist") && stderr.contains("--create"),
        "{stderr}"
    );
    // Create both, then stop at once (the slot and publication stay).
    cluster
        .admin_query("CREATE PUBLICATION cdc FOR TABLE t")
        .unwrap();
    cluster
        .admin_query("SELECT pg_create_logical_replication_slot('cdc', 'pgoutput')")
        .unwrap();
    let status = run(&[
        "stream",
        "status",
        "--slot",
        "cdc",
        "--publication",
        "cdc",
        "--json",
    ]);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(json["slot"]["active"], false);
    assert_eq!(
        json["publication"]["tables"],
        serde_json::json!(["public.t"])
    );
    assert!(json["slot"]["lag_bytes"].as_i64().is_some());
    assert!(json["slot"].get("safe_wal_size").is_some(), "{json}");
    // --max-lag: an alarm for cron. WAL written since the slot was created is its lag.
    cluster
        .admin_query("INSERT INTO t SELECT generate_series(1, 1000)")
        .unwrap();
    let base = ["stream", "status", "--slot", "cdc", "--publication", "cdc"];
    let alarm = run(&[&base[..], &["--max-lag", "0"]].concat());
    assert_eq!(alarm.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&alarm.stderr);
    assert!(stderr.contains("more than --max-lag 0"), "{stderr}");
    let calm = run(&[&base[..], &["--max-lag", "100000000000"]].concat());
    assert_eq!(calm.status.code(), Some(0));
    let gone = run(&[
        "stream",
        "status",
        "--slot",
        "nope",
        "--publication",
        "cdc",
        "--max-lag",
        "1",
    ]);
    assert_eq!(gone.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&gone.stderr).contains("does not exist"));
    let text = run(&["stream", "status", "--slot", "cdc", "--publication", "cdc"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("confirmed flush"));
    let dropped = run(&["stream", "drop", "--slot", "cdc", "--publication", "cdc"]);
    assert!(dropped.status.success());
    let rows = cluster
        .admin_query("SELECT (SELECT count(*) FROM pg_replication_slots) + (SELECT count(*) FROM pg_publication)")
        .unwrap();
    assert_eq!(rows[0][0].as_deref(), Some("0"));
    cluster.close().unwrap();
}

#[test]
fn drop_json_says_what_was_dropped() {
    let db = pgkeel_embedded::harness::TestDatabase::new();
    let sql = |query: &str| {
        db.cluster()
            .admin_query_in(db.name(), query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
    };
    let slot = format!("{}_json", db.name());
    sql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION json_pub FOR TABLE t");
    sql(&format!(
        "SELECT pg_create_logical_replication_slot('{slot}', 'pgoutput')"
    ));
    let drop = || {
        let output = crate::common::pgkeel()
            .args([
                "stream",
                "drop",
                "--slot",
                &slot,
                "--publication",
                "json_pub",
            ])
            .arg("--json")
            .env("DATABASE_URL", db.url())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&output.stdout));
        })
    };
    let expect = |dropped: bool| {
        serde_json::json!({
            "slot": { "name": slot, "dropped": dropped },
            "publication": { "name": "json_pub", "dropped": dropped },
        })
    };
    assert_eq!(drop(), expect(true));
    let left = sql(&format!(
        "SELECT (SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{slot}') + \
                (SELECT count(*) FROM pg_publication WHERE pubname = 'json_pub')"
    ));
    assert_eq!(left[0][0].as_deref(), Some("0"));
    // Nothing left: the same command says so, and still succeeds.
    assert_eq!(drop(), expect(false));
}
