//! Extended-protocol matching (Parse/Bind/Execute) as used by drivers like tokio-postgres.

use crate::common::{Setup, connect, simple_scalar};

#[tokio::test]
async fn parse_match_kills_only_the_matching_statement() {
    let s = Setup::new().await;
    let direct = connect(&s.direct_url()).await.unwrap();
    direct
        .batch_execute("CREATE TABLE e (v int); INSERT INTO e VALUES (1)")
        .await
        .unwrap();
    s.rules(r#"conn.onParse(query="^UPDATE").kill()"#);
    let client = connect(&s.url()).await.unwrap();
    let row = client
        .query_one("SELECT v FROM e WHERE v = $1", &[&1i32])
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 1);
    assert!(
        client
            .execute("UPDATE e SET v = $1", &[&2i32])
            .await
            .is_err()
    );
    assert_eq!(
        simple_scalar(&direct, "SELECT v FROM e").await.unwrap(),
        "1"
    );
}

#[tokio::test]
async fn bind_and_execute_fields_match() {
    let s = Setup::new().await;
    s.rules(r#"conn.onExecute(portal="^$").after(1).drop(); conn.onBind().allow()"#);
    let client = connect(&s.url()).await.unwrap();
    client.query_one("SELECT 1", &[]).await.unwrap();
    let fired = s.proxy.rules().fired_counts();
    assert_eq!(fired[1], 1, "one Bind seen: {fired:?}");
}
