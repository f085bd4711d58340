//! TLS with libpq's settings against clusters that offer it, require it, or require client
//! certificates: every sslmode, verify-full against a wrong host name and a wrong CA, client
//! certificate login, bare sockets (the replication client's path), and the errors.

use pgkeel_embedded::harness::private_cluster;
use pgkeel_embedded::{Cluster, TcpTls};
use pgkeel_net::{Database, SslMode, TlsFailure};

async fn connect_err(db: &Database) -> pgkeel_net::ConnectError {
    match db.connect().await {
        Ok(_) => panic!("{db:?} connected"),
        Err(e) => e,
    }
}

fn tls_cluster(tcp: TcpTls) -> Cluster {
    private_cluster().tls(tcp).start().unwrap()
}

fn root_cert(cluster: &Cluster) -> String {
    cluster.tls_files().unwrap().root_cert.display().to_string()
}

fn url(cluster: &Cluster, params: &str) -> String {
    format!(
        "postgres://postgres@127.0.0.1:{}/postgres?{params}",
        cluster.port()
    )
}

/// Whether the session runs over TLS, as the server sees it.
async fn ssl_in_use(text: &str) -> Result<bool, String> {
    let db = Database::parse_with_env(text, &|_| None).map_err(|e| e.to_string())?;
    let (client, connection) = db.connect().await.map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get::<_, bool>(0))
}

#[tokio::test]
async fn every_sslmode_against_a_cluster_that_requires_tls() {
    let cluster = tls_cluster(TcpTls::Required);
    let ca = root_cert(&cluster);
    // The server refuses plaintext TCP (hostssl only): disable cannot log in.
    let err = ssl_in_use(&url(&cluster, "sslmode=disable"))
        .await
        .unwrap_err();
    assert!(err.contains("no encryption"), "{err}");
    for params in [
        "sslmode=allow".to_owned(),
        "sslmode=prefer".to_owned(),
        String::new(),
        "sslmode=require".to_owned(),
        format!("sslmode=verify-ca&sslrootcert={ca}"),
        format!("sslmode=verify-full&sslrootcert={ca}"),
    ] {
        assert_eq!(
            ssl_in_use(&url(&cluster, &params)).await,
            Ok(true),
            "{params}"
        );
    }
    // verify-full by name, and the DSN form with the environment.
    let by_name = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={ca}",
        cluster.port()
    );
    assert_eq!(ssl_in_use(&by_name).await, Ok(true));
    let env = |name: &str| match name {
        "PGSSLMODE" => Some("verify-full".to_owned()),
        "PGSSLROOTCERT" => Some(ca.clone()),
        _ => None,
    };
    let db = Database::parse_with_env(
        &format!("host=localhost port={} user=postgres", cluster.port()),
        &env,
    )
    .unwrap();
    assert_eq!(db.tls().mode(), SslMode::VerifyFull);
    let (client, connection) = db.connect().await.unwrap();
    tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn verify_full_names_the_host_and_the_certificate() {
    let cluster = tls_cluster(TcpTls::Optional);
    let ca = root_cert(&cluster);
    // Connect to 127.0.0.1 while checking the certificate against another name.
    let wrong = format!(
        "host=db.example.com hostaddr=127.0.0.1 port={} user=postgres sslrootcert={ca}",
        cluster.port()
    );
    let db = Database::parse_with_env(&format!("{wrong} sslmode=verify-full"), &|_| None).unwrap();
    let err = connect_err(&db).await;
    let text = err.to_string();
    assert!(
        matches!(err.tls_failure(), Some(TlsFailure::ServerCertificate(_))),
        "{text}"
    );
    assert!(text.contains("db.example.com"), "{text}");
    assert!(text.contains("localhost, 127.0.0.1"), "{text}");
    assert!(text.contains("verify-ca"), "{text}");
    // verify-ca checks only the CA: the same connection works.
    let db = Database::parse_with_env(&format!("{wrong} sslmode=verify-ca"), &|_| None).unwrap();
    let (client, connection) = db.connect().await.unwrap();
    tokio::spawn(connection);
    client.simple_query("SELECT 1").await.unwrap();
}

#[tokio::test]
async fn an_untrusted_ca_is_refused_naming_the_file() {
    let cluster = tls_cluster(TcpTls::Optional);
    let dir = cluster.data_dir().parent().unwrap().join("other-ca");
    std::fs::create_dir_all(&dir).unwrap();
    let other = dir.join("other.crt");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other, params.self_signed(&key).unwrap().pem()).unwrap();
    let text = url(
        &cluster,
        &format!("sslmode=verify-full&sslrootcert={}", other.display()),
    );
    let db = Database::parse_with_env(&text, &|_| None).unwrap();
    let err = connect_err(&db).await;
    let message = err.to_string();
    assert!(err.tls_failure().is_some(), "{message}");
    assert!(message.contains(&other.display().to_string()), "{message}");
    assert!(message.contains("not signed by a CA"), "{message}");
    // require with an explicit root file checks the chain too (libpq), so it fails alike.
    let text = url(
        &cluster,
        &format!("sslmode=require&sslrootcert={}", other.display()),
    );
    let db = Database::parse_with_env(&text, &|_| None).unwrap();
    assert_eq!(db.tls().mode(), SslMode::VerifyCa);
    assert!(connect_err(&db).await.tls_failure().is_some());
    // Without any root file, verify-full is a configuration error naming the fix.
    let err = Database::parse_with_env(&url(&cluster, "sslmode=verify-full"), &|name: &str| {
        (name == "HOME").then(|| "/nonexistent".to_owned())
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("/nonexistent/.postgresql/root.crt"),
        "{err}"
    );
    assert!(err.to_string().contains("sslrootcert"), "{err}");
}

#[tokio::test]
async fn require_never_falls_back_to_plaintext() {
    let cluster = private_cluster().start().unwrap();
    let db = Database::parse_with_env(&url(&cluster, "sslmode=require"), &|_| None).unwrap();
    let err = connect_err(&db).await;
    assert_eq!(err.tls_failure(), Some(TlsFailure::NotOffered), "{err}");
    assert!(err.to_string().contains("ssl = on"), "{err}");
    // The bare socket of the replication client refuses the same way.
    let address = &db.addresses().unwrap()[0];
    let err = db.connect_socket(address).await.unwrap_err();
    assert_eq!(
        pgkeel_net::tls_failure(&err),
        Some(TlsFailure::NotOffered),
        "{err}"
    );
    // prefer and allow take plaintext from a server without TLS.
    for mode in ["prefer", "allow"] {
        assert_eq!(
            ssl_in_use(&url(&cluster, &format!("sslmode={mode}"))).await,
            Ok(false),
            "{mode}"
        );
    }
}

#[tokio::test]
async fn client_certificates_log_in() {
    let cluster = tls_cluster(TcpTls::ClientCertificate);
    let files = cluster.tls_files().unwrap();
    let ca = root_cert(&cluster);
    let with_cert = url(
        &cluster,
        &format!(
            "sslmode=verify-full&sslrootcert={ca}&sslcert={}&sslkey={}",
            files.client_cert.display(),
            files.client_key.display()
        ),
    );
    assert_eq!(ssl_in_use(&with_cert).await, Ok(true));
    // Without a certificate the server refuses the login.
    let without = url(&cluster, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let err = ssl_in_use(&without).await.unwrap_err();
    assert!(err.contains("certificate"), "{err}");
    // An unreadable key is a configuration error at parse time, naming the file.
    let missing_key = url(
        &cluster,
        &format!(
            "sslmode=require&sslcert={}&sslkey=/nonexistent/client.key",
            files.client_cert.display()
        ),
    );
    let err = Database::parse_with_env(&missing_key, &|_| None).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/client.key"), "{err}");
}

#[tokio::test]
async fn bare_sockets_start_tls_as_the_mode_says() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let cluster = tls_cluster(TcpTls::Required);
    let ca = root_cert(&cluster);
    let db = Database::parse_with_env(
        &url(&cluster, &format!("sslmode=verify-full&sslrootcert={ca}")),
        &|_| None,
    )
    .unwrap();
    let address = &db.addresses().unwrap()[0];
    let mut socket = db.connect_socket(address).await.unwrap();
    assert!(socket.is_tls() && socket.is_tcp());
    // Speak the protocol through it: a startup message answered by AuthenticationOk.
    let startup = pgkeel_wire::encode::startup_message(
        3,
        0,
        &[("user", "postgres"), ("database", "postgres")],
    )
    .unwrap();
    socket.write_all(&startup).await.unwrap();
    let tag = socket.read_u8().await.unwrap();
    assert_eq!(tag, b'R', "expected an authentication message");
    // The split halves join again.
    let (read, write) = socket.into_split();
    assert!(read.reunite(write).unwrap().is_tls());
}
