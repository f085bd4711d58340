//! The control API's bearer token: required on every request when set, and required for a
//! control API beyond loopback.

use std::net::SocketAddr;

use pgkeel_proxy::{Address, ControlToken, Proxy, ProxyConfig};

use crate::common::{Setup, http_with};

const TOKEN: &str = "test-token-0123456789abcdef";

async fn setup(listen: &str, allow_remote: bool) -> (Setup, SocketAddr) {
    let listen: SocketAddr = listen.parse().unwrap();
    let s = Setup::with(|mut c| {
        c.control = Some(listen);
        c.control_token = Some(ControlToken::new(TOKEN).unwrap());
        c.control_allow_remote = allow_remote;
        c
    })
    .await;
    let port = s.proxy.control_addr().unwrap().port();
    (s, SocketAddr::from(([127, 0, 0, 1], port)))
}

fn error_of(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn without_the_right_token_every_request_is_refused() {
    let (s, api) = setup("127.0.0.1:0", false).await;
    let rule = r#"conn.onQuery(query="^SELECT 'tok'").kill()"#;

    let (status, body) = http_with(api, "PUT", "/rules", &[], rule).await;
    assert_eq!(status, 401, "{body}");
    assert!(error_of(&body).contains("PGKEEL_CONTROL_TOKEN"), "{body}");
    for wrong in [
        "Bearer wrong",
        "Bearer test-token-0123456789abcde",
        "Basic dGVzdA==",
    ] {
        let (status, body) =
            http_with(api, "PUT", "/rules", &[("Authorization", wrong)], rule).await;
        assert_eq!(status, 401, "{wrong}: {body}");
    }
    let (status, _) = http_with(api, "GET", "/metrics", &[], "").await;
    assert_eq!(status, 401, "metrics need the token too");
    assert_eq!(
        s.proxy.rules().version(),
        0,
        "a refused request changed the rules"
    );

    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = http_with(api, "PUT", "/rules", &[("Authorization", &bearer)], rule).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(s.proxy.rules().version(), 1);
    let (status, body) = http_with(api, "GET", "/rules", &[("Authorization", &bearer)], "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("SELECT 'tok'"), "{body}");
}

/// Allowed beyond loopback, the API accepts a Host naming an address of this machine (an IP
/// literal: a DNS-rebinding name is still refused), and still wants the token.
#[tokio::test]
async fn a_remote_api_accepts_its_address_and_needs_the_token() {
    let (_s, api) = setup("0.0.0.0:0", true).await;
    let host = format!("10.9.8.7:{}", api.port());
    let bearer = format!("Bearer {TOKEN}");
    let (status, body) = http_with(
        api,
        "GET",
        "/rules",
        &[("Host", &host), ("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = http_with(api, "GET", "/rules", &[("Host", &host)], "").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = http_with(
        api,
        "GET",
        "/rules",
        &[("Host", "evil.example"), ("Authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(status, 403, "{body}");
}

#[tokio::test]
async fn a_remote_api_without_a_token_does_not_start() {
    let mut config = ProxyConfig::new(Address::tcp("127.0.0.1", 1));
    config.control = Some("0.0.0.0:0".parse().unwrap());
    config.control_allow_remote = true;
    let err = Proxy::start(config.clone()).await.unwrap_err().to_string();
    assert!(err.contains("requires a token"), "{err}");
    config.control_allow_remote = false;
    let err = Proxy::start(config).await.unwrap_err().to_string();
    assert!(err.contains("not a loopback address"), "{err}");
}
