//! Every action against real clients: kill, after(n), killall then allow, reset, cancel (both
//! kinds), stall, drop, delay, connect_delay, where(...).

use std::time::{Duration, Instant};

use futures_util::SinkExt;

use crate::common::{
    LIVENESS, Setup, answers, connect, connect_with_connection, eventually, simple_scalar, sqlstate,
};

#[tokio::test]
async fn kill_on_commit_between_statements_loses_the_transaction() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE t (v int)")
        .await
        .unwrap();
    s.rules(r#"conn.onQuery(query="^COMMIT").kill()"#);
    let client = connect(&s.url()).await.unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let err = client.batch_execute("COMMIT").await.unwrap_err();
    assert!(
        err.is_closed() || err.to_string().contains("closed"),
        "{err}"
    );
    assert!(client.is_closed());
    // The COMMIT never reached the server: the row is gone.
    eventually("the killed session's backend has exited", || async {
        simple_scalar(&direct, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").await.unwrap() == "0"
    })
    .await;
    assert_eq!(
        simple_scalar(&direct, "SELECT count(*) FROM t")
            .await
            .unwrap(),
        "0"
    );
    assert_eq!(s.proxy.wait_fired(Some(0), 1, LIVENESS).await, Ok(1));
}

#[tokio::test]
async fn after_two_lets_two_through() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT").after(2).kill()"#);
    let client = connect(&s.url()).await.unwrap();
    assert_eq!(simple_scalar(&client, "SELECT 1").await.unwrap(), "1");
    assert_eq!(simple_scalar(&client, "SELECT 2").await.unwrap(), "2");
    assert!(simple_scalar(&client, "SELECT 3").await.is_err());
    // after() counts per connection: a new one gets its own two.
    let other = connect(&s.url()).await.unwrap();
    assert_eq!(simple_scalar(&other, "SELECT 4").await.unwrap(), "4");
}

#[tokio::test]
async fn copy_killed_on_copy_data() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE c (v int)")
        .await
        .unwrap();
    s.rules("conn.onCopyData().kill()");
    let client = connect(&s.url()).await.unwrap();
    let sink = client.copy_in("COPY c FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    let sent = sink.send(bytes::Bytes::from_static(b"1\n2\n")).await;
    let finished = match sent {
        Ok(()) => sink.finish().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(finished.is_err(), "COPY succeeded through a kill rule");
    assert_eq!(
        simple_scalar(&direct, "SELECT count(*) FROM c")
            .await
            .unwrap(),
        "0"
    );
}

#[tokio::test]
async fn killall_kills_new_connections_until_rules_change() {
    let s = Setup::new().await;
    let bystander = connect(&s.url()).await.unwrap();
    s.rules(r#"conn.onQuery(query="^SELECT 'trigger'").killall()"#);
    let victim = connect(&s.url()).await.unwrap();
    assert!(simple_scalar(&victim, "SELECT 'trigger'").await.is_err());
    assert!(
        connect(&s.url()).await.is_err(),
        "a new connection survived killall"
    );
    assert!(
        simple_scalar(&bystander, "SELECT 1").await.is_err(),
        "existing connections die on their next message"
    );
    s.rules("conn.allow()");
    let fresh = connect(&s.url()).await.unwrap();
    answers(&fresh, "alive").await;
}

#[tokio::test]
async fn reset_is_seen_as_a_reset() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT 'reset me'").reset()"#);
    let (client, connection) = connect_with_connection(&s.url()).await.unwrap();
    let driver = tokio::spawn(connection);
    assert!(simple_scalar(&client, "SELECT 'reset me'").await.is_err());
    let err = tokio::time::timeout(LIVENESS, driver)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    let io = std::error::Error::source(&err)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .map(|e| e.kind());
    assert_eq!(io, Some(std::io::ErrorKind::ConnectionReset), "{err:?}");
}

#[tokio::test]
async fn protocol_cancel_cancels_a_sleep() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="pg_sleep").cancel()"#);
    let client = connect(&s.url()).await.unwrap();
    let err = tokio::time::timeout(LIVENESS, simple_scalar(&client, "SELECT pg_sleep(60)"))
        .await
        .expect("the sleep was not cancelled")
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
    // The connection survives a cancelled query.
    answers(&client, "still here").await;
}

#[tokio::test]
async fn citus_cancel_signals_a_local_backend() {
    let s = Setup::new().await;
    let sleeper = connect(&s.direct_url()).await.unwrap();
    let pid: i32 = simple_scalar(&sleeper, "SELECT pg_backend_pid()")
        .await
        .unwrap()
        .parse()
        .unwrap();
    let sleeping =
        tokio::spawn(async move { simple_scalar(&sleeper, "SELECT pg_sleep(60)").await });
    let watcher = connect(&s.direct_url()).await.unwrap();
    eventually("the backend to signal is inside pg_sleep", || async {
        simple_scalar(
            &watcher,
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid} AND wait_event = 'PgSleep'"
            ),
        )
        .await
        .unwrap()
            == "1"
    })
    .await;
    s.rules(&format!(
        r#"conn.onQuery(query="^SELECT 'go'").cancel({pid})"#
    ));
    let client = connect(&s.url()).await.unwrap();
    assert_eq!(
        simple_scalar(&client, "SELECT 'go'").await.unwrap(),
        "go",
        "cancel(pid) forwards the message"
    );
    let err = tokio::time::timeout(LIVENESS, sleeping)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
}

#[tokio::test]
async fn stall_makes_the_client_time_out_and_allow_resumes() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT 'held'").stall()"#);
    let client = connect(&s.url()).await.unwrap();
    let query = simple_scalar(&client, "SELECT 'held'");
    tokio::pin!(query);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut query)
            .await
            .is_err(),
        "stalled query answered"
    );
    s.proxy.wait_fired(Some(0), 1, LIVENESS).await.unwrap();
    assert!(s.proxy.connections().iter().any(|c| c.stalled));
    s.rules("conn.allow()");
    let answer = tokio::time::timeout(LIVENESS, query)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer, "held",
        "the held message is forwarded once the rules change"
    );
}

#[tokio::test]
async fn drop_swallows_the_message() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT 'lost'").drop()"#);
    let client = connect(&s.url()).await.unwrap();
    let lost = tokio::time::timeout(
        Duration::from_millis(500),
        simple_scalar(&client, "SELECT 'lost'"),
    )
    .await;
    assert!(lost.is_err(), "a dropped query was answered");
    let recording = s.proxy.recording();
    assert!(
        recording
            .iter()
            .any(|r| r.action == Some("drop") && r.summary == "SELECT 'lost'")
    );
}

#[tokio::test]
async fn delay_holds_messages_at_least_that_long() {
    let s = Setup::new().await;
    let client = connect(&s.url()).await.unwrap();
    s.rules(r#"conn.onQuery(query="^SELECT 'slow'").delay(300)"#);
    let started = Instant::now();
    answers(&client, "slow").await;
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn connect_delay_holds_the_startup_packet() {
    let s = Setup::new().await;
    s.rules("conn.connect_delay(300)");
    let started = Instant::now();
    let client = connect(&s.url()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    // Only the first packet is delayed, and queries work.
    assert_eq!(simple_scalar(&client, "SELECT 1").await.unwrap(), "1");
    assert_eq!(s.proxy.rules().fired_counts(), vec![1]);
}

#[tokio::test]
async fn where_scopes_a_rule_to_one_application() {
    let s = Setup::new().await;
    s.rules(r#"conn.where(application_name="^victim$").onQuery().kill()"#);
    let victim = connect(&s.url_as("victim")).await.unwrap();
    let other = connect(&s.url_as("other")).await.unwrap();
    assert!(simple_scalar(&victim, "SELECT 1").await.is_err());
    assert_eq!(simple_scalar(&other, "SELECT 1").await.unwrap(), "1");
}

#[tokio::test]
async fn kill_on_authentication_ok_but_not_on_sasl() {
    let cluster = pgkeel_embedded::harness::private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    let proxy = crate::common::start_proxy(&cluster, |c| c).await;
    let url = format!(
        "postgres://app:secret@127.0.0.1:{}/postgres",
        proxy.port().unwrap()
    );
    proxy
        .set_rules("conn.onAuthenticationSASL().allow(); conn.onAuthenticationOk().kill()")
        .unwrap();
    assert!(
        connect(&url).await.is_err(),
        "AuthenticationOk was not killed"
    );
    let fired = proxy.rules().fired_counts();
    assert_eq!(fired, vec![1, 1], "SASL and Ok must be told apart");
}
