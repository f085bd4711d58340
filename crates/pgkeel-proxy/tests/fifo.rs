//! Citus's failure-test helper functions, talking to the proxy through its fifo.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Setup, connect, simple_scalar};

/// Our own version of the helper SQL Citus's failure tests install (same protocol).
const HELPERS: &str = r#"
CREATE SCHEMA citus;
CREATE FUNCTION citus.mitmproxy(text) RETURNS TABLE(result text) AS $$
BEGIN
    CREATE TEMPORARY TABLE mitmproxy_command (command text) ON COMMIT DROP;
    CREATE TEMPORARY TABLE mitmproxy_result (res text) ON COMMIT DROP;
    INSERT INTO mitmproxy_command VALUES ($1);
    EXECUTE format('COPY mitmproxy_command TO %L', current_setting('citus.mitmfifo'));
    EXECUTE format('COPY mitmproxy_result FROM %L', current_setting('citus.mitmfifo'));
    RETURN QUERY SELECT * FROM mitmproxy_result;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION citus.dump_network_traffic() RETURNS TABLE(conn int, source text, message text) AS $$
BEGIN
    CREATE TEMPORARY TABLE mitmproxy_command (command text) ON COMMIT DROP;
    CREATE TEMPORARY TABLE mitmproxy_result (conn int, source text, message text) ON COMMIT DROP;
    INSERT INTO mitmproxy_command VALUES ('recorder.dump()');
    EXECUTE format('COPY mitmproxy_command TO %L', current_setting('citus.mitmfifo'));
    EXECUTE format('COPY mitmproxy_result FROM %L', current_setting('citus.mitmfifo'));
    RETURN QUERY SELECT * FROM mitmproxy_result;
END;
$$ LANGUAGE plpgsql;
CREATE FUNCTION citus.clear_network_traffic() RETURNS void AS $$
BEGIN
    PERFORM citus.mitmproxy('recorder.reset()');
END;
$$ LANGUAGE plpgsql;
"#;

#[tokio::test]
async fn citus_helper_sql_drives_the_proxy() {
    let dir = std::env::temp_dir().join(format!("pgkeel-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = dir.join("mitmproxy.fifo");
    let s = Setup::with(|mut c| {
        c.fifo = Some(fifo.clone());
        c
    })
    .await;
    let sql = connect(&s.direct_url()).await.unwrap();
    sql.batch_execute(HELPERS).await.unwrap();
    sql.batch_execute(&format!("SET citus.mitmfifo = '{}'", fifo.display()))
        .await
        .unwrap();

    // A command answers one empty row, as with mitmproxy.
    let rows = sql
        .simple_query(r#"SELECT * FROM citus.mitmproxy('conn.onQuery(query="^SELECT 42").kill()')"#)
        .await
        .unwrap();
    let results: Vec<String> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => {
                Some(r.get(0).unwrap_or("<null>").to_owned())
            }
            _ => None,
        })
        .collect();
    assert_eq!(results, vec![String::new()]);
    let victim = connect(&s.url()).await.unwrap();
    assert!(simple_scalar(&victim, "SELECT 42").await.is_err());

    // Regex escapes survive COPY's backslash doubling, as in Citus's tests.
    let answer = simple_scalar(
        &sql,
        r#"SELECT * FROM citus.mitmproxy('conn.onQuery(query="abs\(-7\)").kill()')"#,
    )
    .await
    .unwrap();
    assert_eq!(answer, "");
    let victim = connect(&s.url()).await.unwrap();
    assert_eq!(simple_scalar(&victim, "SELECT abs(7)").await.unwrap(), "7");
    assert!(simple_scalar(&victim, "SELECT abs(-7)").await.is_err());

    // A bad command answers its error and changes nothing.
    let answer = simple_scalar(
        &sql,
        "SELECT * FROM citus.mitmproxy('conn.onQury().kill()')",
    )
    .await
    .unwrap();
    assert!(answer.contains("did you mean `onQuery`"), "{answer}");
    assert_eq!(s.proxy.rules().version(), 2);

    // dump_network_traffic returns (conn, source, message) rows and empties the recording.
    let rows = sql
        .simple_query("SELECT conn, source, message FROM citus.dump_network_traffic()")
        .await
        .unwrap();
    let dump: Vec<(String, String, String)> = rows
        .iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some((
                r.get(0).unwrap().to_owned(),
                r.get(1).unwrap().to_owned(),
                r.get(2).unwrap().to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert!(
        dump.contains(&("0".into(), "coordinator".into(), "[initial message]".into())),
        "{dump:?}"
    );
    assert!(
        dump.iter()
            .any(|(_, source, m)| source == "coordinator" && m.contains("Query(query=SELECT 42)")),
        "{dump:?}"
    );
    assert!(dump.iter().any(|(_, source, _)| source == "worker"));
    sql.batch_execute("SELECT citus.clear_network_traffic()")
        .await
        .unwrap();
    let after = simple_scalar(&sql, "SELECT count(*) FROM citus.dump_network_traffic()")
        .await
        .unwrap();
    assert_eq!(after, "0");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
