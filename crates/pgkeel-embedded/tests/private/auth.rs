//! The password role: SCRAM over TCP, trust over the unix socket.

use pgkeel_embedded::harness::private_cluster;
use pgkeel_testkit::{connect, simple_scalar, try_connect};

#[tokio::test]
async fn password_role_needs_its_password_over_tcp() {
    let cluster = private_cluster()
        .password_role("app", "s3cret: with spaces")
        .start()
        .unwrap();
    assert_eq!(cluster.user(), "app");

    let client = connect(&cluster.url()).await;
    assert_eq!(
        simple_scalar(&client, "SELECT current_user::text")
            .await
            .unwrap(),
        "app"
    );
    let method = simple_scalar(
        &client,
        "SELECT auth_method FROM pg_hba_file_rules WHERE type = 'host' LIMIT 1",
    )
    .await
    .unwrap();
    assert_eq!(method, "scram-sha-256");

    let wrong = format!("postgres://app:wrong@127.0.0.1:{}/postgres", cluster.port());
    let err = try_connect(&wrong).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("28P01"), "{err}");

    let no_password = format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port());
    assert!(try_connect(&no_password).await.is_err());

    // The unix socket stays trust: the superuser needs no password there.
    let local = connect(&cluster.socket_url()).await;
    assert_eq!(
        simple_scalar(&local, "SELECT current_user::text")
            .await
            .unwrap(),
        "postgres"
    );
}
