//! Hostile input never takes the proxy down; rules change atomically and apply to open
//! connections; many clients at once.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{LIVENESS, Setup, answers, connect, simple_scalar};

async fn closed_by_proxy(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match tokio::time::timeout(LIVENESS, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn malformed_clients_are_closed_and_others_keep_working() {
    let s = Setup::with(|mut c| {
        c.max_message_len = 1 << 20;
        c
    })
    .await;
    let good = connect(&s.url()).await.unwrap();
    let addr = format!("127.0.0.1:{}", s.proxy.port().unwrap());

    // A startup packet claiming 4 GiB.
    let mut bad = tokio::net::TcpStream::connect(&addr).await.unwrap();
    bad.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 3, 0, 0])
        .await
        .unwrap();
    assert!(closed_by_proxy(&mut bad).await);

    // A valid startup, then a message declaring length 2 (below the minimum of 4).
    let mut bad = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let startup = pgkeel_wire::encode::startup_message(
        3,
        0,
        &[("user", "postgres"), ("database", s.db.name())],
    )
    .unwrap();
    bad.write_all(&startup).await.unwrap();
    bad.write_all(&[b'Q', 0, 0, 0, 2]).await.unwrap();
    assert!(closed_by_proxy(&mut bad).await);

    // A message larger than the configured maximum.
    let mut bad = tokio::net::TcpStream::connect(&addr).await.unwrap();
    bad.write_all(&startup).await.unwrap();
    bad.write_all(&[b'Q', 0x10, 0, 0, 0]).await.unwrap();
    assert!(closed_by_proxy(&mut bad).await);

    // Random garbage.
    let mut bad = tokio::net::TcpStream::connect(&addr).await.unwrap();
    bad.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(closed_by_proxy(&mut bad).await);

    answers(&good, "unharmed").await;
    assert!(
        s.proxy.metrics().contains("pgkeel_proxy_malformed_total 4"),
        "{}",
        s.proxy.metrics()
    );
}

#[tokio::test]
async fn rejected_rules_leave_the_old_ones_in_force() {
    let s = Setup::new().await;
    let version = s.rules(r#"conn.onQuery(query="^SELECT 'k'").kill()"#);
    let err = s
        .proxy
        .set_rules("conn.onQuery(query=\"(unclosed\").kill()")
        .unwrap_err();
    assert_eq!((err.line, err.column), (1, 14));
    assert!(err.message.contains("invalid regex"), "{err}");
    assert_eq!(s.proxy.rules().version(), version);
    let client = connect(&s.url()).await.unwrap();
    assert!(simple_scalar(&client, "SELECT 'k'").await.is_err());
}

#[tokio::test]
async fn new_rules_apply_to_open_connections_at_once() {
    let s = Setup::new().await;
    let client = connect(&s.url()).await.unwrap();
    assert_eq!(simple_scalar(&client, "SELECT 1").await.unwrap(), "1");
    s.rules("conn.onQuery().kill()");
    assert!(simple_scalar(&client, "SELECT 2").await.is_err());
}

#[tokio::test]
async fn many_clients_while_rules_change() {
    let s = Setup::new().await;
    let url = s.url();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let client = connect(&url).await.unwrap();
            for j in 0..50 {
                let row = client
                    .query_one("SELECT $1::int + $2::int", &[&i, &j])
                    .await
                    .unwrap();
                assert_eq!(row.get::<_, i32>(0), i + j);
            }
        }));
    }
    for k in 0..20 {
        s.rules(&format!(
            r#"conn.onQuery(query="^never {k}").kill(); conn.onParse(query="^SELECT never").drop()"#
        ));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
}
