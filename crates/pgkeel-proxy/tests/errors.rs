//! `error(...)`: the client sees the injected SQLSTATE, and client and server stay in step
//! (the server itself aborts the transaction and reports the ReadyForQuery status).

use futures_util::SinkExt;

use crate::common::{Setup, answers, connect, simple_scalar, sqlstate};

#[tokio::test]
async fn simple_query_error_aborts_the_transaction_on_the_server() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE t (v int)")
        .await
        .unwrap();
    s.rules(r#"conn.onQuery(query="^UPDATE").error(code="40001", message="injected conflict")"#);
    let client = connect(&s.url()).await.unwrap();
    client
        .batch_execute("BEGIN; INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    let err = client
        .batch_execute("UPDATE t SET v = 2")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("40001"));
    assert_eq!(err.as_db_error().unwrap().message(), "injected conflict");
    // The server's transaction really failed: further statements are refused until ROLLBACK.
    let refused = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("25P02"), "{refused}");
    client.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(
        simple_scalar(&client, "SELECT count(*) FROM t")
            .await
            .unwrap(),
        "0"
    );
    // Outside a transaction the connection keeps working.
    answers(&client, "fine").await;
}

#[tokio::test]
async fn extended_protocol_error_keeps_the_driver_in_sync() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    s.rules(r#"conn.onParse(query="^UPDATE").error(code="40P01", message="injected deadlock")"#);
    let client = connect(&s.url()).await.unwrap();
    for _ in 0..3 {
        let err = client
            .execute("UPDATE t SET v = v + $1", &[&1i32])
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("40P01"), "{err}");
        let row = client
            .query_one("SELECT v FROM t WHERE v = $1", &[&1i32])
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), 1);
    }
    assert_eq!(
        simple_scalar(&direct, "SELECT v FROM t").await.unwrap(),
        "1"
    );

    // On Execute (after Parse and Bind went through) it works the same way.
    s.rules(r#"conn.onExecute().times(1).error(code="40001")"#);
    let err = client.query("SELECT v FROM t", &[]).await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("40001"));
    assert_eq!(client.query("SELECT v FROM t", &[]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn fatal_error_closes_the_connection() {
    let s = Setup::new().await;
    s.rules(r#"conn.onQuery(query="^SELECT 'bye'").error(code="57P01", severity="FATAL", message="terminating connection due to administrator command")"#);
    let client = connect(&s.url()).await.unwrap();
    let err = simple_scalar(&client, "SELECT 'bye'").await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57P01"), "{err}");
    assert_eq!(err.as_db_error().unwrap().severity(), "FATAL");
    let later = simple_scalar(&client, "SELECT 1").await.unwrap_err();
    assert!(later.is_closed(), "{later}");
}

#[tokio::test]
async fn server_side_error_hides_a_commit_that_happened() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE t (v int)")
        .await
        .unwrap();
    s.rules(r#"conn.onCommandComplete(command="^INSERT").error(code="40001", message="did it commit?")"#);
    let client = connect(&s.url()).await.unwrap();
    let err = client
        .batch_execute("INSERT INTO t VALUES (1)")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("40001"));
    // The ambiguous-commit fault: the client saw an error, the row is there.
    assert_eq!(
        simple_scalar(&direct, "SELECT count(*) FROM t")
            .await
            .unwrap(),
        "1"
    );
    answers(&client, "usable").await;
}

#[tokio::test]
async fn startup_error_refuses_the_connection() {
    let s = Setup::new().await;
    s.rules(r#"conn.onStartupMessage(application_name="^refused$").error(code="53300", message="sorry, too many clients already")"#);
    let err = connect(&s.url_as("refused")).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("53300"), "{err}");
    assert!(connect(&s.url_as("welcome")).await.is_ok());
}

#[tokio::test]
async fn copy_error_fails_the_copy_and_keeps_the_connection() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE c (v int)")
        .await
        .unwrap();
    s.rules(
        r#"conn.fromClient().onCopyData().times(1).error(code="22P04", message="bad copy data")"#,
    );
    let client = connect(&s.url()).await.unwrap();
    let sink = client.copy_in("COPY c FROM STDIN").await.unwrap();
    futures_util::pin_mut!(sink);
    let result = match sink.send(bytes::Bytes::from_static(b"1\n2\n")).await {
        Ok(()) => sink.finish().await,
        Err(e) => Err(e),
    };
    let err = result.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("22P04"), "{err}");
    assert_eq!(
        simple_scalar(&client, "SELECT count(*) FROM c")
            .await
            .unwrap(),
        "0"
    );
}
