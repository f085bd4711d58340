//! TLS: refused by default (clients fall back or fail clearly), passed through untouched with
//! `TlsMode::Passthrough`, where connection-level rules still apply.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use pgkeel_embedded::Cluster;
use pgkeel_embedded::harness::private_cluster;
use pgkeel_proxy::{Proxy, TlsMode};

use crate::common::{pg_program, start_proxy};

/// A cluster with ssl=on and a throwaway self-signed certificate.
fn tls_cluster(dir: &std::path::Path) -> Cluster {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (cert, key) = (dir.join("server.crt"), dir.join("server.key"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed for the TLS tests");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The server refuses a key it does not own.
    if nix::unistd::geteuid().is_root() {
        let user = nix::unistd::User::from_name("postgres").unwrap().unwrap();
        nix::unistd::chown(&key, Some(user.uid), Some(user.gid)).unwrap();
    }
    private_cluster()
        .setting("ssl", "on")
        .setting("ssl_cert_file", cert.display().to_string())
        .setting("ssl_key_file", key.display().to_string())
        .start()
        .unwrap()
}

/// psql through the proxy (async: the proxy runs on this test's runtime).
async fn psql(proxy: &Proxy, sslmode: &str, sql: &str) -> Result<String, String> {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres?sslmode={sslmode}",
        proxy.port().unwrap()
    );
    let out = tokio::process::Command::new(pg_program("psql"))
        .args([url.as_str(), "-X", "-A", "-t", "-c", sql])
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
    let dir = std::env::temp_dir().join(format!("pgkeel-proxy-tls-{}", std::process::id()));
    let cluster = tls_cluster(&dir);

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
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
