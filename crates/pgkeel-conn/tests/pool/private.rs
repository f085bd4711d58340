//! The database itself goes away: stopped, killed, not there at start, many requests at once.

use pgkeel_conn::{Pool, Wait};
use pgkeel_embedded::harness::private_cluster;
use pgkeel_testkit::{LIVENESS, pool_config};

use super::support::until_health;

#[tokio::test]
async fn a_stopped_server_is_noticed_without_requests_and_recovery_follows_its_return() {
    let cluster = private_cluster().start().unwrap();
    let pool = Pool::builder(pool_config(&cluster.url()))
        .on_reconnect("count", |client| async move {
            client.batch_execute("SELECT 1").await?;
            Ok(())
        })
        .start()
        .unwrap();
    pool.ready(LIVENESS).await.unwrap();
    cluster.stop().unwrap();
    let health = until_health(&pool, "recovering", |h| h.state() == "recovering").await;
    assert!(health.last_error().is_some());
    let err = pool
        .run(
            Wait::No,
            |c| async move { c.batch_execute("SELECT 1").await },
        )
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");

    // A caller that waits gets its answer once the server is back. It says when it calls;
    // on this single-threaded runtime the test runs again only once the call is pending,
    // i.e. waiting for recovery (`recovered` below proves it waited).
    let waiting = pool.clone();
    let (calling, called) = tokio::sync::oneshot::channel();
    let caller = tokio::spawn(async move {
        let _ = calling.send(());
        waiting
            .run_idempotent(Wait::UpTo(LIVENESS), |c| async move {
                c.query_one("SELECT 7", &[])
                    .await
                    .map(|r| r.get::<_, i32>(0))
            })
            .await
    });
    called.await.unwrap();
    cluster.start().unwrap();
    let outcome = caller.await.unwrap().unwrap();
    assert_eq!(
        (outcome.value, outcome.recovered, outcome.epoch),
        (7, true, 2)
    );
    assert_eq!(pool.stats().recoveries, 1);
}

#[tokio::test]
async fn a_killed_server_recovers_too() {
    let cluster = private_cluster().start().unwrap();
    let pool = Pool::start(pool_config(&cluster.url())).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    cluster.kill().unwrap();
    until_health(&pool, "recovering", |h| h.state() == "recovering").await;
    cluster.start().unwrap();
    let health = until_health(&pool, "ready", |h| h.is_ready()).await;
    assert_eq!(health.epoch(), Some(2));
}

#[tokio::test]
async fn unavailable_at_start_then_ready_when_the_server_appears() {
    let cluster = private_cluster().start().unwrap();
    let url = cluster.url();
    cluster.stop().unwrap();
    let pool = Pool::start(pool_config(&url)).unwrap();
    let health = until_health(&pool, "retrying", |h| h.attempt() >= 1).await;
    assert_eq!(health.state(), "starting");
    cluster.start().unwrap();
    assert_eq!(pool.ready(LIVENESS).await.unwrap(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_fatal_at_once() {
    let cluster = private_cluster()
        .password_role("app", "secret")
        .start()
        .unwrap();
    let url = format!("postgres://app:wrong@127.0.0.1:{}/postgres", cluster.port());
    let pool = Pool::start(pool_config(&url)).unwrap();
    let err = pool.ready(LIVENESS).await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(
        err.to_string().contains("password authentication failed"),
        "{err}"
    );
    assert_eq!(pool.stats().attempt_failures, 1);
}

#[tokio::test]
async fn many_requests_during_an_outage_make_one_recovery() {
    let cluster = private_cluster().start().unwrap();
    let pool = Pool::start(pool_config(&cluster.url())).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    cluster.stop().unwrap();
    until_health(&pool, "recovering", |h| h.state() == "recovering").await;
    for _ in 0..200 {
        pool.kick();
    }
    let mut callers = Vec::new();
    for _ in 0..20 {
        let p = pool.clone();
        callers.push(tokio::spawn(async move {
            p.run(
                Wait::No,
                |c| async move { c.batch_execute("SELECT 1").await },
            )
            .await
        }));
    }
    for c in callers {
        assert!(c.await.unwrap().is_err());
    }
    cluster.start().unwrap();
    until_health(&pool, "ready", |h| h.is_ready()).await;
    let stats = pool.stats();
    assert_eq!(stats.recoveries, 1, "{stats:?}");
    assert_eq!(stats.losses, 1, "{stats:?}");
}

/// Behind a proxy (or pooler, or load balancer) that accepts while the server is down, every
/// attempt reaches the intermediary and gets its error at once. The pool then retries at the
/// fast-probe cadence instead of backing off for seconds, and is ready as soon as the server is.
#[tokio::test]
async fn behind_a_proxy_a_stopped_server_is_retried_at_the_fast_probe_cadence() {
    let cluster = private_cluster().start().unwrap();
    let proxy = pgkeel_testkit::proxy_to(cluster.port()).await;
    let url = format!(
        "postgres://{}@127.0.0.1:{}/postgres",
        cluster.user(),
        proxy.port().unwrap()
    );
    let mut config = pool_config(&url);
    // The product's backoff (the test kit's is shorter): 50 ms doubling to 2 s.
    config.backoff = pgkeel_conn::Backoff::default();
    let fast = config.fast_probe.unwrap();
    let backoff = config.backoff;
    let pool = Pool::start(config).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    cluster.stop().unwrap();
    // Seven failed attempts: plain backoff would wait 50 ms · 2^6 > its 2 s cap by now.
    let health = until_health(&pool, "seven failed attempts", |h| h.attempt() >= 7).await;
    assert!(backoff.delay(7, 0.0) > fast * 10, "{backoff:?}");
    let next = health.next_retry_in_ms().unwrap();
    assert!(
        next <= fast.as_millis() as u64,
        "next retry in {next} ms: {health:?}"
    );
    let error = health.last_error().unwrap();
    assert!(error.contains("08006"), "{error}");
    cluster.start().unwrap();
    let health = until_health(&pool, "ready", |h| h.is_ready()).await;
    assert_eq!(health.epoch(), Some(2));
}

/// Over TLS with full verification: the pool recovers from a restart, its sessions are
/// encrypted before and after, and a certificate for another name is fatal at once (retrying
/// cannot make it valid).
#[tokio::test]
async fn over_tls_a_restart_is_recovered_and_a_wrong_certificate_is_fatal() {
    let cluster = private_cluster()
        .tls(pgkeel_embedded::TcpTls::Required)
        .start()
        .unwrap();
    let ca = cluster.tls_files().unwrap().root_cert.display().to_string();
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}",
        cluster.port()
    );
    let pool = Pool::start(pool_config(&url)).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    let encrypted = || async {
        pool.run(Wait::UpTo(LIVENESS), |c| async move {
            c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .await
            .map(|r| r.get::<_, bool>(0))
        })
        .await
        .unwrap()
        .value
    };
    assert!(encrypted().await);
    cluster.stop().unwrap();
    until_health(&pool, "recovering", |h| h.state() == "recovering").await;
    cluster.start().unwrap();
    let health = until_health(&pool, "ready", |h| h.is_ready()).await;
    assert_eq!(health.epoch(), Some(2));
    assert!(encrypted().await);

    let wrong = format!(
        "host=db.example.com hostaddr=127.0.0.1 port={} user=postgres sslmode=verify-full \
         sslrootcert={ca}",
        cluster.port()
    );
    let pool = Pool::start(pool_config(&wrong)).unwrap();
    let err = pool.ready(LIVENESS).await.unwrap_err();
    assert!(err.is_fatal(), "{err}");
    assert!(err.to_string().contains("db.example.com"), "{err}");
    assert_eq!(pool.stats().attempt_failures, 1);
}

/// Behind a real HAProxy in TCP mode (as in front of Patroni), which accepts and then closes
/// while the server is down: the closed startup counts as "upstream unavailable", so the pool
/// keeps retrying at the fast-probe cadence and is ready again after each restart.
#[tokio::test]
async fn behind_haproxy_restarts_are_retried_at_the_fast_probe_cadence() {
    let cluster = private_cluster().start().unwrap();
    let haproxy = pgkeel_testkit::Haproxy::start(cluster.port());
    let url = format!(
        "postgres://{}@127.0.0.1:{}/postgres",
        cluster.user(),
        haproxy.port()
    );
    let mut config = pool_config(&url);
    config.backoff = pgkeel_conn::Backoff::default();
    let fast = config.fast_probe.unwrap();
    let pool = Pool::start(config).unwrap();
    pool.ready(LIVENESS).await.unwrap();
    for restart in 1..=3u64 {
        cluster.stop().unwrap();
        let attempts = pool.health().attempt() + 7;
        let health = until_health(&pool, "seven more failed attempts", |h| {
            h.attempt() >= attempts
        })
        .await;
        let next = health.next_retry_in_ms().unwrap();
        assert!(
            next <= fast.as_millis() as u64,
            "next retry in {next} ms: {health:?}"
        );
        cluster.start().unwrap();
        let health = until_health(&pool, "ready", |h| h.is_ready()).await;
        assert_eq!(health.epoch(), Some(restart + 1));
    }
}
