//! The remaining filters and modifiers against a real client: matches, contains, times,
//! sometimes (reproducible from the seed), fromServer; and a client's own CancelRequest
//! through the proxy.

use std::time::Duration;

use futures_util::SinkExt;
use pgkeel_wire::MessageType;

use crate::common::{LIVENESS, Setup, answers, connect, eventually, simple_scalar, sqlstate};

#[tokio::test]
async fn matches_on_raw_bytes_counts_with_after() {
    let s = Setup::new().await;
    // Citus's README: `matches(b"^Q")` is another way of writing onQuery().
    s.rules(r#"conn.matches(b"^Q").after(1).kill()"#);
    let client = connect(&s.url()).await.unwrap();
    assert_eq!(simple_scalar(&client, "SELECT 1").await.unwrap(), "1");
    assert!(simple_scalar(&client, "SELECT 2").await.is_err());
}

#[tokio::test]
async fn contains_drops_only_matching_messages() {
    let s = Setup::new().await;
    s.rules(r#"conn.contains(b"secret").drop()"#);
    let client = connect(&s.url()).await.unwrap();
    answers(&client, "public").await;
    let hidden = tokio::time::timeout(
        Duration::from_millis(300),
        simple_scalar(&client, "SELECT 'secret'"),
    )
    .await;
    assert!(hidden.is_err(), "a dropped message was answered");
}

#[tokio::test]
async fn times_limits_firings_across_connections() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT 'once'").times(1).kill()"#);
    let first = connect(&s.url()).await.unwrap();
    assert!(simple_scalar(&first, "SELECT 'once'").await.is_err());
    let second = connect(&s.url()).await.unwrap();
    answers(&second, "once").await;
    assert_eq!(s.proxy.rules().fired_counts(), vec![1]);
}

async fn coin_flips(seed: u64) -> Vec<bool> {
    let s = Setup::with(|mut c| {
        c.seed = seed;
        c
    })
    .await;
    s.rules(r#"conn.onQuery(query="^SELECT 'coin'").sometimes(0.5).error(code="40001")"#);
    let client = connect(&s.url()).await.unwrap();
    let mut flips = Vec::new();
    for _ in 0..32 {
        flips.push(simple_scalar(&client, "SELECT 'coin'").await.is_err());
    }
    flips
}

#[tokio::test]
async fn sometimes_is_reproducible_from_the_seed() {
    let a = coin_flips(42).await;
    let b = coin_flips(42).await;
    let c = coin_flips(43).await;
    assert_eq!(a, b, "same seed, same connection number: same choices");
    assert_ne!(a, c, "another seed gives other choices");
    let hits = a.iter().filter(|h| **h).count();
    assert!((4..=28).contains(&hits), "p=0.5 fired {hits} of 32 times");
}

#[tokio::test]
async fn from_server_copy_data_kills_copy_to_but_not_copy_from() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE c (v int); INSERT INTO c VALUES (1)")
        .await
        .unwrap();
    s.rules("conn.fromServer().onCopyData().kill()");
    let client = connect(&s.url()).await.unwrap();
    let sink = client.copy_in("COPY c FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    sink.send(bytes::Bytes::from_static(b"2\n")).await.unwrap();
    assert_eq!(sink.finish().await.unwrap(), 1, "client CopyData must pass");
    let out = client.copy_out("COPY c TO STDOUT").await.unwrap();
    let collected: Result<Vec<bytes::Bytes>, _> =
        futures_util::TryStreamExt::try_collect(out).await;
    assert!(collected.is_err(), "server CopyData was not killed");
}

#[tokio::test]
async fn a_clients_cancel_request_goes_through_the_proxy() {
    let s = Setup::new().await;
    let client = connect(&s.url()).await.unwrap();
    let token = client.cancel_token();
    let sleeping = tokio::spawn(async move { simple_scalar(&client, "SELECT pg_sleep(60)").await });
    // A cancel that arrives before the query starts is ignored: wait until it sleeps.
    let direct = connect(&s.direct_url()).await.unwrap();
    eventually("the query is inside pg_sleep", || async {
        simple_scalar(&direct, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'")
            .await
            .unwrap()
            == "1"
    })
    .await;
    token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    let result = tokio::time::timeout(LIVENESS, sleeping)
        .await
        .expect("the cancel never arrived")
        .unwrap();
    assert_eq!(sqlstate(&result.unwrap_err()).as_deref(), Some("57014"));
    assert!(
        s.proxy
            .recording()
            .iter()
            .any(|r| r.message == MessageType::CancelRequest)
    );
}
