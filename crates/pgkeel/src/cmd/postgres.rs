//! `pgkeel postgres`: a throwaway PostgreSQL cluster from the local binaries, running until
//! SIGINT/SIGTERM. Prints `DATABASE_URL=...` (and with `--tls`, `PGSSLROOTCERT=...`) on
//! stdout for scripts.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use pgkeel_embedded::{Cluster, TcpTls};
use tokio_util::sync::CancellationToken;

/// How often to check that the server is still alive.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// Run a throwaway PostgreSQL cluster from the local binaries until Ctrl-C / SIGTERM.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a throwaway PostgreSQL cluster from the local binaries.\n\n\
        It listens on 127.0.0.1 and a private unix socket, has wal_level=logical, replication \
        slots and prepared transactions enabled, and trusts local connections. The first line \
        on stdout is DATABASE_URL=postgres://...; a summary goes to stderr. On Ctrl-C or \
        SIGTERM the server stops and its temporary directory is deleted (unless --keep or \
        --data-dir). If pgkeel itself is killed, the server stops too.\n\n\
        Binaries are found via PGKEEL_PG_BIN, then PATH, then the newest \
        /usr/lib/postgresql/*/bin. As root, the server runs as the `postgres` user \
        (PGKEEL_PG_USER to choose another).",
    after_help = "Examples:\n  \
        pgkeel postgres                           # throwaway cluster on a free port\n  \
        pgkeel postgres --port 5433 --keep        # fixed port, data kept on exit\n  \
        pgkeel postgres --data-dir ./pgdata       # persistent data directory\n  \
        pgkeel postgres --set log_statement=all   # any server setting\n  \
        pgkeel postgres --password-role app:s3cret  # SCRAM password required over TCP\n  \
        pgkeel postgres --tls-only                # TLS required over TCP; prints PGSSLROOTCERT\n\n\
        In a script:\n  \
        pgkeel postgres > pg.env & until [ -s pg.env ]; do sleep 0.1; done; export $(cat pg.env)"
)]
pub(crate) struct PostgresArgs {
    /// TCP port on 127.0.0.1 [default: a free port].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,

    /// Keep the data in this directory: initialised when missing or empty, reused when it
    /// already holds a cluster, never deleted.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Keep the temporary directory (data and server log) on exit instead of deleting it.
    #[arg(long)]
    keep: bool,

    /// A server setting, repeatable (postgres -c NAME=VALUE).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    settings: Vec<(String, String)>,

    /// Turn fsync and full_page_writes off: faster; commits still survive a server crash but
    /// not an operating-system crash.
    #[arg(long)]
    no_fsync: bool,

    /// Create a superuser login role with this password and require SCRAM-SHA-256 on every TCP
    /// connection (the unix socket stays trust). DATABASE_URL then uses this role.
    #[arg(long, value_name = "USER:PASSWORD", value_parser = parse_role)]
    password_role: Option<(String, String)>,

    /// Turn TLS on (ssl = on) with a CA and server certificate generated for this cluster
    /// (valid for localhost, 127.0.0.1 and ::1). DATABASE_URL then asks for
    /// sslmode=verify-full with that CA, and a PGSSLROOTCERT=<ca.crt> line follows it.
    #[arg(long)]
    tls: bool,

    /// Like --tls, and TCP clients must use TLS (pg_hba `hostssl` only; the unix socket
    /// stays plaintext and trusted).
    #[arg(long)]
    tls_only: bool,
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.to_owned()))
        }
        _ => Err(format!(
            "expected NAME=VALUE (e.g. shared_buffers=256MB), got `{text}`"
        )),
    }
}

fn parse_role(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() && !password.is_empty() => {
            Ok((user.to_owned(), password.to_owned()))
        }
        _ => Err(format!(
            "expected USER:PASSWORD (e.g. app:s3cret), got `{text}`"
        )),
    }
}

pub(crate) async fn run(
    args: PostgresArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<ExitCode> {
    let mut builder = Cluster::builder().keep(args.keep);
    if let Some(port) = args.port {
        builder = builder.port(port);
    }
    if let Some(dir) = &args.data_dir {
        builder = builder.data_dir(dir);
    }
    if args.no_fsync {
        builder = builder.fsync_off();
    }
    for (name, value) in &args.settings {
        builder = builder.setting(name, value);
    }
    if let Some((user, password)) = &args.password_role {
        builder = builder.password_role(user, password);
    }
    if args.tls_only {
        builder = builder.tls(TcpTls::Required);
    } else if args.tls {
        builder = builder.tls(TcpTls::Optional);
    }
    let cluster = tokio::task::spawn_blocking(move || builder.start())
        .await
        .context("the startup task failed")?
        .context("cannot start PostgreSQL")?;
    let cluster = Arc::new(cluster);

    if !shutdown.is_cancelled() {
        announce(&cluster, &args)?;
    }

    let outcome = watch(&cluster, &shutdown).await;
    let closing = Arc::clone(&cluster);
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .context("the shutdown task failed")?
        .context("stopping PostgreSQL failed")?;
    outcome?;
    if args.data_dir.is_some() {
        eprintln!(
            "pgkeel: PostgreSQL stopped; data kept in {}",
            cluster.data_dir().display()
        );
    } else if args.keep {
        eprintln!(
            "pgkeel: PostgreSQL stopped; data kept in {} (start it again with \
             `pgkeel postgres --data-dir {}`)",
            cluster.data_dir().display(),
            cluster.data_dir().display()
        );
    } else {
        eprintln!("pgkeel: PostgreSQL stopped; temporary files removed");
    }
    Ok(ExitCode::SUCCESS)
}

fn announce(cluster: &Cluster, args: &PostgresArgs) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    let url = database_url(cluster);
    let mut lines = format!("DATABASE_URL={url}\n");
    if let Some(files) = cluster.tls_files() {
        lines.push_str(&format!("PGSSLROOTCERT={}\n", files.root_cert.display()));
    }
    stdout
        .write_all(lines.as_bytes())
        .and_then(|()| stdout.flush())
        .context("write DATABASE_URL to stdout")?;
    let fate = if args.data_dir.is_some() || args.keep {
        "kept on exit"
    } else {
        "deleted on exit; --keep keeps it"
    };
    eprintln!(
        "pgkeel: PostgreSQL {} ready on {}:{} as OS user {} — connect: psql '{}'\n\
         pgkeel: data {} ({fate}); log {}; Ctrl-C stops it",
        cluster.version(),
        cluster.host(),
        cluster.port(),
        cluster.os_user(),
        url,
        cluster.data_dir().display(),
        cluster.log_path().display(),
    );
    Ok(())
}

/// The URL printed: with TLS, verify-full against the cluster's own CA, so a client that
/// reads only DATABASE_URL checks the server too.
fn database_url(cluster: &Cluster) -> String {
    match cluster.tls_files() {
        Some(files) => format!(
            "{}?sslmode=verify-full&sslrootcert={}",
            cluster.url(),
            files.root_cert.display()
        ),
        None => cluster.url(),
    }
}

/// Waits for shutdown; fails if the server exits on its own first.
async fn watch(cluster: &Cluster, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = tick.tick() => {
                if !cluster.is_running() {
                    bail!(
                        "PostgreSQL exited unexpectedly; last lines of {}:\n{}",
                        cluster.log_path().display(),
                        cluster.log_tail(20)
                    );
                }
            }
        }
    }
}
