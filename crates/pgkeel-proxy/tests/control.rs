//! The HTTP control API, driven as a test harness in another language would drive it.

use std::time::Duration;

use crate::common::{LIVENESS, Setup, connect, http, http_with, simple_scalar};

async fn setup() -> (Setup, std::net::SocketAddr) {
    let s = Setup::with(|mut c| {
        c.control = Some("127.0.0.1:0".parse().unwrap());
        c
    })
    .await;
    let control = s.proxy.control_addr().unwrap();
    (s, control)
}

#[tokio::test]
async fn rules_are_set_rejected_and_read_back() {
    let (s, api) = setup().await;
    let (status, body) = http(
        api,
        "PUT",
        "/rules",
        r#"conn.onQuery(query="^SELECT 'x'").kill()"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["version"],
        1
    );

    let (status, body) = http(api, "PUT", "/rules", "conn.onQuery(\n  quer=\"x\").kill()").await;
    assert_eq!(status, 400);
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (error["line"].as_u64(), error["column"].as_u64()),
        (Some(2), Some(3)),
        "{body}"
    );
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains("has no field `quer`"),
        "{body}"
    );

    let (status, body) = http(api, "GET", "/rules", "").await;
    assert_eq!(status, 200);
    let rules: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        rules["version"], 1,
        "a rejected PUT must leave the rules unchanged"
    );
    assert_eq!(rules["rules"][0]["action"], "kill");
    let client = connect(&s.url()).await.unwrap();
    assert!(simple_scalar(&client, "SELECT 'x'").await.is_err());
}

#[tokio::test]
async fn waiting_for_a_rule_to_fire() {
    let (s, api) = setup().await;
    http(
        api,
        "PUT",
        "/rules",
        r#"conn.onQuery(query="^SELECT 'fire'").drop()"#,
    )
    .await;
    let (status, body) = http(api, "GET", "/rules/fired?rule=0&min=1&timeout_ms=100", "").await;
    assert_eq!(status, 408, "{body}");
    let client = connect(&s.url()).await.unwrap();
    let pending = tokio::spawn(async move {
        let _ = tokio::time::timeout(
            Duration::from_secs(2),
            simple_scalar(&client, "SELECT 'fire'"),
        )
        .await;
    });
    let (status, body) = http(
        api,
        "GET",
        &format!(
            "/rules/fired?rule=0&min=1&timeout_ms={}",
            LIVENESS.as_millis()
        ),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["fired"],
        1
    );
    pending.await.unwrap();
}

#[tokio::test]
async fn connections_are_listed_and_killed() {
    let (s, api) = setup().await;
    let client = connect(&s.url_as("listed")).await.unwrap();
    let (status, body) = http(api, "GET", "/connections", "").await;
    assert_eq!(status, 200);
    let list: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let mine = list
        .iter()
        .find(|c| c["application_name"] == "listed")
        .unwrap();
    assert!(mine["backend_pid"].as_i64().unwrap() > 0);
    let id = mine["id"].as_u64().unwrap();
    let (status, _) = http(api, "DELETE", &format!("/connections/{id}"), "").await;
    assert_eq!(status, 204);
    assert!(simple_scalar(&client, "SELECT 1").await.is_err());
    let (status, _) = http(api, "DELETE", "/connections/999999", "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn recording_in_both_formats_and_metrics() {
    let (s, api) = setup().await;
    let client = connect(&s.url()).await.unwrap();
    simple_scalar(&client, "SELECT 'recorded'").await.unwrap();
    let (status, body) = http(api, "GET", "/recording?format=jsonl", "").await;
    assert_eq!(status, 200);
    let records: Vec<serde_json::Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let query = records.iter().find(|r| r["message"] == "Query").unwrap();
    assert_eq!(query["summary"], "SELECT 'recorded'");
    assert_eq!(query["from"], "client");
    assert!(
        records
            .iter()
            .any(|r| r["message"] == "CommandComplete" && r["from"] == "server")
    );

    let (status, body) = http(api, "GET", "/recording?format=citus", "").await;
    assert_eq!(status, 200);
    assert!(
        body.lines()
            .any(|l| l.ends_with("\tcoordinator\t[initial message]")),
        "{body}"
    );
    assert!(body.contains("Query(query=SELECT 'recorded')"), "{body}");

    let (status, _) = http(api, "GET", "/recording?format=xml", "").await;
    assert_eq!(status, 400);
    let (status, _) = http(api, "DELETE", "/recording", "").await;
    assert_eq!(status, 204);
    let (_, body) = http(api, "GET", "/recording", "").await;
    assert!(body.is_empty(), "{body}");

    let (status, body) = http(api, "GET", "/metrics", "").await;
    assert_eq!(status, 200);
    assert!(body.contains("pgkeel_proxy_connections_total 1"), "{body}");
    assert!(
        body.contains("pgkeel_proxy_messages_total{from=\"client\"}"),
        "{body}"
    );
}

/// DNS rebinding and web pages: a request whose Host or Origin is not this server is refused
/// with 403 and changes nothing; the same request from a local tool is served.
#[tokio::test]
async fn foreign_hosts_and_web_origins_are_refused() {
    let (_s, api) = setup().await;
    let rule = r#"conn.onQuery(query="^COMMIT").kill()"#;
    let (status, body) =
        http_with(api, "PUT", "/rules", &[("Host", "evil.example:7432")], rule).await;
    assert_eq!(status, 403, "{body}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("DNS-rebinding"),
        "{body}"
    );
    let (status, body) = http_with(
        api,
        "PUT",
        "/rules",
        &[("Origin", "http://evil.example")],
        rule,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = http_with(api, "GET", "/recording", &[("Origin", "null")], "").await;
    assert_eq!(status, 403, "{body}");
    let (_, rules) = http(api, "GET", "/rules", "").await;
    assert!(
        !rules.contains("COMMIT"),
        "a refused request changed the rules: {rules}"
    );

    let port = api.port();
    let (status, body) = http_with(
        api,
        "PUT",
        "/rules",
        &[("Host", &format!("localhost:{port}"))],
        rule,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let own = format!("http://127.0.0.1:{port}");
    let (status, body) = http_with(api, "GET", "/rules", &[("Origin", &own)], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("COMMIT"), "{body}");
}

/// A password set through the proxy never shows in the recording, in either format.
#[tokio::test]
async fn recorded_passwords_are_redacted() {
    let (s, api) = setup().await;
    let client = connect(&s.url()).await.unwrap();
    let role = format!("redact_{}", std::process::id());
    client
        .batch_execute(&format!(
            "CREATE ROLE {role} PASSWORD 'hunter2-secret'; DROP ROLE {role}"
        ))
        .await
        .unwrap();
    for format in ["jsonl", "citus"] {
        let (status, body) = http(api, "GET", &format!("/recording?format={format}"), "").await;
        assert_eq!(status, 200);
        assert!(!body.contains("hunter2"), "{format}: {body}");
        assert!(body.contains("PASSWORD '***'"), "{format}: {body}");
    }
}
