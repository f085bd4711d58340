//! `pgkeel serve`: a service on the recovering pool, with a schema cache, in-database config
//! and an admin HTTP server. Runs until SIGINT/SIGTERM; exits 1 on a fatal database error.
//! The arguments are here; the parts: `service` (pool, tasks, shutdown), `app` (caches and
//! reloads), `admin` (HTTP), `channel` (NOTIFY requests), `reload`, `role_config`, `schema`.

mod admin;
mod app;
mod channel;
mod reload;
mod role_config;
mod schema;
mod service;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use pgkeel_conn::PoolConfig;
use tokio_util::sync::CancellationToken;

use self::role_config::parse_schemas;
use self::service::Options;
use crate::args::{ConnectionArgs, DatabaseArgs, parse_duration};

/// Run a service that keeps working when the database connection fails.
#[derive(Debug, clap::Args)]
#[command(
    long_about = "Run a service that keeps working when the database connection fails.\n\n\
        It connects through a recovering pool: a lost connection (server restart, killed backend, \
        silent network) is noticed by itself within --keepalive, retried with exponential backoff \
        and jitter, and the schema cache and in-database config are reloaded before it reports \
        ready again. Wrong credentials or a missing database stop it with exit code 1.\n\n\
        It caches the tables, columns and primary keys of --schemas (or of the role setting \
        pgkeel.schemas: ALTER ROLE current_user SET pgkeel.schemas = 'app'), and reloads on \
        SIGUSR1 (schema), SIGUSR2 (config), NOTIFY pgkeel, 'reload schema' | 'reload config', \
        and after every recovery.\n\n\
        Admin HTTP: /live (200 unless fatal), /ready (200 when connected and loaded; 503 with \
        Retry-After and the recovery state otherwise), /schema, /metrics (Prometheus), \
        /rows/{schema}/{table}?limit=N. stdout gets PGKEEL_ADMIN=<address>.",
    after_help = "Examples:\n  \
        pgkeel serve --database-url postgres://app:secret@127.0.0.1:5432/app --schemas app\n  \
        DATABASE_URL=postgres://... pgkeel serve --admin-listen 127.0.0.1:3001\n  \
        curl -s 127.0.0.1:3001/ready; kill -USR1 <pid>; psql -c \"NOTIFY pgkeel, 'reload schema'\""
)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    db: DatabaseArgs,

    /// Admin HTTP address (port 0 = any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:3001")]
    admin_listen: SocketAddr,

    /// Schemas to cache, comma-separated (the role setting pgkeel.schemas wins when set).
    #[arg(long, value_name = "LIST", default_value = "public")]
    schemas: String,

    /// Do not LISTEN on the `pgkeel` channel for reload requests.
    #[arg(long)]
    no_channel: bool,

    /// Most database connections.
    #[arg(long, value_name = "N", default_value_t = 8)]
    pool_size: usize,

    /// How long a request waits for a free pooled connection.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    acquire_timeout: Duration,

    #[command(flatten)]
    connection: ConnectionArgs,
}

pub(crate) async fn run(args: ServeArgs, shutdown: CancellationToken) -> anyhow::Result<ExitCode> {
    let mut pool = PoolConfig::new(args.db.database);
    pool.name = "serve".to_owned();
    args.connection.apply(&mut pool, "pgkeel serve");
    pool.max_size = args.pool_size;
    pool.acquire_timeout = args.acquire_timeout;
    pool.validate().context("invalid settings")?;
    let schemas = parse_schemas(&args.schemas);
    anyhow::ensure!(!schemas.is_empty(), "--schemas names no schema");
    let options = Options {
        pool,
        admin_listen: args.admin_listen,
        schemas,
        channel: !args.no_channel,
    };
    service::run(options, shutdown).await
}
