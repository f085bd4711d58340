//! TLS: refused by default (clients fall back or fail clearly), passed through untouched with
//! `TlsMode::Passthrough`, where connection-level rules still apply, and terminated by the
//! proxy with `TlsMode::Terminate`, where every rule sees every message of a TLS client.

use pgkeel_embedded::harness::private_cluster;
use pgkeel_embedded::{Cluster, TcpTls};
use pgkeel_net::ClientTls;
use pgkeel_net::tls::{CertificateAuthority, LOCAL_NAMES, ServerTls};
use pgkeel_proxy::{Proxy, Terminate, TlsMode};

use crate::common::{pg_program, start_proxy};

/// A cluster with ssl=on and a certificate from its own generated CA.
fn tls_cluster() -> Cluster {
    private_cluster().tls(TcpTls::Optional).start().unwrap()
}

/// psql through the proxy (async: the proxy runs on this test's runtime).
async fn psql(proxy: &Proxy, sslmode: &str, sql: &str) -> Result<String, String> {
    psql_args(proxy, &format!("sslmode={sslmode}"), &["-c", sql]).await
}

/// psql through the proxy with URL parameters `params` and arguments `args`.
async fn psql_args(proxy: &Proxy, params: &str, args: &[&str]) -> Result<String, String> {
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?{params}",
        proxy.port().unwrap()
    );
    let out = tokio::process::Command::new(pg_program("psql"))
        .args([url.as_str(), "-X", "-A", "-t"])
        .args(args)
        .env_remove("PGSSLROOTCERT")
        .output()
        .await
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test]
async fn passthrough_forwards_tls_and_refuse_does_not() {
    let cluster = tls_cluster();

    let refusing = start_proxy(&cluster, |c| c).await;
    let err = psql(&refusing, "require", "SELECT 1").await.unwrap_err();
    assert!(err.contains("does not support SSL"), "{err}");
    assert_eq!(
        psql(&refusing, "prefer", "SELECT 'plain'").await.unwrap(),
        "plain"
    );

    let passing = start_proxy(&cluster, |mut c| {
        c.tls = TlsMode::Passthrough;
        c
    })
    .await;
    let ssl = psql(
        &passing,
        "require",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .await
    .unwrap();
    assert_eq!(ssl, "t", "the server did not see TLS");
    assert!(passing.recording().iter().any(|r| r.summary == "TLS data"));

    // Only connection-level rules apply to an encrypted stream.
    passing
        .set_rules("conn.fromClient().after(2).kill()")
        .unwrap();
    assert!(psql(&passing, "require", "SELECT 1").await.is_err());
    assert!(passing.rules().fired_counts()[0] >= 1);
}

#[tokio::test]
async fn terminate_lets_every_rule_see_tls_clients() {
    let cluster = tls_cluster();
    let cluster_ca = cluster.tls_files().unwrap().root_cert.display().to_string();
    let ca = CertificateAuthority::generate("test proxy CA").unwrap();
    let server = ServerTls::from_pem(&ca.server(&LOCAL_NAMES).unwrap()).unwrap();
    let ca_file = cluster.data_dir().parent().unwrap().join("proxy-ca.crt");
    std::fs::write(&ca_file, ca.cert_pem()).unwrap();
    let upstream =
        ClientTls::from_settings(&[("sslmode", "verify-full"), ("sslrootcert", &cluster_ca)])
            .unwrap();
    let proxy = start_proxy(&cluster, |mut c| {
        c.tls = TlsMode::Terminate;
        c.terminate = Some(Terminate { server, upstream });
        c
    })
    .await;

    // verify-full against the proxy's CA; the proxy's own upstream session is TLS too.
    let verified = format!("sslmode=verify-full&sslrootcert={}", ca_file.display());
    let ssl = psql_args(
        &proxy,
        &verified,
        &[
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ],
    )
    .await
    .unwrap();
    assert_eq!(ssl, "t", "the upstream session is not TLS");
    // The proxy saw the messages in clear.
    assert!(
        proxy
            .recording()
            .iter()
            .any(|r| r.summary.contains("pg_stat_ssl"))
    );

    // A protocol-level rule fires on a TLS client (sslmode=require).
    proxy
        .set_rules(r#"conn.onQuery(query="^COMMIT").kill()"#)
        .unwrap();
    let err = psql_args(
        &proxy,
        "sslmode=require",
        &["-c", "BEGIN", "-c", "SELECT 1", "-c", "COMMIT"],
    )
    .await
    .unwrap_err();
    assert!(err.contains("closed") || err.contains("lost"), "{err}");
    assert_eq!(proxy.rules().fired_counts()[0], 1);

    // A client that does not trust the proxy's CA is refused by the client itself.
    let err = psql_args(
        &proxy,
        &format!("sslmode=verify-full&sslrootcert={cluster_ca}"),
        &["-c", "SELECT 1"],
    )
    .await
    .unwrap_err();
    assert!(err.contains("certificate verify failed"), "{err}");
}
