//! Every connecting command against a cluster that accepts only TLS, as a user on managed
//! Postgres runs them: `serve`, `listen`, `stream` and `work` with `sslmode=verify-full`
//! work; a wrong CA or a wrong host name makes each exit 1 with a message naming it.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use pgkeel_embedded::harness::private_cluster;
use pgkeel_embedded::{Cluster, TcpTls};

use crate::common::{pgkeel, psql, wait_until};
use crate::private::serve_support::RunningServe;

fn verify_full(cluster: &Cluster, host: &str, ca: &str) -> String {
    format!(
        "host={host} hostaddr=127.0.0.1 port={} user=postgres dbname=postgres \
         sslmode=verify-full sslrootcert={ca}",
        cluster.port()
    )
}

#[test]
fn every_command_works_with_verify_full_and_names_a_wrong_ca_or_host() {
    let cluster = private_cluster().tls(TcpTls::Required).start().unwrap();
    let ca = cluster.tls_files().unwrap().root_cert.display().to_string();
    let good = verify_full(&cluster, "localhost", &ca);
    let admin = cluster.socket_url();
    psql(&admin, "CREATE TABLE t (id int PRIMARY KEY)");

    // serve: ready over TLS.
    let serve = RunningServe::start(&good, &[]);
    serve.wait_status("/ready", 200);
    drop(serve);

    // listen: a notification arrives over TLS.
    let mut listen = pgkeel()
        .args(["listen", "--database-url", &good, "tls_chan"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(listen.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("\"listening\""), "{first}");
    psql(&admin, "NOTIFY tls_chan, 'over tls'");
    let delivered = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("over tls"));
    assert!(delivered.is_some(), "the notification never arrived");
    let _ = listen.kill();
    let _ = listen.wait();

    // stream: the replication connection runs over TLS.
    let file = cluster
        .data_dir()
        .parent()
        .unwrap()
        .join("tls-stream.jsonl");
    let mut stream = pgkeel()
        .args(["stream", "--database-url", &good, "--slot", "tls_slot"])
        .args(["--publication", "tls_pub", "--tables", "t", "--create"])
        .arg("--sink")
        .arg(format!("file:{}", file.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(
        "the stream's slot is active",
        || {
            psql(
                &admin,
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'tls_slot' AND active",
            ) == "1"
        },
        String::new,
    );
    psql(&admin, "INSERT INTO t SELECT generate_series(1, 3)");
    wait_until(
        "3 rows in the stream's file",
        || {
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .count()
                == 3
        },
        || std::fs::read_to_string(&file).unwrap_or_default(),
    );
    let ssl = psql(
        &admin,
        "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)",
    );
    assert_eq!(ssl, "t", "the walsender's connection is not TLS");
    let _ = stream.kill();
    let _ = stream.wait();

    // work: migrate and status.
    let (code, stderr) = run_bounded(&good, &["work", "migrate"]);
    assert_eq!(code, Some(0), "{stderr}");

    // A wrong CA and a wrong host name: each command exits 1 naming it.
    let other_ca = cluster.data_dir().parent().unwrap().join("other-ca.crt");
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    std::fs::write(&other_ca, params.self_signed(&key).unwrap().pem()).unwrap();
    let other_ca = other_ca.display().to_string();
    let wrong_ca = verify_full(&cluster, "localhost", &other_ca);
    let wrong_host = verify_full(&cluster, "db.example.com", &ca);
    let file_sink = format!("file:{}", file.display());
    let commands: [&[&str]; 4] = [
        &[
            "serve",
            "--admin-listen",
            "127.0.0.1:0",
            "--connect-timeout",
            "2s",
        ],
        &["listen", "some_channel"],
        &[
            "stream",
            "--slot",
            "tls_slot",
            "--publication",
            "tls_pub",
            "--sink",
            &file_sink,
        ],
        &["work", "status"],
    ];
    for args in commands {
        for (url, named) in [
            (&wrong_ca, other_ca.as_str()),
            (&wrong_host, "db.example.com"),
        ] {
            let (code, stderr) = run_bounded(url, args);
            assert_eq!(code, Some(1), "{args:?} {named}: {stderr}");
            assert!(stderr.contains(named), "{args:?}: {stderr}");
        }
    }
}

/// Runs `pgkeel ARGS` with `DATABASE_URL=url` to its end: (exit code, stderr). Kills it if it
/// does not end within the liveness bound (a command that retries a certificate error forever
/// is the bug this catches).
fn run_bounded(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut child = pgkeel()
        .args(args)
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + pgkeel_testkit::LIVENESS;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
            return (status.code(), stderr);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} kept running on a TLS error it cannot recover from");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The issue's acceptance, as a user types it: `psql "sslmode=require"` through
/// `pgkeel proxy --tls terminate` is killed by `conn.onQuery(query="^COMMIT").kill()`, and a
/// client verifying against the CA the proxy printed gets through.
#[test]
fn psql_with_sslmode_require_through_terminate_is_killed_at_commit() {
    let cluster = private_cluster().tls(TcpTls::Required).start().unwrap();
    let ca = cluster.tls_files().unwrap().root_cert.display().to_string();
    let proxy = crate::private::proxy_support::RunningProxy::start(
        &format!("127.0.0.1:{}", cluster.port()),
        &[
            "--tls",
            "terminate",
            "--upstream-sslmode",
            "verify-full",
            "--upstream-sslrootcert",
            &ca,
        ],
    );
    let proxy_ca = proxy.generated_ca.clone().unwrap();
    let port = proxy.listen.rsplit(':').next().unwrap().to_owned();
    let verified = format!(
        "postgres://postgres@localhost:{port}/postgres?sslmode=verify-full&sslrootcert={proxy_ca}"
    );
    assert_eq!(
        psql(
            &verified,
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ),
        "t"
    );
    let out = proxy.fault(&[r#"conn.onQuery(query="^COMMIT").kill()"#]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let require = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=require");
    let psql_out = std::process::Command::new(cluster.binaries().program("psql").unwrap())
        .args([
            require.as_str(),
            "-X",
            "-c",
            "BEGIN",
            "-c",
            "SELECT 1",
            "-c",
            "COMMIT",
        ])
        .env_remove("PGSSLROOTCERT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&psql_out.stderr);
    assert!(!psql_out.status.success(), "COMMIT went through: {stderr}");
    assert!(
        stderr.contains("closed") || stderr.contains("lost"),
        "{stderr}"
    );
}
